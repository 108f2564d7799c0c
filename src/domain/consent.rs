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
    /// The policy version of the creator's latest grant.
    pub policy_version: String,
    /// Set while that version is not the one in force: tracking pauses from then until the
    /// creator grants again under the new one.
    pub regrant_due_at: Option<Timestamp>,
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
#[serde(into = "&'static str")]
pub enum ErasureTrigger {
    /// The creator, through the API.
    Api,
    /// The identity provider's `user.deleted` event.
    Webhook,
    /// An operator, with `viewmark erase`.
    Operator,
    /// An admin, through the API, for a reason.
    Admin(ErasureReason),
    /// The creator's own correction of their birth year put them under the minimum age.
    UnderAge,
}

impl ErasureTrigger {
    pub fn as_str(self) -> &'static str {
        match self {
            ErasureTrigger::Api => "api",
            ErasureTrigger::Webhook => "webhook",
            ErasureTrigger::Operator => "operator",
            ErasureTrigger::Admin(_) => "admin",
            ErasureTrigger::UnderAge => "under_age",
        }
    }

    /// Why an admin erased; `None` for the other triggers.
    pub fn reason(self) -> Option<ErasureReason> {
        match self {
            ErasureTrigger::Admin(reason) => Some(reason),
            _ => None,
        }
    }

    /// The trigger stored as `kind` with `reason`.
    pub fn parse(kind: &str, reason: Option<&str>) -> Option<ErasureTrigger> {
        match (kind, reason) {
            ("admin", Some(reason)) => ErasureReason::parse(reason).map(ErasureTrigger::Admin),
            (_, Some(_)) => None,
            (kind, None) => [
                ErasureTrigger::Api,
                ErasureTrigger::Webhook,
                ErasureTrigger::Operator,
                ErasureTrigger::UnderAge,
            ]
            .into_iter()
            .find(|t| t.as_str() == kind),
        }
    }
}

impl From<ErasureTrigger> for &'static str {
    fn from(trigger: ErasureTrigger) -> &'static str {
        trigger.as_str()
    }
}

/// Why an admin erased a creator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ErasureReason {
    /// The creator was found to be under the minimum age (privacy policy, section 10).
    Minor,
    /// The creator asked, by another channel than the API.
    Request,
    /// A legal obligation (a court order, a regulator).
    Legal,
}

impl ErasureReason {
    pub const ALL: [ErasureReason; 3] = [ErasureReason::Minor, ErasureReason::Request, ErasureReason::Legal];

    pub fn as_str(self) -> &'static str {
        match self {
            ErasureReason::Minor => "minor",
            ErasureReason::Request => "request",
            ErasureReason::Legal => "legal",
        }
    }

    pub fn parse(text: &str) -> Option<ErasureReason> {
        Self::ALL.into_iter().find(|r| r.as_str() == text)
    }
}

/// A correction of a creator's profile, as ledgered: which fields changed (never their
/// values), by whom, when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProfileCorrection {
    pub id: i64,
    pub fields: Vec<String>,
    pub channel: String,
    pub actor: String,
    pub occurred_at: Timestamp,
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
