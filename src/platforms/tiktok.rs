//! TikTok Display API: `POST /v2/video/query/` with the creator's OAuth token (up to 20
//! ids; only that creator's public videos come back), and `/v2/user/info/` for the handle
//! and bio. An invalid or expired access token is refreshed once with the refresh token
//! (`/v2/oauth/token/`), and the new tokens are handed back for storing.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::{json, Value};

use super::client::{budget, ApiClient, ApiResponse};
use super::observation::{
    count_from_json, media_url, Observation, PlatformError, PostPage, PostState, Profile, UserCredential,
    UserToken,
};
use super::settings::PlatformSettings;
use super::start_gate::StartGate;
use super::{normalise_reported_handle, require_user, PlatformAdapter};
use crate::domain::{Engagement, Platform};
use crate::secret::Secret;

pub const BATCH: usize = 20;
const VIDEO_FIELDS: &str = "id,view_count,like_count,comment_count,share_count,cover_image_url,share_url";
const USER_FIELDS: &str = "open_id,username,bio_description";

pub struct Tiktok {
    client: ApiClient,
    base: String,
    /// The app's client key and secret (its OAuth registration), to refresh and revoke
    /// creators' tokens.
    client_key: Option<Secret>,
    client_secret: Option<Secret>,
    token_url: String,
}

/// An answer, or the token was refused (and may be refreshed).
enum Call<T> {
    Answer(T),
    TokenRefused(String),
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    refresh_token: Option<String>,
    expires_in: Option<i64>,
}

impl Tiktok {
    pub fn new(settings: &PlatformSettings) -> Result<Tiktok, PlatformError> {
        let per_user = budget(settings.tiktok.requests_per_minute, Duration::from_secs(60));
        Ok(Tiktok {
            client: ApiClient::new(Platform::Tiktok, settings, None, Some(per_user))?,
            base: settings.tiktok.base_url.trim_end_matches('/').to_owned(),
            client_key: settings.oauth.tiktok.client_id.clone().map(Secret::new),
            client_secret: settings.oauth.tiktok.client_secret.clone(),
            token_url: settings.oauth.tiktok.token_url.clone(),
        })
    }

    /// TikTok's shape: `{"data": {...}, "error": {"code": "ok" | ..., "message", "log_id"}}`.
    fn read(&self, response: &ApiResponse) -> Result<Call<Value>, PlatformError> {
        let body: Value = self.client.json(response)?;
        let code = body["error"]["code"].as_str().unwrap_or("ok");
        match (response.status, code) {
            (StatusCode::OK, "ok") => Ok(Call::Answer(body["data"].clone())),
            (_, "access_token_invalid" | "access_token_expired") | (StatusCode::UNAUTHORIZED, _) => {
                Ok(Call::TokenRefused(code.to_owned()))
            }
            (_, "scope_not_authorized" | "scope_permission_missed") => {
                Err(PlatformError::Unauthorized { platform: Platform::Tiktok, reason: code.to_owned() })
            }
            (_, "rate_limit_exceeded") => Err(self.client.throttled(&response.headers)),
            _ => Err(self.client.refused(response)),
        }
    }

    async fn query(
        &self,
        gate: &dyn StartGate,
        user: &UserCredential,
        token: &UserToken,
        ids: &[String],
    ) -> Result<Call<Value>, PlatformError> {
        self.post_videos(gate, user, token, "/v2/video/query/", json!({"filters": {"video_ids": ids}})).await
    }

    /// `POST /v2/video/list/`: the token owner's videos, newest first, 20 a page.
    async fn video_list(
        &self,
        gate: &dyn StartGate,
        user: &UserCredential,
        token: &UserToken,
        cursor: Option<i64>,
    ) -> Result<Call<Value>, PlatformError> {
        let body = match cursor {
            Some(cursor) => json!({"max_count": BATCH, "cursor": cursor}),
            None => json!({"max_count": BATCH}),
        };
        self.post_videos(gate, user, token, "/v2/video/list/", body).await
    }

