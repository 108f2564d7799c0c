//! Creators and their consent: who joined, what they agreed to, and the proof an erasure
//! happened.

use serde::Serialize;
use uuid::Uuid;

use super::{CreatorId, Timestamp};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ConsentState {
    Granted,
    Revoked,
}

impl ConsentState {
    pub fn as_str(self) -> &'static str {
        match self {
            ConsentState::Granted => "granted",
            ConsentState::Revoked => "revoked",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Creator {
    pub id: CreatorId,
    pub user_id: String,
    pub display_name: Option<String>,
    pub birth_year: Option<i32>,
    pub consent: ConsentState,
    pub consent_changed_at: Timestamp,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConsentEvent {
    pub id: i64,
    pub creator_id: CreatorId,
    pub kind: ConsentState,
    pub policy_version: String,
    pub channel: String,
    pub actor: String,
    pub occurred_at: Timestamp,
}

/// What asked for an erasure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ErasureTrigger {
    /// The creator, through the API.
    Api,
    /// The identity provider's `user.deleted` event.
    Webhook,
    /// An operator, with `viewmark erase`.
    Operator,
}

impl ErasureTrigger {
    pub fn as_str(self) -> &'static str {
        match self {
            ErasureTrigger::Api => "api",
            ErasureTrigger::Webhook => "webhook",
            ErasureTrigger::Operator => "operator",
        }
    }

    pub fn parse(text: &str) -> Option<ErasureTrigger> {
        [ErasureTrigger::Api, ErasureTrigger::Webhook, ErasureTrigger::Operator]
            .into_iter()
            .find(|t| t.as_str() == text)
    }
}

/// Proof an erasure happened: no personal data, no user id.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ErasureReceipt {
    pub id: Uuid,
    pub erased_at: Timestamp,
    pub trigger: ErasureTrigger,
    /// Rows removed (or tombstoned) per table.
    pub row_counts: std::collections::BTreeMap<String, u64>,
}
