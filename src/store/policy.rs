//! Privacy policy versions: each is adopted once, by the first process configured with it;
//! creators who consented under another version must re-grant within the grace period, or
//! their tracking pauses until they do (the poller's and discovery's leases skip them).

use async_trait::async_trait;

use super::backend::SqlStore;
use super::columns::to_ms;
use super::StoreResult;
use crate::domain::Timestamp;

#[async_trait]
pub trait PolicyRepo: Send + Sync {
    /// Adopts `version` at `now` unless it was adopted before; on adoption, every creator
    /// whose latest grant names another version must re-grant by `regrant_due_at`. Says
    /// whether this call adopted it.
    async fn adopt_policy(
        &self,
        version: &str,
        now: Timestamp,
        regrant_due_at: Timestamp,
    ) -> StoreResult<bool>;
}

#[async_trait]
impl PolicyRepo for SqlStore {
    async fn adopt_policy(
        &self,
        version: &str,
        now: Timestamp,
        regrant_due_at: Timestamp,
    ) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await?;
        let adopted = sqlx::query(
            "INSERT INTO policy_versions (version, adopted_at) VALUES ($1, $2) ON CONFLICT (version) DO NOTHING",
        )
        .bind(version)
        .bind(to_ms(now))
        .execute(&mut *tx)
        .await?;
        if adopted.rows_affected() == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        sqlx::query(
            "UPDATE creators SET regrant_due_at = $2 WHERE policy_version <> $1 AND regrant_due_at IS NULL",
        )
        .bind(version)
        .bind(to_ms(regrant_due_at))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }
}
