//! The social platforms: which post a pasted URL names, what a valid handle looks like, and
//! one adapter per platform API behind [`PlatformAdapter`], so the poller never knows which
//! platform it talks to. Media named in API answers are fetched only through
//! [`fetcher::MediaFetcher`]. The simulated
//! platforms the tests and the demo run against are `crate::simulator`, which no adapter uses.

pub mod client;
pub mod fetcher;
pub mod instagram;
pub mod oauth;
pub mod observation;
pub mod outbound;
pub mod quota;
pub mod settings;
pub mod start_gate;
pub mod tiktok;
pub mod urls;
pub mod x;
pub mod youtube;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

pub use observation::{
    Observation, PlatformError, PostPage, PostState, Profile, RefreshedToken, UserCredential, UserToken,
};
pub use outbound::{check_endpoint_url, checked_http_client, EndpointUrlError};
pub use settings::PlatformSettings;

use crate::domain::Platform;

/// One platform's API, normalised.
#[async_trait]
pub trait PlatformAdapter: Send + Sync {
    fn platform(&self) -> Platform;
    /// Most posts the platform answers about in one request.
    fn batch_size(&self) -> usize;
    /// Whether reading needs the creator's own OAuth token (TikTok, Instagram).
    fn needs_user_token(&self) -> bool;
    /// How much longer the platform is paused after a rate-limit or quota answer.
    fn paused_for(&self) -> Option<Duration>;
    /// One observation per id asked, in the same order, every request under `gate`; posts the platform does not return
    /// are `Removed` (or `Private` where it says so).
    async fn observe(
        &self,
        gate: &dyn start_gate::StartGate,
        post_ids: &[String],
        user: Option<&UserCredential>,
    ) -> Result<Vec<Observation>, PlatformError>;
    /// The profile, for the ownership proof in its bio; `None` when there is no such account.
    /// Where only the token owner's profile can be read (TikTok, Instagram), that one is
    /// returned, and the caller compares handles.
    async fn profile(
        &self,
        gate: &dyn start_gate::StartGate,
        handle: &str,
        user: Option<&UserCredential>,
    ) -> Result<Option<Profile>, PlatformError>;
    /// One page of the account's own posts, newest first; `page` is the previous page's
    /// `next`. Every request under `gate`.
    async fn list_posts(
        &self,
        gate: &dyn start_gate::StartGate,
        handle: &str,
        user: Option<&UserCredential>,
        page: Option<&str>,
    ) -> Result<PostPage, PlatformError>;
    /// The profile of the account the creator's token belongs to: an account linked by OAuth
    /// is named by it. `None` when the platform names no such account.
    async fn token_owner(
        &self,
        gate: &dyn start_gate::StartGate,
        user: &UserCredential,
    ) -> Result<Option<Profile>, PlatformError> {
        // Where the profile is read with the creator's token, it is the token owner's.
        self.profile(gate, "", Some(user)).await
    }
    /// Revokes the creator's token at the platform, where it offers a revocation endpoint;
    /// false where it does not.
    async fn revoke_token(
        &self,
        _gate: &dyn start_gate::StartGate,
        _user: &UserCredential,
    ) -> Result<bool, PlatformError> {
        Ok(false)
    }
}

/// The four adapters, built once from settings.
#[derive(Clone)]
pub struct Platforms {
    youtube: Arc<dyn PlatformAdapter>,
    tiktok: Arc<dyn PlatformAdapter>,
    instagram: Arc<dyn PlatformAdapter>,
    x: Arc<dyn PlatformAdapter>,
    oauth: Arc<oauth::OAuthFlows>,
    oauth_state_ttl_secs: u64,
}

impl Platforms {
    pub fn new(settings: &PlatformSettings) -> Result<Platforms, PlatformError> {
        Ok(Platforms {
            oauth: Arc::new(oauth::OAuthFlows::new(settings)?),
            oauth_state_ttl_secs: settings.oauth.state_ttl_secs,
            youtube: Arc::new(youtube::Youtube::new(settings)?),
            tiktok: Arc::new(tiktok::Tiktok::new(settings)?),
            instagram: Arc::new(instagram::Instagram::new(settings)?),
            x: Arc::new(x::X::new(settings)?),
        })
    }

