//! The product's vocabulary: the values every part speaks (creators and their consent,
//! contents, platforms, posts and their views, payout statements and fraud flags). It stands
//! alone: it knows no database, no HTTP and no settings, and the store maps its rows to it.

mod access;
mod consent;
mod contents;
mod ids;
mod payouts;
mod tracking;
mod webhooks;

use chrono::{DateTime, Utc};

pub use access::ServiceToken;
pub use consent::{
    ConsentEvent, ConsentState, Creator, ErasureReason, ErasureReceipt, ErasureTrigger, ProfileCorrection,
};
pub use contents::{Content, MediaKind};
pub use ids::{AccountId, ContentId, CreatorId, PostId};
pub use payouts::{
    gain_over, Clawback, CountHistory, CreatorViews, Dispute, DisputeOutcome, DisputeText, EngagementHistory,
    FlagKind, PostFlag, PostGains, PostPayment, PostViews, Statement, StatementDraft, StatementLine,
    StatementTotal, VelocityContext,
};
pub use tracking::{
    Engagement, Evidence, Platform, Post, PostSource, PostStatus, SocialAccount, ViewSnapshot,
};
pub use webhooks::{DeliveryState, EventType, OutboxEvent, WebhookEndpoint};

/// An instant, in UTC (Unix milliseconds in the database).
pub type Timestamp = DateTime<Utc>;
