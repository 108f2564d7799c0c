//! The identity provider's key set (JWKS): fetched when first needed, cached by key id, and
//! fetched again when a token names an unknown key id (a rotation), at most once per
//! interval so that forged key ids cannot turn into a flood of fetches.

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
    fetched_at: Option<Instant>,
}

pub struct JwksCache {
    url: String,
    client: reqwest::Client,
    min_refresh: Duration,
    cached: RwLock<Cached>,
    /// One fetch at a time; the others wait and then use its result.
    fetching: Mutex<()>,
}

impl JwksCache {
    pub fn new(url: String, min_refresh: Duration) -> JwksCache {
        let client = reqwest::Client::builder().timeout(FETCH_TIMEOUT).build().unwrap_or_default();
        JwksCache { url, client, min_refresh, cached: RwLock::default(), fetching: Mutex::new(()) }
    }

    /// Keys to try for a token with this key id (or without one).
    pub async fn keys_for(&self, kid: Option<&str>) -> Vec<DecodingKey> {
        if let Some(keys) = self.lookup(kid).await {
            return keys;
        }
        self.refresh().await;
        self.lookup(kid).await.unwrap_or_default()
    }

    async fn lookup(&self, kid: Option<&str>) -> Option<Vec<DecodingKey>> {
        let cached = self.cached.read().await;
        cached.fetched_at?;
        match kid {
            Some(kid) => cached.by_kid.get(kid).map(|k| vec![k.clone()]),
            None => Some(cached.anonymous.iter().chain(cached.by_kid.values()).cloned().collect()),
        }
    }

    async fn refresh(&self) {
        let _one_at_a_time = self.fetching.lock().await;
        let due = self.cached.read().await.fetched_at.is_none_or(|at| at.elapsed() >= self.min_refresh);
        if !due {
            return;
        }
        // Even a failed fetch counts, so an unreachable provider is not hammered.
        let fetched = self.fetch().await;
        let mut cached = self.cached.write().await;
        cached.fetched_at = Some(Instant::now());
        match fetched {
            Ok(set) => {
                let (by_kid, anonymous) = usable_keys(&set);
                tracing::info!(keys = by_kid.len() + anonymous.len(), "identity provider keys fetched");
                cached.by_kid = by_kid;
                cached.anonymous = anonymous;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot fetch the identity provider keys; keeping the cached ones")
            }
        }
    }

    async fn fetch(&self) -> Result<JwkSet, String> {
        let mut response = self.client.get(&self.url).send().await.map_err(|e| e.to_string())?;
        if !response.status().is_success() {
            return Err(format!("status {}", response.status()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| e.to_string())? {
            if body.len() + chunk.len() > MAX_JWKS_BYTES {
                return Err(format!("key set over {MAX_JWKS_BYTES} bytes"));
            }
            body.extend_from_slice(&chunk);
        }
        serde_json::from_slice(&body).map_err(|e| e.to_string())
    }
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
