//! Looking for a mark in a file of either kind: a picture (or a video's cover) is decoded
//! under the image limits; a video is probed under the video limits and sampled frames are
//! stacked (see `watermark::FrameStack`). Pure and blocking, like enrollment.
//!
//! A mark found is not yet proof of content: it can be copied onto other content. What is
//! found comes with sightings of the media at the mark's geometry, and [`binding`] holds
//! them against the references kept of the enrolled content.

use std::io::Write;
use std::path::Path;

use crate::media::fingerprint::Fingerprint;
use crate::media::image_io::{self, ImageLimits, MediaError};
use crate::media::kept::Kept;
use crate::media::video::{self, Container, FrameReader, VideoError, VideoSettings};
use image::RgbImage;

use crate::watermark::{self, Detection, FrameStack, Key, Reference, Sighting};

/// A mark found, and the media it was found in brought to the mark's geometry.
#[derive(Debug, Clone)]
pub struct Found {
    pub detection: Detection,
    pub sightings: Vec<Sighting>,
}

impl Found {
    fn in_frames(detection: Detection, frames: &[RgbImage]) -> Found {
        let sightings = frames.iter().map(|f| Sighting::of(f, &detection.transform)).collect();
        Found { detection, sightings }
    }
}

/// Whether found media shows the enrolled content its mark names.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Binding {
    /// The media shows the content (the best similarity).
    Shows(f32),
    /// The mark is there, the content is not: the mark was copied onto other media.
    Transplanted(f32),
    /// No reference is kept for the content (enrolled before references were).
    Unchecked,
}

/// Holds what was found against what is kept of the content its mark names (`Kept`).
pub fn binding(found: &Found, kept: Option<&[u8]>) -> Binding {
    let references =
        kept.and_then(Kept::from_bytes).and_then(|k| watermark::references_from_bytes(&k.references));
    let Some(references) = references else {
        return Binding::Unchecked;
    };
    let best = watermark::best_similarity(&references, &found.sightings);
    if best >= watermark::SAME_CONTENT {
        Binding::Shows(best)
    } else {
        Binding::Transplanted(best)
    }
}

/// What is kept of a picture at enrollment (of the original, before marking): its
/// reference and fingerprint, as `Kept` bytes.
pub fn picture_kept(image: &RgbImage) -> Vec<u8> {
    Kept {
        references: watermark::references_to_bytes(&[Reference::of(image)]),
        fingerprints: Fingerprint::of(image).into_iter().collect(),
    }
    .to_bytes()
}

/// Key frames kept for a video's sightings and references.
pub const BINDING_FRAMES: usize = 4;

