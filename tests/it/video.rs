//! Video input through ffmpeg: probing with limits, and frames streamed one at a time.
//! Clips are made in the test with ffmpeg's synthetic sources.

use std::path::{Path, PathBuf};
use std::process::Command;

use viewmark::media::recognize::detect_in_video;
use viewmark::media::video::{probe, FrameReader, PixelLayout, VideoError, VideoLimits, VideoSettings};
use viewmark::simulator::attacks;
use viewmark::watermark::{self, Key, LumaRange};

use crate::support::clips::{clip, photo_clip};
use crate::support::marked::key;

#[test]
#[cfg_attr(not(viewmark_test_ffmpeg), ignore = "needs ffmpeg and ffprobe on the PATH (CI installs them)")]
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
        // One key frame in these clips (the encoders' default interval is longer): every
        // frame the key-frame reader gives is the first frame, for VP9 as for H.264.
        let keys: Vec<_> =
            FrameReader::key_frames(&path, &info, 6).unwrap().collect::<Result<_, _>>().unwrap();
        assert!(!keys.is_empty() && keys.iter().all(|k| *k == frames[0]), "{name}: key frames only");
    }
}

#[test]
#[cfg_attr(not(viewmark_test_ffmpeg), ignore = "needs ffmpeg and ffprobe on the PATH (CI installs them)")]
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

/// A WebM written to a pipe, as a live recorder writes it: the container states no duration.
/// Its length is measured (from its packets) and held to the limit all the same; so are the
/// frame rate and the frame count.
#[test]
#[cfg_attr(not(viewmark_test_ffmpeg), ignore = "needs ffmpeg and ffprobe on the PATH (CI installs them)")]
fn a_video_without_a_stated_duration_is_measured_and_every_cap_holds() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("live.webm");
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=10:duration=4"])
        .args(["-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-f", "webm", "-"])
        .output()
        .expect("ffmpeg runs");
    assert!(out.status.success());
    std::fs::write(&live, &out.stdout).unwrap();
    let stated = Command::new("ffprobe")
        .args(["-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0"])
        .arg(&live)
        .output()
        .unwrap();
    let stated = String::from_utf8_lossy(&stated.stdout).trim().to_owned();
    assert!(stated.is_empty() || stated == "N/A", "the container states {stated}: not the case tested");
    let limits = VideoLimits::default();
    let info = probe(&live, &limits).unwrap();
    assert!((info.duration_secs - 4.0).abs() < 0.5, "measured {}", info.duration_secs);
    let short = VideoLimits { max_duration_secs: 2.0, ..limits };
    assert!(matches!(probe(&live, &short), Err(VideoError::TooLong(..))), "passed as 0 s");
    let slow_only = VideoLimits { max_frame_rate: 5.0, ..limits };
    assert!(matches!(probe(&live, &slow_only), Err(VideoError::TooFast(..))));
    let few = VideoLimits { max_frames: 20, ..limits };
    assert!(matches!(probe(&live, &few), Err(VideoError::TooManyFrames(40, 20))));
}

/// Video work runs under a deadline: marking a clip that takes longer stops with `TimedOut`
/// at once, and its ffmpeg children are gone.
#[test]
#[cfg_attr(not(viewmark_test_ffmpeg), ignore = "needs ffmpeg and ffprobe on the PATH (CI installs them)")]
fn video_work_past_its_deadline_stops() {
    let dir = tempfile::tempdir().unwrap();
    let input = photo_clip(dir.path(), "in.mp4", "rocket.jpg", 40, 3);
    let output = dir.path().join("out.mp4");
    let settings = VideoSettings { max_processing_secs: 1, ..VideoSettings::default() };
    let deadline = viewmark::media::video::Deadline::after(std::time::Duration::from_millis(300));
    let started = std::time::Instant::now();
    let marked =
        deadline.scope(|| viewmark::media::enroll::mark_video(&input, &output, &settings, &key(), 7));
    assert!(matches!(marked, Err(VideoError::TimedOut)), "{marked:?}");
    assert!(started.elapsed() < std::time::Duration::from_secs(10), "{:?}", started.elapsed());
}

fn run_ffmpeg(args: &[&str]) {
    let status = Command::new("ffmpeg").args(["-v", "error", "-y"]).args(args).status().expect("ffmpeg runs");
    assert!(status.success(), "ffmpeg {args:?}");
}

