//! What the poller needs from storage: leasing due posts (any number of workers, never the
//! same post twice at once), and writing a poll's result in one transaction with the consent
//! check, so that a revocation and a snapshot can never interleave.
//!
//! PostgreSQL: the lease takes due rows with `FOR UPDATE SKIP LOCKED`, so concurrent workers
//! skip each other's rows instead of waiting; the completion locks the creator's row `FOR
//! SHARE`, which a revocation's `UPDATE creators` must wait for (and the other way round).
//! SQLite: one writer at a time; the completion's first statement is a write, so the
//! transaction holds the write lock before it reads the consent state.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::{Any, Transaction};

use super::backend::SqlStore;
use super::columns::{from_ms, placeholders, to_ms};
use super::sealed::SealedColumn;

/// How long a revocation's announcement holds new requests back; longer than any commit
/// waits, so only the announcement of a process that died before committing expires.
const PENDING_REVOCATION_EXPIRES: Duration = Duration::from_secs(60);
use super::tracking_rows::{
    account_from_row, account_of, creator_of, post_from_row, token_from_row, ACCOUNT_COLUMNS, POST_COLUMNS,
};
use super::{
    Backend, ConsentStamp, LeasedPost, PollCommit, PollCompletion, PollRepo, StoreError, StoreResult,
};
use crate::domain::{AccountId, CreatorId, PostId, Timestamp};

impl SqlStore {
    /// Whether the creator's consent is still the one given (granted, last changed at
    /// `since`), read inside `tx`; on PostgreSQL the row is share-locked until `tx` ends, so
    /// a revocation's `UPDATE creators` waits for it (and it for a revocation in progress).
    async fn consent_in_force(
        &self,
        tx: &mut Transaction<'static, Any>,
        creator_id: CreatorId,
        since: Timestamp,
    ) -> StoreResult<bool> {
        let lock = if self.backend == Backend::Postgres { "FOR SHARE" } else { "" };
        let row = sqlx::query(&format!(
            "SELECT consent_state, consent_changed_at FROM creators WHERE id = $1 {lock}"
        ))
        .bind(creator_id.to_string())
        .fetch_optional(&mut **tx)
        .await?;
        let Some(row) = row else { return Ok(false) };
        let state: String = sqlx::Row::try_get(&row, "consent_state")?;
        let changed: i64 = sqlx::Row::try_get(&row, "consent_changed_at")?;
        Ok(state == "granted" && changed == to_ms(since))
    }

    /// Whether every one of `accounts` (distinct) is still linked, read inside `tx` in one
    /// query; share-locked on PostgreSQL until `tx` ends, so an unlinking's `UPDATE` waits.
    async fn accounts_linked(
        &self,
        tx: &mut Transaction<'static, Any>,
        accounts: &[AccountId],
    ) -> StoreResult<bool> {
        if accounts.is_empty() {
            return Ok(true);
        }
        let lock = if self.backend == Backend::Postgres { "FOR SHARE" } else { "" };
        let sql = format!(
            "SELECT id FROM social_accounts WHERE id IN ({}) AND unlinked_at IS NULL {lock}",
            placeholders(1, accounts.len())
        );
        let mut query = sqlx::query(&sql);
        for account in accounts {
            query = query.bind(account.to_string());
        }
        Ok(query.fetch_all(&mut **tx).await?.len() == accounts.len())
    }

    /// Whether none of `posts` has been stopped (share-locked on PostgreSQL, so a stop, such
    /// as a content's deletion, waits for the requests holding them).
    async fn posts_tracked(&self, tx: &mut Transaction<'static, Any>, posts: &[PostId]) -> StoreResult<bool> {
        if posts.is_empty() {
            return Ok(true);
        }
        let lock = if self.backend == Backend::Postgres { "FOR SHARE" } else { "" };
        let sql = format!(
            "SELECT id FROM posts WHERE id IN ({}) AND status <> 'stopped' {lock}",
            placeholders(1, posts.len())
        );
        let mut query = sqlx::query(&sql);
        for post in posts {
            query = query.bind(post.to_string());
        }
        Ok(query.fetch_all(&mut **tx).await?.len() == posts.len())
    }

