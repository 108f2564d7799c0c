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
    /// Resize by independent factors along x and y: an app forcing an aspect ratio by
    /// stretching rather than cropping.
    Stretch {
        x: f32,
        y: f32,
    },
    /// Resize so that the longer side is this many pixels (a thumbnail).
    LongSide(u32),
    /// Perspective: the top corners moved inwards by this fraction of the width each, as a
    /// screen photographed from below; the size is kept, black outside the picture.
    Keystone(f32),
    /// Every channel raised to this power (below 1 brightens the midtones).
    Gamma(f32),
    /// A phone photo of a screen showing the picture: keystone 4 %, blur, gamma 0.8, noise,
    /// JPEG 80.
    Rephotograph,
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
            Attack::Stretch { x, y } => {
                let w = ((image.width() as f32 * x).round() as u32).max(1);
                let h = ((image.height() as f32 * y).round() as u32).max(1);
                imageops::resize(image, w, h, FilterType::Lanczos3)
            }
            Attack::LongSide(side) => {
                let f = *side as f32 / image.width().max(image.height()) as f32;
                Attack::Scale(f).apply(image)
            }
            Attack::Keystone(fraction) => keystone(image, *fraction),
            Attack::Gamma(g) => map_channels(image, |v| 255.0 * (v / 255.0).powf(*g)),
            Attack::Rephotograph => Attack::Chain(vec![
                Attack::Keystone(0.04),
                Attack::Blur(1.2),
                Attack::Gamma(0.8),
                Attack::Noise(3.0),
                Attack::Jpeg(80),
            ])
            .apply(image),
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
            Attack::Stretch { x, y } => format!("stretch x{x} y{y}"),
            Attack::LongSide(side) => format!("thumbnail {side} px"),
            Attack::Keystone(f) => format!("keystone {:.0}%", f * 100.0),
            Attack::Gamma(g) => format!("gamma {g}"),
            Attack::Rephotograph => "photo of a screen".into(),
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
        Stretch { x: 1.3, y: 1.0 },
        Stretch { x: 1.0, y: 0.8 },
        Keystone(0.03),
        Chain(vec![LongSide(320), Jpeg(80)]),
    ]
}

/// The attacks the detector does not yet meet the 95 % floor on: a strong perspective and a
/// photo of a screen.
pub fn beyond_similarity_suite() -> Vec<Attack> {
    use Attack::*;
    vec![Keystone(0.06), Rephotograph]
}

