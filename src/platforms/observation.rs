//! What an adapter reports, the same for every platform, and every way asking can fail.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::domain::{AccountId, Engagement, Platform};
use crate::secret::Secret;

/// Whether a post can be seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PostState {
    Live,
    /// Deleted, or not returned at all (YouTube does not tell deleted from private).
    Removed,
    /// Exists, but hidden from the credential used (protected account, private video).
    Private,
}

/// One post as seen on its platform at one moment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Observation {
    pub post_id: String,
    pub state: PostState,
    /// The author's handle, normalised (no `@`, lowercase), when the platform says.
    pub author_handle: Option<String>,
    pub views: Option<u64>,
    /// Why the platform gave no views for this post this time, when it said so for this post
    /// alone (its error code: the rest of the batch is read as usual).
    pub views_withheld: Option<String>,
    /// Likes, comments and shares, as far as the platform's answer gives them.
    pub engagement: Engagement,
    /// The picture, or a video's cover or thumbnail, best first.
    pub media_urls: Vec<Url>,
}

impl Observation {
    pub fn gone(post_id: &str, state: PostState) -> Observation {
        Observation {
            post_id: post_id.to_owned(),
            state,
            author_handle: None,
            views: None,
            views_withheld: None,
            engagement: Engagement::default(),
            media_urls: vec![],
        }
    }
}

/// One page of an account's own posts, newest first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PostPage {
    /// Each post as listed: its id, author and media (views where the listing gives them).
    pub posts: Vec<Observation>,
    /// What asks for the next, older page; `None` on the last.
    pub next: Option<String>,
}

/// A profile, for ownership checks (the proof code is placed in the bio).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Profile {
    pub handle: String,
    pub bio: String,
}

/// A creator's OAuth tokens for a platform (TikTok and Instagram read with these).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserToken {
    pub access_token: Secret,
    pub refresh_token: Option<Secret>,
    pub expires_at: Option<DateTime<Utc>>,
}

impl UserToken {
    /// The tokens as handed to the store (which seals them under the creator's data key).
    pub fn to_bytes(&self) -> Result<Vec<u8>, String> {
        serde_json::to_vec(self).map_err(|e| e.to_string())
    }

    /// Tokens as serialised by [`UserToken::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<UserToken, String> {
        serde_json::from_slice(bytes).map_err(|e| e.to_string())
    }
}

/// The creator's credential for one account; the account id keys the per-user rate limit
/// (and is what logs name, never the token).
#[derive(Debug, Clone)]
pub struct UserCredential {
    pub account_id: AccountId,
    pub token: UserToken,
    /// New tokens the adapter obtained while using this credential (a refresh, an
    /// extension), left here the moment they arrive: the caller stores them, sealed, in
    /// place of the old whether or not the call then succeeds. A platform that rotates its
    /// refresh tokens (TikTok) has already invalidated the old one.
    pub refreshed: RefreshedToken,
}

impl UserCredential {
    pub fn new(account_id: AccountId, token: UserToken) -> UserCredential {
        UserCredential { account_id, token, refreshed: RefreshedToken::default() }
    }

    /// The token to use now: the newest obtained, else the one held.
    pub fn current_token(&self) -> UserToken {
        self.refreshed.peek().unwrap_or_else(|| self.token.clone())
    }
}

/// The newest token obtained during a call, if any.
#[derive(Debug, Clone, Default)]
pub struct RefreshedToken(std::sync::Arc<std::sync::Mutex<Option<UserToken>>>);

impl RefreshedToken {
    pub fn record(&self, token: UserToken) {
        *self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(token);
    }

    pub fn peek(&self) -> Option<UserToken> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// The token to store, handed over once.
    pub fn take(&self) -> Option<UserToken> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take()
    }
}

/// Every way asking a platform can fail. None of them is a panic, and each tells the caller
/// what to do next.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlatformError {
    /// Over the platform's rate limit (ours or theirs): the platform is paused; try again
    /// after this long.
    #[error("{platform} rate limit reached: paused for {}s", retry_after.as_secs())]
    RateLimited { platform: Platform, retry_after: Duration },
    /// The daily budget is spent (YouTube quota): nothing more until it resets.
    #[error("{platform} quota exhausted: paused for {}s", retry_after.as_secs())]
    QuotaExhausted { platform: Platform, retry_after: Duration },
    /// Our credential was refused, even after a token refresh where the platform has one.
    #[error("{platform} refused the credential: {reason}")]
    Unauthorized { platform: Platform, reason: String },
    /// 5xx, timeouts, dropped connections: still failing after the bounded retries.
    #[error("{platform} unavailable after {attempts} attempts: {reason}")]
    Unavailable { platform: Platform, attempts: u32, reason: String },
    /// An answer that does not parse as the API's shape (truncated, wrong type, ...).
    #[error("{platform} answered something unreadable: {reason}")]
    BadResponse { platform: Platform, reason: String },
    /// The adapter cannot run: no base URL or credential configured, or none given.
    #[error("{platform} is not configured: {reason}")]
    NotConfigured { platform: Platform, reason: String },
    /// The start gate forbade the request (the creator's consent ended): nothing was sent.
    #[error("{platform} request not sent: {reason}")]
    Gated { platform: Platform, reason: String },
    /// The platform refused the request itself (a 4xx other than the above).
    #[error("{platform} refused the request ({status}): {reason}")]
    Refused { platform: Platform, status: u16, reason: String },
}

impl PlatformError {
    /// Seconds to wait before asking this platform again, when it said.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            PlatformError::RateLimited { retry_after, .. }
            | PlatformError::QuotaExhausted { retry_after, .. } => Some(*retry_after),
            _ => None,
        }
    }

    /// A short stable name for metrics and stored reasons.
    pub fn kind(&self) -> &'static str {
        match self {
            PlatformError::RateLimited { .. } => "rate_limited",
            PlatformError::QuotaExhausted { .. } => "quota_exhausted",
            PlatformError::Unauthorized { .. } => "unauthorized",
            PlatformError::Unavailable { .. } => "unavailable",
            PlatformError::BadResponse { .. } => "bad_response",
            PlatformError::NotConfigured { .. } => "not_configured",
            PlatformError::Refused { .. } => "refused",
            PlatformError::Gated { .. } => "gated",
        }
    }
}

/// Parses a count the platform may send as a JSON number or a decimal string (YouTube).
pub fn count_from_json(value: &serde_json::Value) -> Option<u64> {
    match value {
        serde_json::Value::Number(n) => n.as_u64(),
        serde_json::Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// Parses a media URL from an API answer; anything but http(s) is dropped.
pub fn media_url(text: &str) -> Option<Url> {
    Url::parse(text).ok().filter(|u| matches!(u.scheme(), "http" | "https"))
}
