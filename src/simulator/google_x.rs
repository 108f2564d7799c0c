//! The simulated YouTube Data API v3 (`videos.list`, `channels.list`, by id, handle or, with
//! a creator's token, `mine=true`) and X API v2 (tweet and user lookup, `/2/users/me` with a
//! creator's token), in their real shapes.

use std::collections::HashMap;

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

use super::{json_body, Before, FaultTarget, SimPostState, SimState};
use crate::domain::Platform;

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/youtube/v3/videos", web::get().to(youtube_videos))
        .route("/youtube/v3/channels", web::get().to(youtube_channels))
        .route("/2/tweets", web::get().to(x_tweets))
        .route("/2/users/by/username/{username}", web::get().to(x_user))
        .route("/2/users/me", web::get().to(x_me));
}

/// Google's error envelope.
pub(super) fn youtube_error(status: u16, reason: &str) -> HttpResponse {
    let message = match reason {
        "quotaExceeded" => "The request cannot be completed because you have exceeded your quota.",
        "rateLimitExceeded" => "The request cannot be completed because you have exceeded the rate limit.",
        _ => "The request is invalid.",
    };
    let body = json!({"error": {"code": status, "message": message,
        "errors": [{"message": message, "domain": "youtube.quota", "reason": reason}]}});
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap_or_default()).json(body)
}

fn youtube_bad_key() -> HttpResponse {
    let message = "API key not valid. Please pass a valid API key.";
    HttpResponse::BadRequest().json(json!({"error": {"code": 400, "message": message,
        "errors": [{"message": message, "domain": "global", "reason": "badRequest"}],
        "status": "INVALID_ARGUMENT",
        "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID",
                     "domain": "googleapis.com"}]}}))
}

/// A video's thumbnails, all the same picture.
pub(super) fn youtube_thumbnails(url: Option<String>) -> Value {
    match url {
        Some(url) => json!({"default": {"url": url, "width": 120, "height": 90},
                             "high": {"url": url, "width": 480, "height": 360},
                             "maxres": {"url": url, "width": 1280, "height": 720}}),
        None => json!({}),
    }
}

/// The uploads playlist of a channel, by its handle.
pub(super) fn uploads_playlist(handle: &str) -> String {
    format!("UUsim{}", handle.replace(['.', '-'], "_"))
}

pub(super) fn channel_id(handle: &str) -> String {
    format!("UCsim{}", handle.replace(['.', '-'], "_"))
}

/// Key check, quota, faults: what every YouTube call goes through first.
pub(super) async fn youtube_gate(
    state: &SimState,
    query: &HashMap<String, String>,
) -> Result<bool, HttpResponse> {
    let truncate = match state.before(FaultTarget::Youtube).await {
        Before::Answer(answer) => return Err(answer),
        Before::Proceed { truncate } => truncate,
    };
    if query.get("key") != Some(&state.scenario.credentials.youtube_api_key) {
        return Err(youtube_bad_key());
    }
    if !state.within_budget(Platform::Youtube) {
        return Err(youtube_error(403, "quotaExceeded"));
    }
    Ok(truncate)
}

pub(super) fn list(kind: &str, items: Vec<Value>, truncate: bool) -> HttpResponse {
    let total = items.len();
    let body = json!({"kind": kind, "etag": "sim", "items": items,
        "pageInfo": {"totalResults": total, "resultsPerPage": total}});
    HttpResponse::Ok().content_type("application/json; charset=UTF-8").body(json_body(&body, truncate))
}

