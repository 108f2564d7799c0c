//! Content enrollment and lookup: creators (and the generation backend on their behalf)
//! send an output and get it back watermarked; only its metadata is stored.

use actix_web::http::header;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use base64::Engine;
use image::ImageFormat;
use serde::{Deserialize, Serialize};

use super::auth::JoinedCreator;
use super::auth::{content_viewer, current_creator, require_tracking_consent};
use super::auth::{forbidden, service_token, Caller};
use super::error::ErrorDoc;
use super::error::{store_error, ApiError};
use super::media_work::media_task;
use super::upload::{media_error, read_media_upload, video_error, Upload};
use super::views::ContentView;
use super::AppState;
use crate::domain::{Content, ContentId, Creator, MediaKind};
use crate::media::enroll::{self, MarkedOutput, MarkedVideo};
use crate::media::video::Container;
use crate::store::{ContentCursor, NewContent, StoreError};

/// Attempts at a fresh payload before giving up (a clash is a one-in-2^64 event per pair).
const PAYLOAD_ATTEMPTS: usize = 3;
const DEFAULT_PAGE: u32 = 50;
const MAX_PAGE: u32 = 200;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrollQuery {
    /// For service callers: the identity provider's id of the creator enrolled for.
    user_id: Option<String>,
    /// Output format: png, jpeg or webp (the input's format when absent).
    format: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    limit: Option<u32>,
    cursor: Option<String>,
}

/// A page of contents; `next_cursor` continues it (absent on the last page).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ContentPage {
    items: Vec<ContentView>,
    next_cursor: Option<String>,
}

/// The JSON form of an enrollment's answer (`Accept: application/json`).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Enrolled {
    content: ContentView,
    /// The marked picture (for a picture upload).
    #[serde(skip_serializing_if = "Option::is_none")]
    image: Option<EncodedMedia>,
    /// The marked video (for a video upload).
    #[serde(skip_serializing_if = "Option::is_none")]
    video: Option<EncodedMedia>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EncodedMedia {
    media_type: String,
    base64: String,
}

fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such content")
}

fn output_format(name: Option<&str>) -> Result<Option<ImageFormat>, ApiError> {
    match name {
        None => Ok(None),
        Some("png") => Ok(Some(ImageFormat::Png)),
        Some("jpeg") | Some("jpg") => Ok(Some(ImageFormat::Jpeg)),
        Some("webp") => Ok(Some(ImageFormat::WebP)),
        Some(_) => Err(ApiError::bad_request("bad_format", "format must be png, jpeg or webp")),
    }
}

/// The creator an enrollment is for: the caller, or the one a `content:write` service names.
async fn enrollee(state: &AppState, caller: &Caller, user_id: Option<&str>) -> Result<Creator, ApiError> {
    match caller {
        Caller::Creator(identity) => {
            if user_id.is_some_and(|u| u != identity.user_id) {
                return Err(forbidden("creators enroll for themselves only"));
            }
            current_creator(state, caller).await
        }
        Caller::Service(_) => {
            caller.service_with(service_token::CONTENT_WRITE)?;
            let user_id = user_id.ok_or_else(|| {
                ApiError::bad_request("user_id_required", "name the creator with ?user_id=")
            })?;
            state.store.creator_by_user_id(user_id).await?.ok_or_else(|| {
                ApiError::new(
                    StatusCode::NOT_FOUND,
                    "unknown_creator",
                    "no creator has joined with that user id",
                )
            })
        }
    }
}

/// `POST /v1/contents`: marks the uploaded picture or video and returns it.
#[utoipa::path(post, path = "/v1/contents", tag = "contents", security(("bearer" = [])),
    params(
        ("user_id" = Option<String>, Query, description = "For content:write services: the creator's identity provider id"),
        ("format" = Option<String>, Query, description = "png, jpeg or webp (default: as sent)"),
    ),
    request_body(description = "The picture or video, raw (image/png, image/jpeg, image/webp, video/mp4, video/quicktime, video/webm) or multipart/form-data with a part named image or video", content_type = "application/octet-stream"),
    responses(
        (status = 201, description = "The watermarked picture or video in the format sent (X-Content-Id names the content), or its JSON form with Accept: application/json", body = Enrolled),
        (status = 400, description = "Bad or truncated picture or video, bad parameters", body = ErrorDoc),
        (status = 403, description = "Consent revoked, or enrolling for someone else", body = ErrorDoc),
        (status = 413, description = "Body, picture or video over the limits (bytes, pixels, duration)", body = ErrorDoc),
        (status = 415, description = "Not PNG, JPEG, WebP, MP4, MOV or WebM", body = ErrorDoc),
        (status = 422, description = "A picture under 256 pixels on a side: too small to carry a mark that can be detected", body = ErrorDoc),
    ))]
