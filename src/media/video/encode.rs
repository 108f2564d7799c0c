//! Re-encoding a video with new pixels: frames go to an `ffmpeg` child raw (RGB, or the
//! video's own YUV planes), and the
//! original's audio, metadata, frame rate, size and colour tags are taken from the original
//! file by the same child.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{ChildStdin, Command, Stdio};

use super::deadline::Watched;
use super::{colour_filter, Container, PixelLayout, VideoError, VideoInfo};

/// Encoder quality. The defaults keep a video visually unchanged.
#[derive(Debug, Clone, PartialEq)]
pub struct EncodeSettings {
    /// x264's constant rate factor (lower is better; 18 is visually lossless).
    pub h264_crf: u8,
    /// x264's speed preset. `superfast` keeps a 1080p video's marking in real time on two
    /// cores; at CRF 18 the mark and the picture survive it as they do slower presets, in a
    /// larger file (docs/watermark.md, "Video").
    pub h264_preset: String,
    /// libvpx-vp9's constant quality, for WebM outputs.
    pub vp9_crf: u8,
}

impl Default for EncodeSettings {
    fn default() -> Self {
        EncodeSettings { h264_crf: 18, h264_preset: "ultrafast".into(), vp9_crf: 20 }
    }
}

/// Whether the output container can hold this audio codec as it is (copied bit for bit).
fn can_copy_audio(container: Container, codec: &str) -> bool {
    match container {
        Container::Mp4 => matches!(codec, "aac" | "mp3" | "alac" | "ac3" | "eac3" | "opus" | "flac"),
        Container::Mov => {
            matches!(codec, "aac" | "mp3" | "alac" | "ac3" | "eac3") || codec.starts_with("pcm_")
        }
        Container::WebM => matches!(codec, "opus" | "vorbis"),
    }
}

/// The encoder's arguments for a container: H.264 in MP4 and MOV, VP9 in WebM (the only
/// codecs those containers' players all expect).
fn codec_args(container: Container, settings: &EncodeSettings) -> Vec<String> {
    match container {
        Container::Mp4 | Container::Mov => vec![
            "-c:v".into(),
            "libx264".into(),
            "-preset".into(),
            settings.h264_preset.clone(),
            "-crf".into(),
            settings.h264_crf.to_string(),
            "-movflags".into(),
            "+faststart".into(),
        ],
        Container::WebM => vec![
            "-c:v".into(),
            "libvpx-vp9".into(),
            "-crf".into(),
            settings.vp9_crf.to_string(),
            "-b:v".into(),
            "0".into(),
            "-row-mt".into(),
            "1".into(),
            "-deadline".into(),
            "good".into(),
            "-cpu-used".into(),
            "4".into(),
        ],
    }
}

/// Colour tags copied onto the output, so players show the same colours.
fn colour_tags(info: &VideoInfo) -> Vec<String> {
    let mut args = Vec::new();
    for (flag, value) in [
        ("-color_primaries", &info.color_primaries),
        ("-color_trc", &info.color_transfer),
        ("-colorspace", &info.color_space),
        ("-color_range", &info.color_range),
    ] {
        if let Some(value) = value.as_deref().filter(|v| *v != "unknown") {
            args.extend([flag.to_owned(), value.to_owned()]);
        }
    }
    args
}

/// An `ffmpeg` child encoding raw frames written to it, muxed with the original's audio.
pub struct FrameWriter {
    child: Watched,
    stdin: Option<ChildStdin>,
    errors: Option<std::thread::JoinHandle<String>>,
    frame_bytes: usize,
}

