//! YouTube Data API v3: `videos.list` (statistics and snippet, up to 50 ids per call, counts
//! as strings) and `channels.list` for the author's handle and the channel description.
//! Each call costs one quota unit; `quotaExceeded` pauses YouTube until the daily reset.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::Value;

use super::client::{budget, retry_hint, ApiClient, ApiResponse};
use super::observation::{
    count_from_json, media_url, Observation, PlatformError, PostPage, PostState, Profile, UserCredential,
};
use super::settings::PlatformSettings;
use super::start_gate::StartGate;
use super::{normalise_reported_handle, PlatformAdapter};
use crate::domain::{Engagement, Platform};
use crate::secret::Secret;

pub const BATCH: usize = 50;
const THUMBNAIL_PREFERENCE: [&str; 5] = ["maxres", "standard", "high", "medium", "default"];

pub struct Youtube {
    client: ApiClient,
    base: String,
    api_key: Option<Secret>,
}

#[derive(Deserialize)]
struct ListResponse {
    #[serde(default)]
    items: Vec<Value>,
    #[serde(rename = "nextPageToken")]
    next_page_token: Option<String>,
}

impl Youtube {
    pub fn new(settings: &PlatformSettings) -> Result<Youtube, PlatformError> {
        let quota = budget(settings.youtube.daily_quota_units, Duration::from_secs(24 * 3600));
        Ok(Youtube {
            client: ApiClient::new(Platform::Youtube, settings, Some(quota), None)?,
            base: settings.youtube.base_url.trim_end_matches('/').to_owned(),
            api_key: settings.youtube.api_key.clone(),
        })
    }

    /// A list call with the app's API key.
    async fn list(
        &self,
        gate: &dyn StartGate,
        resource: &str,
        query: &[(&str, &str)],
    ) -> Result<Vec<Value>, PlatformError> {
        Ok(self.list_page(gate, resource, query).await?.items)
    }

    /// A list call with the app's API key, with its next page's token.
    async fn list_page(
        &self,
        gate: &dyn StartGate,
        resource: &str,
        query: &[(&str, &str)],
    ) -> Result<ListResponse, PlatformError> {
        let key = self.api_key.as_ref().ok_or_else(|| PlatformError::NotConfigured {
            platform: Platform::Youtube,
            reason: "platforms.youtube.api_key is not set".into(),
        })?;
        let url = format!("{}/youtube/v3/{resource}", self.base);
        let response = self
            .client
            .send(gate, None, |http| http.get(&url).query(query).query(&[("key", key.expose())]))
            .await?;
        self.answer(&response)
    }

    /// A list call as the creator (`mine=true`), with their OAuth token.
    async fn list_as(
        &self,
        gate: &dyn StartGate,
        user: &UserCredential,
        resource: &str,
        query: &[(&str, &str)],
    ) -> Result<Vec<Value>, PlatformError> {
        let url = format!("{}/youtube/v3/{resource}", self.base);
        let token = user.current_token();
        let response = self
            .client
            .send(gate, Some(user.account_id), |http| {
                http.get(&url).query(query).bearer_auth(token.access_token.expose())
            })
            .await?;
        Ok(self.answer(&response)?.items)
    }

    fn answer(&self, response: &ApiResponse) -> Result<ListResponse, PlatformError> {
        if response.status != StatusCode::OK {
            return Err(self.error(response));
        }
        self.client.json::<ListResponse>(response)
    }

