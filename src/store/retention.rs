//! The retention sweep's storage: its lease (one row in `maintenance_leases`), the purge
//! itself in one transaction, and its receipts. What is purged, with the policy clause each
//! serves, is in docs/privacy.md (Retention).

use std::collections::BTreeMap;

use async_trait::async_trait;
use sqlx::Row;
use uuid::Uuid;

use super::backend::SqlStore;
use super::columns::{from_ms, to_ms};
use super::{StoreError, StoreResult};
use crate::domain::Timestamp;

const LEASE: &str = "retention";

/// Posts no longer tracked (stopped, removed or unverified: never polled again), last polled
/// before `$1`.
const UNTRACKED_BEFORE: &str = "SELECT id FROM posts WHERE status IN ('stopped', 'removed', 'unverified') \
     AND COALESCE(last_polled_at, created_at) < $1";

/// What has expired: everything older than these.
#[derive(Debug, Clone, Copy)]
pub struct RetentionCutoffs {
    /// Snapshots and verification evidence of posts no longer tracked since before this.
    pub snapshots_before: Timestamp,
    /// Statement lines moved to a tombstone payee, of statements whose period ended before this.
    pub payment_records_before: Timestamp,
    pub erasure_receipts_before: Timestamp,
}

/// What one sweep removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SweepReceipt {
    pub id: Uuid,
    pub ran_at: Timestamp,
    pub row_counts: BTreeMap<String, u64>,
}

#[async_trait]
pub trait RetentionRepo: Send + Sync {
    /// Takes the sweep's lease until `until` if a sweep is due at `now` and no live lease
    /// holds it; false otherwise.
    async fn claim_sweep(&self, owner: &str, now: Timestamp, until: Timestamp) -> StoreResult<bool>;
    /// Purges what is older than the cutoffs, records the receipt and, if `owner` still
    /// holds the lease, gives it back with the next sweep due at `next_at`.
    async fn sweep(
        &self,
        owner: &str,
        cutoffs: &RetentionCutoffs,
        now: Timestamp,
        next_at: Timestamp,
    ) -> StoreResult<SweepReceipt>;
    /// The latest sweeps' receipts, newest first.
    async fn sweep_receipts(&self, limit: u32) -> StoreResult<Vec<SweepReceipt>>;
}

#[async_trait]
impl RetentionRepo for SqlStore {
    async fn claim_sweep(&self, owner: &str, now: Timestamp, until: Timestamp) -> StoreResult<bool> {
        sqlx::query(
            "INSERT INTO maintenance_leases (name, next_run_at) VALUES ($1, 0) ON CONFLICT (name) DO NOTHING",
        )
        .bind(LEASE)
        .execute(&self.pool)
        .await?;
        let claimed = sqlx::query(
            "UPDATE maintenance_leases SET lease_owner = $2, lease_expires_at = $3 \
             WHERE name = $1 AND next_run_at <= $4 AND (lease_expires_at IS NULL OR lease_expires_at < $4)",
        )
        .bind(LEASE)
        .bind(owner)
        .bind(to_ms(until))
        .bind(to_ms(now))
        .execute(&self.pool)
        .await?;
        Ok(claimed.rows_affected() == 1)
    }

    async fn sweep(
        &self,
        owner: &str,
        cutoffs: &RetentionCutoffs,
        now: Timestamp,
        next_at: Timestamp,
    ) -> StoreResult<SweepReceipt> {
        let mut tx = self.pool.begin().await?;
        let mut counts = BTreeMap::new();
        // Only the raw snapshots go: the day and month totals are aggregates, kept.
        let snapshots =
            sqlx::query(&format!("DELETE FROM view_snapshots WHERE post_id IN ({UNTRACKED_BEFORE})"))
                .bind(to_ms(cutoffs.snapshots_before))
                .execute(&mut *tx)
                .await?;
        counts.insert("view_snapshots".to_owned(), snapshots.rows_affected());
        let evidence = sqlx::query(&format!(
            "UPDATE posts SET evidence_media_sha256 = NULL, evidence_score = NULL \
             WHERE evidence_media_sha256 IS NOT NULL AND id IN ({UNTRACKED_BEFORE})"
        ))
        .bind(to_ms(cutoffs.snapshots_before))
        .execute(&mut *tx)
        .await?;
        counts.insert("post_evidence".to_owned(), evidence.rows_affected());
        let lines = sqlx::query(
            "DELETE FROM statement_lines WHERE payee_id LIKE 'tombstone-%' \
             AND statement_id IN (SELECT id FROM payout_statements WHERE period_end < $1)",
        )
        .bind(to_ms(cutoffs.payment_records_before))
        .execute(&mut *tx)
        .await?;
        counts.insert("statement_lines (tombstoned)".to_owned(), lines.rows_affected());
        let receipts = sqlx::query("DELETE FROM erasure_receipts WHERE erased_at < $1")
            .bind(to_ms(cutoffs.erasure_receipts_before))
            .execute(&mut *tx)
            .await?;
        counts.insert("erasure_receipts".to_owned(), receipts.rows_affected());
        let receipt = SweepReceipt { id: Uuid::new_v4(), ran_at: now, row_counts: counts };
        let row_counts =
            serde_json::to_string(&receipt.row_counts).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        sqlx::query("INSERT INTO retention_sweeps (id, ran_at, row_counts) VALUES ($1, $2, $3)")
            .bind(receipt.id.to_string())
            .bind(to_ms(now))
            .bind(row_counts)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "UPDATE maintenance_leases SET lease_owner = NULL, lease_expires_at = NULL, next_run_at = $3 \
             WHERE name = $1 AND lease_owner = $2",
        )
        .bind(LEASE)
        .bind(owner)
        .bind(to_ms(next_at))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(receipt)
    }

    async fn sweep_receipts(&self, limit: u32) -> StoreResult<Vec<SweepReceipt>> {
        sqlx::query("SELECT id, ran_at, row_counts FROM retention_sweeps ORDER BY ran_at DESC, id LIMIT $1")
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|row| {
                let counts: String = row.try_get("row_counts")?;
                Ok(SweepReceipt {
                    id: super::columns::parse_id::<Uuid>(&row.try_get::<String, _>("id")?)?,
                    ran_at: from_ms(row.try_get("ran_at")?)?,
                    row_counts: serde_json::from_str(&counts)
                        .map_err(|e| StoreError::Corrupt(e.to_string()))?,
                })
            })
            .collect()
    }
}
