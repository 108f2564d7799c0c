//! The simulated TikTok Display API (video query, user info, token refresh) and Instagram
//! Graph API (the creator's media, insights, profile, long-lived token refresh), both read
//! with the creator's own token, in their real shapes.

use std::collections::HashMap;

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{json_body, lock, Before, FaultTarget, SimPostState, SimState};
use crate::domain::Platform;

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/v2/video/query/", web::post().to(tiktok_video_query))
        .route("/v2/user/info/", web::get().to(tiktok_user_info))
        .route("/v2/oauth/revoke/", web::post().to(tiktok_revoke))
        .route("/refresh_access_token", web::get().to(instagram_refresh))
        .route("/{version}/me/media", web::get().to(instagram_media))
        .route("/{version}/me", web::get().to(instagram_me))
        .route("/{version}/{media_id}/insights", web::get().to(instagram_insights));
}

fn tiktok_error(status: u16, code: &str, message: &str) -> HttpResponse {
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap_or_default())
        .json(json!({"data": {}, "error": {"code": code, "message": message, "log_id": "sim"}}))
}

pub(super) fn tiktok_rate_limited() -> HttpResponse {
    tiktok_error(429, "rate_limit_exceeded", "API rate limit was exceeded, please try again later.")
}

/// A video as TikTok answers it: only the fields asked for come back, as on the real API.
pub(super) fn tiktok_video(
    state: &SimState,
    post: &super::scenario::SimPost,
    query: &HashMap<String, String>,
) -> Value {
    let fields: Vec<&str> = query.get("fields").map(|f| f.split(',').collect()).unwrap_or_default();
    let (likes, comments, shares) = state.engagement(post);
    let full = json!({"id": post.id, "view_count": state.views(post), "cover_image_url": state.media_url(post),
        "share_url": format!("https://www.tiktok.com/@{}/video/{}", post.account, post.id),
        "like_count": likes, "comment_count": comments, "share_count": shares});
    Value::Object(fields.iter().filter_map(|f| Some(((*f).to_owned(), full.get(*f)?.clone()))).collect())
}

pub(super) fn tiktok_ok(data: Value, truncate: bool) -> HttpResponse {
    let body = json!({"data": data, "error": {"code": "ok", "message": "", "log_id": "sim"}});
    HttpResponse::Ok().content_type("application/json").body(json_body(&body, truncate))
}

/// Faults, the bearer token, the per-minute window: the account handle, or the answer.
pub(super) async fn tiktok_gate(
    state: &SimState,
    request: &HttpRequest,
) -> Result<(String, bool), HttpResponse> {
    let truncate = match state.before(FaultTarget::Tiktok).await {
        Before::Answer(answer) => return Err(answer),
        Before::Proceed { truncate } => truncate,
    };
    let token = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let invalid = || {
        tiktok_error(401, "access_token_invalid", "The access token is invalid or not found in the request.")
    };
    let (handle, expired) =
        token.and_then(|t| state.account_for_token(Platform::Tiktok, t)).ok_or_else(invalid)?;
    if expired {
        return Err(invalid());
    }
    if !state.within_budget(Platform::Tiktok) {
        return Err(tiktok_rate_limited());
    }
    Ok((handle, truncate))
}

#[derive(Deserialize)]
struct VideoQuery {
    filters: VideoFilters,
}

#[derive(Deserialize)]
struct VideoFilters {
    video_ids: Vec<String>,
}