pub async fn enroll(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<EnrollQuery>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let creator = enrollee(&state, &caller, query.user_id.as_deref()).await?;
    require_tracking_consent(&creator)?;
    let format = output_format(query.format.as_deref())?;
    let upload = read_media_upload(&req, payload, &state).await?;
    let bytes = match upload {
        Upload::Picture(bytes) => std::sync::Arc::new(bytes),
        Upload::Video { file, container, space } => {
            // The spooled file's share of the budget is held until its work ends.
            let _space = space;
            if format.is_some() {
                return Err(ApiError::bad_request(
                    "bad_format",
                    "format applies to pictures; a video keeps its own",
                ));
            }
            return enroll_video(&state, &caller, &creator, &req, file, container).await;
        }
    };
    let limits = (&state.limits).into();

    for _ in 0..PAYLOAD_ATTEMPTS {
        let payload = enroll::fresh_payload();
        let (key, input) = (state.key.clone(), bytes.clone());
        let marked =
            media_task(&state, &req, move || enroll::mark_image(&input, &limits, &key, payload, format))
                .await?
                .map_err(media_error)?;
        let new = NewContent {
            creator_id: creator.id,
            payload,
            media_kind: MediaKind::Image,
            width: marked.width,
            height: marked.height,
            sha256: marked.sha256.clone(),
            references: Some(marked.references.clone()),
            at: chrono::Utc::now(),
        };
        if let Some(content) = record(&state, &new).await? {
            tracing::info!(creator_id = %creator.id, content_id = %content.id, caller = %caller.log_id(), "content enrolled");
            return Ok(enrolled_response(&req, &content, marked));
        }
    }
    Err(ApiError::internal())
}

/// The video branch of `enroll`: every frame marked, the file returned as it was sent
/// (same container), streamed from disk.
async fn enroll_video(
    state: &AppState,
    caller: &Caller,
    creator: &Creator,
    req: &HttpRequest,
    input: tempfile::NamedTempFile,
    container: Container,
) -> Result<HttpResponse, ApiError> {
    let input = std::sync::Arc::new(input);
    for _ in 0..PAYLOAD_ATTEMPTS {
        let payload = enroll::fresh_payload();
        let (key, settings, input) = (state.key.clone(), state.video.clone(), input.clone());
        let marked =
            media_task(state, req, move || -> Result<(tempfile::NamedTempFile, MarkedVideo), ApiError> {
                let output = settings.spool_file(container).map_err(|_| ApiError::internal())?;
                let marked = enroll::mark_video(input.path(), output.path(), &settings, &key, payload)
                    .map_err(video_error)?;
                Ok((output, marked))
            })
            .await??;
        let (output, marked) = marked;
        let new = NewContent {
            creator_id: creator.id,
            payload,
            media_kind: MediaKind::Video,
            width: marked.width,
            height: marked.height,
            sha256: marked.sha256.clone(),
            references: Some(marked.references.clone()),
            at: chrono::Utc::now(),
        };
        if let Some(content) = record(state, &new).await? {
            tracing::info!(creator_id = %creator.id, content_id = %content.id, caller = %caller.log_id(), frames = marked.frames, "video enrolled");
            return video_response(req, &content, output, container).await;
        }
    }
    Err(ApiError::internal())
}

/// Stores a marked output's metadata; `None` when the payload is already taken (the caller
/// marks again with another).
async fn record(state: &AppState, new: &NewContent) -> Result<Option<Content>, ApiError> {
    match state.store.insert_content(new).await {
        Ok(content) => Ok(Some(content)),
        Err(StoreError::Conflict(_)) => Ok(None),
        Err(other) => Err(store_error(other)),
    }
}

async fn video_response(
    req: &HttpRequest,
    content: &Content,
    output: tempfile::NamedTempFile,
    container: Container,
) -> Result<HttpResponse, ApiError> {
    let mut response = HttpResponse::Created();
    response
        .insert_header((header::LOCATION, format!("/v1/contents/{}", content.id)))
        .insert_header(("x-content-id", content.id.to_string()));
    if wants_json(req) {
        let bytes = tokio::fs::read(output.path()).await.map_err(|_| ApiError::internal())?;
        return Ok(response.json(Enrolled {
            content: ContentView::from(content),
            image: None,
            video: Some(EncodedMedia {
                media_type: container.mime_type().to_owned(),
                base64: base64::engine::general_purpose::STANDARD.encode(bytes),
            }),
        }));
    }
    let (length, body) = super::file_body::stream(output).await.map_err(|_| ApiError::internal())?;
    Ok(response.content_type(container.mime_type()).no_chunking(length).streaming(body))
}