    /// A video endpoint's POST with the creator's token, asking for [`VIDEO_FIELDS`].
    async fn post_videos(
        &self,
        gate: &dyn StartGate,
        user: &UserCredential,
        token: &UserToken,
        path: &str,
        body: Value,
    ) -> Result<Call<Value>, PlatformError> {
        let url = format!("{}{path}", self.base);
        let response = self
            .client
            .send(gate, Some(user.account_id), |http| {
                http.post(&url)
                    .query(&[("fields", VIDEO_FIELDS)])
                    .bearer_auth(token.access_token.expose())
                    .json(&body)
            })
            .await?;
        self.read(&response)
    }

    async fn user_info(
        &self,
        gate: &dyn StartGate,
        user: &UserCredential,
        token: &UserToken,
    ) -> Result<Call<Value>, PlatformError> {
        let url = format!("{}/v2/user/info/", self.base);
        let response = self
            .client
            .send(gate, Some(user.account_id), |http| {
                http.get(&url).query(&[("fields", USER_FIELDS)]).bearer_auth(token.access_token.expose())
            })
            .await?;
        self.read(&response)
    }

    async fn refresh(&self, gate: &dyn StartGate, user: &UserCredential) -> Result<UserToken, PlatformError> {
        let refused =
            |reason: &str| PlatformError::Unauthorized { platform: Platform::Tiktok, reason: reason.into() };
        let (Some(key), Some(secret)) = (&self.client_key, &self.client_secret) else {
            return Err(refused("token refused and no client key configured to refresh it"));
        };
        let refresh_token =
            user.token.refresh_token.as_ref().ok_or_else(|| refused("token refused, no refresh token"))?;
        let url = &self.token_url;
        let form = [
            ("client_key", key.expose()),
            ("client_secret", secret.expose()),
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token.expose()),
        ];
        let response =
            self.client.send(gate, Some(user.account_id), |http| http.post(url).form(&form)).await?;
        let answer: TokenAnswer = match response.status {
            StatusCode::OK => self.client.json(&response).map_err(|_| refused("refresh refused"))?,
            _ => return Err(refused("refresh refused")),
        };
        tracing::info!(account_id = %user.account_id, "tiktok token refreshed");
        let fresh = UserToken {
            access_token: Secret::new(answer.access_token),
            refresh_token: answer.refresh_token.map(Secret::new).or_else(|| user.token.refresh_token.clone()),
            expires_at: answer.expires_in.map(|s| Utc::now() + chrono::Duration::seconds(s)),
        };
        // TikTok has rotated the refresh token: from now on only the new one works, so it is
        // handed back at once, before the call it was fetched for can fail.
        user.refreshed.record(fresh.clone());
        Ok(fresh)
    }

    /// Runs `call` with the creator's newest token, refreshing it once if refused.
    async fn with_token<'a, F, Fut>(
        &'a self,
        gate: &'a dyn StartGate,
        user: &'a UserCredential,
        call: F,
    ) -> Result<Value, PlatformError>
    where
        F: Fn(UserToken) -> Fut,
        Fut: std::future::Future<Output = Result<Call<Value>, PlatformError>>,
    {
        let held = user.current_token();
        if let Call::Answer(value) = call(held.clone()).await? {
            return Ok(value);
        }
        let fresh = self.refresh(gate, &UserCredential { token: held, ..user.clone() }).await?;
        match call(fresh).await? {
            Call::Answer(value) => Ok(value),
            Call::TokenRefused(code) => {
                Err(PlatformError::Unauthorized { platform: Platform::Tiktok, reason: code })
            }
        }
    }
}

#[async_trait]
impl PlatformAdapter for Tiktok {
    fn platform(&self) -> Platform {
        Platform::Tiktok
    }

    fn batch_size(&self) -> usize {
        BATCH
    }

    fn needs_user_token(&self) -> bool {
        true
    }

    fn paused_for(&self) -> Option<Duration> {
        self.client.paused_for()
    }

