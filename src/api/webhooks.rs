//! The identity provider's webhooks. `user.deleted` erases the creator (if they joined),
//! exactly as `DELETE /v1/creators/me` would. Deliveries are verified (Svix signatures,
//! timestamp tolerance) before anything is read, and a replayed delivery id is a no-op.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use super::error::ApiError;
use super::error::ErrorDoc;
use super::AppState;
use crate::consent::webhook::WebhookError;
use crate::domain::ErasureTrigger;

#[derive(Debug, Deserialize)]
struct IdentityEvent {
    #[serde(rename = "type")]
    kind: String,
    data: EventData,
}

#[derive(Debug, Deserialize)]
struct EventData {
    id: String,
}

fn refused(error: WebhookError) -> ApiError {
    let (status, code) = match error {
        WebhookError::BadTimestamp => (StatusCode::BAD_REQUEST, "bad_webhook"),
        WebhookError::Stale(_) => (StatusCode::UNAUTHORIZED, "stale_webhook"),
        WebhookError::MissingHeaders => (StatusCode::UNAUTHORIZED, "unauthorized"),
        WebhookError::NotConfigured | WebhookError::BadSecret | WebhookError::BadSignature => {
            (StatusCode::UNAUTHORIZED, "bad_signature")
        }
    };
    ApiError::new(status, code, error.to_string())
}

/// `POST /v1/webhooks/identity`: the identity provider's events.
#[utoipa::path(post, path = "/v1/webhooks/identity", tag = "webhooks", security(("svix" = [])),
    request_body(description = "A Svix-signed event, e.g. {\"type\": \"user.deleted\", \"data\": {\"id\": \"...\"}}", content_type = "application/json"),
    responses(
        (status = 200, description = "Handled (an erasure receipt id for user.deleted), ignored, or a replay"),
        (status = 400, description = "Not an event, or a malformed timestamp", body = ErrorDoc),
        (status = 401, description = "Missing or bad signature, or a stale timestamp", body = ErrorDoc),
        (status = 413, description = "Larger than the JSON limit", body = ErrorDoc),
        (status = 415, description = "A compressed body", body = ErrorDoc),
    ))]
pub async fn identity(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let secret = state.webhook_secret.as_ref().ok_or_else(|| refused(WebhookError::NotConfigured))?;
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    let (Some(id), Some(timestamp), Some(signatures)) =
        (header("svix-id"), header("svix-timestamp"), header("svix-signature"))
    else {
        return Err(refused(WebhookError::MissingHeaders));
    };
    // Nothing is inflated before the signature is checked: the provider sends plain JSON,
    // and a compressed body could expand a thousandfold first.
    if header("content-encoding").is_some_and(|e| !e.eq_ignore_ascii_case("identity")) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_encoding",
            "webhook bodies must not be compressed",
        ));
    }
    let too_large = || ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", "event too large");
    let body = payload.to_bytes_limited(state.limits.json_bytes).await.map_err(|_| too_large())?;
    let body = body.map_err(|e| ApiError::bad_request("bad_body", e.to_string()))?;
    let now = chrono::Utc::now().timestamp();
    secret.verify(id, timestamp, signatures, &body, now, state.webhook_tolerance_secs).map_err(refused)?;
    let event: IdentityEvent =
        serde_json::from_slice(&body).map_err(|e| ApiError::bad_request("bad_event", e.to_string()))?;
    // Recorded before acting, so a replay is recognised. A replay still completes an erasure
    // the first delivery left unfinished (it crashed after destroying the data key): the
    // creator is then still found, and erasure is idempotent. Otherwise it does nothing.
    let first = state.store.first_delivery(id, chrono::Utc::now()).await?;
    let nothing = |status: &str| {
        Ok(HttpResponse::Ok().json(json!({"status": if first { status } else { "duplicate" }})))
    };
    if event.kind != "user.deleted" {
        return nothing("ignored");
    }
    let (store, locks, trigger) = (state.store.as_ref(), &state.consent_locks, ErasureTrigger::Webhook);
    let receipt =
        crate::consent::changes::erase_user(store, locks, &event.data.id, trigger, chrono::Utc::now())
            .await?;
    match receipt {
        Some(receipt) => Ok(HttpResponse::Ok().json(json!({"status": "erased", "receipt_id": receipt.id}))),
        None => nothing("no such creator"),
    }
}