/// The MD5 of a file's audio packets as they are stored (no decoding).
fn audio_md5(path: &Path) -> String {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(path)
        .args(["-map", "0:a:0", "-c", "copy", "-f", "md5", "-"])
        .output()
        .expect("ffmpeg runs");
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

fn frames(path: &Path) -> Vec<image::RgbImage> {
    let info = probe(path, &VideoLimits::default()).unwrap();
    FrameReader::open(path, &info).unwrap().collect::<Result<_, _>>().unwrap()
}

const PAYLOAD: u64 = 0x0123_4567_89ab_cdef;

fn mark(input: &Path, output: &Path) -> viewmark::media::enroll::MarkedVideo {
    viewmark::media::enroll::mark_video(input, output, &VideoSettings::default(), &key(), PAYLOAD).unwrap()
}

#[test]
#[cfg_attr(not(viewmark_test_ffmpeg), ignore = "needs ffmpeg and ffprobe on the PATH (CI installs them)")]
fn a_marked_video_keeps_size_rate_container_and_audio_bit_for_bit() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["pan.mp4", "pan.webm"] {
        let input = photo_clip(dir.path(), name, "motorcycle_left.png", 120, 2);
        let output = dir.path().join(format!("marked-{name}"));
        let marked = mark(&input, &output);
        let (before, after) = (
            probe(&input, &VideoLimits::default()).unwrap(),
            probe(&output, &VideoLimits::default()).unwrap(),
        );
        assert_eq!((after.width, after.height, after.frame_rate), (1280, 720, (24, 1)), "{name}");
        assert_eq!(marked.frames, 48, "{name}");
        assert_eq!(after.container, before.container, "{name}");
        assert_eq!(after.codec, if name.ends_with("mp4") { "h264" } else { "vp9" });
        assert_eq!(after.audio_codec, before.audio_codec);
        assert_eq!(audio_md5(&output), audio_md5(&input), "{name}: audio copied as it was");
        assert!((after.duration_secs - before.duration_secs).abs() < 0.1, "{name}");
        // Visually unchanged: PSNR of every frame against the original's.
        let (a, b) = (frames(&input), frames(&output));
        assert_eq!(a.len(), b.len());
        let worst = a.iter().zip(&b).map(|(x, y)| psnr(x, y)).fold(f64::INFINITY, f64::min);
        // The marked frame's luma change is 3.4 grey levels RMS (1.5 times a picture's 2.25);
        // the encoder quantises away the slight counter-tint the embedder spreads it with, so
        // frames come out near 36 dB (35.9 measured on the pan). A mark twice a picture's
        // strength, 3.9 grey levels of luma, is where texture risked showing on still shots.
        assert!(worst > 35.5, "{name}: worst frame PSNR {worst:.1} dB");
        assert_eq!(
            detect_in_video(&output, &VideoSettings::default(), &key())
                .unwrap()
                .first()
                .map(|d| d.detection.payload),
            Some(PAYLOAD)
        );
    }
}

fn psnr(a: &image::RgbImage, b: &image::RgbImage) -> f64 {
    let mse =
        a.as_raw().iter().zip(b.as_raw()).map(|(x, y)| (f64::from(*x) - f64::from(*y)).powi(2)).sum::<f64>()
            / a.as_raw().len() as f64;
    10.0 * (255.0f64 * 255.0 / mse.max(1e-9)).log10()
}

#[test]
#[cfg_attr(not(viewmark_test_ffmpeg), ignore = "needs ffmpeg and ffprobe on the PATH (CI installs them)")]
fn the_mark_survives_a_frame_a_low_bitrate_vertical_crop_and_a_cover() {
    let dir = tempfile::tempdir().unwrap();
    let input = photo_clip(dir.path(), "clip.mp4", "hubble_deep_field.jpg", 100, 2);
    let marked = dir.path().join("marked.mp4");
    mark(&input, &marked);
    let key = key();

    // One frame, scaled to 720 pixels wide and saved as JPEG 75 (a thumbnail).
    let frame = frames(&marked).swap_remove(20);
    let small = image::imageops::resize(&frame, 720, 405, image::imageops::FilterType::Triangle);
    let thumbnail = attacks::jpeg(&small, 75);
    assert_eq!(watermark::detect(&thumbnail, &key).map(|d| d.payload), Some(PAYLOAD), "thumbnail");

    // Re-encoded at a low bitrate and cropped to 9:16 (a vertical re-post), and a
    // platform's cover: the first frame cropped 9:16, resized to 540x960, JPEG 70.
    let vertical = reencode(&marked, dir.path(), "crop=404:720", "500k");
    let info = probe(&vertical, &VideoLimits::default()).unwrap();
    assert_eq!((info.width, info.height), (404, 720));
    let found = detect_in_video(&vertical, &VideoSettings::default(), &key).unwrap();
    assert_eq!(found.first().map(|d| d.detection.payload), Some(PAYLOAD), "vertical re-post at 500 kbit/s");
    let first = frames(&vertical).swap_remove(0);
    let cover = image::imageops::resize(&first, 540, 960, image::imageops::FilterType::CatmullRom);
    assert_eq!(
        watermark::detect(&attacks::jpeg(&cover, 70), &key).map(|d| d.payload),
        Some(PAYLOAD),
        "cover"
    );

    // Another clip, re-posted as a vertical 720x1280 video at 1.5 Mbit/s.
    let input = photo_clip(dir.path(), "clip2.mp4", "motorcycle_left.png", 100, 2);
    let marked = dir.path().join("marked2.mp4");
    mark(&input, &marked);
    let vertical = reencode(&marked, dir.path(), "crop=404:720,scale=720:1280", "1500k");
    let found = detect_in_video(&vertical, &VideoSettings::default(), &key).unwrap();
    assert_eq!(found.first().map(|d| d.detection.payload), Some(PAYLOAD), "vertical 720x1280 re-post");
}

