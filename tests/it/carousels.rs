//! Instagram albums: every slide is read, so a post whose creator's content is not the first
//! slide verifies.

use viewmark::domain::Platform;
use viewmark::simulator::scenario::{SimMedia, SimPost};
use viewmark::simulator::SimPostState;

use crate::on_both_backends;
use crate::support::tracked::{
    ada_on_instagram, ada_tracks_on_instagram, post_id, scenario, show, tracked_scenario,
};
use crate::support::TestDb;

const ALBUM: &str = "CvmkAlbum01";
const UNMARKED_ALBUM: &str = "CvmkAlbum02";

async fn an_album_verifies_from_a_later_slide(db: TestDb) {
    let payload = 0x0123_4567_89ab_cdef_u64;
    let mut world = scenario(payload, 0x0fed_cba9_8765_4321);
    world.accounts.push(ada_on_instagram());
    for (id, marked) in [(ALBUM, true), (UNMARKED_ALBUM, false)] {
        world.posts.push(SimPost {
            engagement: Default::default(),
            platform: Platform::Instagram,
            id: id.into(),
            account: "ada.ig".into(),
            state: SimPostState::Live,
            views: vec![(0, 100), (3600, 4600)],
            media: Some(SimMedia {
                image: "images/astronaut.png".into(),
                payload: marked.then(|| format!("{payload:016x}")),
                slides_before: vec!["images/coffee.png".into(), "images/chelsea.png".into()],
                ..SimMedia::uploaded()
            }),
        });
    }
    let t = tracked_scenario(db, world, &[("user-ada", payload)]).await;
    let posts = ada_tracks_on_instagram(&t, &[ALBUM, UNMARKED_ALBUM]).await;

    t.poller.try_execute_task().await.unwrap();
    let album = show(&t, &t.ada, &posts[0]).await;
    assert_eq!(album["status"], "verified", "the third slide carries her content: {album}");
    let snapshots = t.app.store.snapshots_for_post(post_id(&posts[0])).await.unwrap();
    assert_eq!(snapshots.len(), 1);
    // The likes and comments of the same answer are stored beside its views.
    let views = snapshots[0].views;
    assert!(views > 0);
    let engagement = snapshots[0].engagement;
    assert_eq!((engagement.likes, engagement.comments), (Some(views * 40 / 1000), Some(views * 3 / 1000)));
    let unmarked = show(&t, &t.ada, &posts[1]).await;
    assert_eq!(unmarked["status"], "unverified", "no slide carries a mark: {unmarked}");
}

on_both_backends!(an_album_verifies_from_a_later_slide);
