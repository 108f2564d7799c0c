//! Social accounts, posts and view snapshots.

use async_trait::async_trait;
use sqlx::Row;

use super::backend::SqlStore;
use super::columns::{parse_id, to_ms};
use super::sealed::{DataKey, SealedColumn};
use super::tracking_rows::{
    account_from_row, handle_ref, post_from_row, post_ref, snapshot_from_row, token_from_row, unproven_ref,
    ACCOUNT_COLUMNS, POST_COLUMNS, SNAPSHOT_COLUMNS,
};
use super::{
    NewPost, NewSnapshot, NewSocialAccount, PostCursor, SnapshotWrite, StoreError, StoreResult, TrackingRepo,
};
use crate::domain::{AccountId, CreatorId, Post, PostId, PostSource, SocialAccount, Timestamp, ViewSnapshot};

#[async_trait]
impl TrackingRepo for SqlStore {
    async fn insert_social_account(&self, new: &NewSocialAccount) -> StoreResult<SocialAccount> {
        let id = AccountId::random();
        let key = self.keys.create_account_key(new.creator_id, id, new.at).await?;
        let inserted = self.insert_account_row(new, id, &key).await;
        if inserted.is_err() {
            if let Err(err) = self.keys.forget_account_keys(&[id]).await {
                tracing::warn!(%err, account_id = %id, "the key of an account never stored stays unused");
            }
        }
        inserted
    }

    async fn expire_unproven_accounts(&self, before: Timestamp) -> StoreResult<u64> {
        let rows = sqlx::query(
            "DELETE FROM social_accounts WHERE proven_at IS NULL AND created_at < $1 RETURNING id",
        )
        .bind(to_ms(before))
        .fetch_all(&self.pool)
        .await?;
        let ids =
            rows.iter().map(|r| parse_id(&r.try_get::<String, _>("id")?)).collect::<StoreResult<Vec<_>>>()?;
        self.keys.forget_account_keys(&ids).await?;
        Ok(ids.len() as u64)
    }

    async fn social_accounts_for_creator(&self, creator_id: CreatorId) -> StoreResult<Vec<SocialAccount>> {
        let rows = sqlx::query(&format!(
            "SELECT {ACCOUNT_COLUMNS} FROM social_accounts WHERE creator_id = $1 AND unlinked_at IS NULL \
             ORDER BY created_at, id"
        ))
        .bind(creator_id.to_string())
        .fetch_all(&self.pool)
        .await?;
        self.decode_accounts(&rows, account_from_row).await
    }

    async fn unlink_account(&self, id: AccountId, at: Timestamp) -> StoreResult<Option<u64>> {
        // The key first: from here on no copy of the handle or tokens opens, even if what
        // follows never happens (a retry finds the row and completes).
        self.keys.destroy_account_key(id).await?;
        let mut tx = self.pool.begin().await?;
        let tombstone = format!("unlinked:{id}");
        let found = sqlx::query(
            "UPDATE social_accounts SET unlinked_at = $2, handle_ref = $3, handle_claim = $3, handle_enc = NULL, \
             oauth_token_enc = NULL, proof_code = NULL WHERE id = $1 AND unlinked_at IS NULL",
        )
        .bind(id.to_string())
        .bind(to_ms(at))
        .bind(&tombstone)
        .execute(&mut *tx)
        .await?;
        if found.rows_affected() == 0 {
            tx.rollback().await?;
            return Ok(None);
        }
        let stopped = sqlx::query(
            "UPDATE posts SET status = 'stopped', status_reason = 'the account was unlinked', \
             lease_owner = NULL, lease_expires_at = NULL WHERE social_account_id = $1 AND status IN ('pending', 'verified')",
        )
        .bind(id.to_string())
        .execute(&mut *tx)
        .await?;
        for table in ["discovery_seen", "discovery_scans"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE account_id = $1"))
                .bind(id.to_string())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        if self.backend == super::Backend::Sqlite {
            if let Err(err) = super::sqlite::purge_wal(&self.pool).await {
                tracing::warn!(%err, account_id = %id, "the unlinked account's sealed fields may stay in the WAL until the next checkpoint");
            }
        }
        Ok(Some(stopped.rows_affected()))
    }
    async fn insert_post(&self, new: &NewPost) -> StoreResult<Post> {
        self.insert_post_from(new, PostSource::Registered).await
    }

    async fn record_snapshot(&self, new: &NewSnapshot) -> StoreResult<SnapshotWrite> {
        let views =
            i64::try_from(new.views).map_err(|_| StoreError::Corrupt("view count out of range".into()))?;
        let post_id = new.post_id.to_string();
        let mut tx = self.pool.begin().await?;
        let result = sqlx::query(
            "INSERT INTO view_snapshots (post_id, poll_slot, observed_at, views) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (post_id, poll_slot) DO NOTHING",
        )
        .bind(&post_id)
        .bind(new.poll_slot)
        .bind(to_ms(new.observed_at))
        .bind(views)
        .execute(&mut *tx)
        .await?;
        super::rollup::recount_post(&mut tx, &post_id).await?;
        tx.commit().await?;
        Ok(if result.rows_affected() == 1 { SnapshotWrite::Inserted } else { SnapshotWrite::AlreadyRecorded })
    }

    async fn snapshots_for_post(&self, post_id: PostId) -> StoreResult<Vec<ViewSnapshot>> {
        sqlx::query(&format!(
            "SELECT {SNAPSHOT_COLUMNS} FROM view_snapshots WHERE post_id = $1 ORDER BY poll_slot"
        ))
        .bind(post_id.to_string())
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(snapshot_from_row)
        .collect()
    }

    async fn social_account(&self, id: AccountId) -> StoreResult<Option<SocialAccount>> {
        let row = sqlx::query(&format!(
            "SELECT {ACCOUNT_COLUMNS} FROM social_accounts WHERE id = $1 AND unlinked_at IS NULL"
        ))
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await?;
        self.decode_one_account(row, account_from_row).await
    }

    async fn oauth_token(&self, id: AccountId) -> StoreResult<Option<Vec<u8>>> {
        let row = sqlx::query(
            "SELECT id, creator_id, oauth_token_enc FROM social_accounts WHERE id = $1 AND unlinked_at IS NULL",
        )
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await?;
        Ok(self.decode_one_account(row, token_from_row).await?.flatten())
    }

    async fn mark_account_proven(&self, id: AccountId, at: Timestamp) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        // Taking the claim: the unique handle_ref refuses a second proven owner.
        sqlx::query(
            "UPDATE social_accounts SET proven_at = COALESCE(proven_at, $2), handle_ref = handle_claim WHERE id = $1",
        )
        .bind(id.to_string())
        .bind(to_ms(at))
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "DELETE FROM social_accounts WHERE proven_at IS NULL AND id <> $1 AND \
             handle_claim = (SELECT handle_claim FROM social_accounts WHERE id = $1)",
        )
        .bind(id.to_string())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn post(&self, id: PostId) -> StoreResult<Option<Post>> {
        let row = sqlx::query(&format!("SELECT {POST_COLUMNS} FROM posts WHERE id = $1"))
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        self.decode_one(row, post_from_row).await
    }

