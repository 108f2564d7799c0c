//! Records the store reads and writes. Times are `DateTime<Utc>` here and Unix
//! milliseconds in the database.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub type Timestamp = DateTime<Utc>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
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

#[derive(Debug, Clone)]
pub struct NewCreator {
    pub user_id: String,
    pub display_name: Option<String>,
    pub birth_year: Option<i32>,
    pub policy_version: String,
    pub channel: String,
    pub at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Creator {
    pub id: Uuid,
    pub user_id: String,
    pub display_name: Option<String>,
    pub birth_year: Option<i32>,
    pub consent: ConsentState,
    pub consent_changed_at: Timestamp,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone)]
pub struct ConsentChange {
    pub grant: bool,
    pub policy_version: String,
    /// Through which channel the change came (api, webhook, operator...).
    pub channel: String,
    /// Who made it (the creator themselves, an operator's token id...).
    pub actor: String,
    pub at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConsentEvent {
    pub id: i64,
    pub creator_id: Uuid,
    pub kind: ConsentState,
    pub policy_version: String,
    pub channel: String,
    pub actor: String,
    pub occurred_at: Timestamp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum MediaKind {
    Image,
    Video,
}

impl MediaKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MediaKind::Image => "image",
            MediaKind::Video => "video",
        }
    }
}

#[derive(Debug, Clone)]
pub struct NewContent {
    pub creator_id: Uuid,
    pub payload: u64,
    pub media_kind: MediaKind,
    pub width: u32,
    pub height: u32,
    pub sha256: String,
    /// What the content looks like (`detection::picture_references`), sealed by the store.
    pub references: Option<Vec<u8>>,
    pub at: Timestamp,
}

/// Where a page of contents resumes: after this (creation time, id), in that order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContentCursor {
    pub created_at: Timestamp,
    pub id: Uuid,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Content {
    pub id: Uuid,
    pub creator_id: Uuid,
    pub payload: u64,
    pub media_kind: MediaKind,
    pub width: u32,
    pub height: u32,
    pub sha256: String,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    Youtube,
    Tiktok,
    Instagram,
    X,
}

impl Platform {
    pub const ALL: [Platform; 4] = [Platform::Youtube, Platform::Tiktok, Platform::Instagram, Platform::X];

    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Youtube => "youtube",
            Platform::Tiktok => "tiktok",
            Platform::Instagram => "instagram",
            Platform::X => "x",
        }
    }

    pub fn parse(s: &str) -> Option<Platform> {
        Platform::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone)]
pub struct NewSocialAccount {
    pub creator_id: Uuid,
    pub platform: Platform,
    pub handle: String,
    pub proof_code: Option<String>,
    /// Platform tokens handed over by the creator's app (serialised; sealed by the store).
    pub oauth_token: Option<Vec<u8>>,
    pub at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SocialAccount {
    pub id: Uuid,
    pub creator_id: Uuid,
    pub platform: Platform,
    pub handle: String,
    /// The one-time code the creator places in the profile to prove ownership.
    pub proof_code: Option<String>,
    /// Whether sealed platform tokens are held (they are never read back through this).
    pub has_oauth_token: bool,
    pub proven_at: Option<Timestamp>,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PostStatus {
    Pending,
    Verified,
    Unverified,
    Removed,
    Stopped,
}

impl PostStatus {
    pub const ALL: [PostStatus; 5] = [
        PostStatus::Pending,
        PostStatus::Verified,
        PostStatus::Unverified,
        PostStatus::Removed,
        PostStatus::Stopped,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PostStatus::Pending => "pending",
            PostStatus::Verified => "verified",
            PostStatus::Unverified => "unverified",
            PostStatus::Removed => "removed",
            PostStatus::Stopped => "stopped",
        }
    }

    pub fn parse(s: &str) -> Option<PostStatus> {
        PostStatus::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

#[derive(Debug, Clone)]
pub struct NewPost {
    pub creator_id: Uuid,
    pub social_account_id: Uuid,
    pub platform: Platform,
    pub platform_post_id: String,
    pub url: String,
    pub content_id: Option<Uuid>,
    pub at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Post {
    pub id: Uuid,
    pub creator_id: Uuid,
    pub social_account_id: Uuid,
    pub platform: Platform,
    pub platform_post_id: String,
    pub url: String,
    pub content_id: Option<Uuid>,
    pub status: PostStatus,
    /// Why a post is unverified, removed or failing, in a few words.
    pub status_reason: Option<String>,
    pub next_poll_at: Timestamp,
    /// Consecutive failed polls (reset by a successful one).
    pub failures: u32,
    pub last_polled_at: Option<Timestamp>,
    /// The latest successful watermark check.
    pub evidence: Option<Evidence>,
    pub created_at: Timestamp,
}

/// Where a page of posts ends: the last post's creation time and id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PostCursor {
    pub created_at: Timestamp,
    pub id: Uuid,
}

/// What proved a post carries the creator's content.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evidence {
    pub verified_at: Timestamp,
    /// SHA-256 of the media bytes the watermark was found in.
    pub media_sha256: String,
    pub score: f64,
}

/// A post leased to one worker for one poll.
#[derive(Debug, Clone)]
pub struct LeasedPost {
    pub post: Post,
    pub account: SocialAccount,
    /// The creator's platform tokens, serialised (TikTok, Instagram).
    pub oauth_token: Option<Vec<u8>>,
    /// The schedule slot of this poll: the due time it was leased for (ms). A retried poll
    /// of the same slot stores no second snapshot.
    pub slot: i64,
}

/// What one poll found, to be written in one transaction with the consent check.
#[derive(Debug, Clone)]
pub struct PollCompletion {
    pub post_id: Uuid,
    pub creator_id: Uuid,
    pub worker: String,
    pub slot: i64,
    /// The creator's `consent_changed_at` when the poll started: if it moved, consent was
    /// revoked (and maybe granted again) meanwhile, and the poll stores nothing.
    pub consent_since: Timestamp,
    pub observed_at: Timestamp,
    /// Views to record (only for a verified post).
    pub views: Option<u64>,
    pub status: PostStatus,
    pub status_reason: Option<String>,
    pub next_poll_at: Timestamp,
    pub failures: u32,
    /// New evidence, when the watermark was checked and found.
    pub evidence: Option<Evidence>,
    /// The content found in the media, when the post did not name one.
    pub content_id: Option<Uuid>,
    /// Fraud signals the new views raise (stored with the snapshot).
    pub flags: Vec<(FlagKind, String)>,
}

/// How a poll's write ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PollCommit {
    Stored(Option<SnapshotWrite>),
    /// Consent was revoked (or changed) since the poll started: nothing was stored.
    ConsentEnded,
    /// The lease expired and another worker has the post: nothing was stored.
    LeaseLost,
}

/// The creator's consent as the poller must see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConsentStamp {
    pub granted: bool,
    pub changed_at: Timestamp,
}

