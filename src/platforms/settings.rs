//! Where each platform's API lives, our credentials for it, its published budget, and the
//! rules for fetching media. Pointing the base URLs at the real APIs (the defaults) or at the
//! simulated platform is the only difference between production and a test.

use serde::{Deserialize, Serialize};

use crate::secret::Secret;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlatformSettings {
    /// One API request may take this long before it counts as a timeout.
    pub request_timeout_ms: u64,
    /// 5xx answers and timeouts are retried this many times...
    pub max_retries: u32,
    /// ...waiting a random time up to base * 2^attempt (full jitter), at most `backoff_max_ms`.
    pub backoff_base_ms: u64,
    pub backoff_max_ms: u64,
    /// Largest API answer read.
    pub max_response_bytes: usize,
    pub youtube: YoutubeSettings,
    pub tiktok: TiktokSettings,
    pub instagram: InstagramSettings,
    pub x: XSettings,
    pub media: MediaFetchSettings,
    pub oauth: OAuthSettings,
}

/// Linking accounts by OAuth: where the platforms send a creator back, how long an
/// authorization may take, and our app's registration at each platform.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OAuthSettings {
    /// This service's public address; callbacks are `{redirect_base}/v1/social-accounts/oauth/{platform}/callback`,
    /// which must be registered with each platform as is.
    pub redirect_base: String,
    /// How long a started authorization stays open (its `state` is refused after that).
    pub state_ttl_secs: u64,
    pub youtube: OAuthApp,
    pub tiktok: OAuthApp,
    pub instagram: OAuthApp,
    pub x: OAuthApp,
}

/// Our app at one platform's authorization server. TikTok calls the client id its client key.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OAuthApp {
    pub client_id: Option<String>,
    pub client_secret: Option<Secret>,
    /// The page the creator is sent to.
    pub authorize_url: String,
    /// Where an authorization code is exchanged for tokens.
    pub token_url: String,
    /// Where a token is revoked (RFC 7009), where the platform offers that by OAuth (TikTok's
    /// own revocation is its adapter's).
    #[serde(default)]
    pub revoke_url: Option<String>,
}

impl OAuthApp {
    fn at(authorize_url: &str, token_url: &str) -> OAuthApp {
        OAuthApp {
            client_id: None,
            client_secret: None,
            authorize_url: authorize_url.into(),
            token_url: token_url.into(),
            revoke_url: None,
        }
    }

