//! X API v2: tweet lookup, user lookup, a user's timeline, and the documented errors.

use std::time::Duration;

use serde_json::Value;
use viewmark::domain::Platform;
use viewmark::platforms::start_gate::Ungated;
use viewmark::platforms::{Platforms, PostState};
use viewmark::secret::Secret;

use super::{contract, holds_to, shape_of, Documented};
use crate::support::platforms::{quick_settings, world, TW};

const PHOTO_TWEET: &str = "1460323737035677698";
const VIDEO_TWEET: &str = "1519781379172495360";
const NOT_FOUND: &str = "1000000000000000001";
const NOT_AUTHORISED: &str = "1000000000000000002";

fn x_against(documented: &Documented) -> Platforms {
    let mut settings = quick_settings();
    settings.x.base_url = documented.base.clone();
    settings.x.bearer_token = Some(Secret::new("AAAAAAAAAAAAAAAAAAAAAcontract"));
    Platforms::new(&settings).unwrap()
}

#[tokio::test]
async fn the_x_adapter_reads_the_documented_answers() {
    let documented = Documented::start().await;
    let platforms = x_against(&documented);
    let x = platforms.adapter(Platform::X);

    documented.answer_with("x/tweets_lookup.json");
    let ids: Vec<String> =
        [PHOTO_TWEET, VIDEO_TWEET, NOT_FOUND, NOT_AUTHORISED, "1999999999999999999"].map(String::from).into();
    let seen = x.observe(&Ungated, &ids, None).await.unwrap();
    let states: Vec<PostState> = seen.iter().map(|o| o.state).collect();
    assert_eq!(
        states,
        [PostState::Live, PostState::Live, PostState::Removed, PostState::Private, PostState::Removed]
    );
    assert_eq!((seen[0].views, seen[1].views), (Some(48_512), Some(12_804)));
    assert_eq!(seen[0].author_handle.as_deref(), Some("xdevelopers"));
    let urls = |i: usize| seen[i].media_urls.iter().map(|u| u.as_str().to_owned()).collect::<Vec<_>>();
    assert_eq!(urls(0), ["https://pbs.twimg.com/media/FEYW7vJWYAEv5Vq.jpg"]);
    let video = urls(1);
    assert!(video[0].contains("ext_tw_video_thumb"), "the preview first: {video:?}");
    assert!(video[1].contains("720x1280"), "then the best MP4: {video:?}");

    documented.answer_with("x/user_by_username.json");
    let profile = x.profile(&Ungated, "XDevelopers", None).await.unwrap().unwrap();
    assert_eq!(profile.handle, "xdevelopers");
    assert!(profile.bio.contains("X Developer Platform"));

    documented.answer_paths(&[
        ("/2/users/by/username/", "x/user_by_username.json"),
        ("/tweets", "x/user_tweets.json"),
    ]);
    let page = x.list_posts(&Ungated, "XDevelopers", None, None).await.unwrap();
    assert_eq!(page.posts.len(), 1);
    assert_eq!(
        (page.posts[0].post_id.as_str(), page.posts[0].author_handle.as_deref()),
        (PHOTO_TWEET, Some("xdevelopers"))
    );
    assert_eq!(page.posts[0].media_urls[0].as_str(), "https://pbs.twimg.com/media/FEYW7vJWYAEv5Vq.jpg");
    assert_eq!(page.next.as_deref(), Some("7140dibdnow9c7btw3w29grvxfcgvpb9n9coehpk7xz5i"));

    documented.answer_with("x/too_many_requests.json");
    let throttled = x.observe(&Ungated, &ids, None).await.unwrap_err();
    let wait = throttled.retry_after().unwrap();
    assert!(wait > Duration::from_secs(100) && wait <= Duration::from_secs(121), "{throttled:?}");

    documented.answer_with("x/unauthorized.json");
    let fresh = x_against(&documented);
    let refused = fresh.adapter(Platform::X).observe(&Ungated, &ids, None).await.unwrap_err();
    assert_eq!(refused.kind(), "unauthorized");
}

#[tokio::test]
async fn the_simulated_x_answers_in_the_documented_shapes() {
    let w = world().await;
    let bearer = w.settings.x.bearer_token.clone().unwrap();
    let asked = async |path: &str, query: &[(&str, &str)]| -> Value {
        let url = format!("{}{path}", w.settings.x.base_url);
        let answer =
            reqwest::Client::new().get(url).query(query).bearer_auth(bearer.expose()).send().await.unwrap();
        answer.json().await.unwrap()
    };
    let ids = format!("{TW},1800000000000000002,1800000000000000009");
    let lookup = asked(
        "/2/tweets",
        &[
            ("ids", ids.as_str()),
            ("tweet.fields", "public_metrics,author_id"),
            ("expansions", "attachments.media_keys,author_id"),
            ("media.fields", "url,preview_image_url,variants"),
            ("user.fields", "username"),
        ],
    )
    .await;
    let documented = shape_of(&contract("x/tweets_lookup.json")["body"]);
    let invented: Vec<_> = shape_of(&lookup).difference(&documented).cloned().collect();
    assert!(invented.is_empty(), "the simulator answers fields X does not document: {invented:?}\n{lookup}");
    for read in [
        "data[].public_metrics.impression_count",
        "includes.media[].url",
        "includes.users[].username",
        "errors[].type",
    ] {
        assert!(shape_of(&lookup).contains(read), "the simulator leaves out {read}: {lookup}");
    }

    let user = asked("/2/users/by/username/ana_creates", &[("user.fields", "description")]).await;
    holds_to(&user, "x/user_by_username.json", &["data.id", "data.username", "data.description"]);

    let path = format!("/2/users/{}/tweets", user["data"]["id"].as_str().unwrap());
    let timeline = asked(
        &path,
        &[
            ("max_results", "5"),
            ("tweet.fields", "public_metrics,author_id"),
            ("expansions", "attachments.media_keys,author_id"),
            ("media.fields", "url,preview_image_url,variants"),
            ("user.fields", "username"),
        ],
    )
    .await;
    holds_to(
        &timeline,
        "x/user_tweets.json",
        &["data[].id", "includes.media[].url", "includes.users[].username"],
    );
}
