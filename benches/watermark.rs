//! Embed and detect cost per megapixel at 1 MP and 4 MP, single thread.
//! Run: `cargo bench --bench watermark`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use image::imageops::FilterType;
use image::RgbImage;
use viewmark::media::attacks::Attack;
use viewmark::watermark::{detect, embed, Key};

fn photo(side: u32) -> RgbImage {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/images/hubble_deep_field.jpg");
    let img = image::open(path).map(|i| i.to_rgb8()).unwrap_or_else(|_| RgbImage::new(64, 64));
    image::imageops::resize(&img, side, side, FilterType::CatmullRom)
}

fn bench(c: &mut Criterion) {
    let key = Key::from_bytes([3; 32]);
    let mut group = c.benchmark_group("watermark");
    group.sample_size(10);
    for (label, side) in [("1MP", 1024u32), ("4MP", 2048)] {
        let img = photo(side);
        group.throughput(Throughput::Elements(u64::from(side) * u64::from(side)));
        group.bench_with_input(BenchmarkId::new("embed", label), &img, |b, img| {
            b.iter(|| embed(img, &key, 42))
        });
        let marked = embed(&img, &key, 42);
        group.bench_with_input(BenchmarkId::new("detect", label), &marked, |b, m| b.iter(|| detect(m, &key)));
        let attacked = Attack::Chain(vec![Attack::Crop { area: 0.5, cx: 0.3, cy: 0.6 }, Attack::Jpeg(75)])
            .apply(&marked);
        group.bench_with_input(BenchmarkId::new("detect after crop+jpeg", label), &attacked, |b, m| {
            b.iter(|| detect(m, &key))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
