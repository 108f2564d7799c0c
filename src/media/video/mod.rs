//! Video through the system's `ffmpeg` and `ffprobe` programs, driven over pipes with raw
//! RGB frames. The programs rather than bindings to FFmpeg's libraries: no C toolchain or
//! version-matched `-dev` packages to build against, every codec the distribution ships
//! (H.264, VP9, AV1...), and a crash or a hostile file stays in a child process. Limits on
//! size, duration and resolution are checked from `ffprobe` before any frame is decoded.

mod frames;
mod probe;

pub use frames::FrameReader;
pub use probe::{probe, VideoInfo};

/// Hard limits on a video input.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VideoLimits {
    pub max_bytes: u64,
    pub max_duration_secs: f64,
    /// Largest frame, in pixels.
    pub max_pixels: u64,
}

impl Default for VideoLimits {
    fn default() -> Self {
        VideoLimits { max_bytes: 512 * 1024 * 1024, max_duration_secs: 600.0, max_pixels: 3840 * 2160 }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum VideoError {
    #[error("ffmpeg/ffprobe cannot be run: {0}")]
    Tool(String),
    #[error("not a video ffprobe can read")]
    Unreadable,
    #[error("video is {0} bytes, over the limit of {1}")]
    TooLarge(u64, u64),
    #[error("video lasts {0:.1} s, over the limit of {1:.1} s")]
    TooLong(f64, f64),
    #[error("frames of {0}x{1} are over the limit of {2} pixels")]
    TooManyPixels(u32, u32, u64),
    #[error("reading frames failed: {0}")]
    Io(#[from] std::io::Error),
}
