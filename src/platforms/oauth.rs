//! Linking an account by OAuth: the authorization code grant with PKCE (S256) at each
//! platform's authorization server, through the `oauth2` crate. [`OAuthFlows::authorize`]
//! names the page the creator is sent to; [`OAuthFlows::exchange`] trades the code the
//! platform sends back for the creator's tokens. Who the tokens belong to is then read with
//! the tokens themselves ([`super::PlatformAdapter::token_owner`]).
//!
//! The platforms' differences: TikTok names the client `client_key` and separates scopes
//! with commas; Instagram answers the code with a short-lived token and no `token_type`, which
//! is then exchanged for a long-lived one (`ig_exchange_token`); Google gives a refresh token
//! only when asked for offline access; X wants the client's credentials in Basic auth.

use std::time::Duration;

use chrono::Utc;
use oauth2::basic::{BasicErrorResponse, BasicTokenType};
use oauth2::{
    AccessToken, AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet,
    EndpointSet, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RefreshToken, RequestTokenError, Scope,
    StandardTokenResponse, TokenResponse, TokenUrl,
};
use serde::{Deserialize, Serialize};
use url::Url;

use super::observation::{PlatformError, UserToken};
use super::settings::{OAuthApp, PlatformSettings};
use super::start_gate::StartGate;
use crate::domain::Platform;
use crate::secret::Secret;

/// The page to send the creator to, and what must be kept to finish: the `state` the
/// platform echoes back and the PKCE verifier that proves the code is ours.
pub struct Authorization {
    pub url: Url,
    pub state: Secret,
    pub pkce_verifier: Secret,
}

/// Every platform's authorization server, as configured.
pub struct OAuthFlows {
    http: reqwest::Client,
    redirect_base: String,
    youtube: OAuthApp,
    tiktok: OAuthApp,
    instagram: OAuthApp,
    x: OAuthApp,
    /// Where Instagram's long-lived tokens are obtained (the Graph API's root).
    instagram_graph: String,
}

type Client<TR> = oauth2::Client<
    BasicErrorResponse,
    TR,
    oauth2::basic::BasicTokenIntrospectionResponse,
    oauth2::StandardRevocableToken,
    oauth2::basic::BasicRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

type StandardToken = StandardTokenResponse<oauth2::EmptyExtraTokenFields, BasicTokenType>;

/// Instagram's answer to a code: `{"access_token", "user_id"}`, without a token type.
#[derive(Debug, Deserialize, Serialize)]
struct InstagramShortToken {
    access_token: AccessToken,
    #[serde(default = "bearer")]
    token_type: BasicTokenType,
}

fn bearer() -> BasicTokenType {
    BasicTokenType::Bearer
}

impl TokenResponse for InstagramShortToken {
    type TokenType = BasicTokenType;
    fn access_token(&self) -> &AccessToken {
        &self.access_token
    }
    fn token_type(&self) -> &BasicTokenType {
        &self.token_type
    }
    fn expires_in(&self) -> Option<Duration> {
        None
    }
    fn refresh_token(&self) -> Option<&RefreshToken> {
        None
    }
    fn scopes(&self) -> Option<&Vec<Scope>> {
        None
    }
}

/// Instagram's long-lived token: `{"access_token", "token_type", "expires_in"}`.
#[derive(Deserialize)]
struct InstagramLongToken {
    access_token: String,
    expires_in: Option<i64>,
}

/// What the token request may fail with, besides the platform's own refusal.
#[derive(Debug, thiserror::Error)]
enum ExchangeHttpError {
    #[error("request not sent: {0}")]
    Gated(String),
    #[error("{0}")]
    Http(#[from] oauth2::HttpClientError<reqwest::Error>),
    #[error("the token endpoint answered {0}")]
    ServerError(u16),
}

/// The scopes each platform is asked for: enough to name the account and read its posts
/// and their views. TikTok's `user.info.profile` gives the username, which names the account.
fn scopes(platform: Platform) -> Vec<Scope> {
    let names: &[&str] = match platform {
        Platform::Tiktok => &["user.info.basic,user.info.profile,video.list"],
        Platform::Instagram => &["instagram_business_basic,instagram_business_manage_insights"],
        Platform::Youtube => &["https://www.googleapis.com/auth/youtube.readonly"],
        Platform::X => &["users.read", "tweet.read", "offline.access"],
    };
    names.iter().map(|s| Scope::new((*s).to_owned())).collect()
}

impl OAuthFlows {
    pub fn new(settings: &PlatformSettings) -> Result<OAuthFlows, PlatformError> {
        // No redirects: a token endpoint that redirects is refused, never followed.
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(settings.request_timeout_ms))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("viewmark/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| PlatformError::NotConfigured { platform: Platform::X, reason: e.to_string() })?;
        Ok(OAuthFlows {
            http,
            redirect_base: settings.oauth.redirect_base.trim_end_matches('/').to_owned(),
            youtube: settings.oauth.youtube.clone(),
            tiktok: settings.oauth.tiktok.clone(),
            instagram: settings.oauth.instagram.clone(),
            x: settings.oauth.x.clone(),
            instagram_graph: settings.instagram.base_url.trim_end_matches('/').to_owned(),
        })
    }

