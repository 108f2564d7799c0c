//! The demo's story, step by step, against a running service and simulated platforms.

use std::time::{Duration, Instant};

use anyhow::Context;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use super::client::ApiClient;
use super::narrate::Narrator;
use super::world::{self, Picture};
use super::{DemoReport, PostOutcome};
use crate::platforms::simulator::{FaultTarget, Simulator};
use crate::store::Platform;

/// How long a wait for the poller may take before the demo gives up.
const WAIT_LIMIT: Duration = Duration::from_secs(60);

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

/// A post the creators publish, and what the demo expects of it.
struct Planned {
    label: &'static str,
    platform: Platform,
    id: &'static str,
    account: &'static str,
    /// The creator who registers it (true: Ada).
    by_ada: bool,
    /// Why it must not verify, for the planted fakes.
    fake: Option<&'static str>,
}

const PLANNED: [Planned; 6] = [
    Planned {
        label: "Ada's rocket on X",
        platform: Platform::X,
        id: "1950000000000000001",
        account: world::ADA_X,
        by_ada: true,
        fake: None,
    },
    Planned {
        label: "Ada's astronaut on Instagram",
        platform: Platform::Instagram,
        id: "DmoAstro01",
        account: world::ADA_INSTAGRAM,
        by_ada: true,
        fake: None,
    },
    Planned {
        label: "Bob's cat on X",
        platform: Platform::X,
        id: "1950000000000000002",
        account: world::BOB_X,
        by_ada: false,
        fake: None,
    },
    Planned {
        label: "an unmarked photo on Ada's X",
        platform: Platform::X,
        id: "1950000000000000003",
        account: world::ADA_X,
        by_ada: true,
        fake: Some("it carries no watermark"),
    },
    Planned {
        label: "Bob's cat re-posted on Ada's X",
        platform: Platform::X,
        id: "1950000000000000004",
        account: world::ADA_X,
        by_ada: true,
        fake: Some("the watermark is Bob's content, not Ada's"),
    },
    Planned {
        label: "Ada's rocket on @copycat_9000",
        platform: Platform::X,
        id: "1950000000000000005",
        account: world::COPYCAT_X,
        by_ada: true,
        fake: Some("the post is on an account Ada has not proven"),
    },
];