async fn tiktok_video_query(
    state: web::Data<SimState>,
    request: HttpRequest,
    query: web::Query<HashMap<String, String>>,
    body: web::Bytes,
) -> HttpResponse {
    let (handle, truncate) = match tiktok_gate(&state, &request).await {
        Ok(ok) => ok,
        Err(answer) => return answer,
    };
    let Ok(body) = serde_json::from_slice::<VideoQuery>(&body) else {
        return tiktok_error(400, "invalid_params", "filters.video_ids is required");
    };
    if body.filters.video_ids.len() > 20 {
        return tiktok_error(400, "invalid_params", "at most 20 video ids");
    }
    state.looked_up(Platform::Tiktok, body.filters.video_ids.iter().map(String::as_str));
    let videos: Vec<Value> = state
        .posts(Platform::Tiktok)
        .iter()
        .filter(|p| p.account == handle && body.filters.video_ids.contains(&p.id))
        .filter(|p| state.post_state(Platform::Tiktok, &p.id) == Some(SimPostState::Live))
        .map(|post| tiktok_video(&state, post, &query))
        .collect();
    tiktok_ok(json!({"videos": videos, "cursor": 0, "has_more": false}), truncate)
}

async fn tiktok_user_info(state: web::Data<SimState>, request: HttpRequest) -> HttpResponse {
    let (handle, truncate) = match tiktok_gate(&state, &request).await {
        Ok(ok) => ok,
        Err(answer) => return answer,
    };
    let bio = state.bio(Platform::Tiktok, &handle);
    tiktok_ok(
        json!({"user": {"open_id": format!("open-{handle}"), "username": handle, "bio_description": bio}}),
        truncate,
    )
}

#[derive(Deserialize)]
struct RevokeForm {
    client_key: String,
    client_secret: String,
    token: String,
}

/// `POST /v2/oauth/revoke/`: the access token and its refresh token stop working; an empty
/// 200 answer.
async fn tiktok_revoke(state: web::Data<SimState>, form: web::Form<RevokeForm>) -> HttpResponse {
    if let Before::Answer(answer) = state.before(FaultTarget::Tiktok).await {
        return answer;
    }
    let credentials = &state.scenario.credentials;
    if form.client_key != credentials.tiktok_client_key
        || form.client_secret != credentials.tiktok_client_secret
    {
        return HttpResponse::Unauthorized()
            .json(json!({"error": "invalid_client", "error_description": "Client key or secret is incorrect.", "log_id": "sim"}));
    }
    let mut tokens = lock(&state.tokens);
    let Some((_, token)) =
        tokens.iter_mut().find(|((p, _), t)| *p == Platform::Tiktok && t.access == form.token)
    else {
        return HttpResponse::BadRequest()
            .json(json!({"error": "invalid_request", "error_description": "The token is invalid.", "log_id": "sim"}));
    };
    token.generation += 1;
    token.access = format!("revoked.{}", token.generation);
    token.refresh = None;
    HttpResponse::Ok().finish()
}

/// `POST /v2/oauth/token/` with `grant_type=refresh_token`.
pub(super) async fn tiktok_refresh(state: &SimState, form: &HashMap<String, String>) -> HttpResponse {
    if let Before::Answer(answer) = state.before(FaultTarget::Tiktok).await {
        return answer;
    }
    let get = |name: &str| form.get(name).map(String::as_str).unwrap_or_default();
    let credentials = &state.scenario.credentials;
    let app_ok = get("client_key") == credentials.tiktok_client_key
        && get("client_secret") == credentials.tiktok_client_secret;
    let mut tokens = lock(&state.tokens);
    let account = tokens
        .iter_mut()
        .find(|((p, _), t)| *p == Platform::Tiktok && t.refresh.as_deref() == Some(get("refresh_token")));
    let (Some(((_, handle), token)), true, "refresh_token") = (account, app_ok, get("grant_type")) else {
        return HttpResponse::BadRequest()
            .json(json!({"error": "invalid_grant", "error_description": "Refresh token is invalid or expired.", "log_id": "sim"}));
    };
    token.generation += 1;
    token.access = format!("act.{handle}.{}", token.generation);
    token.refresh = Some(format!("rft.{handle}.{}", token.generation));
    token.expired = false;
    HttpResponse::Ok().json(json!({"access_token": token.access, "expires_in": 86400, "open_id": format!("open-{handle}"),
        "refresh_expires_in": 31_536_000, "refresh_token": token.refresh, "scope": "user.info.basic,video.list",
        "token_type": "Bearer"}))
}

