//! Corrections of a creator's profile (the right to rectification), ledgered beside the
//! consent events: which fields changed, by whom, when; never the values replaced.

use async_trait::async_trait;
use sqlx::Row;

use super::backend::SqlStore;
use super::columns::{from_ms, to_ms};
use super::creators::{creator_from_row, SealedProfile, CREATOR_COLUMNS};
use super::sealed::SealedColumn;
use super::{StoreError, StoreResult};
use crate::domain::{Creator, CreatorId, ProfileCorrection, Timestamp};

/// A correction: the fields given are set (a display name of `None` removes it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProfileChange {
    pub display_name: Option<Option<String>>,
    pub birth_year: Option<i32>,
    pub channel: String,
    pub actor: String,
    pub at: Timestamp,
}

#[async_trait]
pub trait ProfileRepo: Send + Sync {
    /// Applies the change and ledgers the fields whose values it changed (nothing when none
    /// did); the creator as now, or `None` when there is none.
    async fn correct_profile(
        &self,
        creator_id: CreatorId,
        change: &ProfileChange,
    ) -> StoreResult<Option<Creator>>;
    /// The creator's corrections, oldest first.
    async fn profile_corrections(&self, creator_id: CreatorId) -> StoreResult<Vec<ProfileCorrection>>;
}

#[async_trait]
impl ProfileRepo for SqlStore {
    async fn correct_profile(
        &self,
        creator_id: CreatorId,
        change: &ProfileChange,
    ) -> StoreResult<Option<Creator>> {
        let key = match self.data_key(creator_id).await {
            Ok(key) => key,
            Err(StoreError::KeyUnavailable) => return Ok(None),
            Err(err) => return Err(err),
        };
        let id = creator_id.to_string();
        let mut tx = self.pool.begin().await?;
        // The row is written first: concurrent corrections apply one after the other.
        let locked = sqlx::query("UPDATE creators SET profile_enc = profile_enc WHERE id = $1")
            .bind(&id)
            .execute(&mut *tx)
            .await?;
        if locked.rows_affected() == 0 {
            return Ok(None);
        }
        let row = sqlx::query(&format!("SELECT {CREATOR_COLUMNS} FROM creators WHERE id = $1"))
            .bind(&id)
            .fetch_one(&mut *tx)
            .await?;
        let before = creator_from_row(&row, &key)?;
        let mut profile = SealedProfile {
            user_id: before.user_id.clone(),
            display_name: before.display_name.clone(),
            birth_year: before.birth_year,
        };
        let mut fields = Vec::new();
        if let Some(name) = &change.display_name {
            if *name != profile.display_name {
                profile.display_name = name.clone();
                fields.push("display_name");
            }
        }
        if let Some(year) = change.birth_year {
            if Some(year) != profile.birth_year {
                profile.birth_year = Some(year);
                fields.push("birth_year");
            }
        }
        if fields.is_empty() {
            tx.rollback().await?;
            return Ok(Some(before));
        }
        let plain = serde_json::to_vec(&profile).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        sqlx::query("UPDATE creators SET profile_enc = $2 WHERE id = $1")
            .bind(&id)
            .bind(key.seal(SealedColumn::CreatorProfile, creator_id, &plain)?)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO profile_corrections (creator_id, fields, channel, actor, occurred_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&id)
        .bind(fields.join(","))
        .bind(&change.channel)
        .bind(&change.actor)
        .bind(to_ms(change.at))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some(Creator { display_name: profile.display_name, birth_year: profile.birth_year, ..before }))
    }

    async fn profile_corrections(&self, creator_id: CreatorId) -> StoreResult<Vec<ProfileCorrection>> {
        sqlx::query(
            "SELECT id, fields, channel, actor, occurred_at FROM profile_corrections WHERE creator_id = $1 ORDER BY id",
        )
        .bind(creator_id.to_string())
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|row| {
            Ok(ProfileCorrection {
                id: row.try_get("id")?,
                fields: row.try_get::<String, _>("fields")?.split(',').map(str::to_owned).collect(),
                channel: row.try_get("channel")?,
                actor: row.try_get("actor")?,
                occurred_at: from_ms(row.try_get("occurred_at")?)?,
            })
        })
        .collect()
    }
}
