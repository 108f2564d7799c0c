//! What the store is asked to write, and how its writes end: the commands around the
//! domain's values (`crate::domain`).

use crate::domain::{
    AccountId, ContentId, CreatorId, Engagement, Evidence, FlagKind, MediaKind, Platform, Post, PostId,
    PostStatus, SocialAccount, Timestamp,
};

#[derive(Debug, Clone)]
pub struct NewCreator {
    pub user_id: String,
    pub display_name: Option<String>,
    pub birth_year: Option<i32>,
    pub policy_version: String,
    pub channel: String,
    pub at: Timestamp,
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

#[derive(Debug, Clone)]
pub struct NewContent {
    pub creator_id: CreatorId,
    pub payload: u64,
    pub media_kind: MediaKind,
    pub width: u32,
    pub height: u32,
    pub sha256: String,
    /// What is kept to recognise the content by (`media::kept::Kept`: references and
    /// fingerprints), sealed by the store.
    pub references: Option<Vec<u8>>,
    pub at: Timestamp,
}

/// Where a page of contents resumes: after this (creation time, id), in that order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContentCursor {
    pub created_at: Timestamp,
    pub id: ContentId,
}

#[derive(Debug, Clone)]
pub struct NewSocialAccount {
    pub creator_id: CreatorId,
    pub platform: Platform,
    pub handle: String,
    pub proof_code: Option<String>,
    /// Platform tokens handed over by the creator's app (serialised; sealed by the store).
    pub oauth_token: Option<Vec<u8>>,
    pub at: Timestamp,
}

/// An account claimed for a scan: what the scan needs to ask the platform.
#[derive(Debug, Clone)]
pub struct LeasedScan {
    pub account: SocialAccount,
    /// The account's platform tokens (serialised), if held.
    pub oauth_token: Option<Vec<u8>>,
    /// When the creator's consent last changed: the scan's requests pass the gate only while
    /// it is still this grant.
    pub consent_since: Timestamp,
    pub last_scan_at: Option<Timestamp>,
}

/// An authorization started at a platform, found again by the hash of its `state`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthState {
    pub state_hash: String,
    pub creator_id: CreatorId,
    pub platform: Platform,
    /// The PKCE verifier that completes the authorization (kept until then only).
    pub pkce_verifier: String,
    pub expires_at: Timestamp,
}

#[derive(Debug, Clone)]
pub struct NewPost {
    pub creator_id: CreatorId,
    pub social_account_id: AccountId,
    pub platform: Platform,
    pub platform_post_id: String,
    pub url: String,
    pub content_id: Option<ContentId>,
    pub at: Timestamp,
}

/// Where a page of posts ends: the last post's creation time and id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PostCursor {
    pub created_at: Timestamp,
    pub id: PostId,
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
    pub post_id: PostId,
    pub creator_id: CreatorId,
    pub worker: String,
    pub slot: i64,
    /// The creator's `consent_changed_at` when the poll started: if it moved, consent was
    /// revoked (and maybe granted again) meanwhile, and the poll stores nothing.
    pub consent_since: Timestamp,
    pub observed_at: Timestamp,
    /// Views to record (only for a verified post).
    pub views: Option<u64>,
    /// What the platform reported beside the views, stored with them.
    pub engagement: Engagement,
    pub status: PostStatus,
    pub status_reason: Option<String>,
    pub next_poll_at: Timestamp,
    pub failures: u32,
    /// New evidence, when the watermark was checked and found.
    pub evidence: Option<Evidence>,
    /// The content found in the media, when the post did not name one.
    pub content_id: Option<ContentId>,
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
    pub post_id: PostId,
    /// The schedule slot this poll belongs to; at most one snapshot per post and slot.
    pub poll_slot: i64,
    pub observed_at: Timestamp,
    pub views: u64,
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