#[derive(Debug, Clone)]
pub struct NewSnapshot {
    pub post_id: Uuid,
    /// The schedule slot this poll belongs to; at most one snapshot per post and slot.
    pub poll_slot: i64,
    pub observed_at: Timestamp,
    pub views: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ViewSnapshot {
    pub id: i64,
    pub post_id: Uuid,
    pub poll_slot: i64,
    pub observed_at: Timestamp,
    pub views: u64,
    /// The first snapshot since consent was (re)granted: counting starts here.
    pub baseline: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapshotWrite {
    Inserted,
    /// A snapshot for this post and slot already existed; nothing was written.
    AlreadyRecorded,
}

#[derive(Debug, Clone)]
pub struct NewServiceToken {
    pub name: String,
    pub token_hash: String,
    pub scopes: Vec<String>,
    pub at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServiceToken {
    pub id: Uuid,
    pub name: String,
    pub scopes: Vec<String>,
    pub created_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
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

/// One line of an issued payout statement.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatementLine {
    pub statement_id: String,
    pub period_start: Timestamp,
    pub period_end: Timestamp,
    /// "views" or "clawback".
    pub line_kind: String,
    pub views: i64,
}

/// Views a creator gained in a period (payable: see `store::payouts`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CreatorViews {
    pub creator_id: Uuid,
    pub views: u64,
}

/// Views one post gained in a period, and the last snapshot behind the number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PostViews {
    pub creator_id: Uuid,
    pub post_id: Uuid,
    pub views: u64,
    pub last_snapshot_id: i64,
}

/// An issued payout statement: immutable once created.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Statement {
    pub id: String,
    pub period_start: Timestamp,
    pub period_end: Timestamp,
    /// SHA-256 over every (post, views, last snapshot) behind the totals.
    pub evidence_hash: String,
    pub created_at: Timestamp,
    /// Payee order; a payee may have a views line and a clawback line.
    pub lines: Vec<StatementTotal>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatementTotal {
    /// A creator id, or a tombstone id after that creator's erasure.
    pub payee_id: String,
    /// "views" or "clawback" (negative views).
    pub line_kind: String,
    pub views: i64,
}

/// Why a post is held out of statements until an admin clears it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FlagKind {
    ViewsDecreased,
    Velocity,
    ClaimedTwice,
}

impl FlagKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FlagKind::ViewsDecreased => "views_decreased",
            FlagKind::Velocity => "velocity",
            FlagKind::ClaimedTwice => "claimed_twice",
        }
    }

    pub fn parse(text: &str) -> Option<FlagKind> {
        match text {
            "views_decreased" => Some(FlagKind::ViewsDecreased),
            "velocity" => Some(FlagKind::Velocity),
            "claimed_twice" => Some(FlagKind::ClaimedTwice),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PostFlag {
    pub id: Uuid,
    pub post_id: Uuid,
    pub kind: FlagKind,
    /// Numbers only (views, rates), never personal data.
    pub detail: String,
    pub raised_at: Timestamp,
    pub cleared_at: Option<Timestamp>,
    /// The service token id of the admin who cleared it.
    pub cleared_by: Option<String>,
}

/// What one statement paid on one post: the evidence behind a line of its totals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostPayment {
    pub statement_id: String,
    /// "views", or "clawback" (negative views).
    pub line_kind: String,
    pub views: i64,
    /// The snapshot the views were counted up to (none for a clawback).
    pub last_snapshot_id: Option<i64>,
}

/// What a fraud check needs about a post before a new snapshot is stored (built by the poller
/// from `latest_snapshot` and, when it can matter, `account_views_per_hour`).
#[derive(Debug, Clone, PartialEq)]
pub struct VelocityContext {
    /// The post's latest snapshot: (observed at, views).
    pub latest: Option<(Timestamp, u64)>,
    /// The account's historical gain rate over all its posts, views per hour (None: no history).
    pub account_views_per_hour: Option<f64>,
}
