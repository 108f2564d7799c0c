//! Liveness and readiness.

use actix_web::{web, HttpResponse};
use serde_json::json;

use super::{error::ApiError, AppState};

/// The process is alive and serving.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// The database answers and every migration is applied.
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    if let Err(err) = state.store.ping().await {
        tracing::warn!(error = %err, "readiness: database does not answer");
        return Err(ApiError::unavailable("database does not answer"));
    }
    match state.store.pending_migrations().await {
        Ok(0) => Ok(HttpResponse::Ok().json(json!({
            "status": "ready",
            "database": state.store.backend().as_str(),
        }))),
        Ok(pending) => Err(ApiError::unavailable(format!("{pending} database migrations pending"))),
        Err(err) => {
            tracing::warn!(error = %err, "readiness: cannot read migration state");
            Err(ApiError::unavailable("cannot read migration state"))
        }
    }
}
