//! X API v2: tweet lookup by ids (up to 100) with `public_metrics.impression_count`, the
//! author and the attached media; user lookup by username for the bio. The app's bearer
//! token authenticates. A 429 carries `x-rate-limit-reset` (epoch seconds) and no
//! `Retry-After`; every answer reports what is left of the 15-minute window.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::StatusCode;
use serde_json::Value;

use super::client::{budget, ApiClient};
use super::observation::{
    count_from_json, media_url, Observation, PlatformError, PostPage, PostState, Profile, UserCredential,
};
use super::settings::PlatformSettings;
use super::start_gate::StartGate;
use super::{normalise_reported_handle, PlatformAdapter};
use crate::domain::{Engagement, Platform};
use crate::secret::Secret;

pub const BATCH: usize = 100;
const NOT_FOUND: &str = "https://api.twitter.com/2/problems/resource-not-found";
const NOT_AUTHORIZED: &str = "https://api.twitter.com/2/problems/not-authorized-for-resource";

pub struct X {
    client: ApiClient,
    base: String,
    bearer: Option<Secret>,
}

impl X {
    pub fn new(settings: &PlatformSettings) -> Result<X, PlatformError> {
        let window = budget(settings.x.requests_per_15_min, Duration::from_secs(15 * 60));
        Ok(X {
            client: ApiClient::new(Platform::X, settings, Some(window), None)?,
            base: settings.x.base_url.trim_end_matches('/').to_owned(),
            bearer: settings.x.bearer_token.clone(),
        })
    }

