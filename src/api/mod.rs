//! The HTTP layer: routes, error mapping and middleware. It talks to storage only through
//! the `store` traits and never sees SQL.

pub mod auth;
mod contents;
mod creators;
mod cursor;
mod detect;
mod disputes;
mod earnings;
pub mod error;
mod export;
mod file_body;
mod health;
mod limits;
pub mod media_work;
mod metrics;
mod oauth_linking;
mod openapi;
mod payouts;
mod posts;
pub(crate) mod rate_limit;

pub use limits::{Limits, MEDIA_BYTES_PER_PIXEL};
pub use payouts::issue_statement;
pub use rate_limit::RateLimitSettings;
pub mod request_id;
mod social_accounts;
mod unlinking;
mod upload;
mod views;
mod webhook_endpoints;
mod webhooks;

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::middleware::ErrorHandlers;
use actix_web::{error::InternalError, web, HttpRequest, HttpResponse};

use crate::consent::ConsentSettings;
use crate::store::Store;
use crate::watermark::Key;
use error::{json_error, ApiError};

/// What every handler can reach.
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub key: Key,
    pub limits: Limits,
    pub verifier: auth::CreatorVerifier,
    pub consent: ConsentSettings,
    /// Bounds concurrent media work (decoding, marking, detection).
    pub media_permits: std::sync::Arc<tokio::sync::Semaphore>,
    pub rate_limiter: rate_limit::CallerLimiter,
    /// The platform adapters (shared with the poller: one budget per platform).
    pub platforms: crate::platforms::Platforms,
    /// The identity provider's webhook secret; without it every delivery is refused.
    pub webhook_secret: Option<crate::consent::webhook::WebhookSecret>,
    /// Taken for writing around revocations and erasures (see `consent::locks`); the
    /// in-process poller shares them.
    pub consent_locks: std::sync::Arc<crate::consent::locks::ConsentLocks>,
    /// The temporary space uploads being spooled may hold at once, in KiB permits.
    pub spool_budget: std::sync::Arc<tokio::sync::Semaphore>,
    pub webhook_tolerance_secs: u64,
    pub payouts: crate::payouts::PayoutSettings,
    /// Outbound webhooks: which endpoint addresses may be registered.
    pub deliveries: crate::webhooks::DeliverySettings,
    /// Limits on video uploads, encoder quality, frames read for detection.
    pub video: crate::media::video::VideoSettings,
}

impl AppState {
    /// The consent gate of requests about one creator (an account proof, an OAuth exchange,
    /// a token revocation): a revocation committing meanwhile stops them or waits for their
    /// answer, as for a poll.
    pub(crate) fn creator_gate(
        &self,
        creator: &crate::domain::Creator,
    ) -> crate::tracking::consent_gate::ConsentGate {
        crate::tracking::consent_gate::ConsentGate::new(
            self.store.clone(),
            self.consent_locks.clone(),
            vec![(creator.id, creator.consent_changed_at)],
        )
    }
}

