//! The poller on video posts, on both backends: a post verifies from its cover when the
//! cover is a marked frame, from the video file when the platform's media URL gives it (and
//! the cover is a picture the creator chose), and not at all from an unmarked video.

use reqwest::StatusCode;
use viewmark::domain::Platform;
use viewmark::simulator::scenario::{SimMedia, SimPost};
use viewmark::simulator::{Scenario, SimPostState};
use viewmark::tracking::Round;

use crate::on_both_backends;
use crate::support::tracked::{account, register, show, tracked_scenario};
use crate::support::TestDb;

const PAYLOAD: u64 = 0x0aa5_5aa5_1234_5678;

fn video_post(
    id: &str,
    cover: &str,
    clip: Option<&std::path::Path>,
    marked: bool,
    custom_cover: bool,
) -> SimPost {
    SimPost {
        engagement: Default::default(),
        platform: Platform::X,
        id: id.into(),
        account: "ada_makes".into(),
        state: SimPostState::Live,
        views: vec![(0, 500), (3600, 9000)],
        media: Some(SimMedia {
            image: format!("images/{cover}").into(),
            payload: marked.then(|| format!("{PAYLOAD:016x}")),
            video: true,
            clip: clip.map(Into::into),
            custom_cover,
            transform: None,
            slides_before: vec![],
        }),
    }
}

async fn video_posts_verify_from_covers_and_from_the_video_itself(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let clip = crate::support::clips::photo_clip(dir.path(), "clip.mp4", "rocket.jpg", 80, 1);
    let scenario = Scenario {
        credentials: Default::default(),
        limits: Default::default(),
        accounts: vec![account("ada_makes")],
        posts: vec![
            video_post("2001", "astronaut.png", None, true, false),
            video_post("2002", "coffee.png", Some(&clip), true, true),
            video_post("2003", "coffee.png", Some(&clip), false, true),
        ],
    };
    let t = tracked_scenario(db, scenario, &[("user-ada", PAYLOAD)]).await;
    let ada = t.ada.clone();

    let from_cover = register(&t, &ada, "2001").await;
    let from_video = register(&t, &ada, "2002").await;
    let unmarked = register(&t, &ada, "2003").await;
    assert_eq!(t.poller.try_execute_task().await.unwrap(), Round::Polled(3));
    for (post, expected) in [(&from_cover, "verified"), (&from_video, "verified"), (&unmarked, "unverified")]
    {
        let now = show(&t, &ada, post).await;
        assert_eq!(now["status"], expected, "{now}");
    }
    let verified = show(&t, &ada, &from_video).await;
    // 500 at the simulator's start, gaining about 2.4 a second while the videos are read.
    let views = verified["latest_views"].as_u64().unwrap_or(0);
    assert!((500..600).contains(&views), "{verified}");
    assert_eq!(t.app.call(reqwest::Method::GET, "/healthz", None, None).await.0, StatusCode::OK);
}

on_both_backends!(ffmpeg:video_posts_verify_from_covers_and_from_the_video_itself);
