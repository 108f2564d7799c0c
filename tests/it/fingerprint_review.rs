//! The second binding: a post whose media hold no mark but match the fingerprint of the
//! creator's own content (a filter took the mark away) is held for review, never verified
//! by the match alone; an admin's clearing approves it, and the next check verifies it.

use reqwest::{Method, StatusCode};
use serde_json::Value;
use viewmark::domain::Platform;
use viewmark::simulator::scenario::{SimMedia, SimPost};
use viewmark::simulator::SimPostState;
use viewmark::tracking::Round;

use crate::on_both_backends;
use crate::support::tracked::{self, next_slot, post_id, register, show, OURS, UNMARKED};
use crate::support::TestDb;

/// Ada's astronaut, published without its mark.
const FILTERED: &str = "1800000000000000042";

async fn an_unmarked_copy_of_the_creators_content_waits_for_review(db: TestDb) {
    let (ada_payload, bob_payload) = (0x0123_4567_89ab_cdef_u64, 0x0fed_cba9_8765_4321_u64);
    let mut scenario = tracked::scenario(ada_payload, bob_payload);
    scenario.posts.push(SimPost {
        engagement: Default::default(),
        platform: Platform::X,
        id: FILTERED.into(),
        account: "ada_makes".into(),
        state: SimPostState::Live,
        views: vec![(0, 100), (3600, 4600)],
        media: Some(SimMedia { image: "images/astronaut.png".into(), payload: None, ..SimMedia::uploaded() }),
    });
    let users = [("user-ada", ada_payload), ("user-bob", bob_payload)];
    let t = tracked::tracked_scenario(db, scenario, &users).await;
    let ours = register(&t, &t.ada, OURS).await;
    let filtered = register(&t, &t.ada, FILTERED).await;
    let unrelated = register(&t, &t.ada, UNMARKED).await;
    assert_eq!(t.poller.try_execute_task().await.unwrap(), Round::Polled(3));

    // The mark still proves its post; an unrelated unmarked picture matches nothing.
    let marked = show(&t, &t.ada, &ours).await;
    assert_eq!(marked["status"], "verified", "{marked}");
    let unrelated = show(&t, &t.ada, &unrelated).await;
    assert_eq!(unrelated["status"], "unverified", "{unrelated}");
    assert_eq!(unrelated["status_reason"], "no watermark found in the media");

    // The unmarked copy of her astronaut is held for review, naming her content.
    let held = show(&t, &t.ada, &filtered).await;
    assert_eq!(held["status"], "unverified", "{held}");
    let reason = held["status_reason"].as_str().unwrap();
    assert!(reason.starts_with("no watermark found; the media match content"), "{reason}");
    assert_eq!(held["content_id"], marked["content_id"], "{held}");
    let (admin, _) = crate::support::tokens::service(t.app.store.as_ref(), &["admin"]).await;
    let (status, open) = t.app.call(Method::GET, "/v1/admin/flags", Some(&admin), None).await;
    assert_eq!(status, StatusCode::OK);
    let flags: Vec<&Value> = open["items"].as_array().unwrap().iter().collect();
    assert_eq!(flags.len(), 1, "only the matching post is flagged: {open}");
    assert_eq!(
        (flags[0]["kind"].as_str(), &flags[0]["post_id"]),
        (Some("fingerprint_match"), &filtered["id"])
    );
    assert_eq!(flags[0]["detail"].as_str(), Some(reason));
    let snapshot = t.app.store.latest_snapshot(post_id(&filtered)).await.unwrap();
    assert_eq!(snapshot, None, "no views are counted for a post under review");

    // The admin approves: the post is checked again at once and verified on the match.
    let clear = format!("/v1/admin/flags/{}/clear", flags[0]["id"].as_str().unwrap());
    assert_eq!(t.app.call(Method::POST, &clear, Some(&admin), None).await.0, StatusCode::OK);
    assert_eq!(show(&t, &t.ada, &filtered).await["status"], "pending");
    next_slot().await;
    t.poller.try_execute_task().await.unwrap();
    let approved = show(&t, &t.ada, &filtered).await;
    assert_eq!(approved["status"], "verified", "{approved}");
    let snapshot = t.app.store.latest_snapshot(post_id(&filtered)).await.unwrap().expect("views counted");
    assert!(snapshot.views >= 100, "{snapshot:?}");
    let (_, all) = t.app.call(Method::GET, "/v1/admin/flags?state=all", Some(&admin), None).await;
    assert_eq!(all["items"].as_array().unwrap().len(), 1, "no second flag after the approval: {all}");
    // The unrelated post was not reopened by the clearing.
    assert_eq!(show(&t, &t.ada, &unrelated).await["status"], "unverified");
}

on_both_backends!(an_unmarked_copy_of_the_creators_content_waits_for_review);
