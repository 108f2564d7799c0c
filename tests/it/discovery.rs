//! Discovery: a scan of Ada's proven X account finds the post carrying her content and tracks
//! it (`source: discovered`), and only that one: not her post carrying Bob's content, not her
//! unmarked post, not a stranger's post carrying hers. Posts without her mark are remembered
//! by a keyed hash only and not fetched again; several workers scanning at once track the post
//! once; a revocation or an unlinking stops scans with no request after the answer; the other
//! platforms' listings are read too.

use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sqlx::Row;
use viewmark::domain::Platform;
use viewmark::platforms::Platforms;
use viewmark::simulator::scenario::{SimAccount, SimMedia, SimPost};
use viewmark::simulator::{Fault, FaultKind, FaultTarget, SimPostState};
use viewmark::tracking::discovery::ScanRound;
use viewmark::tracking::Round;

use crate::on_both_backends;
use crate::support::tracked::*;
use crate::support::TestDb;

/// The tracking fixture, with accounts due a new scan a second after the last.
async fn scanned(db: TestDb) -> Tracked {
    let (ada, bob) = (0x0123_4567_89ab_cdef_u64, 0x0fed_cba9_8765_4321_u64);
    tracked_scenario_with(db, scenario(ada, bob), &[("user-ada", ada), ("user-bob", bob)], |s| {
        s.tracking.discovery.young_interval_secs = 1;
    })
    .await
}