/// Two pictures side by side at one height (a collage, a duet's frame), each keeping its
/// aspect ratio.
pub fn side_by_side(left: &RgbImage, right: &RgbImage, height: u32) -> RgbImage {
    let fit = |image: &RgbImage| {
        let width = (u64::from(image.width()) * u64::from(height) / u64::from(image.height().max(1))).max(1);
        imageops::resize(image, width as u32, height, FilterType::Lanczos3)
    };
    let (left, right) = (fit(left), fit(right));
    let mut out = RgbImage::new(left.width() + right.width(), height);
    imageops::replace(&mut out, &left, 0, 0);
    imageops::replace(&mut out, &right, i64::from(left.width()), 0);
    out
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

/// The picture seen in perspective: its top corners moved inwards by `fraction` of the width
/// each, its bottom corners in place; each output pixel is read (bilinear) where the inverse
/// homography puts it, black outside the picture.
fn keystone(image: &RgbImage, fraction: f32) -> RgbImage {
    let (w, h) = (f64::from(image.width()), f64::from(image.height()));
    let inset = w * f64::from(fraction);
    let seen = [(inset, 0.0), (w - inset, 0.0), (w, h), (0.0, h)];
    let picture = [(0.0, 0.0), (w, 0.0), (w, h), (0.0, h)];
    let Some(to_picture) = homography(seen, picture) else { return image.clone() };
    let mut out = RgbImage::from_pixel(image.width(), image.height(), Rgb([0, 0, 0]));
    for (x, y, p) in out.enumerate_pixels_mut() {
        let (px, py) = (f64::from(x) + 0.5, f64::from(y) + 0.5);
        let d = to_picture[6] * px + to_picture[7] * py + 1.0;
        let sx = (to_picture[0] * px + to_picture[1] * py + to_picture[2]) / d;
        let sy = (to_picture[3] * px + to_picture[4] * py + to_picture[5]) / d;
        if (0.0..w).contains(&sx) && (0.0..h).contains(&sy) {
            *p = bilinear(image, (sx - 0.5) as f32, (sy - 0.5) as f32);
        }
    }
    out
}

/// The homography (h0..h7, h8 = 1) taking each `from` corner to its `to` corner, solved by
/// Gaussian elimination; `None` for degenerate corners.
fn homography(from: [(f64, f64); 4], to: [(f64, f64); 4]) -> Option<[f64; 8]> {
    let mut m = [[0.0f64; 9]; 8];
    for (i, ((x, y), (u, v))) in from.iter().zip(&to).enumerate() {
        m[2 * i] = [*x, *y, 1.0, 0.0, 0.0, 0.0, -u * x, -u * y, *u];
        m[2 * i + 1] = [0.0, 0.0, 0.0, *x, *y, 1.0, -v * x, -v * y, *v];
    }
    for col in 0..8 {
        let pivot = (col..8).max_by(|&a, &b| m[a][col].abs().total_cmp(&m[b][col].abs()))?;
        if m[pivot][col].abs() < 1e-12 {
            return None;
        }
        m.swap(col, pivot);
        let pivot_row = m[col];
        for (row, values) in m.iter_mut().enumerate() {
            if row != col {
                let f = values[col] / pivot_row[col];
                for (value, p) in values.iter_mut().zip(&pivot_row).skip(col) {
                    *value -= f * p;
                }
            }
        }
    }
    let mut h = [0.0; 8];
    for (i, value) in h.iter_mut().enumerate() {
        *value = m[i][8] / m[i][i];
    }
    Some(h)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn gradient(w: u32, h: u32) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| Rgb([(x % 256) as u8, (y % 256) as u8, 128]))
    }

    #[test]
    fn stretches_and_thumbnails_have_the_sizes_asked() {
        assert_eq!(Attack::Stretch { x: 1.3, y: 1.0 }.apply(&gradient(400, 300)).dimensions(), (520, 300));
        assert_eq!(Attack::Stretch { x: 1.0, y: 0.8 }.apply(&gradient(400, 300)).dimensions(), (400, 240));
        assert_eq!(Attack::LongSide(320).apply(&gradient(1000, 600)).dimensions(), (320, 192));
        assert_eq!(Attack::LongSide(320).apply(&gradient(600, 1000)).dimensions(), (192, 320));
    }

    #[test]
    fn a_keystone_narrows_the_top_and_keeps_the_bottom() {
        let image = gradient(200, 100);
        let seen = Attack::Keystone(0.1).apply(&image);
        assert_eq!(seen.dimensions(), (200, 100));
        // The top corners moved 20 px inwards: left of them is no picture.
        assert_eq!(seen.get_pixel(5, 0).0, [0, 0, 0]);
        assert_eq!(seen.get_pixel(194, 0).0, [0, 0, 0]);
        // Just inside the top-left corner is the picture's left edge.
        assert!(seen.get_pixel(21, 0).0[0] <= 2, "{:?}", seen.get_pixel(21, 0));
        // The bottom row stays where it was.
        for x in [10, 100, 190] {
            let (a, b) = (seen.get_pixel(x, 99).0, image.get_pixel(x, 99).0);
            assert!(a.iter().zip(&b).all(|(p, q)| p.abs_diff(*q) <= 2), "({x}, 99): {a:?} vs {b:?}");
        }
        // The middle column stays in the middle, foreshortened: halfway down the view shows
        // a row past the picture's middle, as a plane tilted away does.
        let middle = seen.get_pixel(100, 50).0;
        assert!(middle[0].abs_diff(100) <= 1 && middle[1] > 52, "{middle:?}");
    }

    #[test]
    fn the_homography_takes_each_corner_to_its_own() {
        let from = [(10.0, 0.0), (90.0, 0.0), (100.0, 50.0), (0.0, 50.0)];
        let to = [(0.0, 0.0), (100.0, 0.0), (100.0, 50.0), (0.0, 50.0)];
        let h = homography(from, to).unwrap();
        for ((x, y), (u, v)) in from.iter().zip(&to) {
            let d = h[6] * x + h[7] * y + 1.0;
            assert!(((h[0] * x + h[1] * y + h[2]) / d - u).abs() < 1e-9);
            assert!(((h[3] * x + h[4] * y + h[5]) / d - v).abs() < 1e-9);
        }
        assert!(homography([(0.0, 0.0); 4], to).is_none(), "four corners in one point");
    }

    #[test]
    fn gamma_below_one_brightens_the_midtones_and_keeps_the_ends() {
        let image = RgbImage::from_fn(3, 1, |x, _| Rgb([[0, 128, 255][x as usize]; 3]));
        let brighter = Attack::Gamma(0.8).apply(&image);
        assert_eq!(brighter.get_pixel(0, 0).0[0], 0);
        assert_eq!(brighter.get_pixel(2, 0).0[0], 255);
        assert!((145..=150).contains(&brighter.get_pixel(1, 0).0[0]), "{:?}", brighter.get_pixel(1, 0));
    }
}