async fn youtube_videos(
    state: web::Data<SimState>,
    query: web::Query<HashMap<String, String>>,
) -> HttpResponse {
    let truncate = match youtube_gate(&state, &query).await {
        Ok(t) => t,
        Err(answer) => return answer,
    };
    let ids: Vec<&str> = query.get("id").map(|s| s.split(',').collect()).unwrap_or_default();
    if ids.len() > 50 {
        return youtube_error(400, "badRequest");
    }
    state.looked_up(Platform::Youtube, ids.iter().copied());
    let items = state
        .posts(Platform::Youtube)
        .iter()
        .filter(|p| ids.contains(&p.id.as_str()) && state.post_state(Platform::Youtube, &p.id) == Some(SimPostState::Live))
        .map(|post| {
            let thumbnails = youtube_thumbnails(state.media_url(post));
            let (likes, comments, _) = state.engagement(post);
            json!({"kind": "youtube#video", "etag": "sim", "id": post.id,
                "snippet": {"publishedAt": "2026-01-01T00:00:00Z", "channelId": channel_id(&post.account),
                            "title": "video", "description": "", "thumbnails": thumbnails, "channelTitle": post.account},
                "statistics": {"viewCount": state.views(post).to_string(), "likeCount": likes.to_string(),
                               "favoriteCount": "0", "commentCount": comments.to_string()}})
        })
        .collect();
    list("youtube#videoListResponse", items, truncate)
}

async fn youtube_channels(
    state: web::Data<SimState>,
    request: HttpRequest,
    query: web::Query<HashMap<String, String>>,
) -> HttpResponse {
    if query.get("mine").map(String::as_str) == Some("true") {
        return youtube_mine(&state, &request).await;
    }
    let truncate = match youtube_gate(&state, &query).await {
        Ok(t) => t,
        Err(answer) => return answer,
    };
    let ids: Vec<&str> = query.get("id").map(|s| s.split(',').collect()).unwrap_or_default();
    let for_handle = query.get("forHandle").map(|h| h.trim_start_matches('@').to_ascii_lowercase());
    let items = state
        .scenario
        .accounts
        .iter()
        .filter(|a| a.platform == Platform::Youtube)
        .filter(|a| ids.contains(&channel_id(&a.handle).as_str()) || for_handle.as_deref() == Some(a.handle.as_str()))
        .map(|a| {
            let mut channel = json!({"kind": "youtube#channel", "etag": "sim", "id": channel_id(&a.handle),
                   "snippet": {"title": a.handle, "description": state.bio(Platform::Youtube, &a.handle), "customUrl": format!("@{}", a.handle)}});
            if query.get("part").is_some_and(|p| p.contains("contentDetails")) {
                channel["contentDetails"] =
                    json!({"relatedPlaylists": {"likes": "", "uploads": uploads_playlist(&a.handle)}});
            }
            channel
        })
        .collect();
    list("youtube#channelListResponse", items, truncate)
}

/// A tweet as X answers it, its media and its author.
pub(super) fn x_tweet(state: &SimState, post: &super::scenario::SimPost) -> (Value, Option<Value>, Value) {
    let author_id = x_user_id(state, &post.account);
    let (likes, replies, shares) = state.engagement(post);
    // X splits passing a post on into retweets and quotes.
    let (retweets, quotes) = (shares - shares / 4, shares / 4);
    let mut tweet = json!({"id": post.id, "text": "a post", "author_id": author_id,
        "edit_history_tweet_ids": [post.id],
        "public_metrics": {"retweet_count": retweets, "reply_count": replies, "like_count": likes, "quote_count": quotes,
                           "bookmark_count": 0, "impression_count": state.views(post)}});
    let mut medium = None;
    if let (Some(url), Some(m)) = (state.media_url(post), &post.media) {
        let key = if m.video { format!("7_{}", post.id) } else { format!("3_{}", post.id) };
        tweet["attachments"] = json!({"media_keys": [key]});
        medium = Some(if m.video {
            let variants: Vec<Value> = state
                .video_url(post)
                .map(|url| json!({"content_type": "video/mp4", "bit_rate": 1_500_000, "url": url}))
                .into_iter()
                .collect();
            json!({"media_key": key, "type": "video", "preview_image_url": url, "variants": variants})
        } else {
            json!({"media_key": key, "type": "photo", "url": url})
        });
    }
    let user = json!({"id": author_id, "name": post.account, "username": post.account});
    (tweet, medium, user)
}