    async fn posts_for_creator(
        &self,
        creator_id: CreatorId,
        after: Option<PostCursor>,
        limit: u32,
    ) -> StoreResult<Vec<Post>> {
        let (after_ms, after_id) =
            after.map_or((i64::MIN, String::new()), |c| (to_ms(c.created_at), c.id.to_string()));
        let rows = sqlx::query(&format!(
            "SELECT {POST_COLUMNS} FROM posts WHERE creator_id = $1 \
               AND (created_at > $2 OR (created_at = $2 AND id > $3)) \
             ORDER BY created_at, id LIMIT $4"
        ))
        .bind(creator_id.to_string())
        .bind(after_ms)
        .bind(after_id)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        self.decode_sealed(&rows, post_from_row).await
    }

    async fn latest_snapshot(&self, post_id: PostId) -> StoreResult<Option<ViewSnapshot>> {
        sqlx::query(&format!(
            "SELECT {SNAPSHOT_COLUMNS} FROM view_snapshots \
             WHERE post_id = $1 ORDER BY observed_at DESC, id DESC LIMIT 1"
        ))
        .bind(post_id.to_string())
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(snapshot_from_row)
        .transpose()
    }

    async fn stop_post(&self, id: PostId) -> StoreResult<Option<Post>> {
        let row = sqlx::query(&format!(
            "UPDATE posts SET status = 'stopped', status_reason = 'stopped by the creator', lease_owner = NULL, \
               lease_expires_at = NULL WHERE id = $1 RETURNING {POST_COLUMNS}"
        ))
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await?;
        self.decode_one(row, post_from_row).await
    }
}

impl SqlStore {
    /// Inserts a pending post, registered or discovered.
    pub(super) async fn insert_post_from(&self, new: &NewPost, source: PostSource) -> StoreResult<Post> {
        let key = self.data_key(new.creator_id).await?;
        let id = PostId::random();
        let row = sqlx::query(&format!(
            "INSERT INTO posts (id, creator_id, social_account_id, platform, post_ref, post_id_enc, url_enc, content_id, status, next_poll_at, created_at, source) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending', $9, $9, $10) RETURNING {POST_COLUMNS}"
        ))
        .bind(id.to_string())
        .bind(new.creator_id.to_string())
        .bind(new.social_account_id.to_string())
        .bind(new.platform.as_str())
        .bind(post_ref(self, new.platform, &new.platform_post_id))
        .bind(key.seal(SealedColumn::PostPlatformId, id, new.platform_post_id.as_bytes())?)
        .bind(key.seal(SealedColumn::PostUrl, id, new.url.as_bytes())?)
        .bind(new.content_id.map(|c| c.to_string()))
        .bind(to_ms(new.at))
        .bind(source.as_str())
        .fetch_one(&self.pool)
        .await?;
        post_from_row(&row, &key)
    }

    async fn insert_account_row(
        &self,
        new: &NewSocialAccount,
        id: AccountId,
        key: &DataKey,
    ) -> StoreResult<SocialAccount> {
        let token =
            new.oauth_token.as_deref().map(|t| key.seal(SealedColumn::AccountToken, id, t)).transpose()?;
        let claim = handle_ref(self, new.platform, &new.handle);
        let row = sqlx::query(&format!(
            "INSERT INTO social_accounts (id, creator_id, platform, handle_ref, handle_enc, proof_code, oauth_token_enc, created_at, handle_claim) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING {ACCOUNT_COLUMNS}"
        ))
        .bind(id.to_string())
        .bind(new.creator_id.to_string())
        .bind(new.platform.as_str())
        .bind(unproven_ref(self, new.creator_id, &claim))
        .bind(key.seal(SealedColumn::AccountHandle, id, new.handle.as_bytes())?)
        .bind(new.proof_code.clone())
        .bind(token)
        .bind(to_ms(new.at))
        .bind(&claim)
        .fetch_one(&self.pool)
        .await?;
        account_from_row(&row, key)
    }
}
