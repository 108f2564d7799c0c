//! Instagram Graph API with the creator's token: the Graph API knows media by numeric id,
//! not by the shortcode in a post URL, so the creator's media list (`/me/media` with
//! `media_type`, `media_url`, `thumbnail_url`, `permalink`, `username`) is searched for the
//! shortcode, then `/{id}/insights?metric=views` gives the views. `media_url` may be missing
//! (then the thumbnail is used). Long-lived tokens have no refresh token: they are extended
//! (`/refresh_access_token`) while still valid, within a week of expiry; an expired one
//! (error 190) means the creator must link again.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::Value;

use super::client::{budget, ApiClient, ApiResponse};
use super::observation::{
    count_from_json, media_url, Observation, PlatformError, PostPage, PostState, Profile, UserCredential,
    UserToken,
};
use super::settings::PlatformSettings;
use super::start_gate::StartGate;
use super::urls::parse_post_url;
use super::{normalise_reported_handle, require_user, PlatformAdapter};
use crate::domain::{Engagement, Platform};
use crate::secret::Secret;

/// Posts asked about per call (each found one costs an insights request).
pub const BATCH: usize = 25;
const MEDIA_FIELDS: &str =
    "id,media_type,media_url,thumbnail_url,permalink,username,like_count,comments_count,children{media_type,media_url,thumbnail_url}";
/// Graph API error codes for "too many calls" (application, user, page, custom limits).
const RATE_LIMIT_CODES: [i64; 5] = [4, 17, 32, 613, 80002];
const EXTEND_WITHIN: chrono::Duration = chrono::Duration::days(7);

pub struct Instagram {
    client: ApiClient,
    /// The host root (token extension lives here, outside the versioned paths).
    root: String,
    /// The root with the API version.
    base: String,
    max_pages: u32,
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    expires_in: Option<i64>,
}

impl Instagram {
    pub fn new(settings: &PlatformSettings) -> Result<Instagram, PlatformError> {
        let per_user = budget(settings.instagram.requests_per_user_per_hour, Duration::from_secs(3600));
        let root = settings.instagram.base_url.trim_end_matches('/').to_owned();
        let base = format!("{root}/{}", settings.instagram.api_version.trim_matches('/'));
        Ok(Instagram {
            client: ApiClient::new(Platform::Instagram, settings, None, Some(per_user))?,
            root,
            base,
            max_pages: settings.instagram.max_media_pages.max(1),
        })
    }

    async fn get(
        &self,
        gate: &dyn StartGate,
        user: &UserCredential,
        token: &UserToken,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<Value, PlatformError> {
        let url = format!("{}{path}", self.base);
        let response = self
            .client
            .send(gate, Some(user.account_id), |http| {
                http.get(&url).query(query).query(&[("access_token", token.access_token.expose())])
            })
            .await?;
        if response.status == StatusCode::OK {
            return self.client.json(&response);
        }
        Err(self.error(&response))
    }

    /// Graph errors: `{"error": {"message", "type", "code", "error_subcode", "fbtrace_id"}}`.
    fn error(&self, response: &ApiResponse) -> PlatformError {
        let body: Value = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
        let code = body["error"]["code"].as_i64().unwrap_or_default();
        if code == 190 || response.status == StatusCode::UNAUTHORIZED {
            return PlatformError::Unauthorized {
                platform: Platform::Instagram,
                reason: "token expired or revoked: the creator must link the account again".into(),
            };
        }
        if RATE_LIMIT_CODES.contains(&code) {
            return self.client.throttled(&response.headers);
        }
        self.client.refused(response)
    }

    /// The token to use: extended first if it expires within a week (it cannot be once
    /// expired). The extended one is handed back at once, whatever happens next.
    async fn extend_if_due(
        &self,
        gate: &dyn StartGate,
        user: &UserCredential,
    ) -> Result<UserToken, PlatformError> {
        let held = user.current_token();
        let due = held.expires_at.is_some_and(|at| at - Utc::now() < EXTEND_WITHIN);
        if !due {
            return Ok(held);
        }
        let url = format!("{}/refresh_access_token", self.root);
        let query = [("grant_type", "ig_refresh_token"), ("access_token", held.access_token.expose())];
        let response =
            self.client.send(gate, Some(user.account_id), |http| http.get(&url).query(&query)).await?;
        if response.status != StatusCode::OK {
            return Err(self.error(&response));
        }
        let answer: TokenAnswer = self.client.json(&response)?;
        tracing::info!(account_id = %user.account_id, "instagram token extended");
        let extended = UserToken {
            access_token: Secret::new(answer.access_token),
            refresh_token: None,
            expires_at: answer.expires_in.map(|s| Utc::now() + chrono::Duration::seconds(s)),
        };
        user.refreshed.record(extended.clone());
        Ok(extended)
    }

    /// The creator's media by shortcode, searched page by page until all are found.
    async fn find_media(
        &self,
        gate: &dyn StartGate,
        user: &UserCredential,
        token: &UserToken,
        shortcodes: &[String],
    ) -> Result<HashMap<String, Value>, PlatformError> {
        let mut found = HashMap::new();
        let mut after: Option<String> = None;
        for _ in 0..self.max_pages {
            let mut query = vec![("fields", MEDIA_FIELDS), ("limit", "50")];
            if let Some(cursor) = &after {
                query.push(("after", cursor));
            }
            let page = self.get(gate, user, token, "/me/media", &query).await?;
            for item in page["data"].as_array().into_iter().flatten() {
                let shortcode =
                    item["permalink"].as_str().and_then(|p| parse_post_url(p).ok()).map(|p| p.post_id);
                if let Some(code) = shortcode.filter(|c| shortcodes.contains(c)) {
                    found.insert(code, item.clone());
                }
            }
            after = page["paging"]["cursors"]["after"].as_str().map(str::to_owned);
            if found.len() == shortcodes.len() || after.is_none() || page["paging"]["next"].is_null() {
                break;
            }
        }
        Ok(found)
    }

    async fn views(
        &self,
        gate: &dyn StartGate,
        user: &UserCredential,
        token: &UserToken,
        media_id: &str,
    ) -> Result<Option<u64>, PlatformError> {
        let insights =
            self.get(gate, user, token, &format!("/{media_id}/insights"), &[("metric", "views")]).await?;
        let metric = insights["data"].as_array().into_iter().flatten().find(|m| m["name"] == "views");
        Ok(metric.and_then(|m| {
            count_from_json(&m["values"][0]["value"]).or_else(|| count_from_json(&m["total_value"]["value"]))
        }))
    }
}

#[async_trait]
impl PlatformAdapter for Instagram {
    fn platform(&self) -> Platform {
        Platform::Instagram
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
        let user = require_user(Platform::Instagram, user)?;
        let token = &self.extend_if_due(gate, user).await?;
        let media = self.find_media(gate, user, token, post_ids).await?;
        let mut observations = Vec::with_capacity(post_ids.len());
        for id in post_ids {
            let Some(item) = media.get(id) else {
                observations.push(Observation::gone(id, PostState::Removed));
                continue;
            };
            // One media's insights refused (Meta's "(#10) Not enough viewers" on a new post,
            // a media removed since the list was read) gives that post a reason; a throttle,
            // a dead token or an outage stops the batch as any other call does.
            let (views, views_withheld) = match item["id"].as_str() {
                Some(media_id) => match self.views(gate, user, token, media_id).await {
                    Ok(Some(views)) => (Some(views), None),
                    // The documented answer for insights not available yet: an empty data set.
                    Ok(None) => (None, Some("the platform has no views for this post yet".to_owned())),
                    Err(PlatformError::Refused { status, reason, .. }) => (
                        None,
                        Some(format!("the platform withheld this post's views ({status}, code {reason})")),
                    ),
                    Err(other) => return Err(other),
                },
                None => (None, None),
            };
            let urls = media_urls_of(item);
            observations.push(Observation {
                post_id: id.clone(),
                state: PostState::Live,
                author_handle: item["username"]
                    .as_str()
                    .and_then(|h| normalise_reported_handle(Platform::Instagram, h)),
                views,
                views_withheld,
                // The media object has likes and comments; shares are an insight of their own.
                engagement: Engagement {
                    likes: count_from_json(&item["like_count"]),
                    comments: count_from_json(&item["comments_count"]),
                    shares: None,
                },
                media_urls: urls,
            });
        }
        Ok(observations)
    }

