//! Registering posts for tracking, and what tracking found: status (pending, verified,
//! unverified, removed, stopped), the latest views and the verification evidence.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::auth::content_viewer;
use super::auth::Caller;
use super::auth::JoinedCreator;
use super::auth::{current_creator, require_tracking_consent};
use super::error::ErrorDoc;
use super::error::{store_error, ApiError};
use super::AppState;
use crate::domain::{AccountId, ContentId, Platform, Post, PostId, PostSource, PostStatus};
use crate::store::PostCursor;
use crate::tracking::registration::{register_post, Registration, RegistrationError};

const DEFAULT_PAGE: u32 = 50;
const MAX_PAGE: u32 = 200;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterBody {
    /// The post's address as copied from the platform.
    url: String,
    /// The enrolled content the post carries, if the creator names it.
    content_id: Option<ContentId>,
    /// Which of the creator's proven accounts posted it (needed only with several proven
    /// accounts on that platform).
    social_account_id: Option<AccountId>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    limit: Option<u32>,
    cursor: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct EvidenceView {
    verified_at: DateTime<Utc>,
    media_sha256: String,
    score: f64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PostView {
    id: PostId,
    platform: Platform,
    platform_post_id: String,
    url: String,
    social_account_id: AccountId,
    content_id: Option<ContentId>,
    /// `registered` by the creator, or `discovered` by a scan of their account.
    #[schema(value_type = String)]
    source: PostSource,
    #[schema(value_type = String)]
    status: PostStatus,
    status_reason: Option<String>,
    latest_views: Option<u64>,
    latest_views_at: Option<DateTime<Utc>>,
    evidence: Option<EvidenceView>,
    /// When it is polled next (absent once tracking has ended).
    next_poll_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PostPage {
    items: Vec<PostView>,
    next_cursor: Option<String>,
}

async fn view(state: &AppState, post: &Post) -> Result<PostView, ApiError> {
    let latest = state.store.latest_snapshot(post.id).await?;
    let tracking = matches!(post.status, PostStatus::Pending | PostStatus::Verified);
    Ok(PostView {
        id: post.id,
        platform: post.platform,
        platform_post_id: post.platform_post_id.clone(),
        url: post.url.clone(),
        social_account_id: post.social_account_id,
        content_id: post.content_id,
        source: post.source,
        status: post.status,
        status_reason: post.status_reason.clone(),
        latest_views: latest.as_ref().map(|s| s.views),
        latest_views_at: latest.as_ref().map(|s| s.observed_at),
        evidence: post.evidence.as_ref().map(|e| EvidenceView {
            verified_at: e.verified_at,
            media_sha256: e.media_sha256.clone(),
            score: e.score,
        }),
        next_poll_at: tracking.then_some(post.next_poll_at),
        created_at: post.created_at,
    })
}

/// `POST /v1/posts`: registers a post for tracking.
#[utoipa::path(post, path = "/v1/posts", tag = "posts", security(("bearer" = [])),
    request_body = RegisterBody,
    responses(
        (status = 201, description = "Registered; pending until the watermark is verified", body = PostView),
        (status = 400, description = "Not a post URL, or several proven accounts and none named", body = ErrorDoc),
        (status = 403, description = "Consent revoked", body = ErrorDoc),
        (status = 404, description = "No such content or account of the caller's", body = ErrorDoc),
        (status = 409, description = "The post is already registered", body = ErrorDoc),
        (status = 422, description = "No proven account on that platform", body = ErrorDoc),
    ))]
pub async fn register(
    state: web::Data<AppState>,
    JoinedCreator(creator): JoinedCreator,
    body: web::Json<RegisterBody>,
) -> Result<HttpResponse, ApiError> {
    require_tracking_consent(&creator)?;
    let body = body.into_inner();
    let request = Registration {
        url: body.url,
        content_id: body.content_id,
        social_account_id: body.social_account_id,
    };
    let post = register_post(state.store.as_ref(), &creator, &request).await.map_err(|e| {
        let message = e.to_string();
        match e {
            RegistrationError::BadUrl(_) => ApiError::bad_request("bad_post_url", message),
            RegistrationError::UnknownAccount | RegistrationError::UnknownContent => {
                ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
            }
            RegistrationError::Unproven => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "unproven_account", message)
            }
            RegistrationError::AmbiguousAccount => ApiError::bad_request("ambiguous_account", message),
            RegistrationError::Taken => ApiError::new(StatusCode::CONFLICT, "post_taken", message),
            RegistrationError::Store(e) => store_error(e),
        }
    })?;
    Ok(HttpResponse::Created().json(view(&state, &post).await?))
}

