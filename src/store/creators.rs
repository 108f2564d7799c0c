//! Creators, the consent ledger and enrolled contents.

use async_trait::async_trait;
use sqlx::any::AnyRow;
use sqlx::Row;

use super::backend::SqlStore;
use super::columns::{from_ms, opt_from_ms, parse_id, payload_from_db, payload_to_db, to_ms};
use super::sealed::{DataKey, SealedColumn};
use super::{ConsentChange, ContentCursor, CreatorRepo, NewContent, NewCreator, StoreError, StoreResult};
use crate::domain::{
    ConsentEvent, ConsentState, Content, ContentId, Creator, CreatorId, EventType, MediaKind, OutboxEvent,
    Timestamp,
};

pub(super) const CREATOR_COLUMNS: &str =
    "id, profile_enc, consent_state, consent_changed_at, policy_version, regrant_due_at, created_at";

/// What a creator's row holds sealed (`profile_enc`).
#[derive(serde::Serialize, serde::Deserialize)]
pub(super) struct SealedProfile {
    pub(super) user_id: String,
    pub(super) display_name: Option<String>,
    pub(super) birth_year: Option<i32>,
}

/// The blind index under which a user id is looked up.
/// The blind index an age refusal is kept under (never the user id itself).
fn age_ref(store: &SqlStore, user_id: &str) -> String {
    store.keys.blind_index("age-refusal", user_id)
}

pub(super) fn user_ref(store: &SqlStore, user_id: &str) -> String {
    store.keys.blind_index("user", user_id)
}
const CONTENT_COLUMNS: &str = "id, creator_id, payload, media_kind, width, height, sha256, created_at";

fn consent_state(text: &str) -> StoreResult<ConsentState> {
    match text {
        "granted" | "grant" => Ok(ConsentState::Granted),
        "revoked" | "revoke" => Ok(ConsentState::Revoked),
        other => Err(StoreError::Corrupt(format!("unknown consent state {other}"))),
    }
}

pub(super) fn creator_from_row(row: &AnyRow, key: &DataKey) -> StoreResult<Creator> {
    let id = parse_id(&row.try_get::<String, _>("id")?)?;
    let sealed: Vec<u8> = row.try_get("profile_enc")?;
    let profile: SealedProfile =
        serde_json::from_slice(&key.open(SealedColumn::CreatorProfile, id, &sealed)?)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Ok(Creator {
        id,
        user_id: profile.user_id,
        display_name: profile.display_name,
        birth_year: profile.birth_year,
        consent: consent_state(&row.try_get::<String, _>("consent_state")?)?,
        consent_changed_at: from_ms(row.try_get("consent_changed_at")?)?,
        policy_version: row.try_get("policy_version")?,
        regrant_due_at: opt_from_ms(row.try_get("regrant_due_at")?)?,
        created_at: from_ms(row.try_get("created_at")?)?,
    })
}

fn event_from_row(row: &AnyRow) -> StoreResult<ConsentEvent> {
    Ok(ConsentEvent {
        id: row.try_get("id")?,
        creator_id: parse_id(&row.try_get::<String, _>("creator_id")?)?,
        kind: consent_state(&row.try_get::<String, _>("kind")?)?,
        policy_version: row.try_get("policy_version")?,
        channel: row.try_get("channel")?,
        actor: row.try_get("actor")?,
        occurred_at: from_ms(row.try_get("occurred_at")?)?,
    })
}

fn content_from_row(row: &AnyRow) -> StoreResult<Content> {
    let media_kind = match row.try_get::<String, _>("media_kind")?.as_str() {
        "image" => MediaKind::Image,
        "video" => MediaKind::Video,
        other => return Err(StoreError::Corrupt(format!("unknown media kind {other}"))),
    };
    Ok(Content {
        id: parse_id(&row.try_get::<String, _>("id")?)?,
        creator_id: parse_id(&row.try_get::<String, _>("creator_id")?)?,
        payload: payload_from_db(row.try_get("payload")?),
        media_kind,
        width: row.try_get::<i64, _>("width")? as u32,
        height: row.try_get::<i64, _>("height")? as u32,
        sha256: row.try_get("sha256")?,
        created_at: from_ms(row.try_get("created_at")?)?,
    })
}

impl SqlStore {
    /// A creator row opened with its data key (`KeyUnavailable` once the key is destroyed).
    async fn creator_from(&self, row: Option<AnyRow>) -> StoreResult<Option<Creator>> {
        let Some(row) = row else { return Ok(None) };
        let id = parse_id(&row.try_get::<String, _>("id")?)?;
        Ok(Some(creator_from_row(&row, &self.data_key(id).await?)?))
    }
}

