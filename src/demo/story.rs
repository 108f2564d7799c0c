//! The demo's story, step by step, against a running service and simulated platforms.

use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{DateTime, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use super::client::ApiClient;
use super::narrate::Narrator;
use super::world::{self, Picture, Planned, PLANNED};
use super::{DemoReport, PostOutcome};
use crate::domain::Platform;
use crate::simulator::{FaultTarget, Simulator};

/// How long a wait for the poller may take before the demo gives up.
const WAIT_LIMIT: Duration = Duration::from_secs(60);
/// A little over the poller's interval on the demo's schedule (2 s): a round per wait.
const ROUND_WAIT: Duration = Duration::from_millis(2300);

pub struct Credentials {
    pub ada: String,
    pub bob: String,
    /// The generation backend's token (content:write).
    pub generator: String,
    /// The payout system's token (payouts:read).
    pub payouts: String,
    /// An operator's token (admin).
    pub admin: String,
}

/// The demo's actors and what they share while the story is told.
pub(super) struct Story<'a> {
    pub(super) api: &'a ApiClient,
    pub(super) sim: &'a Simulator,
    pub(super) who: &'a Credentials,
    pub(super) say: &'a mut Narrator,
    /// (creator id, name), to name statement payees.
    names: Vec<(String, &'static str)>,
}

/// The posts once registered: what was planned, the registering creator's token, the id.
type Registered = Vec<(&'static Planned, String, String)>;

/// The generator's outputs, as marked by the service.
struct Marked {
    rocket: Vec<u8>,
    astronaut: Vec<u8>,
    cat: Vec<u8>,
}

pub async fn tell(
    api: &ApiClient,
    sim: &Simulator,
    who: &Credentials,
    say: &mut Narrator,
) -> anyhow::Result<DemoReport> {
    let period_start = chrono::Utc::now() - chrono::Duration::minutes(1);
    let mut story = Story { api, sim, who, say, names: Vec::new() };
    story.join().await?;
    let marked = story.enroll_pictures().await?;
    let linked_by_oauth = story.publish(&marked).await?;
    let (registered, posts) = story.register_and_check().await?;
    let views = story.views_grow(&registered).await?;
    let discovered = story.discover(&marked.rocket).await?;

    story.say.step("The payout system freezes the period so far into a statement");
    let first_end = chrono::Utc::now();
    let first_statement = story.statement(period_start, first_end).await?;
    story.tell_lines(&first_statement);

    let instagram_requests_after_unlink = story.unlink_instagram().await?;
    let (ada_lookups_after_revoke, bob_lookups_after_revoke) = story.revoke(&registered).await?;
    let (detected_before_erasure, receipt, detected_after_erasure) = story.erase(&marked.cat).await?;

    story
        .say
        .step("Finally, the payout system reads that statement again and freezes the rest of the period");
    let path = format!("/v1/payouts/statements/{}", text(&first_statement["id"]));
    let first_statement_after_erasure =
        api.expect(StatusCode::OK, Method::GET, &path, &who.payouts, None).await?;
    story.tell_lines(&first_statement_after_erasure);
    story.say.line(
        "Bob's line is kept for the accounts under a tombstone id: the total stays, the person is gone",
    );
    let rest_statement = story.statement(first_end, chrono::Utc::now()).await?;
    if rest_statement["lines"].as_array().is_none_or(Vec::is_empty) {
        story.say.line("the rest of the period pays nothing: Ada revoked consent and Bob erased his account");
    } else {
        story.tell_lines(&rest_statement);
    }

    Ok(DemoReport {
        linked_by_oauth,
        discovered,
        posts,
        views,
        instagram_requests_after_unlink,
        ada_lookups_after_revoke,
        bob_lookups_after_revoke,
        detected_before_erasure,
        detected_after_erasure,
        receipt,
        first_statement,
        first_statement_after_erasure,
        rest_statement,
        metrics: api.metrics(&who.admin).await?,
        dir: Default::default(),
    })
}

impl Story<'_> {
    async fn join(&mut self) -> anyhow::Result<()> {
        self.say.step("Two creators join the Creator Program");
        for (name, token) in [("Ada", &self.who.ada), ("Bob", &self.who.bob)] {
            let body = Some(json!({"age_attested": true}));
            let joined =
                self.api.expect(StatusCode::CREATED, Method::POST, "/v1/creators/me", token, body).await?;
            self.say.line(&format!("{name} joined: creator {}", text(&joined["id"])));
            self.names.push((text(&joined["id"]), name));
        }
        Ok(())
    }

    async fn enroll_pictures(&mut self) -> anyhow::Result<Marked> {
        self.say
            .step("The generator enrolls their pictures: each comes back with its own invisible watermark");
        Ok(Marked {
            rocket: self.enroll("Ada", &world::ROCKET).await?,
            astronaut: self.enroll("Ada", &world::ASTRONAUT).await?,
            cat: self.enroll("Bob", &world::CHELSEA).await?,
        })
    }

    /// Enrolls a picture for a creator as the generation backend does; the marked file.
    async fn enroll(&mut self, name: &str, picture: &Picture) -> anyhow::Result<Vec<u8>> {
        let generated = picture.generated()?;
        let started = Instant::now();
        let path = format!("/v1/contents?user_id={}", world::user_id(name));
        let (status, headers, marked) = self.api.upload(&path, &self.who.generator, generated).await?;
        anyhow::ensure!(status == StatusCode::CREATED, "enrolling {} answered {status}", picture.name);
        let id = headers.get("x-content-id").and_then(|v| v.to_str().ok()).context("no x-content-id")?;
        let elapsed = started.elapsed().as_millis();
        self.say.line(&format!("{:<22} for {name}: content {id}, marked in {elapsed} ms", picture.name));
        Ok(marked)
    }

    /// The creators prove their accounts, then publish every planned post.
    /// Links the accounts and publishes; Ada's Instagram account as linked by OAuth.
    async fn publish(&mut self, marked: &Marked) -> anyhow::Result<Value> {
        self.say.step("They link their social accounts: by OAuth, or with a code in the bio");
        let (ada, bob) = (self.who.ada.clone(), self.who.bob.clone());
        let instagram = self.link_by_oauth(&ada, Platform::Instagram, world::ADA_INSTAGRAM).await?;
        self.prove(&ada, Platform::X, world::ADA_X).await?;
        self.prove(&bob, Platform::X, world::BOB_X).await?;

        self.say.step("They publish; each platform re-encodes the upload its own way");
        let unmarked = world::RETINA.generated()?;
        let uploads =
            [&marked.rocket, &marked.astronaut, &marked.cat, &unmarked, &marked.cat, &marked.rocket];
        for (i, (plan, upload)) in PLANNED.iter().zip(uploads).enumerate() {
            let (first, per_hour) = (50 * (i as u64 + 1), 400 + 300 * i as u64);
            self.sim.publish(world::post(plan.platform, plan.id, plan.account, first, per_hour), upload)?;
            let fake = plan.fake.map_or(String::new(), |_| "  (planted fake)".into());
            self.say.line(&format!("{:<34} {}{fake}", plan.label, world::pipeline(plan.platform)));
        }
        Ok(instagram)
    }

    /// Registers every post and waits for the poller to check each.
    async fn register_and_check(&mut self) -> anyhow::Result<(Registered, Vec<PostOutcome>)> {
        self.say.step("The creators register the posts; the poller checks each for its watermark");
        let registration = Instant::now();
        let mut registered = Vec::new();
        for plan in &PLANNED {
            let token = if plan.by_ada { &self.who.ada } else { &self.who.bob };
            // One proven account per platform each: the URL's platform says which posted.
            let body = Some(json!({"url": world::post_url(plan.platform, plan.account, plan.id)}));
            let (status, post) = self.api.call(Method::POST, "/v1/posts", token, body).await?;
            let id = match status {
                StatusCode::CREATED => text(&post["id"]),
                // A scan of the account found it first: it is tracked already, as the creator's.
                StatusCode::CONFLICT => self.find_post(token, plan.id).await?,
                other => anyhow::bail!("POST /v1/posts answered {other}: {post}"),
            };
            registered.push((plan, token.clone(), id));
        }
        let api = self.api;
        let checked = wait_for(self.say, "posts checked", registered.len(), || async {
            let mut done = Vec::new();
            for (plan, token, id) in &registered {
                let post =
                    api.expect(StatusCode::OK, Method::GET, &format!("/v1/posts/{id}"), token, None).await?;
                if post["status"] != "pending" {
                    done.push((*plan, post));
                }
            }
            Ok(done)
        })
        .await?;
        let waited = registration.elapsed().as_secs_f64();
        self.say
            .progress_done(&format!("all {} posts checked {waited:.0} s after registration", checked.len()));
        let mut outcomes = Vec::new();
        for (plan, post) in &checked {
            let status = text(&post["status"]);
            let reason = post["status_reason"].as_str().map(str::to_owned);
            let why = match (plan.fake, &reason) {
                (Some(expected), Some(reason)) => format!(": {reason} ({expected})"),
                (None, _) => {
                    format!(": carries {}'s enrolled content", if plan.by_ada { "Ada" } else { "Bob" })
                }
                (Some(expected), None) => format!(" ({expected})"),
            };
            self.say.line(&format!("{status:<10} {}{why}", plan.label));
            outcomes.push(PostOutcome { label: plan.label, fake: plan.fake.is_some(), status, reason });
        }
        Ok((registered, outcomes))
    }

    /// Simulated hours pass; the verified posts' views after each.
    async fn views_grow(&mut self, registered: &Registered) -> anyhow::Result<Vec<Vec<u64>>> {
        self.say.step("Views grow (the simulated platforms run an hour of views every second)");
        let mut seen = Vec::new();
        for hour in 1..=4 {
            self.an_hour_passes().await;
            let mut line = format!("after {hour} h:");
            let mut now = Vec::new();
            for (plan, token, id) in registered.iter().filter(|(plan, _, _)| plan.fake.is_none()) {
                let path = format!("/v1/posts/{id}");
                let post = self.api.expect(StatusCode::OK, Method::GET, &path, token, None).await?;
                let views = post["latest_views"].as_u64().unwrap_or(0);
                line.push_str(&format!("  {} {views}", plan.short));
                now.push(views);
            }
            self.say.line(&line);
            seen.push(now);
        }
        Ok(seen)
    }

    /// Ada unlinks her Instagram account: the requests to Instagram in the next hour.
    async fn unlink_instagram(&mut self) -> anyhow::Result<u32> {
        self.say.step("Ada unlinks her Instagram account");
        let ada = self.who.ada.clone();
        let accounts =
            self.api.expect(StatusCode::OK, Method::GET, "/v1/social-accounts", &ada, None).await?;
        let instagram =
            accounts["items"].as_array().into_iter().flatten().find(|a| a["platform"] == "instagram");
        let id = text(&instagram.context("Ada's Instagram account is not listed")?["id"]);
        let path = format!("/v1/social-accounts/{id}");
        let unlinked = self.api.expect(StatusCode::OK, Method::DELETE, &path, &ada, None).await?;
        let before = self.sim.requests(FaultTarget::Instagram);
        self.an_hour_passes().await;
        let asked = self.sim.requests(FaultTarget::Instagram).saturating_sub(before) as u32;
        self.say.line(&format!(
            "{} post stopped (its views stay in the statement); handle and token destroyed; \
             Instagram asked {asked} times in the next hour",
            unlinked["posts_stopped"]
        ));
        Ok(asked)
    }

    /// Ada revokes; the platform requests about her posts and about Bob's in the next hours.
    async fn revoke(&mut self, registered: &Registered) -> anyhow::Result<(u32, u32)> {
        self.say.step("Ada revokes her consent to tracking");
        let body = Some(json!({"tracking": false}));
        self.api.expect(StatusCode::OK, Method::POST, "/v1/creators/me/consent", &self.who.ada, body).await?;
        let ada_x: Vec<&str> =
            PLANNED.iter().filter(|p| p.account == world::ADA_X && p.fake.is_none()).map(|p| p.id).collect();
        let bobs: Vec<&str> = PLANNED.iter().filter(|p| p.account == world::BOB_X).map(|p| p.id).collect();
        // Instagram is Ada's alone here: every request to it is about her posts.
        let count = |sim: &Simulator| {
            (lookups(sim, &ada_x) + sim.requests(FaultTarget::Instagram) as u32, lookups(sim, &bobs))
        };
        let before = count(self.sim);
        for _ in 0..3 {
            self.an_hour_passes().await;
        }
        let after = count(self.sim);
        let (ada, bob) = (after.0 - before.0, after.1 - before.1);
        self.say.line(&format!(
            "over the next 3 hours: Ada's posts asked about {ada} times (X and Instagram), Bob's {bob} times"
        ));
        let (plan, token, id) = &registered[0];
        let post =
            self.api.expect(StatusCode::OK, Method::GET, &format!("/v1/posts/{id}"), token, None).await?;
        self.say.line(&format!(
            "{}: {} ({}), views frozen at {}",
            plan.label,
            text(&post["status"]),
            post["status_reason"].as_str().unwrap_or("tracking ended"),
            post["latest_views"]
        ));
        Ok((ada, bob))
    }

    /// Bob erases his account: (found before, the receipt, found after).
    async fn erase(&mut self, cat: &[u8]) -> anyhow::Result<(bool, Value, bool)> {
        self.say.step("Bob erases his account");
        let before = detect(self.api, &self.who.admin, cat).await?;
        self.say
            .line(&format!("before: Bob's picture detects as content {}", text(&before["content"]["id"])));
        let receipt =
            self.api.expect(StatusCode::OK, Method::DELETE, "/v1/creators/me", &self.who.bob, None).await?;
        self.say.line(&format!("receipt {}: {}", text(&receipt["receipt_id"]), receipt["row_counts"]));
        let after = detect(self.api, &self.who.admin, cat).await?;
        let answer = if after["found"] == true { "still known" } else { "unknown" };
        self.say.line(&format!("after: the same picture detects as {answer} ({after})"));
        Ok((before["found"] == true, receipt, after["found"] == true))
    }

    /// An hour of simulated views, and time for the poller's next round.
    async fn an_hour_passes(&self) {
        self.sim.advance(3600);
        tokio::time::sleep(ROUND_WAIT).await;
    }

    /// Freezes `[from, to)` into a statement, as the payout system does.
    async fn statement(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> anyhow::Result<Value> {
        let period = Some(json!({"from": from, "to": to}));
        let path = "/v1/payouts/statements";
        self.api.expect(StatusCode::CREATED, Method::POST, path, &self.who.payouts, period).await
    }

    /// A statement's lines, with the creators' names where the payee is still a creator.
    fn tell_lines(&mut self, statement: &Value) {
        for line in statement["lines"].as_array().into_iter().flatten() {
            let payee = text(&line["payee_id"]);
            let name =
                self.names.iter().find(|(id, _)| *id == payee).map_or("a tombstone", |(_, name)| *name);
            self.say.line(&format!(
                "{name:<12} {:>6} {} (payee {payee})",
                line["views"],
                text(&line["kind"])
            ));
        }
        let (id, hash) = (text(&statement["id"]), text(&statement["evidence_hash"]));
        self.say.line(&format!("statement {id}, evidence hash {hash}"));
    }
}

/// Waits, showing progress, until `check` reports `total` things done.
pub(super) async fn wait_for<T, F, Fut>(
    say: &mut Narrator,
    what: &str,
    total: usize,
    check: F,
) -> anyhow::Result<Vec<T>>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Vec<T>>>,
{
    let started = Instant::now();
    loop {
        let done = check().await?;
        say.progress(what, done.len(), total);
        if done.len() >= total {
            return Ok(done);
        }
        anyhow::ensure!(
            started.elapsed() < WAIT_LIMIT,
            "only {} of {total} {what} after a minute",
            done.len()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn detect(api: &ApiClient, admin: &str, picture: &[u8]) -> anyhow::Result<Value> {
    let (status, _, body) = api.upload("/v1/detect", admin, picture.to_vec()).await?;
    anyhow::ensure!(status == StatusCode::OK, "detection answered {status}");
    Ok(serde_json::from_slice(&body)?)
}

fn lookups(sim: &Simulator, ids: &[&str]) -> u32 {
    let all = sim.lookups(Platform::X);
    ids.iter().map(|id| all.get(*id).copied().unwrap_or(0)).sum()
}

pub(super) fn text(value: &Value) -> String {
    value.as_str().map_or_else(|| value.to_string(), str::to_owned)
}
