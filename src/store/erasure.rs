//! Erasure: the creator's data key destroyed first (crypto-shredding: every copy of their
//! sealed fields, backups included, is unreadable from then on), then everything held about
//! them removed in one transaction, statements kept under a tombstone id, and a receipt with
//! counts only. A crash between the two steps leaves the rows unreadable and untracked (the
//! poller stops posts whose key is gone); the next attempt finds the creator and completes.
//!
//! Deleting the creator's row is also what stops tracking: leases join on the creator, and a
//! poll in flight finds no consent to write under (`complete_poll`), on PostgreSQL after
//! waiting for this transaction's row lock.

use std::collections::BTreeMap;

use async_trait::async_trait;
use uuid::Uuid;

use sqlx::Row;

use super::backend::SqlStore;
use super::columns::{from_ms, parse_id, to_ms};
use super::{ErasureRepo, StoreResult};
use crate::domain::{
    AccountId, CreatorId, ErasureReceipt, ErasureTrigger, EventType, OutboxEvent, StatementLine, Timestamp,
};

/// What is deleted, child tables first; each entry counts the creator's rows.
const DELETIONS: [(&str, &str); 15] = [
    ("oauth_states", "DELETE FROM oauth_states WHERE creator_id = $1"),
    (
        "discovery_seen",
        "DELETE FROM discovery_seen WHERE account_id IN (SELECT id FROM social_accounts WHERE creator_id = $1)",
    ),
    (
        "discovery_scans",
        "DELETE FROM discovery_scans WHERE account_id IN (SELECT id FROM social_accounts WHERE creator_id = $1)",
    ),
    ("statement_posts", "DELETE FROM statement_posts WHERE payee_id = $1"),
    ("post_disputes", "DELETE FROM post_disputes WHERE creator_id = $1"),
    ("post_flags", "DELETE FROM post_flags WHERE post_id IN (SELECT id FROM posts WHERE creator_id = $1)"),
    (
        "view_snapshots",
        "DELETE FROM view_snapshots WHERE post_id IN (SELECT id FROM posts WHERE creator_id = $1)",
    ),
    ("posts", "DELETE FROM posts WHERE creator_id = $1"),
    // After the posts: a poll holding a post's lock may still move its day totals until then.
    ("creator_day_views", "DELETE FROM creator_day_views WHERE creator_id = $1"),
    ("creator_month_views", "DELETE FROM creator_month_views WHERE creator_id = $1"),
    ("social_accounts", "DELETE FROM social_accounts WHERE creator_id = $1"),
    ("contents", "DELETE FROM contents WHERE creator_id = $1"),
    ("consent_events", "DELETE FROM consent_events WHERE creator_id = $1"),
    ("profile_corrections", "DELETE FROM profile_corrections WHERE creator_id = $1"),
    ("creators", "DELETE FROM creators WHERE id = $1"),
];