    /// Google's error shape: `{"error": {"code", "message", "errors": [{"reason", ...}]}}`.
    fn error(&self, response: &ApiResponse) -> PlatformError {
        let body: Value = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
        // Reasons appear in `errors` and, for key problems, in `details` (API_KEY_INVALID).
        let reasons: Vec<&str> = ["errors", "details"]
            .iter()
            .filter_map(|list| body["error"][list].as_array())
            .flatten()
            .filter_map(|e| e["reason"].as_str())
            .collect();
        let has = |r: &str| reasons.contains(&r);
        if has("quotaExceeded") || has("dailyLimitExceeded") {
            let retry_after = until_quota_reset(chrono::Utc::now());
            self.client.pause(retry_after);
            return PlatformError::QuotaExhausted { platform: Platform::Youtube, retry_after };
        }
        // Google counts these limits per minute: a minute ends the throttle unless the answer
        // names a wait.
        if has("rateLimitExceeded") || has("userRateLimitExceeded") {
            return self
                .client
                .rate_limited(retry_hint(&response.headers).unwrap_or(Duration::from_secs(60)));
        }
        if has("keyInvalid")
            || has("API_KEY_INVALID")
            || has("keyExpired")
            || response.status == StatusCode::UNAUTHORIZED
        {
            return PlatformError::Unauthorized { platform: Platform::Youtube, reason: reasons.join(",") };
        }
        self.client.refused(response)
    }

    /// Handles and descriptions of the channels, by channel id.
    async fn channels(
        &self,
        gate: &dyn StartGate,
        ids: &[String],
    ) -> Result<HashMap<String, Value>, PlatformError> {
        let mut found = HashMap::new();
        for chunk in ids.chunks(BATCH) {
            let joined = chunk.join(",");
            for item in self.list(gate, "channels", &[("part", "snippet"), ("id", &joined)]).await? {
                if let Some(id) = item["id"].as_str() {
                    found.insert(id.to_owned(), item["snippet"].clone());
                }
            }
        }
        Ok(found)
    }
}

/// YouTube quotas reset at midnight Pacific time; 08:00 UTC is that midnight in winter and
/// an hour after it in summer, so waiting for it is never too early.
fn until_quota_reset(now: chrono::DateTime<chrono::Utc>) -> Duration {
    let today = now.date_naive().and_hms_opt(8, 0, 0).map(|t| t.and_utc());
    let next = match today {
        Some(reset) if reset > now => reset,
        Some(reset) => reset + chrono::Duration::days(1),
        None => now + chrono::Duration::hours(24),
    };
    (next - now).to_std().unwrap_or(Duration::from_secs(3600))
}

fn best_thumbnail(snippet: &Value) -> Vec<url::Url> {
    THUMBNAIL_PREFERENCE
        .iter()
        .filter_map(|size| snippet["thumbnails"][size]["url"].as_str().and_then(media_url))
        .take(1)
        .collect()
}

#[async_trait]
impl PlatformAdapter for Youtube {
    fn platform(&self) -> Platform {
        Platform::Youtube
    }

    fn batch_size(&self) -> usize {
        BATCH
    }

    fn needs_user_token(&self) -> bool {
        false
    }

    fn paused_for(&self) -> Option<Duration> {
        self.client.paused_for()
    }

    async fn observe(
        &self,
        gate: &dyn StartGate,
        post_ids: &[String],
        _user: Option<&UserCredential>,
    ) -> Result<Vec<Observation>, PlatformError> {
        let mut videos = HashMap::new();
        for chunk in post_ids.chunks(BATCH) {
            let joined = chunk.join(",");
            for item in self.list(gate, "videos", &[("part", "statistics,snippet"), ("id", &joined)]).await? {
                if let Some(id) = item["id"].as_str() {
                    videos.insert(id.to_owned(), item.clone());
                }
            }
        }
        let mut channel_ids: Vec<String> =
            videos.values().filter_map(|v| v["snippet"]["channelId"].as_str().map(str::to_owned)).collect();
        channel_ids.sort();
        channel_ids.dedup();
        let channels =
            if channel_ids.is_empty() { HashMap::new() } else { self.channels(gate, &channel_ids).await? };
        let observations = post_ids
            .iter()
            .map(|id| match videos.get(id) {
                // Deleted and private videos are both simply absent from the answer.
                None => Observation::gone(id, PostState::Removed),
                Some(video) => {
                    let channel = video["snippet"]["channelId"].as_str().and_then(|c| channels.get(c));
                    Observation {
                        post_id: id.clone(),
                        state: PostState::Live,
                        author_handle: channel
                            .and_then(|c| c["customUrl"].as_str())
                            .and_then(|h| normalise_reported_handle(Platform::Youtube, h)),
                        views: count_from_json(&video["statistics"]["viewCount"]),
                        views_withheld: None,
                        // YouTube gives no share count.
                        engagement: Engagement {
                            likes: count_from_json(&video["statistics"]["likeCount"]),
                            comments: count_from_json(&video["statistics"]["commentCount"]),
                            shares: None,
                        },
                        media_urls: best_thumbnail(&video["snippet"]),
                    }
                }
            })
            .collect();
        Ok(observations)
    }

