//! Disputes: a creator contests a post's payment with a short note, an admin answers with an
//! outcome. The note and the answer are sealed under the creator's data key.

use async_trait::async_trait;
use sqlx::any::AnyRow;
use sqlx::Row;
use uuid::Uuid;

use super::backend::SqlStore;
use super::columns::{from_ms, opt_from_ms, parse_id, to_ms};
use super::sealed::{DataKey, SealedColumn};
use super::{StoreError, StoreResult};
use crate::domain::{CreatorId, Dispute, DisputeOutcome, DisputeText, PostId, Timestamp};

/// A resolution that found the dispute already resolved: the first one stands.
#[derive(Debug)]
pub enum Resolution {
    Resolved(Dispute),
    AlreadyResolved(Dispute),
}

#[async_trait]
pub trait DisputeRepo: Send + Sync {
    /// Opens a dispute of the creator's post; `Conflict` while another is open on it.
    async fn open_dispute(
        &self,
        creator_id: CreatorId,
        post_id: PostId,
        note: &DisputeText,
        at: Timestamp,
    ) -> StoreResult<Dispute>;
    /// The creator's disputes, oldest first.
    async fn disputes_for_creator(&self, creator_id: CreatorId) -> StoreResult<Vec<Dispute>>;
    /// Disputes in the order opened (open ones only when asked), at most `limit`.
    async fn disputes(&self, open_only: bool, limit: u32) -> StoreResult<Vec<Dispute>>;
    /// Resolves a dispute; `None` if there is no such dispute.
    async fn resolve_dispute(
        &self,
        id: Uuid,
        outcome: DisputeOutcome,
        answer: Option<&DisputeText>,
        by: &str,
        at: Timestamp,
    ) -> StoreResult<Option<Resolution>>;
}

const DISPUTE_COLUMNS: &str =
    "id, post_id, creator_id, note_enc, opened_at, outcome, answer_enc, resolved_at, resolved_by";

fn dispute_from_row(row: &AnyRow, key: &DataKey) -> StoreResult<Dispute> {
    let id: Uuid = parse_id(&row.try_get::<String, _>("id")?)?;
    let note = key.open_text(SealedColumn::DisputeNote, id, &row.try_get::<Vec<u8>, _>("note_enc")?)?;
    let answer = row
        .try_get::<Option<Vec<u8>>, _>("answer_enc")?
        .map(|sealed| key.open_text(SealedColumn::DisputeAnswer, id, &sealed))
        .transpose()?;
    let outcome = row
        .try_get::<Option<String>, _>("outcome")?
        .map(|o| DisputeOutcome::parse(&o).ok_or_else(|| StoreError::Corrupt(format!("unknown outcome {o}"))))
        .transpose()?;
    Ok(Dispute {
        id,
        post_id: parse_id(&row.try_get::<String, _>("post_id")?)?,
        creator_id: parse_id(&row.try_get::<String, _>("creator_id")?)?,
        note,
        opened_at: from_ms(row.try_get("opened_at")?)?,
        outcome,
        answer,
        resolved_at: opt_from_ms(row.try_get("resolved_at")?)?,
        resolved_by: row.try_get("resolved_by")?,
    })
}

impl SqlStore {
    async fn dispute(&self, id: Uuid) -> StoreResult<Option<Dispute>> {
        let row = sqlx::query(&format!("SELECT {DISPUTE_COLUMNS} FROM post_disputes WHERE id = $1"))
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        self.decode_one(row, dispute_from_row).await
    }
}

#[async_trait]
impl DisputeRepo for SqlStore {
    async fn open_dispute(
        &self,
        creator_id: CreatorId,
        post_id: PostId,
        note: &DisputeText,
        at: Timestamp,
    ) -> StoreResult<Dispute> {
        let key = self.keys.data_key(creator_id).await?.ok_or(StoreError::KeyUnavailable)?;
        let id = Uuid::new_v4();
        let sealed = key.seal(SealedColumn::DisputeNote, id, note.as_str().as_bytes())?;
        let opened = sqlx::query(
            "INSERT INTO post_disputes (id, post_id, creator_id, note_enc, opened_at) \
             SELECT $1, $2, $3, $4, $5 WHERE NOT EXISTS \
               (SELECT 1 FROM post_disputes WHERE post_id = $2 AND resolved_at IS NULL)",
        )
        .bind(id.to_string())
        .bind(post_id.to_string())
        .bind(creator_id.to_string())
        .bind(sealed)
        .bind(to_ms(at))
        .execute(&self.pool)
        .await;
        // Either the check above or, for two at once, the unique index on open disputes.
        let taken = || StoreError::Conflict("a dispute of this post is open".into());
        match opened.map_err(StoreError::from) {
            Ok(done) if done.rows_affected() == 1 => {}
            Ok(_) | Err(StoreError::Conflict(_)) => return Err(taken()),
            Err(err) => return Err(err),
        }
        self.dispute(id).await?.ok_or_else(|| StoreError::Corrupt("the dispute just opened is gone".into()))
    }

    async fn disputes_for_creator(&self, creator_id: CreatorId) -> StoreResult<Vec<Dispute>> {
        let rows = sqlx::query(&format!(
            "SELECT {DISPUTE_COLUMNS} FROM post_disputes WHERE creator_id = $1 ORDER BY opened_at, id"
        ))
        .bind(creator_id.to_string())
        .fetch_all(&self.pool)
        .await?;
        self.decode_sealed(&rows, dispute_from_row).await
    }

    async fn disputes(&self, open_only: bool, limit: u32) -> StoreResult<Vec<Dispute>> {
        let filter = if open_only { "WHERE resolved_at IS NULL" } else { "" };
        let rows = sqlx::query(&format!(
            "SELECT {DISPUTE_COLUMNS} FROM post_disputes {filter} ORDER BY opened_at, id LIMIT $1"
        ))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        self.decode_sealed(&rows, dispute_from_row).await
    }

    async fn resolve_dispute(
        &self,
        id: Uuid,
        outcome: DisputeOutcome,
        answer: Option<&DisputeText>,
        by: &str,
        at: Timestamp,
    ) -> StoreResult<Option<Resolution>> {
        let Some(current) = self.dispute(id).await? else { return Ok(None) };
        if current.resolved_at.is_some() {
            return Ok(Some(Resolution::AlreadyResolved(current)));
        }
        let key = self.keys.data_key(current.creator_id).await?.ok_or(StoreError::KeyUnavailable)?;
        let sealed =
            answer.map(|a| key.seal(SealedColumn::DisputeAnswer, id, a.as_str().as_bytes())).transpose()?;
        let done = sqlx::query(
            "UPDATE post_disputes SET outcome = $2, answer_enc = $3, resolved_at = $4, resolved_by = $5 \
             WHERE id = $1 AND resolved_at IS NULL",
        )
        .bind(id.to_string())
        .bind(outcome.as_str())
        .bind(sealed)
        .bind(to_ms(at))
        .bind(by)
        .execute(&self.pool)
        .await?;
        let now = self.dispute(id).await?.ok_or_else(|| StoreError::Corrupt("the dispute is gone".into()))?;
        Ok(Some(if done.rows_affected() == 1 {
            Resolution::Resolved(now)
        } else {
            Resolution::AlreadyResolved(now)
        }))
    }
}
