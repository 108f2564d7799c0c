//! Embedding: a perceptually masked, periodically tiled pattern added to luma.

use image::RgbImage;

use super::code::encode;
use super::mask::{for_each_mask_row, FLAT_GAIN, LUMA_SPREAD, MASK_RADIUS, TEXTURE_GAIN};
use super::pattern::{render, Layout, CELL_COUNT};
use super::plane::Plane;
use super::scale::{tile_period, working_size};
use super::Key;

/// Root-mean-square change of luma, in grey levels: spread over R, G and B by
/// `LUMA_SPREAD`, just inside the 42 dB PSNR invisibility budget, since every step of
/// strength buys detection.
pub const TARGET_RMS: f32 = 2.25;
/// The embedder's strength is the mask raised to this power: 0.38 in flat areas to 1.33 in
/// busy texture (a ratio of 3.5 rather than 8). The detector's pre-filter divides by the
/// local level, so it hears the mark best where the picture is calm; a flatter strength
/// puts more of the budget there. SSIM pays for it, which `MAX_GAIN` keeps above 0.98.
const MASK_EXPONENT: f32 = 0.6;
/// The largest scale from strength map to grey levels: at most 3.5 x 0.2^0.6 = 1.33 grey
/// levels RMS of mark in the flattest areas. Scaling every picture to `TARGET_RMS` would
/// otherwise mark a picture that is mostly flat (a colour chart) hardest exactly where a
/// pattern shows. Photos stay below the cap.
const MAX_GAIN: f32 = 3.5;

/// A busy picture, one whose median residual at the detector's working scale exceeds
/// `BUSY_KNEE` grey levels, competes with the mark at every pixel: the detector's pre-filter
/// finds no quiet area to read it from (stained tissue). Its texture also masks the mark
/// everywhere, so the mark is raised in proportion to the excess, by at most
/// `MAX_BUSY_BOOST`; calmer pictures are unchanged. The cap is what the mean PSNR over the
/// fixture photos allows against the 42 dB target.
const BUSY_KNEE: f32 = 4.4;
const MAX_BUSY_BOOST: f32 = 1.5;

/// `m.powf(MASK_EXPONENT)` over the mask's range by linear interpolation in a table: a
/// `powf` per pixel would double the embedding time (a library call on the baseline target).
struct FlatterStrength {
    table: [f32; FlatterStrength::STEPS + 1],
}

impl FlatterStrength {
    const STEPS: usize = 256;
    const STEP: f32 = (TEXTURE_GAIN - FLAT_GAIN) / FlatterStrength::STEPS as f32;

    fn new() -> FlatterStrength {
        let mut table = [0.0; FlatterStrength::STEPS + 1];
        for (i, t) in table.iter_mut().enumerate() {
            *t = (FLAT_GAIN + i as f32 * Self::STEP).powf(MASK_EXPONENT);
        }
        FlatterStrength { table }
    }

    fn of(&self, mask: f32) -> f32 {
        let x = ((mask - FLAT_GAIN) / Self::STEP).clamp(0.0, Self::STEPS as f32 - 1e-3);
        let i = x as usize;
        let f = x - i as f32;
        self.table[i] * (1.0 - f) + self.table[i + 1] * f
    }
}

/// The strength factor for a picture: 1 unless it is busy (see `BUSY_KNEE`).
fn busy_boost(luma: &Plane) -> f32 {
    let (width, height, _) = working_size(luma.width, luma.height);
    let small = luma.resize(width, height);
    let mean = small.box_blur(2);
    let mut residual: Vec<f32> = small.data.iter().zip(&mean.data).map(|(v, m)| (v - m).abs()).collect();
    let middle = residual.len() / 2;
    let (_, median, _) = residual.select_nth_unstable_by(middle, f32::total_cmp);
    (*median / BUSY_KNEE).clamp(1.0, MAX_BUSY_BOOST)
}

/// How a video's 8-bit luma codes grey levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LumaRange {
    /// 16 to 235, as broadcast and almost every camera and platform codes video.
    Limited,
    /// 0 to 255 (JPEG's range, some phones).
    Full,
}

impl LumaRange {
    /// The code of black and the codes per grey level of full-range luma.
    fn levels(self) -> (f32, f32) {
        match self {
            LumaRange::Limited => (16.0, 219.0 / 255.0),
            LumaRange::Full => (0.0, 1.0),
        }
    }
}

/// A mark ready to apply to any number of images of one size: the tile is rendered once.
/// Video frames go through one `Embedder`, so every frame carries the same pattern at the
/// same place (it cannot crawl or blink); only the strength follows each frame's texture.
#[derive(Debug, Clone)]
pub struct Embedder {
    cells: [f32; CELL_COUNT],
    /// Multiplies `TARGET_RMS`.
    strength: f32,
    tile: Vec<f32>,
    period: usize,
    width: usize,
    height: usize,
}

impl Embedder {
    pub fn new(key: &Key, payload: u64, width: u32, height: u32) -> Embedder {
        let cells = Layout::new(key).cell_values(&encode(key, payload));
        Embedder::from_cells(cells, width as usize, height as usize)
    }

