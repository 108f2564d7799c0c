//! Fixture images for the watermark tests and shared measurement helpers.

use image::imageops::FilterType;
use image::RgbImage;
use viewmark::watermark::Key;

pub const FIXTURES: [&str; 10] = [
    "astronaut.png",
    "camera.png",
    "chelsea.png",
    "coffee.png",
    "color.png",
    "hubble_deep_field.jpg",
    "ihc.png",
    "motorcycle_left.png",
    "retina.jpg",
    "rocket.jpg",
];

pub fn fixture(name: &str) -> RgbImage {
    let path = format!("{}/fixtures/images/{name}", env!("CARGO_MANIFEST_DIR"));
    image::open(path).unwrap().to_rgb8()
}

/// A fixture upscaled so its longer side is `long_side` (creator outputs are 1-2 k pixels).
pub fn upscaled(name: &str, long_side: u32) -> RgbImage {
    let img = fixture(name);
    let f = long_side as f32 / img.width().max(img.height()) as f32;
    let (w, h) = ((img.width() as f32 * f).round() as u32, (img.height() as f32 * f).round() as u32);
    image::imageops::resize(&img, w, h, FilterType::CatmullRom)
}

pub fn key() -> Key {
    Key::from_bytes(*b"viewmark test key: not a secret!")
}

/// The payload marked into the i-th image of the test set. `VIEWMARK_TEST_PAYLOAD_DRAW=n`
/// marks the set with another draw of payloads. Which pairs miss moves with the codeword:
/// where the picture outweighs the mark in a cell, the cell reads the picture's sign, and
/// whether that is an error depends on the word's bit there. A robustness figure is best read
/// over several draws (docs/watermark.md).
pub fn payload_for(i: usize) -> u64 {
    let draw: u64 =
        std::env::var("VIEWMARK_TEST_PAYLOAD_DRAW").ok().and_then(|v| v.parse().ok()).unwrap_or(0);
    0x9e37_79b9_7f4a_7c15u64.wrapping_mul(i as u64 + 1 + 100 * draw) ^ 0x0123_4567_89ab_cdef
}

pub fn psnr(a: &RgbImage, b: &RgbImage) -> f64 {
    let mse: f64 =
        a.as_raw().iter().zip(b.as_raw()).map(|(x, y)| (f64::from(*x) - f64::from(*y)).powi(2)).sum::<f64>()
            / a.as_raw().len() as f64;
    if mse == 0.0 {
        return f64::INFINITY;
    }
    10.0 * (255.0f64 * 255.0 / mse).log10()
}

/// Mean SSIM over 8x8 windows of luma (the usual constants for 8-bit images).
pub fn ssim(a: &RgbImage, b: &RgbImage) -> f64 {
    let luma = |img: &RgbImage| -> Vec<f64> {
        img.pixels()
            .map(|p| 0.299 * f64::from(p[0]) + 0.587 * f64::from(p[1]) + 0.114 * f64::from(p[2]))
            .collect()
    };
    let (la, lb) = (luma(a), luma(b));
    let (w, h) = (a.width() as usize, a.height() as usize);
    let (c1, c2) = ((0.01f64 * 255.0).powi(2), (0.03f64 * 255.0).powi(2));
    let mut total = 0.0;
    let mut windows = 0;
    for by in (0..h.saturating_sub(7)).step_by(4) {
        for bx in (0..w.saturating_sub(7)).step_by(4) {
            let (mut sa, mut sb, mut saa, mut sbb, mut sab) = (0.0, 0.0, 0.0, 0.0, 0.0);
            for y in by..by + 8 {
                for x in bx..bx + 8 {
                    let (va, vb) = (la[y * w + x], lb[y * w + x]);
                    sa += va;
                    sb += vb;
                    saa += va * va;
                    sbb += vb * vb;
                    sab += va * vb;
                }
            }
            let n = 64.0;
            let (ma, mb) = (sa / n, sb / n);
            let (va, vb, cov) = (saa / n - ma * ma, sbb / n - mb * mb, sab / n - ma * mb);
            total += ((2.0 * ma * mb + c1) * (2.0 * cov + c2)) / ((ma * ma + mb * mb + c1) * (va + vb + c2));
            windows += 1;
        }
    }
    total / windows as f64
}

/// One marked image: its label, the original, the marked version and the payload.
pub type Marked = (String, RgbImage, RgbImage, u64);

/// The marked test set: every fixture at native size and upscaled to a creator-sized 1536 px.
/// Built once per test run and shared by the tests that need it.
pub fn marked_set() -> &'static [Marked] {
    static SET: std::sync::OnceLock<Vec<Marked>> = std::sync::OnceLock::new();
    SET.get_or_init(build_marked_set)
}

fn build_marked_set() -> Vec<Marked> {
    let k = key();
    let mut set = Vec::new();
    for (i, name) in FIXTURES.iter().enumerate() {
        for (label, img) in
            [(name.to_string(), fixture(name)), (format!("{name}@1536"), upscaled(name, 1536))]
        {
            let payload = payload_for(set.len() + i);
            let marked = viewmark::watermark::embed(&img, &k, payload);
            set.push((label, img, marked, payload));
        }
    }
    set
}
