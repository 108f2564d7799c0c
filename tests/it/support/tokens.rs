//! Credentials for tests: creator JWTs signed like the identity provider's (and forged
//! ones), and service tokens put straight into the store.

use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use viewmark::api::auth::service_token;
use viewmark::store::Store;

use crate::support::{fixture_path, TEST_AUDIENCE, TEST_ISSUER};

fn pem(name: &str) -> Vec<u8> {
    std::fs::read(fixture_path(&format!("auth/{name}"))).unwrap()
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Standard claims of a valid session token for `user_id`.
pub fn claims(user_id: &str) -> Value {
    let email = format!("{user_id}@example.com");
    json!({"sub": user_id, "email": email, "iss": TEST_ISSUER, "aud": TEST_AUDIENCE, "iat": now(), "exp": now() + 600})
}

/// Signs claims with a private key from `fixtures/auth`.
pub fn sign_with(private_pem: &str, claims: &Value) -> String {
    let _ = jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER.install_default();
    let key = EncodingKey::from_rsa_pem(&pem(private_pem)).unwrap();
    encode(&Header::new(Algorithm::RS256), claims, &key).unwrap()
}

/// Signs claims with a key id in the header, as a provider publishing a JWKS does.
pub fn sign_with_kid(private_pem: &str, kid: &str, claims: &Value) -> String {
    let _ = jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER.install_default();
    let key = EncodingKey::from_rsa_pem(&pem(private_pem)).unwrap();
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(kid.to_owned());
    encode(&header, claims, &key).unwrap()
}

/// A session token the test identity provider would issue.
pub fn creator_token(user_id: &str) -> String {
    sign_with("test-idp-private.pem", &claims(user_id))
}

pub fn creator_token_born(user_id: &str, birth_year: i32) -> String {
    let mut c = claims(user_id);
    c["birth_year"] = json!(birth_year);
    sign_with("test-idp-private.pem", &c)
}

/// The classic algorithm-confusion forgery: HS256 keyed with the provider's public key.
pub fn hs256_with_public_key(user_id: &str) -> String {
    let _ = jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER.install_default();
    let key = EncodingKey::from_secret(&pem("test-idp-public.pem"));
    encode(&Header::new(Algorithm::HS256), &claims(user_id), &key).unwrap()
}

/// A live service token with these scopes, and its id.
pub async fn service(store: &dyn Store, scopes: &[&str]) -> (String, uuid::Uuid) {
    let name = format!("test {}", scopes.join(" "));
    let scopes = scopes.iter().map(|s| s.to_string()).collect();
    let (token, created) = service_token::issue(store, name, scopes).await.unwrap();
    (token, created.id)
}