impl FrameWriter {
    /// Starts encoding to `output` (its extension names the container) frames the size and
    /// rate of `original`, whose audio and metadata are carried over, given in `layout`.
    pub fn create(
        original: &Path,
        info: &VideoInfo,
        output: &Path,
        settings: &EncodeSettings,
        layout: PixelLayout,
    ) -> Result<FrameWriter, VideoError> {
        let container = Container::of_path(output).ok_or(VideoError::UnsupportedContainer)?;
        if info.width % 2 == 1 || info.height % 2 == 1 {
            return Err(VideoError::OddSize(info.width, info.height));
        }
        let audio_copy = info.audio_codec.as_deref().is_some_and(|c| can_copy_audio(container, c));
        let audio_args: &[&str] = match (info.audio_codec.is_some(), audio_copy, container) {
            (false, _, _) => &[],
            (true, true, _) => &["-c:a", "copy"],
            (true, false, Container::WebM) => &["-c:a", "libopus", "-b:a", "128k"],
            (true, false, _) => &["-c:a", "aac", "-b:a", "192k"],
        };
        let (num, den) = info.frame_rate;
        // A key frame every two seconds, as streaming encoders do: each carries the mark
        // exactly where it was put, whatever the motion.
        let gop = (2 * num).div_ceil(den.max(1)).max(1).to_string();
        // RGB goes back to YUV with the video's own matrix; its own planes need nothing.
        let conversion = match layout {
            PixelLayout::Rgb => format!("{},format=yuv420p", colour_filter(info, "out")),
            PixelLayout::Yuv420 { .. } => "null".to_owned(),
        };
        let mut child = Command::new("ffmpeg")
            .args(["-v", "error", "-nostdin", "-y", "-f", "rawvideo", "-pix_fmt", layout.pixel_format()])
            .args(["-s", &format!("{}x{}", info.width, info.height), "-framerate", &format!("{num}/{den}")])
            .args(["-i", "-", "-i"])
            .arg(original)
            .args(["-map", "0:v:0", "-map", "1:a:0?", "-map_metadata", "1"])
            .args(audio_args)
            .args(codec_args(container, settings))
            .args(["-g", &gop])
            .args(["-vf", &conversion])
            .args(colour_tags(info))
            .args(["-f", container.muxer()])
            .arg(output)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| VideoError::Tool(e.to_string()))?;
        let stdin = child.stdin.take();
        // Drained on its own thread so a chatty encoder can never block on a full pipe.
        let errors = child.stderr.take().map(|mut stderr| {
            std::thread::spawn(move || {
                let mut text = String::new();
                let _ = stderr.read_to_string(&mut text);
                text
            })
        });
        let frame_bytes = layout.frame_bytes(info.width, info.height);
        Ok(FrameWriter { child: Watched::new(child), stdin, errors, frame_bytes })
    }

    /// Writes one frame's bytes, in the layout the writer was created for.
    pub fn write(&mut self, frame: &[u8]) -> Result<(), VideoError> {
        if frame.len() != self.frame_bytes {
            return Err(VideoError::Encode("a frame of the wrong size".into()));
        }
        let stdin = self.stdin.as_mut().ok_or_else(|| VideoError::Encode("already finished".into()))?;
        match stdin.write_all(frame) {
            Ok(()) => Ok(()),
            // The encoder quit: its own message says why.
            Err(_) => Err(self.failure()),
        }
    }

    /// Ends the stream and waits for the file to be complete.
    pub fn finish(mut self) -> Result<(), VideoError> {
        drop(self.stdin.take());
        let status = self.child.wait()?;
        if let Some(stopped) = self.child.stopped() {
            return Err(stopped);
        }
        if status.success() {
            Ok(())
        } else {
            Err(self.failure())
        }
    }

    fn failure(&mut self) -> VideoError {
        drop(self.stdin.take());
        let _ = self.child.wait();
        if let Some(stopped) = self.child.stopped() {
            return stopped;
        }
        let message = self.errors.take().and_then(|h| h.join().ok()).unwrap_or_default();
        VideoError::Encode(message.lines().last().unwrap_or("the encoder failed").to_owned())
    }
}

impl Drop for FrameWriter {
    fn drop(&mut self) {
        if self.stdin.is_some() {
            // Abandoned mid-way (an error upstream): stop the encoder.
            self.child.kill();
        }
    }
}
