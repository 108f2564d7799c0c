//! Video through the system's `ffmpeg` and `ffprobe` programs, driven over pipes with raw
//! RGB frames. The programs rather than bindings to FFmpeg's libraries: no C toolchain or
//! version-matched `-dev` packages to build against, every codec the distribution ships
//! (H.264, VP9, AV1...), and a crash or a hostile file stays in a child process. Limits on
//! size, duration and resolution are checked from `ffprobe` before any frame is decoded.

mod deadline;
mod encode;
mod frames;
mod probe;
mod rewrite;

pub use deadline::Deadline;
pub use encode::{EncodeSettings, FrameWriter};
pub use frames::FrameReader;
pub use probe::{probe, VideoInfo};
pub use rewrite::rewrite_frames;

use crate::watermark::LumaRange;

/// How raw frames travel through the pipes to and from `ffmpeg`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PixelLayout {
    /// Packed 8-bit RGB, converted from and to the video's YUV with its own matrix and range.
    Rgb,
    /// The video's own 8-bit 4:2:0 planes (luma, then the two chroma planes), untouched:
    /// `pixel_format` is ffmpeg's name for them.
    Yuv420 { pixel_format: &'static str, range: LumaRange },
}

impl PixelLayout {
    /// The layout a rewrite of this video uses: its own planes when they are 8-bit 4:2:0
    /// (nearly every H.264 and VP9 video), so nothing is converted; RGB otherwise.
    pub fn for_rewrite(info: &VideoInfo) -> PixelLayout {
        let full = info.color_range.as_deref() == Some("pc");
        match info.pixel_format.as_deref() {
            Some("yuv420p") => PixelLayout::Yuv420 {
                pixel_format: "yuv420p",
                range: if full { LumaRange::Full } else { LumaRange::Limited },
            },
            Some("yuvj420p") => PixelLayout::Yuv420 { pixel_format: "yuvj420p", range: LumaRange::Full },
            _ => PixelLayout::Rgb,
        }
    }

    /// ffmpeg's name for the layout.
    pub fn pixel_format(self) -> &'static str {
        match self {
            PixelLayout::Rgb => "rgb24",
            PixelLayout::Yuv420 { pixel_format, .. } => pixel_format,
        }
    }

    /// Bytes in one frame of `width` x `height`.
    pub fn frame_bytes(self, width: u32, height: u32) -> usize {
        let (w, h) = (width as usize, height as usize);
        match self {
            PixelLayout::Rgb => w * h * 3,
            PixelLayout::Yuv420 { .. } => w * h + 2 * w.div_ceil(2) * h.div_ceil(2),
        }
    }
}

/// The containers viewmark reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Container {
    Mp4,
    Mov,
    WebM,
}

impl Container {
    /// The container a file's first bytes announce (`None`: not a video viewmark takes).
    pub fn sniff(bytes: &[u8]) -> Option<Container> {
        if bytes.len() >= 12 && &bytes[4..8] == b"ftyp" {
            // QuickTime's own brand; every other ISO brand is read as MP4.
            return Some(if &bytes[8..12] == b"qt  " { Container::Mov } else { Container::Mp4 });
        }
        (bytes.len() >= 4 && bytes[..4] == [0x1A, 0x45, 0xDF, 0xA3]).then_some(Container::WebM)
    }

    /// The container a file name's extension names.
    pub fn of_path(path: &std::path::Path) -> Option<Container> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "mp4" | "m4v" => Some(Container::Mp4),
            "mov" => Some(Container::Mov),
            "webm" => Some(Container::WebM),
            _ => None,
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Container::Mp4 => "mp4",
            Container::Mov => "mov",
            Container::WebM => "webm",
        }
    }

    /// ffmpeg's muxer name.
    pub fn muxer(self) -> &'static str {
        self.extension()
    }

    /// A new temporary file in `dir` (the system's temporary directory if `None`), named
    /// with this container's extension (ffmpeg picks the muxer from it); deleted when dropped.
    pub fn temp_file(self, dir: Option<&std::path::Path>) -> std::io::Result<tempfile::NamedTempFile> {
        let mut builder = tempfile::Builder::new();
        let suffix = format!(".{}", self.extension());
        builder.suffix(&suffix);
        match dir {
            Some(dir) => builder.tempfile_in(dir),
            None => builder.tempfile(),
        }
    }

    pub fn mime_type(self) -> &'static str {
        match self {
            Container::Mp4 => "video/mp4",
            Container::Mov => "video/quicktime",
            Container::WebM => "video/webm",
        }
    }
}

/// The `scale` filter converting between the video's YUV and RGB with the video's own
/// matrix and range (`side` is "in" when decoding, "out" when encoding), so a round trip
/// through RGB keeps the colours.
fn colour_filter(info: &VideoInfo, side: &str) -> String {
    let matrix = match info.color_space.as_deref() {
        Some("bt709") => Some("bt709"),
        Some("bt2020nc") | Some("bt2020c") => Some("bt2020"),
        Some("smpte170m") | Some("bt470bg") => Some("bt601"),
        Some("smpte240m") => Some("smpte240m"),
        Some("fcc") => Some("fcc"),
        _ => None,
    };
    let range = match info.color_range.as_deref() {
        Some("tv") => Some("tv"),
        Some("pc") => Some("pc"),
        _ => None,
    };
    let mut options = Vec::new();
    if let Some(matrix) = matrix {
        options.push(format!("{side}_color_matrix={matrix}"));
    }
    if let Some(range) = range {
        options.push(format!("{side}_range={range}"));
    }
    if options.is_empty() {
        "scale".to_owned()
    } else {
        format!("scale={}", options.join(":"))
    }
}

