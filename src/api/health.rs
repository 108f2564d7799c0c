//! Liveness and readiness.

use std::time::Duration;

use actix_web::{web, HttpResponse};
use serde_json::json;

use super::{error::ApiError, AppState};

/// The process is alive and serving.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// How long readiness waits for the database: a load balancer asks often and must hear "not
/// ready" quickly, not after the pool's own (longer) wait for a connection.
const READY_WITHIN: Duration = Duration::from_millis(900);

/// The database answers (within [`READY_WITHIN`]) and every migration is applied.
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let checked = tokio::time::timeout(READY_WITHIN, async {
        state.store.ping().await?;
        state.store.pending_migrations().await
    })
    .await;
    let Ok(checked) = checked else {
        tracing::warn!("readiness: database did not answer in time");
        return Err(ApiError::unavailable("database does not answer"));
    };
    match checked {
        Ok(0) => Ok(HttpResponse::Ok().json(json!({
            "status": "ready",
            "database": state.store.backend().as_str(),
        }))),
        Ok(pending) => Err(ApiError::unavailable(format!("{pending} database migrations pending"))),
        Err(err) => {
            tracing::warn!(error = %err, "readiness: database does not answer");
            Err(ApiError::unavailable("database does not answer"))
        }
    }
}
