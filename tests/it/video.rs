//! Video input through ffmpeg: probing with limits, and frames streamed one at a time.
//! Clips are made in the test with ffmpeg's synthetic sources.

use std::path::{Path, PathBuf};
use std::process::Command;

use viewmark::media::video::{probe, FrameReader, VideoError, VideoLimits};

/// A moving test pattern with a sine tone: `seconds` long at 10 fps, `codec` libx264 or
/// libvpx-vp9.
fn clip(dir: &Path, name: &str, codec: &str, seconds: u32) -> PathBuf {
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

#[test]
fn a_clip_is_probed_and_streamed_frame_by_frame() {
    let dir = tempfile::tempdir().unwrap();
    for (name, codec, video, audio) in
        [("a.mp4", "libx264", "h264", "aac"), ("b.webm", "libvpx-vp9", "vp9", "opus")]
    {
        let path = clip(dir.path(), name, codec, 2);
        let info = probe(&path, &VideoLimits::default()).unwrap();
        assert_eq!((info.width, info.height), (320, 240), "{name}");
        assert_eq!(info.frame_rate, (10, 1), "{name}");
        assert!((info.duration_secs - 2.0).abs() < 0.2, "{name}: {}", info.duration_secs);
        assert_eq!(info.codec, video);
        assert_eq!(info.audio_codec.as_deref(), Some(audio));
        let frames: Vec<_> = FrameReader::open(&path, &info).unwrap().collect::<Result<_, _>>().unwrap();
        assert_eq!(frames.len(), 20, "{name}");
        assert!(frames.iter().all(|f| f.dimensions() == (320, 240)));
        assert_ne!(frames[0], frames[10], "the pattern moves");
    }
}

#[test]
fn limits_are_checked_before_decoding_and_junk_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = clip(dir.path(), "c.mp4", "libx264", 3);
    let limits = VideoLimits::default();
    let small = VideoLimits { max_pixels: 320 * 239, ..limits };
    assert!(matches!(probe(&path, &small), Err(VideoError::TooManyPixels(320, 240, _))));
    let short = VideoLimits { max_duration_secs: 1.0, ..limits };
    assert!(matches!(probe(&path, &short), Err(VideoError::TooLong(..))));
    let tiny = VideoLimits { max_bytes: 100, ..limits };
    assert!(matches!(probe(&path, &tiny), Err(VideoError::TooLarge(_, 100))));
    let junk = dir.path().join("junk.mp4");
    std::fs::write(&junk, b"not a video at all").unwrap();
    assert!(matches!(probe(&junk, &limits), Err(VideoError::Unreadable)));
    // Stopping early ends the decoder.
    let info = probe(&path, &limits).unwrap();
    let mut reader = FrameReader::open(&path, &info).unwrap();
    assert!(reader.next_frame().unwrap().is_some());
    drop(reader);
}
