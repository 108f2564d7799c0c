//! What a video is, from `ffprobe`'s JSON, checked against the limits.

use std::path::Path;
use std::process::Command;

use serde::Deserialize;

use super::{VideoError, VideoLimits};

/// The facts about a video that decoding and re-encoding must keep.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoInfo {
    pub width: u32,
    pub height: u32,
    /// Frames per second as a fraction, e.g. 30000/1001.
    pub frame_rate: (u32, u32),
    pub duration_secs: f64,
    pub codec: String,
    pub container: String,
    pub audio_codec: Option<String>,
    /// Colour metadata, passed on to the encoder when present.
    pub color_space: Option<String>,
    pub color_primaries: Option<String>,
    pub color_transfer: Option<String>,
    pub color_range: Option<String>,
}

#[derive(Deserialize)]
struct Probe {
    #[serde(default)]
    streams: Vec<Stream>,
    format: Option<Format>,
}

#[derive(Deserialize)]
struct Stream {
    codec_type: Option<String>,
    codec_name: Option<String>,
    width: Option<u32>,
    height: Option<u32>,
    avg_frame_rate: Option<String>,
    r_frame_rate: Option<String>,
    color_space: Option<String>,
    color_primaries: Option<String>,
    color_transfer: Option<String>,
    color_range: Option<String>,
    #[serde(default)]
    side_data_list: Vec<SideData>,
}

#[derive(Deserialize)]
struct SideData {
    rotation: Option<f64>,
}

#[derive(Deserialize)]
struct Format {
    format_name: Option<String>,
    duration: Option<String>,
}

fn rate(text: Option<&str>) -> Option<(u32, u32)> {
    let (num, den) = text?.split_once('/')?;
    let (num, den) = (num.parse().ok()?, den.parse().ok()?);
    (num > 0 && den > 0).then_some((num, den))
}

/// Probes `path` and checks it against `limits` (size first: nothing is read of a file too
/// large).
pub fn probe(path: &Path, limits: &VideoLimits) -> Result<VideoInfo, VideoError> {
    let bytes = std::fs::metadata(path)?.len();
    if bytes > limits.max_bytes {
        return Err(VideoError::TooLarge(bytes, limits.max_bytes));
    }
    let output = Command::new("ffprobe")
        .args(["-v", "error", "-print_format", "json", "-show_format", "-show_streams"])
        .arg(path)
        .output()
        .map_err(|e| VideoError::Tool(e.to_string()))?;
    if !output.status.success() {
        return Err(VideoError::Unreadable);
    }
    let probed: Probe = serde_json::from_slice(&output.stdout).map_err(|_| VideoError::Unreadable)?;
    let video = probed
        .streams
        .iter()
        .find(|s| s.codec_type.as_deref() == Some("video"))
        .ok_or(VideoError::Unreadable)?;
    let audio = probed.streams.iter().find(|s| s.codec_type.as_deref() == Some("audio"));
    let (mut width, mut height) = match (video.width, video.height) {
        (Some(w), Some(h)) if w > 0 && h > 0 => (w, h),
        _ => return Err(VideoError::Unreadable),
    };
    // Phone videos are often stored sideways with a display rotation; ffmpeg turns the
    // frames upright when decoding, so the frames are the other way round.
    let quarter_turns =
        video.side_data_list.iter().filter_map(|d| d.rotation).map(|r| (r / 90.0).round() as i64).next();
    if quarter_turns.is_some_and(|q| q.rem_euclid(2) == 1) {
        std::mem::swap(&mut width, &mut height);
    }
    if u64::from(width) * u64::from(height) > limits.max_pixels {
        return Err(VideoError::TooManyPixels(width, height, limits.max_pixels));
    }
    let format = probed.format.ok_or(VideoError::Unreadable)?;
    let duration_secs = format.duration.as_deref().and_then(|d| d.parse::<f64>().ok()).unwrap_or(0.0);
    if duration_secs > limits.max_duration_secs {
        return Err(VideoError::TooLong(duration_secs, limits.max_duration_secs));
    }
    let frame_rate = rate(video.avg_frame_rate.as_deref())
        .or_else(|| rate(video.r_frame_rate.as_deref()))
        .ok_or(VideoError::Unreadable)?;
    Ok(VideoInfo {
        width,
        height,
        frame_rate,
        duration_secs,
        codec: video.codec_name.clone().unwrap_or_default(),
        container: format.format_name.unwrap_or_default(),
        audio_codec: audio.and_then(|a| a.codec_name.clone()),
        color_space: video.color_space.clone(),
        color_primaries: video.color_primaries.clone(),
        color_transfer: video.color_transfer.clone(),
        color_range: video.color_range.clone(),
    })
}
