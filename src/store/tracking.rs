//! Social accounts, posts and view snapshots.

use async_trait::async_trait;
use sqlx::any::AnyRow;
use sqlx::Row;
use uuid::Uuid;

use super::backend::{from_ms, opt_from_ms, parse_uuid, to_ms, SqlStore};
use super::{
    Evidence, NewPost, NewSnapshot, NewSocialAccount, Platform, Post, PostCursor, PostStatus, SnapshotWrite,
    SocialAccount, StoreError, StoreResult, Timestamp, TrackingRepo, ViewSnapshot,
};

pub(super) const ACCOUNT_COLUMNS: &str =
    "id, creator_id, platform, handle, proof_code, \
     CAST(CASE WHEN oauth_token_enc IS NULL THEN 0 ELSE 1 END AS BIGINT) AS has_oauth_token, proven_at, created_at";
pub(super) const POST_COLUMNS: &str =
    "id, creator_id, social_account_id, platform, platform_post_id, url, content_id, status, status_reason, \
     next_poll_at, failures, last_polled_at, verified_at, evidence_media_sha256, evidence_score, created_at";

fn platform(row: &AnyRow) -> StoreResult<Platform> {
    let text: String = row.try_get("platform")?;
    Platform::parse(&text).ok_or_else(|| StoreError::Corrupt(format!("unknown platform {text}")))
}

pub(super) fn account_from_row(row: &AnyRow) -> StoreResult<SocialAccount> {
    Ok(SocialAccount {
        id: parse_uuid(&row.try_get::<String, _>("id")?)?,
        creator_id: parse_uuid(&row.try_get::<String, _>("creator_id")?)?,
        platform: platform(row)?,
        handle: row.try_get("handle")?,
        proof_code: row.try_get("proof_code")?,
        has_oauth_token: row.try_get::<i64, _>("has_oauth_token")? != 0,
        proven_at: opt_from_ms(row.try_get("proven_at")?)?,
        created_at: from_ms(row.try_get("created_at")?)?,
    })
}

pub(super) fn post_from_row(row: &AnyRow) -> StoreResult<Post> {
    let status: String = row.try_get("status")?;
    Ok(Post {
        id: parse_uuid(&row.try_get::<String, _>("id")?)?,
        creator_id: parse_uuid(&row.try_get::<String, _>("creator_id")?)?,
        social_account_id: parse_uuid(&row.try_get::<String, _>("social_account_id")?)?,
        platform: platform(row)?,
        platform_post_id: row.try_get("platform_post_id")?,
        url: row.try_get("url")?,
        content_id: row.try_get::<Option<String>, _>("content_id")?.as_deref().map(parse_uuid).transpose()?,
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
        post_id: parse_uuid(&row.try_get::<String, _>("post_id")?)?,
        poll_slot: row.try_get("poll_slot")?,
        observed_at: from_ms(row.try_get("observed_at")?)?,
        views: row.try_get::<i64, _>("views")? as u64,
        baseline: row.try_get::<i64, _>("baseline")? != 0,
    })
}

#[async_trait]
impl TrackingRepo for SqlStore {
    async fn insert_social_account(&self, new: &NewSocialAccount) -> StoreResult<SocialAccount> {
        let row = sqlx::query(&format!(
            "INSERT INTO social_accounts (id, creator_id, platform, handle, proof_code, oauth_token_enc, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {ACCOUNT_COLUMNS}"
        ))
        .bind(Uuid::new_v4().to_string())
        .bind(new.creator_id.to_string())
        .bind(new.platform.as_str())
        .bind(&new.handle)
        .bind(new.proof_code.clone())
        .bind(new.sealed_oauth_token.clone())
        .bind(to_ms(new.at))
        .fetch_one(&self.pool)
        .await?;
        account_from_row(&row)
    }

    async fn social_accounts_for_creator(&self, creator_id: Uuid) -> StoreResult<Vec<SocialAccount>> {
        sqlx::query(&format!(
            "SELECT {ACCOUNT_COLUMNS} FROM social_accounts WHERE creator_id = $1 ORDER BY created_at, id"
        ))
        .bind(creator_id.to_string())
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(account_from_row)
        .collect()
    }

    async fn insert_post(&self, new: &NewPost) -> StoreResult<Post> {
        let at = to_ms(new.at);
        let row = sqlx::query(&format!(
            "INSERT INTO posts (id, creator_id, social_account_id, platform, platform_post_id, url, content_id, status, next_poll_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', $8, $8) RETURNING {POST_COLUMNS}"
        ))
        .bind(Uuid::new_v4().to_string())
        .bind(new.creator_id.to_string())
        .bind(new.social_account_id.to_string())
        .bind(new.platform.as_str())
        .bind(&new.platform_post_id)
        .bind(&new.url)
        .bind(new.content_id.map(|c| c.to_string()))
        .bind(at)
        .fetch_one(&self.pool)
        .await?;
        post_from_row(&row)
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

    async fn snapshots_for_post(&self, post_id: Uuid) -> StoreResult<Vec<ViewSnapshot>> {
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

    async fn social_account(&self, id: Uuid) -> StoreResult<Option<SocialAccount>> {
        sqlx::query(&format!("SELECT {ACCOUNT_COLUMNS} FROM social_accounts WHERE id = $1"))
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(account_from_row)
            .transpose()
    }

    async fn sealed_oauth_token(&self, id: Uuid) -> StoreResult<Option<Vec<u8>>> {
        let row = sqlx::query("SELECT oauth_token_enc FROM social_accounts WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        Ok(match row {
            Some(row) => row.try_get("oauth_token_enc")?,
            None => None,
        })
    }

    async fn mark_account_proven(&self, id: Uuid, at: Timestamp) -> StoreResult<()> {
        sqlx::query("UPDATE social_accounts SET proven_at = COALESCE(proven_at, $2) WHERE id = $1")
            .bind(id.to_string())
            .bind(to_ms(at))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn post(&self, id: Uuid) -> StoreResult<Option<Post>> {
        sqlx::query(&format!("SELECT {POST_COLUMNS} FROM posts WHERE id = $1"))
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(post_from_row)
            .transpose()
    }

    async fn posts_for_creator(
        &self,
        creator_id: Uuid,
        after: Option<PostCursor>,
        limit: u32,
    ) -> StoreResult<Vec<Post>> {
        let (after_ms, after_id) =
            after.map_or((i64::MIN, String::new()), |c| (to_ms(c.created_at), c.id.to_string()));
        sqlx::query(&format!(
            "SELECT {POST_COLUMNS} FROM posts WHERE creator_id = $1 \
               AND (created_at > $2 OR (created_at = $2 AND id > $3)) \
             ORDER BY created_at, id LIMIT $4"
        ))
        .bind(creator_id.to_string())
        .bind(after_ms)
        .bind(after_id)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(post_from_row)
        .collect()
    }

    async fn latest_snapshot(&self, post_id: Uuid) -> StoreResult<Option<ViewSnapshot>> {
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

    async fn stop_post(&self, id: Uuid) -> StoreResult<Option<Post>> {
        sqlx::query(&format!(
            "UPDATE posts SET status = 'stopped', status_reason = 'stopped by the creator', lease_owner = NULL, \
               lease_expires_at = NULL WHERE id = $1 RETURNING {POST_COLUMNS}"
        ))
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(post_from_row)
        .transpose()
    }
}