    /// `GET /{v}/me/media`, 50 a page (the post id is the permalink's shortcode).
    async fn list_posts(
        &self,
        gate: &dyn StartGate,
        _handle: &str,
        user: Option<&UserCredential>,
        page: Option<&str>,
    ) -> Result<PostPage, PlatformError> {
        let user = require_user(Platform::Instagram, user)?;
        let token = &self.extend_if_due(gate, user).await?;
        let mut query = vec![("fields", MEDIA_FIELDS), ("limit", "50")];
        if let Some(cursor) = page {
            query.push(("after", cursor));
        }
        let answer = self.get(gate, user, token, "/me/media", &query).await?;
        let posts = answer["data"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|item| {
                Some(Observation {
                    post_id: parse_post_url(item["permalink"].as_str()?).ok()?.post_id,
                    state: PostState::Live,
                    author_handle: item["username"]
                        .as_str()
                        .and_then(|h| normalise_reported_handle(Platform::Instagram, h)),
                    views: None,
                    views_withheld: None,
                    engagement: Engagement::default(),
                    media_urls: media_urls_of(item),
                })
            })
            .collect();
        let next = match answer["paging"]["next"].is_null() {
            true => None,
            false => answer["paging"]["cursors"]["after"].as_str().map(str::to_owned),
        };
        Ok(PostPage { posts, next })
    }

    /// The token owner's profile.
    async fn profile(
        &self,
        gate: &dyn StartGate,
        _handle: &str,
        user: Option<&UserCredential>,
    ) -> Result<Option<Profile>, PlatformError> {
        let user = require_user(Platform::Instagram, user)?;
        let token = &self.extend_if_due(gate, user).await?;
        let me = self.get(gate, user, token, "/me", &[("fields", "user_id,username,biography")]).await?;
        let profile = me["username"]
            .as_str()
            .and_then(|h| normalise_reported_handle(Platform::Instagram, h))
            .map(|handle| Profile { handle, bio: me["biography"].as_str().unwrap_or_default().to_owned() });
        Ok(profile)
    }
}

/// A media item's pictures, best first. Videos and reels: the thumbnail (small), then the
/// video file itself (`media_url`, which may be withheld). An album: every slide, in order
/// (a video slide by its thumbnail).
fn media_urls_of(item: &Value) -> Vec<url::Url> {
    let urls: Vec<Option<&str>> = match item["media_type"].as_str() {
        Some("VIDEO") => vec![item["thumbnail_url"].as_str(), item["media_url"].as_str()],
        Some("CAROUSEL_ALBUM") => match item["children"]["data"].as_array() {
            Some(children) => children
                .iter()
                .map(|c| match c["media_type"].as_str() {
                    Some("VIDEO") => c["thumbnail_url"].as_str(),
                    _ => c["media_url"].as_str(),
                })
                .collect(),
            None => vec![item["media_url"].as_str()],
        },
        _ => vec![item["media_url"].as_str().or(item["thumbnail_url"].as_str())],
    };
    urls.into_iter().flatten().filter_map(media_url).collect()
}
