//! Enrolling a creator's output: decode under limits, mark with a fresh payload, encode.
//! Pure and blocking (the HTTP layer runs it off the async threads); storing the content's
//! metadata is the caller's business.

use image::ImageFormat;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::media::image_io::{self, ImageLimits, MediaError};
use crate::watermark::{self, Key};

/// A marked output, ready to return and to record.
#[derive(Debug, Clone)]
pub struct MarkedOutput {
    pub bytes: Vec<u8>,
    pub format: ImageFormat,
    pub width: u32,
    pub height: u32,
    /// Hex SHA-256 of `bytes`: what the store keeps instead of the image.
    pub sha256: String,
}

/// A fresh random payload. The store's unique constraint is the arbiter of uniqueness; a
/// clash (one in 2^64 per pair) is retried by the caller with another.
pub fn fresh_payload() -> u64 {
    rand::rngs::OsRng.next_u64()
}

/// Decodes `bytes`, marks the pixels with `payload` and encodes them as `format` (the
/// input's own format when `None`).
pub fn mark_image(
    bytes: &[u8],
    limits: &ImageLimits,
    key: &Key,
    payload: u64,
    format: Option<ImageFormat>,
) -> Result<MarkedOutput, MediaError> {
    let (image, input_format) = image_io::decode(bytes, limits)?;
    let marked = watermark::embed(&image, key, payload);
    let format = format.unwrap_or(input_format);
    let bytes = image_io::encode(&marked, format)?;
    let sha256 = hex::encode(Sha256::digest(&bytes));
    Ok(MarkedOutput { bytes, format, width: marked.width(), height: marked.height(), sha256 })
}
