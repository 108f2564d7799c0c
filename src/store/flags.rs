//! Fraud flags: why a post is held out of statements until an admin clears it. Raising or
//! clearing one recounts the post in the day totals, in the same transaction.

use async_trait::async_trait;
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};
use uuid::Uuid;

use super::backend::SqlStore;
use super::columns::{from_ms, opt_from_ms, parse_id, to_ms};
use super::rollup::recount_post;
use super::{StoreError, StoreResult};
use crate::domain::{CreatorId, EventType, FlagKind, OutboxEvent, PostFlag, PostId, Timestamp};

/// Flags raised and cleared.
#[async_trait]
pub trait FlagRepo: Send + Sync {
    async fn flag_post(
        &self,
        post_id: PostId,
        kind: FlagKind,
        detail: &str,
        at: Timestamp,
    ) -> StoreResult<PostFlag>;
    /// Flags in the order raised (open ones only when asked), at most `limit`.
    async fn flags(&self, open_only: bool, limit: u32) -> StoreResult<Vec<PostFlag>>;
    /// One post's flags, cleared ones included, in the order raised.
    async fn flags_for_post(&self, post_id: PostId) -> StoreResult<Vec<PostFlag>>;
    /// Clears a flag (the first clearing stands); `None` if there is no such flag.
    async fn clear_flag(&self, id: Uuid, by: &str, at: Timestamp) -> StoreResult<Option<PostFlag>>;
}

const FLAG_COLUMNS: &str = "id, post_id, kind, detail, raised_at, cleared_at, cleared_by";
/// Raises a flag: (id, post id, kind, detail, raised at). Also run inside a poll's transaction.
pub(super) const INSERT_FLAG: &str =
    "INSERT INTO post_flags (id, post_id, kind, detail, raised_at) VALUES ($1, $2, $3, $4, $5)";

/// Writes `flag.raised` or `flag.cleared` for a flag to the outbox, inside `tx`.
pub(super) async fn announce(
    tx: &mut Transaction<'static, Any>,
    event_type: EventType,
    flag: &PostFlag,
    at: Timestamp,
) -> StoreResult<()> {
    let owner = sqlx::query("SELECT creator_id FROM posts WHERE id = $1")
        .bind(flag.post_id.to_string())
        .fetch_one(&mut **tx)
        .await?;
    let creator_id: CreatorId = parse_id(&owner.try_get::<String, _>("creator_id")?)?;
    let data = serde_json::json!({
        "flag_id": flag.id,
        "post_id": flag.post_id,
        "creator_id": creator_id,
        "kind": flag.kind.as_str(),
    });
    super::outbox::enqueue(tx, &OutboxEvent::new(event_type, Some(creator_id), data, at)).await
}

fn flag_from_row(row: &AnyRow) -> StoreResult<PostFlag> {
    let kind: String = row.try_get("kind")?;
    Ok(PostFlag {
        id: parse_id(&row.try_get::<String, _>("id")?)?,
        post_id: parse_id(&row.try_get::<String, _>("post_id")?)?,
        kind: FlagKind::parse(&kind).ok_or_else(|| StoreError::Corrupt(format!("unknown flag {kind}")))?,
        detail: row.try_get("detail")?,
        raised_at: from_ms(row.try_get("raised_at")?)?,
        cleared_at: opt_from_ms(row.try_get("cleared_at")?)?,
        cleared_by: row.try_get("cleared_by")?,
    })
}

#[async_trait]
impl FlagRepo for SqlStore {
    async fn flag_post(
        &self,
        post_id: PostId,
        kind: FlagKind,
        detail: &str,
        at: Timestamp,
    ) -> StoreResult<PostFlag> {
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(&format!("{INSERT_FLAG} RETURNING {FLAG_COLUMNS}"))
            .bind(Uuid::new_v4().to_string())
            .bind(post_id.to_string())
            .bind(kind.as_str())
            .bind(detail)
            .bind(to_ms(at))
            .fetch_one(&mut *tx)
            .await?;
        let flag = flag_from_row(&row)?;
        recount_post(&mut tx, &flag.post_id.to_string()).await?;
        announce(&mut tx, EventType::FlagRaised, &flag, at).await?;
        tx.commit().await?;
        Ok(flag)
    }

    async fn flags(&self, open_only: bool, limit: u32) -> StoreResult<Vec<PostFlag>> {
        let filter = if open_only { "WHERE cleared_at IS NULL" } else { "" };
        sqlx::query(&format!(
            "SELECT {FLAG_COLUMNS} FROM post_flags {filter} ORDER BY raised_at, id LIMIT $1"
        ))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(flag_from_row)
        .collect()
    }

    async fn flags_for_post(&self, post_id: PostId) -> StoreResult<Vec<PostFlag>> {
        sqlx::query(&format!(
            "SELECT {FLAG_COLUMNS} FROM post_flags WHERE post_id = $1 ORDER BY raised_at, id"
        ))
        .bind(post_id.to_string())
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(flag_from_row)
        .collect()
    }

    async fn clear_flag(&self, id: Uuid, by: &str, at: Timestamp) -> StoreResult<Option<PostFlag>> {
        let mut tx = self.pool.begin().await?;
        let flag = sqlx::query(&format!(
            "UPDATE post_flags SET cleared_at = COALESCE(cleared_at, $2), cleared_by = COALESCE(cleared_by, $3) \
             WHERE id = $1 RETURNING {FLAG_COLUMNS}"
        ))
        .bind(id.to_string())
        .bind(to_ms(at))
        .bind(by)
        .fetch_optional(&mut *tx)
        .await?
        .as_ref()
        .map(flag_from_row)
        .transpose()?;
        // Clearing a fingerprint match approves it: the post is checked again at once, and the
        // check verifies it while its media still match (see `tracking`).
        if let Some(flag) = flag
            .as_ref()
            .filter(|f| f.kind == FlagKind::FingerprintMatch && f.cleared_at.map(to_ms) == Some(to_ms(at)))
        {
            sqlx::query(
                "UPDATE posts SET status = 'pending', status_reason = NULL, failures = 0, next_poll_at = $2 \
                 WHERE id = $1 AND status = 'unverified'",
            )
            .bind(flag.post_id.to_string())
            .bind(to_ms(at))
            .execute(&mut *tx)
            .await?;
        }
        // The flag row is locked before the post's (the order erasure deletes them in).
        if let Some(flag) = &flag {
            recount_post(&mut tx, &flag.post_id.to_string()).await?;
            if flag.cleared_at.map(to_ms) == Some(to_ms(at)) {
                announce(&mut tx, EventType::FlagCleared, flag, at).await?;
            }
        }
        tx.commit().await?;
        Ok(flag)
    }
}
