//! `GET /v1/creators/me/export`: everything held about the caller as one JSON document,
//! streamed as it is read (see `consent::export`). A failure after the first bytes aborts
//! the connection, so a client never mistakes a cut-off document for a whole one.

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use chrono::Utc;
use futures_util::stream;
use tokio::sync::{mpsc, oneshot};

use super::auth::JoinedCreator;
use super::error::ErrorDoc;
use super::error::{store_error, ApiError};
use super::AppState;
use crate::consent::export::{write_export, ExportError};

/// Chunks buffered between the reader of the store and the client.
const BUFFERED_CHUNKS: usize = 4;

/// `GET /v1/creators/me/export`: the data export (schema `docs/schemas/creator-export-v1.json`).
#[utoipa::path(get, path = "/v1/creators/me/export", tag = "creators", security(("bearer" = [])),
    responses(
        (status = 200, description = "The export: profile, consent ledger, contents, accounts (never tokens), posts with their snapshots, statements; `creator.processing` says whether processing is restricted", content_type = "application/json"),
        (status = 404, description = "Not joined", body = ErrorDoc),
        (status = 410, description = "Erased", body = ErrorDoc),
    ))]
pub async fn export(
    state: web::Data<AppState>,
    JoinedCreator(creator): JoinedCreator,
) -> Result<HttpResponse, ApiError> {
    let (chunks, mut received) = mpsc::channel::<Vec<u8>>(BUFFERED_CHUNKS);
    let (done, outcome) = oneshot::channel::<Result<(), ExportError>>();
    let store = state.store.clone();
    tokio::spawn(async move {
        let result = write_export(store.as_ref(), &creator, Utc::now(), &chunks).await;
        match &result {
            Ok(()) => tracing::info!(creator_id = %creator.id, "data export written"),
            Err(ExportError::Closed) => {
                tracing::info!(creator_id = %creator.id, "data export abandoned by the client")
            }
            Err(ExportError::Store(e)) => {
                tracing::error!(creator_id = %creator.id, error = %e, "data export failed")
            }
        }
        drop(chunks);
        let _ = done.send(result);
    });
    // The first chunk before answering: a small export is whole by then, and a failure
    // before any byte still gets a proper error response.
    let first = received.recv().await;
    let mut outcome = Some(outcome);
    if first.is_none() {
        if let Some(finished) = outcome.take() {
            if let Ok(Err(ExportError::Store(e))) = finished.await {
                return Err(store_error(e));
            }
        }
    }
    let body = stream::unfold((first, received, outcome), |(pending, mut received, outcome)| async move {
        if let Some(chunk) = pending {
            return Some((Ok(web::Bytes::from(chunk)), (None, received, outcome)));
        }
        if let Some(chunk) = received.recv().await {
            return Some((Ok(web::Bytes::from(chunk)), (None, received, outcome)));
        }
        match outcome?.await {
            Ok(Ok(())) => None,
            _ => Some((Err(std::io::Error::other("the export failed part way")), (None, received, None))),
        }
    });
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((header::CONTENT_DISPOSITION, "attachment; filename=\"viewmark-export.json\""))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .streaming(body))
}
