//! Creators' session tokens: RS256 JWTs from the identity provider, checked against its
//! public keys. The algorithm is fixed here, never taken from the token's header.

use std::path::Path;

use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use super::jwks::JwksCache;

/// What a verified creator token says about its holder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatorIdentity {
    /// The identity provider's user id (`sub`).
    pub user_id: String,
    /// Birth year, when the identity provider shares it.
    pub birth_year: Option<i32>,
}

#[derive(Debug, Deserialize)]
struct Claims {
    sub: String,
    azp: Option<String>,
    birth_year: Option<i32>,
}

#[derive(Debug, thiserror::Error)]
pub enum VerifierError {
    #[error("cannot read the identity provider key file {path}: {source}")]
    KeyFile { path: String, source: std::io::Error },
    #[error("an identity provider key is not an RSA public key in PEM form: {0}")]
    BadKey(jsonwebtoken::errors::Error),
}

/// Checks creator tokens. With no issuer, audience or key source configured it refuses
/// them all.
pub struct CreatorVerifier {
    keys: Vec<DecodingKey>,
    jwks: Option<JwksCache>,
    validation: Option<Validation>,
    allowed_origins: Vec<String>,
}

impl CreatorVerifier {
    pub fn from_settings(settings: &AuthSettings) -> Result<CreatorVerifier, VerifierError> {
        // One backend is compiled in; installing it is idempotent (Err: already installed).
        let _ = jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER.install_default();
        let mut pems: Vec<String> = settings.public_keys_pem.clone();
        for path in &settings.public_key_files {
            pems.push(read_key_file(path)?);
        }
        let keys = pems
            .iter()
            .map(|pem| DecodingKey::from_rsa_pem(pem.as_bytes()).map_err(VerifierError::BadKey))
            .collect::<Result<Vec<_>, _>>()?;
        let jwks = settings.jwks_url.as_ref().map(|url| {
            use std::time::Duration;
            let times = super::jwks::JwksTimes {
                min_refresh: Duration::from_secs(settings.jwks_min_refresh_secs),
                ttl: Duration::from_secs(settings.jwks_ttl_secs),
                max_stale: Duration::from_secs(settings.jwks_max_stale_secs),
            };
            JwksCache::new(url.clone(), times)
        });
        let validation = match (&settings.issuer, &settings.audience) {
            (Some(issuer), Some(audience)) if !keys.is_empty() || jwks.is_some() => {
                let mut v = Validation::new(Algorithm::RS256);
                v.set_issuer(&[issuer]);
                v.set_audience(&[audience]);
                v.set_required_spec_claims(&["exp", "sub", "iss", "aud"]);
                v.validate_nbf = true;
                v.leeway = settings.leeway_secs;
                Some(v)
            }
            _ => None,
        };
        Ok(CreatorVerifier { keys, jwks, validation, allowed_origins: settings.allowed_origins.clone() })
    }

    /// The identity in a valid token, or `None` for any token that fails a check.
    pub async fn verify(&self, token: &str) -> Option<CreatorIdentity> {
        let validation = self.validation.as_ref()?;
        // The header is read only for the key id; the algorithm is fixed by `validation`.
        let header = decode_header(token).ok()?;
        if header.alg != Algorithm::RS256 {
            return None;
        }
        let mut keys = self.keys.clone();
        if let Some(jwks) = &self.jwks {
            keys.extend(jwks.keys_for(header.kid.as_deref()).await);
        }
        let claims = keys
            .iter()
            .find_map(|key| decode::<Claims>(token, key, validation).ok())
            .map(|data| data.claims)?;
        if let Some(azp) = &claims.azp {
            if !self.allowed_origins.iter().any(|o| o == azp) {
                return None;
            }
        }
        if claims.sub.is_empty() {
            return None;
        }
        Some(CreatorIdentity { user_id: claims.sub, birth_year: claims.birth_year })
    }
}

fn read_key_file(path: &Path) -> Result<String, VerifierError> {
    std::fs::read_to_string(path)
        .map_err(|source| VerifierError::KeyFile { path: path.display().to_string(), source })
}

/// How creators' session tokens from the identity provider are checked. With no issuer,
/// audience or key configured, every creator token is refused (fail closed).
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct AuthSettings {
    /// The `iss` every token must carry.
    pub issuer: Option<String>,
    /// The `aud` every token must carry.
    pub audience: Option<String>,
    /// The identity provider's RS256 public keys, PEM text.
    pub public_keys_pem: Vec<String>,
    /// Files holding such PEM keys.
    pub public_key_files: Vec<std::path::PathBuf>,
    /// The identity provider's key set (JWKS), fetched when first needed and again when a
    /// token names a key id not seen yet.
    pub jwks_url: Option<String>,
    /// The key set is fetched again at most this often, however many unknown key ids arrive.
    pub jwks_min_refresh_secs: u64,
    /// Fetched keys are trusted this long (less if the answer's `Cache-Control: max-age` says
    /// so), then fetched again: a key the provider withdrew is refused after at most this.
    pub jwks_ttl_secs: u64,
    /// While the provider cannot be reached, expired keys stay usable this much longer.
    pub jwks_max_stale_secs: u64,
    /// Clock skew allowed on `exp` and `nbf`, in seconds.
    pub leeway_secs: u64,
    /// Accepted `azp` (authorized party) values, checked when a token carries one.
    pub allowed_origins: Vec<String>,
}
