//! Payouts on both backends, with expectations computed by hand: views across period
//! boundaries, a revocation and re-grant inside a period (the baseline), a post removed
//! mid-period, the hold window, flags holding posts out, idempotent statements under
//! concurrent requests, immutability, ETags and a clawback.

use chrono::{DateTime, Duration, DurationRound, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sqlx::Row;
use viewmark::domain::{CreatorId, FlagKind, Platform, PostId};
use viewmark::store::{NewPost, NewSocialAccount, Store};

use crate::on_both_backends;
use crate::support::{TestApp, TestDb};

pub(crate) struct World {
    pub app: TestApp,
    pub raw: sqlx::AnyPool,
    payouts: String,
    t0: DateTime<Utc>,
    pub ada: CreatorId,
    pub bob: CreatorId,
}

impl World {
    pub fn at(&self, hour: i64) -> DateTime<Utc> {
        self.t0 + Duration::hours(hour)
    }

    /// A snapshot `hour` hours after t0.
    pub async fn snap(&self, post: PostId, hour: i64, views: i64, baseline: bool) {
        let ms = self.at(hour).timestamp_millis();
        sqlx::query("INSERT INTO view_snapshots (post_id, poll_slot, observed_at, views, baseline) VALUES ($1, $2, $2, $3, $4)")
            .bind(post.to_string())
            .bind(ms)
            .bind(views)
            .bind(i64::from(baseline))
            .execute(&self.raw)
            .await
            .unwrap();
        // Rows written by hand: the store recounts the post as its own writes do.
        self.app.store.recount_post(post).await.unwrap();
    }

    pub async fn views(&self, from: i64, to: i64) -> Value {
        let path = format!(
            "/v1/payouts/verified-views?from={}&to={}&breakdown=posts",
            rfc3339(self.at(from)),
            rfc3339(self.at(to))
        );
        let (status, body) = self.app.call(Method::GET, &path, Some(&self.payouts), None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    /// A creator's total in a period (0 when absent).
    async fn total(&self, creator: CreatorId, from: i64, to: i64) -> u64 {
        let body = self.views(from, to).await;
        body["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["creator_id"] == creator.to_string())
            .map_or(0, |i| i["views"].as_u64().unwrap())
    }

    async fn statement(&self, from: i64, to: i64) -> (StatusCode, Value) {
        let body = json!({"from": rfc3339(self.at(from)), "to": rfc3339(self.at(to))});
        self.app.call(Method::POST, "/v1/payouts/statements", Some(&self.payouts), Some(body)).await
    }
}

pub(crate) fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

async fn creator(store: &dyn Store, user: &str) -> CreatorId {
    crate::support::creators::creator(store, user).await.id
}

/// A verified X post of the creator's.
pub(crate) async fn post(w: &World, creator: CreatorId, id: u64) -> PostId {
    let account = match w.app.store.social_accounts_for_creator(creator).await.unwrap().pop() {
        Some(account) => account,
        None => w
            .app
            .store
            .insert_social_account(&NewSocialAccount {
                creator_id: creator,
                platform: Platform::X,
                handle: format!("h{}", creator.as_uuid().simple()),
                proof_code: None,
                oauth_token: None,
                at: Utc::now(),
            })
            .await
            .unwrap(),
    };
    let new = NewPost {
        creator_id: creator,
        social_account_id: account.id,
        platform: Platform::X,
        platform_post_id: id.to_string(),
        url: format!("https://x.com/i/status/{id}"),
        content_id: None,
        at: Utc::now(),
    };
    let post = w.app.store.insert_post(&new).await.unwrap();
    sqlx::query("UPDATE posts SET status = 'verified', verified_at = $2, evidence_media_sha256 = 'e', evidence_score = 1.0 WHERE id = $1")
        .bind(post.id.to_string())
        .bind(w.t0.timestamp_millis())
        .execute(&w.raw)
        .await
        .unwrap();
    w.app.store.recount_post(post.id).await.unwrap();
    post.id
}

pub(crate) async fn world(db: TestDb) -> World {
    let app = TestApp::spawn(db).await;
    let raw = app._db.raw().await;
    let (payouts, _) = crate::support::tokens::service(app.store.as_ref(), &["payouts:read"]).await;
    let ada = creator(app.store.as_ref(), "user-ada").await;
    let bob = creator(app.store.as_ref(), "user-bob").await;
    // Thirty days ago, on the hour: every period below is long past the 72-hour hold.
    let t0 = (Utc::now() - Duration::days(30)).duration_trunc(Duration::hours(1)).unwrap();
    World { app, raw, payouts, t0, ada, bob }
}

async fn verified_views_follow_the_rules(db: TestDb) {
    let w = world(db).await;
    let p1 = post(&w, w.ada, 1).await;
    // p1: counting starts at h0; consent revoked at h31 and granted again at h40, so the
    // snapshot at h45 is a baseline and what accrued meanwhile (320 -> 1000) is never paid.
    w.snap(p1, 0, 100, true).await;
    w.snap(p1, 10, 150, false).await; // +50
    w.snap(p1, 20, 300, false).await; // +150
    w.snap(p1, 25, 320, false).await; // +20, exactly on a boundary
    w.snap(p1, 45, 1000, true).await; // baseline: 0
    w.snap(p1, 50, 1100, false).await; // +100
                                       // p2: removed from the platform mid-period: nothing of it is payable any more.
    let p2 = post(&w, w.ada, 2).await;
    w.snap(p2, 10, 0, true).await;
    w.snap(p2, 20, 500, false).await;
    sqlx::query("UPDATE posts SET status = 'removed' WHERE id = $1")
        .bind(p2.to_string())
        .execute(&w.raw)
        .await
        .unwrap();
    w.app.store.recount_post(p2).await.unwrap();
    // p3, Bob's: 10 -> 40 -> 45.
    let p3 = post(&w, w.bob, 3).await;
    w.snap(p3, 12, 10, true).await;
    w.snap(p3, 22, 40, false).await; // +30
    w.snap(p3, 26, 45, false).await; // +5

    assert_eq!(w.total(w.ada, 5, 25).await, 200, "h25 is outside [h5, h25)");
    assert_eq!(w.total(w.ada, 25, 55).await, 120, "20 at h25, the baseline's jump not paid, 100");
    assert_eq!(w.total(w.ada, 0, 10).await, 0, "a baseline alone gains nothing");
    assert_eq!(w.total(w.ada, 0, 100).await, 320);
    assert_eq!(w.total(w.bob, 0, 100).await, 35);
    let body = w.views(0, 100).await;
    let items = body["items"].as_array().unwrap();
    let ids: Vec<&str> = items.iter().map(|i| i["creator_id"].as_str().unwrap()).collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted, "stable order: creator id");
    let ada = items.iter().find(|i| i["creator_id"] == w.ada.to_string()).unwrap();
    assert_eq!(ada["posts"], json!([{"post_id": p1, "views": 320}]), "the removed post is not there");

    // Pages of one creator each, continued by the cursor.
    let path =
        format!("/v1/payouts/verified-views?from={}&to={}&limit=1", rfc3339(w.at(0)), rfc3339(w.at(100)));
    let (_, first) = w.app.call(Method::GET, &path, Some(&w.payouts), None).await;
    let cursor = first["next_cursor"].as_str().unwrap();
    let (_, second) =
        w.app.call(Method::GET, &format!("{path}&cursor={cursor}"), Some(&w.payouts), None).await;
    assert_eq!(first["items"][0]["creator_id"], items[0]["creator_id"]);
    assert_eq!(second["items"][0]["creator_id"], items[1]["creator_id"]);

    // A flag holds a post out until an admin clears it.
    let flag = w.app.store.flag_post(p3, FlagKind::Velocity, "test", Utc::now()).await.unwrap();
    assert_eq!(w.total(w.bob, 0, 100).await, 0);
    let (admin, _) = crate::support::tokens::service(w.app.store.as_ref(), &["admin"]).await;
    let (status, open) = w.app.call(Method::GET, "/v1/admin/flags", Some(&admin), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(open["items"][0]["id"], flag.id.to_string());
    let clear = format!("/v1/admin/flags/{}/clear", flag.id);
    assert_eq!(w.app.call(Method::POST, &clear, Some(&admin), None).await.0, StatusCode::OK);
    assert_eq!(w.total(w.bob, 0, 100).await, 35);

    // The hold window: snapshots of the last 72 hours are not counted yet.
    let now = Utc::now();
    sqlx::query("INSERT INTO view_snapshots (post_id, poll_slot, observed_at, views, baseline) VALUES ($1, $2, $2, 5000, 0)")
        .bind(p3.to_string())
        .bind((now - Duration::hours(1)).timestamp_millis())
        .execute(&w.raw)
        .await
        .unwrap();
    w.app.store.recount_post(p3).await.unwrap();
    let path = format!(
        "/v1/payouts/verified-views?from={}&to={}",
        rfc3339(now - Duration::hours(2)),
        rfc3339(now + Duration::hours(1))
    );
    let (status, recent) = w.app.call(Method::GET, &path, Some(&w.payouts), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(recent["items"], json!([]), "{recent}");
    assert_eq!(w.total(w.bob, 0, 24 * 40).await, 35, "the recent jump is still held");

    // Bad periods are clear 400s.
    let bad = format!("/v1/payouts/verified-views?from={}&to={}", rfc3339(w.at(5)), rfc3339(w.at(5)));
    let (status, body) = w.app.call(Method::GET, &bad, Some(&w.payouts), None).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("empty_period")));
    let (status, _) = w
        .app
        .call(Method::GET, "/v1/payouts/verified-views?from=yesterday&to=today", Some(&w.payouts), None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

async fn statements_are_frozen_idempotent_and_claw_back(db: TestDb) {
    let w = world(db).await;
    let p1 = post(&w, w.ada, 1).await;
    w.snap(p1, 0, 100, true).await;
    w.snap(p1, 10, 150, false).await;
    w.snap(p1, 20, 300, false).await;
    let p3 = post(&w, w.bob, 3).await;
    w.snap(p3, 12, 10, true).await;
    w.snap(p3, 22, 40, false).await;

    // Eight concurrent requests for one period: one statement.
    let requests = (0..8).map(|_| w.statement(0, 24));
    let answers = futures_util::future::join_all(requests).await;
    let ids: std::collections::HashSet<String> = answers
        .iter()
        .map(|(status, body)| {
            assert!(status.is_success(), "{body}");
            body["id"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(ids.len(), 1, "{answers:?}");
    assert_eq!(answers.iter().filter(|(s, _)| *s == StatusCode::CREATED).count(), 1);
    let count = sqlx::query("SELECT COUNT(*) AS n FROM payout_statements").fetch_one(&w.raw).await.unwrap();
    assert_eq!(count.get::<i64, _>("n"), 1);
    let first = answers[0].1.clone();
    let line = |s: &Value, payee: CreatorId, kind: &str| {
        s["lines"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["payee_id"] == payee.to_string() && l["kind"] == kind)
            .map(|l| l["views"].as_i64().unwrap())
    };
    assert_eq!(line(&first, w.ada, "views"), Some(200));
    assert_eq!(line(&first, w.bob, "views"), Some(30));

    // Later snapshots (a late poll inside the period) never change it.
    w.snap(p1, 23, 900, false).await;
    let path = format!("/v1/payouts/statements/{}", first["id"].as_str().unwrap());
    let response = w.app.client.get(w.app.url(&path)).bearer_auth(&w.payouts).send().await.unwrap();
    let etag = response.headers()["etag"].to_str().unwrap().to_owned();
    let shown: Value = response.json().await.unwrap();
    assert_eq!(shown, first);
    assert_eq!(
        w.statement(0, 24).await,
        (StatusCode::OK, first.clone()),
        "the same period: the same statement"
    );
    let cached = w
        .app
        .client
        .get(w.app.url(&path))
        .bearer_auth(&w.payouts)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(cached.status(), StatusCode::NOT_MODIFIED);

    // Overlapping periods and periods still inside the hold window are refused.
    let (status, body) = w.statement(12, 36).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("period_overlaps")));
    let now = Utc::now();
    let body = json!({"from": rfc3339(now - Duration::hours(30)), "to": rfc3339(now - Duration::hours(1))});
    let (status, body) =
        w.app.call(Method::POST, "/v1/payouts/statements", Some(&w.payouts), Some(body)).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("period_not_final")));

    // Ada's post is removed after being paid: the next statement claws back what was paid
    // on it (200 in the first, 750 of the late 900 is in no statement yet); Bob goes on.
    sqlx::query("UPDATE posts SET status = 'removed' WHERE id = $1")
        .bind(p1.to_string())
        .execute(&w.raw)
        .await
        .unwrap();
    w.app.store.recount_post(p1).await.unwrap();
    w.snap(p3, 30, 100, false).await; // +60
    let (status, second) = w.statement(24, 48).await;
    assert_eq!(status, StatusCode::CREATED, "{second}");
    assert_eq!(line(&second, w.ada, "clawback"), Some(-200));
    assert_eq!(line(&second, w.ada, "views"), None);
    assert_eq!(line(&second, w.bob, "views"), Some(60));
    // Taken back once only.
    let (_, third) = w.statement(48, 72).await;
    assert_eq!(line(&third, w.ada, "clawback"), None, "{third}");
    // The first statement still says what it said.
    let (_, again) = w.app.call(Method::GET, &path, Some(&w.payouts), None).await;
    assert_eq!(again, first);
}

async fn a_post_claimed_by_a_second_creator_is_flagged(db: TestDb) {
    let t = crate::support::tracked::tracked(db).await;
    let ours = crate::support::tracked::register(&t, &t.ada, crate::support::tracked::OURS).await;
    crate::support::tracked::link_and_prove(&t.app, &t.sim, &t.bob, "bob_makes").await;
    let url = format!("https://x.com/bob_makes/status/{}", crate::support::tracked::OURS);
    let (status, body) = t.app.call(Method::POST, "/v1/posts", Some(&t.bob), Some(json!({"url": url}))).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("post_taken")));
    let flags = t.app.store.flags(true, 10).await.unwrap();
    assert_eq!(flags.len(), 1);
    assert_eq!(
        (flags[0].post_id.to_string(), flags[0].kind),
        (ours["id"].as_str().unwrap().to_owned(), FlagKind::ClaimedTwice)
    );
    // Claiming it again, before or after an admin clears the flag, raises nothing more.
    let (status, _) = t.app.call(Method::POST, "/v1/posts", Some(&t.bob), Some(json!({"url": url}))).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(t.app.store.flags(false, 10).await.unwrap().len(), 1);
    t.app.store.clear_flag(flags[0].id, "admin-token", chrono::Utc::now()).await.unwrap();
    let (status, _) = t.app.call(Method::POST, "/v1/posts", Some(&t.bob), Some(json!({"url": url}))).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(t.app.store.flags(true, 10).await.unwrap().is_empty(), "the cleared claim was raised again");
    // The owner registering it again is no such signal.
    let url = format!("https://x.com/ada_makes/status/{}", crate::support::tracked::OURS);
    let (status, _) = t.app.call(Method::POST, "/v1/posts", Some(&t.ada), Some(json!({"url": url}))).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(t.app.store.flags(false, 10).await.unwrap().len(), 1);
}

on_both_backends!(
    verified_views_follow_the_rules,
    statements_are_frozen_idempotent_and_claw_back,
    a_post_claimed_by_a_second_creator_is_flagged,
);
