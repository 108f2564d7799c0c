//! The webhook outbox: events written in the transaction of the change they report, one
//! delivery per subscribed endpoint, leased by a worker the way polls are, retried until
//! delivered or given up on, and logged attempt by attempt.

use async_trait::async_trait;
use chrono::SecondsFormat;
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};
use uuid::Uuid;

use super::backend::SqlStore;
use super::columns::{from_ms, opt_from_ms, parse_id, to_ms};
use super::{StoreError, StoreResult};
use crate::domain::{DeliveryState, EventType, OutboxEvent, Timestamp};

/// A delivery leased for one attempt: the event's id and payload, and where it goes.
#[derive(Debug, Clone)]
pub struct LeasedDelivery {
    pub event_id: String,
    pub endpoint_id: Uuid,
    pub url: String,
    pub secret: String,
    pub payload: String,
    /// Every attempt so far, replays included: numbers the attempt log.
    pub attempts: u32,
    /// The retry window opened at the event, or at the last replay...
    pub window_start: Timestamp,
    /// ...and this many attempts were made since.
    pub window_attempts: u32,
}

/// What one attempt found.
#[derive(Debug, Clone)]
pub struct AttemptRecord {
    pub at: Timestamp,
    pub status: Option<u16>,
    pub error: Option<String>,
    pub duration_ms: u64,
    /// Delivered, failed for good, or pending again from `next_attempt_at`.
    pub state: DeliveryState,
    pub next_attempt_at: Timestamp,
}

/// One line of an endpoint's delivery log.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryRecord {
    pub event_id: String,
    pub event_type: String,
    pub state: DeliveryState,
    pub attempts: u32,
    pub last_status: Option<u16>,
    pub last_error: Option<String>,
    pub next_attempt_at: Option<Timestamp>,
    pub delivered_at: Option<Timestamp>,
    pub created_at: Timestamp,
}

