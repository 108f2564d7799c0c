//! Outbound webhooks: the events the payout system subscribes to, the endpoints it names, and
//! what became of each delivery. Payloads carry ids only, never personal data.

use serde::Serialize;
use uuid::Uuid;

use super::{CreatorId, Timestamp};

/// What happened, as the payout system subscribes to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum EventType {
    #[serde(rename = "statement.created")]
    StatementCreated,
    #[serde(rename = "post.verified")]
    PostVerified,
    #[serde(rename = "post.unverified")]
    PostUnverified,
    #[serde(rename = "flag.raised")]
    FlagRaised,
    #[serde(rename = "flag.cleared")]
    FlagCleared,
    #[serde(rename = "consent.revoked")]
    ConsentRevoked,
    #[serde(rename = "creator.erased")]
    CreatorErased,
}

impl EventType {
    pub const ALL: [EventType; 7] = [
        EventType::StatementCreated,
        EventType::PostVerified,
        EventType::PostUnverified,
        EventType::FlagRaised,
        EventType::FlagCleared,
        EventType::ConsentRevoked,
        EventType::CreatorErased,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::StatementCreated => "statement.created",
            EventType::PostVerified => "post.verified",
            EventType::PostUnverified => "post.unverified",
            EventType::FlagRaised => "flag.raised",
            EventType::FlagCleared => "flag.cleared",
            EventType::ConsentRevoked => "consent.revoked",
            EventType::CreatorErased => "creator.erased",
        }
    }

    pub fn parse(text: &str) -> Option<EventType> {
        EventType::ALL.into_iter().find(|t| t.as_str() == text)
    }
}

/// An event to announce, written to the outbox in the transaction of the change it reports.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxEvent {
    pub event_type: EventType,
    /// Whose event it is: an erasure deletes the creator's events with the rest.
    pub creator_id: Option<CreatorId>,
    /// The `data` object of the payload: ids, kinds, counts and times.
    pub data: serde_json::Value,
    pub at: Timestamp,
}

impl OutboxEvent {
    pub fn new(
        event_type: EventType,
        creator_id: Option<CreatorId>,
        data: serde_json::Value,
        at: Timestamp,
    ) -> Self {
        OutboxEvent { event_type, creator_id, data, at }
    }
}

/// A receiver the admin registered, and the event types it takes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WebhookEndpoint {
    pub id: Uuid,
    pub url: String,
    pub event_types: Vec<EventType>,
    pub description: String,
    pub enabled: bool,
    pub created_at: Timestamp,
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Not delivered yet; tried again at `next_attempt_at`.
    Pending,
    Delivered,
    /// Given up on after the retry window; a replay sends it again.
    Failed,
}

impl DeliveryState {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<DeliveryState> {
        [DeliveryState::Pending, DeliveryState::Delivered, DeliveryState::Failed]
            .into_iter()
            .find(|s| s.as_str() == text)
    }
}
