//! Service tokens: the callers that are not creators.

use serde::Serialize;
use uuid::Uuid;

use super::Timestamp;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServiceToken {
    pub id: Uuid,
    pub name: String,
    pub scopes: Vec<String>,
    pub created_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
}
