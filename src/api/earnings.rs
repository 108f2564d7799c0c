//! The creator's own earnings (`GET /v1/creators/me/earnings`): per post, the views the
//! payout system counts for a period, those still held, those not counted and why, the
//! flags raised and the statements that paid or clawed back. Another creator's posts are
//! never in it.

use std::collections::HashMap;

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::auth::JoinedCreator;
use super::error::{ApiError, ErrorDoc};
use super::payouts::period_error;
use super::AppState;
use crate::domain::{Platform, PostId, PostStatus};
use crate::payouts::earnings::{paid_and_clawed_back, post_earnings};
use crate::payouts::Period;
use crate::store::PostCursor;

const DEFAULT_PAGE: u32 = 50;
const MAX_PAGE: u32 = 200;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct EarningsQuery {
    /// Start of the period (inclusive), RFC 3339.
    from: DateTime<Utc>,
    /// End of the period (exclusive), RFC 3339.
    to: DateTime<Utc>,
    /// 1 to 200, default 50.
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EarningsPage {
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    /// Views observed from here on are inside the hold window.
    payable_until: DateTime<Utc>,
    /// The caller's posts, oldest first.
    items: Vec<PostEarningsView>,
    next_cursor: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct PostEarningsView {
    post_id: PostId,
    platform: Platform,
    url: String,
    #[schema(value_type = String)]
    status: PostStatus,
    /// Views gained in the period that the payout system counts now.
    views_counted: u64,
    /// Views gained in the period inside the hold window, counted from `held_until`.
    views_held: u64,
    held_until: Option<DateTime<Utc>>,
    /// Views gained in the period that are not counted...
    views_not_counted: u64,
    /// ...because the post is `flagged`, `removed` or `not_verified`.
    not_counted_because: Option<String>,
    /// Every flag raised on the post, open or cleared, with its numbers.
    flags: Vec<FlagOnPost>,
    /// Views paid on the post by statements, all time.
    views_paid: u64,
    /// Views clawed back by later statements, all time.
    views_clawed_back: u64,
    /// The statement lines behind those two figures.
    payments: Vec<PaymentView>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct FlagOnPost {
    /// `views_decreased`, `velocity`, `claimed_twice`, `fingerprint_match` or `engagement_gap`.
    kind: String,
    /// Why, in numbers.
    detail: String,
    raised_at: DateTime<Utc>,
    cleared_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct PaymentView {
    statement_id: String,
    /// `views`, or `clawback` (negative views).
    kind: String,
    views: i64,
}

/// `GET /v1/creators/me/earnings`: the caller's posts, a page at a time, with what each
/// earned in the period.
#[utoipa::path(get, path = "/v1/creators/me/earnings", tag = "creators", security(("bearer" = [])),
    params(EarningsQuery),
    responses(
        (status = 200, description = "The caller's posts, oldest first", body = EarningsPage),
        (status = 400, description = "A bad period, cursor or limit", body = ErrorDoc),
        (status = 401, description = "No valid creator token", body = ErrorDoc),
        (status = 404, description = "The caller has not joined", body = ErrorDoc),
    ))]
pub async fn earnings(
    state: web::Data<AppState>,
    JoinedCreator(creator): JoinedCreator,
    query: web::Query<EarningsQuery>,
) -> Result<HttpResponse, ApiError> {
    let period = Period::parse(query.from, query.to, &state.payouts).map_err(period_error)?;
    let limit = query.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::bad_request("bad_limit", format!("limit must be 1 to {MAX_PAGE}")));
    }
    let after = query
        .cursor
        .as_deref()
        .map(super::cursor::decode)
        .transpose()?
        .map(|(created_at, id)| PostCursor { created_at, id });
    let payable_until = period.payable_until(Utc::now(), &state.payouts);
    let posts = state.store.posts_for_creator(creator.id, after, limit).await?;
    let ids: Vec<PostId> = posts.iter().map(|p| p.id).collect();
    let gains: HashMap<PostId, _> = state
        .store
        .post_gains(&ids, period.from, period.to, payable_until)
        .await?
        .into_iter()
        .map(|g| (g.post_id, g))
        .collect();
    let mut items = Vec::with_capacity(posts.len());
    for post in &posts {
        let flags = state.store.flags_for_post(post.id).await?;
        let payments = state.store.payments_for_post(post.id).await?;
        let earned = post_earnings(post, gains.get(&post.id), &flags, &state.payouts);
        let (views_paid, views_clawed_back) = paid_and_clawed_back(&payments);
        items.push(PostEarningsView {
            post_id: post.id,
            platform: post.platform,
            url: post.url.clone(),
            status: post.status,
            views_counted: earned.counted,
            views_held: earned.held,
            held_until: earned.held_until,
            views_not_counted: earned.not_counted,
            not_counted_because: earned.because.map(|b| b.as_str().to_owned()),
            flags: flags
                .into_iter()
                .map(|f| FlagOnPost {
                    kind: f.kind.as_str().to_owned(),
                    detail: f.detail,
                    raised_at: f.raised_at,
                    cleared_at: f.cleared_at,
                })
                .collect(),
            views_paid,
            views_clawed_back,
            payments: payments
                .into_iter()
                .map(|p| PaymentView { statement_id: p.statement_id, kind: p.line_kind, views: p.views })
                .collect(),
        });
    }
    let next_cursor = (posts.len() == limit as usize)
        .then(|| posts.last().map(|p| super::cursor::encode(p.created_at, p.id)))
        .flatten();
    Ok(HttpResponse::Ok().json(EarningsPage {
        from: period.from,
        to: period.to,
        payable_until,
        items,
        next_cursor,
    }))
}