pub(super) fn instagram_error(status: u16, code: i64, message: &str) -> HttpResponse {
    let kind = if matches!(code, 10 | 190) { "OAuthException" } else { "GraphMethodException" };
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap_or_default())
        .json(json!({"error": {"message": message, "type": kind, "code": code, "fbtrace_id": "sim"}}))
}

/// Meta's throttle: error code 4 with the business use case usage header naming, in
/// minutes, when access comes back.
pub(super) fn instagram_throttled(regain_minutes: u64) -> HttpResponse {
    let mut answer = instagram_error(400, 4, "Application request limit reached");
    let usage = json!({"17841400000000000": [{"type": "instagram", "call_count": 100, "total_cputime": 20,
        "total_time": 40, "estimated_time_to_regain_access": regain_minutes}]});
    if let Ok(value) = actix_web::http::header::HeaderValue::from_str(&usage.to_string()) {
        answer
            .headers_mut()
            .insert(actix_web::http::header::HeaderName::from_static("x-business-use-case-usage"), value);
    }
    answer
}

/// Faults, the `access_token` parameter, the hourly window.
async fn instagram_gate(
    state: &SimState,
    query: &HashMap<String, String>,
) -> Result<(String, bool), HttpResponse> {
    let truncate = match state.before(FaultTarget::Instagram).await {
        Before::Answer(answer) => return Err(answer),
        Before::Proceed { truncate } => truncate,
    };
    let found = query.get("access_token").and_then(|t| state.account_for_token(Platform::Instagram, t));
    match found {
        None => Err(instagram_error(400, 190, "Invalid OAuth access token - Cannot parse access token")),
        Some((_, true)) => {
            Err(instagram_error(400, 190, "Error validating access token: Session has expired."))
        }
        Some(_) if !state.within_budget(Platform::Instagram) => Err(instagram_throttled(60)),
        Some((handle, false)) => Ok((handle, truncate)),
    }
}

fn instagram_ok(body: &Value, truncate: bool) -> HttpResponse {
    HttpResponse::Ok().content_type("application/json; charset=UTF-8").body(json_body(body, truncate))
}

fn media_id(state: &SimState, post_id: &str) -> String {
    let index = state.posts(Platform::Instagram).iter().position(|p| p.id == post_id);
    format!("{}", 17_900_000_000_u64 + index.unwrap_or(0) as u64)
}

async fn instagram_media(
    state: web::Data<SimState>,
    query: web::Query<HashMap<String, String>>,
) -> HttpResponse {
    let (handle, truncate) = match instagram_gate(&state, &query).await {
        Ok(ok) => ok,
        Err(answer) => return answer,
    };
    let limit = query.get("limit").and_then(|l| l.parse::<usize>().ok()).unwrap_or(25).clamp(1, 100);
    let fields = query.get("fields").cloned().unwrap_or_default();
    let start = query.get("after").and_then(|a| a.parse::<usize>().ok()).unwrap_or(0);
    // The owner sees all of their media, private account or not; deleted media is gone.
    let mine: Vec<_> = state
        .posts(Platform::Instagram)
        .into_iter()
        .filter(|p| {
            p.account == handle && state.post_state(Platform::Instagram, &p.id) != Some(SimPostState::Removed)
        })
        .collect();
    let page: Vec<Value> = mine
        .iter()
        .skip(start)
        .take(limit)
        .map(|post| {
            let video = post.media.as_ref().is_some_and(|m| m.video);
            let mut item = json!({"id": media_id(&state, &post.id), "username": handle,
                "media_type": if video { "VIDEO" } else { "IMAGE" },
                "permalink": format!("https://www.instagram.com/{}/{}/", if video { "reel" } else { "p" }, post.id),
                "timestamp": "2026-01-01T00:00:00+0000"});
            // Counts only when asked for, as the Graph API answers.
            let (likes, comments, _) = state.engagement(post);
            if fields.contains("like_count") {
                item["like_count"] = json!(likes);
            }
            if fields.contains("comments_count") {
                item["comments_count"] = json!(comments);
            }
            // A video's `media_url` is the video file, when given; withheld otherwise (as
            // for reels with licensed audio).
            match (state.media_url(post), video) {
                (Some(url), true) => item["thumbnail_url"] = json!(url),
                (Some(url), false) => item["media_url"] = json!(url),
                (None, _) => {}
            }
            if let (Some(url), true) = (state.video_url(post), video) {
                item["media_url"] = json!(url);
            }
            // An album: its first slide as `media_url`, every slide among its children.
            let mut slides = state.slides_before_urls(post);
            if !slides.is_empty() {
                slides.extend(state.media_url(post));
                let children: Vec<Value> = slides
                    .iter()
                    .enumerate()
                    .map(|(n, url)| json!({"id": format!("{}{n}", media_id(&state, &post.id)), "media_type": "IMAGE", "media_url": url}))
                    .collect();
                item["media_type"] = json!("CAROUSEL_ALBUM");
                item["media_url"] = json!(slides[0]);
                if fields.contains("children") {
                    item["children"] = json!({"data": children});
                }
            }
            item
        })
        .collect();
    let end = start + page.len();
    let mut paging = json!({"cursors": {"before": start.to_string(), "after": end.to_string()}});
    if end < mine.len() {
        paging["next"] = json!(format!("{}/me/media?after={end}", state.base_url));
    }
    instagram_ok(&json!({"data": page, "paging": paging}), truncate)
}