async fn posts_of(t: &Tracked, token: &str) -> Vec<Value> {
    let (status, body) = t.app.call(Method::GET, "/v1/posts", Some(token), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["items"].as_array().unwrap().clone()
}

async fn seen_rows(t: &Tracked) -> Vec<String> {
    let raw = t.app._db.raw().await;
    sqlx::query("SELECT post_hash FROM discovery_seen")
        .fetch_all(&raw)
        .await
        .unwrap()
        .iter()
        .map(|r| r.try_get::<String, _>(0).unwrap())
        .collect()
}

async fn a_scan_tracks_the_marked_post_and_only_it(db: TestDb) {
    let t = scanned(db).await;
    let round = t.poller.discoverer().try_execute_task().await.unwrap();
    assert_eq!(round, ScanRound::Scanned { accounts: 1, found: 1 });
    let posts = posts_of(&t, &t.ada).await;
    assert_eq!(posts.len(), 1, "{posts:?}");
    assert_eq!(
        (posts[0]["platform_post_id"].as_str(), posts[0]["source"].as_str(), posts[0]["status"].as_str()),
        (Some(OURS), Some("discovered"), Some("pending"))
    );
    assert_eq!(posts[0]["url"], format!("https://x.com/i/status/{OURS}"));
    assert!(posts_of(&t, &t.bob).await.is_empty(), "Bob's content on Ada's account is not Bob's post");

    // Verified by the poller under the usual rules.
    assert_eq!(t.poller.try_execute_task().await.unwrap(), Round::Polled(1));
    assert_eq!(show(&t, &t.ada, &posts[0]).await["status"], "verified");

    // The two posts without her mark are remembered, by keyed hashes that name no post.
    let seen = seen_rows(&t).await;
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(seen.iter().all(|h| !h.contains(UNMARKED) && !h.contains(BOBS_CONTENT) && h.len() >= 32));

    // The next scan fetches no picture again and tracks nothing twice.
    next_slot().await;
    let media = t.sim.requests(FaultTarget::Media);
    let round = t.poller.discoverer().try_execute_task().await.unwrap();
    assert_eq!(round, ScanRound::Scanned { accounts: 1, found: 0 });
    assert_eq!(t.sim.requests(FaultTarget::Media), media, "nothing fetched again");
    assert_eq!(posts_of(&t, &t.ada).await.len(), 1);
    assert_eq!(t.poller.discoverer().try_execute_task().await.unwrap(), ScanRound::Idle, "not due yet");
}

async fn several_workers_track_a_post_once(db: TestDb) {
    let t = scanned(db).await;
    let workers: Vec<_> = (0..3)
        .map(|_| {
            let platforms = Platforms::new(&t.settings.platforms).unwrap();
            let poller = viewmark::startup::build_poller(
                &t.settings,
                t.app.store.clone(),
                crate::support::test_key(),
                platforms,
                t.app.consent_locks.clone(),
            )
            .unwrap();
            Arc::new(poller)
        })
        .collect();
    let rounds = futures_util::future::join_all(
        workers.iter().map(|w| async move { w.discoverer().try_execute_task().await.unwrap() }),
    )
    .await;
    let found: usize = rounds
        .iter()
        .map(|r| match r {
            ScanRound::Scanned { found, .. } => *found,
            ScanRound::Idle => 0,
        })
        .sum();
    let scanned = rounds.iter().filter(|r| matches!(r, ScanRound::Scanned { .. })).count();
    assert_eq!((scanned, found), (1, 1), "one worker holds the scan: {rounds:?}");
    assert_eq!(posts_of(&t, &t.ada).await.len(), 1);
}

async fn revocation_and_unlinking_stop_scans(db: TestDb) {
    let t = Arc::new(scanned(db).await);
    // A scan on its way holds the revocation back; nothing leaves after its answer.
    t.sim.inject(Fault { target: FaultTarget::X, kind: FaultKind::Slow { delay_ms: 600 }, times: 1 });
    let before = t.sim.requests(FaultTarget::X);
    let round = {
        let t = t.clone();
        tokio::spawn(async move { t.poller.discoverer().try_execute_task().await })
    };
    while t.sim.requests(FaultTarget::X) == before {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    revoke(&t, &t.ada).await;
    let answered_at = t.sim.requests(FaultTarget::X) + t.sim.requests(FaultTarget::Media);
    round.await.unwrap().unwrap();
    assert_eq!(
        t.sim.requests(FaultTarget::X) + t.sim.requests(FaultTarget::Media),
        answered_at,
        "no request (listing or media) after the answer"
    );
    assert!(posts_of(&t, &t.ada).await.is_empty(), "nothing tracked for a revoked creator");
    next_slot().await;
    assert_eq!(t.poller.discoverer().try_execute_task().await.unwrap(), ScanRound::Idle);

    // Granted again, the account is scanned; unlinked, it is not.
    grant(&t, &t.ada).await;
    next_slot().await;
    assert!(matches!(t.poller.discoverer().try_execute_task().await.unwrap(), ScanRound::Scanned { .. }));
    let (_, accounts) = t.app.call(Method::GET, "/v1/social-accounts", Some(&t.ada), None).await;
    let account = accounts["items"][0]["id"].as_str().unwrap().to_owned();
    let (status, _) =
        t.app.call(Method::DELETE, &format!("/v1/social-accounts/{account}"), Some(&t.ada), None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(seen_rows(&t).await.is_empty(), "an unlinked account's scan memory goes with it");
    next_slot().await;
    let requests = t.sim.requests(FaultTarget::X);
    assert_eq!(t.poller.discoverer().try_execute_task().await.unwrap(), ScanRound::Idle);
    assert_eq!(t.sim.requests(FaultTarget::X), requests);
}

/// An unlinking racing a scan: the request on its way holds it back, and nothing about the
/// account leaves after its answer.
async fn a_scan_racing_an_unlinking_sends_nothing_after_it(db: TestDb) {
    let t = Arc::new(scanned(db).await);
    let (_, accounts) = t.app.call(Method::GET, "/v1/social-accounts", Some(&t.ada), None).await;
    let account = accounts["items"][0]["id"].as_str().unwrap().to_owned();
    t.sim.inject(Fault { target: FaultTarget::X, kind: FaultKind::Slow { delay_ms: 600 }, times: 1 });
    let before = t.sim.requests(FaultTarget::X);
    let round = {
        let t = t.clone();
        tokio::spawn(async move { t.poller.discoverer().try_execute_task().await })
    };
    while t.sim.requests(FaultTarget::X) == before {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let path = format!("/v1/social-accounts/{account}");
    assert_eq!(t.app.call(Method::DELETE, &path, Some(&t.ada), None).await.0, StatusCode::OK);
    let answered_at = t.sim.requests(FaultTarget::X) + t.sim.requests(FaultTarget::Media);
    round.await.unwrap().unwrap();
    assert_eq!(
        t.sim.requests(FaultTarget::X) + t.sim.requests(FaultTarget::Media),
        answered_at,
        "no request (listing or media) after the answer"
    );
    assert!(posts_of(&t, &t.ada).await.is_empty(), "nothing tracked on an unlinked account");
}

/// Ada's accounts on the three other platforms, each with one post carrying her content and
/// one without.
fn other_platforms(payload: u64) -> viewmark::simulator::Scenario {
    let mut world = scenario(payload, 0x0fed_cba9_8765_4321);
    let marked = |platform, id: &str, handle: &str, mark: bool| SimPost {
        engagement: Default::default(),
        platform,
        id: id.into(),
        account: handle.into(),
        state: SimPostState::Live,
        views: vec![(0, 100)],
        media: Some(SimMedia {
            image: "images/astronaut.png".into(),
            payload: mark.then(|| format!("{payload:016x}")),
            ..SimMedia::uploaded()
        }),
    };
    for (platform, handle, token, ids) in [
        (Platform::Tiktok, "ada.tok", Some("act.ada.tok.0"), ["7300000000000000001", "7300000000000000002"]),
        (Platform::Instagram, "ada.ig", Some("IGQ.ada.0"), ["Cmarked0001", "Cplain00002"]),
        (Platform::Youtube, "ada_tube", None, ["marked00001", "plain000002"]),
    ] {
        world.accounts.push(SimAccount {
            platform,
            access_token: token.map(str::to_owned),
            ..account(handle)
        });
        world.posts.push(marked(platform, ids[0], handle, true));
        world.posts.push(marked(platform, ids[1], handle, false));
    }
    world
}

async fn tiktok_instagram_and_youtube_accounts_are_scanned(db: TestDb) {
    let payload = 0x0123_4567_89ab_cdef_u64;
    let t = tracked_scenario(db, other_platforms(payload), &[("user-ada", payload)]).await;
    for (platform, handle, token) in [
        ("tiktok", "ada.tok", Some("act.ada.tok.0")),
        ("instagram", "ada.ig", Some("IGQ.ada.0")),
        ("youtube", "ada_tube", None),
    ] {
        let mut body = json!({"platform": platform, "handle": handle});
        if let Some(token) = token {
            body["oauth"] = json!({"access_token": token});
        }
        let (status, linked) =
            t.app.call(Method::POST, "/v1/social-accounts", Some(&t.ada), Some(body)).await;
        assert_eq!(status, StatusCode::CREATED, "{linked}");
        let code = linked["proof"]["code"].as_str().unwrap();
        t.sim.set_bio(Platform::parse(platform).unwrap(), handle, code);
        let path = format!("/v1/social-accounts/{}/verify", linked["id"].as_str().unwrap());
        let (status, body) = t.app.call(Method::POST, &path, Some(&t.ada), None).await;
        assert_eq!(status, StatusCode::OK, "{platform}: {body}");
    }
    let round = t.poller.discoverer().try_execute_task().await.unwrap();
    assert_eq!(round, ScanRound::Scanned { accounts: 4, found: 4 }, "X's, and one on each other platform");
    let mut found: Vec<String> = posts_of(&t, &t.ada)
        .await
        .iter()
        .map(|p| p["platform_post_id"].as_str().unwrap().to_owned())
        .collect();
    found.sort();
    assert_eq!(found, [OURS, "7300000000000000001", "Cmarked0001", "marked00001"]);
}

on_both_backends!(
    a_scan_tracks_the_marked_post_and_only_it,
    several_workers_track_a_post_once,
    revocation_and_unlinking_stop_scans,
    a_scan_racing_an_unlinking_sends_nothing_after_it,
    tiktok_instagram_and_youtube_accounts_are_scanned,
);
