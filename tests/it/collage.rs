//! Several creators' contents in one post: a collage carries two marks, and the post is
//! credited to the creator whose own content is among them, whichever mark is found first.

use serde_json::Value;
use viewmark::domain::Platform;
use viewmark::simulator::attacks::{jpeg, side_by_side};
use viewmark::simulator::scenario::{SimMedia, SimPost};
use viewmark::simulator::SimPostState;
use viewmark::tracking::Round;
use viewmark::watermark;

use crate::on_both_backends;
use crate::support::marked::fixture;
use crate::support::tracked::{register, scenario, show, tracked_scenario, OURS};
use crate::support::{test_key, TestDb};

const COLLAGE: &str = "1800000000000000077";

/// A post of the scenario's, by Ada's account, not registered: it carries a marked picture,
/// so that enrollment keeps that picture's reference for the payload's content.
fn unregistered(id: &str, image: &str, payload: u64) -> SimPost {
    SimPost {
        engagement: Default::default(),
        platform: Platform::X,
        id: id.into(),
        account: "ada_makes".into(),
        state: SimPostState::Live,
        views: vec![(0, 10)],
        media: Some(SimMedia {
            image: format!("images/{image}").into(),
            payload: Some(format!("{payload:016x}")),
            ..SimMedia::uploaded()
        }),
    }
}

/// Ada posts a collage of Bob's chelsea beside her own coffee. The first mark the detector
/// finds is Bob's; the post is still hers, since her content is in it too, and it verifies.
/// `/v1/detect` shows each creator their own content in it, and the CLI lists both marks.
async fn a_collage_is_credited_to_the_creator_whose_content_it_carries(db: TestDb) {
    let (ada_payload, bob_payload) = (0x0123_4567_89ab_cdef_u64, 0x0fed_cba9_8765_4321_u64);
    let bobs = watermark::embed(&fixture("chelsea.png"), &test_key(), bob_payload);
    let adas = watermark::embed(&fixture("coffee.png"), &test_key(), ada_payload);
    let collage = jpeg(&side_by_side(&bobs, &adas, 720), 90);
    let found: Vec<u64> = watermark::detect_all(&collage, &test_key()).iter().map(|d| d.payload).collect();
    assert_eq!(found, vec![bob_payload, ada_payload], "the test needs Bob's mark found first");

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("collage.png");
    collage.save(&path).unwrap();
    let mut scenario = scenario(ada_payload, bob_payload);
    scenario.posts.push(unregistered("1800000000000000078", "coffee.png", ada_payload));
    scenario.posts.push(unregistered("1800000000000000079", "chelsea.png", bob_payload));
    scenario.posts.push(SimPost {
        engagement: Default::default(),
        platform: Platform::X,
        id: COLLAGE.into(),
        account: "ada_makes".into(),
        state: SimPostState::Live,
        views: vec![(0, 100), (3600, 4600)],
        media: Some(SimMedia { image: path.clone(), payload: None, ..SimMedia::uploaded() }),
    });
    let users = [("user-ada", ada_payload), ("user-bob", bob_payload)];
    let t = tracked_scenario(db, scenario, &users).await;

    let ours = register(&t, &t.ada, OURS).await;
    let collage_post = register(&t, &t.ada, COLLAGE).await;
    assert_eq!(t.poller.try_execute_task().await.unwrap(), Round::Polled(2));
    assert_eq!(show(&t, &t.ada, &ours).await["status"], "verified");
    let shown = show(&t, &t.ada, &collage_post).await;
    assert_eq!(shown["status"], "verified", "{shown}");

    // Each creator's /v1/detect finds their own content in the served collage.
    let served = reqwest::get(format!("{}/media/x-{COLLAGE}.jpg", t.sim.base_url())).await.unwrap();
    let bytes = served.bytes().await.unwrap().to_vec();
    for (token, payload) in [(&t.ada, ada_payload), (&t.bob, bob_payload)] {
        let request = t
            .app
            .client
            .post(t.app.url("/v1/detect"))
            .bearer_auth(token)
            .header("content-type", "image/jpeg");
        let answer: Value = request.body(bytes.clone()).send().await.unwrap().json().await.unwrap();
        assert_eq!(answer["found"], true, "{answer}");
        let content = t.app.store.content_by_payload(payload).await.unwrap().unwrap();
        assert_eq!(answer["content"]["id"], content.id.to_string(), "{answer}");
    }
    drop(dir);
}

on_both_backends!(a_collage_is_credited_to_the_creator_whose_content_it_carries);