    fn from_cells(cells: [f32; CELL_COUNT], width: usize, height: usize) -> Embedder {
        let period = tile_period(width, height);
        let mut tile = render(&cells, period);
        let rms = (tile.iter().map(|v| v * v).sum::<f32>() / tile.len() as f32).sqrt().max(1e-6);
        tile.iter_mut().for_each(|v| *v /= rms);
        Embedder { cells, strength: 1.0, tile, period, width, height }
    }

    /// Marks one image. An image of another size than the `Embedder` was made for gets a
    /// mark of its own size (a new tile), so the result is always right.
    pub fn apply(&self, image: &RgbImage) -> RgbImage {
        let (width, height) = (image.width() as usize, image.height() as usize);
        if let Some(other) = self.for_size(width, height) {
            return other.apply(image);
        }
        let (delta, gain) = self.luma_change(&Plane::luma(image));
        let mut out = image.clone();
        for (pixel, d) in out.pixels_mut().zip(&delta) {
            let change = gain * d;
            for (c, spread) in pixel.0.iter_mut().zip(LUMA_SPREAD) {
                // Rounds to nearest (clamped first, so never negative): `f32::round` is a
                // library call on the baseline x86-64 target, a tenth of embedding's time.
                *c = ((f32::from(*c) + spread * change).clamp(0.0, 255.0) + 0.5) as u8;
            }
        }
        out
    }

    /// Marks the luma plane of a frame of planar YUV in place (`luma`: `width` x `height`
    /// bytes, rows packed): the same change [`Embedder::apply`] makes to an RGB picture's
    /// luma, with chroma left as it is, so a video is marked without leaving its own pixel
    /// format.
    pub fn apply_to_luma(&self, luma: &mut [u8], width: usize, height: usize, range: LumaRange) {
        if let Some(other) = self.for_size(width, height) {
            return other.apply_to_luma(luma, width, height, range);
        }
        let (offset, levels) = range.levels();
        let grey = 1.0 / levels;
        let plane =
            Plane { width, height, data: luma.iter().map(|&v| (f32::from(v) - offset) * grey).collect() };
        let (delta, gain) = self.luma_change(&plane);
        let gain = gain * levels;
        for (v, d) in luma.iter_mut().zip(&delta) {
            *v = ((f32::from(*v) + gain * d).clamp(0.0, 255.0) + 0.5) as u8;
        }
    }

    /// The embedder for another size, when this one's tile does not fit it.
    fn for_size(&self, width: usize, height: usize) -> Option<Embedder> {
        let fits = (width, height) == (self.width, self.height) || tile_period(width, height) == self.period;
        (!fits).then(|| self.resized(width, height))
    }

    /// The change to make to a picture of this luma (0..255) before scaling, and the scale:
    /// the mask times the tile repeated over the picture, scaled so the whole picture's luma
    /// changes by the target RMS, within the flat areas' limit.
    fn luma_change(&self, luma: &Plane) -> (Vec<f32>, f32) {
        let (width, height, period) = (luma.width, luma.height, self.period);
        let boost = busy_boost(luma);
        let flatter = FlatterStrength::new();
        let mut delta = vec![0.0f32; width * height];
        let mut energy = 0.0f64;
        for_each_mask_row(luma, MASK_RADIUS, |y, mask| {
            let tile_row = &self.tile[(y % period) * period..(y % period + 1) * period];
            let row = &mut delta[y * width..(y + 1) * width];
            for ((d, m), t) in row.iter_mut().zip(mask).zip(tile_row.iter().cycle()) {
                *d = flatter.of(*m) * t;
                energy += f64::from(*d * *d);
            }
        });
        let rms = ((energy / (width * height) as f64).sqrt() as f32).max(1e-6);
        (delta, boost * self.strength * (TARGET_RMS / rms).min(MAX_GAIN))
    }

    /// The same cells rendered for another image size.
    fn resized(&self, width: usize, height: usize) -> Embedder {
        Embedder { strength: self.strength, ..Embedder::from_cells(self.cells, width, height) }
    }

    /// The same mark at `factor` times the picture strength (see `TARGET_RMS`).
    pub fn with_strength(self, factor: f32) -> Embedder {
        Embedder { strength: factor, ..self }
    }
}

