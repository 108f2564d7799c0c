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
use crate::consent::changes::{Correction, CorrectionError, JoinError};
use crate::consent::{self, AdmissionError, JoinRequest};
use crate::domain::{
    ConsentEvent, ConsentState, Creator, CreatorId, ErasureReason, ErasureReceipt, ErasureTrigger,
};
use crate::store::{ConsentChange, ProfileChange};

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
    /// "active", "restricted" while tracking consent is revoked (the data is kept and
    /// exported, but nothing is processed), or "paused" past the date to re-grant under a
    /// new policy version.
    processing: &'static str,
    /// The policy version of the creator's latest grant.
    policy_version: String,
    /// The policy in force is newer than the one consented to: grant again with it
    /// (`POST /v1/creators/me/consent`, `{"tracking": true, "policy_version": ...}`).
    consent_outdated: bool,
    /// While outdated: tracking pauses from then until the creator grants again.
    #[serde(skip_serializing_if = "Option::is_none")]
    regrant_by: Option<DateTime<Utc>>,
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

impl CreatorView {
    /// The creator as shown, with the policy version in force.
    fn of(c: &Creator, current_policy: &str) -> Self {
        let outdated = c.policy_version != current_policy;
        let paused = outdated && c.regrant_due_at.is_some_and(|due| due <= Utc::now());
        CreatorView {
            id: c.id,
            display_name: c.display_name.clone(),
            birth_year: c.birth_year,
            tracking_consent: ConsentView { state: c.consent, changed_at: c.consent_changed_at },
            processing: match (c.consent, paused) {
                (ConsentState::Revoked, _) => "restricted",
                (ConsentState::Granted, true) => "paused",
                (ConsentState::Granted, false) => "active",
            },
            policy_version: c.policy_version.clone(),
            consent_outdated: outdated,
            regrant_by: if outdated { c.regrant_due_at } else { None },
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
    Ok(HttpResponse::Created().json(CreatorView::of(&creator, &state.consent.policy_version)))
}

/// `GET /v1/creators/me`.
#[utoipa::path(get, path = "/v1/creators/me", tag = "creators", security(("bearer" = [])),
    responses((status = 200, body = CreatorView), (status = 404, description = "Not joined", body = ErrorDoc)))]
pub async fn me(
    state: web::Data<AppState>,
    JoinedCreator(creator): JoinedCreator,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(CreatorView::of(&creator, &state.consent.policy_version)))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CorrectionBody {
    /// The name shown; `null` removes it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, nullable)]
    display_name: Option<Option<String>>,
    /// A birth year that puts the creator under the minimum age erases them, as a join
    /// would have been refused.
    birth_year: Option<i32>,
}

/// A field given, `null` included (`Some(None)`), as opposed to one left out (`None`).
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// `PATCH /v1/creators/me`: corrects the profile (the right to rectification). Only the
/// fields given change; the change is ledgered with the fields it changed (in the export).
#[utoipa::path(patch, path = "/v1/creators/me", tag = "creators", security(("bearer" = [])),
    request_body = CorrectionBody,
    responses(
        (status = 200, description = "The profile as corrected", body = CreatorView),
        (status = 400, description = "Nothing to correct, a bad display name or birth year", body = ErrorDoc),
        (status = 403, description = "The birth year is under the minimum age: the creator was erased", body = ErrorDoc),
        (status = 404, description = "Not joined", body = ErrorDoc),
    ))]
pub async fn correct(
    state: web::Data<AppState>,
    JoinedCreator(creator): JoinedCreator,
    body: web::Json<CorrectionBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    if body.display_name.is_none() && body.birth_year.is_none() {
        return Err(ApiError::bad_request("nothing_to_correct", "give display_name or birth_year"));
    }
    let change = ProfileChange {
        display_name: body.display_name,
        birth_year: body.birth_year,
        channel: CHANNEL.into(),
        actor: creator.id.to_string(),
        at: Utc::now(),
    };
    let corrected = consent::changes::correct_profile(
        state.store.as_ref(),
        &state.consent,
        &state.consent_locks,
        &creator,
        change,
    )
    .await
    .map_err(|e| match e {
        CorrectionError::Refused(refusal) => admission_error(refusal),
        CorrectionError::NotFound => {
            ApiError::new(StatusCode::NOT_FOUND, "not_joined", "you have not joined the Creator Program")
        }
        CorrectionError::Store(e) => store_error(e),
    })?;
    match corrected {
        Correction::Corrected(creator) => {
            Ok(HttpResponse::Ok().json(CreatorView::of(&creator, &state.consent.policy_version)))
        }
        Correction::Erased { receipt, refusal } => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "under_minimum_age",
            format!("{refusal}: everything held about you was erased (receipt {})", receipt.id),
        )),
    }
}

