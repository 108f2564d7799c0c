//! Media uploads: a raw body (`Content-Type: image/...`) or `multipart/form-data` with the
//! file in a part named `image` (or the first file part). Reading stops at the byte limit,
//! before anything is decoded.

use actix_multipart::Multipart;
use actix_web::http::header::CONTENT_TYPE;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest};
use futures_util::StreamExt;

use super::error::ApiError;
use crate::media::image_io::MediaError;

fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        format!("uploads are limited to {limit} bytes"),
    )
}

/// The uploaded file's bytes, at most `limit` of them.
pub async fn read_upload(
    req: &HttpRequest,
    payload: web::Payload,
    limit: usize,
) -> Result<Vec<u8>, ApiError> {
    let content_type = req.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let bytes = if content_type.starts_with("multipart/form-data") {
        read_multipart(Multipart::new(req.headers(), payload), limit).await?
    } else {
        read_raw(payload, limit).await?
    };
    if bytes.is_empty() {
        return Err(ApiError::bad_request("empty_upload", "the request carries no file"));
    }
    Ok(bytes)
}

async fn read_raw(mut payload: web::Payload, limit: usize) -> Result<Vec<u8>, ApiError> {
    let mut bytes = Vec::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| match e {
            actix_web::error::PayloadError::Overflow => too_large(limit),
            other => ApiError::bad_request("bad_upload", other.to_string()),
        })?;
        if bytes.len() + chunk.len() > limit {
            return Err(too_large(limit));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

async fn read_multipart(mut form: Multipart, limit: usize) -> Result<Vec<u8>, ApiError> {
    let bad = |e: actix_multipart::MultipartError| ApiError::bad_request("bad_multipart", e.to_string());
    while let Some(field) = form.next().await {
        let mut field = field.map_err(bad)?;
        let is_file = field
            .content_disposition()
            .is_some_and(|d| d.get_name() == Some("image") || d.get_filename().is_some());
        let mut bytes = Vec::new();
        while let Some(chunk) = field.next().await {
            let chunk = chunk.map_err(bad)?;
            if bytes.len() + chunk.len() > limit {
                return Err(too_large(limit));
            }
            if is_file {
                bytes.extend_from_slice(&chunk);
            }
        }
        if is_file {
            return Ok(bytes);
        }
    }
    Err(ApiError::bad_request("empty_upload", "the form has no part named 'image'"))
}

/// A media problem as the caller should see it.
pub fn media_error(err: MediaError) -> ApiError {
    let (status, code) = match &err {
        MediaError::TooManyBytes(..) => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
        MediaError::TooLarge(..) => (StatusCode::PAYLOAD_TOO_LARGE, "image_too_large"),
        MediaError::UnknownFormat | MediaError::UnsupportedFormat(_) => {
            (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_image_format")
        }
        MediaError::Empty | MediaError::Corrupt(_) => (StatusCode::BAD_REQUEST, "bad_image"),
        MediaError::Encode(_) => return ApiError::internal(),
    };
    ApiError::new(status, code, err.to_string())
}