#[async_trait]
impl ErasureRepo for SqlStore {
    async fn erase_creator(
        &self,
        creator_id: CreatorId,
        trigger: ErasureTrigger,
        at: Timestamp,
    ) -> StoreResult<Option<ErasureReceipt>> {
        let id = creator_id.to_string();
        let accounts: Vec<AccountId> = sqlx::query("SELECT id FROM social_accounts WHERE creator_id = $1")
            .bind(&id)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| parse_id(&r.try_get::<String, _>("id")?))
            .collect::<StoreResult<_>>()?;
        let shredded = self.keys.destroy(creator_id).await?;
        let mut tx = self.pool.begin().await?;
        // A write first (SQLite: take the write lock; PostgreSQL: lock the creator's row, so
        // polls in flight wait or see it gone).
        let found = sqlx::query("UPDATE creators SET consent_state = 'revoked' WHERE id = $1")
            .bind(&id)
            .execute(&mut *tx)
            .await?;
        if found.rows_affected() == 0 {
            tx.rollback().await?;
            return Ok(None);
        }
        let mut counts = BTreeMap::new();
        counts.insert("data_keys".to_owned(), u64::from(shredded));
        // Statements outlive the person: their lines move to a random tombstone id.
        let tombstone = format!("tombstone-{}", Uuid::new_v4());
        let moved = sqlx::query("UPDATE statement_lines SET payee_id = $2 WHERE payee_id = $1")
            .bind(&id)
            .bind(&tombstone)
            .execute(&mut *tx)
            .await?;
        counts.insert("statement_lines (tombstoned)".to_owned(), moved.rows_affected());
        for (table, sql) in DELETIONS {
            let deleted = sqlx::query(sql).bind(&id).execute(&mut *tx).await?;
            counts.insert(table.to_owned(), deleted.rows_affected());
        }
        counts.insert("outbox_events".to_owned(), super::outbox::forget_creator(&mut tx, &id).await?);
        let receipt = ErasureReceipt { id: Uuid::new_v4(), erased_at: at, trigger, row_counts: counts };
        // The payout system is told whom to erase on its side: the one event that names the
        // creator after this (without an owner, pruned once delivered; see docs/payouts.md).
        let data = serde_json::json!({ "creator_id": creator_id, "erasure_receipt_id": receipt.id });
        let erased = OutboxEvent::new(EventType::CreatorErased, None, data, at);
        super::outbox::enqueue(&mut tx, &erased).await?;
        let row_counts = serde_json::to_string(&receipt.row_counts).unwrap_or_else(|_| "{}".into());
        sqlx::query(
            "INSERT INTO erasure_receipts (id, erased_at, trigger_kind, reason, row_counts) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(receipt.id.to_string())
        .bind(to_ms(at))
        .bind(trigger.as_str())
        .bind(trigger.reason().map(|r| r.as_str()))
        .bind(row_counts)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM revocations_pending WHERE creator_id = $1")
            .bind(&id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        if let Err(err) = self.keys.forget_account_keys(&accounts).await {
            tracing::warn!(%err, receipt = %receipt.id, "keys of erased accounts stay, opening nothing without the creator's");
        }
        if self.backend == super::Backend::Sqlite {
            // The deleted rows' pages leave the WAL too. What remains there is ciphertext under
            // a destroyed key, so a checkpoint held off by readers costs nothing but a warning.
            if let Err(err) = super::sqlite::purge_wal(&self.pool).await {
                tracing::warn!(%err, receipt = %receipt.id, "erased rows may stay in the WAL until the next checkpoint");
            }
        }
        Ok(Some(receipt))
    }

    async fn erasure_receipt(&self, id: Uuid) -> StoreResult<Option<ErasureReceipt>> {
        let row = sqlx::query(
            "SELECT id, erased_at, trigger_kind, reason, row_counts FROM erasure_receipts WHERE id = $1",
        )
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let trigger: String = sqlx::Row::try_get(&row, "trigger_kind")?;
        let reason: Option<String> = sqlx::Row::try_get(&row, "reason")?;
        let counts: String = sqlx::Row::try_get(&row, "row_counts")?;
        Ok(Some(ErasureReceipt {
            id,
            erased_at: super::columns::from_ms(sqlx::Row::try_get(&row, "erased_at")?)?,
            trigger: ErasureTrigger::parse(&trigger, reason.as_deref())
                .ok_or_else(|| super::StoreError::Corrupt(format!("unknown trigger {trigger}")))?,
            row_counts: serde_json::from_str(&counts)
                .map_err(|e| super::StoreError::Corrupt(e.to_string()))?,
        }))
    }

    async fn statement_lines_for_payee(&self, payee_id: &str) -> StoreResult<Vec<StatementLine>> {
        let rows = sqlx::query(
            "SELECT l.statement_id, s.period_start, s.period_end, l.line_kind, l.views \
             FROM statement_lines l JOIN payout_statements s ON s.id = l.statement_id \
             WHERE l.payee_id = $1 ORDER BY s.period_start, l.statement_id, l.line_kind",
        )
        .bind(payee_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(StatementLine {
                    statement_id: row.try_get("statement_id")?,
                    period_start: from_ms(row.try_get("period_start")?)?,
                    period_end: from_ms(row.try_get("period_end")?)?,
                    line_kind: row.try_get("line_kind")?,
                    views: row.try_get("views")?,
                })
            })
            .collect()
    }

    async fn first_delivery(&self, delivery_id: &str, at: Timestamp) -> StoreResult<bool> {
        let inserted = sqlx::query(
            "INSERT INTO webhook_deliveries (id, received_at) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING",
        )
        .bind(delivery_id)
        .bind(to_ms(at))
        .execute(&self.pool)
        .await?;
        Ok(inserted.rows_affected() == 1)
    }
}
