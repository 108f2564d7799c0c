//! Social accounts, posts and view snapshots.

use async_trait::async_trait;
use sqlx::any::AnyRow;
use sqlx::Row;
use uuid::Uuid;

use super::backend::SqlStore;
use super::columns::{from_ms, opt_from_ms, parse_id, to_ms};
use super::sealed::{DataKey, SealedColumn};
use super::{
    NewPost, NewSnapshot, NewSocialAccount, PostCursor, SnapshotWrite, StoreError, StoreResult, TrackingRepo,
};
use crate::domain::{
    AccountId, CreatorId, Evidence, Platform, Post, PostId, PostSource, PostStatus, SocialAccount, Timestamp,
    ViewSnapshot,
};

pub(super) const ACCOUNT_COLUMNS: &str =
    "id, creator_id, platform, handle_enc, proof_code, \
     CAST(CASE WHEN oauth_token_enc IS NULL THEN 0 ELSE 1 END AS BIGINT) AS has_oauth_token, proven_at, created_at";
pub(super) const POST_COLUMNS: &str =
    "id, creator_id, social_account_id, platform, post_id_enc, url_enc, content_id, source, status, status_reason, \
     next_poll_at, failures, last_polled_at, verified_at, evidence_media_sha256, evidence_score, created_at";

fn platform(row: &AnyRow) -> StoreResult<Platform> {
    let text: String = row.try_get("platform")?;
    Platform::parse(&text).ok_or_else(|| StoreError::Corrupt(format!("unknown platform {text}")))
}

/// The blind index of a handle on a platform (unique: one account per handle).
/// An unproven link's unique reference: private to the creator who made it, so it stands in
/// nobody else's way (the handle's own blind index is taken only by a proof).
fn unproven_ref(store: &SqlStore, creator_id: CreatorId, claim: &str) -> String {
    store.keys.blind_index(&format!("unproven:{creator_id}"), claim)
}

pub(super) fn handle_ref(store: &SqlStore, platform: Platform, handle: &str) -> String {
    store.keys.blind_index(&format!("handle:{}", platform.as_str()), handle)
}

/// The blind index of a post id on a platform (unique: one claim per post).
pub(super) fn post_ref(store: &SqlStore, platform: Platform, post_id: &str) -> String {
    store.keys.blind_index(&format!("post:{}", platform.as_str()), post_id)
}

/// The creator a row belongs to (whose data key opens its sealed columns).
pub(super) fn creator_of(row: &AnyRow) -> StoreResult<CreatorId> {
    parse_id(&row.try_get::<String, _>("creator_id")?)
}

fn sealed_text(row: &AnyRow, column: SealedColumn, key: &DataKey) -> StoreResult<String> {
    let id: Uuid = parse_id(&row.try_get::<String, _>("id")?)?;
    key.open_text(column, id, &row.try_get::<Vec<u8>, _>(column.column())?)
}

impl SqlStore {
    /// Decodes rows carrying a `creator_id` with their creators' data keys (one key-store
    /// query for all); `KeyUnavailable` if a key is gone.
    pub(super) async fn decode_sealed<T>(
        &self,
        rows: &[AnyRow],
        decode: fn(&AnyRow, &DataKey) -> StoreResult<T>,
    ) -> StoreResult<Vec<T>> {
        let creators = rows.iter().map(creator_of).collect::<StoreResult<Vec<_>>>()?;
        let keys = self.keys.data_keys(&creators).await?;
        rows.iter()
            .zip(&creators)
            .map(|(row, creator)| decode(row, keys.get(creator).ok_or(StoreError::KeyUnavailable)?))
            .collect()
    }

    /// Decodes account rows (carrying `id` and `creator_id`) with their account keys (one
    /// key-store query for all); `KeyUnavailable` if a key is gone.
    pub(super) async fn decode_accounts<T>(
        &self,
        rows: &[AnyRow],
        decode: fn(&AnyRow, &DataKey) -> StoreResult<T>,
    ) -> StoreResult<Vec<T>> {
        let pairs = rows.iter().map(account_of).collect::<StoreResult<Vec<_>>>()?;
        let keys = self.keys.account_keys(&pairs).await?;
        rows.iter()
            .zip(&pairs)
            .map(|(row, (_, account))| decode(row, keys.get(account).ok_or(StoreError::KeyUnavailable)?))
            .collect()
    }

    async fn decode_one_account<T>(
        &self,
        row: Option<AnyRow>,
        decode: fn(&AnyRow, &DataKey) -> StoreResult<T>,
    ) -> StoreResult<Option<T>> {
        match row {
            Some(row) => Ok(self.decode_accounts(std::slice::from_ref(&row), decode).await?.pop()),
            None => Ok(None),
        }
    }

