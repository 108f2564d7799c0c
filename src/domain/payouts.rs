//! Payouts: statements, the views behind them, and the flags that hold a post out of them.

use serde::Serialize;
use uuid::Uuid;

use super::{CreatorId, PostId, Timestamp};

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
    pub creator_id: CreatorId,
    pub views: u64,
}

/// Views one post gained in a period, and the last snapshot behind the number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PostViews {
    pub creator_id: CreatorId,
    pub post_id: PostId,
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

/// Views paid before on a post now removed or flagged, to take back: the net of what earlier
/// statements paid the payee on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clawback {
    pub payee_id: String,
    pub post_id: String,
    pub views: i64,
}

/// A statement composed by the payout rules, ready to be issued: its totals and the evidence
/// behind them, per post.
#[derive(Debug, Clone, PartialEq)]
pub struct StatementDraft {
    pub id: String,
    pub period_start: Timestamp,
    pub period_end: Timestamp,
    pub evidence_hash: String,
    /// Per payee, a views line and a clawback line where there is one.
    pub lines: Vec<StatementTotal>,
    pub posts: Vec<PostViews>,
    pub clawbacks: Vec<Clawback>,
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
    /// No mark in the media, but they match the fingerprint of the creator's own content:
    /// the post waits for an admin, whose clearing approves it.
    FingerprintMatch,
    /// Views far ahead of the engagement the account's other posts draw per view.
    EngagementGap,
}

impl FlagKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FlagKind::ViewsDecreased => "views_decreased",
            FlagKind::Velocity => "velocity",
            FlagKind::ClaimedTwice => "claimed_twice",
            FlagKind::FingerprintMatch => "fingerprint_match",
            FlagKind::EngagementGap => "engagement_gap",
        }
    }

    pub fn parse(text: &str) -> Option<FlagKind> {
        match text {
            "views_decreased" => Some(FlagKind::ViewsDecreased),
            "velocity" => Some(FlagKind::Velocity),
            "claimed_twice" => Some(FlagKind::ClaimedTwice),
            "fingerprint_match" => Some(FlagKind::FingerprintMatch),
            "engagement_gap" => Some(FlagKind::EngagementGap),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PostFlag {
    pub id: Uuid,
    pub post_id: PostId,
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

/// One kind of engagement count over an account's other posts: the sum of the count and the
/// views of the posts that reported it (each post's latest snapshot).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CountHistory {
    pub count: u64,
    pub views: u64,
}

/// The engagement an account's other posts drew, per kind of count, and how many posts
/// reported any: the yardstick a post's own engagement is held against.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EngagementHistory {
    pub posts: u64,
    pub likes: CountHistory,
    pub comments: CountHistory,
    pub shares: CountHistory,
}

/// Views one post gained in a period, whatever its state: the part observed before the hold
/// window's edge and the part inside it, with the latest snapshot that gained inside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PostGains {
    pub post_id: PostId,
    pub settled: u64,
    pub held: u64,
    pub held_last_at: Option<Timestamp>,
}

/// How an admin resolved a dispute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DisputeOutcome {
    /// The creator was right: the admin acts on it (clears a flag, pays what was missed).
    Upheld,
    Rejected,
}

impl DisputeOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            DisputeOutcome::Upheld => "upheld",
            DisputeOutcome::Rejected => "rejected",
        }
    }

    pub fn parse(text: &str) -> Option<DisputeOutcome> {
        [DisputeOutcome::Upheld, DisputeOutcome::Rejected].into_iter().find(|o| o.as_str() == text)
    }
}

/// The short text of a dispute or of its answer: trimmed, 1 to `DisputeText::MAX_CHARS`
/// characters, no control characters but line breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisputeText(String);

impl DisputeText {
    pub const MAX_CHARS: usize = 1000;

    pub fn parse(text: &str) -> Result<DisputeText, String> {
        let text = text.trim();
        let chars = text.chars().count();
        if chars == 0 || chars > Self::MAX_CHARS {
            return Err(format!("the text must be 1 to {} characters", Self::MAX_CHARS));
        }
        if text.chars().any(|c| c.is_control() && c != '\n') {
            return Err("the text may not hold control characters".into());
        }
        Ok(DisputeText(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A creator's dispute of one post, and its resolution once an admin gives it.
#[derive(Debug, Clone, PartialEq)]
pub struct Dispute {
    pub id: Uuid,
    pub post_id: PostId,
    pub creator_id: CreatorId,
    pub note: String,
    pub opened_at: Timestamp,
    pub outcome: Option<DisputeOutcome>,
    pub answer: Option<String>,
    pub resolved_at: Option<Timestamp>,
    /// The service token id of the admin who resolved it.
    pub resolved_by: Option<String>,
}

/// What a snapshot adds to its post's views over the snapshot before it: the increase; nothing
/// for the post's first snapshot, for a baseline (the first since consent was granted again:
/// what accrued while it was revoked is never counted) or for a decrease (flagged instead).
pub fn gain_over(previous: Option<u64>, views: u64, baseline: bool) -> u64 {
    match previous {
        Some(before) if !baseline => views.saturating_sub(before),
        _ => 0,
    }
}
