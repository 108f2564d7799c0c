//! Scans of creators' accounts for posts they did not register: which account is due, held
//! by one worker at a time (a lease, as for polls), which posts a scan has looked at already
//! (a keyed hash of the id, private to the account), and the posts it found.

use std::time::Duration;

use async_trait::async_trait;
use sqlx::Row;

use super::backend::SqlStore;
use super::columns::placeholders;
use super::columns::{opt_from_ms, parse_id, to_ms};
use super::tracking_rows::post_ref;
use super::{LeasedScan, NewPost, PollRepo, StoreError, StoreResult, TrackingRepo};
use crate::domain::{AccountId, Platform, Post, PostSource, Timestamp};

/// Scans of proven accounts for posts their creators did not register.
#[async_trait]
pub trait DiscoveryRepo: Send + Sync {
    /// Claims up to `limit` accounts due a scan (proven, linked, their creator consenting),
    /// each for one worker until `lease` passes; a new account is due at once.
    async fn lease_due_scans(
        &self,
        worker: &str,
        now: Timestamp,
        lease: Duration,
        limit: u32,
    ) -> StoreResult<Vec<LeasedScan>>;
    /// Ends this worker's scan of the account; false if its lease was lost meanwhile.
    async fn finish_scan(
        &self,
        account_id: AccountId,
        worker: &str,
        at: Timestamp,
        next_scan_at: Timestamp,
    ) -> StoreResult<bool>;
    /// Those of `ids` (the account's posts) that no scan has looked at and nobody registered.
    async fn unscanned(
        &self,
        account_id: AccountId,
        platform: Platform,
        ids: &[String],
    ) -> StoreResult<Vec<String>>;
    /// Remembers these posts as looked at, by a keyed hash of their ids only.
    async fn mark_scanned(&self, account_id: AccountId, ids: &[String], at: Timestamp) -> StoreResult<()>;
    /// Tracks a post a scan found carrying its creator's content (`source: discovered`);
    /// `Conflict` if the post is tracked already.
    async fn insert_discovered_post(&self, new: &NewPost) -> StoreResult<Post>;
}

impl SqlStore {
    /// The keyed hash a looked-at post is remembered by: without the index key it names no post,
    /// and it differs between accounts.
    fn seen_hash(&self, account: AccountId, post_id: &str) -> String {
        self.keys.blind_index(&format!("seen:{account}"), post_id)
    }
}

#[async_trait]
impl DiscoveryRepo for SqlStore {
    async fn lease_due_scans(
        &self,
        worker: &str,
        now: Timestamp,
        lease: Duration,
        limit: u32,
    ) -> StoreResult<Vec<LeasedScan>> {
        let now_ms = to_ms(now);
        let until = now_ms + lease.as_millis() as i64;
        let due = sqlx::query(
            "SELECT a.id FROM social_accounts a JOIN creators c ON c.id = a.creator_id \
             LEFT JOIN discovery_scans s ON s.account_id = a.id \
             WHERE a.proven_at IS NOT NULL AND a.unlinked_at IS NULL AND c.consent_state = 'granted' \
             AND (c.regrant_due_at IS NULL OR c.regrant_due_at > $1) \
             AND (s.account_id IS NULL OR (s.next_scan_at <= $1 AND (s.lease_until IS NULL OR s.lease_until < $1))) \
             ORDER BY COALESCE(s.next_scan_at, 0), a.id LIMIT $2",
        )
        .bind(now_ms)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        let mut leased = Vec::new();
        for row in due {
            let id: AccountId = parse_id(&row.try_get::<String, _>("id")?)?;
            // The claim: one statement, so of two workers only one gets a row back.
            let claimed = sqlx::query(
                "INSERT INTO discovery_scans (account_id, next_scan_at, lease_owner, lease_until) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (account_id) DO UPDATE SET lease_owner = $3, lease_until = $4 \
                 WHERE discovery_scans.next_scan_at <= $2 \
                 AND (discovery_scans.lease_until IS NULL OR discovery_scans.lease_until < $2) \
                 RETURNING last_scan_at",
            )
            .bind(id.to_string())
            .bind(now_ms)
            .bind(worker)
            .bind(until)
            .fetch_optional(&self.pool)
            .await?;
            let Some(claimed) = claimed else { continue };
            let last_scan_at = opt_from_ms(claimed.try_get("last_scan_at")?)?;
            // An account erased or unlinked since it was read: give the claim back.
            let account = match self.social_account(id).await {
                Ok(Some(account)) => account,
                Ok(None) | Err(StoreError::KeyUnavailable) => continue,
                Err(other) => return Err(other),
            };
            let Some(stamp) = self.consent_stamp(account.creator_id).await?.filter(|s| s.granted) else {
                continue;
            };
            let oauth_token = self.oauth_token(id).await?;
            leased.push(LeasedScan { account, oauth_token, consent_since: stamp.changed_at, last_scan_at });
        }
        Ok(leased)
    }

    async fn finish_scan(
        &self,
        account_id: AccountId,
        worker: &str,
        at: Timestamp,
        next_scan_at: Timestamp,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE discovery_scans SET lease_owner = NULL, lease_until = NULL, last_scan_at = $3, next_scan_at = $4 \
             WHERE account_id = $1 AND lease_owner = $2",
        )
        .bind(account_id.to_string())
        .bind(worker)
        .bind(to_ms(at))
        .bind(to_ms(next_scan_at))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn unscanned(
        &self,
        account_id: AccountId,
        platform: Platform,
        ids: &[String],
    ) -> StoreResult<Vec<String>> {
        if ids.is_empty() {
            return Ok(vec![]);
        }
        let hashes: Vec<String> = ids.iter().map(|id| self.seen_hash(account_id, id)).collect();
        let sql = format!(
            "SELECT post_hash FROM discovery_seen WHERE account_id = $1 AND post_hash IN ({})",
            placeholders(2, ids.len())
        );
        let mut query = sqlx::query(&sql).bind(account_id.to_string());
        for hash in &hashes {
            query = query.bind(hash);
        }
        let seen: Vec<String> = query
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| r.try_get("post_hash"))
            .collect::<Result<_, _>>()?;
        let refs: Vec<String> = ids.iter().map(|id| post_ref(self, platform, id)).collect();
        let sql = format!("SELECT post_ref FROM posts WHERE post_ref IN ({})", placeholders(1, ids.len()));
        let mut query = sqlx::query(&sql);
        for r in &refs {
            query = query.bind(r);
        }
        let registered: Vec<String> = query
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| r.try_get("post_ref"))
            .collect::<Result<_, _>>()?;
        Ok(ids
            .iter()
            .zip(hashes.iter().zip(&refs))
            .filter(|(_, (hash, r))| !seen.contains(hash) && !registered.contains(r))
            .map(|(id, _)| id.clone())
            .collect())
    }

    async fn mark_scanned(&self, account_id: AccountId, ids: &[String], at: Timestamp) -> StoreResult<()> {
        for id in ids {
            sqlx::query(
                "INSERT INTO discovery_seen (account_id, post_hash, seen_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (account_id, post_hash) DO NOTHING",
            )
            .bind(account_id.to_string())
            .bind(self.seen_hash(account_id, id))
            .bind(to_ms(at))
            .execute(&self.pool)
            .await?;
        }
        Ok(())
    }

    async fn insert_discovered_post(&self, new: &NewPost) -> StoreResult<Post> {
        self.insert_post_from(new, PostSource::Discovered).await
    }
}