/// Why a file could not be examined.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error(transparent)]
    Image(#[from] MediaError),
    #[error(transparent)]
    Video(#[from] VideoError),
}

/// Codewords tried per alignment in each of a video's two stacks: half a picture's list.
const VIDEO_LIST: usize = watermark::PICTURE_LIST / 2;
const _: () = assert!(2 * watermark::DECODE_ATTEMPTS * VIDEO_LIST <= watermark::TAG_TESTS);

/// What a file shows: every mark found, best first (a collage or a duet carries two), and,
/// when it holds none, the fingerprints of what was read (the picture, or a video's first
/// key frames) to hold against the creator's own content.
#[derive(Debug, Clone, Default)]
pub struct Examined {
    pub marks: Vec<Found>,
    pub fingerprints: Vec<Fingerprint>,
}

impl Examined {
    fn of(marks: Vec<Detection>, frames: &[RgbImage]) -> Examined {
        let fingerprints = match marks.is_empty() {
            true => frames.iter().filter_map(Fingerprint::of).collect(),
            false => Vec::new(),
        };
        Examined { marks: marks.into_iter().map(|d| Found::in_frames(d, frames)).collect(), fingerprints }
    }
}

/// Detection in a video file: first from its key frames, then from frames spread over the
/// whole video (`settings.detect_frames` of each), each set stacked and searched for every
/// mark it holds (a duet carries two). The two searches share a picture's budget of tag
/// tests, so a video's false-positive bound is a picture's (see `watermark`).
pub fn examine_video(path: &Path, settings: &VideoSettings, key: &Key) -> Result<Examined, VideoError> {
    let info = video::probe(path, &settings.limits())?;
    // The first key frames decoded are kept for the sightings and fingerprints.
    let mut kept = Vec::with_capacity(BINDING_FRAMES);
    for reader in [FrameReader::key_frames, FrameReader::sampled] {
        let mut stack = FrameStack::new();
        for frame in reader(path, &info, settings.detect_frames)? {
            let frame = frame?;
            stack.add(&frame);
            if kept.len() < BINDING_FRAMES {
                kept.push(frame);
            }
        }
        let marks = stack.detect_all_with_list(key, VIDEO_LIST);
        if !marks.is_empty() {
            return Ok(Examined::of(marks, &kept));
        }
    }
    match kept.is_empty() {
        true => Err(VideoError::Unreadable),
        false => Ok(Examined::of(Vec::new(), &kept)),
    }
}

/// The marks of a video file, best first; none is an empty list.
pub fn detect_in_video(path: &Path, settings: &VideoSettings, key: &Key) -> Result<Vec<Found>, VideoError> {
    examine_video(path, settings, key).map(|examined| examined.marks)
}

/// Examines a file's bytes, whichever kind it is. A video is spooled to a temporary file
/// first: ffprobe must seek (an MP4's index is often at its end).
pub fn examine_bytes(
    bytes: &[u8],
    image_limits: &ImageLimits,
    video_settings: &VideoSettings,
    key: &Key,
) -> Result<Examined, InputError> {
    match Container::sniff(bytes) {
        Some(container) => {
            if bytes.len() as u64 > video_settings.max_bytes {
                return Err(VideoError::TooLarge(bytes.len() as u64, video_settings.max_bytes).into());
            }
            let mut file = video_settings.spool_file(container).map_err(VideoError::Io)?;
            file.write_all(bytes).map_err(VideoError::Io)?;
            file.flush().map_err(VideoError::Io)?;
            Ok(examine_video(file.path(), video_settings, key)?)
        }
        None => {
            let (image, _) = image_io::decode(bytes, image_limits)?;
            Ok(Examined::of(watermark::detect_all(&image, key), std::slice::from_ref(&image)))
        }
    }
}

/// The marks in a file's bytes, best first; none is an empty list.
pub fn detect_in_bytes(
    bytes: &[u8],
    image_limits: &ImageLimits,
    video_settings: &VideoSettings,
    key: &Key,
) -> Result<Vec<Found>, InputError> {
    examine_bytes(bytes, image_limits, video_settings, key).map(|examined| examined.marks)
}

/// What is kept of a video: the references and fingerprints of its first key frames, as
/// `Kept` bytes. The mark is invisible at a reference's scale and to the fingerprint, so an
/// original's key frames and its marked copy's stand for each other.
pub fn video_kept(path: &Path, settings: &VideoSettings) -> Result<Vec<u8>, VideoError> {
    video_kept_probed(path, &video::probe(path, &settings.limits())?)
}

/// [`video_kept`] of a video already probed.
pub fn video_kept_probed(path: &Path, info: &video::VideoInfo) -> Result<Vec<u8>, VideoError> {
    let mut references = Vec::with_capacity(BINDING_FRAMES);
    let mut fingerprints = Vec::with_capacity(BINDING_FRAMES);
    for frame in FrameReader::key_frames(path, info, BINDING_FRAMES)? {
        let frame = frame?;
        references.push(Reference::of(&frame));
        fingerprints.extend(Fingerprint::of(&frame));
    }
    Ok(Kept { references: watermark::references_to_bytes(&references), fingerprints }.to_bytes())
}
