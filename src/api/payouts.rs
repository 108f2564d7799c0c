//! The payout system's routes (scope `payouts:read`): verified views per period and frozen
//! statements; and the admin's view of fraud flags. Times are RFC 3339; periods half-open.

use std::collections::HashMap;

use actix_web::http::header::{self, EntityTag, IfNoneMatch};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::auth::{service_token, Caller};
use super::error::ErrorDoc;
use super::error::{store_error, ApiError};
use super::AppState;
use crate::domain::{CreatorId, PostFlag, PostId, Statement, Timestamp};
use crate::payouts::{Period, PeriodError};
use crate::store::{Store, StoreError, StoreResult};

const DEFAULT_PAGE: u32 = 100;
pub(super) const MAX_PAGE: u32 = 1000;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ViewsQuery {
    /// Start of the period (inclusive), RFC 3339.
    from: DateTime<Utc>,
    /// End of the period (exclusive), RFC 3339.
    to: DateTime<Utc>,
    /// `posts` adds each creator's per-post numbers.
    breakdown: Option<String>,
    cursor: Option<String>,
    limit: Option<u32>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ViewsPage {
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    /// Snapshots observed from here on are inside the hold window and not counted yet.
    payable_until: DateTime<Utc>,
    items: Vec<CreatorViewsView>,
    next_cursor: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct CreatorViewsView {
    creator_id: CreatorId,
    views: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    posts: Option<Vec<PostViewsView>>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct PostViewsView {
    post_id: PostId,
    views: u64,
}

pub(super) fn period_error(err: PeriodError) -> ApiError {
    let status = match err {
        PeriodError::NotYetFinal(_) => StatusCode::CONFLICT,
        _ => StatusCode::BAD_REQUEST,
    };
    let code = match err {
        PeriodError::Empty => "empty_period",
        PeriodError::TooLong(_) => "period_too_long",
        PeriodError::NotYetFinal(_) => "period_not_final",
    };
    ApiError::new(status, code, err.to_string())
}

/// `GET /v1/payouts/verified-views`: per creator, the views gained in the period on verified
/// posts while consent was in force, from snapshots past the hold window.
#[utoipa::path(get, path = "/v1/payouts/verified-views", tag = "payouts", security(("bearer" = [])),
    params(ViewsQuery),
    responses(
        (status = 200, description = "Creators in id order, a page at a time", body = ViewsPage),
        (status = 400, description = "A bad period, cursor or limit", body = ErrorDoc),
        (status = 403, description = "Not a payouts:read token", body = ErrorDoc),
    ))]
pub async fn verified_views(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<ViewsQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.service_with(service_token::PAYOUTS_READ)?;
    let period = Period::parse(query.from, query.to, &state.payouts).map_err(period_error)?;
    let limit = query.limit.unwrap_or(DEFAULT_PAGE);
    if limit == 0 || limit > MAX_PAGE {
        return Err(ApiError::bad_request("bad_limit", format!("limit must be 1 to {MAX_PAGE}")));
    }
    let breakdown = match query.breakdown.as_deref() {
        None => false,
        Some("posts") => true,
        Some(_) => return Err(ApiError::bad_request("bad_breakdown", "breakdown must be `posts`")),
    };
    let after = query.cursor.as_deref().map(super::cursor::decode).transpose()?.map(|(_, id)| id);
    let now = Utc::now();
    let payable_until = period.payable_until(now, &state.payouts);
    let mut items = Vec::new();
    if let Some(payable) = period.payable(now, &state.payouts) {
        let totals = state.store.period_views(payable.from, payable.to, after, limit).await?;
        // Each creator's posts, grouped once (the page may hold thousands of each).
        let mut per_post: HashMap<CreatorId, Vec<PostViewsView>> = HashMap::new();
        if breakdown {
            let ids: Vec<CreatorId> = totals.iter().map(|t| t.creator_id).collect();
            let posts = state.store.period_post_views(payable.from, payable.to, Some(&ids)).await?;
            for p in posts {
                per_post
                    .entry(p.creator_id)
                    .or_default()
                    .push(PostViewsView { post_id: p.post_id, views: p.views });
            }
        }
        for total in totals {
            let posts = breakdown.then(|| per_post.remove(&total.creator_id).unwrap_or_default());
            items.push(CreatorViewsView { creator_id: total.creator_id, views: total.views, posts });
        }
    }
    let next_cursor = (items.len() == limit as usize)
        .then(|| items.last().map(|last| super::cursor::encode(period.from, last.creator_id)))
        .flatten();
    Ok(HttpResponse::Ok().json(ViewsPage {
        from: period.from,
        to: period.to,
        payable_until,
        items,
        next_cursor,
    }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatementBody {
    from: DateTime<Utc>,
    to: DateTime<Utc>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StatementView {
    id: String,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    evidence_hash: String,
    created_at: DateTime<Utc>,
    lines: Vec<LineView>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct LineView {
    /// A creator id, or a tombstone id after that creator's erasure.
    payee_id: String,
    /// `views`, or `clawback` (negative: views paid before on posts since removed or flagged).
    kind: String,
    views: i64,
}

impl From<&Statement> for StatementView {
    fn from(s: &Statement) -> Self {
        StatementView {
            id: s.id.clone(),
            from: s.period_start,
            to: s.period_end,
            evidence_hash: s.evidence_hash.clone(),
            created_at: s.created_at,
            lines: s
                .lines
                .iter()
                .map(|l| LineView { payee_id: l.payee_id.clone(), kind: l.line_kind.clone(), views: l.views })
                .collect(),
        }
    }
}

/// The statement's tag: its id and a hash of everything it shows. Totals never change, but a
/// payee's erasure moves their line to a tombstone id, and a copy cached under the old tag
/// would keep showing the erased creator's id.
fn etag(statement: &Statement) -> EntityTag {
    use sha2::{Digest, Sha256};
    let mut shown = Sha256::new();
    shown.update(statement.evidence_hash.as_bytes());
    for line in &statement.lines {
        shown.update(format!("\n{} {} {}", line.payee_id, line.line_kind, line.views));
    }
    EntityTag::new_strong(format!("{}-{}", statement.id, &hex::encode(shown.finalize())[..16]))
}

/// The statement of a period: the one issued already, or one composed by the payout rules
/// from the period's gains and the clawbacks due, and issued. The boolean says whether this
/// call issued it.
pub async fn issue_statement(
    store: &dyn Store,
    period: &Period,
    now: Timestamp,
) -> StoreResult<(Statement, bool)> {
    if let Some(statement) = store.statement_for_period(period.from, period.to).await? {
        return Ok((statement, false));
    }
    let posts = store.period_post_views(period.from, period.to, None).await?;
    let clawbacks = store.clawbacks_due().await?;
    let draft = crate::payouts::statement::compose(period.from, period.to, posts, clawbacks);
    store.insert_statement(&draft, now).await
}

/// `POST /v1/payouts/statements`: freezes a period (once it is past the hold window). The
/// same period again returns the same statement.
#[utoipa::path(post, path = "/v1/payouts/statements", tag = "payouts", security(("bearer" = [])),
    request_body = StatementBody,
    responses(
        (status = 201, description = "Created", body = StatementView),
        (status = 200, description = "Already issued for this period", body = StatementView),
        (status = 409, description = "The period overlaps another statement, or is not past the hold window yet", body = ErrorDoc),
    ))]
pub async fn create_statement(
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Json<StatementBody>,
) -> Result<HttpResponse, ApiError> {
    let service = caller.service_with(service_token::PAYOUTS_READ)?;
    let period = Period::parse(body.from, body.to, &state.payouts).map_err(period_error)?;
    let now = Utc::now();
    period.final_by(now, &state.payouts).map_err(period_error)?;
    let (statement, created) =
        issue_statement(state.store.as_ref(), &period, now).await.map_err(|e| match e {
            StoreError::Conflict(_) => ApiError::new(
                StatusCode::CONFLICT,
                "period_overlaps",
                "the period overlaps an issued statement",
            ),
            other => store_error(other),
        })?;
    if created {
        tracing::info!(statement_id = %statement.id, token_id = %service.token_id, "statement issued");
    }
    let mut response = if created { HttpResponse::Created() } else { HttpResponse::Ok() };
    Ok(response.insert_header(header::ETag(etag(&statement))).json(StatementView::from(&statement)))
}

/// `GET /v1/payouts/statements/{id}`: an issued statement. Its totals never change; a payee's
/// id does once, when their erasure tombstones it, and the ETag changes with it.
#[utoipa::path(get, path = "/v1/payouts/statements/{id}", tag = "payouts", security(("bearer" = [])),
    responses(
        (status = 200, description = "The statement, with an ETag", body = StatementView),
        (status = 304, description = "Unchanged (If-None-Match)"),
        (status = 404, description = "No such statement", body = ErrorDoc),
    ))]
pub async fn statement(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    caller.service_with(service_token::PAYOUTS_READ)?;
    let statement = state
        .store
        .statement(&id)
        .await?
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such statement"))?;
    let tag = etag(&statement);
    let unchanged = match header::Header::parse(&req) {
        Ok(IfNoneMatch::Items(tags)) => tags.iter().any(|t| t.weak_eq(&tag)),
        Ok(IfNoneMatch::Any) => true,
        Err(_) => false,
    };
    if unchanged {
        return Ok(HttpResponse::NotModified().insert_header(header::ETag(tag)).finish());
    }
    Ok(HttpResponse::Ok()
        .insert_header(header::ETag(tag))
        .insert_header((header::CACHE_CONTROL, "private, no-cache"))
        .json(StatementView::from(&statement)))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct FlagsQuery {
    /// `open` (default) or `all`.
    state: Option<String>,
}

impl FlagsQuery {
    /// Whether only open items are asked for.
    pub(super) fn open_only(&self) -> Result<bool, ApiError> {
        match self.state.as_deref() {
            None | Some("open") => Ok(true),
            Some("all") => Ok(false),
            Some(_) => Err(ApiError::bad_request("bad_state", "state must be `open` or `all`")),
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FlagList {
    items: Vec<FlagView>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct FlagView {
    id: Uuid,
    post_id: PostId,
    /// `views_decreased`, `velocity`, `claimed_twice`, `fingerprint_match` or `engagement_gap`.
    #[schema(example = "velocity")]
    kind: String,
    detail: String,
    raised_at: DateTime<Utc>,
    cleared_at: Option<DateTime<Utc>>,
}

impl From<&PostFlag> for FlagView {
    fn from(f: &PostFlag) -> Self {
        FlagView {
            id: f.id,
            post_id: f.post_id,
            kind: f.kind.as_str().to_owned(),
            detail: f.detail.clone(),
            raised_at: f.raised_at,
            cleared_at: f.cleared_at,
        }
    }
}

/// `GET /v1/admin/flags`: fraud flags holding posts out of statements.
#[utoipa::path(get, path = "/v1/admin/flags", tag = "admin", security(("bearer" = [])),
    params(FlagsQuery),
    responses((status = 200, description = "Oldest first", body = FlagList), (status = 403, description = "Not an admin token", body = ErrorDoc)))]
pub async fn flags(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<FlagsQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.service_with(service_token::ADMIN)?;
    let flags = state.store.flags(query.open_only()?, MAX_PAGE).await?;
    Ok(HttpResponse::Ok().json(FlagList { items: flags.iter().map(FlagView::from).collect() }))
}

/// `POST /v1/admin/flags/{id}/clear`: releases the post into later statements; clearing a
/// `fingerprint_match` approves the match, and the post is checked again at once.
#[utoipa::path(post, path = "/v1/admin/flags/{id}/clear", tag = "admin", security(("bearer" = [])),
    responses((status = 200, description = "Cleared", body = FlagView), (status = 404, description = "No such flag", body = ErrorDoc)))]
pub async fn clear_flag(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let admin = caller.service_with(service_token::ADMIN)?;
    let flag = state
        .store
        .clear_flag(*id, &admin.token_id.to_string(), Utc::now())
        .await?
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such flag"))?;
    tracing::info!(flag_id = %flag.id, post_id = %flag.post_id, token_id = %admin.token_id, "fraud flag cleared");
    Ok(HttpResponse::Ok().json(FlagView::from(&flag)))
}
