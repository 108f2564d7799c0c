//! Disputes: a creator contests what one of their posts was paid, or why it was not, with a
//! short note (`POST /v1/posts/{id}/disputes`) and follows it (`GET
//! /v1/creators/me/disputes`); an admin lists them (`GET /v1/admin/disputes`) and resolves
//! each with an outcome and an answer the creator sees.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::auth::{service_token, Caller, JoinedCreator};
use super::error::{ApiError, ErrorDoc};
use super::payouts::{FlagsQuery, MAX_PAGE};
use super::AppState;
use crate::domain::{Dispute, DisputeOutcome, DisputeText, PostId};
use crate::store::{Resolution, StoreError};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DisputeBody {
    /// What is wrong, in up to 1000 characters.
    note: String,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolveBody {
    /// `upheld` or `rejected`.
    outcome: String,
    /// The answer the creator reads, in up to 1000 characters.
    answer: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DisputeView {
    id: Uuid,
    post_id: PostId,
    note: String,
    opened_at: DateTime<Utc>,
    /// `upheld` or `rejected` once resolved.
    outcome: Option<String>,
    answer: Option<String>,
    resolved_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DisputeList {
    items: Vec<DisputeView>,
}

impl From<Dispute> for DisputeView {
    fn from(d: Dispute) -> Self {
        DisputeView {
            id: d.id,
            post_id: d.post_id,
            note: d.note,
            opened_at: d.opened_at,
            outcome: d.outcome.map(|o| o.as_str().to_owned()),
            answer: d.answer,
            resolved_at: d.resolved_at,
        }
    }
}

fn text(field: &'static str, value: &str) -> Result<DisputeText, ApiError> {
    DisputeText::parse(value).map_err(|why| ApiError::bad_request("bad_text", format!("{field}: {why}")))
}

/// `POST /v1/posts/{id}/disputes`: contests one of the caller's posts.
#[utoipa::path(post, path = "/v1/posts/{id}/disputes", tag = "posts", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Post id")),
    request_body = DisputeBody,
    responses(
        (status = 201, description = "Opened; an admin resolves it", body = DisputeView),
        (status = 400, description = "An empty or too long note", body = ErrorDoc),
        (status = 404, description = "No such post (or not the caller's)", body = ErrorDoc),
        (status = 409, description = "A dispute of this post is open", body = ErrorDoc),
    ))]
pub async fn open(
    state: web::Data<AppState>,
    JoinedCreator(creator): JoinedCreator,
    id: web::Path<PostId>,
    body: web::Json<DisputeBody>,
) -> Result<HttpResponse, ApiError> {
    let note = text("note", &body.note)?;
    let not_found = || ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such post");
    let post = state.store.post(*id).await?.ok_or_else(not_found)?;
    if post.creator_id != creator.id {
        return Err(not_found());
    }
    let dispute =
        state.store.open_dispute(creator.id, post.id, &note, Utc::now()).await.map_err(|e| match e {
            StoreError::Conflict(_) => {
                ApiError::new(StatusCode::CONFLICT, "dispute_open", "a dispute of this post is open")
            }
            other => other.into(),
        })?;
    tracing::info!(creator_id = %creator.id, post_id = %post.id, dispute_id = %dispute.id, "dispute opened");
    Ok(HttpResponse::Created().json(DisputeView::from(dispute)))
}

/// `GET /v1/creators/me/disputes`: the caller's disputes and their outcomes, oldest first.
#[utoipa::path(get, path = "/v1/creators/me/disputes", tag = "creators", security(("bearer" = [])),
    responses((status = 200, body = DisputeList), (status = 404, description = "The caller has not joined", body = ErrorDoc)))]
pub async fn mine(
    state: web::Data<AppState>,
    JoinedCreator(creator): JoinedCreator,
) -> Result<HttpResponse, ApiError> {
    let items =
        state.store.disputes_for_creator(creator.id).await?.into_iter().map(DisputeView::from).collect();
    Ok(HttpResponse::Ok().json(DisputeList { items }))
}

/// `GET /v1/admin/disputes`: disputes to resolve, oldest first.
#[utoipa::path(get, path = "/v1/admin/disputes", tag = "admin", security(("bearer" = [])),
    params(FlagsQuery),
    responses((status = 200, description = "Oldest first", body = DisputeList), (status = 403, description = "Not an admin token", body = ErrorDoc)))]
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<FlagsQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.service_with(service_token::ADMIN)?;
    let disputes = state.store.disputes(query.open_only()?, MAX_PAGE).await?;
    Ok(HttpResponse::Ok().json(DisputeList { items: disputes.into_iter().map(DisputeView::from).collect() }))
}

/// `POST /v1/admin/disputes/{id}/resolve`: gives a dispute its outcome; the first stands.
#[utoipa::path(post, path = "/v1/admin/disputes/{id}/resolve", tag = "admin", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Dispute id")),
    request_body = ResolveBody,
    responses(
        (status = 200, description = "Resolved", body = DisputeView),
        (status = 400, description = "An unknown outcome, or a bad answer", body = ErrorDoc),
        (status = 404, description = "No such dispute", body = ErrorDoc),
        (status = 409, description = "Already resolved", body = ErrorDoc),
    ))]
pub async fn resolve(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
    body: web::Json<ResolveBody>,
) -> Result<HttpResponse, ApiError> {
    let admin = caller.service_with(service_token::ADMIN)?;
    let outcome = DisputeOutcome::parse(&body.outcome)
        .ok_or_else(|| ApiError::bad_request("bad_outcome", "outcome must be `upheld` or `rejected`"))?;
    let answer = body.answer.as_deref().map(|a| text("answer", a)).transpose()?;
    let by = admin.token_id.to_string();
    match state.store.resolve_dispute(*id, outcome, answer.as_ref(), &by, Utc::now()).await? {
        None => Err(ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such dispute")),
        Some(Resolution::AlreadyResolved(_)) => {
            Err(ApiError::new(StatusCode::CONFLICT, "already_resolved", "the dispute is already resolved"))
        }
        Some(Resolution::Resolved(dispute)) => {
            tracing::info!(dispute_id = %dispute.id, token_id = %admin.token_id, outcome = outcome.as_str(), "dispute resolved");
            Ok(HttpResponse::Ok().json(DisputeView::from(dispute)))
        }
    }
}
