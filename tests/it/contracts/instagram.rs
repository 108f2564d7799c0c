//! Instagram API with Instagram Login: `/me/media` (an album with its children, paging),
//! media insights (and Meta's "(#10) Not enough viewers"), `/me`, and the throttle.

use std::time::Duration;

use serde_json::Value;
use viewmark::domain::Platform;
use viewmark::platforms::start_gate::Ungated;
use viewmark::platforms::{Platforms, PostState};

use super::{holds_to, Documented};
use crate::support::platforms::{creator, quick_settings, world, IG};

fn instagram_against(documented: &Documented) -> Platforms {
    let mut settings = quick_settings();
    settings.instagram.base_url = documented.base.clone();
    settings.instagram.max_media_pages = 2;
    Platforms::new(&settings).unwrap()
}

#[tokio::test]
async fn the_instagram_adapter_reads_the_documented_answers() {
    let documented = Documented::start().await;
    let platforms = instagram_against(&documented);
    let instagram = platforms.adapter(Platform::Instagram);
    let user = creator("IGQVJcontract", None);

    documented.answer_paths(&[
        ("/me/media", "instagram/me_media.json"),
        ("/17895695668004550/insights", "instagram/insights_not_enough_viewers.json"),
        ("/insights", "instagram/media_insights.json"),
        ("/me", "instagram/me.json"),
    ]);
    let ids = ["C1a2b3c4d5E", "C0zYxWvUtS1", "C0aBcDeFgH2", "Cmissing001"].map(String::from);
    let seen = instagram.observe(&Ungated, &ids, Some(&user)).await.unwrap();
    let states: Vec<PostState> = seen.iter().map(|o| o.state).collect();
    assert_eq!(states, [PostState::Live, PostState::Live, PostState::Live, PostState::Removed]);
    assert_eq!((seen[0].views, seen[0].author_handle.as_deref()), (Some(1024), Some("jayposiris")));
    assert_eq!(seen[1].views, None, "the album's insights were refused");
    assert!(seen[1].views_withheld.as_deref().is_some_and(|r| r.contains("10")), "{:?}", seen[1]);
    assert_eq!(seen[1].media_urls.len(), 3, "every slide of the album: {:?}", seen[1].media_urls);
    assert!(seen[2].media_urls[0].as_str().ends_with("reel.jpg"), "a reel by its thumbnail");

    let page = instagram.list_posts(&Ungated, "jayposiris", Some(&user), None).await.unwrap();
    let listed: Vec<&str> = page.posts.iter().map(|p| p.post_id.as_str()).collect();
    assert_eq!(listed, ["C1a2b3c4d5E", "C0zYxWvUtS1", "C0aBcDeFgH2"]);
    assert_eq!(page.next.as_deref(), Some("QVFIUlNtOFhMWUw3"));
    let profile = instagram.profile(&Ungated, "", Some(&user)).await.unwrap().unwrap();
    assert_eq!((profile.handle.as_str(), profile.bio.as_str()), ("jayposiris", "Photos of everyday things."));

    documented.answer_with("instagram/application_request_limit.json");
    let fresh = instagram_against(&documented);
    let throttled =
        fresh.adapter(Platform::Instagram).observe(&Ungated, &ids, Some(&user)).await.unwrap_err();
    assert_eq!(throttled.retry_after(), Some(Duration::from_secs(180)), "{throttled:?}");
}

#[tokio::test]
async fn the_simulated_instagram_answers_in_the_documented_shapes() {
    let w = world().await;
    let base = format!("{}/{}", w.settings.instagram.base_url, w.settings.instagram.api_version);
    let asked = async |path: &str, query: &[(&str, &str)]| -> Value {
        let answer = reqwest::Client::new()
            .get(format!("{base}{path}"))
            .query(query)
            .query(&[("access_token", "IGQ.ana.creates.0")])
            .send()
            .await
            .unwrap();
        answer.json().await.unwrap()
    };
    let fields = "id,media_type,media_url,thumbnail_url,permalink,username,children{media_type,media_url,thumbnail_url}";
    let media = asked("/me/media", &[("fields", fields), ("limit", "50")]).await;
    holds_to(
        &media,
        "instagram/me_media.json",
        &["data[].id", "data[].permalink", "data[].username", "paging.cursors.after"],
    );
    let ours = media["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["permalink"].as_str().unwrap().contains(IG))
        .unwrap();
    let insights =
        asked(&format!("/{}/insights", ours["id"].as_str().unwrap()), &[("metric", "views")]).await;
    holds_to(&insights, "instagram/media_insights.json", &["data[].name", "data[].values[].value"]);
    let me = asked("/me", &[("fields", "user_id,username,biography")]).await;
    holds_to(&me, "instagram/me.json", &["username", "biography"]);
}
