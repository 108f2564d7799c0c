//! One post's failure stays that post's: Instagram withholding one media's insights (Meta's
//! "(#10) Not enough viewers", common on new posts) gives that post a reason, and the other
//! posts of the same batch their views.

use reqwest::{Method, StatusCode};
use serde_json::json;
use viewmark::domain::Platform;
use viewmark::simulator::scenario::{SimAccount, SimMedia, SimPost};
use viewmark::simulator::SimPostState;

use crate::on_both_backends;
use crate::support::tracked::{account, post_id, scenario, show, tracked_scenario};
use crate::support::TestDb;

const NEW_POST: &str = "CvmkFew01";
const OLD_POST: &str = "CvmkOld01";

async fn one_media_without_insights_leaves_the_rest_of_the_batch(db: TestDb) {
    let payload = 0x0123_4567_89ab_cdef_u64;
    let mut world = scenario(payload, 0x0fed_cba9_8765_4321);
    world.accounts.push(SimAccount {
        platform: Platform::Instagram,
        access_token: Some("IGQ.ada.0".into()),
        ..account("ada.ig")
    });
    for id in [NEW_POST, OLD_POST] {
        world.posts.push(SimPost {
            platform: Platform::Instagram,
            id: id.into(),
            account: "ada.ig".into(),
            state: SimPostState::Live,
            views: vec![(0, 100), (3600, 4600)],
            media: Some(SimMedia {
                image: "images/astronaut.png".into(),
                payload: Some(format!("{payload:016x}")),
                ..SimMedia::uploaded()
            }),
        });
    }
    let t = tracked_scenario(db, world, &[("user-ada", payload)]).await;
    t.sim.set_post_state(Platform::Instagram, NEW_POST, SimPostState::FewViewers);

    let body = json!({"platform": "instagram", "handle": "ada.ig", "oauth": {"access_token": "IGQ.ada.0"}});
    let (status, linked) = t.app.call(Method::POST, "/v1/social-accounts", Some(&t.ada), Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{linked}");
    t.sim.set_bio(Platform::Instagram, "ada.ig", linked["proof"]["code"].as_str().unwrap());
    let path = format!("/v1/social-accounts/{}/verify", linked["id"].as_str().unwrap());
    assert_eq!(t.app.call(Method::POST, &path, Some(&t.ada), None).await.0, StatusCode::OK);
    let mut posts = vec![];
    for id in [NEW_POST, OLD_POST] {
        let url = format!("https://www.instagram.com/p/{id}/");
        let (status, post) =
            t.app.call(Method::POST, "/v1/posts", Some(&t.ada), Some(json!({"url": url}))).await;
        assert_eq!(status, StatusCode::CREATED, "{post}");
        posts.push(post);
    }

    t.poller.try_execute_task().await.unwrap();
    let (new, old) = (show(&t, &t.ada, &posts[0]).await, show(&t, &t.ada, &posts[1]).await);
    assert_eq!(old["status"], "verified", "{old}");
    assert_eq!(
        t.app.store.snapshots_for_post(post_id(&posts[1])).await.unwrap().len(),
        1,
        "the rest has its views"
    );
    assert_eq!(new["status"], "verified", "its picture was still read: {new}");
    let reason = new["status_reason"].as_str().unwrap_or_default();
    assert!(reason.contains("withheld") && reason.contains("code 10"), "{new}");
    assert!(t.app.store.snapshots_for_post(post_id(&posts[0])).await.unwrap().is_empty());
}

on_both_backends!(one_media_without_insights_leaves_the_rest_of_the_batch);
