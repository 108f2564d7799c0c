//! Video clips made by ffmpeg for the tests.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A moving test pattern with a sine tone: `seconds` long at 10 fps, `codec` libx264 or
/// libvpx-vp9.
pub fn clip(dir: &Path, name: &str, codec: &str, seconds: u32) -> PathBuf {
    let path = dir.join(name);
    let audio = if codec == "libx264" { "aac" } else { "libopus" };
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg(format!("testsrc2=size=320x240:rate=10:duration={seconds}"))
        .args(["-f", "lavfi", "-i"])
        .arg(format!("sine=frequency=440:duration={seconds}"))
        .args(["-c:v", codec, "-pix_fmt", "yuv420p", "-c:a", audio, "-shortest"])
        .arg(&path)
        .status()
        .expect("ffmpeg runs");
    assert!(status.success(), "ffmpeg made {name}");
    path
}

/// A 1280x720 clip panning across a fixture photo (`pan` pixels a second; 0 for a still
/// shot), 24 fps, with a tone: what a generated clip looks like to the encoder.
pub fn photo_clip(dir: &Path, name: &str, photo: &str, pan: u32, seconds: u32) -> PathBuf {
    let path = dir.join(name);
    let source = format!("{}/fixtures/images/{photo}", env!("CARGO_MANIFEST_DIR"));
    let webm = name.ends_with(".webm");
    let (video, audio) = if webm { ("libvpx-vp9", "libopus") } else { ("libx264", "aac") };
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-loop", "1", "-framerate", "24", "-i", &source])
        .args(["-f", "lavfi", "-i", &format!("sine=frequency=330:duration={seconds}")])
        .args(["-vf", &format!("scale=1920:1080:force_original_aspect_ratio=increase,crop=1280:720:x='min({pan}*t,iw-1280)':y='(ih-720)/2',format=yuv420p")])
        .args(["-t", &seconds.to_string(), "-c:v", video, "-c:a", audio])
        .args(if webm { &["-deadline", "realtime", "-cpu-used", "8", "-b:v", "2M"][..] } else { &["-crf", "16"][..] })
        .arg(&path)
        .status()
        .expect("ffmpeg runs");
    assert!(status.success(), "ffmpeg made {name}");
    path
}
