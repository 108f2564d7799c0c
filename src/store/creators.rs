//! Creators, the consent ledger and enrolled contents.

use async_trait::async_trait;
use sqlx::any::AnyRow;
use sqlx::Row;
use uuid::Uuid;

use super::backend::{from_ms, parse_uuid, payload_from_db, payload_to_db, to_ms, SqlStore};
use super::{
    ConsentChange, ConsentEvent, ConsentState, Content, ContentCursor, Creator, CreatorRepo, MediaKind,
    NewContent, NewCreator, StoreError, StoreResult,
};

const CREATOR_COLUMNS: &str =
    "id, user_id, display_name, birth_year, consent_state, consent_changed_at, created_at";
const CONTENT_COLUMNS: &str = "id, creator_id, payload, media_kind, width, height, sha256, created_at";

fn consent_state(text: &str) -> StoreResult<ConsentState> {
    match text {
        "granted" | "grant" => Ok(ConsentState::Granted),
        "revoked" | "revoke" => Ok(ConsentState::Revoked),
        other => Err(StoreError::Corrupt(format!("unknown consent state {other}"))),
    }
}

fn creator_from_row(row: &AnyRow) -> StoreResult<Creator> {
    Ok(Creator {
        id: parse_uuid(&row.try_get::<String, _>("id")?)?,
        user_id: row.try_get("user_id")?,
        display_name: row.try_get("display_name")?,
        birth_year: row.try_get::<Option<i64>, _>("birth_year")?.map(|y| y as i32),
        consent: consent_state(&row.try_get::<String, _>("consent_state")?)?,
        consent_changed_at: from_ms(row.try_get("consent_changed_at")?)?,
        created_at: from_ms(row.try_get("created_at")?)?,
    })
}

fn event_from_row(row: &AnyRow) -> StoreResult<ConsentEvent> {
    Ok(ConsentEvent {
        id: row.try_get("id")?,
        creator_id: parse_uuid(&row.try_get::<String, _>("creator_id")?)?,
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
        id: parse_uuid(&row.try_get::<String, _>("id")?)?,
        creator_id: parse_uuid(&row.try_get::<String, _>("creator_id")?)?,
        payload: payload_from_db(row.try_get("payload")?),
        media_kind,
        width: row.try_get::<i64, _>("width")? as u32,
        height: row.try_get::<i64, _>("height")? as u32,
        sha256: row.try_get("sha256")?,
        created_at: from_ms(row.try_get("created_at")?)?,
    })
}

#[async_trait]
impl CreatorRepo for SqlStore {
    async fn create_creator(&self, new: &NewCreator) -> StoreResult<Creator> {
        let id = Uuid::new_v4();
        let at = to_ms(new.at);
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO creators (id, user_id, display_name, birth_year, consent_state, consent_changed_at, created_at) \
             VALUES ($1, $2, $3, $4, 'granted', $5, $5)",
        )
        .bind(id.to_string())
        .bind(&new.user_id)
        .bind(new.display_name.clone())
        .bind(new.birth_year.map(i64::from))
        .bind(at)
        .execute(&mut *tx)
        .await?;
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
        creator_from_row(&row)
    }

    async fn creator_by_user_id(&self, user_id: &str) -> StoreResult<Option<Creator>> {
        sqlx::query(&format!("SELECT {CREATOR_COLUMNS} FROM creators WHERE user_id = $1"))
            .bind(user_id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(creator_from_row)
            .transpose()
    }

    async fn creator(&self, id: Uuid) -> StoreResult<Option<Creator>> {
        sqlx::query(&format!("SELECT {CREATOR_COLUMNS} FROM creators WHERE id = $1"))
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(creator_from_row)
            .transpose()
    }

    async fn record_consent(&self, creator_id: Uuid, change: &ConsentChange) -> StoreResult<ConsentEvent> {
        let (kind, state) = if change.grant { ("grant", "granted") } else { ("revoke", "revoked") };
        let mut tx = self.pool.begin().await?;
        let updated =
            sqlx::query("UPDATE creators SET consent_state = $1, consent_changed_at = $2 WHERE id = $3")
                .bind(state)
                .bind(to_ms(change.at))
                .bind(creator_id.to_string())
                .execute(&mut *tx)
                .await?;
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
        tx.commit().await?;
        event_from_row(&row)
    }

    async fn consent_ledger(&self, creator_id: Uuid) -> StoreResult<Vec<ConsentEvent>> {
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
        let row = sqlx::query(&format!(
            "INSERT INTO contents ({CONTENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {CONTENT_COLUMNS}"
        ))
        .bind(Uuid::new_v4().to_string())
        .bind(new.creator_id.to_string())
        .bind(payload_to_db(new.payload))
        .bind(new.media_kind.as_str())
        .bind(i64::from(new.width))
        .bind(i64::from(new.height))
        .bind(&new.sha256)
        .bind(to_ms(new.at))
        .fetch_one(&self.pool)
        .await?;
        content_from_row(&row)
    }

    async fn content(&self, id: Uuid) -> StoreResult<Option<Content>> {
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
        creator_id: Uuid,
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