/// X user ids are numeric strings; the account's place in the scenario makes one.
pub(super) fn x_user_id(state: &SimState, handle: &str) -> String {
    let index = state.scenario.accounts.iter().position(|a| a.platform == Platform::X && a.handle == handle);
    format!("{}", 4_400_000 + index.unwrap_or(usize::MAX >> 40))
}

pub(super) fn x_rate_limited(retry_after_secs: u64) -> HttpResponse {
    let reset = chrono::Utc::now().timestamp() + retry_after_secs as i64;
    HttpResponse::TooManyRequests()
        .insert_header(("x-rate-limit-limit", "300"))
        .insert_header(("x-rate-limit-remaining", "0"))
        .insert_header(("x-rate-limit-reset", reset.to_string()))
        .json(json!({"title": "Too Many Requests", "detail": "Too Many Requests", "type": "about:blank", "status": 429}))
}

/// Bearer check, window, faults; the answer carries X's window headers.
pub(super) async fn x_gate(state: &SimState, request: &HttpRequest) -> Result<bool, HttpResponse> {
    let truncate = match state.before(FaultTarget::X).await {
        Before::Answer(answer) => return Err(answer),
        Before::Proceed { truncate } => truncate,
    };
    let expected = format!("Bearer {}", state.scenario.credentials.x_bearer_token);
    let given = request.headers().get("authorization").and_then(|v| v.to_str().ok());
    if given != Some(expected.as_str()) {
        return Err(HttpResponse::Unauthorized().json(
            json!({"title": "Unauthorized", "type": "about:blank", "status": 401, "detail": "Unauthorized"}),
        ));
    }
    if !state.within_budget(Platform::X) {
        let (_, _, reset) = state.window(Platform::X, state.scenario.limits.x_per_15_min, 900);
        return Err(x_rate_limited(u64::try_from(reset - chrono::Utc::now().timestamp()).unwrap_or(1)));
    }
    Ok(truncate)
}

pub(super) fn x_answer(state: &SimState, body: &Value, truncate: bool) -> HttpResponse {
    let (limit, remaining, reset) = state.window(Platform::X, state.scenario.limits.x_per_15_min, 900);
    HttpResponse::Ok()
        .insert_header(("x-rate-limit-limit", limit.to_string()))
        .insert_header(("x-rate-limit-remaining", remaining.to_string()))
        .insert_header(("x-rate-limit-reset", reset.to_string()))
        .content_type("application/json; charset=utf-8")
        .body(json_body(body, truncate))
}

fn x_problem(kind: &str, id: &str) -> Value {
    let (title, detail, problem) = match kind {
        "not_found" => {
            ("Not Found Error", format!("Could not find tweet with ids: [{id}]."), "resource-not-found")
        }
        _ => (
            "Authorization Error",
            format!("Sorry, you are not authorized to see the Tweet with ids: [{id}]."),
            "not-authorized-for-resource",
        ),
    };
    json!({"value": id, "detail": detail, "title": title, "resource_type": "tweet", "parameter": "ids",
           "resource_id": id, "type": format!("https://api.twitter.com/2/problems/{problem}")})
}

