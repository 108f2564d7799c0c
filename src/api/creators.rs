//! The Creator Program from the creator's side: joining, the profile, and consent to view
//! tracking (grant and revoke, each an event appended to the ledger).

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::auth::JoinedCreator;
use super::auth::{current_creator, Caller};
use super::error::ErrorDoc;
use super::error::{store_error, ApiError};
use super::AppState;
use crate::consent::changes::JoinError;
use crate::consent::{self, AdmissionError, JoinRequest};
use crate::domain::{ConsentEvent, ConsentState, Creator, CreatorId};
use crate::store::ConsentChange;

/// The channel recorded on ledger events made through this API.
const CHANNEL: &str = "api";

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JoinBody {
    display_name: Option<String>,
    birth_year: Option<i32>,
    #[serde(default)]
    age_attested: bool,
    policy_version: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsentBody {
    tracking: bool,
    policy_version: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct CreatorView {
    id: CreatorId,
    display_name: Option<String>,
    birth_year: Option<i32>,
    tracking_consent: ConsentView,
    /// "active", or "restricted" while tracking consent is revoked: the data is kept (and
    /// exported) but nothing is processed.
    processing: &'static str,
    created_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct ConsentView {
    state: ConsentState,
    changed_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct LedgerView {
    state: ConsentState,
    events: Vec<EventView>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct EventView {
    id: i64,
    kind: &'static str,
    policy_version: String,
    channel: String,
    actor: String,
    occurred_at: DateTime<Utc>,
}

impl From<&Creator> for CreatorView {
    fn from(c: &Creator) -> Self {
        CreatorView {
            id: c.id,
            display_name: c.display_name.clone(),
            birth_year: c.birth_year,
            tracking_consent: ConsentView { state: c.consent, changed_at: c.consent_changed_at },
            processing: if c.consent == ConsentState::Revoked { "restricted" } else { "active" },
            created_at: c.created_at,
        }
    }
}

impl From<&ConsentEvent> for EventView {
    fn from(e: &ConsentEvent) -> Self {
        let kind = match e.kind {
            ConsentState::Granted => "grant",
            ConsentState::Revoked => "revoke",
        };
        EventView {
            id: e.id,
            kind,
            policy_version: e.policy_version.clone(),
            channel: e.channel.clone(),
            actor: e.actor.clone(),
            occurred_at: e.occurred_at,
        }
    }
}

fn admission_error(err: AdmissionError) -> ApiError {
    let (status, code) = match &err {
        AdmissionError::UnderAge { .. } => (StatusCode::FORBIDDEN, "under_minimum_age"),
        AdmissionError::AgeUnknown => (StatusCode::BAD_REQUEST, "age_required"),
        AdmissionError::ImplausibleBirthYear(_) => (StatusCode::BAD_REQUEST, "bad_birth_year"),
        AdmissionError::PolicyOutdated { .. } => (StatusCode::CONFLICT, "policy_outdated"),
        AdmissionError::DisplayName => (StatusCode::BAD_REQUEST, "bad_display_name"),
    };
    ApiError::new(status, code, err.to_string())
}

/// `POST /v1/creators/me`: joins the Creator Program, consenting to view tracking.
#[utoipa::path(post, path = "/v1/creators/me", tag = "creators", security(("bearer" = [])),
    request_body = JoinBody,
    responses(
        (status = 201, description = "Joined, with tracking consent recorded", body = CreatorView),
        (status = 400, description = "Bad body, birth year or display name; no age given", body = ErrorDoc),
        (status = 403, description = "Under the minimum age, or not a creator", body = ErrorDoc),
        (status = 409, description = "Already joined, or an outdated policy version", body = ErrorDoc),
    ))]
pub async fn join(
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Json<JoinBody>,
) -> Result<HttpResponse, ApiError> {
    let identity = caller.creator()?;
    let body = body.into_inner();
    let now = chrono::Utc::now();
    let request = JoinRequest {
        display_name: body.display_name,
        token_birth_year: identity.birth_year,
        birth_year: body.birth_year,
        age_attested: body.age_attested,
        policy_version: body.policy_version,
    };
    let joined = consent::changes::join(
        state.store.as_ref(),
        &state.consent,
        &identity.user_id,
        &request,
        CHANNEL,
        now,
    )
    .await;
    let creator = joined.map_err(|e| match e {
        JoinError::Refused(refusal) => admission_error(refusal),
        JoinError::AlreadyJoined => ApiError::new(
            StatusCode::CONFLICT,
            "already_joined",
            "you have already joined the Creator Program",
        ),
        JoinError::Store(e) => store_error(e),
    })?;
    Ok(HttpResponse::Created().json(CreatorView::from(&creator)))
}

/// `GET /v1/creators/me`.
#[utoipa::path(get, path = "/v1/creators/me", tag = "creators", security(("bearer" = [])),
    responses((status = 200, body = CreatorView), (status = 404, description = "Not joined", body = ErrorDoc)))]
pub async fn me(
    _state: web::Data<AppState>,
    JoinedCreator(creator): JoinedCreator,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(CreatorView::from(&creator)))
}

