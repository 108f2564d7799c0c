//! The watermark engine: pure signal processing, no I/O and no database.
//!
//! # How it works
//!
//! A 16 x 16-cell tile is derived from the key and the payload: 212 cells carry the coded
//! payload (one coded bit each, times a secret carrier sign), 44 carry a fixed secret
//! synchronisation pattern. The tile is interpolated smoothly to a period of an eighth of
//! the image's shorter side (longer for strips beyond 4:1) and repeated over the whole
//! image, added to luma only, with a strength that follows local texture (see `embed`).
//!
//! The detector resamples the image so its shorter side is 320 pixels (a strip beyond 4:1
//! to an area of 320 x 1,280) and reads it through the mix of R, G and B that hears the
//! mark best over the picture's own texture (`colour`). It removes the picture's own low
//! frequencies, and finds the tiling lattice (period and angle, modulo 90 degrees; past
//! that, a stretch, a shear and a keystone) from the comb of harmonics the tiling leaves in
//! the whitened power spectrum. It folds every pixel
//! onto one tile under that lattice, which averages all the tiles present whatever the
//! crop; correlating the fold with the synchronisation cells under the 8 symmetries of the
//! square (rotations by 90 degrees and mirror images) gives the orientation and cyclic
//! offset. The cells are then read as soft values and decoded.
//!
//! # Video
//!
//! Every frame of a video is marked by one [`Embedder`]: the same tile at the same place in
//! every frame, so the mark neither crawls nor blinks, with the strength following each
//! frame's texture. A single frame (a cover, a thumbnail) is detected like a picture; many
//! frames go into a [`FrameStack`], which averages their whitened residuals before the one
//! search and decode, so the picture's motion averages out while the fixed mark adds up.
//!
//! # False positives
//!
//! A payload is accepted only if the decoded word's 36-bit integrity tag equals
//! HMAC-SHA256(key, payload) truncated to 36 bits. On an image not marked with this key the
//! decoder outputs some words; since HMAC is a pseudo-random function, each one's tag matches
//! with probability 2^-36 ~ 1.46e-11. The detector decodes at most `DECODE_ATTEMPTS` = 17
//! candidate alignments per image: the 2 best orientation peaks at each of the 2 best fine
//! registrations of the 3 best square lattices (the search over periods, angles, symmetries
//! and shifts ranks them by synchronisation score alone); only if none of those decodes,
//! the best one re-registered against its own likeliest codeword (chosen by the Viterbi
//! metric, which tests no tag); and only if that fails too, the 2 best peaks of the 2 best
//! warped lattices (a stretch, a shear, a keystone; see `warped`). The list decoder tries
//! the `PICTURE_LIST` = 4 most likely codewords of each: `TAG_TESTS` = 68 tag tests. By the
//! union bound the false-positive probability per image is at most 68 * 2^-36 ~ 9.90e-10,
//! below the 1e-9 required (a compile-time assertion keeps it so). A video decodes two
//! [`FrameStack`]s with half the list each, the same 68 tests, so the bound holds per video
//! too. An image marked under another key decodes to noise under this key and is covered
//! by the same bound.

mod alignment;
mod binding;
mod borders;
mod code;
mod colour;
mod detect;
mod embed;
mod fft;
mod fold;
mod key;
mod lattice;
mod mask;
mod pattern;
mod plane;
mod reregister;
mod scale;
mod search;
mod several;
mod spectrum;
mod stack;
mod sync;
mod warp;
mod warped;

use image::RgbImage;

pub use binding::{
    best_similarity, references_from_bytes, references_to_bytes, similarity, Reference, Sighting, REF_PERIOD,
    SAME_CONTENT,
};
pub use code::{CODED_BITS, PAYLOAD_BITS, TAG_BITS};

/// The shortest side of a picture the engine is made and tested for. The tile is at least
/// 56 px (`scale::MIN_PERIOD`), so a smaller picture holds under about four tiles across:
/// unattacked, 255 x 255 still decodes and 100 x 100 does not, and every attack that shrinks
/// a picture takes the small ones first. The service refuses to enrol smaller pictures
/// rather than hand back a mark that might never be verified.
pub const MIN_SIDE: u32 = 256;
#[doc(hidden)]
pub use detect::coded_bits_right;
pub use detect::{detect_all, DECODE_ATTEMPTS, PICTURE_LIST, TAG_TESTS};
pub use embed::{Embedder, LumaRange};
pub use key::Key;
pub use scale::tile_period;
pub use stack::FrameStack;
pub use warp::Warp;

/// The geometry the detector found.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Transform {
    /// The tile period seen in the input image, in its pixels.
    pub tile_period_px: f32,
    /// The tiling's angle modulo 90 degrees.
    pub rotation_degrees: f32,
    /// Whether the image is mirrored relative to the marked original (or rotated by an
    /// odd multiple of 90 degrees and mirrored).
    pub flipped: bool,
    /// The tiling's distortion past a similarity (the identity when there is none): a
    /// stretch along the input's x axis and a shear.
    pub warp: Warp,
}

/// A watermark found in an image.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Detection {
    pub payload: u64,
    /// Agreement between the measured cells and the decoded codeword, 0..1 (1: pristine).
    pub score: f32,
    pub transform: Transform,
}

/// Marks an RGB image with a 64-bit payload under a key. Same size out as in.
pub fn embed(image: &RgbImage, key: &Key, payload: u64) -> RgbImage {
    embed::embed(image, key, payload)
}

/// Looks for a mark made with this key; `None` if there is none (or it is unreadable).
pub fn detect(image: &RgbImage, key: &Key) -> Option<Detection> {
    detect::detect(image, key)
}
