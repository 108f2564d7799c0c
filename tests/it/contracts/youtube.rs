//! YouTube Data API v3: `videos.list`, `channels.list` (by id, by handle with the uploads
//! playlist), `playlistItems.list`, and the quota error.

use serde_json::Value;
use viewmark::domain::Platform;
use viewmark::platforms::start_gate::Ungated;
use viewmark::platforms::{Platforms, PostState};
use viewmark::secret::Secret;

use super::{holds_to, Documented};
use crate::support::platforms::{quick_settings, world, YT};

fn youtube_against(documented: &Documented) -> Platforms {
    let mut settings = quick_settings();
    settings.youtube.base_url = documented.base.clone();
    settings.youtube.api_key = Some(Secret::new("AIzaSyContract"));
    Platforms::new(&settings).unwrap()
}

#[tokio::test]
async fn the_youtube_adapter_reads_the_documented_answers() {
    let documented = Documented::start().await;
    let platforms = youtube_against(&documented);
    let youtube = platforms.adapter(Platform::Youtube);

    documented.answer_paths(&[
        ("/videos", "youtube/videos_list.json"),
        ("/channels", "youtube/channels_by_id.json"),
    ]);
    let ids = ["Ks-_Mh1QhMc".to_owned(), "notThere123".to_owned()];
    let seen = youtube.observe(&Ungated, &ids, None).await.unwrap();
    assert_eq!((seen[0].state, seen[1].state), (PostState::Live, PostState::Removed));
    assert_eq!((seen[0].views, seen[0].author_handle.as_deref()), (Some(20_612_456), Some("ted")));
    assert_eq!(seen[0].media_urls[0].as_str(), "https://i.ytimg.com/vi/Ks-_Mh1QhMc/maxresdefault.jpg");

    documented.answer_paths(&[
        ("/channels", "youtube/channels_by_id.json"),
        ("/playlistItems", "youtube/playlist_items.json"),
    ]);
    let page = youtube.list_posts(&Ungated, "ted", None, None).await.unwrap();
    assert_eq!(page.posts.len(), 1);
    assert_eq!(
        (page.posts[0].post_id.as_str(), page.posts[0].author_handle.as_deref()),
        ("Ks-_Mh1QhMc", Some("ted"))
    );
    assert_eq!(page.next.as_deref(), Some("EAAaBlBUOkNBVQ"));
    let profile = youtube.profile(&Ungated, "ted", None).await.unwrap().unwrap();
    assert_eq!(profile.handle, "ted");

    documented.answer_with("youtube/quota_exceeded.json");
    let spent = youtube_against(&documented)
        .adapter(Platform::Youtube)
        .observe(&Ungated, &ids, None)
        .await
        .unwrap_err();
    assert_eq!(spent.kind(), "quota_exhausted", "{spent:?}");
    assert!(spent.retry_after().is_some());
}

#[tokio::test]
async fn the_simulated_youtube_answers_in_the_documented_shapes() {
    let w = world().await;
    let key = w.settings.youtube.api_key.clone().unwrap();
    let asked = async |resource: &str, query: &[(&str, &str)]| -> Value {
        let url = format!("{}/youtube/v3/{resource}", w.settings.youtube.base_url);
        let answer = reqwest::Client::new()
            .get(url)
            .query(query)
            .query(&[("key", key.expose())])
            .send()
            .await
            .unwrap();
        answer.json().await.unwrap()
    };
    let videos = asked("videos", &[("part", "statistics,snippet"), ("id", YT)]).await;
    holds_to(
        &videos,
        "youtube/videos_list.json",
        &[
            "items[].id",
            "items[].statistics.viewCount",
            "items[].snippet.channelId",
            "items[].snippet.thumbnails.maxres.url",
        ],
    );
    let channel_id = videos["items"][0]["snippet"]["channelId"].as_str().unwrap().to_owned();
    let by_id = asked("channels", &[("part", "snippet"), ("id", &channel_id)]).await;
    holds_to(
        &by_id,
        "youtube/channels_by_id.json",
        &["items[].id", "items[].snippet.customUrl", "items[].snippet.description"],
    );
    let by_handle = asked("channels", &[("part", "contentDetails"), ("forHandle", "@ana-creates")]).await;
    holds_to(&by_handle, "youtube/channels_by_id.json", &["items[].contentDetails.relatedPlaylists.uploads"]);
    let uploads =
        by_handle["items"][0]["contentDetails"]["relatedPlaylists"]["uploads"].as_str().unwrap().to_owned();
    let items =
        asked("playlistItems", &[("part", "snippet"), ("playlistId", &uploads), ("maxResults", "1")]).await;
    holds_to(
        &items,
        "youtube/playlist_items.json",
        &["items[].snippet.resourceId.videoId", "items[].snippet.thumbnails.high.url"],
    );
}