fn wants_json(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("application/json"))
}

fn enrolled_response(req: &HttpRequest, content: &Content, marked: MarkedOutput) -> HttpResponse {
    let media_type = marked.format.to_mime_type();
    let location = format!("/v1/contents/{}", content.id);
    let mut response = HttpResponse::Created();
    response
        .insert_header((header::LOCATION, location))
        .insert_header(("x-content-id", content.id.to_string()));
    if wants_json(req) {
        response.json(Enrolled {
            content: ContentView::from(content),
            image: Some(EncodedMedia {
                media_type: media_type.to_owned(),
                base64: base64::engine::general_purpose::STANDARD.encode(&marked.bytes),
            }),
            video: None,
        })
    } else {
        response.content_type(media_type).body(marked.bytes)
    }
}

fn encode_cursor(c: &Content) -> String {
    super::cursor::encode(c.created_at, c.id)
}

fn decode_cursor(text: &str) -> Result<ContentCursor, ApiError> {
    let (created_at, id) = super::cursor::decode(text)?;
    Ok(ContentCursor { created_at, id })
}

/// `GET /v1/contents`: the caller's contents, oldest first, a page at a time.
#[utoipa::path(get, path = "/v1/contents", tag = "contents", security(("bearer" = [])),
    params(("limit" = Option<u32>, Query, description = "1 to 200, default 50"), ("cursor" = Option<String>, Query, description = "next_cursor of the previous page")),
    responses((status = 200, body = ContentPage), (status = 400, description = "Bad limit or cursor", body = ErrorDoc)))]
pub async fn list(
    state: web::Data<AppState>,
    JoinedCreator(creator): JoinedCreator,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = query.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::bad_request("bad_limit", format!("limit must be 1 to {MAX_PAGE}")));
    }
    let after = query.cursor.as_deref().map(decode_cursor).transpose()?;
    let page = state.store.contents_for_creator(creator.id, after, limit).await?;
    let next_cursor = (page.len() == limit as usize).then(|| page.last().map(encode_cursor)).flatten();
    let items = page.iter().map(ContentView::from).collect();
    Ok(HttpResponse::Ok().json(ContentPage { items, next_cursor }))
}

/// `GET /v1/contents/{id}`: one content, for its creator or an operator.
#[utoipa::path(get, path = "/v1/contents/{id}", tag = "contents", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Content id")),
    responses((status = 200, body = ContentView), (status = 404, description = "No such content (or not the caller's)", body = ErrorDoc)))]
pub async fn get(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<ContentId>,
) -> Result<HttpResponse, ApiError> {
    // Who may look is settled before anything is looked up, so a refusal says nothing
    // about whether the id exists.
    let owner = content_viewer(&state, &caller).await?;
    let content = state.store.content(*id).await?.ok_or_else(not_found)?;
    // Another creator's content is indistinguishable from none.
    if owner.is_some_and(|owner| owner != content.creator_id) {
        return Err(not_found());
    }
    Ok(HttpResponse::Ok().json(ContentView::from(&content)))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ContentDeleted {
    content_id: ContentId,
    /// Posts of it no longer tracked (status `stopped`, reason `content_deleted`).
    posts_stopped: u64,
}

/// `DELETE /v1/contents/{id}`: deletes one upload. Its payload mapping, hash and references
/// go, so its mark detects as unknown; its posts stop being tracked, and no request about
/// them leaves after the answer; lines already in statements stay. For its creator, or the
/// generator's service token (`content:write`).
#[utoipa::path(delete, path = "/v1/contents/{id}", tag = "contents", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Content id")),
    responses(
        (status = 200, description = "Deleted", body = ContentDeleted),
        (status = 404, description = "No such content (or not the caller's)", body = ErrorDoc),
    ))]
pub async fn delete(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<ContentId>,
) -> Result<HttpResponse, ApiError> {
    // Who may delete is settled before anything is looked up.
    let owner = match &caller {
        Caller::Service(_) => {
            caller.service_with(service_token::CONTENT_WRITE)?;
            None
        }
        Caller::Creator(_) => Some(current_creator(&state, &caller).await?.id),
    };
    let content = state.store.content(*id).await?.ok_or_else(not_found)?;
    if owner.is_some_and(|owner| owner != content.creator_id) {
        return Err(not_found());
    }
    let stopped = crate::consent::changes::delete_content(
        state.store.as_ref(),
        &state.consent_locks,
        content.creator_id,
        content.id,
    )
    .await?
    .ok_or_else(not_found)?;
    Ok(HttpResponse::Ok().json(ContentDeleted { content_id: content.id, posts_stopped: stopped }))
}
