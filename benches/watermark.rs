//! Embed and detect cost per megapixel at 1 MP and 4 MP, single thread, and at 1 MP for
//! strips of 4:1 and 16:1 (the detector's working plane is largest for them); detection of
//! a marked picture, of one cropped and re-encoded, of one stretched (found by the warped
//! search, after the square one fails), and of the unmarked picture.
//! Run: `cargo bench --bench watermark`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use image::imageops::FilterType;
use image::RgbImage;
use viewmark::simulator::attacks::Attack;
use viewmark::watermark::{detect, embed, Key};

fn photo(width: u32, height: u32) -> RgbImage {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/images/hubble_deep_field.jpg");
    let img = image::open(path).map(|i| i.to_rgb8()).unwrap_or_else(|_| RgbImage::new(64, 64));
    image::imageops::resize(&img, width, height, FilterType::CatmullRom)
}

fn bench(c: &mut Criterion) {
    let key = Key::from_bytes([3; 32]);
    let mut group = c.benchmark_group("watermark");
    group.sample_size(10);
    let sizes =
        [("1MP", 1024u32, 1024u32), ("4MP", 2048, 2048), ("1MP 4:1", 2048, 512), ("1MP 16:1", 4096, 256)];
    for (label, width, height) in sizes {
        let img = photo(width, height);
        group.throughput(Throughput::Elements(u64::from(width) * u64::from(height)));
        group.bench_with_input(BenchmarkId::new("embed", label), &img, |b, img| {
            b.iter(|| embed(img, &key, 42))
        });
        let marked = embed(&img, &key, 42);
        // A figure for a detection that fails would measure the wrong path.
        let attacked = Attack::Chain(vec![Attack::Crop { area: 0.5, cx: 0.3, cy: 0.6 }, Attack::Jpeg(75)])
            .apply(&marked);
        let stretched = Attack::Stretch { x: 1.3, y: 1.0 }.apply(&marked);
        for (what, input) in [("marked", &marked), ("attacked", &attacked), ("stretched", &stretched)] {
            if detect(input, &key).map(|d| d.payload) != Some(42) {
                panic!("{label} {what}: the mark is not detected");
            }
        }
        // The failure path: every alignment decoded in vain, the re-registration and the
        // warped search.
        if detect(&img, &key).is_some() {
            panic!("{label}: an unmarked picture is detected");
        }
        group.bench_with_input(BenchmarkId::new("detect unmarked", label), &img, |b, m| {
            b.iter(|| detect(m, &key))
        });
        group.bench_with_input(BenchmarkId::new("detect", label), &marked, |b, m| b.iter(|| detect(m, &key)));
        group.bench_with_input(BenchmarkId::new("detect after crop+jpeg", label), &attacked, |b, m| {
            b.iter(|| detect(m, &key))
        });
        group.bench_with_input(BenchmarkId::new("detect after stretch x1.3", label), &stretched, |b, m| {
            b.iter(|| detect(m, &key))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