/// Registers every route, the body limits and the error mapping on an app. Used by `serve`
/// and by the tests alike.
pub fn configure(state: web::Data<AppState>) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg: &mut web::ServiceConfig| {
        let limits = state.limits.clone();
        cfg.app_data(state)
            .app_data(web::PayloadConfig::new(limits.body_bytes))
            .app_data(web::JsonConfig::default().limit(limits.json_bytes).error_handler(json_payload_error))
            .app_data(
                web::QueryConfig::default()
                    .error_handler(|err, _req| ApiError::bad_request("bad_query", err.to_string()).into()),
            )
            .app_data(web::PathConfig::default().error_handler(|err, _req| {
                ApiError::new(StatusCode::NOT_FOUND, "not_found", err.to_string()).into()
            }))
            // Resources (not bare routes) so a wrong method is a 405, not a 404.
            .service(web::resource("/healthz").get(health::healthz))
            .service(web::resource("/readyz").get(health::readyz))
            .service(web::resource("/openapi.json").get(openapi::document))
            .service(web::resource("/docs").get(openapi::docs_page))
            .service(web::resource("/docs/redoc.standalone.js").get(openapi::docs_script))
            .service(web::resource("/metrics").get(metrics::metrics))
            .service(
                web::resource("/v1/creators/me")
                    .post(creators::join)
                    .get(creators::me)
                    .patch(creators::correct)
                    .delete(creators::erase),
            )
            .service(web::resource("/v1/admin/creators/{id}/erase").post(creators::admin_erase))
            .service(web::resource("/v1/creators/me/export").get(export::export))
            .service(web::resource("/v1/creators/me/earnings").get(earnings::earnings))
            .service(web::resource("/v1/creators/me/disputes").get(disputes::mine))
            .service(web::resource("/v1/admin/disputes").get(disputes::list))
            .service(web::resource("/v1/admin/disputes/{id}/resolve").post(disputes::resolve))
            .service(
                web::resource("/v1/admin/webhook-endpoints")
                    .post(webhook_endpoints::create)
                    .get(webhook_endpoints::list),
            )
            .service(
                web::resource("/v1/admin/webhook-endpoints/{id}")
                    .patch(webhook_endpoints::change)
                    .delete(webhook_endpoints::delete),
            )
            .service(
                web::resource("/v1/admin/webhook-endpoints/{id}/deliveries")
                    .get(webhook_endpoints::deliveries),
            )
            .service(web::resource("/v1/admin/webhook-endpoints/{id}/replay").post(webhook_endpoints::replay))
            .service(web::resource("/v1/webhooks/identity").post(webhooks::identity))
            .service(
                web::resource("/v1/creators/me/consent").post(creators::change_consent).get(creators::ledger),
            )
            .service(web::resource("/v1/contents").post(contents::enroll).get(contents::list))
            .service(web::resource("/v1/contents/{id}").get(contents::get).delete(contents::delete))
            .service(web::resource("/v1/detect").post(detect::detect))
            .service(
                web::resource("/v1/social-accounts").post(social_accounts::link).get(social_accounts::list),
            )
            .service(web::resource("/v1/social-accounts/oauth/{platform}").post(oauth_linking::start))
            .service(
                web::resource("/v1/social-accounts/oauth/{platform}/callback").get(oauth_linking::callback),
            )
            .service(web::resource("/v1/social-accounts/{id}").delete(unlinking::unlink))
            .service(web::resource("/v1/social-accounts/{id}/verify").post(social_accounts::verify))
            .service(web::resource("/v1/payouts/verified-views").get(payouts::verified_views))
            .service(web::resource("/v1/payouts/statements").post(payouts::create_statement))
            .service(web::resource("/v1/payouts/statements/{id}").get(payouts::statement))
            .service(web::resource("/v1/admin/flags").get(payouts::flags))
            .service(web::resource("/v1/admin/flags/{id}/clear").post(payouts::clear_flag))
            .service(web::resource("/v1/posts").post(posts::register).get(posts::list))
            .service(web::resource("/v1/posts/{id}").get(posts::get).delete(posts::stop))
            .service(web::resource("/v1/posts/{id}/disputes").post(disputes::open));
    }
}

/// Malformed or oversized JSON becomes a precise 4xx.
fn json_payload_error(err: actix_web::error::JsonPayloadError, _req: &HttpRequest) -> actix_web::Error {
    use actix_web::error::JsonPayloadError as E;
    let api = match &err {
        E::OverflowKnownLength { .. } | E::Overflow { .. } => {
            ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", err.to_string())
        }
        E::ContentType => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "expected Content-Type: application/json",
        ),
        E::Deserialize(e) => ApiError::bad_request("bad_json", e.to_string()),
        _ => ApiError::bad_request("bad_json", err.to_string()),
    };
    let response = json_error(api.status, api.code, &api.message);
    InternalError::from_response(err, response).into()
}

/// The answer for paths nothing matches.
pub async fn not_found() -> HttpResponse {
    json_error(StatusCode::NOT_FOUND, "not_found", "no such route")
}

/// Middleware every app gets: JSON bodies on framework errors, then request ids (outermost,
/// so even rewritten errors carry the id).
pub fn error_handlers<B: actix_web::body::MessageBody + 'static>() -> ErrorHandlers<B> {
    ErrorHandlers::new().default_handler(error::ensure_json_body)
}
