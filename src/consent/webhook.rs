//! The identity provider's signed webhooks (the Svix scheme): the signed content is
//! `{svix-id}.{svix-timestamp}.{body}`, HMAC-SHA256 with the secret (base64 after `whsec_`),
//! and `svix-signature` lists one or more `v1,<base64>` signatures (several during a secret
//! rotation). Timestamps more than the tolerance away from now are refused, so a captured
//! delivery cannot be replayed later; replays within it are caught by delivery id.

use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    #[error("webhook secret is not configured")]
    NotConfigured,
    #[error("webhook secret is not a whsec_ base64 secret")]
    BadSecret,
    #[error("missing svix-id, svix-timestamp or svix-signature header")]
    MissingHeaders,
    #[error("svix-timestamp is not a Unix time")]
    BadTimestamp,
    #[error("svix-timestamp is outside the {0}-second tolerance")]
    Stale(u64),
    #[error("no signature matches")]
    BadSignature,
}

/// A webhook secret, decoded once.
#[derive(Clone)]
pub struct WebhookSecret(Vec<u8>);

impl WebhookSecret {
    pub fn parse(text: &str) -> Result<WebhookSecret, WebhookError> {
        let encoded = text.trim().strip_prefix("whsec_").unwrap_or(text.trim());
        let bytes =
            base64::engine::general_purpose::STANDARD.decode(encoded).map_err(|_| WebhookError::BadSecret)?;
        if bytes.len() < 16 {
            return Err(WebhookError::BadSecret);
        }
        Ok(WebhookSecret(bytes))
    }

    /// The `v1,<base64>` signature of a delivery (what the provider sends; tests sign with it).
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        let mut mac = self.mac();
        mac.update(format!("{id}.{timestamp}.").as_bytes());
        mac.update(body);
        format!("v1,{}", base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes()))
    }

    fn mac(&self) -> Hmac<Sha256> {
        // HMAC takes keys of any length.
        Hmac::<Sha256>::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"))
    }

    /// Checks a delivery: its timestamp within `tolerance_secs` of `now` (Unix seconds) and
    /// one of the listed signatures right (compared in constant time).
    pub fn verify(
        &self,
        id: &str,
        timestamp: &str,
        signatures: &str,
        body: &[u8],
        now: i64,
        tolerance_secs: u64,
    ) -> Result<(), WebhookError> {
        let sent: i64 = timestamp.trim().parse().map_err(|_| WebhookError::BadTimestamp)?;
        if now.abs_diff(sent) > tolerance_secs {
            return Err(WebhookError::Stale(tolerance_secs));
        }
        let engine = base64::engine::general_purpose::STANDARD;
        for candidate in signatures.split_whitespace() {
            let Some(encoded) = candidate.strip_prefix("v1,") else { continue };
            let Ok(given) = engine.decode(encoded) else { continue };
            let mut mac = self.mac();
            mac.update(format!("{id}.{sent}.").as_bytes());
            mac.update(body);
            if mac.verify_slice(&given).is_ok() {
                return Ok(());
            }
        }
        Err(WebhookError::BadSignature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    #[test]
    fn a_signed_delivery_verifies_and_anything_else_does_not() {
        let secret = WebhookSecret::parse(SECRET).unwrap();
        let body = br#"{"type":"user.deleted","data":{"id":"user_1"}}"#;
        let signature = secret.sign("msg_1", 1_700_000_000, body);
        let ok = |id, sigs: &str, body: &[u8], now| secret.verify(id, "1700000000", sigs, body, now, 300);
        assert_eq!(ok("msg_1", &signature, body, 1_700_000_000), Ok(()));
        assert_eq!(
            ok("msg_1", &format!("v1,AAAA {signature}"), body, 1_700_000_100),
            Ok(()),
            "one of several"
        );
        assert_eq!(
            ok("msg_2", &signature, body, 1_700_000_000),
            Err(WebhookError::BadSignature),
            "id is signed"
        );
        assert_eq!(ok("msg_1", &signature, b"{}", 1_700_000_000), Err(WebhookError::BadSignature));
        assert_eq!(ok("msg_1", &signature, body, 1_700_000_301), Err(WebhookError::Stale(300)));
        assert_eq!(
            ok("msg_1", &signature.replace("v1,", "v2,"), body, 1_700_000_000),
            Err(WebhookError::BadSignature)
        );
        let other = WebhookSecret::parse("whsec_b3RoZXItc2VjcmV0LW9mLTE2Yg==").unwrap();
        assert_eq!(
            other.verify("msg_1", "1700000000", &signature, body, 1_700_000_000, 300),
            Err(WebhookError::BadSignature)
        );
        assert!(WebhookSecret::parse("whsec_short").is_err());
    }
}