#[async_trait]
impl CreatorRepo for SqlStore {
    async fn create_creator(&self, new: &NewCreator) -> StoreResult<Creator> {
        let id = CreatorId::random();
        let at = to_ms(new.at);
        // The key first: a creator row never exists without its key. A key left behind by a
        // failed insert belongs to nobody and opens nothing.
        let key = self.keys.create_data_key(id, new.at).await?;
        let profile = SealedProfile {
            user_id: new.user_id.clone(),
            display_name: new.display_name.clone(),
            birth_year: new.birth_year,
        };
        let plain = serde_json::to_vec(&profile).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let sealed = key.seal(SealedColumn::CreatorProfile, id, &plain)?;
        let mut tx = self.pool.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO creators (id, user_ref, profile_enc, consent_state, consent_changed_at, created_at, policy_version) \
             VALUES ($1, $2, $3, 'granted', $4, $4, $5)",
        )
        .bind(id.to_string())
        .bind(user_ref(self, &new.user_id))
        .bind(sealed)
        .bind(at)
        .bind(&new.policy_version)
        .execute(&mut *tx)
        .await;
        if let Err(err) = inserted {
            drop(tx);
            self.keys.destroy(id).await?;
            return Err(err.into());
        }
        sqlx::query(
            "INSERT INTO consent_events (creator_id, kind, policy_version, channel, actor, occurred_at) \
             VALUES ($1, 'grant', $2, $3, $4, $5)",
        )
        .bind(id.to_string())
        .bind(&new.policy_version)
        .bind(&new.channel)
        .bind(id.to_string())
        .bind(at)
        .execute(&mut *tx)
        .await?;
        let row = sqlx::query(&format!("SELECT {CREATOR_COLUMNS} FROM creators WHERE id = $1"))
            .bind(id.to_string())
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        creator_from_row(&row, &key)
    }

    async fn creator_by_user_id(&self, user_id: &str) -> StoreResult<Option<Creator>> {
        let row = sqlx::query(&format!("SELECT {CREATOR_COLUMNS} FROM creators WHERE user_ref = $1"))
            .bind(user_ref(self, user_id))
            .fetch_optional(&self.pool)
            .await?;
        self.creator_from(row).await
    }

    async fn record_age_refusal(&self, user_id: &str, until: Timestamp, at: Timestamp) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO age_refusals (user_ref, refused_until, refused_at) VALUES ($1, $2, $3) \
             ON CONFLICT (user_ref) DO UPDATE SET refused_at = excluded.refused_at, \
               refused_until = CASE WHEN excluded.refused_until > age_refusals.refused_until \
                 THEN excluded.refused_until ELSE age_refusals.refused_until END",
        )
        .bind(age_ref(self, user_id))
        .bind(to_ms(until))
        .bind(to_ms(at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn age_refused_until(&self, user_id: &str) -> StoreResult<Option<Timestamp>> {
        let row = sqlx::query("SELECT refused_until FROM age_refusals WHERE user_ref = $1")
            .bind(age_ref(self, user_id))
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| from_ms(r.try_get("refused_until")?)).transpose()
    }

    async fn forget_age_refusal(&self, user_id: &str) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM age_refusals WHERE user_ref = $1")
            .bind(age_ref(self, user_id))
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn creator_id_by_user_id(&self, user_id: &str) -> StoreResult<Option<CreatorId>> {
        let row = sqlx::query("SELECT id FROM creators WHERE user_ref = $1")
            .bind(user_ref(self, user_id))
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| parse_id(&r.try_get::<String, _>("id")?)).transpose()
    }

    async fn creator(&self, id: CreatorId) -> StoreResult<Option<Creator>> {
        let row = sqlx::query(&format!("SELECT {CREATOR_COLUMNS} FROM creators WHERE id = $1"))
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        self.creator_from(row).await
    }

    /// The creator's state and the ledger's event in one transaction, which also removes a
    /// revocation's announcement (`consent::changes`).
    async fn record_consent(
        &self,
        creator_id: CreatorId,
        change: &ConsentChange,
    ) -> StoreResult<ConsentEvent> {
        let kind = if change.grant { "grant" } else { "revoke" };
        let mut tx = self.pool.begin().await?;
        // A grant names the policy version in force and ends any wait for a re-grant. A
        // re-grant while consent stands and tracking is not paused keeps the consent's start,
        // so the views counted since then stay counted; any other change starts a new run.
        let id = creator_id.to_string();
        let update = if change.grant {
            sqlx::query(
                "UPDATE creators SET consent_state = 'granted', policy_version = $3, regrant_due_at = NULL, \
                   consent_changed_at = CASE WHEN consent_state = 'granted' \
                     AND (regrant_due_at IS NULL OR regrant_due_at > $2) THEN consent_changed_at ELSE $2 END \
                 WHERE id = $1",
            )
            .bind(&id)
            .bind(to_ms(change.at))
            .bind(&change.policy_version)
        } else {
            sqlx::query(
                "UPDATE creators SET consent_state = 'revoked', consent_changed_at = $2 WHERE id = $1",
            )
            .bind(&id)
            .bind(to_ms(change.at))
        };
        let updated = update.execute(&mut *tx).await?;
        if updated.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        let row = sqlx::query(
            "INSERT INTO consent_events (creator_id, kind, policy_version, channel, actor, occurred_at) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             RETURNING id, creator_id, kind, policy_version, channel, actor, occurred_at",
        )
        .bind(creator_id.to_string())
        .bind(kind)
        .bind(&change.policy_version)
        .bind(&change.channel)
        .bind(&change.actor)
        .bind(to_ms(change.at))
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM revocations_pending WHERE creator_id = $1")
            .bind(creator_id.to_string())
            .execute(&mut *tx)
            .await?;
        if !change.grant {
            let data = serde_json::json!({ "creator_id": creator_id });
            let event = OutboxEvent::new(EventType::ConsentRevoked, Some(creator_id), data, change.at);
            super::outbox::enqueue(&mut tx, &event).await?;
        }
        tx.commit().await?;
        event_from_row(&row)
    }

    async fn consent_ledger(&self, creator_id: CreatorId) -> StoreResult<Vec<ConsentEvent>> {
        sqlx::query(
            "SELECT id, creator_id, kind, policy_version, channel, actor, occurred_at \
             FROM consent_events WHERE creator_id = $1 ORDER BY id",
        )
        .bind(creator_id.to_string())
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(event_from_row)
        .collect()
    }

    async fn insert_content(&self, new: &NewContent) -> StoreResult<Content> {
        let id = ContentId::random();
        let references = match &new.references {
            Some(plain) => {
                Some(self.data_key(new.creator_id).await?.seal(SealedColumn::ContentReferences, id, plain)?)
            }
            None => None,
        };
        let row = sqlx::query(&format!(
            "INSERT INTO contents ({CONTENT_COLUMNS}, reference_enc) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             RETURNING {CONTENT_COLUMNS}"
        ))
        .bind(id.to_string())
        .bind(new.creator_id.to_string())
        .bind(payload_to_db(new.payload))
        .bind(new.media_kind.as_str())
        .bind(i64::from(new.width))
        .bind(i64::from(new.height))
        .bind(&new.sha256)
        .bind(to_ms(new.at))
        .bind(references)
        .fetch_one(&self.pool)
        .await?;
        content_from_row(&row)
    }

    async fn content_references(&self, content: &Content) -> StoreResult<Option<Vec<u8>>> {
        let row = sqlx::query("SELECT reference_enc FROM contents WHERE id = $1")
            .bind(content.id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        let Some(sealed) =
            row.map(|r| r.try_get::<Option<Vec<u8>>, _>("reference_enc")).transpose()?.flatten()
        else {
            return Ok(None);
        };
        let key = self.data_key(content.creator_id).await?;
        Ok(Some(key.open(SealedColumn::ContentReferences, content.id, &sealed)?))
    }

    async fn kept_of_creator(
        &self,
        creator_id: CreatorId,
        limit: u32,
    ) -> StoreResult<Vec<(ContentId, Vec<u8>)>> {
        let rows = sqlx::query(
            "SELECT id, reference_enc FROM contents WHERE creator_id = $1 AND reference_enc IS NOT NULL \
             ORDER BY created_at DESC, id DESC LIMIT $2",
        )
        .bind(creator_id.to_string())
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let key = self.data_key(creator_id).await?;
        rows.iter()
            .map(|row| {
                let id: ContentId = parse_id(&row.try_get::<String, _>("id")?)?;
                let sealed: Vec<u8> = row.try_get("reference_enc")?;
                Ok((id, key.open(SealedColumn::ContentReferences, id, &sealed)?))
            })
            .collect()
    }

    async fn content(&self, id: ContentId) -> StoreResult<Option<Content>> {
        sqlx::query(&format!("SELECT {CONTENT_COLUMNS} FROM contents WHERE id = $1"))
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(content_from_row)
            .transpose()
    }

    async fn contents_for_creator(
        &self,
        creator_id: CreatorId,
        after: Option<ContentCursor>,
        limit: u32,
    ) -> StoreResult<Vec<Content>> {
        // Keyset pagination on (created_at, id): stable under concurrent inserts. Without a
        // cursor, start before every real row.
        let (after_ms, after_id) =
            after.map_or((i64::MIN, String::new()), |c| (to_ms(c.created_at), c.id.to_string()));
        sqlx::query(&format!(
            "SELECT {CONTENT_COLUMNS} FROM contents WHERE creator_id = $1 \
             AND (created_at > $2 OR (created_at = $2 AND id > $3)) ORDER BY created_at, id LIMIT $4"
        ))
        .bind(creator_id.to_string())
        .bind(after_ms)
        .bind(after_id)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(content_from_row)
        .collect()
    }

    async fn content_by_payload(&self, payload: u64) -> StoreResult<Option<Content>> {
        sqlx::query(&format!("SELECT {CONTENT_COLUMNS} FROM contents WHERE payload = $1"))
            .bind(payload_to_db(payload))
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(content_from_row)
            .transpose()
    }
}
