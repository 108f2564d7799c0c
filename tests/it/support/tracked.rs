//! The tracking fixture: the service and the simulated X with two creators (Ada and Bob),
//! their proven accounts and enrolled contents, and a poller on a fast schedule.

use std::time::Duration;

use chrono::Utc;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use viewmark::config::Settings;
use viewmark::domain::{MediaKind, Platform};
use viewmark::platforms::Platforms;
use viewmark::simulator::{
    scenario::{SimAccount, SimMedia, SimPost},
    Scenario, SimPostState, Simulator,
};
use viewmark::store::NewContent;
use viewmark::tracking::{Poller, TrackingSettings};

use super::{fixture_path, test_key, TestApp, TestDb};
use crate::support::platforms::quick_settings;
use crate::support::tokens::creator_token;

pub const OURS: &str = "1900000000000000001";
pub const BOBS_CONTENT: &str = "1900000000000000002";
pub const UNMARKED: &str = "1900000000000000003";
pub const STRANGERS: &str = "1900000000000000004";

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
        engagement: Default::default(),
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
            slides_before: vec![],
        }),
    }
}

pub fn tracking_settings() -> TrackingSettings {
    TrackingSettings {
        // The test drives the poller itself, round by round.
        poll_in_serve: false,
        jitter: 0.0,
        young_interval_secs: 1,
        // Every round of a test finds its posts due, gaining or not.
        flat_interval_factor: 1,
        retry_base_secs: 1,
        max_verify_attempts: 1,
        ..TrackingSettings::default()
    }
}

pub async fn join(app: &TestApp, user: &str) -> (String, viewmark::domain::CreatorId) {
    let token = creator_token(user);
    let (status, body) =
        app.call(Method::POST, "/v1/creators/me", Some(&token), Some(json!({"age_attested": true}))).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    (token, body["id"].as_str().unwrap().parse().unwrap())
}

/// Enrolls `payload` for the creator, with what enrollment would keep of what the scenario
/// marks with it (references and fingerprints): its pictures (covers the creator chose are
/// not marked) and its clips' key frames.
pub async fn enroll(
    app: &TestApp,
    scenario: &Scenario,
    creator_id: viewmark::domain::CreatorId,
    payload: u64,
) {
    use viewmark::media::{fingerprint::Fingerprint, kept::Kept};
    let hex = format!("{payload:016x}");
    let (mut references, mut fingerprints) = (Vec::new(), Vec::new());
    for media in scenario.posts.iter().filter_map(|p| p.media.as_ref()) {
        if media.payload.as_deref() != Some(hex.as_str()) {
            continue;
        }
        if !media.custom_cover {
            let picture = image::open(fixture_path("").join(&media.image)).unwrap().to_rgb8();
            references.push(viewmark::watermark::Reference::of(&picture));
            fingerprints.extend(Fingerprint::of(&picture));
        }
        if let Some(clip) = &media.clip {
            let settings = viewmark::media::video::VideoSettings::default();
            let bytes =
                viewmark::media::recognize::video_kept(&fixture_path("").join(clip), &settings).unwrap();
            let video = Kept::from_bytes(&bytes).unwrap();
            references.extend(viewmark::watermark::references_from_bytes(&video.references).unwrap());
            fingerprints.extend(video.fingerprints);
        }
    }
    let kept = (!references.is_empty()).then(|| {
        Kept { references: viewmark::watermark::references_to_bytes(&references), fingerprints }.to_bytes()
    });
    let content = NewContent {
        creator_id,
        payload,
        media_kind: MediaKind::Image,
        width: 512,
        height: 512,
        sha256: "0".repeat(64),
        references: kept,
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
    tracked_scenario_with(db, scenario, creators, |_| {}).await
}

/// The same, with the settings adjusted (the tracking fixture's first).
pub async fn tracked_scenario_with(
    db: TestDb,
    scenario: Scenario,
    creators: &[(&str, u64)],
    adjust: impl FnOnce(&mut Settings),
) -> Tracked {
    let sim =
        Simulator::start(scenario.clone(), &fixture_path(""), Some(test_key()), "127.0.0.1:0").await.unwrap();
    let mut used = Settings::default();
    let app = TestApp::spawn_with(db, |s| {
        s.platforms = sim.platform_settings(quick_settings());
        s.tracking = tracking_settings();
        adjust(s);
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

pub fn post_id(post: &Value) -> viewmark::domain::PostId {
    post["id"].as_str().unwrap().parse().unwrap()
}

/// Waits until the 1-second polling interval has passed.
pub async fn next_slot() {
    tokio::time::sleep(Duration::from_millis(1100)).await;
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

/// Ada's Instagram account `ada.ig`, read with the token `IGQ.ada.0`, for a scenario.
pub fn ada_on_instagram() -> SimAccount {
    SimAccount { platform: Platform::Instagram, access_token: Some("IGQ.ada.0".into()), ..account("ada.ig") }
}

/// Ada links `ada.ig` with its token, proves it, and registers these Instagram posts.
pub async fn ada_tracks_on_instagram(t: &Tracked, shortcodes: &[&str]) -> Vec<Value> {
    let body = json!({"platform": "instagram", "handle": "ada.ig", "oauth": {"access_token": "IGQ.ada.0"}});
    let (status, linked) = t.app.call(Method::POST, "/v1/social-accounts", Some(&t.ada), Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{linked}");
    t.sim.set_bio(Platform::Instagram, "ada.ig", linked["proof"]["code"].as_str().unwrap());
    let path = format!("/v1/social-accounts/{}/verify", linked["id"].as_str().unwrap());
    assert_eq!(t.app.call(Method::POST, &path, Some(&t.ada), None).await.0, StatusCode::OK);
    let mut posts = vec![];
    for id in shortcodes {
        let url = format!("https://www.instagram.com/p/{id}/");
        let (status, post) =
            t.app.call(Method::POST, "/v1/posts", Some(&t.ada), Some(json!({"url": url}))).await;
        assert_eq!(status, StatusCode::CREATED, "{post}");
        posts.push(post);
    }
    posts
}
