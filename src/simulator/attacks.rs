//! What social platforms (and people) do to an uploaded picture: re-encoding, resizing,
//! cropping, padding, rotation, colour changes, blur, noise, overlays, mirroring and
//! screenshots. Shared by the robustness suite, the benchmarks and the simulated platforms.

use image::imageops::{self, FilterType};
use image::{ImageFormat, Rgb, RgbImage};
use rand::{rngs::StdRng, Rng, SeedableRng};

#[derive(Debug, Clone, PartialEq)]
pub enum Attack {
    /// Re-encode as JPEG at this quality.
    Jpeg(u8),
    /// Resize by this factor (Lanczos, as platforms do).
    Scale(f32),
    /// Resize to this width, keeping the aspect ratio.
    ResizeToWidth(u32),
    /// Crop keeping this fraction of the area (same aspect), its centre at (cx, cy) as
    /// fractions of the free room (0.5, 0.5 is centred; 0, 0 the top-left corner).
    Crop {
        area: f32,
        cx: f32,
        cy: f32,
    },
    /// Centre crop to this aspect ratio (width : height).
    AspectCrop(u32, u32),
    /// Fit into a canvas of this size (letterboxed on black).
    PadInto(u32, u32),
    /// Rotate by this many degrees and crop to the largest inscribed rectangle of the
    /// original aspect.
    Rotate(f32),
    /// Multiply brightness (1.3 is +30 %).
    Brightness(f32),
    /// Scale contrast around mid-grey (0.7 is -30 %).
    Contrast(f32),
    /// Gaussian blur of this sigma.
    Blur(f32),
    /// Additive Gaussian noise of this sigma (grey levels), deterministic.
    Noise(f32),
    /// A caption bar and a sticker over about 10 % of the picture.
    Overlays,
    FlipHorizontal,
    /// A phone screenshot: scaled 0.8, status and navigation bars, JPEG 85.
    Screenshot,
    /// Several attacks in order.
    Chain(Vec<Attack>),
}

impl Attack {
    pub fn apply(&self, image: &RgbImage) -> RgbImage {
        match self {
            Attack::Jpeg(quality) => jpeg(image, *quality),
            Attack::Scale(f) => {
                let w = ((image.width() as f32 * f).round() as u32).max(1);
                let h = ((image.height() as f32 * f).round() as u32).max(1);
                imageops::resize(image, w, h, FilterType::Lanczos3)
            }
            Attack::ResizeToWidth(w) => {
                let h = ((image.height() as f32 * *w as f32 / image.width() as f32).round() as u32).max(1);
                imageops::resize(image, *w, h, FilterType::Lanczos3)
            }
            Attack::Crop { area, cx, cy } => {
                let side = area.sqrt();
                let w = ((image.width() as f32 * side).round() as u32).max(1);
                let h = ((image.height() as f32 * side).round() as u32).max(1);
                let x = ((image.width() - w) as f32 * cx).round() as u32;
                let y = ((image.height() - h) as f32 * cy).round() as u32;
                imageops::crop_imm(image, x, y, w, h).to_image()
            }
            Attack::AspectCrop(aw, ah) => {
                let (w, h) = (image.width(), image.height());
                let target = *aw as f32 / *ah as f32;
                let (cw, ch) = if w as f32 / h as f32 > target {
                    ((h as f32 * target).round() as u32, h)
                } else {
                    (w, (w as f32 / target).round() as u32)
                };
                imageops::crop_imm(image, (w - cw) / 2, (h - ch) / 2, cw, ch).to_image()
            }
            Attack::PadInto(cw, ch) => {
                let f = (*cw as f32 / image.width() as f32).min(*ch as f32 / image.height() as f32);
                let w = ((image.width() as f32 * f).round() as u32).clamp(1, *cw);
                let h = ((image.height() as f32 * f).round() as u32).clamp(1, *ch);
                let resized = imageops::resize(image, w, h, FilterType::Lanczos3);
                let mut canvas = RgbImage::from_pixel(*cw, *ch, Rgb([0, 0, 0]));
                imageops::overlay(&mut canvas, &resized, i64::from((cw - w) / 2), i64::from((ch - h) / 2));
                canvas
            }
            Attack::Rotate(degrees) => rotate_and_crop(image, *degrees),
            Attack::Brightness(f) => map_channels(image, |v| v * f),
            Attack::Contrast(f) => map_channels(image, |v| (v - 128.0) * f + 128.0),
            Attack::Blur(sigma) => imageops::blur(image, *sigma),
            Attack::Noise(sigma) => {
                let mut rng = StdRng::seed_from_u64(0x5eed);
                let mut out = image.clone();
                for p in out.pixels_mut() {
                    for c in p.0.iter_mut() {
                        let n = gaussian(&mut rng) * sigma;
                        *c = (f32::from(*c) + n).round().clamp(0.0, 255.0) as u8;
                    }
                }
                out
            }
            Attack::Overlays => overlays(image),
            Attack::FlipHorizontal => imageops::flip_horizontal(image),
            Attack::Screenshot => screenshot(image),
            Attack::Chain(steps) => steps.iter().fold(image.clone(), |img, step| step.apply(&img)),
        }
    }