    fn app(&self, platform: Platform) -> &OAuthApp {
        match platform {
            Platform::Youtube => &self.youtube,
            Platform::Tiktok => &self.tiktok,
            Platform::Instagram => &self.instagram,
            Platform::X => &self.x,
        }
    }

    /// Where the platform sends the creator back.
    pub fn redirect_uri(&self, platform: Platform) -> String {
        format!("{}/v1/social-accounts/oauth/{}/callback", self.redirect_base, platform.as_str())
    }

    fn client<TR: TokenResponse>(&self, platform: Platform) -> Result<Client<TR>, PlatformError> {
        let app = self.app(platform);
        let unconfigured = |reason: String| PlatformError::NotConfigured { platform, reason };
        let client_id = app.client_id.clone().ok_or_else(|| {
            unconfigured(format!("platforms.oauth.{}.client_id is not set", platform.as_str()))
        })?;
        let secret = app.client_secret.as_ref().ok_or_else(|| {
            unconfigured(format!("platforms.oauth.{}.client_secret is not set", platform.as_str()))
        })?;
        let auth_url = AuthUrl::new(app.authorize_url.clone()).map_err(|e| unconfigured(e.to_string()))?;
        let token_url = TokenUrl::new(app.token_url.clone()).map_err(|e| unconfigured(e.to_string()))?;
        let redirect =
            RedirectUrl::new(self.redirect_uri(platform)).map_err(|e| unconfigured(e.to_string()))?;
        let auth_type = match platform {
            Platform::X => AuthType::BasicAuth,
            _ => AuthType::RequestBody,
        };
        Ok(oauth2::Client::new(ClientId::new(client_id))
            .set_client_secret(ClientSecret::new(secret.expose().to_owned()))
            .set_auth_uri(auth_url)
            .set_token_uri(token_url)
            .set_redirect_uri(redirect)
            .set_auth_type(auth_type))
    }

    /// A new authorization: a random `state` and PKCE pair, and the page that asks the
    /// creator to grant our scopes. `NotConfigured` when our app has no client at the platform.
    pub fn authorize(&self, platform: Platform) -> Result<Authorization, PlatformError> {
        let client = self.client::<StandardToken>(platform)?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = client.authorize_url(CsrfToken::new_random).add_scopes(scopes(platform));
        request = request.set_pkce_challenge(challenge);
        request = match platform {
            Platform::Tiktok => request.add_extra_param("client_key", self.client_key(platform)),
            Platform::Youtube => {
                request.add_extra_param("access_type", "offline").add_extra_param("prompt", "consent")
            }
            _ => request,
        };
        let (url, state) = request.url();
        Ok(Authorization {
            url,
            state: Secret::new(state.secret().clone()),
            pkce_verifier: Secret::new(verifier.secret().clone()),
        })
    }

    fn client_key(&self, platform: Platform) -> String {
        self.app(platform).client_id.clone().unwrap_or_default()
    }

    /// Trades the authorization code for the creator's tokens (a long-lived one on
    /// Instagram), every request under `gate`. A refused code is `Refused`.
    pub async fn exchange(
        &self,
        gate: &dyn StartGate,
        platform: Platform,
        code: &str,
        pkce_verifier: &Secret,
    ) -> Result<UserToken, PlatformError> {
        let http = &self.http;
        let send = |request: oauth2::HttpRequest| async move {
            let _permit = gate.permit().await.map_err(ExchangeHttpError::Gated)?;
            let response = oauth2::AsyncHttpClient::call(http, request).await?;
            // A failing server is not a refusal of the code: it is told apart before parsing.
            if response.status().is_server_error() {
                return Err(ExchangeHttpError::ServerError(response.status().as_u16()));
            }
            Ok(response)
        };
        let code = AuthorizationCode::new(code.to_owned());
        let verifier = PkceCodeVerifier::new(pkce_verifier.expose().to_owned());
        if platform == Platform::Instagram {
            let short = self
                .client::<InstagramShortToken>(platform)?
                .exchange_code(code)
                .set_pkce_verifier(verifier)
                .request_async(&send)
                .await
                .map_err(|e| exchange_error(platform, e))?;
            return self.instagram_long_lived(gate, short.access_token.secret()).await;
        }
        let client = self.client::<StandardToken>(platform)?;
        let mut request = client.exchange_code(code).set_pkce_verifier(verifier);
        if platform == Platform::Tiktok {
            request = request.add_extra_param("client_key", self.client_key(platform));
        }
        let answer = request.request_async(&send).await.map_err(|e| exchange_error(platform, e))?;
        Ok(UserToken {
            access_token: Secret::new(answer.access_token().secret().clone()),
            refresh_token: answer.refresh_token().map(|t| Secret::new(t.secret().clone())),
            expires_at: answer
                .expires_in()
                .and_then(|d| chrono::Duration::from_std(d).ok())
                .map(|d| Utc::now() + d),
        })
    }

