//! Enrolling a creator's output: decode under limits, mark with a fresh payload, encode.
//! Pure and blocking (the HTTP layer runs it off the async threads); storing the content's
//! metadata is the caller's business.

use image::{ImageFormat, RgbImage};
use rand::RngCore;
use sha2::{Digest, Sha256};

use std::path::Path;

use crate::media::image_io::{self, ImageLimits, MediaError};
use crate::media::video::{self, PixelLayout, VideoError, VideoSettings};
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
    /// What the content looks like, to tell it from a copy of its mark on other media
    /// (`recognize::binding`).
    pub references: Vec<u8>,
}

/// A fresh random payload. The store's unique constraint is the arbiter of uniqueness; a
/// clash (one in 2^64 per pair) is retried by the caller with another.
pub fn fresh_payload() -> u64 {
    rand::rngs::OsRng.next_u64()
}

/// Decodes `bytes`, marks the pixels with `payload` and encodes them as `format` (the
/// input's own format when `None`). A picture under `watermark::MIN_SIDE` on a side is
/// refused: its mark could not be detected, so its views could never be verified.
pub fn mark_image(
    bytes: &[u8],
    limits: &ImageLimits,
    key: &Key,
    payload: u64,
    format: Option<ImageFormat>,
) -> Result<MarkedOutput, MediaError> {
    let (image, input_format) = image_io::decode(bytes, limits)?;
    let (width, height) = image.dimensions();
    if width.min(height) < watermark::MIN_SIDE {
        return Err(MediaError::TooSmall(width, height, watermark::MIN_SIDE));
    }
    let started = std::time::Instant::now();
    let marked = watermark::embed(&image, key, payload);
    metrics::histogram!("viewmark_embed_seconds", "kind" => "image").record(started.elapsed().as_secs_f64());
    let format = format.unwrap_or(input_format);
    let bytes = image_io::encode(&marked, format)?;
    let sha256 = hex::encode(Sha256::digest(&bytes));
    let references = crate::media::recognize::picture_kept(&image);
    Ok(MarkedOutput { bytes, format, width: marked.width(), height: marked.height(), sha256, references })
}

/// A marked video written to a file.
#[derive(Debug, Clone)]
pub struct MarkedVideo {
    pub width: u32,
    pub height: u32,
    pub frames: usize,
    /// Hex SHA-256 of the output file.
    pub sha256: String,
    /// What its key frames look like (`recognize::binding`), as `Kept` bytes.
    pub references: Vec<u8>,
}

/// Marks every frame of the video at `input` with `payload` and writes it to `output`
/// (whose extension names the container), audio and metadata carried over.
pub fn mark_video(
    input: &Path,
    output: &Path,
    settings: &VideoSettings,
    key: &Key,
    payload: u64,
) -> Result<MarkedVideo, VideoError> {
    let info = video::probe(input, &settings.limits())?;
    let started = std::time::Instant::now();
    // One embedder for the whole video: the same pattern at the same place in every frame.
    let embedder =
        watermark::Embedder::new(key, payload, info.width, info.height).with_strength(settings.strength);
    let (width, height) = (info.width as usize, info.height as usize);
    // The video's own planes where it has them: only luma changes, nothing is converted.
    let layout = PixelLayout::for_rewrite(&info);
    // A frame of another size than probed is an error, never a frame left unmarked.
    let mark = |frame: &mut [u8]| -> Result<(), VideoError> {
        match layout {
            PixelLayout::Yuv420 { range, .. } => {
                let bytes = frame.len();
                let luma = frame.get_mut(..width * height).ok_or_else(|| wrong_size(bytes))?;
                embedder.apply_to_luma(luma, width, height, range);
            }
            PixelLayout::Rgb => {
                let image = RgbImage::from_raw(info.width, info.height, frame.to_vec())
                    .ok_or_else(|| wrong_size(frame.len()))?;
                frame.copy_from_slice(embedder.apply(&image).as_raw());
            }
        }
        Ok(())
    };
    // What is kept of the video is read from the original's key frames while the frames are
    // rewritten, under a deadline of its own within the request's: a failed rewrite cancels
    // it, so its reader stops at once.
    let kept_deadline = match video::Deadline::current() {
        Some(deadline) => deadline.child(),
        None => settings.deadline(),
    };
    let (frames, references) = std::thread::scope(|scope| {
        let kept =
            scope.spawn(|| kept_deadline.scope(|| crate::media::recognize::video_kept_probed(input, &info)));
        let frames = video::rewrite_frames(input, &info, output, &settings.encode(), layout, &mark);
        if frames.is_err() {
            kept_deadline.cancel();
        }
        let kept = kept.join().map_err(|_| VideoError::Encode("the key frames could not be read".into()));
        Ok::<_, VideoError>((frames?, kept??))
    })?;
    metrics::histogram!("viewmark_embed_seconds", "kind" => "video").record(started.elapsed().as_secs_f64());
    let mut hasher = Sha256::new();
    std::io::copy(&mut std::fs::File::open(output)?, &mut hasher)?;
    Ok(MarkedVideo {
        width: info.width,
        height: info.height,
        frames,
        sha256: hex::encode(hasher.finalize()),
        references,
    })
}

/// The error for a decoded frame whose byte count is not the probed size's.
fn wrong_size(bytes: usize) -> VideoError {
    VideoError::Encode(format!("a decoded frame has {bytes} bytes, not the probed size's"))
}
