//! Looking for a mark in a file of either kind: a picture (or a video's cover) is decoded
//! under the image limits; a video is probed under the video limits and sampled frames are
//! stacked (see `watermark::FrameStack`). Pure and blocking, like enrollment.

use std::io::Write;
use std::path::Path;

use crate::media::image_io::{self, ImageLimits, MediaError};
use crate::media::video::{self, Container, FrameReader, VideoError, VideoSettings};
use crate::watermark::{self, Detection, FrameStack, Key};

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

/// Detection in a video file: first from its key frames, then from frames spread over the
/// whole video (`settings.detect_frames` of each), each set stacked and decoded once. The two
/// decodes share a picture's budget of tag tests, so a video's false-positive bound is a
/// picture's (see `watermark`).
pub fn detect_in_video(
    path: &Path,
    settings: &VideoSettings,
    key: &Key,
) -> Result<Option<Detection>, VideoError> {
    let info = video::probe(path, &settings.limits())?;
    let mut any = false;
    for reader in [FrameReader::key_frames, FrameReader::sampled] {
        let mut stack = FrameStack::new();
        for frame in reader(path, &info, settings.detect_frames)? {
            stack.add(&frame?);
        }
        any |= stack.frames() > 0;
        if let Some(found) = stack.detect_with_list(key, VIDEO_LIST) {
            return Ok(Some(found));
        }
    }
    if any {
        Ok(None)
    } else {
        Err(VideoError::Unreadable)
    }
}

/// Detection in a file's bytes, whichever kind it is. A video is spooled to a temporary
/// file first: ffprobe must seek (an MP4's index is often at its end).
pub fn detect_in_bytes(
    bytes: &[u8],
    image_limits: &ImageLimits,
    video_settings: &VideoSettings,
    key: &Key,
) -> Result<Option<Detection>, InputError> {
    match Container::sniff(bytes) {
        Some(container) => {
            if bytes.len() as u64 > video_settings.max_bytes {
                return Err(VideoError::TooLarge(bytes.len() as u64, video_settings.max_bytes).into());
            }
            let mut file = container.temp_file().map_err(VideoError::Io)?;
            file.write_all(bytes).map_err(VideoError::Io)?;
            file.flush().map_err(VideoError::Io)?;
            Ok(detect_in_video(file.path(), video_settings, key)?)
        }
        None => {
            let (image, _) = image_io::decode(bytes, image_limits)?;
            Ok(watermark::detect(&image, key))
        }
    }
}
