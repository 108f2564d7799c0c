//! Service tokens: only their SHA-256 hashes are stored.

use async_trait::async_trait;
use sqlx::any::AnyRow;
use sqlx::Row;
use uuid::Uuid;

use super::backend::SqlStore;
use super::columns::{from_ms, opt_from_ms, parse_id, to_ms};
use super::{NewServiceToken, ServiceTokenRepo, StoreResult};
use crate::domain::ServiceToken;

const TOKEN_COLUMNS: &str = "id, name, scopes, created_at, revoked_at";

fn token_from_row(row: &AnyRow) -> StoreResult<ServiceToken> {
    Ok(ServiceToken {
        id: parse_id(&row.try_get::<String, _>("id")?)?,
        name: row.try_get("name")?,
        scopes: row.try_get::<String, _>("scopes")?.split_whitespace().map(str::to_owned).collect(),
        created_at: from_ms(row.try_get("created_at")?)?,
        revoked_at: opt_from_ms(row.try_get("revoked_at")?)?,
    })
}

#[async_trait]
impl ServiceTokenRepo for SqlStore {
    async fn insert_service_token(&self, new: &NewServiceToken) -> StoreResult<ServiceToken> {
        let row = sqlx::query(&format!(
            "INSERT INTO service_tokens (id, name, token_hash, scopes, created_at) VALUES ($1, $2, $3, $4, $5) \
             RETURNING {TOKEN_COLUMNS}"
        ))
        .bind(Uuid::new_v4().to_string())
        .bind(&new.name)
        .bind(&new.token_hash)
        .bind(new.scopes.join(" "))
        .bind(to_ms(new.at))
        .fetch_one(&self.pool)
        .await?;
        token_from_row(&row)
    }

    async fn active_service_token(&self, token_hash: &str) -> StoreResult<Option<ServiceToken>> {
        sqlx::query(&format!(
            "SELECT {TOKEN_COLUMNS} FROM service_tokens WHERE token_hash = $1 AND revoked_at IS NULL"
        ))
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(token_from_row)
        .transpose()
    }

    async fn revoke_service_token(&self, id: Uuid) -> StoreResult<bool> {
        let result =
            sqlx::query("UPDATE service_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                .bind(to_ms(chrono::Utc::now()))
                .bind(id.to_string())
                .execute(&self.pool)
                .await?;
        Ok(result.rows_affected() == 1)
    }
}