    /// A short stable name for tables.
    pub fn name(&self) -> String {
        match self {
            Attack::Jpeg(q) => format!("jpeg {q}"),
            Attack::Scale(f) => format!("scale {f}"),
            Attack::ResizeToWidth(w) => format!("resize to {w} wide"),
            Attack::Crop { area, cx, cy } => {
                let place =
                    if *cx == 0.5 && *cy == 0.5 { "centred".to_owned() } else { format!("at {cx},{cy}") };
                format!("crop {:.0}% {place}", area * 100.0)
            }
            Attack::AspectCrop(w, h) => format!("aspect crop {w}:{h}"),
            Attack::PadInto(w, h) => format!("pad into {w}x{h}"),
            Attack::Rotate(d) => format!("rotate {d}"),
            Attack::Brightness(f) => format!("brightness {:+.0}%", (f - 1.0) * 100.0),
            Attack::Contrast(f) => format!("contrast {:+.0}%", (f - 1.0) * 100.0),
            Attack::Blur(s) => format!("blur sigma {s}"),
            Attack::Noise(s) => format!("noise sigma {s}"),
            Attack::Overlays => "caption + sticker".into(),
            Attack::FlipHorizontal => "horizontal flip".into(),
            Attack::Screenshot => "screenshot".into(),
            Attack::Chain(steps) => steps.iter().map(Attack::name).collect::<Vec<_>>().join(" > "),
        }
    }
}

/// Every attack the robustness targets name, alone and in platform-like combinations.
pub fn standard_suite() -> Vec<Attack> {
    use Attack::*;
    vec![
        Jpeg(90),
        Jpeg(75),
        Jpeg(50),
        Scale(0.5),
        Scale(0.25),
        ResizeToWidth(1080),
        Crop { area: 0.75, cx: 0.5, cy: 0.5 },
        Crop { area: 0.75, cx: 0.0, cy: 1.0 },
        Crop { area: 0.5, cx: 0.5, cy: 0.5 },
        Crop { area: 0.5, cx: 1.0, cy: 0.0 },
        Crop { area: 0.5, cx: 0.2, cy: 0.8 },
        AspectCrop(4, 5),
        AspectCrop(1, 1),
        AspectCrop(9, 16),
        PadInto(1080, 1920),
        Rotate(5.0),
        Rotate(15.0),
        Brightness(1.3),
        Contrast(0.7),
        Blur(1.0),
        Noise(5.0),
        Overlays,
        FlipHorizontal,
        Screenshot,
        Chain(vec![AspectCrop(4, 5), ResizeToWidth(1080), Jpeg(75)]),
        Chain(vec![Crop { area: 0.7, cx: 0.8, cy: 0.3 }, Scale(0.6), Brightness(1.15), Jpeg(60)]),
        Chain(vec![FlipHorizontal, Crop { area: 0.5, cx: 0.3, cy: 0.6 }, Jpeg(70)]),
        Chain(vec![Rotate(5.0), Scale(0.5), Jpeg(75)]),
        Chain(vec![PadInto(1080, 1920), Jpeg(80)]),
    ]
}

/// A JPEG round trip at this quality (the image unchanged if encoding fails).
pub fn jpeg(image: &RgbImage, quality: u8) -> RgbImage {
    let Ok(bytes) = crate::media::image_io::encode_jpeg(image, quality) else {
        return image.clone();
    };
    image::load_from_memory_with_format(&bytes, ImageFormat::Jpeg)
        .map(|i| i.to_rgb8())
        .unwrap_or_else(|_| image.clone())
}

fn map_channels(image: &RgbImage, f: impl Fn(f32) -> f32) -> RgbImage {
    let mut out = image.clone();
    for p in out.pixels_mut() {
        for c in p.0.iter_mut() {
            *c = f(f32::from(*c)).round().clamp(0.0, 255.0) as u8;
        }
    }
    out
}

fn gaussian(rng: &mut StdRng) -> f32 {
    let u1: f32 = rng.gen_range(f32::EPSILON..1.0);
    let u2: f32 = rng.gen();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f32::consts::PI * u2).cos()
}