    async fn get(
        &self,
        gate: &dyn StartGate,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<Value, PlatformError> {
        let bearer = self.bearer.as_ref().ok_or_else(|| PlatformError::NotConfigured {
            platform: Platform::X,
            reason: "platforms.x.bearer_token is not set".into(),
        })?;
        self.get_with(gate, None, bearer.expose(), path, query).await
    }

    /// A GET with this bearer token: the app's, or a creator's (`user`, for their budget).
    async fn get_with(
        &self,
        gate: &dyn StartGate,
        user: Option<&UserCredential>,
        bearer: &str,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<Value, PlatformError> {
        let url = format!("{}{path}", self.base);
        let response = self
            .client
            .send(gate, user.map(|u| u.account_id), |http| http.get(&url).query(query).bearer_auth(bearer))
            .await?;
        match response.status {
            StatusCode::OK => self.client.json(&response),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Err(PlatformError::Unauthorized {
                platform: Platform::X,
                reason: format!("status {}", response.status.as_u16()),
            }),
            _ => Err(self.client.refused(&response)),
        }
    }
}

/// Which ids the `errors` array reports missing or protected.
fn problems(body: &Value) -> HashMap<String, PostState> {
    let mut states = HashMap::new();
    for problem in body["errors"].as_array().into_iter().flatten() {
        let state = match problem["type"].as_str() {
            Some(NOT_FOUND) => PostState::Removed,
            Some(NOT_AUTHORIZED) => PostState::Private,
            _ => continue,
        };
        if let Some(id) = problem["resource_id"].as_str().or(problem["value"].as_str()) {
            states.insert(id.to_owned(), state);
        }
    }
    states
}

/// The highest-bitrate MP4 of a video's variants (the most evidence per frame).
fn best_mp4_variant(media: &Value) -> Option<&str> {
    media["variants"]
        .as_array()?
        .iter()
        .filter(|v| v["content_type"].as_str() == Some("video/mp4"))
        .max_by_key(|v| v["bit_rate"].as_u64().unwrap_or(0))
        .and_then(|v| v["url"].as_str())
}

fn tweet_observation(
    tweet: &Value,
    media: &HashMap<&str, &Value>,
    users: &HashMap<&str, &Value>,
) -> Observation {
    let media_urls = tweet["attachments"]["media_keys"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|key| media.get(key.as_str()?))
        .flat_map(|m| {
            // A photo's `url`, or a video's preview image and then its best MP4 variant.
            let picture = m["url"].as_str().or(m["preview_image_url"].as_str());
            [picture, best_mp4_variant(m)]
        })
        .flatten()
        .filter_map(media_url)
        .collect();
    let author = tweet["author_id"].as_str().and_then(|id| users.get(id));
    let metrics = &tweet["public_metrics"];
    Observation {
        post_id: tweet["id"].as_str().unwrap_or_default().to_owned(),
        state: PostState::Live,
        author_handle: author
            .and_then(|u| u["username"].as_str())
            .and_then(|h| normalise_reported_handle(Platform::X, h)),
        views: count_from_json(&metrics["impression_count"]),
        views_withheld: None,
        // A retweet and a quote each pass the post on.
        engagement: Engagement {
            likes: count_from_json(&metrics["like_count"]),
            comments: count_from_json(&metrics["reply_count"]),
            shares: match (
                count_from_json(&metrics["retweet_count"]),
                count_from_json(&metrics["quote_count"]),
            ) {
                (None, None) => None,
                (r, q) => Some(r.unwrap_or(0) + q.unwrap_or(0)),
            },
        },
        media_urls,
    }
}

fn index<'a>(list: &'a Value, key: &str) -> HashMap<&'a str, &'a Value> {
    list.as_array().into_iter().flatten().filter_map(|item| Some((item[key].as_str()?, item))).collect()
}

#[async_trait]
impl PlatformAdapter for X {
    fn platform(&self) -> Platform {
        Platform::X
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
        let mut seen = HashMap::new();
        let mut missing = HashMap::new();
        for chunk in post_ids.chunks(BATCH) {
            let ids = chunk.join(",");
            let body = self
                .get(
                    gate,
                    "/2/tweets",
                    &[
                        ("ids", &ids),
                        ("tweet.fields", "public_metrics,author_id"),
                        ("expansions", "attachments.media_keys,author_id"),
                        ("media.fields", "url,preview_image_url,variants"),
                        ("user.fields", "username"),
                    ],
                )
                .await?;
            let media = index(&body["includes"]["media"], "media_key");
            let users = index(&body["includes"]["users"], "id");
            for tweet in body["data"].as_array().into_iter().flatten() {
                let observation = tweet_observation(tweet, &media, &users);
                seen.insert(observation.post_id.clone(), observation);
            }
            missing.extend(problems(&body));
        }
        let observations = post_ids
            .iter()
            .map(|id| match seen.remove(id) {
                Some(observation) => observation,
                None => Observation::gone(id, missing.get(id).copied().unwrap_or(PostState::Removed)),
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
        let handle = valid_handle(handle)?;
        let path = format!("/2/users/by/username/{handle}");
        let body = self.get(gate, &path, &[("user.fields", "description")]).await?;
        Ok(user_profile(&body))
    }

    /// `GET /2/users/{id}/tweets` (the id from the username), 100 a page.
    async fn list_posts(
        &self,
        gate: &dyn StartGate,
        handle: &str,
        _user: Option<&UserCredential>,
        page: Option<&str>,
    ) -> Result<PostPage, PlatformError> {
        let handle = valid_handle(handle)?;
        let owner = self.get(gate, &format!("/2/users/by/username/{handle}"), &[]).await?;
        // Numeric, so it cannot change the path it is placed in.
        let Some(id) = owner["data"]["id"].as_str().filter(|id| id.bytes().all(|b| b.is_ascii_digit()))
        else {
            return Ok(PostPage::default());
        };
        let mut query = vec![
            ("max_results", "100"),
            ("tweet.fields", "public_metrics,author_id"),
            ("expansions", "attachments.media_keys,author_id"),
            ("media.fields", "url,preview_image_url,variants"),
            ("user.fields", "username"),
        ];
        if let Some(token) = page {
            query.push(("pagination_token", token));
        }
        let body = self.get(gate, &format!("/2/users/{id}/tweets"), &query).await?;
        let media = index(&body["includes"]["media"], "media_key");
        let users = index(&body["includes"]["users"], "id");
        let posts = body["data"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|t| tweet_observation(t, &media, &users))
            .collect();
        Ok(PostPage { posts, next: body["meta"]["next_token"].as_str().map(str::to_owned) })
    }

    /// `GET /2/users/me` with the creator's token.
    async fn token_owner(
        &self,
        gate: &dyn StartGate,
        user: &UserCredential,
    ) -> Result<Option<Profile>, PlatformError> {
        let token = user.current_token();
        let body = self
            .get_with(
                gate,
                Some(user),
                token.access_token.expose(),
                "/2/users/me",
                &[("user.fields", "description")],
            )
            .await?;
        Ok(user_profile(&body))
    }
}

/// A handle checked against X's rules, so it cannot change the path it is placed in.
fn valid_handle(handle: &str) -> Result<String, PlatformError> {
    super::normalise_handle(Platform::X, handle).map_err(|e| PlatformError::Refused {
        platform: Platform::X,
        status: 400,
        reason: e.to_string(),
    })
}

/// `{"data": {"username", "description"}}` as a profile.
fn user_profile(body: &Value) -> Option<Profile> {
    let handle = normalise_reported_handle(Platform::X, body["data"]["username"].as_str()?)?;
    Some(Profile { handle, bio: body["data"]["description"].as_str().unwrap_or_default().to_owned() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_and_protected_tweets_are_told_apart() {
        let body = serde_json::json!({"errors": [
            {"value": "1", "resource_id": "1", "type": NOT_FOUND, "title": "Not Found Error"},
            {"value": "2", "resource_id": "2", "type": NOT_AUTHORIZED, "title": "Authorization Error"},
            {"value": "3", "type": "https://api.twitter.com/2/problems/other"}]});
        let states = problems(&body);
        assert_eq!(states.get("1"), Some(&PostState::Removed));
        assert_eq!(states.get("2"), Some(&PostState::Private));
        assert_eq!(states.get("3"), None);
    }
}
