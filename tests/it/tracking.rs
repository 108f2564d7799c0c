//! Tracking end to end on both backends, against the simulated platforms: registration,
//! verification by watermark (and every way it must fail), view snapshots, removal, and the
//! consent gate under revocations racing polls.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use rand::Rng;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use viewmark::config::Settings;
use viewmark::consent::locks::ConsentLocks;
use viewmark::domain::{MediaKind, Platform};
use viewmark::platforms::start_gate::StartGate;
use viewmark::platforms::Platforms;
use viewmark::simulator::{
    scenario::{SimAccount, SimMedia, SimPost},
    Fault, FaultKind, FaultTarget, Scenario, SimPostState, Simulator,
};
use viewmark::store::NewContent;
use viewmark::tracking::consent_gate::ConsentGate;
use viewmark::tracking::{Poller, Round, TrackingSettings};

use crate::on_both_backends;
use crate::platforms::quick_settings;
use crate::support::{fixture_path, test_key, TestApp, TestDb};
use crate::tokens::creator_token;

pub const OURS: &str = "1900000000000000001";
const BOBS_CONTENT: &str = "1900000000000000002";
const UNMARKED: &str = "1900000000000000003";
const STRANGERS: &str = "1900000000000000004";

pub struct Tracked {
    pub app: TestApp,
    pub sim: Simulator,
    pub poller: Poller,
    pub settings: Settings,
    pub ada: String,
    pub bob: String,
}

pub fn account(handle: &str) -> SimAccount {
    SimAccount {
        platform: Platform::X,
        handle: handle.into(),
        bio: String::new(),
        access_token: None,
        refresh_token: None,
        token_expired: false,
        protected: false,
    }
}

fn post(id: &str, by: &str, image: &str, payload: Option<u64>) -> SimPost {
    SimPost {
        platform: Platform::X,
        id: id.into(),
        account: by.into(),
        state: SimPostState::Live,
        views: vec![(0, 100), (3600, 4600)],
        media: Some(SimMedia {
            image: format!("images/{image}").into(),
            payload: payload.map(|p| format!("{p:016x}")),
            video: false,
            clip: None,
            custom_cover: false,
            transform: None,
        }),
    }
}

pub fn tracking_settings() -> TrackingSettings {
    TrackingSettings {
        // The test drives the poller itself, round by round.
        poll_in_serve: false,
        jitter: 0.0,
        young_interval_secs: 1,
        retry_base_secs: 1,
        max_verify_attempts: 1,
        ..TrackingSettings::default()
    }
}

pub async fn join(app: &TestApp, user: &str) -> (String, uuid::Uuid) {
    let token = creator_token(user);
    let (status, body) =
        app.call(Method::POST, "/v1/creators/me", Some(&token), Some(json!({"age_attested": true}))).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    (token, body["id"].as_str().unwrap().parse().unwrap())
}

/// Enrolls `payload` for the creator, with the references enrollment would keep of what
/// the scenario marks with it: its pictures (covers the creator chose are not marked) and
/// its clips' key frames.
pub async fn enroll(app: &TestApp, scenario: &Scenario, creator_id: uuid::Uuid, payload: u64) {
    let hex = format!("{payload:016x}");
    let mut kept = Vec::new();
    for media in scenario.posts.iter().filter_map(|p| p.media.as_ref()) {
        if media.payload.as_deref() != Some(hex.as_str()) {
            continue;
        }
        if !media.custom_cover {
            let picture = image::open(fixture_path("").join(&media.image)).unwrap().to_rgb8();
            kept.push(viewmark::watermark::Reference::of(&picture));
        }
        if let Some(clip) = &media.clip {
            let settings = viewmark::media::video::VideoSettings::default();
            let bytes = viewmark::media::recognize::video_references(&fixture_path("").join(clip), &settings)
                .unwrap();
            kept.extend(viewmark::watermark::references_from_bytes(&bytes).unwrap());
        }
    }
    let references = (!kept.is_empty()).then(|| viewmark::watermark::references_to_bytes(&kept));
    let content = NewContent {
        creator_id,
        payload,
        media_kind: MediaKind::Image,
        width: 512,
        height: 512,
        sha256: "0".repeat(64),
        references,
        at: Utc::now(),
    };
    app.store.insert_content(&content).await.unwrap();
}