pub async fn tell(
    api: &ApiClient,
    sim: &Simulator,
    who: &Credentials,
    say: &mut Narrator,
) -> anyhow::Result<DemoReport> {
    let period_start = chrono::Utc::now() - chrono::Duration::minutes(1);

    say.step("Two creators join the Creator Program");
    let mut names = Vec::new();
    for (name, token) in [("Ada", &who.ada), ("Bob", &who.bob)] {
        let joined = api
            .expect(
                StatusCode::CREATED,
                Method::POST,
                "/v1/creators/me",
                token,
                Some(json!({"age_attested": true})),
            )
            .await?;
        say.line(&format!("{name} joined: creator {}", text(&joined["id"])));
        names.push((text(&joined["id"]), name));
    }

    say.step("The generator enrolls their pictures: each comes back with its own invisible watermark");
    let rocket = enroll(api, who, "demo-ada", &world::ROCKET, say).await?;
    let astronaut = enroll(api, who, "demo-ada", &world::ASTRONAUT, say).await?;
    let cat = enroll(api, who, "demo-bob", &world::CHELSEA, say).await?;
    let unmarked = world::RETINA.generated()?;

    say.step("They link their social accounts and prove them with a code in the bio");
    let ada_instagram = prove(api, sim, &who.ada, Platform::Instagram, world::ADA_INSTAGRAM, say).await?;
    let ada_x = prove(api, sim, &who.ada, Platform::X, world::ADA_X, say).await?;
    prove(api, sim, &who.bob, Platform::X, world::BOB_X, say).await?;

    say.step("They publish; each platform re-encodes the upload its own way");
    let uploads = [&rocket.1, &astronaut.1, &cat.1, &unmarked, &cat.1, &rocket.1];
    for (i, (plan, upload)) in PLANNED.iter().zip(uploads).enumerate() {
        let views_per_hour = 400 + 300 * i as u64;
        sim.publish(
            world::post(plan.platform, plan.id, plan.account, 50 * (i as u64 + 1), views_per_hour),
            upload,
        )?;
        let fake = plan.fake.map_or(String::new(), |_| "  (planted fake)".into());
        say.line(&format!("{:<34} {}{fake}", plan.label, pipeline(plan.platform)));
    }

    say.step("The creators register the posts; the poller checks each for its watermark");
    let registration = Instant::now();
    let mut registered = Vec::new();
    for plan in &PLANNED {
        let token = if plan.by_ada { &who.ada } else { &who.bob };
        let mut body = json!({"url": world::post_url(plan.platform, plan.account, plan.id)});
        if plan.by_ada {
            // Ada has proven two accounts: she names the one that posted.
            let account = if plan.platform == Platform::Instagram { &ada_instagram } else { &ada_x };
            body["social_account_id"] = json!(account);
        }
        let post = api.expect(StatusCode::CREATED, Method::POST, "/v1/posts", token, Some(body)).await?;
        registered.push((plan, token.clone(), text(&post["id"])));
    }
    let checked = wait_for(say, "posts checked", registered.len(), || async {
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
    say.progress_done(&format!("all {} posts checked {waited:.0} s after registration", checked.len()));
    let mut outcomes = Vec::new();
    for (plan, post) in &checked {
        let status = text(&post["status"]);
        let why = match (plan.fake, post["status_reason"].as_str()) {
            (Some(expected), Some(reason)) => format!(": {reason} ({expected})"),
            (None, _) => format!(": carries {}'s enrolled content", if plan.by_ada { "Ada" } else { "Bob" }),
            (Some(expected), None) => format!(" ({expected})"),
        };
        say.line(&format!("{status:<10} {}{why}", plan.label));
        outcomes.push(PostOutcome {
            label: plan.label,
            fake: plan.fake.is_some(),
            status,
            reason: post["status_reason"].as_str().map(str::to_owned),
        });
    }

    say.step("Views grow (the simulated platforms run an hour of views every second)");
    let verified: Vec<_> = registered.iter().filter(|(plan, _, _)| plan.fake.is_none()).collect();
    let mut views_seen = Vec::new();
    for hour in 1..=4 {
        sim.advance(3600);
        tokio::time::sleep(Duration::from_millis(2300)).await;
        let mut line = format!("after {hour} h:");
        let mut now = Vec::new();
        for (plan, token, id) in &verified {
            let post =
                api.expect(StatusCode::OK, Method::GET, &format!("/v1/posts/{id}"), token, None).await?;
            let views = post["latest_views"].as_u64().unwrap_or(0);
            line.push_str(&format!("  {} {views}", short(plan.label)));
            now.push(views);
        }
        say.line(&line);
        views_seen.push(now);
    }

    say.step("The payout system freezes the period so far into a statement");
    let first_end = chrono::Utc::now();
    let first = statement(api, who, period_start, first_end).await?;
    tell_lines(say, &first, &names);

    say.step("Ada revokes her consent to tracking");
    api.expect(
        StatusCode::OK,
        Method::POST,
        "/v1/creators/me/consent",
        &who.ada,
        Some(json!({"tracking": false})),
    )
    .await?;
    let ada_ids: Vec<&str> =
        PLANNED.iter().filter(|p| p.account == world::ADA_X && p.fake.is_none()).map(|p| p.id).collect();
    let bob_id = PLANNED[2].id;
    let before = (lookups(sim, &ada_ids), sim.requests(FaultTarget::Instagram), lookups(sim, &[bob_id]));
    for _ in 0..3 {
        sim.advance(3600);
        tokio::time::sleep(Duration::from_millis(2300)).await;
    }
    let after = (lookups(sim, &ada_ids), sim.requests(FaultTarget::Instagram), lookups(sim, &[bob_id]));
    let ada_after_revoke = (after.0 - before.0) + (after.1 - before.1) as u32;
    let bob_after_revoke = after.2 - before.2;
    say.line(&format!(
        "over the next 3 hours: Ada's posts asked about {ada_after_revoke} times (X and Instagram), Bob's {bob_after_revoke} times"
    ));
    let ada_post = &registered[0];
    let post =
        api.expect(StatusCode::OK, Method::GET, &format!("/v1/posts/{}", ada_post.2), &who.ada, None).await?;
    say.line(&format!(
        "{}: {} ({}), views frozen at {}",
        ada_post.0.label,
        text(&post["status"]),
        post["status_reason"].as_str().unwrap_or("tracking ended"),
        post["latest_views"]
    ));

    say.step("Bob erases his account");
    let found_before = detect(api, &who.admin, &cat.1).await?;
    say.line(&format!("before: Bob's picture detects as content {}", text(&found_before["content"]["id"])));
    let receipt = api.expect(StatusCode::OK, Method::DELETE, "/v1/creators/me", &who.bob, None).await?;
    say.line(&format!("receipt {}: {}", text(&receipt["receipt_id"]), receipt["row_counts"]));
    let found_after = detect(api, &who.admin, &cat.1).await?;
    let answer = if found_after["found"] == true { "still known" } else { "unknown" };
    say.line(&format!("after: the same picture detects as {answer} ({found_after})"));

    say.step("Finally, the payout system reads that statement again and freezes the rest of the period");
    let path = format!("/v1/payouts/statements/{}", text(&first["id"]));
    let first_now = api.expect(StatusCode::OK, Method::GET, &path, &who.payouts, None).await?;
    tell_lines(say, &first_now, &names);
    say.line("Bob's line is kept for the accounts under a tombstone id: the total stays, the person is gone");
    let rest = statement(api, who, first_end, chrono::Utc::now()).await?;
    if rest["lines"].as_array().is_none_or(Vec::is_empty) {
        say.line("the rest of the period pays nothing: Ada revoked consent and Bob erased his account");
    } else {
        tell_lines(say, &rest, &names);
    }

    Ok(DemoReport {
        posts: outcomes,
        views: views_seen,
        ada_lookups_after_revoke: ada_after_revoke,
        bob_lookups_after_revoke: bob_after_revoke,
        detected_before_erasure: found_before["found"] == true,
        detected_after_erasure: found_after["found"] == true,
        receipt,
        first_statement: first,
        first_statement_after_erasure: first_now,
        rest_statement: rest,
        metrics: api.metrics(&who.admin).await?,
        dir: Default::default(),
    })
}

/// Freezes `[from, to)` into a statement, as the payout system does.
async fn statement(
    api: &ApiClient,
    who: &Credentials,
    from: chrono::DateTime<chrono::Utc>,
    to: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<Value> {
    let period = json!({"from": from, "to": to});
    api.expect(StatusCode::CREATED, Method::POST, "/v1/payouts/statements", &who.payouts, Some(period)).await
}

/// A statement's lines, with the creators' names where the payee is still a creator.
fn tell_lines(say: &mut Narrator, statement: &Value, names: &[(String, &str)]) {
    for line in statement["lines"].as_array().into_iter().flatten() {
        let payee = text(&line["payee_id"]);
        let name = names.iter().find(|(id, _)| *id == payee).map_or("a tombstone", |(_, name)| *name);
        say.line(&format!("{name:<12} {:>6} {} (payee {payee})", line["views"], text(&line["kind"])));
    }
    say.line(&format!(
        "statement {}, evidence hash {}",
        text(&statement["id"]),
        text(&statement["evidence_hash"])
    ));
}

/// Enrolls a picture for a creator as the generation backend does; (content id, marked file).
async fn enroll(
    api: &ApiClient,
    who: &Credentials,
    user: &str,
    picture: &Picture,
    say: &mut Narrator,
) -> anyhow::Result<(String, Vec<u8>)> {
    let generated = picture.generated()?;
    let started = Instant::now();
    let path = format!("/v1/contents?user_id={user}");
    let (status, headers, marked) = api.upload(&path, &who.generator, generated).await?;
    anyhow::ensure!(status == StatusCode::CREATED, "enrolling {} answered {status}", picture.name);
    let id = headers.get("x-content-id").and_then(|v| v.to_str().ok()).context("no x-content-id")?.to_owned();
    say.line(&format!(
        "{:<22} for {}: content {id}, marked in {} ms",
        picture.name,
        if user == "demo-ada" { "Ada" } else { "Bob" },
        started.elapsed().as_millis()
    ));
    Ok((id, marked))
}

/// Links an account and proves it; its id.
async fn prove(
    api: &ApiClient,
    sim: &Simulator,
    token: &str,
    platform: Platform,
    handle: &str,
    say: &mut Narrator,
) -> anyhow::Result<String> {
    let mut body = json!({"platform": platform.as_str(), "handle": handle});
    if platform == Platform::Instagram {
        body["oauth"] = json!({"access_token": world::ADA_INSTAGRAM_TOKEN});
    }
    let linked =
        api.expect(StatusCode::CREATED, Method::POST, "/v1/social-accounts", token, Some(body)).await?;
    let (id, code) = (text(&linked["id"]), text(&linked["proof"]["code"]));
    sim.set_bio(platform, handle, &format!("AI pictures · {code}"));
    let path = format!("/v1/social-accounts/{id}/verify");
    let proven = api.expect(StatusCode::OK, Method::POST, &path, token, None).await?;
    anyhow::ensure!(proven["proven"] == true, "{platform:?} @{handle} was not proven: {proven}");
    say.line(&format!("{:<9} @{handle:<14} proven (code {code} found in the bio)", platform.as_str()));
    Ok(id)
}

/// Waits, showing progress, until `check` reports `total` things done.
async fn wait_for<T, F, Fut>(say: &mut Narrator, what: &str, total: usize, check: F) -> anyhow::Result<Vec<T>>
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

fn pipeline(platform: Platform) -> &'static str {
    match platform {
        Platform::Instagram => "Instagram: crop 4:5, 1080 wide, JPEG 75",
        Platform::Tiktok => "TikTok: crop 9:16, 720 wide, JPEG 80",
        Platform::Youtube => "YouTube: crop 16:9, 1280 wide, JPEG 85",
        Platform::X => "X: JPEG 85",
    }
}

/// "Ada's rocket on X" -> "rocket".
fn short(label: &str) -> &str {
    label.split(' ').nth(1).unwrap_or(label)
}

fn text(value: &Value) -> String {
    value.as_str().map_or_else(|| value.to_string(), str::to_owned)
}
