//! The admin's webhook endpoints (scope `admin`): register one with the event types it takes
//! (its signing secret is shown once, in the answer), list, change, delete, read its delivery
//! log, and replay its deliveries since a time. An endpoint's address must pass the same
//! policy as media fetches: no loopback, private, link-local or metadata address.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use base64::Engine;
use chrono::{DateTime, Utc};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::auth::{service_token, Caller};
use super::error::{ApiError, ErrorDoc};
use super::AppState;
use crate::domain::{EventType, WebhookEndpoint};
use crate::store::DeliveryRecord;

const MAX_URL: usize = 2048;
const MAX_DESCRIPTION: usize = 200;
const DEFAULT_LOG_PAGE: u32 = 50;
const MAX_LOG_PAGE: u32 = 500;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EndpointBody {
    /// Where deliveries are POSTed: `https://`, on a public address.
    url: String,
    /// The event types it takes (see the `WebhookPayload` schema).
    event_types: Vec<String>,
    description: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EndpointChange {
    event_types: Option<Vec<String>>,
    enabled: Option<bool>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayBody {
    /// Every delivery of an event created at or after this time is sent again.
    since: DateTime<Utc>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EndpointView {
    id: Uuid,
    url: String,
    event_types: Vec<String>,
    description: String,
    enabled: bool,
    created_at: DateTime<Utc>,
    /// `whsec_…`: shown once, when the endpoint is created.
    #[serde(skip_serializing_if = "Option::is_none")]
    secret: Option<String>,
}

impl EndpointView {
    fn of(endpoint: WebhookEndpoint, secret: Option<String>) -> Self {
        EndpointView {
            id: endpoint.id,
            url: endpoint.url,
            event_types: endpoint.event_types.iter().map(|t| t.as_str().to_owned()).collect(),
            description: endpoint.description,
            enabled: endpoint.enabled,
            created_at: endpoint.created_at,
            secret,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EndpointList {
    items: Vec<EndpointView>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DeliveryView {
    /// The event's id: the `webhook-id` header of every attempt.
    event_id: String,
    event_type: String,
    /// `pending`, `delivered` or `failed` (given up on; a replay sends it again).
    state: String,
    attempts: u32,
    last_status: Option<u16>,
    last_error: Option<String>,
    next_attempt_at: Option<DateTime<Utc>>,
    delivered_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
}

impl From<DeliveryRecord> for DeliveryView {
    fn from(d: DeliveryRecord) -> Self {
        DeliveryView {
            event_id: d.event_id,
            event_type: d.event_type,
            state: d.state.as_str().to_owned(),
            attempts: d.attempts,
            last_status: d.last_status,
            last_error: d.last_error,
            next_attempt_at: d.next_attempt_at,
            delivered_at: d.delivered_at,
            created_at: d.created_at,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DeliveryLog {
    items: Vec<DeliveryView>,
    next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct LogQuery {
    limit: Option<u32>,
    cursor: Option<String>,
}

/// The body of every outbound webhook delivery (Standard Webhooks), signed in
/// `webhook-signature` over `{webhook-id}.{webhook-timestamp}.{body}`. `data` holds ids only;
/// which fields depends on the type (`docs/payouts.md`, Webhooks).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WebhookPayload {
    /// `statement.created`, `post.verified`, `post.unverified`, `flag.raised`, `flag.cleared`,
    /// `consent.revoked` or `creator.erased`.
    #[serde(rename = "type")]
    event_type: String,
    /// When the change happened.
    timestamp: DateTime<Utc>,
    data: WebhookData,
}

/// The ids an event names.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WebhookData {
    /// `statement.created`.
    statement_id: Option<String>,
    period_start: Option<DateTime<Utc>>,
    period_end: Option<DateTime<Utc>>,
    /// Every event but `statement.created`.
    creator_id: Option<Uuid>,
    /// `post.*` and `flag.*`.
    post_id: Option<Uuid>,
    /// `post.*`: the post's status now (`verified`, `unverified` or `removed`).
    status: Option<String>,
    /// `flag.*`.
    flag_id: Option<Uuid>,
    /// `flag.*`: the flag's kind.
    kind: Option<String>,
    /// `creator.erased`.
    erasure_receipt_id: Option<Uuid>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Replayed {
    replayed: u64,
}

fn event_types(names: &[String]) -> Result<Vec<EventType>, ApiError> {
    if names.is_empty() {
        return Err(ApiError::bad_request("bad_event_types", "name at least one event type"));
    }
    let mut types = Vec::new();
    for name in names {
        let t = EventType::parse(name).ok_or_else(|| {
            ApiError::bad_request("bad_event_types", format!("unknown event type `{name}`"))
        })?;
        if !types.contains(&t) {
            types.push(t);
        }
    }
    Ok(types)
}

fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such webhook endpoint")
}

/// Answers 404 unless the endpoint exists.
async fn existing(state: &AppState, id: Uuid) -> Result<(), ApiError> {
    state.store.endpoint(id).await?.map(|_| ()).ok_or_else(not_found)
}

/// A new signing secret: 32 random bytes, `whsec_` and base64.
fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    format!("whsec_{}", base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// `POST /v1/admin/webhook-endpoints`: registers an endpoint; the answer shows its secret once.
#[utoipa::path(post, path = "/v1/admin/webhook-endpoints", tag = "admin", security(("bearer" = [])),
    request_body = EndpointBody,
    responses(
        (status = 201, description = "Registered; `secret` signs its deliveries", body = EndpointView),
        (status = 400, description = "A bad URL, description or event type", body = ErrorDoc),
        (status = 403, description = "Not an admin token", body = ErrorDoc),
        (status = 422, description = "The URL's host is on an address deliveries may not go to", body = ErrorDoc),
    ))]
pub async fn create(
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Json<EndpointBody>,
) -> Result<HttpResponse, ApiError> {
    let admin = caller.service_with(service_token::ADMIN)?;
    let types = event_types(&body.event_types)?;
    let description = body.description.clone().unwrap_or_default();
    if description.chars().count() > MAX_DESCRIPTION {
        return Err(ApiError::bad_request(
            "bad_description",
            format!("at most {MAX_DESCRIPTION} characters"),
        ));
    }
    if body.url.len() > MAX_URL {
        return Err(ApiError::bad_request("bad_url", format!("at most {MAX_URL} bytes")));
    }
    crate::platforms::check_endpoint_url(&body.url, state.deliveries.allow_loopback).await.map_err(|e| {
        match e {
            crate::platforms::EndpointUrlError::Malformed(why) => ApiError::bad_request("bad_url", why),
            crate::platforms::EndpointUrlError::Forbidden(why) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "forbidden_address", why)
            }
        }
    })?;
    let endpoint = WebhookEndpoint {
        id: Uuid::new_v4(),
        url: body.url.clone(),
        event_types: types,
        description,
        enabled: true,
        created_at: Utc::now(),
    };
    let secret = new_secret();
    state.store.insert_endpoint(&endpoint, &secret).await?;
    tracing::info!(endpoint_id = %endpoint.id, token_id = %admin.token_id, "webhook endpoint registered");
    Ok(HttpResponse::Created().json(EndpointView::of(endpoint, Some(secret))))
}

/// `GET /v1/admin/webhook-endpoints`: every endpoint, oldest first (no secrets).
#[utoipa::path(get, path = "/v1/admin/webhook-endpoints", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = EndpointList), (status = 403, description = "Not an admin token", body = ErrorDoc)))]
pub async fn list(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    caller.service_with(service_token::ADMIN)?;
    let items = state.store.endpoints().await?.into_iter().map(|e| EndpointView::of(e, None)).collect();
    Ok(HttpResponse::Ok().json(EndpointList { items }))
}

/// `PATCH /v1/admin/webhook-endpoints/{id}`: changes the event types it takes, or switches it
/// off (nothing new is queued for it) and on.
#[utoipa::path(patch, path = "/v1/admin/webhook-endpoints/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Endpoint id")),
    request_body = EndpointChange,
    responses(
        (status = 200, body = EndpointView),
        (status = 400, description = "An unknown event type", body = ErrorDoc),
        (status = 403, description = "Not an admin token", body = ErrorDoc),
        (status = 404, description = "No such endpoint", body = ErrorDoc),
    ))]
pub async fn change(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
    body: web::Json<EndpointChange>,
) -> Result<HttpResponse, ApiError> {
    caller.service_with(service_token::ADMIN)?;
    let types = body.event_types.as_deref().map(event_types).transpose()?;
    let endpoint =
        state.store.update_endpoint(*id, types.as_deref(), body.enabled).await?.ok_or_else(not_found)?;
    Ok(HttpResponse::Ok().json(EndpointView::of(endpoint, None)))
}

/// `DELETE /v1/admin/webhook-endpoints/{id}`: deletes it with its deliveries and their log.
#[utoipa::path(delete, path = "/v1/admin/webhook-endpoints/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Endpoint id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "Not an admin token", body = ErrorDoc),
        (status = 404, description = "No such endpoint", body = ErrorDoc),
    ))]
pub async fn delete(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    caller.service_with(service_token::ADMIN)?;
    if !state.store.delete_endpoint(*id).await? {
        return Err(not_found());
    }
    Ok(HttpResponse::NoContent().finish())
}

/// `GET /v1/admin/webhook-endpoints/{id}/deliveries`: the endpoint's deliveries, newest first.
#[utoipa::path(get, path = "/v1/admin/webhook-endpoints/{id}/deliveries", tag = "admin", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Endpoint id"), LogQuery),
    responses(
        (status = 200, body = DeliveryLog),
        (status = 400, description = "A bad cursor or limit", body = ErrorDoc),
        (status = 403, description = "Not an admin token", body = ErrorDoc),
        (status = 404, description = "No such endpoint", body = ErrorDoc),
    ))]