/// Links the X account and proves it: the proof code goes into the simulated bio.
pub async fn link_and_prove(app: &TestApp, sim: &Simulator, token: &str, handle: &str) {
    let (status, linked) = app
        .call(
            Method::POST,
            "/v1/social-accounts",
            Some(token),
            Some(json!({"platform": "x", "handle": handle})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{linked}");
    let code = linked["proof"]["code"].as_str().unwrap();
    let path = format!("/v1/social-accounts/{}/verify", linked["id"].as_str().unwrap());
    let (status, body) = app.call(Method::POST, &path, Some(token), None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "no code in the bio yet: {body}");
    sim.set_bio(Platform::X, handle, &format!("AI art · {code}"));
    let (status, body) = app.call(Method::POST, &path, Some(token), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["proven"], true);
}

/// Ada (ada_makes) and Bob (bob_makes) with proven X accounts and one content each; the
/// simulated X has Ada's post with her content, one with Bob's, one unmarked, and one by a
/// stranger carrying Ada's.
pub async fn tracked(db: TestDb) -> Tracked {
    // Fixed payloads (each test has its own database): the simulated X serves these marks
    // through its pipeline in a form the detector is known to read, so the tests are
    // deterministic. How often marks survive in general is the robustness suite's subject.
    let (ada_payload, bob_payload) = (0x0123_4567_89ab_cdef_u64, 0x0fed_cba9_8765_4321_u64);
    let scenario = scenario(ada_payload, bob_payload);
    tracked_scenario(db, scenario, &[("user-ada", ada_payload), ("user-bob", bob_payload)]).await
}

/// Ada's, Bob's and a stranger's X accounts; Ada's post with her content, one of hers with
/// Bob's, one unmarked, and the stranger's carrying Ada's.
pub fn scenario(ada_payload: u64, bob_payload: u64) -> Scenario {
    Scenario {
        credentials: Default::default(),
        limits: Default::default(),
        accounts: vec![account("ada_makes"), account("bob_makes"), account("stranger")],
        posts: vec![
            post(OURS, "ada_makes", "astronaut.png", Some(ada_payload)),
            post(BOBS_CONTENT, "ada_makes", "astronaut.png", Some(bob_payload)),
            post(UNMARKED, "ada_makes", "coffee.png", None),
            post(STRANGERS, "stranger", "astronaut.png", Some(ada_payload)),
        ],
    }
}

/// The service and a poller over simulated platforms playing `scenario`. The creators
/// (user id, enrolled payload) join, the first two become `ada` and `bob`, and Ada proves
/// the X account `ada_makes`.
pub async fn tracked_scenario(db: TestDb, scenario: Scenario, creators: &[(&str, u64)]) -> Tracked {
    let sim =
        Simulator::start(scenario.clone(), &fixture_path(""), Some(test_key()), "127.0.0.1:0").await.unwrap();
    let mut used = Settings::default();
    let app = TestApp::spawn_with(db, |s| {
        s.platforms = sim.platform_settings(quick_settings());
        s.tracking = tracking_settings();
        used = s.clone();
    })
    .await;
    let mut tokens = Vec::new();
    for (user, payload) in creators {
        let (token, id) = join(&app, user).await;
        enroll(&app, &scenario, id, *payload).await;
        tokens.push(token);
    }
    let (ada, bob) =
        (tokens.first().cloned().unwrap_or_default(), tokens.get(1).cloned().unwrap_or_default());
    link_and_prove(&app, &sim, &ada, "ada_makes").await;
    let platforms = Platforms::new(&used.platforms).unwrap();
    let poller = viewmark::startup::build_poller(
        &used,
        app.store.clone(),
        test_key(),
        platforms,
        app.consent_locks.clone(),
    )
    .unwrap();
    Tracked { app, sim, poller, settings: used, ada, bob }
}

pub async fn register(t: &Tracked, token: &str, id: &str) -> Value {
    let url = format!("https://x.com/someone/status/{id}?s=20");
    let (status, body) = t.app.call(Method::POST, "/v1/posts", Some(token), Some(json!({"url": url}))).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["status"], "pending");
    assert_eq!(body["url"], format!("https://x.com/i/status/{id}"), "stored without tracking parameters");
    body
}

pub async fn show(t: &Tracked, token: &str, post: &Value) -> Value {
    let path = format!("/v1/posts/{}", post["id"].as_str().unwrap());
    let (status, body) = t.app.call(Method::GET, &path, Some(token), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

pub fn post_id(post: &Value) -> uuid::Uuid {
    post["id"].as_str().unwrap().parse().unwrap()
}

/// Waits until the 1-second polling interval has passed.
pub async fn next_slot() {
    tokio::time::sleep(Duration::from_millis(1100)).await;
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
    let (admin, _) = crate::tokens::service(t.app.store.as_ref(), &["admin"]).await;
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

pub async fn revoke(t: &Tracked, token: &str) {
    let (status, body) = t
        .app
        .call(Method::POST, "/v1/creators/me/consent", Some(token), Some(json!({"tracking": false})))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

pub async fn grant(t: &Tracked, token: &str) {
    let body = json!({"tracking": true, "policy_version": t.settings.consent.policy_version});
    let (status, body) = t.app.call(Method::POST, "/v1/creators/me/consent", Some(token), Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
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
    let ada: uuid::Uuid = me["id"].as_str().unwrap().parse().unwrap();
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
    an_unproven_link_cannot_squat_a_handle,
    an_account_proof_on_its_way_holds_the_revocation_back,
    a_request_on_its_way_holds_the_revocation_back,
    only_true_posts_verify_and_verified_ones_accumulate_snapshots,
    registration_refuses_unproven_accounts_duplicates_and_bad_urls,
    removed_and_stopped_posts_are_not_polled_again,
    revocation_stops_polling_and_a_regrant_restarts_counting,
    revocations_racing_polls_never_let_a_snapshot_through,
);
