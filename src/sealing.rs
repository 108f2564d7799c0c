//! Authenticated encryption for values at rest: XChaCha20-Poly1305 with a random nonce per
//! value, bound to its owner's id, so a sealed value copied onto another creator's row does
//! not open. The key store seals data keys with it under the master key, and the store seals
//! personal fields under each creator's data key (`store::keystore`).

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use uuid::Uuid;

/// The layout's version, first byte of every sealed value.
const VERSION: u8 = 1;
const NONCE_BYTES: usize = 24;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SealError {
    #[error("sealed value is malformed, was sealed for another owner, or under another key")]
    Unreadable,
    #[error("sealing failed")]
    Seal,
}

/// Seals and opens values under one key.
#[derive(Clone)]
pub struct Sealer {
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer([redacted])")
    }
}

impl Sealer {
    pub fn new(key: &[u8; 32]) -> Sealer {
        Sealer { cipher: XChaCha20Poly1305::new(key.into()) }
    }

    /// `VERSION || nonce || ciphertext-and-tag`.
    pub fn seal(&self, owner: Uuid, plaintext: &[u8]) -> Result<Vec<u8>, SealError> {
        let mut nonce = [0u8; NONCE_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let sealed = self
            .cipher
            .encrypt(XNonce::from_slice(&nonce), Payload { msg: plaintext, aad: owner.as_bytes() })
            .map_err(|_| SealError::Seal)?;
        let mut out = Vec::with_capacity(1 + NONCE_BYTES + sealed.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    pub fn open(&self, owner: Uuid, sealed: &[u8]) -> Result<Vec<u8>, SealError> {
        let (&version, rest) = sealed.split_first().ok_or(SealError::Unreadable)?;
        if version != VERSION || rest.len() < NONCE_BYTES {
            return Err(SealError::Unreadable);
        }
        let (nonce, body) = rest.split_at(NONCE_BYTES);
        self.cipher
            .decrypt(XNonce::from_slice(nonce), Payload { msg: body, aad: owner.as_bytes() })
            .map_err(|_| SealError::Unreadable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_for_their_owner_and_key() {
        let sealer = Sealer::new(&[3; 32]);
        let (owner, other) = (Uuid::new_v4(), Uuid::new_v4());
        let sealed = sealer.seal(owner, b"access-token-123").unwrap();
        assert!(!sealed.windows(6).any(|w| w == b"access"));
        assert_ne!(sealed, sealer.seal(owner, b"access-token-123").unwrap(), "nonces differ");
        assert_eq!(sealer.open(owner, &sealed).unwrap(), b"access-token-123");
        assert_eq!(sealer.open(other, &sealed), Err(SealError::Unreadable));
        assert_eq!(Sealer::new(&[4; 32]).open(owner, &sealed), Err(SealError::Unreadable));
        let mut tampered = sealed.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert_eq!(sealer.open(owner, &tampered), Err(SealError::Unreadable));
        assert_eq!(sealer.open(owner, &[]), Err(SealError::Unreadable));
    }
}