/// `POST /v1/creators/me/consent`: `{"tracking": false}` revokes, `true` grants again. Only a
/// change is recorded: asking for the state already in force appends nothing, except a grant
/// under a newer policy version than the creator's, which renews their consent.
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
    // A grant under a newer policy version than the creator's is recorded too: it renews
    // their consent (and ends a pause for it).
    let renewal = body.tracking && creator.policy_version != policy_version;
    if creator.consent != wanted || renewal {
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

/// An erasure receipt as the API shows it: counts only, nothing personal.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct ReceiptView {
    receipt_id: uuid::Uuid,
    erased_at: DateTime<Utc>,
    /// `api`, `webhook`, `operator` or `admin`.
    trigger: &'static str,
    /// Why an admin erased (`minor`, `request` or `legal`).
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<ErasureReason>,
    /// Rows removed (or tombstoned) per table.
    row_counts: std::collections::BTreeMap<String, u64>,
}

impl From<ErasureReceipt> for ReceiptView {
    fn from(r: ErasureReceipt) -> Self {
        ReceiptView {
            receipt_id: r.id,
            erased_at: r.erased_at,
            trigger: r.trigger.as_str(),
            reason: r.trigger.reason(),
            row_counts: r.row_counts,
        }
    }
}

/// `DELETE /v1/creators/me`: erases everything held about the caller at once. Tracking stops
/// in the same transaction; payout statements keep their totals under a tombstone id. The
/// answer is the erasure receipt (counts only, nothing personal).
#[utoipa::path(delete, path = "/v1/creators/me", tag = "creators", security(("bearer" = [])),
    responses(
        (status = 200, description = "Erased; the receipt", body = ReceiptView),
        (status = 404, description = "Not joined (or already erased)", body = ErrorDoc),
    ))]
pub async fn erase(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    let (user_id, trigger) = (&caller.creator()?.user_id, ErasureTrigger::Api);
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
    Ok(HttpResponse::Ok().json(ReceiptView::from(receipt)))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdminEraseBody {
    /// `minor` (found to be under the minimum age), `request` (asked by another channel) or
    /// `legal` (a legal obligation); kept on the receipt.
    reason: ErasureReason,
}

/// `POST /v1/admin/creators/{id}/erase` (scope `admin`): the same erasure and receipt as the
/// creator's own, for a reason the receipt keeps.
#[utoipa::path(post, path = "/v1/admin/creators/{id}/erase", tag = "admin", security(("bearer" = [])),
    params(("id" = CreatorId, Path, description = "Creator id")),
    request_body = AdminEraseBody,
    responses(
        (status = 200, description = "Erased; the receipt", body = ReceiptView),
        (status = 400, description = "No reason, or an unknown one", body = ErrorDoc),
        (status = 403, description = "Not an admin token", body = ErrorDoc),
        (status = 404, description = "No such creator (or already erased)", body = ErrorDoc),
    ))]
pub async fn admin_erase(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<uuid::Uuid>,
    body: web::Json<AdminEraseBody>,
) -> Result<HttpResponse, ApiError> {
    let admin = caller.service_with(super::auth::service_token::ADMIN)?;
    let trigger = ErasureTrigger::Admin(body.reason);
    let creator_id = CreatorId::from(*id);
    let receipt =
        consent::changes::erase(state.store.as_ref(), &state.consent_locks, creator_id, trigger, Utc::now())
            .await?
            .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such creator"))?;
    tracing::info!(receipt_id = %receipt.id, token_id = %admin.token_id, reason = body.reason.as_str(), "creator erased by an admin");
    Ok(HttpResponse::Ok().json(ReceiptView::from(receipt)))
}
