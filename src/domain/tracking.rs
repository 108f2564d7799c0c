//! Tracking: the accounts creators link, the posts followed on them, and the views seen.

use super::{AccountId, ContentId, CreatorId, PostId, Timestamp};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
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

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SocialAccount {
    pub id: AccountId,
    pub creator_id: CreatorId,
    pub platform: Platform,
    pub handle: String,
    /// The one-time code the creator places in the profile to prove ownership.
    pub proof_code: Option<String>,
    /// Whether sealed platform tokens are held (they are never read back through this).
    pub has_oauth_token: bool,
    pub proven_at: Option<Timestamp>,
    pub created_at: Timestamp,
}

/// How a post came to be tracked: its creator registered its URL, or a scan of the creator's
/// account found the creator's content in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PostSource {
    Registered,
    Discovered,
}

impl PostSource {
    pub fn as_str(self) -> &'static str {
        match self {
            PostSource::Registered => "registered",
            PostSource::Discovered => "discovered",
        }
    }

    pub fn parse(s: &str) -> Option<PostSource> {
        [PostSource::Registered, PostSource::Discovered].into_iter().find(|p| p.as_str() == s)
    }
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

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Post {
    pub id: PostId,
    pub creator_id: CreatorId,
    pub social_account_id: AccountId,
    pub platform: Platform,
    pub platform_post_id: String,
    pub url: String,
    pub content_id: Option<ContentId>,
    pub source: PostSource,
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

/// What proved a post carries the creator's content.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evidence {
    pub verified_at: Timestamp,
    /// SHA-256 of the media bytes the watermark was found in.
    pub media_sha256: String,
    pub score: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ViewSnapshot {
    pub id: i64,
    pub post_id: PostId,
    pub poll_slot: i64,
    pub observed_at: Timestamp,
    pub views: u64,
    /// The first snapshot since consent was (re)granted: counting starts here.
    pub baseline: bool,
    /// What the platform reported beside the views, in the same answer.
    pub engagement: Engagement,
}

/// A post's engagement counts as its platform reports them beside the views; each is
/// `None` where the platform does not give it (YouTube has no share count, Instagram's
/// media object no shares).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Engagement {
    pub likes: Option<u64>,
    pub comments: Option<u64>,
    pub shares: Option<u64>,
}
