//! Tracking end to end on both backends, against the simulated platforms: registration,
//! verification by watermark (and every way it must fail), view snapshots, removal, and the
//! consent gate under revocations racing polls.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use rand::Rng;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use viewmark::consent::locks::ConsentLocks;
use viewmark::domain::Platform;
use viewmark::platforms::start_gate::StartGate;
use viewmark::simulator::{Fault, FaultKind, FaultTarget, SimPostState};
use viewmark::tracking::consent_gate::ConsentGate;
use viewmark::tracking::Round;

use crate::on_both_backends;
use crate::support::tracked::*;
use crate::support::TestDb;

/// Makes the post due now, as if its interval had passed.
async fn make_due(t: &Tracked, post: &Value) {
    sqlx::query("UPDATE posts SET next_poll_at = $1 WHERE id = $2")
        .bind(Utc::now().timestamp_millis() - 1)
        .bind(post["id"].as_str().unwrap())
        .execute(&t.app._db.raw().await)
        .await
        .unwrap();
}

async fn polled_in(t: &Tracked, post: &Value) -> i64 {
    let now = show(t, &t.ada, post).await;
    let next: chrono::DateTime<Utc> = now["next_poll_at"].as_str().unwrap().parse().unwrap();
    (next - Utc::now()).num_seconds()
}

async fn the_schedule_follows_the_views(db: TestDb) {
    let (ada_payload, bob_payload) = (0x0123_4567_89ab_cdef_u64, 0x0fed_cba9_8765_4321_u64);
    let t =
        tracked_scenario_with(db, scenario(ada_payload, bob_payload), &[("user-ada", ada_payload)], |s| {
            s.tracking.young_interval_secs = 3600;
            s.tracking.fastest_interval_secs = 60;
            s.tracking.views_per_poll = 100_000;
            s.tracking.flat_interval_factor = 2;
        })
        .await;
    let ours = register(&t, &t.ada, OURS).await;
    t.poller.try_execute_task().await.unwrap();
    assert!((3590..=3600).contains(&polled_in(&t, &ours).await), "nothing known yet: its age's interval");

    // 4 500 views in a second or two (the first poll's check included): polled again at the
    // fastest interval, which a gain of 100 000 views in a minute would reach.
    next_slot().await;
    t.sim.advance(3600);
    make_due(&t, &ours).await;
    assert_eq!(t.poller.try_execute_task().await.unwrap(), Round::Polled(1));
    assert!((50..=60).contains(&polled_in(&t, &ours).await), "a post gaining fast is polled sooner");

    // The curve is flat from here: twice its age's interval.
    t.sim.advance(3600);
    next_slot().await;
    make_due(&t, &ours).await;
    t.poller.try_execute_task().await.unwrap();
    next_slot().await;
    make_due(&t, &ours).await;
    t.poller.try_execute_task().await.unwrap();
    assert_eq!(t.app.store.snapshots_for_post(post_id(&ours)).await.unwrap().len(), 4);
    assert!((7190..=7200).contains(&polled_in(&t, &ours).await), "a flat post waits longer");
}

/// A budget spent is respected: the posts beyond it wait for it to refill, asked about
/// nothing meanwhile and without counting a failure.
async fn the_schedule_respects_the_platforms_budget(db: TestDb) {
    let (ada_payload, bob_payload) = (0x0123_4567_89ab_cdef_u64, 0x0fed_cba9_8765_4321_u64);
    let t =
        tracked_scenario_with(db, scenario(ada_payload, bob_payload), &[("user-ada", ada_payload)], |s| {
            // Three lookups per 15 minutes for the poller (its own budget).
            s.platforms.x.requests_per_15_min = 3;
            s.tracking.discovery.enabled = false;
        })
        .await;
    let ours = register(&t, &t.ada, OURS).await;
    let before = t.sim.requests(FaultTarget::X);
    for _ in 0..5 {
        make_due(&t, &ours).await;
        assert_eq!(t.poller.try_execute_task().await.unwrap(), Round::Polled(1));
    }
    assert_eq!(t.sim.requests(FaultTarget::X) - before, 3, "five rounds due, three lookups sent");
    let now = show(&t, &t.ada, &ours).await;
    assert!(polled_in(&t, &ours).await >= 60, "waits for the budget to refill: {now}");
    assert_eq!(now["status"], "verified", "{now}");
    let stored = t.app.store.post(post_id(&ours)).await.unwrap().unwrap();
    assert_eq!(stored.failures, 0, "a throttle is not the post's failure");
}

