//! `GET /metrics`: the Prometheus text format, for operators (admin token): HTTP latency by
//! route and status, polls by platform and outcome, how late due posts are polled (lease
//! lag), detection and embedding time, consent events. Labels never carry personal data.

use actix_web::HttpResponse;

use super::auth::{service_token, Caller};
use super::error::ApiError;
use super::error::ErrorDoc;

/// `GET /metrics`.
#[utoipa::path(get, path = "/metrics", tag = "operations", security(("bearer" = [])),
    responses(
        (status = 200, description = "Prometheus text exposition format", content_type = "text/plain", body = String),
        (status = 403, description = "Not an admin token", body = ErrorDoc),
    ))]
pub async fn metrics(caller: Caller) -> Result<HttpResponse, ApiError> {
    caller.service_with(service_token::ADMIN)?;
    let body = crate::telemetry::metrics().map(|handle| handle.render()).unwrap_or_default();
    Ok(HttpResponse::Ok().content_type("text/plain; version=0.0.4; charset=utf-8").body(body))
}