/// The outbox and its deliveries.
#[async_trait]
pub trait OutboxRepo: Send + Sync {
    /// Leases up to `limit` deliveries due at `now` to `worker` until `until`.
    async fn lease_deliveries(
        &self,
        worker: &str,
        now: Timestamp,
        until: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<LeasedDelivery>>;
    /// Records an attempt of a delivery this worker holds; false if its lease was lost.
    async fn record_attempt(
        &self,
        delivery: &LeasedDelivery,
        worker: &str,
        attempt: &AttemptRecord,
    ) -> StoreResult<bool>;
    /// An endpoint's deliveries, newest first, at most `limit`, before `before` (a cursor).
    async fn deliveries(
        &self,
        endpoint_id: Uuid,
        before: Option<(Timestamp, String)>,
        limit: u32,
    ) -> StoreResult<Vec<DeliveryRecord>>;
    /// Sends again every delivery of the endpoint whose event was created at or after
    /// `since` (delivered or failed ones included), from `now`, each with a fresh retry
    /// window; how many.
    async fn replay(&self, endpoint_id: Uuid, since: Timestamp, now: Timestamp) -> StoreResult<u64>;
    /// Deletes settled events (no delivery pending) created before `before`, and every
    /// settled `creator.erased` (it names an erased creator); how many.
    async fn prune_outbox(&self, before: Timestamp) -> StoreResult<u64>;
}

/// The endpoints taking `event_type`, as a `LIKE` pattern over their `event_types` list.
fn taking(event_type: EventType) -> String {
    format!("%,{},%", event_type.as_str())
}

/// Writes `event` to the outbox inside `tx`, with a delivery for each enabled endpoint that
/// takes its type; nothing when none does (an event nobody takes is not kept).
pub(super) async fn enqueue(tx: &mut Transaction<'static, Any>, event: &OutboxEvent) -> StoreResult<()> {
    let id = format!("msg_{}", Uuid::new_v4().simple());
    let payload = serde_json::json!({
        "type": event.event_type.as_str(),
        "timestamp": event.at.to_rfc3339_opts(SecondsFormat::Millis, true),
        "data": event.data,
    })
    .to_string();
    let pattern = taking(event.event_type);
    let kept = sqlx::query(
        "INSERT INTO outbox_events (id, event_type, creator_id, payload, created_at) \
         SELECT $1, $2, $3, $4, $5 WHERE EXISTS \
           (SELECT 1 FROM webhook_endpoints WHERE enabled = 1 AND event_types LIKE $6)",
    )
    .bind(&id)
    .bind(event.event_type.as_str())
    .bind(event.creator_id.map(|c| c.to_string()))
    .bind(&payload)
    .bind(to_ms(event.at))
    .bind(&pattern)
    .execute(&mut **tx)
    .await?;
    if kept.rows_affected() == 0 {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO outbox_deliveries (event_id, endpoint_id, state, next_attempt_at, window_start, created_at) \
         SELECT $1, id, 'pending', $2, $2, $2 FROM webhook_endpoints WHERE enabled = 1 AND event_types LIKE $3",
    )
    .bind(&id)
    .bind(to_ms(event.at))
    .bind(&pattern)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Deletes every event about a creator (inside an erasure's transaction): their ids must
/// not outlive them in the outbox or its log.
pub(super) async fn forget_creator(tx: &mut Transaction<'static, Any>, creator_id: &str) -> StoreResult<u64> {
    let deleted = sqlx::query("DELETE FROM outbox_events WHERE creator_id = $1")
        .bind(creator_id)
        .execute(&mut **tx)
        .await?;
    Ok(deleted.rows_affected())
}

fn count(row: &AnyRow, column: &str) -> StoreResult<u32> {
    Ok(u32::try_from(row.try_get::<i64, _>(column)?).unwrap_or(u32::MAX))
}

fn status_of(row: &AnyRow, column: &str) -> StoreResult<Option<u16>> {
    Ok(row.try_get::<Option<i64>, _>(column)?.and_then(|s| u16::try_from(s).ok()))
}

#[async_trait]
impl OutboxRepo for SqlStore {
    async fn lease_deliveries(
        &self,
        worker: &str,
        now: Timestamp,
        until: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<LeasedDelivery>> {
        let skip_locked = match self.backend {
            super::Backend::Postgres => "FOR UPDATE SKIP LOCKED",
            super::Backend::Sqlite => "",
        };
        // Due, and not held by a live lease (an expired one is a crashed worker's).
        sqlx::query(&format!(
            "UPDATE outbox_deliveries SET lease_owner = $1, lease_expires_at = $2 \
             WHERE (event_id, endpoint_id) IN ( \
               SELECT event_id, endpoint_id FROM outbox_deliveries \
               WHERE state = 'pending' AND next_attempt_at <= $3 \
                 AND (lease_expires_at IS NULL OR lease_expires_at < $3) \
               ORDER BY next_attempt_at LIMIT $4 {skip_locked})"
        ))
        .bind(worker)
        .bind(to_ms(until))
        .bind(to_ms(now))
        .bind(i64::from(limit))
        .execute(&self.pool)
        .await?;
        let rows = sqlx::query(
            "SELECT d.event_id, d.endpoint_id, d.attempts, d.window_start, d.window_attempts, e.payload, p.url, p.secret \
             FROM outbox_deliveries d JOIN outbox_events e ON e.id = d.event_id \
             JOIN webhook_endpoints p ON p.id = d.endpoint_id \
             WHERE d.lease_owner = $1 AND d.lease_expires_at = $2 AND d.state = 'pending' \
             ORDER BY d.next_attempt_at",
        )
        .bind(worker)
        .bind(to_ms(until))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(LeasedDelivery {
                    event_id: row.try_get("event_id")?,
                    endpoint_id: parse_id(&row.try_get::<String, _>("endpoint_id")?)?,
                    url: row.try_get("url")?,
                    secret: row.try_get("secret")?,
                    payload: row.try_get("payload")?,
                    attempts: count(row, "attempts")?,
                    window_start: from_ms(row.try_get("window_start")?)?,
                    window_attempts: count(row, "window_attempts")?,
                })
            })
            .collect()
    }

    async fn record_attempt(
        &self,
        delivery: &LeasedDelivery,
        worker: &str,
        attempt: &AttemptRecord,
    ) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await?;
        let number = i64::from(delivery.attempts) + 1;
        let ours = sqlx::query(
            "UPDATE outbox_deliveries SET attempts = $4, window_attempts = window_attempts + 1, state = $5, next_attempt_at = $6, \
               last_status = $7, last_error = $8, delivered_at = $9, lease_owner = NULL, lease_expires_at = NULL \
             WHERE event_id = $1 AND endpoint_id = $2 AND lease_owner = $3 AND state = 'pending'",
        )
        .bind(&delivery.event_id)
        .bind(delivery.endpoint_id.to_string())
        .bind(worker)
        .bind(number)
        .bind(attempt.state.as_str())
        .bind(to_ms(attempt.next_attempt_at))
        .bind(attempt.status.map(i64::from))
        .bind(attempt.error.clone())
        .bind((attempt.state == DeliveryState::Delivered).then(|| to_ms(attempt.at)))
        .execute(&mut *tx)
        .await?;
        if ours.rows_affected() == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO outbox_attempts (event_id, endpoint_id, attempt, at, status, error, duration_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
        )
        .bind(&delivery.event_id)
        .bind(delivery.endpoint_id.to_string())
        .bind(number)
        .bind(to_ms(attempt.at))
        .bind(attempt.status.map(i64::from))
        .bind(attempt.error.clone())
        .bind(i64::try_from(attempt.duration_ms).unwrap_or(i64::MAX))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn deliveries(
        &self,
        endpoint_id: Uuid,
        before: Option<(Timestamp, String)>,
        limit: u32,
    ) -> StoreResult<Vec<DeliveryRecord>> {
        let (before_at, before_id) = before.map_or((i64::MAX, String::new()), |(at, id)| (to_ms(at), id));
        let rows = sqlx::query(
            "SELECT d.event_id, e.event_type, d.state, d.attempts, d.last_status, d.last_error, d.next_attempt_at, \
               d.delivered_at, d.created_at FROM outbox_deliveries d JOIN outbox_events e ON e.id = d.event_id \
             WHERE d.endpoint_id = $1 AND (d.created_at < $2 OR (d.created_at = $2 AND d.event_id < $3)) \
             ORDER BY d.created_at DESC, d.event_id DESC LIMIT $4",
        )
        .bind(endpoint_id.to_string())
        .bind(before_at)
        .bind(if before_id.is_empty() { "\u{10FFFF}".to_owned() } else { before_id })
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let state: String = row.try_get("state")?;
                let state = DeliveryState::parse(&state)
                    .ok_or_else(|| StoreError::Corrupt(format!("unknown delivery state {state}")))?;
                Ok(DeliveryRecord {
                    event_id: row.try_get("event_id")?,
                    event_type: row.try_get("event_type")?,
                    state,
                    attempts: count(row, "attempts")?,
                    last_status: status_of(row, "last_status")?,
                    last_error: row.try_get("last_error")?,
                    next_attempt_at: (state == DeliveryState::Pending)
                        .then(|| from_ms(row.try_get("next_attempt_at")?))
                        .transpose()?,
                    delivered_at: opt_from_ms(row.try_get("delivered_at")?)?,
                    created_at: from_ms(row.try_get("created_at")?)?,
                })
            })
            .collect()
    }

    async fn replay(&self, endpoint_id: Uuid, since: Timestamp, now: Timestamp) -> StoreResult<u64> {
        let replayed = sqlx::query(
            "UPDATE outbox_deliveries SET state = 'pending', next_attempt_at = $3, window_start = $3, \
               window_attempts = 0, lease_owner = NULL, lease_expires_at = NULL \
             WHERE endpoint_id = $1 AND created_at >= $2",
        )
        .bind(endpoint_id.to_string())
        .bind(to_ms(since))
        .bind(to_ms(now))
        .execute(&self.pool)
        .await?;
        Ok(replayed.rows_affected())
    }

    async fn prune_outbox(&self, before: Timestamp) -> StoreResult<u64> {
        let pruned = sqlx::query(
            "DELETE FROM outbox_events WHERE (created_at < $1 OR event_type = $2) AND NOT EXISTS \
               (SELECT 1 FROM outbox_deliveries d WHERE d.event_id = outbox_events.id AND d.state = 'pending')",
        )
        .bind(to_ms(before))
        .bind(EventType::CreatorErased.as_str())
        .execute(&self.pool)
        .await?;
        Ok(pruned.rows_affected())
    }
}
