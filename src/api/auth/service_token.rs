//! Service tokens: opaque random strings shown once at creation; only their SHA-256 hashes
//! are stored, so a database leak reveals no usable token.

use rand::RngCore;
use sha2::{Digest, Sha256};

/// Every service token starts with this, which tells it apart from a creator's JWT and lets
/// secret scanners recognise a leaked one.
pub const PREFIX: &str = "vmk_";

/// The scopes a service token can carry.
pub const SCOPES: [&str; 3] = [CONTENT_WRITE, PAYOUTS_READ, ADMIN];
pub const CONTENT_WRITE: &str = "content:write";
pub const PAYOUTS_READ: &str = "payouts:read";
pub const ADMIN: &str = "admin";

/// A new token: the prefix and 256 random bits in hex.
pub fn generate() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("{PREFIX}{}", hex::encode(bytes))
}

/// What is stored and looked up: the hex SHA-256 of the whole token.
pub fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Creates a live token: stores its hash and returns the token itself (shown once, never
/// stored) with the stored record.
pub async fn issue(
    store: &dyn crate::store::Store,
    name: String,
    scopes: Vec<String>,
) -> crate::store::StoreResult<(String, crate::domain::ServiceToken)> {
    let token = generate();
    let new =
        crate::store::NewServiceToken { name, token_hash: hash(&token), scopes, at: chrono::Utc::now() };
    let created = store.insert_service_token(&new).await?;
    Ok((token, created))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_fresh_prefixed_and_hashed_stably() {
        let (a, b) = (generate(), generate());
        assert_ne!(a, b);
        assert!(a.starts_with(PREFIX) && a.len() == PREFIX.len() + 64);
        assert_eq!(hash(&a), hash(&a));
        assert_ne!(hash(&a), hash(&b));
        assert!(!hash(&a).contains(&a[PREFIX.len()..]));
    }
}
