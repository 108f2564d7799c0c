//! Video marking at 1080p: frames per second end to end (decode, mark on every core,
//! H.264 encode) and per frame on one thread (a luma plane, as videos are marked, and an RGB
//! picture); detection time for a video.
//! Run: `cargo bench --bench video` (needs the `ffmpeg` program).

use std::path::{Path, PathBuf};
use std::process::Command;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use viewmark::media::enroll::mark_video;
use viewmark::media::recognize::detect_in_video;
use viewmark::media::video::{probe, FrameReader, PixelLayout, VideoSettings};
use viewmark::watermark::{Embedder, Key};

const SECONDS: u32 = 2;
const FPS: u32 = 30;

/// A 1920x1080 clip panning across a fixture photo, with a tone.
fn clip(dir: &Path) -> PathBuf {
    let path = dir.join("clip.mp4");
    let source = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/images/motorcycle_left.png");
    let filter = "scale=2880:-2,crop=1920:1080:x='min(150*t,iw-1920)':y='(ih-1080)/2',format=yuv420p";
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-loop", "1", "-framerate", &FPS.to_string(), "-i", source])
        .args(["-f", "lavfi", "-i", &format!("sine=frequency=330:duration={SECONDS}")])
        .args(["-vf", filter, "-t", &SECONDS.to_string(), "-c:v", "libx264", "-crf", "18", "-c:a", "aac"])
        .arg(&path)
        .status();
    assert!(status.is_ok_and(|s| s.success()), "ffmpeg made the clip");
    path
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("temporary directory: {e}"));
    let input = clip(dir.path());
    let output = dir.path().join("marked.mp4");
    let key = Key::from_bytes([3; 32]);
    let settings = VideoSettings::default();
    let info = probe(&input, &settings.limits()).unwrap_or_else(|e| panic!("probe: {e}"));
    let frames = u64::from(SECONDS * FPS);

    let mut group = c.benchmark_group("video 1080p");
    group.sample_size(10);
    group.throughput(Throughput::Elements(frames));
    group.bench_function(BenchmarkId::new("mark, end to end", "60 frames"), |b| {
        b.iter(|| mark_video(&input, &output, &settings, &key, 42).unwrap_or_else(|e| panic!("mark: {e}")))
    });

    let frame = FrameReader::open(&input, &info)
        .ok()
        .and_then(|mut r| r.next_frame().ok().flatten())
        .unwrap_or_else(|| panic!("a frame"));
    let embedder = Embedder::new(&key, 42, info.width, info.height);
    group.throughput(Throughput::Elements(1));
    group.bench_function(BenchmarkId::new("mark one frame, one thread", "1 frame"), |b| {
        b.iter(|| embedder.apply(&frame))
    });
    let layout = PixelLayout::for_rewrite(&info);
    let PixelLayout::Yuv420 { range, .. } = layout else { panic!("the clip is 8-bit 4:2:0") };
    let planes = FrameReader::open_as(&input, &info, layout)
        .ok()
        .and_then(|mut r| r.next_raw().ok().flatten())
        .unwrap_or_else(|| panic!("a frame"));
    let (width, height) = (info.width as usize, info.height as usize);
    group.bench_function(BenchmarkId::new("mark one frame's luma plane, one thread", "1 frame"), |b| {
        b.iter_batched_ref(
            || planes[..width * height].to_vec(),
            |luma| embedder.apply_to_luma(luma, width, height, range),
            criterion::BatchSize::LargeInput,
        )
    });

    mark_video(&input, &output, &settings, &key, 42).unwrap_or_else(|e| panic!("mark: {e}"));
    group.bench_function(BenchmarkId::new("detect in the marked video", "key frames"), |b| {
        b.iter(|| detect_in_video(&output, &settings, &key).unwrap_or_else(|e| panic!("detect: {e}")))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