    async fn profile(
        &self,
        gate: &dyn StartGate,
        handle: &str,
        _user: Option<&UserCredential>,
    ) -> Result<Option<Profile>, PlatformError> {
        let at_handle = format!("@{handle}");
        let items = self.list(gate, "channels", &[("part", "snippet"), ("forHandle", &at_handle)]).await?;
        Ok(items.first().and_then(channel_profile))
    }

    /// The channel's uploads playlist (`channels.list?part=contentDetails&forHandle=`), then
    /// `playlistItems.list`, 50 a page.
    async fn list_posts(
        &self,
        gate: &dyn StartGate,
        handle: &str,
        _user: Option<&UserCredential>,
        page: Option<&str>,
    ) -> Result<PostPage, PlatformError> {
        let at_handle = format!("@{handle}");
        let channels =
            self.list(gate, "channels", &[("part", "contentDetails"), ("forHandle", &at_handle)]).await?;
        let Some(uploads) =
            channels.first().and_then(|c| c["contentDetails"]["relatedPlaylists"]["uploads"].as_str())
        else {
            return Ok(PostPage::default());
        };
        let mut query = vec![("part", "snippet"), ("playlistId", uploads), ("maxResults", "50")];
        if let Some(token) = page {
            query.push(("pageToken", token));
        }
        let answer = self.list_page(gate, "playlistItems", &query).await?;
        let author = normalise_reported_handle(Platform::Youtube, handle);
        let posts = answer
            .items
            .iter()
            .filter_map(|item| {
                let snippet = &item["snippet"];
                Some(Observation {
                    post_id: snippet["resourceId"]["videoId"].as_str()?.to_owned(),
                    state: PostState::Live,
                    author_handle: author.clone(),
                    views: None,
                    views_withheld: None,
                    engagement: Engagement::default(),
                    media_urls: best_thumbnail(snippet),
                })
            })
            .collect();
        Ok(PostPage { posts, next: answer.next_page_token })
    }

    /// `channels.list?mine=true`: the channel of the token's owner.
    async fn token_owner(
        &self,
        gate: &dyn StartGate,
        user: &UserCredential,
    ) -> Result<Option<Profile>, PlatformError> {
        let items = self.list_as(gate, user, "channels", &[("part", "snippet"), ("mine", "true")]).await?;
        Ok(items.first().and_then(channel_profile))
    }
}

/// A channel's handle (`snippet.customUrl`) and description.
fn channel_profile(item: &Value) -> Option<Profile> {
    let snippet = &item["snippet"];
    Some(Profile {
        handle: normalise_reported_handle(Platform::Youtube, snippet["customUrl"].as_str()?)?,
        bio: snippet["description"].as_str().unwrap_or_default().to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn quota_pauses_until_the_next_pacific_midnight() {
        let before = chrono::Utc.with_ymd_and_hms(2026, 3, 1, 7, 0, 0).unwrap();
        assert_eq!(until_quota_reset(before), Duration::from_secs(3600));
        let after = chrono::Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap();
        assert_eq!(until_quota_reset(after), Duration::from_secs(23 * 3600));
    }

    #[test]
    fn the_largest_thumbnail_is_taken() {
        let snippet = serde_json::json!({"thumbnails": {
            "default": {"url": "https://i.ytimg.com/vi/x/default.jpg"},
            "high": {"url": "https://i.ytimg.com/vi/x/hqdefault.jpg"}}});
        assert_eq!(best_thumbnail(&snippet)[0].as_str(), "https://i.ytimg.com/vi/x/hqdefault.jpg");
        assert!(best_thumbnail(&serde_json::json!({})).is_empty());
    }
}