/// Bilinear rotation about the centre, cropped to the largest axis-aligned rectangle of the
/// original aspect ratio that holds only image pixels.
fn rotate_and_crop(image: &RgbImage, degrees: f32) -> RgbImage {
    let (w, h) = (image.width() as f32, image.height() as f32);
    let theta = degrees.to_radians();
    let (cos, sin) = (theta.cos().abs(), theta.sin().abs());
    // A w x h rectangle scaled by s fits inside the rotated image when
    // s*(w*cos + h*sin) <= w and s*(w*sin + h*cos) <= h.
    let s = (w / (w * cos + h * sin)).min(h / (w * sin + h * cos));
    let (ow, oh) = (((w * s).floor() as u32).max(1), ((h * s).floor() as u32).max(1));
    let (ct, st) = (theta.cos(), theta.sin());
    let mut out = RgbImage::new(ow, oh);
    for (x, y, p) in out.enumerate_pixels_mut() {
        let dx = x as f32 + 0.5 - ow as f32 / 2.0;
        let dy = y as f32 + 0.5 - oh as f32 / 2.0;
        let sx = ct * dx + st * dy + w / 2.0 - 0.5;
        let sy = -st * dx + ct * dy + h / 2.0 - 0.5;
        *p = bilinear(image, sx, sy);
    }
    out
}

fn bilinear(image: &RgbImage, x: f32, y: f32) -> Rgb<u8> {
    let (w, h) = (image.width() as i64, image.height() as i64);
    let (x0, y0) = (x.floor(), y.floor());
    let (fx, fy) = (x - x0, y - y0);
    let px = |xi: i64, yi: i64| image.get_pixel(xi.clamp(0, w - 1) as u32, yi.clamp(0, h - 1) as u32).0;
    let (x0, y0) = (x0 as i64, y0 as i64);
    let (a, b, c, d) = (px(x0, y0), px(x0 + 1, y0), px(x0, y0 + 1), px(x0 + 1, y0 + 1));
    let mut out = [0u8; 3];
    for i in 0..3 {
        let top = f32::from(a[i]) * (1.0 - fx) + f32::from(b[i]) * fx;
        let bottom = f32::from(c[i]) * (1.0 - fx) + f32::from(d[i]) * fx;
        out[i] = (top * (1.0 - fy) + bottom * fy).round().clamp(0.0, 255.0) as u8;
    }
    Rgb(out)
}

/// A caption bar (white, with dark "text" blocks) along the bottom and a round sticker.
fn overlays(image: &RgbImage) -> RgbImage {
    let mut out = image.clone();
    let (w, h) = (image.width(), image.height());
    let bar = (h as f32 * 0.07).round() as u32;
    for y in h - bar..h {
        for x in 0..w {
            let in_text = (x / (bar / 2).max(1)) % 3 != 2 && y > h - bar + bar / 4 && y < h - bar / 4;
            out.put_pixel(x, y, if in_text { Rgb([20, 20, 20]) } else { Rgb([250, 250, 250]) });
        }
    }
    // A sticker of about 3 % of the area, near the top right.
    let r = ((w * h) as f32 * 0.03 / std::f32::consts::PI).sqrt();
    let (cx, cy) = (w as f32 * 0.75, h as f32 * 0.25);
    for y in 0..h {
        for x in 0..w {
            let (dx, dy) = (x as f32 - cx, y as f32 - cy);
            if dx * dx + dy * dy < r * r {
                out.put_pixel(x, y, if (dx + dy) > 0.0 { Rgb([255, 200, 0]) } else { Rgb([230, 30, 90]) });
            }
        }
    }
    out
}

/// A portrait phone screenshot of the picture: scaled 0.8, with a status bar above and a
/// navigation bar below, saved as JPEG 85.
fn screenshot(image: &RgbImage) -> RgbImage {
    let scaled = Attack::Scale(0.8).apply(image);
    let (w, h) = (scaled.width(), scaled.height());
    let (top, bottom) = ((h as f32 * 0.08) as u32 + 10, (h as f32 * 0.12) as u32 + 10);
    let mut canvas = RgbImage::from_pixel(w, h + top + bottom, Rgb([18, 18, 18]));
    imageops::overlay(&mut canvas, &scaled, 0, i64::from(top));
    for x in (8..w.saturating_sub(8)).step_by(40) {
        for y in top / 3..top / 3 + 6 {
            for dx in 0..20.min(w - x) {
                canvas.put_pixel(x + dx, y, Rgb([230, 230, 230]));
            }
        }
    }
    jpeg(&canvas, 85)
}