/// `GET /v1/posts`: the caller's posts, oldest first, a page at a time.
#[utoipa::path(get, path = "/v1/posts", tag = "posts", security(("bearer" = [])),
    params(("limit" = Option<u32>, Query, description = "1 to 200, default 50"), ("cursor" = Option<String>, Query, description = "next_cursor of the previous page")),
    responses((status = 200, body = PostPage), (status = 400, description = "Bad limit or cursor", body = ErrorDoc)))]
pub async fn list(
    state: web::Data<AppState>,
    JoinedCreator(creator): JoinedCreator,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = query.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::bad_request("bad_limit", format!("limit must be 1 to {MAX_PAGE}")));
    }
    let after = match query.cursor.as_deref() {
        Some(text) => {
            super::cursor::decode(text).map(|(created_at, id)| Some(PostCursor { created_at, id }))?
        }
        None => None,
    };
    let page = state.store.posts_for_creator(creator.id, after, limit).await?;
    let next_cursor = (page.len() == limit as usize)
        .then(|| page.last().map(|p| super::cursor::encode(p.created_at, p.id)))
        .flatten();
    let mut items = Vec::with_capacity(page.len());
    for post in &page {
        items.push(view(&state, post).await?);
    }
    Ok(HttpResponse::Ok().json(PostPage { items, next_cursor }))
}

/// The post, if the caller may see it (its creator, or an operator); another creator's post
/// is indistinguishable from none.
async fn visible_post(state: &AppState, caller: &Caller, id: PostId) -> Result<Post, ApiError> {
    let owner = content_viewer(state, caller).await?;
    let not_found = || ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such post");
    let post = state.store.post(id).await?.ok_or_else(not_found)?;
    if owner.is_some_and(|owner| owner != post.creator_id) {
        return Err(not_found());
    }
    Ok(post)
}

/// `GET /v1/posts/{id}`: one post's status, views and evidence.
#[utoipa::path(get, path = "/v1/posts/{id}", tag = "posts", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Post id")),
    responses((status = 200, body = PostView), (status = 404, description = "No such post (or not the caller's)", body = ErrorDoc)))]
pub async fn get(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<PostId>,
) -> Result<HttpResponse, ApiError> {
    let post = visible_post(&state, &caller, *id).await?;
    Ok(HttpResponse::Ok().json(view(&state, &post).await?))
}

/// `DELETE /v1/posts/{id}`: stops tracking a post (its history stays). Idempotent.
#[utoipa::path(delete, path = "/v1/posts/{id}", tag = "posts", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Post id")),
    responses((status = 200, description = "Stopped", body = PostView), (status = 404, description = "No such post (or not the caller's)", body = ErrorDoc)))]
pub async fn stop(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<PostId>,
) -> Result<HttpResponse, ApiError> {
    let creator = current_creator(&state, &caller).await?;
    let post = visible_post(&state, &caller, *id).await?;
    let stopped = state.store.stop_post(post.id).await?.unwrap_or(post);
    tracing::info!(creator_id = %creator.id, post_id = %stopped.id, "post tracking stopped");
    Ok(HttpResponse::Ok().json(view(&state, &stopped).await?))
}