pub fn embed(image: &RgbImage, key: &Key, payload: u64) -> RgbImage {
    Embedder::new(key, payload, image.width(), image.height()).apply(image)
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

    /// Root-mean-square change of luma.
    fn rms_change(original: &RgbImage, marked: &RgbImage) -> f32 {
        let (a, b) = (Plane::luma(original), Plane::luma(marked));
        let sum: f32 = a.data.iter().zip(&b.data).map(|(x, y)| (y - x).powi(2)).sum();
        (sum / a.data.len() as f32).sqrt()
    }

    /// A grey gradient with texture `depth` grey levels deep.
    fn textured_gradient(depth: u32) -> RgbImage {
        RgbImage::from_fn(512, 512, |x, y| {
            let v = (60 + (x + y) / 8 + (x * 7 + y * 13) % depth) as u8;
            Rgb([v, v, v])
        })
    }

    #[test]
    fn busy_pictures_get_a_stronger_mark_up_to_the_cap() {
        let key = Key::from_bytes([9; 32]);
        // Calm: a gradient with moderate texture. Busy: strong pixel noise everywhere.
        let calm = textured_gradient(23);
        let busy = RgbImage::from_fn(512, 512, |x, y| {
            let v =
                (128 + ((x.wrapping_mul(2_654_435_761) ^ y.wrapping_mul(40_503)) % 161) as i32 - 80) as u8;
            Rgb([v, v, v])
        });
        assert_eq!(busy_boost(&Plane::luma(&calm)), 1.0);
        assert_eq!(busy_boost(&Plane::luma(&busy)), MAX_BUSY_BOOST);
        let calm_change = rms_change(&calm, &embed(&calm, &key, 1));
        let busy_change = rms_change(&busy, &embed(&busy, &key, 1));
        assert!((calm_change - TARGET_RMS).abs() < 0.15, "calm: {calm_change}");
        // The busy picture is marked harder, up to the cap.
        assert!(busy_change > 1.4 * calm_change, "busy {busy_change}, calm {calm_change}");
    }

    #[test]
    fn marking_a_luma_plane_changes_luma_as_marking_the_picture_does() {
        let key = Key::from_bytes([9; 32]);
        let picture = textured_gradient(23);
        let from_rgb = Plane::luma(&embed(&picture, &key, 5));
        let original = Plane::luma(&picture);
        let embedder = Embedder::new(&key, 5, 512, 512);
        for (range, offset, levels) in
            [(LumaRange::Limited, 16.0, 219.0 / 255.0), (LumaRange::Full, 0.0, 1.0)]
        {
            let code = |v: f32| (offset + v * levels).round().clamp(0.0, 255.0) as u8;
            let mut plane: Vec<u8> = original.data.iter().map(|&v| code(v)).collect();
            let before: Vec<f32> = plane.iter().map(|&c| (f32::from(c) - offset) / levels).collect();
            embedder.apply_to_luma(&mut plane, 512, 512, range);
            // Per pixel, the change in grey levels is the picture's, to within the codes' rounding.
            let mut worst = 0.0f32;
            let mut energy = 0.0f32;
            for (i, &c) in plane.iter().enumerate() {
                let change = (f32::from(c) - offset) / levels - before[i];
                worst = worst.max((change - (from_rgb.data[i] - original.data[i])).abs());
                energy += change * change;
            }
            let rms = (energy / plane.len() as f32).sqrt();
            assert!(worst < 1.5 / levels, "{range:?}: {worst}");
            assert!((rms - TARGET_RMS).abs() < 0.2, "{range:?}: {rms}");
        }
    }

    #[test]
    fn the_flatter_strength_table_follows_powf() {
        let flatter = FlatterStrength::new();
        for i in 0..=1000 {
            let m = FLAT_GAIN + (TEXTURE_GAIN - FLAT_GAIN) * i as f32 / 1000.0;
            assert!((flatter.of(m) - m.powf(MASK_EXPONENT)).abs() < 1e-4, "{m}");
        }
    }

    #[test]
    fn a_mostly_flat_picture_is_marked_no_harder_than_the_flat_limit() {
        let key = Key::from_bytes([9; 32]);
        // A soft gradient with faint texture: scaled to the target RMS, its flat areas would
        // carry 2.25 grey levels of mark.
        let flat = textured_gradient(5);
        let change = rms_change(&flat, &embed(&flat, &key, 1));
        // The limit holds the flattest areas to 1.33 grey levels, a little more where texture is.
        assert!(change < 0.85 * TARGET_RMS && change > 0.5 * TARGET_RMS, "change {change}");
    }

    #[test]
    fn luma_moves_by_the_target_for_less_squared_error_in_rgb() {
        let key = Key::from_bytes([9; 32]);
        let grey = RgbImage::from_fn(384, 256, |x, y| {
            let v = (90 + (x * 3 + y * 5) % 40) as u8;
            Rgb([v, v.saturating_add(10), v.saturating_sub(10)])
        });
        let marked = embed(&grey, &key, 7);
        let luma = rms_change(&grey, &marked);
        let per_channel: Vec<f32> = (0..3)
            .map(|c| {
                let sum: f32 = grey
                    .pixels()
                    .zip(marked.pixels())
                    .map(|(a, b)| (f32::from(b.0[c]) - f32::from(a.0[c])).powi(2))
                    .sum();
                (sum / (384.0 * 256.0)).sqrt()
            })
            .collect();
        let rgb = (per_channel.iter().map(|v| v * v).sum::<f32>() / 3.0).sqrt();
        assert!((luma - TARGET_RMS).abs() < 0.15, "luma {luma}");
        // The same change on all three channels would make these equal; the spread costs
        // about 0.86 times the RMS error per grey level of luma.
        assert!(rgb < 0.9 * luma, "rgb {rgb}, luma {luma}");
        assert!(per_channel[1] > per_channel[0] && per_channel[0] > per_channel[2], "{per_channel:?}");
    }
}