async fn only_true_posts_verify_and_verified_ones_accumulate_snapshots(db: TestDb) {
    let t = tracked(db).await;
    let ours = register(&t, &t.ada, OURS).await;
    let bobs = register(&t, &t.ada, BOBS_CONTENT).await;
    let unmarked = register(&t, &t.ada, UNMARKED).await;
    let strangers = register(&t, &t.ada, STRANGERS).await;
    assert_eq!(t.poller.try_execute_task().await.unwrap(), Round::Polled(4));
    assert_eq!(t.sim.requests(FaultTarget::X), 1 + 2, "one batched lookup (after the two profile reads)");

    let ours_now = show(&t, &t.ada, &ours).await;
    assert_eq!(ours_now["status"], "verified", "{ours_now}");
    assert!((100..200).contains(&ours_now["latest_views"].as_u64().unwrap()), "{ours_now}");
    assert_eq!(ours_now["evidence"]["media_sha256"].as_str().unwrap().len(), 64);
    assert!(ours_now["evidence"]["score"].as_f64().unwrap() > 0.0);
    assert!(ours_now["content_id"].is_string(), "the content found is recorded");
    for (post, reason) in [
        (&bobs, "another creator's content"),
        (&unmarked, "no watermark"),
        (&strangers, "account other than the one registered"),
    ] {
        let now = show(&t, &t.ada, post).await;
        assert_eq!(now["status"], "unverified", "{now}");
        assert!(now["status_reason"].as_str().unwrap().contains(reason), "{now}");
        assert!(now["latest_views"].is_null() && now["next_poll_at"].is_null(), "{now}");
        assert!(t.app.store.snapshots_for_post(post_id(post)).await.unwrap().is_empty());
    }

    // The next slot: only the verified post is polled, and its views have grown.
    next_slot().await;
    t.sim.advance(1800);
    assert_eq!(t.poller.try_execute_task().await.unwrap(), Round::Polled(1));
    let snapshots = t.app.store.snapshots_for_post(post_id(&ours)).await.unwrap();
    assert_eq!(snapshots.len(), 2);
    assert!(snapshots[0].baseline && !snapshots[1].baseline);
    assert!(snapshots[1].views > snapshots[0].views + 2000, "{snapshots:?}");
    assert_eq!(t.poller.try_execute_task().await.unwrap(), Round::Idle, "nothing due before the next slot");

    // The loop's metrics, for operators.
    let (admin, _) = crate::support::tokens::service(t.app.store.as_ref(), &["admin"]).await;
    let text = t
        .app
        .client
        .get(t.app.url("/metrics"))
        .bearer_auth(admin)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for expected in [
        "viewmark_polls_total{platform=\"x\",outcome=\"verified\"}",
        "viewmark_polls_total{platform=\"x\",outcome=\"unverified\"}",
        "viewmark_poll_lag_seconds_bucket",
        "viewmark_detection_seconds_count",
    ] {
        assert!(text.contains(expected), "{expected} missing from:\n{text}");
    }
}

