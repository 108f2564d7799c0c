//! Deleting one upload (the privacy policy's "request deletion of your uploaded content at
//! any time"): its payload mapping, hash and references go, so its mark detects as unknown,
//! and its posts stop being tracked. Statement evidence already issued stays: it names the
//! post, not the content.

use async_trait::async_trait;

use super::backend::SqlStore;
use super::StoreResult;
use crate::domain::ContentId;

/// Why a post whose content was deleted is no longer tracked.
pub const CONTENT_DELETED: &str = "content_deleted";

#[async_trait]
pub trait ContentDeletionRepo: Send + Sync {
    /// Deletes the content and stops its posts in one transaction; how many posts stopped,
    /// or `None` when there is no such content (any more).
    async fn delete_content(&self, id: ContentId) -> StoreResult<Option<u64>>;
}

#[async_trait]
impl ContentDeletionRepo for SqlStore {
    async fn delete_content(&self, id: ContentId) -> StoreResult<Option<u64>> {
        let mut tx = self.pool.begin().await?;
        // The posts first: their rows are what a poll's start gate share-locks.
        let stopped = sqlx::query(
            "UPDATE posts SET status = 'stopped', status_reason = $2, lease_owner = NULL, lease_expires_at = NULL \
             WHERE content_id = $1 AND status <> 'stopped'",
        )
        .bind(id.to_string())
        .bind(CONTENT_DELETED)
        .execute(&mut *tx)
        .await?;
        let deleted =
            sqlx::query("DELETE FROM contents WHERE id = $1").bind(id.to_string()).execute(&mut *tx).await?;
        if deleted.rows_affected() == 0 {
            tx.rollback().await?;
            return Ok(None);
        }
        tx.commit().await?;
        if self.backend == super::Backend::Sqlite {
            if let Err(err) = super::sqlite::purge_wal(&self.pool).await {
                tracing::warn!(%err, content_id = %id, "the deleted content's row may stay in the WAL until the next checkpoint");
            }
        }
        Ok(Some(stopped.rows_affected()))
    }
}
