//! The JSON error body every error response carries: `{"error": {"code", "message"}}`.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::ServiceResponse;
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::middleware::ErrorHandlerResponse;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct ErrorBody<'a> {
    pub error: ErrorDetail<'a>,
}

#[derive(Debug, Serialize)]
pub struct ErrorDetail<'a> {
    pub code: &'a str,
    pub message: &'a str,
}

/// The error body every 4xx and 5xx carries, as the OpenAPI document describes it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorDoc {
    error: ErrorDetailDoc,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorDetailDoc {
    /// Stable, machine-readable.
    code: String,
    /// For people.
    message: String,
}

/// The `Retry-After` of a 429 or 503 whose cause names no wait of its own.
const DEFAULT_RETRY_AFTER_SECS: u64 = 5;

/// An error answered to the caller: a status, a stable machine-readable code and a message
/// written for people.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Seconds to wait before retrying, sent as `Retry-After` (429, 503).
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError { status, code, message: message.into(), retry_after: None }
    }

    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
    }

    pub fn internal() -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error")
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = json_error(self.status, self.code, &self.message);
        // Every 429 and 503 says when to come back: the error's own wait, or a short default.
        let retry_after = self.retry_after.or(match self.status {
            StatusCode::TOO_MANY_REQUESTS => Some(DEFAULT_RETRY_AFTER_SECS),
            StatusCode::SERVICE_UNAVAILABLE => Some(DEFAULT_RETRY_AFTER_SECS),
            _ => None,
        });
        if let Some(seconds) = retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            // RFC 6750: a 401 names the scheme the caller should use.
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

pub fn json_error(status: StatusCode, code: &str, message: &str) -> HttpResponse {
    HttpResponse::build(status).json(ErrorBody { error: ErrorDetail { code, message } })
}

/// A stable code for a status, for error responses built by the framework (404, 405, 413...).
pub fn code_for_status(status: StatusCode) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::NOT_ACCEPTABLE => "not_acceptable",
        StatusCode::CONFLICT => "conflict",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNPROCESSABLE_ENTITY => "unprocessable",
        StatusCode::TOO_MANY_REQUESTS => "rate_limited",
        StatusCode::SERVICE_UNAVAILABLE => "unavailable",
        s if s.is_client_error() => "client_error",
        _ => "internal",
    }
}

/// Rewrites any error response that is not already JSON (framework 404s, 405s, payload and
/// extractor errors) into the JSON error body, keeping its status and headers.
pub fn ensure_json_body<B: MessageBody + 'static>(
    res: ServiceResponse<B>,
) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let is_json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let status = res.status();
    // Framework errors carry their cause as a plain-text body; keep a short, safe message.
    let message = status.canonical_reason().unwrap_or("error").to_lowercase();
    let (req, old) = res.into_parts();
    let mut new = json_error(status, code_for_status(status), &message);
    for (name, value) in old.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            new.headers_mut().insert(name.clone(), value.clone());
        }
    }
    new.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    let res: ServiceResponse<BoxBody> = ServiceResponse::new(req, new);
    Ok(ErrorHandlerResponse::Response(res.map_into_right_body()))
}

impl From<crate::store::StoreError> for ApiError {
    fn from(err: crate::store::StoreError) -> Self {
        store_error(err)
    }
}

/// A storage failure as the caller sees it: 503 while the database is unreachable, else a
/// bare 500 (the details go to the log, never to the caller).
pub fn store_error(err: crate::store::StoreError) -> ApiError {
    match err {
        crate::store::StoreError::Unreachable(_) => ApiError::unavailable("the database is unavailable"),
        crate::store::StoreError::KeyUnavailable => ApiError::new(
            StatusCode::GONE,
            "erased",
            "this data has been erased; repeat DELETE /v1/creators/me if an erasure did not complete",
        ),
        other => {
            tracing::error!(error = %other, "storage failure");
            ApiError::internal()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_429_and_503_says_when_to_retry() {
        let retry_after = |e: ApiError| {
            e.error_response()
                .headers()
                .get(header::RETRY_AFTER)
                .map(|v| v.to_str().unwrap_or("?").to_owned())
        };
        assert_eq!(retry_after(ApiError::unavailable("down")), Some("5".into()));
        let limited = ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", "slow down");
        assert_eq!(retry_after(limited.clone()), Some("5".into()));
        assert_eq!(retry_after(limited.with_retry_after(7)), Some("7".into()));
        assert_eq!(retry_after(ApiError::bad_request("bad", "no")), None);
    }
}