async fn instagram_insights(
    state: web::Data<SimState>,
    path: web::Path<(String, String)>,
    query: web::Query<HashMap<String, String>>,
) -> HttpResponse {
    let (handle, truncate) = match instagram_gate(&state, &query).await {
        Ok(ok) => ok,
        Err(answer) => return answer,
    };
    let (_, wanted) = path.into_inner();
    let post = state
        .posts(Platform::Instagram)
        .into_iter()
        .find(|p| media_id(&state, &p.id) == wanted && p.account == handle)
        .filter(|p| state.post_state(Platform::Instagram, &p.id) != Some(SimPostState::Removed));
    let Some(post) = &post else {
        return instagram_error(
            400,
            100,
            "Unsupported get request. Object does not exist or cannot be loaded.",
        );
    };
    if state.few_viewers(Platform::Instagram, &post.id) {
        return instagram_error(400, 10, "(#10) Not enough viewers for the media to show insights");
    }
    let body = json!({"data": [{"name": "views", "period": "lifetime", "values": [{"value": state.views(post)}],
        "title": "Views", "description": "Total views", "id": format!("{wanted}/insights/views/lifetime")}]});
    instagram_ok(&body, truncate)
}

async fn instagram_me(
    state: web::Data<SimState>,
    query: web::Query<HashMap<String, String>>,
) -> HttpResponse {
    let (handle, truncate) = match instagram_gate(&state, &query).await {
        Ok(ok) => ok,
        Err(answer) => return answer,
    };
    let bio = state.bio(Platform::Instagram, &handle);
    instagram_ok(
        &json!({"id": format!("ig-{handle}"), "user_id": format!("ig-{handle}"), "username": handle, "biography": bio}),
        truncate,
    )
}

async fn instagram_refresh(
    state: web::Data<SimState>,
    query: web::Query<HashMap<String, String>>,
) -> HttpResponse {
    let (handle, _) = match instagram_gate(&state, &query).await {
        Ok(ok) => ok,
        Err(answer) => return answer,
    };
    if query.get("grant_type").map(String::as_str) != Some("ig_refresh_token") {
        return instagram_error(400, 100, "grant_type must be ig_refresh_token");
    }
    let mut tokens = lock(&state.tokens);
    let Some(token) = tokens.get_mut(&(Platform::Instagram, handle.clone())) else {
        return instagram_error(400, 190, "Invalid OAuth access token");
    };
    token.generation += 1;
    token.access = format!("IGQ.{handle}.{}", token.generation);
    HttpResponse::Ok()
        .json(json!({"access_token": token.access, "token_type": "bearer", "expires_in": 5_184_000}))
}
