//! One post's failure stays that post's: Instagram withholding one media's insights (Meta's
//! "(#10) Not enough viewers", common on new posts) gives that post a reason, and the other
//! posts of the same batch their views.

use viewmark::domain::Platform;
use viewmark::simulator::scenario::{SimMedia, SimPost};
use viewmark::simulator::SimPostState;

use crate::on_both_backends;
use crate::support::tracked::{
    ada_on_instagram, ada_tracks_on_instagram, post_id, scenario, show, tracked_scenario,
};
use crate::support::TestDb;

const NEW_POST: &str = "CvmkFew01";
const OLD_POST: &str = "CvmkOld01";

async fn one_media_without_insights_leaves_the_rest_of_the_batch(db: TestDb) {
    let payload = 0x0123_4567_89ab_cdef_u64;
    let mut world = scenario(payload, 0x0fed_cba9_8765_4321);
    world.accounts.push(ada_on_instagram());
    for id in [NEW_POST, OLD_POST] {
        world.posts.push(SimPost {
            engagement: Default::default(),
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

    let posts = ada_tracks_on_instagram(&t, &[NEW_POST, OLD_POST]).await;

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