async fn registration_refuses_unproven_accounts_duplicates_and_bad_urls(db: TestDb) {
    let t = tracked(db).await;
    let url = |id: &str| json!({"url": format!("https://twitter.com/a/status/{id}")});
    // Bob linked nothing; after linking, his account is still unproven.
    let (status, body) = t.app.call(Method::POST, "/v1/posts", Some(&t.bob), Some(url(OURS))).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("unproven_account"))
    );
    let link = json!({"platform": "x", "handle": "bob_makes"});
    assert_eq!(
        t.app.call(Method::POST, "/v1/social-accounts", Some(&t.bob), Some(link)).await.0,
        StatusCode::CREATED
    );
    let (status, _) = t.app.call(Method::POST, "/v1/posts", Some(&t.bob), Some(url(OURS))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    register(&t, &t.ada, OURS).await;
    let (status, body) = t.app.call(Method::POST, "/v1/posts", Some(&t.ada), Some(url(OURS))).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("post_taken")));
    for bad in ["https://x.com/ada_makes", "https://example.com/status/1", "not a url"] {
        let (status, body) =
            t.app.call(Method::POST, "/v1/posts", Some(&t.ada), Some(json!({"url": bad}))).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some("bad_post_url")),
            "{bad}"
        );
    }
    let other_content =
        json!({"url": "https://x.com/a/status/1900000000000000009", "content_id": uuid::Uuid::new_v4()});
    assert_eq!(
        t.app.call(Method::POST, "/v1/posts", Some(&t.ada), Some(other_content)).await.0,
        StatusCode::NOT_FOUND
    );

    // Another creator's post is invisible; a revoked creator registers nothing.
    let (status, listed) = t.app.call(Method::GET, "/v1/posts", Some(&t.ada), None).await;
    assert_eq!((status, listed["items"].as_array().unwrap().len()), (StatusCode::OK, 1));
    let path = format!("/v1/posts/{}", listed["items"][0]["id"].as_str().unwrap());
    assert_eq!(t.app.call(Method::GET, &path, Some(&t.bob), None).await.0, StatusCode::NOT_FOUND);
    assert_eq!(t.app.call(Method::DELETE, &path, Some(&t.bob), None).await.0, StatusCode::NOT_FOUND);
    revoke(&t, &t.ada).await;
    let (status, _) =
        t.app.call(Method::POST, "/v1/posts", Some(&t.ada), Some(url("1900000000000000008"))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

async fn removed_and_stopped_posts_are_not_polled_again(db: TestDb) {
    let t = tracked(db).await;
    let ours = register(&t, &t.ada, OURS).await;
    let unmarked = register(&t, &t.ada, UNMARKED).await;
    t.sim.set_post_state(Platform::X, OURS, SimPostState::Removed);
    assert_eq!(t.poller.try_execute_task().await.unwrap(), Round::Polled(2));
    let now = show(&t, &t.ada, &ours).await;
    assert_eq!((now["status"].as_str(), now["next_poll_at"].is_null()), (Some("removed"), true), "{now}");

    // Stopping is idempotent and final.
    let path = format!("/v1/posts/{}", unmarked["id"].as_str().unwrap());
    let (status, stopped) = t.app.call(Method::DELETE, &path, Some(&t.ada), None).await;
    assert_eq!((status, stopped["status"].as_str()), (StatusCode::OK, Some("stopped")));
    assert_eq!(t.app.call(Method::DELETE, &path, Some(&t.ada), None).await.0, StatusCode::OK);
    let requests = t.sim.requests(FaultTarget::X);
    next_slot().await;
    assert_eq!(t.poller.try_execute_task().await.unwrap(), Round::Idle);
    assert_eq!(t.sim.requests(FaultTarget::X), requests, "no request for removed or stopped posts");
}

async fn revocation_stops_polling_and_a_regrant_restarts_counting(db: TestDb) {
    let t = tracked(db).await;
    let ours = register(&t, &t.ada, OURS).await;
    assert_eq!(t.poller.try_execute_task().await.unwrap(), Round::Polled(1));
    revoke(&t, &t.ada).await;
    let requests = t.sim.requests(FaultTarget::X);
    next_slot().await;
    t.sim.advance(1800);
    assert_eq!(
        t.poller.try_execute_task().await.unwrap(),
        Round::Idle,
        "a revoked creator's post is not leased"
    );
    assert_eq!(t.sim.requests(FaultTarget::X), requests, "no platform request after the revocation");
    assert_eq!(t.app.store.snapshots_for_post(post_id(&ours)).await.unwrap().len(), 1);

    grant(&t, &t.ada).await;
    assert_eq!(t.poller.try_execute_task().await.unwrap(), Round::Polled(1));
    let snapshots = t.app.store.snapshots_for_post(post_id(&ours)).await.unwrap();
    assert_eq!(snapshots.len(), 2);
    assert!(snapshots[1].baseline, "counting restarts from the first snapshot after the re-grant");
}

/// Revocations land at random moments while polls are in flight (slowed by the simulated
/// platform by a random delay): no request reaches the platform after a revocation has
/// committed (the start gate makes the revocation wait for a request on its way), nothing
/// observed after it is stored, and no later round leases the post.
async fn revocations_racing_polls_never_let_a_snapshot_through(db: TestDb) {
    let t = Arc::new(tracked(db).await);
    let ours = register(&t, &t.ada, OURS).await;
    let mut discarded = 0;
    for round in 0..8 {
        let delay = rand::thread_rng().gen_range(0..60);
        t.sim.inject(Fault { target: FaultTarget::X, kind: FaultKind::Slow { delay_ms: delay }, times: 1 });
        let arrivals_before = t.sim.arrivals(FaultTarget::X).len();
        let polling = {
            let t = t.clone();
            tokio::spawn(async move { t.poller.try_execute_task().await.unwrap() })
        };
        tokio::time::sleep(Duration::from_millis(rand::thread_rng().gen_range(0..60))).await;
        let before = t.app.store.snapshots_for_post(post_id(&ours)).await.unwrap().len();
        revoke(&t, &t.ada).await;
        let revoked_at = Utc::now();
        polling.await.unwrap();
        let snapshots = t.app.store.snapshots_for_post(post_id(&ours)).await.unwrap();
        for s in &snapshots {
            assert!(
                s.observed_at < revoked_at,
                "round {round}: snapshot observed at {} after revocation",
                s.observed_at
            );
        }
        discarded += usize::from(snapshots.len() == before);
        let in_flight = t.sim.arrivals(FaultTarget::X).len() - arrivals_before;
        assert!(in_flight <= 1, "round {round}: {in_flight} requests for one batch");
        let late = t.sim.arrivals(FaultTarget::X).into_iter().filter(|at| *at > revoked_at).count();
        assert_eq!(late, 0, "round {round}: a request reached the platform after the revocation");
        // After the revocation: no lease, no request.
        let arrivals = t.sim.arrivals(FaultTarget::X).len();
        assert_eq!(t.poller.try_execute_task().await.unwrap(), Round::Idle);
        assert_eq!(
            t.sim.arrivals(FaultTarget::X).len(),
            arrivals,
            "round {round}: a request after the revocation"
        );
        grant(&t, &t.ada).await;
        next_slot().await;
    }
    assert!(discarded > 0, "some polls were in flight at a revocation and were discarded");
}

/// The start gate's mechanism, directly: while a poll's permit is held (its request on the
/// way), a revocation cannot commit; once it has, no permit is given. On PostgreSQL this holds
/// even for a worker in another process (its own in-process locks): the row lock alone.
async fn a_request_on_its_way_holds_the_revocation_back(db: TestDb) {
    let postgres = db.url.starts_with("postgres");
    let t = Arc::new(tracked(db).await);
    let (_, me) = t.app.call(Method::GET, "/v1/creators/me", Some(&t.ada), None).await;
    let ada: viewmark::domain::CreatorId = me["id"].as_str().unwrap().parse().unwrap();
    let mut lock_sets = vec![t.app.consent_locks.clone()];
    if postgres {
        lock_sets.push(Arc::new(ConsentLocks::default()));
    }
    for locks in lock_sets {
        let since = t.app.store.consent_stamp(ada).await.unwrap().unwrap().changed_at;
        let gate = ConsentGate::new(t.app.store.clone(), locks.clone(), vec![(ada, since)]);
        let permit = gate.permit().await.unwrap();
        let revoking = {
            let t = t.clone();
            tokio::spawn(async move { revoke(&t, &t.ada).await })
        };
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!revoking.is_finished(), "the revocation committed while a request was on its way");
        // While it waits, no new request about her starts: not from this process, nor (on
        // PostgreSQL) from another one, whose consent locks are its own.
        for newcomer_locks in [locks.clone(), Arc::new(ConsentLocks::default())] {
            let newcomer = ConsentGate::new(t.app.store.clone(), newcomer_locks, vec![(ada, since)]);
            let attempt = tokio::time::timeout(Duration::from_millis(300), newcomer.permit()).await;
            assert!(!matches!(attempt, Ok(Ok(_))), "a new request started while a revocation waited");
            if !postgres {
                break; // SQLite: one process owns the database.
            }
        }
        drop(permit);
        tokio::time::timeout(Duration::from_secs(10), revoking).await.unwrap().unwrap();
        assert!(gate.permit().await.is_err(), "no request starts after the revocation");
        grant(&t, &t.ada).await;
    }
}