    /// The platforms' authorization servers, for linking accounts by OAuth.
    pub fn oauth(&self) -> &oauth::OAuthFlows {
        &self.oauth
    }

    /// How long a started authorization stays open.
    pub fn oauth_state_ttl_secs(&self) -> u64 {
        self.oauth_state_ttl_secs
    }

    /// Revokes the creator's token at the platform: by OAuth (RFC 7009) where the platform
    /// offers that, else through its adapter; false where it offers no revocation.
    pub async fn revoke_token(
        &self,
        gate: &dyn start_gate::StartGate,
        platform: Platform,
        user: &UserCredential,
    ) -> Result<bool, PlatformError> {
        if self.oauth.revokes(platform) {
            return self.oauth.revoke(gate, platform, &user.current_token()).await;
        }
        self.adapter(platform).revoke_token(gate, user).await
    }

    pub fn adapter(&self, platform: Platform) -> &dyn PlatformAdapter {
        match platform {
            Platform::Youtube => self.youtube.as_ref(),
            Platform::Tiktok => self.tiktok.as_ref(),
            Platform::Instagram => self.instagram.as_ref(),
            Platform::X => self.x.as_ref(),
        }
    }
}

fn require_user(platform: Platform, user: Option<&UserCredential>) -> Result<&UserCredential, PlatformError> {
    user.ok_or_else(|| PlatformError::NotConfigured {
        platform,
        reason: "this platform is read with the creator's token, and none is held".into(),
    })
}

/// A handle as a platform reports it (`@Name`, `Name`), normalised; `None` if it is not a
/// valid handle there.
fn normalise_reported_handle(platform: Platform, reported: &str) -> Option<String> {
    normalise_handle(platform, reported).ok()
}
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a valid {platform} handle: {rule}")]
pub struct HandleError {
    pub platform: &'static str,
    pub rule: &'static str,
}

/// A handle as the platform defines it, normalised: without the leading `@`, lowercased
/// (all four platforms treat handles case-insensitively).
pub fn normalise_handle(platform: Platform, text: &str) -> Result<String, HandleError> {
    let handle = text.trim().strip_prefix('@').unwrap_or(text.trim()).to_ascii_lowercase();
    let (min, max, extra, rule): (usize, usize, &str, &'static str) = match platform {
        Platform::Youtube => (3, 30, "._-", "3-30 letters, digits, '.', '_' or '-'"),
        Platform::Tiktok => (2, 24, "._", "2-24 letters, digits, '.' or '_'"),
        Platform::Instagram => (1, 30, "._", "1-30 letters, digits, '.' or '_'"),
        Platform::X => (1, 15, "_", "1-15 letters, digits or '_'"),
    };
    let valid_chars = handle.chars().all(|c| c.is_ascii_alphanumeric() || extra.contains(c));
    if !valid_chars || !(min..=max).contains(&handle.len()) {
        return Err(HandleError { platform: platform.as_str(), rule });
    }
    Ok(handle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_are_normalised_and_checked_per_platform() {
        assert_eq!(normalise_handle(Platform::X, " @Jack_01 ").unwrap(), "jack_01");
        assert_eq!(normalise_handle(Platform::Tiktok, "@some.creator").unwrap(), "some.creator");
        assert_eq!(normalise_handle(Platform::Youtube, "@My-Channel").unwrap(), "my-channel");
        assert!(normalise_handle(Platform::X, "much_too_long_handle").is_err());
        assert!(normalise_handle(Platform::X, "dots.not.allowed").is_err());
        assert!(normalise_handle(Platform::Instagram, "").is_err());
        assert!(normalise_handle(Platform::Instagram, "a/b").is_err());
        assert!(normalise_handle(Platform::Tiktok, "https://tiktok.com/@x").is_err());
        assert!(normalise_handle(Platform::Youtube, "ab").is_err());
    }
}