    async fn observe(
        &self,
        gate: &dyn StartGate,
        post_ids: &[String],
        user: Option<&UserCredential>,
    ) -> Result<Vec<Observation>, PlatformError> {
        let user = require_user(Platform::Tiktok, user)?;
        let mut videos = HashMap::new();
        for chunk in post_ids.chunks(BATCH) {
            let answer = self
                .with_token(gate, user, |token| async move { self.query(gate, user, &token, chunk).await })
                .await?;
            for video in answer["videos"].as_array().into_iter().flatten() {
                if let Some(id) = video["id"].as_str() {
                    videos.insert(id.to_owned(), video.clone());
                }
            }
        }
        // Only the token owner's videos are returned, so the author is the token owner.
        let author = if videos.is_empty() {
            None
        } else {
            let info = self
                .with_token(gate, user, |token| async move { self.user_info(gate, user, &token).await })
                .await?;
            info["user"]["username"].as_str().and_then(|h| normalise_reported_handle(Platform::Tiktok, h))
        };
        let observations = post_ids
            .iter()
            .map(|id| match videos.get(id) {
                // Deleted, private, or not this creator's: TikTok does not say which.
                None => Observation::gone(id, PostState::Removed),
                Some(video) => Observation {
                    post_id: id.clone(),
                    state: PostState::Live,
                    author_handle: author.clone(),
                    views: count_from_json(&video["view_count"]),
                    views_withheld: None,
                    engagement: engagement_of(video),
                    media_urls: video["cover_image_url"].as_str().and_then(media_url).into_iter().collect(),
                },
            })
            .collect();
        Ok(observations)
    }

    /// The token owner's profile (TikTok shows profiles only to their owner's token).
    async fn profile(
        &self,
        gate: &dyn StartGate,
        _handle: &str,
        user: Option<&UserCredential>,
    ) -> Result<Option<Profile>, PlatformError> {
        let user = require_user(Platform::Tiktok, user)?;
        let info = self
            .with_token(gate, user, |token| async move { self.user_info(gate, user, &token).await })
            .await?;
        let profile_of = &info["user"];
        let profile = profile_of["username"]
            .as_str()
            .and_then(|h| normalise_reported_handle(Platform::Tiktok, h))
            .map(|handle| Profile {
                handle,
                bio: profile_of["bio_description"].as_str().unwrap_or_default().to_owned(),
            });
        Ok(profile)
    }

    async fn list_posts(
        &self,
        gate: &dyn StartGate,
        handle: &str,
        user: Option<&UserCredential>,
        page: Option<&str>,
    ) -> Result<PostPage, PlatformError> {
        let user = require_user(Platform::Tiktok, user)?;
        let cursor = page.and_then(|p| p.parse::<i64>().ok());
        let answer = self
            .with_token(gate, user, |token| async move { self.video_list(gate, user, &token, cursor).await })
            .await?;
        // Only the token owner's videos are listed.
        let author = normalise_reported_handle(Platform::Tiktok, handle);
        let posts = answer["videos"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|video| {
                Some(Observation {
                    post_id: video["id"].as_str()?.to_owned(),
                    state: PostState::Live,
                    author_handle: author.clone(),
                    views: count_from_json(&video["view_count"]),
                    views_withheld: None,
                    engagement: engagement_of(video),
                    media_urls: video["cover_image_url"].as_str().and_then(media_url).into_iter().collect(),
                })
            })
            .collect();
        let next = match answer["has_more"].as_bool() {
            Some(true) => answer["cursor"].as_i64().map(|c| c.to_string()),
            _ => None,
        };
        Ok(PostPage { posts, next })
    }

    /// `POST /v2/oauth/revoke/` with the app's credentials: the token (and its refresh token)
    /// stop working at once.
    async fn revoke_token(&self, gate: &dyn StartGate, user: &UserCredential) -> Result<bool, PlatformError> {
        let (Some(key), Some(secret)) = (&self.client_key, &self.client_secret) else {
            return Ok(false);
        };
        let url = format!("{}/v2/oauth/revoke/", self.base);
        let token = user.current_token();
        let form = [
            ("client_key", key.expose()),
            ("client_secret", secret.expose()),
            ("token", token.access_token.expose()),
        ];
        let response =
            self.client.send(gate, Some(user.account_id), |http| http.post(&url).form(&form)).await?;
        // Success is a 200 with an empty body; errors come in the OAuth shape.
        match response.status {
            StatusCode::OK => Ok(true),
            _ => Err(self.client.refused(&response)),
        }
    }
}

/// A video's likes, comments and shares, as TikTok's video object gives them.
fn engagement_of(video: &Value) -> Engagement {
    Engagement {
        likes: count_from_json(&video["like_count"]),
        comments: count_from_json(&video["comment_count"]),
        shares: count_from_json(&video["share_count"]),
    }
}
