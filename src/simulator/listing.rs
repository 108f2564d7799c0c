//! The simulated platforms' listings of an account's own posts, newest first, paged as the
//! real ones are: a YouTube channel's uploads playlist (`playlistItems.list`), X's user
//! timeline (`/2/users/{id}/tweets`) and TikTok's `/v2/video/list/` (Instagram's
//! `/me/media` is served with its lookups).

use std::collections::HashMap;

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

use super::google_x::{uploads_playlist, x_answer, x_gate, x_tweet, youtube_error, youtube_gate};
use super::meta_tiktok::{tiktok_gate, tiktok_ok, tiktok_video};
use super::scenario::SimPost;
use super::{json_body, SimPostState, SimState};
use crate::domain::Platform;

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/youtube/v3/playlistItems", web::get().to(youtube_playlist_items))
        .route("/2/users/{id}/tweets", web::get().to(x_timeline))
        .route("/v2/video/list/", web::post().to(tiktok_video_list));
}

/// The account's live posts, newest first (the later in the scenario, the newer), from
/// `offset`, at most `count`; and the offset of the next page.
fn page_of(
    state: &SimState,
    platform: Platform,
    account: &str,
    offset: usize,
    count: usize,
) -> (Vec<SimPost>, Option<usize>) {
    let mut posts: Vec<SimPost> = state
        .posts(platform)
        .into_iter()
        .filter(|p| p.account == account && state.post_state(platform, &p.id) == Some(SimPostState::Live))
        .collect();
    posts.reverse();
    let next = (offset + count < posts.len()).then_some(offset + count);
    (posts.into_iter().skip(offset).take(count).collect(), next)
}

async fn youtube_playlist_items(
    state: web::Data<SimState>,
    query: web::Query<HashMap<String, String>>,
) -> HttpResponse {
    let truncate = match youtube_gate(&state, &query).await {
        Ok(t) => t,
        Err(answer) => return answer,
    };
    let playlist = query.get("playlistId").cloned().unwrap_or_default();
    let Some(account) = state
        .scenario
        .accounts
        .iter()
        .find(|a| a.platform == Platform::Youtube && uploads_playlist(&a.handle) == playlist)
    else {
        return youtube_error(404, "playlistNotFound");
    };
    let count = query.get("maxResults").and_then(|m| m.parse().ok()).unwrap_or(5_usize).clamp(1, 50);
    let offset =
        query.get("pageToken").and_then(|t| t.strip_prefix("CA")).and_then(|t| t.parse().ok()).unwrap_or(0);
    let (posts, next) = page_of(&state, Platform::Youtube, &account.handle, offset, count);
    let items: Vec<Value> = posts
        .iter()
        .map(|post| {
            let thumbnails = super::google_x::youtube_thumbnails(state.media_url(post));
            json!({"kind": "youtube#playlistItem", "etag": "sim", "id": format!("PLI{}", post.id),
                "snippet": {"publishedAt": "2026-01-01T00:00:00Z", "channelId": super::google_x::channel_id(&post.account),
                    "title": "video", "description": "", "thumbnails": thumbnails, "playlistId": playlist,
                    "resourceId": {"kind": "youtube#video", "videoId": post.id}}})
        })
        .collect();
    let mut body = json!({"kind": "youtube#playlistItemListResponse", "etag": "sim", "items": items,
        "pageInfo": {"totalResults": items.len(), "resultsPerPage": count}});
    if let Some(next) = next {
        body["nextPageToken"] = json!(format!("CA{next}"));
    }
    HttpResponse::Ok().content_type("application/json; charset=UTF-8").body(json_body(&body, truncate))
}

async fn x_timeline(
    state: web::Data<SimState>,
    request: HttpRequest,
    path: web::Path<String>,
    query: web::Query<HashMap<String, String>>,
) -> HttpResponse {
    let truncate = match x_gate(&state, &request).await {
        Ok(t) => t,
        Err(answer) => return answer,
    };
    let user_id = path.into_inner();
    let Some(account) = state
        .scenario
        .accounts
        .iter()
        .find(|a| a.platform == Platform::X && super::google_x::x_user_id(&state, &a.handle) == user_id)
    else {
        return HttpResponse::NotFound().json(json!({"title": "Not Found Error", "type": "https://api.twitter.com/2/problems/resource-not-found"}));
    };
    let count = query.get("max_results").and_then(|m| m.parse().ok()).unwrap_or(10_usize).clamp(5, 100);
    let offset = query
        .get("pagination_token")
        .and_then(|t| t.strip_prefix("page"))
        .and_then(|t| t.parse().ok())
        .unwrap_or(0);
    let (posts, next) = page_of(&state, Platform::X, &account.handle, offset, count);
    let (mut data, mut media, mut users) = (vec![], vec![], vec![]);
    for post in &posts {
        let (tweet, medium, user) = x_tweet(&state, post);
        data.push(tweet);
        media.extend(medium);
        if users.is_empty() {
            users.push(user);
        }
    }
    let mut meta = json!({"result_count": data.len()});
    if let Some(next) = next {
        meta["next_token"] = json!(format!("page{next}"));
    }
    let mut body = json!({"meta": meta});
    if !data.is_empty() {
        body["data"] = json!(data);
        body["includes"] = json!({"media": media, "users": users});
    }
    x_answer(&state, &body, truncate)
}

async fn tiktok_video_list(
    state: web::Data<SimState>,
    request: HttpRequest,
    query: web::Query<HashMap<String, String>>,
    body: web::Bytes,
) -> HttpResponse {
    let (handle, truncate) = match tiktok_gate(&state, &request).await {
        Ok(ok) => ok,
        Err(answer) => return answer,
    };
    let asked: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let count = asked["max_count"].as_u64().unwrap_or(10).clamp(1, 20) as usize;
    let offset = asked["cursor"].as_u64().unwrap_or(0) as usize;
    let (posts, next) = page_of(&state, Platform::Tiktok, &handle, offset, count);
    let videos: Vec<Value> = posts.iter().map(|post| tiktok_video(&state, post, &query)).collect();
    tiktok_ok(
        json!({"videos": videos, "cursor": next.unwrap_or(offset + posts.len()), "has_more": next.is_some()}),
        truncate,
    )
}
