//! The demo's steps with the creators' accounts: linking one by OAuth through the simulated
//! platform's authorization page, proving one with a code in its bio, and a post found by a
//! scan of the account rather than registered.

use anyhow::Context;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use super::story::{text, wait_for, Story};
use super::world;
use crate::domain::Platform;

impl Story<'_> {
    /// Links an account by OAuth: the creator is sent to the platform's authorization page,
    /// signs in there (the simulated page's `as`), and comes back to the service's callback.
    pub(super) async fn link_by_oauth(
        &mut self,
        token: &str,
        platform: Platform,
        handle: &str,
    ) -> anyhow::Result<Value> {
        let path = format!("/v1/social-accounts/oauth/{}", platform.as_str());
        let started = self.api.expect(StatusCode::OK, Method::POST, &path, token, None).await?;
        let mut page = url::Url::parse(&text(&started["authorization_url"]))?;
        page.query_pairs_mut().append_pair("as", handle);
        let browser = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build()?;
        let answer = browser.get(page).send().await?;
        let back = answer
            .headers()
            .get("location")
            .and_then(|l| l.to_str().ok())
            .and_then(|l| url::Url::parse(l).ok())
            .context("the authorization page sent the creator nowhere")?;
        let callback = format!("{path}/callback?{}", back.query().unwrap_or_default());
        let (status, linked) = self.api.call(Method::GET, &callback, "", None).await?;
        anyhow::ensure!(status == StatusCode::CREATED, "the OAuth callback answered {status}: {linked}");
        self.say.line(&format!(
            "{:<9} @{handle:<14} linked by OAuth: signed in at {}'s page, proven by the platform itself",
            platform.as_str(),
            platform.as_str()
        ));
        Ok(linked)
    }

    /// Links an account and proves it with the code in its bio.
    pub(super) async fn prove(
        &mut self,
        token: &str,
        platform: Platform,
        handle: &str,
    ) -> anyhow::Result<()> {
        let body = json!({"platform": platform.as_str(), "handle": handle});
        let linked = self
            .api
            .expect(StatusCode::CREATED, Method::POST, "/v1/social-accounts", token, Some(body))
            .await?;
        let (id, code) = (text(&linked["id"]), text(&linked["proof"]["code"]));
        self.sim.set_bio(platform, handle, &format!("AI pictures · {code}"));
        let path = format!("/v1/social-accounts/{id}/verify");
        let proven = self.api.expect(StatusCode::OK, Method::POST, &path, token, None).await?;
        anyhow::ensure!(proven["proven"] == true, "{platform:?} @{handle} was not proven: {proven}");
        self.say
            .line(&format!("{:<9} @{handle:<14} proven (code {code} found in the bio)", platform.as_str()));
        Ok(())
    }

    /// The id of the creator's post with this platform id.
    pub(super) async fn find_post(&self, token: &str, platform_post_id: &str) -> anyhow::Result<String> {
        let posts = self.api.expect(StatusCode::OK, Method::GET, "/v1/posts", token, None).await?;
        let post = posts["items"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|p| p["platform_post_id"] == platform_post_id);
        post.map(|p| text(&p["id"])).context("a post answered as taken is not the creator's")
    }

    /// Ada posts her rocket again and registers nothing: a scan of her account finds the post
    /// by its watermark and the poller verifies it.
    pub(super) async fn discover(&mut self, rocket: &[u8]) -> anyhow::Result<Value> {
        let plan = &world::FORGOTTEN;
        self.say.step("Ada posts her rocket again on X and forgets to register it");
        self.sim.publish(world::post(plan.platform, plan.id, plan.account, 80, 500), rocket)?;
        let ada = self.who.ada.clone();
        let api = self.api;
        let found = wait_for(self.say, "scans of Ada's accounts", 1, || async {
            let posts = api.expect(StatusCode::OK, Method::GET, "/v1/posts", &ada, None).await?;
            let found = posts["items"].as_array().into_iter().flatten().find(|p| {
                p["platform_post_id"] == plan.id && p["source"] == "discovered" && p["status"] != "pending"
            });
            Ok(found.cloned().into_iter().collect())
        })
        .await?;
        let post = found.into_iter().next().context("the post was not found")?;
        self.say.progress_done(&format!(
            "found on @{} by its watermark, never registered: {} ({})",
            plan.account,
            text(&post["status"]),
            plan.label
        ));
        Ok(post)
    }
}
