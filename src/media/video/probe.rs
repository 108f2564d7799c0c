//! What a video is, from `ffprobe`'s JSON, checked against the limits: bytes, frame size,
//! duration (counted from the packets when the container states none, as a WebM written
//! live does), frame rate and frame count. `ffprobe` runs under a timeout.

use std::path::Path;
use std::process::Command;

use serde::Deserialize;

use super::deadline::output_within;
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
    /// The decoder's pixel format, e.g. `yuv420p`.
    pub pixel_format: Option<String>,
    /// The most frames decoding may give (the limit): a container lying about its length
    /// is cut there, and marking it fails.
    pub frame_cap: u64,
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
    pix_fmt: Option<String>,
    #[serde(default)]
    side_data_list: Vec<SideData>,
    nb_read_packets: Option<String>,
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
    let mut command = Command::new("ffprobe");
    command.args(["-v", "error", "-print_format", "json", "-show_format", "-show_streams"]).arg(path);
    let output = output_within(&mut command, limits.probe_timeout)?;
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
    let frame_rate = rate(video.avg_frame_rate.as_deref())
        .or_else(|| rate(video.r_frame_rate.as_deref()))
        .ok_or(VideoError::Unreadable)?;
    let fps = f64::from(frame_rate.0) / f64::from(frame_rate.1);
    if fps > limits.max_frame_rate {
        return Err(VideoError::TooFast(fps, limits.max_frame_rate));
    }
    let stated = format.duration.as_deref().and_then(|d| d.parse::<f64>().ok()).filter(|d| *d > 0.0);
    // No duration stated (or a nonsense one): the packets are counted instead.
    let duration_secs = match stated {
        Some(duration) => duration,
        None => count_packets(path, limits)? as f64 / fps,
    };
    if duration_secs > limits.max_duration_secs {
        return Err(VideoError::TooLong(duration_secs, limits.max_duration_secs));
    }
    let frames = (duration_secs * fps).ceil() as u64;
    if frames > limits.max_frames {
        return Err(VideoError::TooManyFrames(frames, limits.max_frames));
    }
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
        pixel_format: video.pix_fmt.clone(),
        frame_cap: limits.max_frames,
    })
}

/// The video stream's packets, counted by reading the whole file (demuxing only).
fn count_packets(path: &Path, limits: &VideoLimits) -> Result<u64, VideoError> {
    let mut command = Command::new("ffprobe");
    command
        .args(["-v", "error", "-select_streams", "v:0", "-count_packets"])
        .args(["-show_entries", "stream=nb_read_packets", "-print_format", "json"])
        .arg(path);
    let output = output_within(&mut command, limits.probe_timeout)?;
    if !output.status.success() {
        return Err(VideoError::Unreadable);
    }
    let probed: Probe = serde_json::from_slice(&output.stdout).map_err(|_| VideoError::Unreadable)?;
    probed
        .streams
        .first()
        .and_then(|s| s.nb_read_packets.as_deref())
        .and_then(|n| n.parse().ok())
        .ok_or(VideoError::Unreadable)
}