/// `input` re-encoded with H.264 at `bitrate` after the filter `vf`, as a platform would.
fn reencode(input: &Path, dir: &Path, vf: &str, bitrate: &str) -> PathBuf {
    let output = dir.join(format!("reencoded-{bitrate}.mp4"));
    run_ffmpeg(&[
        "-i",
        input.to_str().unwrap(),
        "-vf",
        vf,
        "-c:v",
        "libx264",
        "-b:v",
        bitrate,
        "-c:a",
        "copy",
        output.to_str().unwrap(),
    ]);
    output
}

#[test]
#[cfg_attr(not(viewmark_test_ffmpeg), ignore = "needs ffmpeg and ffprobe on the PATH (CI installs them)")]
fn unmarked_clips_and_other_keys_detect_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let settings = VideoSettings::default();
    for (i, photo) in ["astronaut.png", "coffee.png", "retina.jpg"].iter().enumerate() {
        let clip = photo_clip(dir.path(), &format!("plain{i}.mp4"), photo, 80 * i as u32, 1);
        assert_eq!(
            detect_in_video(&clip, &settings, &key()).unwrap().first().map(|f| f.detection),
            None,
            "{photo}"
        );
        for frame in frames(&clip).iter().step_by(6) {
            assert_eq!(watermark::detect(frame, &key()), None, "{photo}: a frame");
        }
    }
    let marked = dir.path().join("marked.mp4");
    mark(&photo_clip(dir.path(), "m.mp4", "chelsea.png", 50, 1), &marked);
    let other = Key::from_bytes([7; 32]);
    assert_eq!(
        detect_in_video(&marked, &settings, &other).unwrap().first().map(|f| f.detection),
        None,
        "another key"
    );
}

#[test]
#[cfg_attr(not(viewmark_test_ffmpeg), ignore = "needs ffmpeg and ffprobe on the PATH (CI installs them)")]
fn the_mark_stays_put_from_frame_to_frame() {
    // A still shot: any change between marked frames beyond the original's own is flicker.
    let dir = tempfile::tempdir().unwrap();
    let input = photo_clip(dir.path(), "still.mp4", "coffee.png", 0, 1);
    let marked = dir.path().join("marked.mp4");
    mark(&input, &marked);
    let (original, marked) = (frames(&input), frames(&marked));
    let delta = |i: usize| -> Vec<f32> {
        original[i]
            .as_raw()
            .iter()
            .zip(marked[i].as_raw())
            .map(|(o, m)| f32::from(*m) - f32::from(*o))
            .collect()
    };
    let correlation = |a: &[f32], b: &[f32]| {
        let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
        let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
        dot / (norm(a) * norm(b))
    };
    let first = delta(2);
    for i in [6, 12, 23] {
        let c = correlation(&first, &delta(i));
        assert!(c > 0.8, "frame {i}: the mark's correlation with frame 2's is {c:.2}");
    }
}

#[test]
#[cfg_attr(not(viewmark_test_ffmpeg), ignore = "needs ffmpeg and ffprobe on the PATH (CI installs them)")]
fn the_cli_marks_and_detects_videos() {
    use crate::support::cli::detect;
    let dir = tempfile::tempdir().unwrap();
    let input = photo_clip(dir.path(), "clip.mov", "rocket.jpg", 60, 1);
    let key_file = dir.path().join("k.key");
    std::fs::write(&key_file, "cd".repeat(32)).unwrap();
    let output = dir.path().join("marked.mov");
    let embed = crate::support::cli::viewmark()
        .args(["embed", "--input"])
        .arg(&input)
        .arg("--output")
        .arg(&output)
        .args(["--payload", "00c0ffee12345678", "--key-file"])
        .arg(&key_file)
        .output()
        .unwrap();
    assert!(embed.status.success(), "{}", String::from_utf8_lossy(&embed.stderr));
    let info = probe(&output, &VideoLimits::default()).unwrap();
    assert_eq!((info.width, info.height, info.codec.as_str()), (1280, 720, "h264"));
    assert_eq!(detect(&output, &key_file)["payload"], "00c0ffee12345678");
    assert_eq!(detect(&input, &key_file)["payload"], serde_json::Value::Null);
    // A video cannot be written as a picture.
    let bad = crate::support::cli::viewmark()
        .args(["embed", "--input"])
        .arg(&input)
        .args(["--output", "x.png", "--payload", "00c0ffee12345678", "--key-file"])
        .arg(&key_file)
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains(".mp4, .mov or .webm"));
}

