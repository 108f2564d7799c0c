//! `POST /v1/detect`: which enrolled content a picture or video carries, if any the caller may see.
//! Operators see any content; a creator sees only their own (another creator's content
//! answers exactly like an unmarked image).

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;

use super::auth::content_viewer;
use super::auth::Caller;
use super::error::ApiError;
use super::error::ErrorDoc;
use super::media_work::media_task;
use super::upload::{input_error, read_media_upload, Upload};
use super::views::ContentView;
use super::AppState;
use crate::media::recognize::{self, Binding};

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct DetectView {
    found: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<ContentView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    score: Option<f32>,
}

#[utoipa::path(post, path = "/v1/detect", tag = "contents", security(("bearer" = [])),
    request_body(description = "A picture or video (MP4, MOV, WebM), raw or multipart/form-data", content_type = "application/octet-stream"),
    responses((status = 200, description = "Which content the image carries, among those the caller may see", body = DetectView),
        (status = 413, body = ErrorDoc), (status = 415, body = ErrorDoc)))]
pub async fn detect(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let viewer = content_viewer(&state, &caller).await?;
    let upload = read_media_upload(&req, payload, &state).await?;
    let (limits, video, key) = ((&state.limits).into(), state.video.clone(), state.key.clone());
    let found = media_task(&state, &req, move || match upload {
        Upload::Picture(bytes) => recognize::detect_in_bytes(&bytes, &limits, &video, &key),
        Upload::Video { file, space, .. } => {
            let _space = space;
            recognize::detect_in_video(file.path(), &video, &key).map_err(recognize::InputError::from)
        }
    })
    .await?
    .map_err(input_error)?;

    let mut answer = DetectView { found: false, content: None, score: None };
    // A collage or a duet carries several marks: the answer is the best one the caller may see.
    for found in found {
        // An erased creator's payload no longer maps to anything: "unknown".
        let payload = found.detection.payload;
        if let Some(content) = state.store.content_by_payload(payload).await? {
            let references = state.store.content_references(&content).await?;
            // A mark copied onto other media names a content the media does not show: no content.
            let shown =
                !matches!(recognize::binding(&found, references.as_deref()), Binding::Transplanted(_));
            if shown && viewer.is_none_or(|viewer| viewer == content.creator_id) {
                answer = DetectView {
                    found: true,
                    content: Some(ContentView::from(&content)),
                    score: Some(found.detection.score),
                };
                break;
            }
        }
    }
    tracing::info!(caller = %caller.log_id(), found = answer.found, "detection");
    Ok(HttpResponse::Ok().json(answer))
}
