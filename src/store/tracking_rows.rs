//! How the rows of social accounts, posts and snapshots map to the domain: their columns,
//! the blind indexes that keep them unique, and the decoding of their sealed fields.

use sqlx::any::AnyRow;
use sqlx::Row;
use uuid::Uuid;

use super::backend::SqlStore;
use super::columns::{from_ms, opt_from_ms, parse_id};
use super::sealed::{DataKey, SealedColumn};
use super::{StoreError, StoreResult};
use crate::domain::{
    AccountId, CreatorId, Engagement, Evidence, Platform, Post, PostSource, PostStatus, SocialAccount,
    ViewSnapshot,
};

pub(super) const ACCOUNT_COLUMNS: &str =
    "id, creator_id, platform, handle_enc, proof_code, \
     CAST(CASE WHEN oauth_token_enc IS NULL THEN 0 ELSE 1 END AS BIGINT) AS has_oauth_token, proven_at, created_at";
pub(super) const POST_COLUMNS: &str =
    "id, creator_id, social_account_id, platform, post_id_enc, url_enc, content_id, source, status, status_reason, \
     next_poll_at, failures, last_polled_at, verified_at, evidence_media_sha256, evidence_score, created_at";
/// The columns `snapshot_from_row` reads.
pub(super) const SNAPSHOT_COLUMNS: &str =
    "id, post_id, poll_slot, observed_at, views, baseline, likes, comments, shares";

pub(super) fn platform(row: &AnyRow) -> StoreResult<Platform> {
    let text: String = row.try_get("platform")?;
    Platform::parse(&text).ok_or_else(|| StoreError::Corrupt(format!("unknown platform {text}")))
}

/// The blind index of a handle on a platform (unique: one account per handle).
/// An unproven link's unique reference: private to the creator who made it, so it stands in
/// nobody else's way (the handle's own blind index is taken only by a proof).
pub(super) fn unproven_ref(store: &SqlStore, creator_id: CreatorId, claim: &str) -> String {
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

    pub(super) async fn decode_one_account<T>(
        &self,
        row: Option<AnyRow>,
        decode: fn(&AnyRow, &DataKey) -> StoreResult<T>,
    ) -> StoreResult<Option<T>> {
        match row {
            Some(row) => Ok(self.decode_accounts(std::slice::from_ref(&row), decode).await?.pop()),
            None => Ok(None),
        }
    }

    pub(super) async fn decode_one<T>(
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
        engagement: Engagement {
            likes: count(row, "likes")?,
            comments: count(row, "comments")?,
            shares: count(row, "shares")?,
        },
    })
}

/// A nullable count column.
fn count(row: &AnyRow, column: &str) -> StoreResult<Option<u64>> {
    Ok(row.try_get::<Option<i64>, _>(column)?.map(|n| n.max(0) as u64))
}

pub(super) fn token_from_row(row: &AnyRow, key: &DataKey) -> StoreResult<Option<Vec<u8>>> {
    let id: AccountId = parse_id(&row.try_get::<String, _>("id")?)?;
    let sealed = row.try_get::<Option<Vec<u8>>, _>(SealedColumn::AccountToken.column())?;
    sealed.map(|sealed| key.open(SealedColumn::AccountToken, id, &sealed)).transpose()
}