    /// Whether a revocation or erasure of one of `creators` has announced itself and not yet
    /// committed (or given up: an announcement older than [`PENDING_REVOCATION_EXPIRES`] is
    /// one whose process died).
    async fn revocation_pending(&self, creators: &[(CreatorId, Timestamp)]) -> StoreResult<bool> {
        if self.backend != Backend::Postgres {
            return Ok(false);
        }
        let fresh_since = to_ms(chrono::Utc::now()) - PENDING_REVOCATION_EXPIRES.as_millis() as i64;
        for (creator_id, _) in creators {
            let row = sqlx::query(
                "SELECT COUNT(*) AS n FROM revocations_pending WHERE creator_id = $1 AND since > $2",
            )
            .bind(creator_id.to_string())
            .bind(fresh_since)
            .fetch_one(&self.pool)
            .await?;
            if sqlx::Row::try_get::<i64, _>(&row, "n")? > 0 {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Announces a revocation or erasure of `creator_id` before it waits for the requests
    /// on their way (committed at once, so every process sees it). PostgreSQL only: on
    /// SQLite one process owns the database, and its in-process consent lock already makes a
    /// waiting revocation go before new requests.
    async fn announce_pending(&self, creator_id: CreatorId) -> StoreResult<()> {
        if self.backend != Backend::Postgres {
            return Ok(());
        }
        sqlx::query(
            "INSERT INTO revocations_pending (creator_id, since) VALUES ($1, $2) \
             ON CONFLICT (creator_id) DO UPDATE SET since = excluded.since",
        )
        .bind(creator_id.to_string())
        .bind(to_ms(chrono::Utc::now()))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Withdraws an announcement whose change failed (a committed change removes its own).
    async fn withdraw_pending(&self, creator_id: CreatorId) {
        if self.backend != Backend::Postgres {
            return;
        }
        let removed = sqlx::query("DELETE FROM revocations_pending WHERE creator_id = $1")
            .bind(creator_id.to_string())
            .execute(&self.pool)
            .await;
        if let Err(err) = removed {
            tracing::warn!(%err, %creator_id, "a failed revocation's announcement stays until it expires");
        }
    }

    async fn stop_unreadable_post(&self, row: &sqlx::any::AnyRow) -> StoreResult<()> {
        sqlx::query(
            "UPDATE posts SET status = 'stopped', status_reason = 'erasure pending', lease_owner = NULL, \
               lease_expires_at = NULL WHERE id = $1",
        )
        .bind(sqlx::Row::try_get::<String, _>(row, "id")?)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

#[async_trait]
impl PollRepo for SqlStore {
    async fn lease_due_posts(
        &self,
        worker: &str,
        now: Timestamp,
        lease_for: Duration,
        limit: u32,
    ) -> StoreResult<Vec<LeasedPost>> {
        let now_ms = to_ms(now);
        let expires = now_ms + i64::try_from(lease_for.as_millis()).unwrap_or(i64::MAX / 2);
        let skip_locked = match self.backend {
            Backend::Postgres => "FOR UPDATE OF p SKIP LOCKED",
            Backend::Sqlite => "",
        };
        // Due, pollable, not leased (or the lease expired: a crashed worker), and the
        // creator's consent in force (not paused for a re-grant under a new policy).
        let leased = sqlx::query(&format!(
            "UPDATE posts SET lease_owner = $1, lease_expires_at = $2 WHERE id IN ( \
               SELECT p.id FROM posts p JOIN creators c ON c.id = p.creator_id \
               WHERE p.status IN ('pending', 'verified') AND p.next_poll_at <= $3 \
                 AND (p.lease_expires_at IS NULL OR p.lease_expires_at < $3) \
                 AND c.consent_state = 'granted' AND (c.regrant_due_at IS NULL OR c.regrant_due_at > $3) \
               ORDER BY p.next_poll_at LIMIT $4 {skip_locked}) \
             RETURNING id"
        ))
        .bind(worker)
        .bind(expires)
        .bind(now_ms)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        if leased.is_empty() {
            return Ok(vec![]);
        }
        let posts = sqlx::query(&format!(
            "SELECT {POST_COLUMNS} FROM posts WHERE lease_owner = $1 AND lease_expires_at = $2 ORDER BY next_poll_at"
        ))
        .bind(worker)
        .bind(expires)
        .fetch_all(&self.pool)
        .await?;
        let accounts = sqlx::query(&format!(
            "SELECT {ACCOUNT_COLUMNS}, oauth_token_enc FROM social_accounts WHERE id IN \
             (SELECT social_account_id FROM posts WHERE lease_owner = $1 AND lease_expires_at = $2)"
        ))
        .bind(worker)
        .bind(expires)
        .fetch_all(&self.pool)
        .await?;
        let creators = posts.iter().map(creator_of).collect::<StoreResult<Vec<_>>>()?;
        let keys = self.keys.data_keys(&creators).await?;
        let pairs = accounts.iter().map(account_of).collect::<StoreResult<Vec<_>>>()?;
        let account_keys = self.keys.account_keys(&pairs).await?;
        let mut by_id = HashMap::new();
        for (row, (_, account_id)) in accounts.iter().zip(&pairs) {
            let Some(key) = account_keys.get(account_id) else { continue };
            let account = account_from_row(row, key)?;
            by_id.insert(account.id, (account, token_from_row(row, key)?));
        }
        let mut leased = Vec::with_capacity(posts.len());
        for (row, creator) in posts.iter().zip(&creators) {
            let Some(key) = keys.get(creator) else {
                // The creator's key is destroyed: an erasure is completing. Never poll again.
                self.stop_unreadable_post(row).await?;
                continue;
            };
            let post = post_from_row(row, key)?;
            // An account unlinked since the lease was taken: its posts are stopped already.
            let Some((account, oauth_token)) = by_id.get(&post.social_account_id).cloned() else {
                continue;
            };
            leased.push(LeasedPost { slot: to_ms(post.next_poll_at), post, account, oauth_token });
        }
        Ok(leased)
    }

    async fn announce_revocation(&self, creator_id: CreatorId) -> StoreResult<()> {
        self.announce_pending(creator_id).await
    }

    async fn withdraw_revocation(&self, creator_id: CreatorId) {
        self.withdraw_pending(creator_id).await
    }

    async fn consent_stamp(&self, creator_id: CreatorId) -> StoreResult<Option<ConsentStamp>> {
        let row = sqlx::query("SELECT consent_state, consent_changed_at FROM creators WHERE id = $1")
            .bind(creator_id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| {
            let state: String = sqlx::Row::try_get(&row, "consent_state")?;
            Ok(ConsentStamp {
                granted: state == "granted",
                changed_at: from_ms(sqlx::Row::try_get(&row, "consent_changed_at")?)?,
            })
        })
        .transpose()
    }

    async fn hold_consent(
        &self,
        creators: &[(CreatorId, Timestamp)],
        accounts: &[AccountId],
        posts: &[PostId],
    ) -> StoreResult<Result<Box<dyn Send>, String>> {
        let mut ordered = creators.to_vec();
        ordered.sort_by_key(|(id, _)| *id);
        ordered.dedup();
        // A revocation waiting for requests on their way lets no new one start: its wait is
        // bounded by the requests in flight when it began (a share lock alone would let new
        // holders in ahead of it, on PostgreSQL, for as long as polls keep coming).
        if self.revocation_pending(&ordered).await? {
            return Ok(Err("a revocation of the creator's consent is in progress".into()));
        }
        let mut tx = self.pool.begin().await?;
        for (creator_id, since) in &ordered {
            let in_force = self.consent_in_force(&mut tx, *creator_id, *since).await?;
            if !in_force {
                tx.rollback().await?;
                return Ok(Err("the creator's consent ended".into()));
            }
        }
        let mut accounts = accounts.to_vec();
        accounts.sort();
        accounts.dedup();
        if !self.accounts_linked(&mut tx, &accounts).await? {
            tx.rollback().await?;
            return Ok(Err("the account was unlinked".into()));
        }
        let mut posts = posts.to_vec();
        posts.sort();
        posts.dedup();
        if !self.posts_tracked(&mut tx, &posts).await? {
            tx.rollback().await?;
            return Ok(Err("the post is no longer tracked".into()));
        }
        if self.backend == Backend::Postgres {
            // Dropping the transaction ends it, and with it the share locks.
            return Ok(Ok(Box::new(tx)));
        }
        // SQLite: a read transaction must not stay open (it would pin the WAL); the
        // in-process consent lock orders polls and revocations in its one process.
        tx.rollback().await?;
        Ok(Ok(Box::new(())))
    }

    async fn release_lease(&self, post_id: PostId, worker: &str) -> StoreResult<()> {
        sqlx::query(
            "UPDATE posts SET lease_owner = NULL, lease_expires_at = NULL WHERE id = $1 AND lease_owner = $2",
        )
        .bind(post_id.to_string())
        .bind(worker)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn complete_poll(&self, done: &PollCompletion) -> StoreResult<PollCommit> {
        let post_id = done.post_id.to_string();
        let mut tx = self.pool.begin().await?;
        // Locks are taken creator first, then post, the order erasure and revocation take
        // them in, so neither can deadlock with a completion. On PostgreSQL that means the
        // consent read (which share-locks the creator) comes before the post's row lock. On
        // SQLite the post's write comes first, so the write lock is taken before anything is
        // read (a read-then-write transaction could not wait for it).
        let consent_read_first = if self.backend == Backend::Postgres {
            Some(self.consent_in_force(&mut tx, done.creator_id, done.consent_since).await?)
        } else {
            None
        };
        // No row: the lease is gone.
        let ours = sqlx::query(
            "UPDATE posts SET lease_expires_at = lease_expires_at WHERE id = $1 AND lease_owner = $2 AND next_poll_at = $3",
        )
        .bind(&post_id)
        .bind(&done.worker)
        .bind(done.slot)
        .execute(&mut *tx)
        .await?;
        if ours.rows_affected() == 0 {
            tx.rollback().await?;
            return Ok(PollCommit::LeaseLost);
        }
        let in_force = match consent_read_first {
            Some(in_force) => in_force,
            None => self.consent_in_force(&mut tx, done.creator_id, done.consent_since).await?,
        };
        if !in_force {
            sqlx::query("UPDATE posts SET lease_owner = NULL, lease_expires_at = NULL WHERE id = $1")
                .bind(&post_id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            return Ok(PollCommit::ConsentEnded);
        }
        let snapshot = super::poll_result::write(&mut tx, &post_id, done).await?;
        tx.commit().await?;
        Ok(PollCommit::Stored(snapshot))
    }

    async fn store_oauth_token(&self, account_id: AccountId, token: &[u8]) -> StoreResult<()> {
        // Only the owner is needed: the account's fields are not opened to seal a new token.
        let row = sqlx::query("SELECT creator_id FROM social_accounts WHERE id = $1 AND unlinked_at IS NULL")
            .bind(account_id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        let creator = creator_of(&row.ok_or(StoreError::NotFound)?)?;
        let key = self.keys.account_key(creator, account_id).await?.ok_or(StoreError::KeyUnavailable)?;
        let sealed = key.seal(SealedColumn::AccountToken, account_id, token)?;
        sqlx::query("UPDATE social_accounts SET oauth_token_enc = $2 WHERE id = $1 AND unlinked_at IS NULL")
            .bind(account_id.to_string())
            .bind(sealed)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
