//! TikTok Display API v2: `/v2/video/query/`, `/v2/video/list/`, `/v2/user/info/`, and the
//! documented errors.

use serde_json::{json, Value};
use viewmark::domain::Platform;
use viewmark::platforms::start_gate::Ungated;
use viewmark::platforms::{Platforms, PostState};

use super::{holds_to, Documented};
use crate::support::platforms::{creator, quick_settings, world, TT};

fn tiktok_against(documented: &Documented) -> Platforms {
    let mut settings = quick_settings();
    settings.tiktok.base_url = documented.base.clone();
    Platforms::new(&settings).unwrap()
}

#[tokio::test]
async fn the_tiktok_adapter_reads_the_documented_answers() {
    let documented = Documented::start().await;
    let platforms = tiktok_against(&documented);
    let tiktok = platforms.adapter(Platform::Tiktok);
    let user = creator("act.contract", None);

    documented.answer_paths(&[
        ("/v2/video/query/", "tiktok/video_query.json"),
        ("/v2/video/list/", "tiktok/video_list.json"),
        ("/v2/user/info/", "tiktok/user_info.json"),
    ]);
    let ids = ["7080213458555737390".to_owned(), "7000000000000000000".to_owned()];
    let seen = tiktok.observe(&Ungated, &ids, Some(&user)).await.unwrap();
    assert_eq!((seen[0].state, seen[1].state), (PostState::Live, PostState::Removed));
    assert_eq!((seen[0].views, seen[0].author_handle.as_deref()), (Some(73_102), Some("tiktok")));
    assert!(seen[0].media_urls[0].as_str().contains("cover1.jpeg"));
    let page = tiktok.list_posts(&Ungated, "tiktok", Some(&user), None).await.unwrap();
    let listed: Vec<&str> = page.posts.iter().map(|p| p.post_id.as_str()).collect();
    assert_eq!(listed, ["7080217258529732910", "7080213458555737390"]);
    assert_eq!(page.next.as_deref(), Some("1643332803000"));
    let profile = tiktok.profile(&Ungated, "tiktok", Some(&user)).await.unwrap().unwrap();
    assert_eq!((profile.handle.as_str(), profile.bio.as_str()), ("tiktok", "Make Your Day"));

    documented.answer_with("tiktok/rate_limit_exceeded.json");
    let throttled =
        tiktok_against(&documented).adapter(Platform::Tiktok).observe(&Ungated, &ids, Some(&user)).await;
    assert!(throttled.unwrap_err().retry_after().is_some());
    documented.answer_with("tiktok/access_token_invalid.json");
    let refused =
        tiktok_against(&documented).adapter(Platform::Tiktok).observe(&Ungated, &ids, Some(&user)).await;
    assert_eq!(refused.unwrap_err().kind(), "unauthorized");
}

#[tokio::test]
async fn the_simulated_tiktok_answers_in_the_documented_shapes() {
    let w = world().await;
    let token = "act.ana.creates.0";
    let base = &w.settings.tiktok.base_url;
    let http = reqwest::Client::new();
    let fields = [("fields", "id,view_count,cover_image_url,share_url")];
    let post = async |path: &str, body: Value| -> Value {
        let answer = http
            .post(format!("{base}{path}"))
            .query(&fields)
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap();
        answer.json().await.unwrap()
    };
    let query = post("/v2/video/query/", json!({"filters": {"video_ids": [TT]}})).await;
    holds_to(
        &query,
        "tiktok/video_query.json",
        &["data.videos[].id", "data.videos[].view_count", "error.code"],
    );
    let list = post("/v2/video/list/", json!({"max_count": 1})).await;
    holds_to(
        &list,
        "tiktok/video_list.json",
        &["data.videos[].cover_image_url", "data.cursor", "data.has_more"],
    );
    let info: Value = http
        .get(format!("{base}/v2/user/info/"))
        .query(&[("fields", "open_id,username,bio_description")])
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    holds_to(&info, "tiktok/user_info.json", &["data.user.username", "data.user.bio_description"]);
}