/// `POST /v1/creators/me/consent`: `{"tracking": false}` revokes, `true` grants again. Only a
/// change of state is recorded: asking for the state already in force appends nothing.
#[utoipa::path(post, path = "/v1/creators/me/consent", tag = "creators", security(("bearer" = [])),
    request_body = ConsentBody,
    responses(
        (status = 200, description = "The ledger after the change", body = LedgerView),
        (status = 409, description = "Outdated policy version", body = ErrorDoc),
    ))]
pub async fn change_consent(
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Json<ConsentBody>,
) -> Result<HttpResponse, ApiError> {
    let creator = current_creator(&state, &caller).await?;
    let wanted = if body.tracking { ConsentState::Granted } else { ConsentState::Revoked };
    let policy_version =
        consent::policy_version(body.policy_version.as_deref(), &state.consent).map_err(admission_error)?;
    if creator.consent != wanted {
        let change = ConsentChange {
            grant: body.tracking,
            policy_version,
            channel: CHANNEL.into(),
            actor: creator.id.to_string(),
            at: chrono::Utc::now(),
        };
        // Waits for a poll whose request is on its way, so none starts after the commit.
        consent::changes::change_consent(state.store.as_ref(), &state.consent_locks, creator.id, &change)
            .await?;
    }
    ledger_response(&state, &caller).await
}

/// `GET /v1/creators/me/consent`: the current state and the whole ledger, oldest first.
#[utoipa::path(get, path = "/v1/creators/me/consent", tag = "creators", security(("bearer" = [])),
    responses((status = 200, description = "Current state and every consent event, oldest first", body = LedgerView)))]
pub async fn ledger(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    ledger_response(&state, &caller).await
}

async fn ledger_response(state: &AppState, caller: &Caller) -> Result<HttpResponse, ApiError> {
    let creator = current_creator(state, caller).await?;
    let events = state.store.consent_ledger(creator.id).await?;
    Ok(HttpResponse::Ok()
        .json(LedgerView { state: creator.consent, events: events.iter().map(EventView::from).collect() }))
}

/// `DELETE /v1/creators/me`: erases everything held about the caller at once. Tracking stops
/// in the same transaction; payout statements keep their totals under a tombstone id. The
/// answer is the erasure receipt (counts only, nothing personal).
#[utoipa::path(delete, path = "/v1/creators/me", tag = "creators", security(("bearer" = [])),
    responses(
        (status = 200, description = "Erased; the receipt"),
        (status = 404, description = "Not joined (or already erased)", body = ErrorDoc),
    ))]
pub async fn erase(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    let (user_id, trigger) = (&caller.creator()?.user_id, crate::domain::ErasureTrigger::Api);
    let receipt = consent::changes::erase_user(
        state.store.as_ref(),
        &state.consent_locks,
        user_id,
        trigger,
        Utc::now(),
    )
    .await?
    .ok_or_else(|| {
        ApiError::new(StatusCode::NOT_FOUND, "not_joined", "you have not joined the Creator Program")
    })?;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "receipt_id": receipt.id,
        "erased_at": receipt.erased_at,
        "row_counts": receipt.row_counts,
    })))
}