    /// Whether the platform's tokens are revoked here (RFC 7009) rather than by its adapter.
    pub fn revokes(&self, platform: Platform) -> bool {
        self.app(platform).revoke_url.is_some()
    }

    /// Revokes the creator's tokens at the platform's revocation endpoint (RFC 7009): the
    /// refresh token where one is held (its access tokens go with it, §2.1), else the access
    /// token; false where the platform has none configured. Sent here rather than through the
    /// `oauth2` crate, which refuses a revocation endpoint that is not https (the simulated
    /// platforms are plain http on loopback).
    pub async fn revoke(
        &self,
        gate: &dyn StartGate,
        platform: Platform,
        token: &UserToken,
    ) -> Result<bool, PlatformError> {
        let app = self.app(platform);
        let Some(revoke_url) = &app.revoke_url else { return Ok(false) };
        let (kind, value) = match &token.refresh_token {
            Some(refresh) => ("refresh_token", refresh.expose()),
            None => ("access_token", token.access_token.expose()),
        };
        let form = [("token", value), ("token_type_hint", kind)];
        let mut request = self.http.post(revoke_url).form(&form);
        // X authenticates its confidential clients; Google asks for no client authentication.
        if platform == Platform::X {
            let client_id = app.client_id.as_deref().unwrap_or_default();
            request = request.basic_auth(client_id, app.client_secret.as_ref().map(|s| s.expose()));
        }
        let _permit = gate.permit().await.map_err(|reason| PlatformError::Gated { platform, reason })?;
        let response = request.send().await.map_err(|e| PlatformError::Unavailable {
            platform,
            attempts: 1,
            reason: e.without_url().to_string(),
        })?;
        match response.status() {
            status if status.is_success() => Ok(true),
            status if status.is_server_error() => Err(PlatformError::Unavailable {
                platform,
                attempts: 1,
                reason: format!("revocation answered {status}"),
            }),
            status => Err(PlatformError::Refused {
                platform,
                status: status.as_u16(),
                reason: "revocation refused".into(),
            }),
        }
    }

    /// `GET /access_token?grant_type=ig_exchange_token`: the hour-long token for one that
    /// lasts 60 days (and is extended as today's are).
    async fn instagram_long_lived(
        &self,
        gate: &dyn StartGate,
        short: &str,
    ) -> Result<UserToken, PlatformError> {
        let platform = Platform::Instagram;
        let secret = self.instagram.client_secret.as_ref().ok_or_else(|| PlatformError::NotConfigured {
            platform,
            reason: "platforms.oauth.instagram.client_secret is not set".into(),
        })?;
        let _permit = gate.permit().await.map_err(|reason| PlatformError::Gated { platform, reason })?;
        let query = [
            ("grant_type", "ig_exchange_token"),
            ("client_secret", secret.expose()),
            ("access_token", short),
        ];
        let unavailable = |reason: String| PlatformError::Unavailable { platform, attempts: 1, reason };
        let response = self
            .http
            .get(format!("{}/access_token", self.instagram_graph))
            .query(&query)
            .send()
            .await
            .map_err(|e| unavailable(e.without_url().to_string()))?;
        let status = response.status();
        if !status.is_success() {
            return Err(PlatformError::Refused {
                platform,
                status: status.as_u16(),
                reason: "long-lived token refused".into(),
            });
        }
        let long: InstagramLongToken = response
            .json()
            .await
            .map_err(|e| PlatformError::BadResponse { platform, reason: e.without_url().to_string() })?;
        Ok(UserToken {
            access_token: Secret::new(long.access_token),
            refresh_token: None,
            expires_at: long.expires_in.map(|s| Utc::now() + chrono::Duration::seconds(s)),
        })
    }
}

/// The platform refused the code (or answered nothing readable), or could not be asked.
fn exchange_error<RE: oauth2::ErrorResponse + 'static>(
    platform: Platform,
    error: RequestTokenError<ExchangeHttpError, RE>,
) -> PlatformError {
    match error {
        RequestTokenError::ServerResponse(_) | RequestTokenError::Parse(..) => PlatformError::Refused {
            platform,
            status: 400,
            reason: "the platform refused the authorization code".into(),
        },
        RequestTokenError::Request(ExchangeHttpError::Gated(reason)) => {
            PlatformError::Gated { platform, reason }
        }
        RequestTokenError::Request(ExchangeHttpError::Http(_) | ExchangeHttpError::ServerError(_))
        | RequestTokenError::Other(_) => PlatformError::Unavailable {
            platform,
            attempts: 1,
            reason: "the token endpoint cannot be reached".into(),
        },
    }
}
