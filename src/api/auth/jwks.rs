//! The identity provider's key set (JWKS): fetched when first needed, cached by key id, and
//! fetched again when a token names an unknown key id (a rotation), at most once per
//! interval so that forged key ids cannot turn into a flood of fetches.
//!
//! Cached keys expire: after the time-to-live (shortened by the answer's `Cache-Control:
//! max-age`, never below the refresh interval) the set is fetched again before any key is
//! trusted, so a key the provider withdrew stops being accepted within one time-to-live. If
//! that fetch fails, the expired keys stay usable for a bounded grace, so an outage of the
//! provider does not lock every creator out at once; after it nothing is trusted.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::DecodingKey;
use tokio::sync::{Mutex, RwLock};

/// A key set larger than this is refused (a real one is a few kilobytes).
const MAX_JWKS_BYTES: usize = 256 * 1024;
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Default)]
struct Cached {
    by_kid: HashMap<String, DecodingKey>,
    /// Keys published without an id: tried for tokens without one.
    anonymous: Vec<DecodingKey>,
    /// The last fetch, successful or not.
    fetched_at: Option<Instant>,
    /// When the keys held must be fetched again before they are trusted.
    expires_at: Option<Instant>,
}

/// How long fetched keys are trusted.
#[derive(Debug, Clone, Copy)]
pub struct JwksTimes {
    /// Fetches happen at most this often, however many unknown key ids arrive.
    pub min_refresh: Duration,
    /// Keys are fetched again after this long (or the answer's `max-age`, if shorter).
    pub ttl: Duration,
    /// Expired keys stay usable this long while the provider cannot be reached.
    pub max_stale: Duration,
}

pub struct JwksCache {
    url: String,
    client: reqwest::Client,
    times: JwksTimes,
    cached: RwLock<Cached>,
    /// One fetch at a time; the others wait and then use its result.
    fetching: Mutex<()>,
}

impl JwksCache {
    pub fn new(url: String, times: JwksTimes) -> JwksCache {
        let client = reqwest::Client::builder().timeout(FETCH_TIMEOUT).build().unwrap_or_default();
        JwksCache { url, client, times, cached: RwLock::default(), fetching: Mutex::new(()) }
    }

    /// Keys to try for a token with this key id (or without one).
    pub async fn keys_for(&self, kid: Option<&str>) -> Vec<DecodingKey> {
        if let Some(keys) = self.lookup(kid, Duration::ZERO).await {
            return keys;
        }
        self.refresh().await;
        // Expired keys that could not be refreshed serve out their grace.
        self.lookup(kid, self.times.max_stale).await.unwrap_or_default()
    }

    /// The cached keys for `kid`, if the set has been fetched and expired no more than
    /// `stale` ago.
    async fn lookup(&self, kid: Option<&str>, stale: Duration) -> Option<Vec<DecodingKey>> {
        let cached = self.cached.read().await;
        if cached.expires_at.is_none_or(|at| Instant::now() >= at + stale) {
            return None;
        }
        match kid {
            Some(kid) => cached.by_kid.get(kid).map(|k| vec![k.clone()]),
            None => Some(cached.anonymous.iter().chain(cached.by_kid.values()).cloned().collect()),
        }
    }

    async fn refresh(&self) {
        let _one_at_a_time = self.fetching.lock().await;
        let due = self.cached.read().await.fetched_at.is_none_or(|at| at.elapsed() >= self.times.min_refresh);
        if !due {
            return;
        }
        // Even a failed fetch counts, so an unreachable provider is not hammered.
        let fetched = self.fetch().await;
        let mut cached = self.cached.write().await;
        let now = Instant::now();
        cached.fetched_at = Some(now);
        match fetched {
            Ok((set, max_age)) => {
                let (by_kid, anonymous) = usable_keys(&set);
                tracing::info!(keys = by_kid.len() + anonymous.len(), "identity provider keys fetched");
                cached.by_kid = by_kid;
                cached.anonymous = anonymous;
                let ttl = max_age.map_or(self.times.ttl, |age| age.min(self.times.ttl));
                cached.expires_at = Some(now + ttl.max(self.times.min_refresh));
            }
            Err(error) => {
                tracing::warn!(%error, "cannot fetch the identity provider keys; keeping the cached ones")
            }
        }
    }

    /// The key set and how long the answer says it may be cached.
    async fn fetch(&self) -> Result<(JwkSet, Option<Duration>), String> {
        let mut response = self.client.get(&self.url).send().await.map_err(|e| e.to_string())?;
        if !response.status().is_success() {
            return Err(format!("status {}", response.status()));
        }
        let max_age = response
            .headers()
            .get(reqwest::header::CACHE_CONTROL)
            .and_then(|v| v.to_str().ok())
            .and_then(cache_lifetime);
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| e.to_string())? {
            if body.len() + chunk.len() > MAX_JWKS_BYTES {
                return Err(format!("key set over {MAX_JWKS_BYTES} bytes"));
            }
            body.extend_from_slice(&chunk);
        }
        Ok((serde_json::from_slice(&body).map_err(|e| e.to_string())?, max_age))
    }
}

/// How long a `Cache-Control` value allows caching: `max-age`, or nothing for `no-store`
/// and `no-cache`.
fn cache_lifetime(value: &str) -> Option<Duration> {
    value.split(',').map(str::trim).find_map(|directive| {
        let directive = directive.to_ascii_lowercase();
        if directive == "no-store" || directive == "no-cache" {
            return Some(Duration::ZERO);
        }
        directive.strip_prefix("max-age=")?.trim_matches('"').parse().ok().map(Duration::from_secs)
    })
}

/// RSA signing keys from a key set, by id; others (EC, encryption keys) are skipped.
fn usable_keys(set: &JwkSet) -> (HashMap<String, DecodingKey>, Vec<DecodingKey>) {
    let mut by_kid = HashMap::new();
    let mut anonymous = Vec::new();
    for jwk in &set.keys {
        let rsa = matches!(jwk.algorithm, jsonwebtoken::jwk::AlgorithmParameters::RSA(_));
        let signing = !matches!(jwk.common.public_key_use, Some(jsonwebtoken::jwk::PublicKeyUse::Encryption));
        let Ok(key) = DecodingKey::from_jwk(jwk) else { continue };
        if !(rsa && signing) {
            continue;
        }
        match &jwk.common.key_id {
            Some(kid) => {
                by_kid.insert(kid.clone(), key);
            }
            None => anonymous.push(key),
        }
    }
    (by_kid, anonymous)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_control_gives_the_lifetime() {
        assert_eq!(cache_lifetime("public, max-age=300"), Some(Duration::from_secs(300)));
        assert_eq!(cache_lifetime("Max-Age=\"60\", must-revalidate"), Some(Duration::from_secs(60)));
        assert_eq!(cache_lifetime("no-store"), Some(Duration::ZERO));
        assert_eq!(cache_lifetime("public"), None);
        assert_eq!(cache_lifetime("max-age=soon"), None);
    }
}
