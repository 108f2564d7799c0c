//! Tokens a platform hands out during a poll: TikTok rotates its refresh tokens, so new ones
//! are stored whatever happens to the call they were fetched for; and one fetched for a
//! creator erased meanwhile is dropped without stopping the round for everyone else.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::json;
use viewmark::domain::Platform;
use viewmark::simulator::scenario::{SimAccount, SimMedia, SimPost};
use viewmark::simulator::{Fault, FaultKind, FaultTarget, SimPostState};

use crate::on_both_backends;
use crate::support::tracked::{account, link_and_prove, register, scenario, show, tracked_scenario};
use crate::support::TestDb;

const TIKTOK_POST: &str = "7300000000000000001";
const BOBS_POST: &str = "1800000000000000077";

async fn a_token_refreshed_for_a_creator_erased_meanwhile_does_not_stop_the_round(db: TestDb) {
    let (ada_payload, bob_payload) = (0x0123_4567_89ab_cdef_u64, 0x0fed_cba9_8765_4321_u64);
    let mut world = scenario(ada_payload, bob_payload);
    world.accounts.push(SimAccount {
        platform: Platform::Tiktok,
        access_token: Some("act.ada.tt.0".into()),
        refresh_token: Some("rft.ada.tt.0".into()),
        ..account("ada.tt")
    });
    let media = |payload: u64| SimMedia {
        image: "images/astronaut.png".into(),
        payload: Some(format!("{payload:016x}")),
        ..SimMedia::uploaded()
    };
    let post = |platform, id: &str, by: &str, payload| SimPost {
        engagement: Default::default(),
        platform,
        id: id.into(),
        account: by.into(),
        state: SimPostState::Live,
        views: vec![(0, 100), (3600, 4600)],
        media: Some(media(payload)),
    };
    world.posts.push(post(Platform::Tiktok, TIKTOK_POST, "ada.tt", ada_payload));
    world.posts.push(post(Platform::X, BOBS_POST, "bob_makes", bob_payload));
    let t = tracked_scenario(db, world, &[("user-ada", ada_payload), ("user-bob", bob_payload)]).await;

    // Ada links her TikTok account with its tokens and proves it; Bob proves his X account.
    let body = json!({"platform": "tiktok", "handle": "ada.tt",
        "oauth": {"access_token": "act.ada.tt.0", "refresh_token": "rft.ada.tt.0"}});
    let (status, linked) = t.app.call(Method::POST, "/v1/social-accounts", Some(&t.ada), Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{linked}");
    t.sim.set_bio(Platform::Tiktok, "ada.tt", linked["proof"]["code"].as_str().unwrap());
    let path = format!("/v1/social-accounts/{}/verify", linked["id"].as_str().unwrap());
    assert_eq!(t.app.call(Method::POST, &path, Some(&t.ada), None).await.0, StatusCode::OK);
    link_and_prove(&t.app, &t.sim, &t.bob, "bob_makes").await;
    let url = format!("https://www.tiktok.com/@ada.tt/video/{TIKTOK_POST}");
    let (status, body) = t.app.call(Method::POST, "/v1/posts", Some(&t.ada), Some(json!({"url": url}))).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let bobs = register(&t, &t.bob, BOBS_POST).await;

    // Her token expires; the refresh is slow (within the request timeout), and she erases her
    // account while it runs.
    t.sim.expire_token(Platform::Tiktok, "ada.tt");
    let before = t.sim.requests(FaultTarget::Tiktok);
    t.sim.inject(Fault { target: FaultTarget::Tiktok, kind: FaultKind::Slow { delay_ms: 0 }, times: 1 });
    t.sim.inject(Fault { target: FaultTarget::Tiktok, kind: FaultKind::Slow { delay_ms: 500 }, times: 1 });
    let round = t.poller.try_execute_task();
    let erasing = async {
        let started = Instant::now();
        // The refused query, then the refresh: in flight.
        while t.sim.requests(FaultTarget::Tiktok) < before + 2 {
            assert!(started.elapsed() < Duration::from_secs(20), "the refresh never started");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        t.app.call(Method::DELETE, "/v1/creators/me", Some(&t.ada), None).await.0
    };
    let (round, erased) = tokio::join!(round, erasing);
    assert_eq!(erased, StatusCode::OK);
    assert!(round.is_ok(), "the round stopped: {round:?}");
    // Bob's post was polled in the same round (or is due in the next, if his group came first).
    let _ = t.poller.try_execute_task().await;
    assert_eq!(show(&t, &t.bob, &bobs).await["status"], "verified");
}

on_both_backends!(a_token_refreshed_for_a_creator_erased_meanwhile_does_not_stop_the_round);