async fn x_tweets(
    state: web::Data<SimState>,
    request: HttpRequest,
    query: web::Query<HashMap<String, String>>,
) -> HttpResponse {
    let truncate = match x_gate(&state, &request).await {
        Ok(t) => t,
        Err(answer) => return answer,
    };
    let ids: Vec<&str> = query.get("ids").map(|s| s.split(',').collect()).unwrap_or_default();
    if ids.is_empty() || ids.len() > 100 {
        return HttpResponse::BadRequest().json(json!({"errors": [{"message": "ids: 1 to 100 ids"}],
            "title": "Invalid Request", "type": "https://api.twitter.com/2/problems/invalid-request"}));
    }
    state.looked_up(Platform::X, ids.iter().copied());
    let (mut data, mut media, mut users, mut errors) = (vec![], vec![], vec![], vec![]);
    for id in ids {
        let Some(post) = &state.posts(Platform::X).into_iter().find(|p| p.id == id) else {
            errors.push(x_problem("not_found", id));
            continue;
        };
        let protected = state.scenario.account(Platform::X, &post.account).is_some_and(|a| a.protected);
        match state.post_state(Platform::X, id) {
            Some(SimPostState::Live) if !protected => {}
            Some(SimPostState::Live | SimPostState::Private) => {
                errors.push(x_problem("not_authorized", id));
                continue;
            }
            _ => {
                errors.push(x_problem("not_found", id));
                continue;
            }
        }
        let (tweet, medium, user) = x_tweet(&state, post);
        media.extend(medium);
        users.push(user);
        data.push(tweet);
    }
    let mut body = json!({});
    if !data.is_empty() {
        body["data"] = json!(data);
        body["includes"] = json!({"media": media, "users": users});
    }
    if !errors.is_empty() {
        body["errors"] = json!(errors);
    }
    x_answer(&state, &body, truncate)
}

async fn x_user(state: web::Data<SimState>, request: HttpRequest, path: web::Path<String>) -> HttpResponse {
    let truncate = match x_gate(&state, &request).await {
        Ok(t) => t,
        Err(answer) => return answer,
    };
    let username = path.into_inner().to_ascii_lowercase();
    let body = match state.scenario.account(Platform::X, &username) {
        Some(a) => json!({"data": {"id": x_user_id(&state, &a.handle), "name": a.handle,
                                   "username": a.handle, "description": state.bio(Platform::X, &a.handle)}}),
        None => {
            json!({"errors": [{"value": username, "detail": format!("Could not find user with username: [{username}]."),
            "title": "Not Found Error", "resource_type": "user", "parameter": "username", "resource_id": username,
            "type": "https://api.twitter.com/2/problems/resource-not-found"}]})
        }
    };
    x_answer(&state, &body, truncate)
}

/// The account whose valid token the request carries as its bearer.
fn bearer_owner(state: &SimState, request: &HttpRequest, platform: Platform) -> Option<String> {
    let bearer = request.headers().get("authorization")?.to_str().ok()?.strip_prefix("Bearer ")?;
    state.account_for_token(platform, bearer).filter(|(_, expired)| !expired).map(|(handle, _)| handle)
}

/// `channels.list?mine=true` with the creator's token.
async fn youtube_mine(state: &SimState, request: &HttpRequest) -> HttpResponse {
    if let Before::Answer(answer) = state.before(FaultTarget::Youtube).await {
        return answer;
    }
    let Some(handle) = bearer_owner(state, request, Platform::Youtube) else {
        return youtube_error(401, "authError");
    };
    let item = json!({"kind": "youtube#channel", "etag": "sim", "id": channel_id(&handle),
        "snippet": {"title": handle, "description": state.bio(Platform::Youtube, &handle), "customUrl": format!("@{handle}")}});
    HttpResponse::Ok().json(json!({"kind": "youtube#channelListResponse", "etag": "sim", "items": [item],
        "pageInfo": {"totalResults": 1, "resultsPerPage": 1}}))
}

/// `GET /2/users/me` with the creator's token.
async fn x_me(state: web::Data<SimState>, request: HttpRequest) -> HttpResponse {
    if let Before::Answer(answer) = state.before(FaultTarget::X).await {
        return answer;
    }
    let Some(handle) = bearer_owner(&state, &request, Platform::X) else {
        return HttpResponse::Unauthorized().json(
            json!({"title": "Unauthorized", "type": "about:blank", "status": 401, "detail": "Unauthorized"}),
        );
    };
    HttpResponse::Ok().json(json!({"data": {"id": x_user_id(&state, &handle), "name": handle,
        "username": handle, "description": state.bio(Platform::X, &handle)}}))
}
