//! Authenticated encryption for values at rest: XChaCha20-Poly1305 with a random nonce per
//! value, bound to its owner's id and to a context naming where it is kept (a table, a
//! column and a row), so a sealed value copied onto another creator's row, another column or
//! another row does not open. The key store seals data keys with it under the master key, and
//! the store seals personal fields under each creator's data key (`store::keystore`).
//!
//! Layout 1 bound a value to its owner only. It opens through `open_layout_1` alone, which
//! the store's one-time reseal uses to rewrite such values in the current layout.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use uuid::Uuid;

/// The layout's version, first byte of every sealed value.
const VERSION: u8 = 2;
/// The layout that bound a value to its owner only.
pub const LAYOUT_1: u8 = 1;
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

    /// `VERSION || nonce || ciphertext-and-tag`, authenticated with the owner and `context`.
    pub fn seal(&self, owner: Uuid, context: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, SealError> {
        self.seal_layout(VERSION, &associated_data(owner, context), plaintext)
    }

    /// Opens a value sealed by `seal` for the same owner and context.
    pub fn open(&self, owner: Uuid, context: &[u8], sealed: &[u8]) -> Result<Vec<u8>, SealError> {
        self.open_layout(VERSION, &associated_data(owner, context), sealed)
    }

    /// Opens a value of layout 1 (bound to its owner only).
    pub fn open_layout_1(&self, owner: Uuid, sealed: &[u8]) -> Result<Vec<u8>, SealError> {
        self.open_layout(LAYOUT_1, owner.as_bytes(), sealed)
    }

    /// Seals in layout 1: only for tests of the reseal.
    #[doc(hidden)]
    pub fn seal_layout_1(&self, owner: Uuid, plaintext: &[u8]) -> Result<Vec<u8>, SealError> {
        self.seal_layout(LAYOUT_1, owner.as_bytes(), plaintext)
    }

    fn seal_layout(&self, version: u8, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, SealError> {
        let mut nonce = [0u8; NONCE_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let sealed = self
            .cipher
            .encrypt(XNonce::from_slice(&nonce), Payload { msg: plaintext, aad })
            .map_err(|_| SealError::Seal)?;
        let mut out = Vec::with_capacity(1 + NONCE_BYTES + sealed.len());
        out.push(version);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    fn open_layout(&self, version: u8, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, SealError> {
        let (&found, rest) = sealed.split_first().ok_or(SealError::Unreadable)?;
        if found != version || rest.len() < NONCE_BYTES {
            return Err(SealError::Unreadable);
        }
        let (nonce, body) = rest.split_at(NONCE_BYTES);
        self.cipher
            .decrypt(XNonce::from_slice(nonce), Payload { msg: body, aad })
            .map_err(|_| SealError::Unreadable)
    }
}

/// The owner's 16 bytes, then the context: the owner has a fixed length, so no two
/// (owner, context) pairs give the same bytes.
fn associated_data(owner: Uuid, context: &[u8]) -> Vec<u8> {
    let mut aad = Vec::with_capacity(16 + context.len());
    aad.extend_from_slice(owner.as_bytes());
    aad.extend_from_slice(context);
    aad
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_for_their_owner_context_and_key() {
        let sealer = Sealer::new(&[3; 32]);
        let (owner, other) = (Uuid::new_v4(), Uuid::new_v4());
        let sealed = sealer.seal(owner, b"posts.url_enc", b"access-token-123").unwrap();
        assert!(!sealed.windows(6).any(|w| w == b"access"));
        assert_ne!(
            sealed,
            sealer.seal(owner, b"posts.url_enc", b"access-token-123").unwrap(),
            "nonces differ"
        );
        assert_eq!(sealer.open(owner, b"posts.url_enc", &sealed).unwrap(), b"access-token-123");
        assert_eq!(sealer.open(other, b"posts.url_enc", &sealed), Err(SealError::Unreadable));
        assert_eq!(sealer.open(owner, b"posts.post_id_enc", &sealed), Err(SealError::Unreadable));
        assert_eq!(Sealer::new(&[4; 32]).open(owner, b"posts.url_enc", &sealed), Err(SealError::Unreadable));
        let mut tampered = sealed.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert_eq!(sealer.open(owner, b"posts.url_enc", &tampered), Err(SealError::Unreadable));
        assert_eq!(sealer.open(owner, b"posts.url_enc", &[]), Err(SealError::Unreadable));
        assert_eq!(sealer.open_layout_1(owner, &sealed), Err(SealError::Unreadable), "no downgrade");
    }

    #[test]
    fn layout_1_opens_only_through_its_own_door() {
        let sealer = Sealer::new(&[3; 32]);
        let owner = Uuid::new_v4();
        let old = sealer.seal_layout_1(owner, b"handle").unwrap();
        assert_eq!(old[0], LAYOUT_1);
        assert_eq!(sealer.open_layout_1(owner, &old).unwrap(), b"handle");
        assert_eq!(sealer.open(owner, b"", &old), Err(SealError::Unreadable));
    }
}