/// The account-proof request asks the platform about the creator, so it passes the consent
/// gate: a revocation made while it is on its way waits for its answer.
async fn an_account_proof_on_its_way_holds_the_revocation_back(db: TestDb) {
    let t = Arc::new(tracked(db).await);
    let body = json!({"platform": "x", "handle": "stranger"});
    let (status, linked) = t.app.call(Method::POST, "/v1/social-accounts", Some(&t.bob), Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{linked}");
    t.sim.set_bio(Platform::X, "stranger", &format!("hi · {}", linked["proof"]["code"].as_str().unwrap()));
    let path = format!("/v1/social-accounts/{}/verify", linked["id"].as_str().unwrap());
    // Slow, within the request timeout.
    t.sim.inject(Fault { target: FaultTarget::X, kind: FaultKind::Slow { delay_ms: 500 }, times: 1 });
    let verifying = {
        let (t, path) = (t.clone(), path.clone());
        tokio::spawn(async move { t.app.call(Method::POST, &path, Some(&t.bob), None).await.0 })
    };
    tokio::time::sleep(Duration::from_millis(150)).await;
    let revoking = {
        let t = t.clone();
        tokio::spawn(async move { revoke(&t, &t.bob).await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!revoking.is_finished(), "the revocation committed while the proof request was on its way");
    assert_eq!(verifying.await.unwrap(), StatusCode::OK, "asked under consent, answered");
    tokio::time::timeout(Duration::from_secs(10), revoking).await.unwrap().unwrap();
    let (status, body) = t.app.call(Method::POST, &path, Some(&t.bob), None).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("consent_revoked")));
}

/// Linking someone else's account first blocks nobody: the owner links and proves it, and
/// the squatter's unproven link is gone; nobody learns from an answer who linked what.
async fn an_unproven_link_cannot_squat_a_handle(db: TestDb) {
    let t = tracked(db).await;
    let link = |token: String, handle: &'static str| {
        let app = &t.app;
        async move {
            let body = json!({"platform": "x", "handle": handle});
            app.call(Method::POST, "/v1/social-accounts", Some(&token), Some(body)).await
        }
    };
    // Ada squats "stranger", and tries Bob's proven account: the same answer as any link.
    let (status, squat) = link(t.ada.clone(), "stranger").await;
    assert_eq!(status, StatusCode::CREATED, "{squat}");
    let (status, on_bobs) = link(t.ada.clone(), "bob_makes").await;
    assert_eq!((status, on_bobs["proven"].as_bool()), (StatusCode::CREATED, Some(false)), "{on_bobs}");
    let path = |account: &Value| format!("/v1/social-accounts/{}/verify", account["id"].as_str().unwrap());
    let (status, _) = t.app.call(Method::POST, &path(&on_bobs), Some(&t.ada), None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "her code is not in Bob's bio");
    // The owner of "stranger" turns out to be Bob: he links and proves it.
    let (status, owned) = link(t.bob.clone(), "stranger").await;
    assert_eq!(status, StatusCode::CREATED, "{owned}");
    t.sim.set_bio(Platform::X, "stranger", owned["proof"]["code"].as_str().unwrap());
    let (status, body) = t.app.call(Method::POST, &path(&owned), Some(&t.bob), None).await;
    assert_eq!((status, body["proven"].as_bool()), (StatusCode::OK, Some(true)), "{body}");
    // Ada's squat is gone.
    let (_, mine) = t.app.call(Method::GET, "/v1/social-accounts", Some(&t.ada), None).await;
    let handles: Vec<&str> =
        mine["items"].as_array().unwrap().iter().map(|a| a["handle"].as_str().unwrap()).collect();
    assert!(!handles.contains(&"stranger"), "{handles:?}");
    let (status, _) = t.app.call(Method::POST, &path(&squat), Some(&t.ada), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

on_both_backends!(
    the_schedule_follows_the_views,
    the_schedule_respects_the_platforms_budget,
    an_unproven_link_cannot_squat_a_handle,
    an_account_proof_on_its_way_holds_the_revocation_back,
    a_request_on_its_way_holds_the_revocation_back,
    only_true_posts_verify_and_verified_ones_accumulate_snapshots,
    registration_refuses_unproven_accounts_duplicates_and_bad_urls,
    removed_and_stopped_posts_are_not_polled_again,
    revocation_stops_polling_and_a_regrant_restarts_counting,
    revocations_racing_polls_never_let_a_snapshot_through,
);
