//! Webhook endpoints: where the payout system takes events, which types, and the secret
//! each delivery is signed with.

use async_trait::async_trait;
use sqlx::any::AnyRow;
use sqlx::Row;
use uuid::Uuid;

use super::backend::SqlStore;
use super::columns::{from_ms, parse_id, to_ms};
use super::StoreResult;
use crate::domain::{EventType, WebhookEndpoint};

/// A registered endpoint with its signing secret (what the deliverer needs).
#[derive(Debug, Clone)]
pub struct EndpointWithSecret {
    pub endpoint: WebhookEndpoint,
    pub secret: String,
}

/// Registered webhook endpoints.
#[async_trait]
pub trait WebhookEndpointRepo: Send + Sync {
    async fn insert_endpoint(&self, endpoint: &WebhookEndpoint, secret: &str) -> StoreResult<()>;
    async fn endpoints(&self) -> StoreResult<Vec<WebhookEndpoint>>;
    async fn endpoint(&self, id: Uuid) -> StoreResult<Option<EndpointWithSecret>>;
    /// Changes what an endpoint takes, or switches it off or on; `None` if there is none.
    async fn update_endpoint(
        &self,
        id: Uuid,
        event_types: Option<&[EventType]>,
        enabled: Option<bool>,
    ) -> StoreResult<Option<WebhookEndpoint>>;
    /// Deletes an endpoint with its deliveries and their log; false if there was none.
    async fn delete_endpoint(&self, id: Uuid) -> StoreResult<bool>;
}

/// An endpoint's event types as stored: `,a,b,`, so that `LIKE '%,a,%'` finds its takers.
fn type_list(types: &[EventType]) -> String {
    let mut list = String::from(",");
    for t in types {
        list.push_str(t.as_str());
        list.push(',');
    }
    list
}

const ENDPOINT_COLUMNS: &str = "id, url, secret, event_types, description, enabled, created_at";

fn endpoint_from_row(row: &AnyRow) -> StoreResult<EndpointWithSecret> {
    let types: String = row.try_get("event_types")?;
    Ok(EndpointWithSecret {
        endpoint: WebhookEndpoint {
            id: parse_id(&row.try_get::<String, _>("id")?)?,
            url: row.try_get("url")?,
            event_types: types.split(',').filter_map(EventType::parse).collect(),
            description: row.try_get("description")?,
            enabled: row.try_get::<i64, _>("enabled")? != 0,
            created_at: from_ms(row.try_get("created_at")?)?,
        },
        secret: row.try_get("secret")?,
    })
}

#[async_trait]
impl WebhookEndpointRepo for SqlStore {
    async fn insert_endpoint(&self, endpoint: &WebhookEndpoint, secret: &str) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO webhook_endpoints (id, url, secret, event_types, description, enabled, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(endpoint.id.to_string())
        .bind(&endpoint.url)
        .bind(secret)
        .bind(type_list(&endpoint.event_types))
        .bind(&endpoint.description)
        .bind(i64::from(endpoint.enabled))
        .bind(to_ms(endpoint.created_at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn endpoints(&self) -> StoreResult<Vec<WebhookEndpoint>> {
        sqlx::query(&format!("SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints ORDER BY created_at, id"))
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|row| Ok(endpoint_from_row(row)?.endpoint))
            .collect()
    }

    async fn endpoint(&self, id: Uuid) -> StoreResult<Option<EndpointWithSecret>> {
        sqlx::query(&format!("SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE id = $1"))
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(endpoint_from_row)
            .transpose()
    }

    async fn update_endpoint(
        &self,
        id: Uuid,
        event_types: Option<&[EventType]>,
        enabled: Option<bool>,
    ) -> StoreResult<Option<WebhookEndpoint>> {
        let row = sqlx::query(&format!(
            "UPDATE webhook_endpoints SET event_types = COALESCE($2, event_types), enabled = COALESCE($3, enabled) \
             WHERE id = $1 RETURNING {ENDPOINT_COLUMNS}"
        ))
        .bind(id.to_string())
        .bind(event_types.map(type_list))
        .bind(enabled.map(i64::from))
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(|r| Ok(endpoint_from_row(r)?.endpoint)).transpose()
    }

    async fn delete_endpoint(&self, id: Uuid) -> StoreResult<bool> {
        let deleted = sqlx::query("DELETE FROM webhook_endpoints WHERE id = $1")
            .bind(id.to_string())
            .execute(&self.pool)
            .await?;
        Ok(deleted.rows_affected() > 0)
    }
}