pub async fn deliveries(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
    query: web::Query<LogQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.service_with(service_token::ADMIN)?;
    let limit = query.limit.unwrap_or(DEFAULT_LOG_PAGE);
    if limit == 0 || limit > MAX_LOG_PAGE {
        return Err(ApiError::bad_request("bad_limit", format!("limit must be 1 to {MAX_LOG_PAGE}")));
    }
    existing(&state, *id).await?;
    // Event ids are `msg_` and a UUID: the cursor holds the UUID.
    let before = query
        .cursor
        .as_deref()
        .map(super::cursor::decode::<Uuid>)
        .transpose()?
        .map(|(at, id)| (at, format!("msg_{}", id.simple())));
    let items: Vec<DeliveryView> =
        state.store.deliveries(*id, before, limit).await?.into_iter().map(DeliveryView::from).collect();
    let next_cursor = (items.len() == limit as usize)
        .then(|| {
            let last = items.last()?;
            let id = Uuid::parse_str(last.event_id.trim_start_matches("msg_")).ok()?;
            Some(super::cursor::encode(last.created_at, id))
        })
        .flatten();
    Ok(HttpResponse::Ok().json(DeliveryLog { items, next_cursor }))
}

/// `POST /v1/admin/webhook-endpoints/{id}/replay`: sends again every delivery of an event
/// created since a time, delivered and failed ones included.
#[utoipa::path(post, path = "/v1/admin/webhook-endpoints/{id}/replay", tag = "admin", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Endpoint id")),
    request_body = ReplayBody,
    responses(
        (status = 202, description = "Queued again", body = Replayed),
        (status = 403, description = "Not an admin token", body = ErrorDoc),
        (status = 404, description = "No such endpoint", body = ErrorDoc),
    ))]
pub async fn replay(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
    body: web::Json<ReplayBody>,
) -> Result<HttpResponse, ApiError> {
    let admin = caller.service_with(service_token::ADMIN)?;
    existing(&state, *id).await?;
    let replayed = state.store.replay(*id, body.since, Utc::now()).await?;
    tracing::info!(endpoint_id = %id, token_id = %admin.token_id, replayed, "webhook deliveries replayed");
    Ok(HttpResponse::Accepted().json(Replayed { replayed }))
}