    fn revoking_at(mut self, revoke_url: &str) -> OAuthApp {
        self.revoke_url = Some(revoke_url.into());
        self
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct YoutubeSettings {
    pub base_url: String,
    /// A Data API v3 key.
    pub api_key: Option<Secret>,
    /// Quota units per day (each list call costs one unit).
    pub daily_quota_units: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TiktokSettings {
    pub base_url: String,
    /// Requests per minute per creator token (video query and user info).
    pub requests_per_minute: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InstagramSettings {
    pub base_url: String,
    /// The Graph API version in paths, e.g. `v21.0`.
    pub api_version: String,
    /// Calls per creator token per hour.
    pub requests_per_user_per_hour: u32,
    /// Pages of the creator's media searched for a post's shortcode.
    pub max_media_pages: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct XSettings {
    pub base_url: String,
    /// The app's bearer token.
    pub bearer_token: Option<Secret>,
    /// Tweet lookups per 15-minute window.
    pub requests_per_15_min: u32,
}

/// The media fetcher talks to hosts named in API answers, which an attacker may influence:
/// only these hosts, never an internal address.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MediaFetchSettings {
    /// Allowed hosts per platform: an exact name, or `*.domain` for any subdomain.
    pub youtube_hosts: Vec<String>,
    pub tiktok_hosts: Vec<String>,
    pub instagram_hosts: Vec<String>,
    pub x_hosts: Vec<String>,
    pub max_bytes: usize,
    /// Largest video file fetched (video posts whose media URL gives the file).
    pub video_max_bytes: usize,
    /// The whole fetch, redirects included.
    pub timeout_ms: u64,
    pub max_redirects: u32,
    /// Allow 127.0.0.0/8 and ::1 (the simulated platform); never in production.
    pub allow_loopback: bool,
    /// Allow plain http (the simulated platform); production media is https.
    pub allow_http: bool,
}

fn hosts(list: &[&str]) -> Vec<String> {
    list.iter().map(|h| (*h).to_owned()).collect()
}

impl Default for PlatformSettings {
    fn default() -> Self {
        PlatformSettings {
            request_timeout_ms: 10_000,
            max_retries: 3,
            backoff_base_ms: 250,
            backoff_max_ms: 8_000,
            max_response_bytes: 4 * 1024 * 1024,
            youtube: YoutubeSettings {
                base_url: "https://www.googleapis.com".into(),
                api_key: None,
                daily_quota_units: 10_000,
            },
            tiktok: TiktokSettings {
                base_url: "https://open.tiktokapis.com".into(),
                requests_per_minute: 600,
            },
            instagram: InstagramSettings {
                base_url: "https://graph.instagram.com".into(),
                api_version: "v21.0".into(),
                requests_per_user_per_hour: 200,
                max_media_pages: 10,
            },
            x: XSettings {
                base_url: "https://api.x.com".into(),
                bearer_token: None,
                requests_per_15_min: 300,
            },
            media: MediaFetchSettings {
                youtube_hosts: hosts(&["i.ytimg.com", "i9.ytimg.com", "*.ggpht.com"]),
                tiktok_hosts: hosts(&["*.tiktokcdn.com", "*.tiktokcdn-us.com", "*.ibyteimg.com"]),
                instagram_hosts: hosts(&["*.cdninstagram.com", "*.fbcdn.net"]),
                x_hosts: hosts(&["pbs.twimg.com"]),
                max_bytes: 20 * 1024 * 1024,
                video_max_bytes: 64 * 1024 * 1024,
                timeout_ms: 15_000,
                max_redirects: 3,
                allow_loopback: false,
                allow_http: false,
            },
            oauth: OAuthSettings {
                redirect_base: "http://127.0.0.1:8080".into(),
                state_ttl_secs: 600,
                youtube: OAuthApp::at(
                    "https://accounts.google.com/o/oauth2/v2/auth",
                    "https://oauth2.googleapis.com/token",
                )
                .revoking_at("https://oauth2.googleapis.com/revoke"),
                tiktok: OAuthApp::at(
                    "https://www.tiktok.com/v2/auth/authorize/",
                    "https://open.tiktokapis.com/v2/oauth/token/",
                ),
                instagram: OAuthApp::at(
                    "https://www.instagram.com/oauth/authorize",
                    "https://api.instagram.com/oauth/access_token",
                ),
                x: OAuthApp::at("https://x.com/i/oauth2/authorize", "https://api.x.com/2/oauth2/token")
                    .revoking_at("https://api.x.com/2/oauth2/revoke"),
            },
        }
    }
}

impl PlatformSettings {
    /// Every platform's API at `base` (the simulated platform serves all four on one port),
    /// and media allowed from that host only, over loopback and plain http.
    pub fn pointed_at(mut self, base: &str) -> PlatformSettings {
        let base = base.trim_end_matches('/').to_owned();
        self.youtube.base_url = base.clone();
        self.tiktok.base_url = base.clone();
        self.instagram.base_url = base.clone();
        self.x.base_url = base.clone();
        let host =
            url::Url::parse(&base).ok().and_then(|u| u.host_str().map(str::to_owned)).unwrap_or_default();
        for list in [
            &mut self.media.youtube_hosts,
            &mut self.media.tiktok_hosts,
            &mut self.media.instagram_hosts,
            &mut self.media.x_hosts,
        ] {
            *list = vec![host.clone()];
        }
        for app in
            [&mut self.oauth.youtube, &mut self.oauth.tiktok, &mut self.oauth.instagram, &mut self.oauth.x]
        {
            app.authorize_url = rebased(&app.authorize_url, &base);
            app.token_url = rebased(&app.token_url, &base);
            app.revoke_url = app.revoke_url.as_deref().map(|url| rebased(url, &base));
        }
        self.media.allow_loopback = true;
        self.media.allow_http = true;
        self
    }
}

/// `url`'s path and query on `base`'s host.
fn rebased(url: &str, base: &str) -> String {
    match url::Url::parse(url) {
        Ok(parsed) => format!("{base}{}", &parsed[url::Position::BeforePath..]),
        Err(_) => url.to_owned(),
    }
}