/// Video settings: limits on inputs, encoder quality, and how many frames detection reads.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct VideoSettings {
    /// Largest video file accepted (uploads and fetched media).
    pub max_bytes: u64,
    pub max_duration_secs: f64,
    /// Largest frame, in pixels.
    pub max_pixels: u64,
    /// Highest frame rate accepted, frames per second.
    pub max_frame_rate: f64,
    /// Most frames accepted (the duration times the frame rate, or the frames counted).
    pub max_frames: u64,
    /// How long `ffprobe` may take to describe a file.
    pub probe_timeout_secs: u64,
    /// How long one piece of video work (marking a video, or looking for a mark in one) may
    /// take before its `ffmpeg` children are killed and it fails.
    pub max_processing_secs: u64,
    /// Temporary space all video uploads in progress may hold at once: an upload that would
    /// take more waits for none, it is refused (503, retry later).
    pub max_spool_bytes: u64,
    /// Where uploads and outputs are spooled (the system's temporary directory if unset).
    pub spool_dir: Option<std::path::PathBuf>,
    /// x264's constant rate factor for MP4 and MOV outputs (18: visually lossless).
    pub h264_crf: u8,
    /// x264's speed preset. `superfast` keeps a 1080p video's marking in real time on two
    /// cores; at CRF 18 the mark and the picture survive it as they do slower presets, in a
    /// larger file (docs/watermark.md, "Video").
    pub h264_preset: String,
    /// libvpx-vp9's constant quality for WebM outputs.
    pub vp9_crf: u8,
    /// Frames read, spread over the video, when looking for a mark in one.
    pub detect_frames: usize,
    /// The mark's strength in frames relative to pictures. A frame is seen for a
    /// fraction of a second, under motion, and platforms re-encode videos far harder than
    /// pictures (docs/watermark.md, "Video").
    pub strength: f32,
}

impl Default for VideoSettings {
    fn default() -> Self {
        let limits = VideoLimits::default();
        let encode = EncodeSettings::default();
        VideoSettings {
            max_bytes: limits.max_bytes,
            max_duration_secs: limits.max_duration_secs,
            max_pixels: limits.max_pixels,
            max_frame_rate: limits.max_frame_rate,
            max_frames: limits.max_frames,
            probe_timeout_secs: limits.probe_timeout.as_secs(),
            max_processing_secs: 1800,
            max_spool_bytes: 2 << 30,
            spool_dir: None,
            h264_crf: encode.h264_crf,
            h264_preset: encode.h264_preset,
            vp9_crf: encode.vp9_crf,
            detect_frames: 12,
            strength: 1.5,
        }
    }
}

impl VideoSettings {
    /// A new spool file for a video in `container`, in `spool_dir`.
    pub fn spool_file(&self, container: Container) -> std::io::Result<tempfile::NamedTempFile> {
        container.temp_file(self.spool_dir.as_deref())
    }

    pub fn limits(&self) -> VideoLimits {
        VideoLimits {
            max_bytes: self.max_bytes,
            max_duration_secs: self.max_duration_secs,
            max_pixels: self.max_pixels,
            max_frame_rate: self.max_frame_rate,
            max_frames: self.max_frames,
            probe_timeout: std::time::Duration::from_secs(self.probe_timeout_secs.max(1)),
        }
    }

    /// A deadline for one piece of video work.
    pub fn deadline(&self) -> Deadline {
        Deadline::after(std::time::Duration::from_secs(self.max_processing_secs.max(1)))
    }

    pub fn encode(&self) -> EncodeSettings {
        EncodeSettings {
            h264_crf: self.h264_crf,
            h264_preset: self.h264_preset.clone(),
            vp9_crf: self.vp9_crf,
        }
    }
}

/// Hard limits on a video input.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VideoLimits {
    pub max_bytes: u64,
    pub max_duration_secs: f64,
    /// Largest frame, in pixels.
    pub max_pixels: u64,
    pub max_frame_rate: f64,
    pub max_frames: u64,
    pub probe_timeout: std::time::Duration,
}

impl Default for VideoLimits {
    fn default() -> Self {
        VideoLimits {
            max_bytes: 512 * 1024 * 1024,
            max_duration_secs: 600.0,
            max_pixels: 3840 * 2160,
            max_frame_rate: 120.0,
            max_frames: 600 * 60,
            probe_timeout: std::time::Duration::from_secs(30),
        }
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
    #[error("{0:.1} frames per second, over the limit of {1:.1}")]
    TooFast(f64, f64),
    #[error("{0} frames, over the limit of {1}")]
    TooManyFrames(u64, u64),
    #[error("the video took longer than allowed to process")]
    TimedOut,
    #[error("the request went away")]
    Cancelled,
    #[error("frames of {0}x{1} are over the limit of {2} pixels")]
    TooManyPixels(u32, u32, u64),
    #[error("frames of {0}x{1}: the encoder needs an even width and height")]
    OddSize(u32, u32),
    #[error("the output must be .mp4, .mov or .webm")]
    UnsupportedContainer,
    #[error("encoding failed: {0}")]
    Encode(String),
    #[error("reading frames failed: {0}")]
    Io(#[from] std::io::Error),
}