#[test]
#[cfg_attr(not(viewmark_test_ffmpeg), ignore = "needs ffmpeg and ffprobe on the PATH (CI installs them)")]
fn av1_input_is_marked_into_h264_in_the_same_container() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("av1.mp4");
    let source = format!("{}/fixtures/images/rocket.jpg", env!("CARGO_MANIFEST_DIR"));
    run_ffmpeg(&[
        "-loop",
        "1",
        "-framerate",
        "24",
        "-i",
        &source,
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=330:duration=1",
        "-vf",
        "scale=960:540,format=yuv420p",
        "-t",
        "1",
        "-c:v",
        "libsvtav1",
        "-preset",
        "12",
        "-c:a",
        "aac",
        input.to_str().unwrap(),
    ]);
    assert_eq!(probe(&input, &VideoLimits::default()).unwrap().codec, "av1");
    let output = dir.path().join("marked.mp4");
    mark(&input, &output);
    let info = probe(&output, &VideoLimits::default()).unwrap();
    assert_eq!((info.codec.as_str(), info.width, info.height), ("h264", 960, 540));
    assert_eq!(audio_md5(&output), audio_md5(&input));
    let found = detect_in_video(&output, &VideoSettings::default(), &key()).unwrap();
    assert_eq!(found.first().map(|d| d.detection.payload), Some(PAYLOAD));
}

/// Frames travel in the video's own 8-bit 4:2:0 planes when it has them, in limited or full
/// range, and through RGB otherwise (4:4:4, 10 bits): each way, the mark is read back and
/// the frames keep their colours (the average of each channel).
#[test]
#[cfg_attr(not(viewmark_test_ffmpeg), ignore = "needs ffmpeg and ffprobe on the PATH (CI installs them)")]
fn every_pixel_layout_is_marked_and_keeps_its_colours() {
    let dir = tempfile::tempdir().unwrap();
    let source = photo_clip(dir.path(), "source.mp4", "rocket.jpg", 40, 2);
    let settings = VideoSettings::default();
    for (name, pixel_format, planes) in [
        ("limited.mp4", "yuv420p", Some(LumaRange::Limited)),
        ("full.mp4", "yuvj420p", Some(LumaRange::Full)),
        ("444.mp4", "yuv444p", None),
        ("10bit.mp4", "yuv420p10le", None),
    ] {
        let input = dir.path().join(name);
        let status = Command::new("ffmpeg")
            .args(["-v", "error", "-y", "-i"])
            .arg(&source)
            .args(["-c:v", "libx264", "-crf", "16", "-pix_fmt", pixel_format, "-c:a", "copy"])
            .arg(&input)
            .status()
            .unwrap();
        assert!(status.success(), "ffmpeg made {name}");
        let info = probe(&input, &settings.limits()).unwrap();
        let layout = match PixelLayout::for_rewrite(&info) {
            PixelLayout::Yuv420 { range, .. } => Some(range),
            PixelLayout::Rgb => None,
        };
        assert_eq!(layout, planes, "{name}");
        let output = dir.path().join(format!("marked-{name}"));
        viewmark::media::enroll::mark_video(&input, &output, &settings, &key(), 0x1a2b_3c4d).unwrap();
        let found = detect_in_video(&output, &settings, &key()).unwrap();
        assert_eq!(found.first().map(|f| f.detection.payload), Some(0x1a2b_3c4d), "{name}");
        let first = |path: &Path| {
            let info = probe(path, &settings.limits()).unwrap();
            FrameReader::open(path, &info).unwrap().next_frame().unwrap().unwrap()
        };
        let (before, after) = (first(&input), first(&output));
        for channel in 0..3 {
            let mean = |image: &image::RgbImage| {
                image.pixels().map(|p| f64::from(p[channel])).sum::<f64>()
                    / f64::from(image.width() * image.height())
            };
            let shift = (mean(&after) - mean(&before)).abs();
            // Through RGB, the conversions there and back move colours a little; the
            // video's own planes keep them.
            let most = if planes.is_some() { 0.5 } else { 1.5 };
            assert!(shift < most, "{name}: channel {channel} moved by {shift:.2} grey levels on average");
        }
    }
}