    async fn decode_one<T>(
        &self,
        row: Option<AnyRow>,
        decode: fn(&AnyRow, &DataKey) -> StoreResult<T>,
    ) -> StoreResult<Option<T>> {
        match row {
            Some(row) => Ok(self.decode_sealed(std::slice::from_ref(&row), decode).await?.pop()),
            None => Ok(None),
        }
    }
}

/// The creator and the id of an account row.
pub(super) fn account_of(row: &AnyRow) -> StoreResult<(CreatorId, AccountId)> {
    Ok((creator_of(row)?, parse_id(&row.try_get::<String, _>("id")?)?))
}

pub(super) fn account_from_row(row: &AnyRow, key: &DataKey) -> StoreResult<SocialAccount> {
    Ok(SocialAccount {
        id: parse_id(&row.try_get::<String, _>("id")?)?,
        creator_id: parse_id(&row.try_get::<String, _>("creator_id")?)?,
        platform: platform(row)?,
        handle: sealed_text(row, SealedColumn::AccountHandle, key)?,
        proof_code: row.try_get("proof_code")?,
        has_oauth_token: row.try_get::<i64, _>("has_oauth_token")? != 0,
        proven_at: opt_from_ms(row.try_get("proven_at")?)?,
        created_at: from_ms(row.try_get("created_at")?)?,
    })
}

pub(super) fn post_from_row(row: &AnyRow, key: &DataKey) -> StoreResult<Post> {
    let status: String = row.try_get("status")?;
    let source: String = row.try_get("source")?;
    Ok(Post {
        id: parse_id(&row.try_get::<String, _>("id")?)?,
        creator_id: parse_id(&row.try_get::<String, _>("creator_id")?)?,
        social_account_id: parse_id(&row.try_get::<String, _>("social_account_id")?)?,
        platform: platform(row)?,
        platform_post_id: sealed_text(row, SealedColumn::PostPlatformId, key)?,
        url: sealed_text(row, SealedColumn::PostUrl, key)?,
        content_id: row.try_get::<Option<String>, _>("content_id")?.as_deref().map(parse_id).transpose()?,
        source: PostSource::parse(&source)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown post source {source}")))?,
        status: PostStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown status {status}")))?,
        status_reason: row.try_get("status_reason")?,
        next_poll_at: from_ms(row.try_get("next_poll_at")?)?,
        failures: u32::try_from(row.try_get::<i64, _>("failures")?).unwrap_or(u32::MAX),
        last_polled_at: opt_from_ms(row.try_get("last_polled_at")?)?,
        evidence: match (
            opt_from_ms(row.try_get("verified_at")?)?,
            row.try_get::<Option<String>, _>("evidence_media_sha256")?,
            row.try_get::<Option<f64>, _>("evidence_score")?,
        ) {
            (Some(verified_at), Some(media_sha256), Some(score)) => {
                Some(Evidence { verified_at, media_sha256, score })
            }
            _ => None,
        },
        created_at: from_ms(row.try_get("created_at")?)?,
    })
}

pub(super) fn snapshot_from_row(row: &AnyRow) -> StoreResult<ViewSnapshot> {
    Ok(ViewSnapshot {
        id: row.try_get("id")?,
        post_id: parse_id(&row.try_get::<String, _>("post_id")?)?,
        poll_slot: row.try_get("poll_slot")?,
        observed_at: from_ms(row.try_get("observed_at")?)?,
        views: row.try_get::<i64, _>("views")? as u64,
        baseline: row.try_get::<i64, _>("baseline")? != 0,
    })
}

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
        let result = sqlx::query(
            "INSERT INTO view_snapshots (post_id, poll_slot, observed_at, views) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (post_id, poll_slot) DO NOTHING",
        )
        .bind(new.post_id.to_string())
        .bind(new.poll_slot)
        .bind(to_ms(new.observed_at))
        .bind(views)
        .execute(&self.pool)
        .await?;
        Ok(if result.rows_affected() == 1 { SnapshotWrite::Inserted } else { SnapshotWrite::AlreadyRecorded })
    }

    async fn snapshots_for_post(&self, post_id: PostId) -> StoreResult<Vec<ViewSnapshot>> {
        sqlx::query(
            "SELECT id, post_id, poll_slot, observed_at, views, baseline FROM view_snapshots WHERE post_id = $1 ORDER BY poll_slot",
        )
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
        sqlx::query(
            "SELECT id, post_id, poll_slot, observed_at, views, baseline FROM view_snapshots \
             WHERE post_id = $1 ORDER BY observed_at DESC, id DESC LIMIT 1",
        )
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

pub(super) fn token_from_row(row: &AnyRow, key: &DataKey) -> StoreResult<Option<Vec<u8>>> {
    let id: AccountId = parse_id(&row.try_get::<String, _>("id")?)?;
    let sealed = row.try_get::<Option<Vec<u8>>, _>(SealedColumn::AccountToken.column())?;
    sealed.map(|sealed| key.open(SealedColumn::AccountToken, id, &sealed)).transpose()
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
