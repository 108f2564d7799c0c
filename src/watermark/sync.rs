//! Synchronisation, step one: the tile lattice's period and angle from the power spectrum
//! of the pre-filtered image. A periodically tiled mark puts its energy on the harmonics of a
//! square lattice whatever the crop; scoring a candidate by all its harmonics at once gathers
//! many weak peaks into one strong score. The lattice gives the scale and the rotation
//! (modulo 90 degrees; the remaining symmetries are tried when folding).

use std::f32::consts::{FRAC_1_SQRT_2, FRAC_PI_2, FRAC_PI_4, SQRT_2};

use rustfft::num_complex::Complex32;
use rustfft::FftDirection;

use super::embed::perceptual_mask;
use super::fft::fft2d;
use super::plane::{floor_i32, Plane};

/// Harmonics along each axis in a lattice's score: the mark's cells put energy up to
/// about the twelfth harmonic of the tile at the working scale.
const HARMONICS: i32 = 12;
/// Harmonics in the coarse search's scores. Its grid steps the angle by 1 degree and the
/// period by 1 %, which moves harmonic k of a 40 px lattice by about k/2 bins of the padded
/// spectrum: only the low harmonics are sampled near their peaks, and the high ones add
/// noise between grid points. The fine search scores all of them. Measured over payload
/// draws 0-2: 23 misses of 1,800 with 6 or 8 here, as with 12, and a third less detection
/// time with 6 (docs/watermark.md).
const COARSE_HARMONICS: i32 = 6;

/// A candidate lattice: period in working pixels and angle in radians, in [0, pi/2).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Lattice {
    pub period: f32,
    pub angle: f32,
    pub score: f32,
}

impl Lattice {
    /// Whether two candidates are the same lattice within the fine search's reach.
    fn near(&self, other: &Lattice) -> bool {
        let angle = (self.angle - other.angle).rem_euclid(FRAC_PI_2);
        (self.period / other.period - 1.0).abs() < 0.015 && angle.min(FRAC_PI_2 - angle) < 0.02
    }
}

/// The candidates, then their 45-degree relatives within the period range, without repeats.
/// A square lattice of period p shares half its harmonics with the lattice of period p*sqrt 2
/// turned by 45 degrees and all of those of period p/sqrt 2 turned by 45 degrees; the
/// relatives sample the lower harmonics, which survive downscaling and JPEG best, so after
/// such attacks one of them often outscores the true lattice, which then drops out of the
/// spectrum's shortlist. The synchronisation template tells them apart: a relative folds the
/// tiles into a pattern the template does not match.
pub fn with_relatives(lattices: &[Lattice], min_period: f32, max_period: f32) -> Vec<Lattice> {
    let mut all: Vec<Lattice> = Vec::with_capacity(3 * lattices.len());
    let relatives = lattices.iter().flat_map(|l| {
        [SQRT_2, FRAC_1_SQRT_2].map(|f| Lattice {
            period: l.period * f,
            angle: (l.angle + FRAC_PI_4).rem_euclid(FRAC_PI_2),
            score: l.score,
        })
    });
    for candidate in lattices.iter().copied().chain(relatives) {
        let in_range = (min_period..=max_period).contains(&candidate.period);
        if in_range && !all.iter().any(|kept| kept.near(&candidate)) {
            all.push(candidate);
        }
    }
    all
}

/// The residual's power spectrum, whitened by its radial average, so that a tiled mark
/// shows as a comb of peaks on the dual lattice standing above a flat floor of ~1.
struct Spectrum {
    power: Vec<f32>,
    pw: usize,
    ph: usize,
}

impl Spectrum {
    /// `block`: the period, in working pixels along x and y, of the input's 8 x 8 block
    /// grid (see `notch_block_grid`).
    fn compute(residual: &Plane, block: (f32, f32)) -> Spectrum {
        let (w, h) = (residual.width, residual.height);
        let pw = (2 * w).next_power_of_two();
        let ph = (2 * h).next_power_of_two();
        let mut buf = vec![Complex32::new(0.0, 0.0); pw * ph];
        for y in 0..h {
            for x in 0..w {
                buf[y * pw + x] = Complex32::new(residual.at(x, y), 0.0);
            }
        }
        // Rows below the image are zero padding: their row transforms are zero too.
        fft2d(&mut buf, pw, ph, h, FftDirection::Forward);
        let mut power: Vec<f32> = buf.iter().map(|c| c.norm_sqr()).collect();
        const RINGS: usize = 128;
        let ring = |x: usize, y: usize| {
            let fx = if x > pw / 2 { x as f32 - pw as f32 } else { x as f32 } / pw as f32;
            let fy = if y > ph / 2 { y as f32 - ph as f32 } else { y as f32 } / ph as f32;
            (((fx * fx + fy * fy).sqrt() / 0.71) * RINGS as f32).min(RINGS as f32 - 1.0) as usize
        };
        let rings: Vec<u8> =
            (0..ph).flat_map(|y| (0..pw).map(move |x| (x, y))).map(|(x, y)| ring(x, y) as u8).collect();
        let mut sums = vec![0.0f64; RINGS];
        let mut counts = vec![0u32; RINGS];
        for (&r, p) in rings.iter().zip(&power) {
            sums[usize::from(r)] += f64::from(*p);
            counts[usize::from(r)] += 1;
        }
        let means: Vec<f32> =
            sums.iter().zip(&counts).map(|(s, &c)| (s / f64::from(c.max(1))) as f32).collect();
        for (&r, p) in rings.iter().zip(power.iter_mut()) {
            let m = means[usize::from(r)];
            *p = if m > 0.0 { *p / m } else { 0.0 };
        }
        let mut spectrum = Spectrum { power, pw, ph };
        spectrum.notch_block_grid(block);
        spectrum
    }

    /// Sets the lines of the block grid's harmonics to the floor. JPEG (and the block
    /// transforms of video codecs) leave edges every 8 pixels of the image they last
    /// encoded, which is the detector's input: a periodic pattern along x and along y whose
    /// power lies on the lines fx = k/8 and fy = k/8 (cycles per input pixel). A lattice at
    /// 0 degrees whose period is a multiple of 8 input pixels has half its harmonics on those
    /// lines and outscores the mark after a downscale and strong JPEG (measured: `rocket.jpg`
    /// rotated 5 degrees, halved and at JPEG 75 gave only lattices of 2 and 3 blocks and
    /// their relatives). The lines cost a genuine lattice a few of its harmonics at most.
    fn notch_block_grid(&mut self, (bx, by): (f32, f32)) {
        // A resampled grid line is spread over about a bin either way.
        const HALF_WIDTH: isize = 1;
        let lines = |period: f32, size: usize| -> Vec<usize> {
            let mut bins = Vec::new();
            let mut k = 1.0;
            while period > 0.0 && k / period < 0.5 {
                let centre = (k / period * size as f32).round() as isize;
                for offset in -HALF_WIDTH..=HALF_WIDTH {
                    for bin in [centre + offset, size as isize - centre - offset] {
                        bins.push(bin.rem_euclid(size as isize) as usize);
                    }
                }
                k += 1.0;
            }
            bins
        };
        for x in lines(bx, self.pw) {
            for y in 0..self.ph {
                self.power[y * self.pw + x] = 1.0;
            }
        }
        for y in lines(by, self.ph) {
            self.power[y * self.pw..(y + 1) * self.pw].fill(1.0);
        }
    }

    /// Whitened power at a frequency (cycles per pixel), bilinear between bins.
    fn at(&self, fx: f32, fy: f32) -> f32 {
        let (x, y) = (fx * self.pw as f32, fy * self.ph as f32);
        let (x0, y0) = (floor_i32(x), floor_i32(y));
        let (ax, ay) = (x - x0 as f32, y - y0 as f32);
        // Sizes are powers of two: masking the two's-complement index is the cyclic wrap.
        let bin = |xi: isize, yi: isize| {
            let xi = (xi as usize) & (self.pw - 1);
            let yi = (yi as usize) & (self.ph - 1);
            self.power[yi * self.pw + xi]
        };
        let (x0, y0) = (x0 as isize, y0 as isize);
        let top = bin(x0, y0) * (1.0 - ax) + bin(x0 + 1, y0) * ax;
        let bottom = bin(x0, y0 + 1) * (1.0 - ax) + bin(x0 + 1, y0 + 1) * ax;
        top * (1.0 - ay) + bottom * ay
    }

    /// Mean whitened power over the harmonics of a square lattice (half plane, below
    /// Nyquist, up to `HARMONICS` along each axis), minus the floor: about 0 for an
    /// unmarked image.
    fn lattice_score(&self, period: f32, angle: f32) -> f32 {
        let mut score = [0.0];
        self.lattice_scores(&[period], angle, HARMONICS, &mut score);
        score[0]
    }

    /// `lattice_score` for many periods at one angle, with harmonics up to `harmonics`. The
    /// harmonic is the outer loop: the same harmonic of neighbouring periods lies a few bins
    /// apart along one ray, so the spectrum's reads stay close (scoring one lattice at a time
    /// jumps across its 4 MB). Each period's sum still adds its harmonics in the same order.
    fn lattice_scores(&self, periods: &[f32], angle: f32, harmonics: i32, scores: &mut [f32]) {
        let (cos, sin) = (angle.cos(), angle.sin());
        let steps: Vec<(f32, f32)> = periods.iter().map(|p| (cos / p, sin / p)).collect();
        let mut sums = vec![0.0f32; periods.len()];
        let mut counts = vec![0u32; periods.len()];
        for k in 0..=harmonics {
            for l in -harmonics..=harmonics {
                if k == 0 && l <= 0 {
                    continue;
                }
                let (k, l) = (k as f32, l as f32);
                for ((&(c, s), sum), n) in steps.iter().zip(sums.iter_mut()).zip(counts.iter_mut()) {
                    let (fx, fy) = (k * c - l * s, k * s + l * c);
                    if fx.abs() > 0.45 || fy.abs() > 0.45 {
                        continue;
                    }
                    *sum += self.at(fx, fy);
                    *n += 1;
                }
            }
        }
        for ((score, sum), &n) in scores.iter_mut().zip(&sums).zip(&counts) {
            *score = if n == 0 { 0.0 } else { sum / n as f32 - 1.0 };
        }
    }
}

/// Candidate lattices, best first, with periods between `min_period` and `max_period`, in a
/// spectrum without the input's block grid (`block`: its period in working pixels along x
/// and y):
/// a coarse search over period and angle scored by the comb's low harmonics, then a finer
/// search around the best local maxima scored by the whole comb.
pub fn find_lattices(
    residual: &Plane,
    block: (f32, f32),
    min_period: f32,
    max_period: f32,
    keep: usize,
) -> Vec<Lattice> {
    let spectrum = Spectrum::compute(residual, block);
    let mut periods = Vec::new();
    let mut p = min_period;
    while p <= max_period {
        periods.push(p);
        p *= 1.01;
    }
    const ANGLES: usize = 90;
    let angle_of = |i: usize| i as f32 * FRAC_PI_2 / ANGLES as f32;
    // Angle-major: one angle's scores over every period at a time.
    let mut scores = vec![0.0f32; periods.len() * ANGLES];
    for (ai, row) in scores.chunks_mut(periods.len()).enumerate() {
        spectrum.lattice_scores(&periods, angle_of(ai), COARSE_HARMONICS, row);
    }
    let at = |pi: usize, ai: usize| scores[(ai % ANGLES) * periods.len() + pi];
    let mut maxima: Vec<Lattice> = Vec::new();
    for (pi, &period) in periods.iter().enumerate().take(periods.len().saturating_sub(1)).skip(1) {
        for ai in 0..ANGLES {
            let v = at(pi, ai);
            let neighbours = [(pi - 1, ai), (pi + 1, ai), (pi, ai + 1), (pi, ai + ANGLES - 1)];
            if neighbours.iter().all(|&(p, a)| at(p, a) < v) {
                maxima.push(Lattice { period, angle: angle_of(ai), score: v });
            }
        }
    }
    maxima.sort_by(|a, b| b.score.total_cmp(&a.score));
    maxima.truncate(keep);
    maxima
        .into_iter()
        .map(|coarse| {
            let mut best = coarse;
            for dp in -5..=5 {
                for da in -5..=5 {
                    let period = coarse.period * (1.0 + 0.002 * dp as f32);
                    let angle = coarse.angle + (da as f32 * 0.2).to_radians();
                    let score = spectrum.lattice_score(period, angle);
                    if score > best.score {
                        best = Lattice { period, angle: angle.rem_euclid(FRAC_PI_2), score };
                    }
                }
            }
            best
        })
        .collect()
}

/// Pre-filter: removes the image's own low frequencies and evens out local contrast, so the
/// faint mark is not drowned by the picture.
pub fn residual(luma: &Plane) -> Plane {
    let smooth = luma.box_blur(1).box_blur(1);
    let mut res = Plane {
        width: luma.width,
        height: luma.height,
        data: luma.data.iter().zip(&smooth.data).map(|(v, s)| v - s).collect(),
    };
    let local = res.box_blur_of(6, f32::abs);
    // Dividing by the square of the local residual level (not the level itself) mutes
    // edges and busy texture hardest: measured best among the variants tried.
    for (v, m) in res.data.iter_mut().zip(&local.data) {
        *v = (*v / (m * m + 0.25)).clamp(-2.0, 2.0);
    }
    res
}

/// The pre-filtered plane weighted by how strongly the embedder marked each place, to find
/// the lattice and the tile's offset on. After a downscale and JPEG, flat areas hold little
/// of the mark (the embedder put a fifth of its strength there) but the pre-filter's
/// division by the local level amplifies what the codec left in them; muting them lets the
/// textured areas, which carry most of the mark, decide the alignment. Cells are still read
/// from the unweighted residual: weighting the reads as well was measured worse (see
/// docs/watermark.md).
pub fn texture_weighted(residual: &Plane, luma: &Plane) -> Plane {
    // The embedder's mask estimated on working pixels, over 3 x 3 of them.
    let mask = perceptual_mask(luma, 1);
    let data = residual.data.iter().zip(&mask.data).map(|(r, m)| r * m).collect();
    Plane { width: residual.width, height: residual.height, data }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_texture_weight_follows_the_embedders_mask() {
        use crate::watermark::embed::{FLAT_GAIN, TEXTURE_GAIN};
        // Left half flat, right half a strong checkerboard; a residual of 1 everywhere.
        let luma = Plane {
            width: 32,
            height: 8,
            data: (0..8 * 32)
                .map(|i| if i % 32 < 16 { 100.0 } else { 100.0 + 40.0 * ((i + i / 32) % 2) as f32 })
                .collect(),
        };
        let ones = Plane { width: 32, height: 8, data: vec![1.0; 32 * 8] };
        let weighted = texture_weighted(&ones, &luma);
        let flat = weighted.at(4, 4);
        let busy = weighted.at(28, 4);
        assert!((flat - FLAT_GAIN).abs() < 1e-4, "flat {flat}");
        assert!(busy > 1.4 && busy <= TEXTURE_GAIN, "busy {busy}");
    }

    /// A faint square lattice (period 45, 5 degrees) under noise and an 8 px block grid:
    /// edges down every eighth column and along every eighth row, of random strength per
    /// block but one sign, as the pre-filter leaves JPEG's block edges (its output is
    /// divided by the local level, so what repeats every 8 px is the edges' mean).
    fn blocky_plane_with_a_lattice() -> Plane {
        use rand::{Rng, SeedableRng};
        use std::f32::consts::TAU;
        const EDGE: f32 = 4.0;
        const MARK: f32 = 0.25;
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        let (width, height) = (320, 320);
        let (period, angle) = (45.0f32, 5.0f32.to_radians());
        let edges: Vec<f32> = (0..2 * 40 * 40).map(|_| rng.gen_range(0.0..EDGE)).collect();
        // A tile with random phases on its harmonics up to the third in each direction.
        let harmonics: Vec<(f32, f32, f32)> = (-3..=3)
            .flat_map(|k| (-3..=3).map(move |l| (k as f32, l as f32)))
            .filter(|&(k, l)| (k, l) != (0.0, 0.0))
            .map(|(k, l)| (k, l, rng.gen_range(0.0..TAU)))
            .collect();
        let mut data = Vec::with_capacity(width * height);
        for y in 0..height {
            for x in 0..width {
                let (xf, yf) = (x as f32, y as f32);
                let u = (xf * angle.cos() + yf * angle.sin()) / period;
                let v = (-xf * angle.sin() + yf * angle.cos()) / period;
                let mark: f32 = harmonics
                    .iter()
                    .map(|&(k, l, phase)| (TAU * (k * u + l * v) + phase).cos() / (1.0 + k.abs() + l.abs()))
                    .sum();
                let block = (y / 8) * 40 + x / 8;
                let edge = if x % 8 == 0 { edges[2 * block] } else { 0.0 }
                    + if y % 8 == 0 { edges[2 * block + 1] } else { 0.0 };
                data.push(MARK * mark + edge + rng.gen_range(-1.0..1.0));
            }
        }
        Plane { width, height, data }
    }

    #[test]
    fn the_block_grid_is_notched_out_of_the_lattice_search() {
        let plane = blocky_plane_with_a_lattice();
        let truth = Lattice { period: 45.0, angle: 5.0f32.to_radians(), score: 0.0 };
        let shortlist = |block| find_lattices(&plane, block, 24.0, 176.0, 4);
        // The grid's own lattices (multiples of 8 px at 0 degrees) and their 45-degree
        // relatives.
        let on_the_grid = |l: &Lattice| {
            with_relatives(&[*l], 0.0, f32::MAX).iter().any(|r| {
                let blocks = r.period / 8.0;
                r.angle.min(FRAC_PI_2 - r.angle) < 0.01 && (blocks - blocks.round()).abs() < 0.02 * blocks
            })
        };
        // Without the notch the grid's lattices lead the spectrum's shortlist.
        let unnotched = shortlist((0.0, 0.0));
        assert!(unnotched.iter().take(2).all(on_the_grid), "{unnotched:?}");
        assert!(!unnotched.iter().any(|l| l.near(&truth)), "{unnotched:?}");
        // With it they are gone, and the mark's lattice (or a relative) leads.
        let notched = shortlist((8.0, 8.0));
        assert!(!notched.iter().any(on_the_grid), "{notched:?}");
        let leader = notched.first().map(|l| with_relatives(&[*l], 0.0, f32::MAX)).unwrap_or_default();
        assert!(leader.iter().any(|l| l.near(&truth)), "{notched:?}");
    }

    #[test]
    fn scoring_many_periods_at_once_gives_each_its_own_score() {
        let spectrum = Spectrum::compute(&blocky_plane_with_a_lattice(), (8.0, 8.0));
        let periods: Vec<f32> = (0..60).map(|i| 24.0 * 1.03f32.powi(i)).collect();
        for angle in [0.0, 0.3, 1.2] {
            let mut batch = vec![0.0; periods.len()];
            spectrum.lattice_scores(&periods, angle, HARMONICS, &mut batch);
            for (&period, &score) in periods.iter().zip(&batch) {
                assert_eq!(
                    score.to_bits(),
                    spectrum.lattice_score(period, angle).to_bits(),
                    "{period} {angle}"
                );
            }
        }
        // The true lattice stands out with the low harmonics alone, as the coarse search
        // needs.
        let truth = 5.0f32.to_radians();
        let mut low = [0.0; 3];
        spectrum.lattice_scores(&[45.0, 45.0 * 1.07, 45.0 / 1.07], truth, COARSE_HARMONICS, &mut low);
        assert!(low[0] > 2.0 * low[1].max(low[2]), "{low:?}");
    }

    #[test]
    fn a_relative_leads_back_to_the_true_lattice_once() {
        // The shortlist holds only the two 45-degree relatives of a 40 px lattice at 0.
        let relative = |period: f32| Lattice { period, angle: FRAC_PI_4, score: 1.0 };
        let shortlist = [relative(40.0 * SQRT_2), relative(40.0 * FRAC_1_SQRT_2)];
        let all = with_relatives(&shortlist, 24.0, 176.0);
        let truth = Lattice { period: 40.0, angle: 0.0, score: 0.0 };
        // Both relatives lead back to it: it is there once, beside them and their other
        // relatives within the period range (80 px; 20 px is below it).
        assert_eq!(all.iter().filter(|l| l.near(&truth)).count(), 1, "{all:?}");
        assert_eq!(all.len(), 4, "{all:?}");
        assert!(all.iter().all(|l| (24.0..=176.0).contains(&l.period)));
        // An angle just under 90 degrees is the same lattice as one just over 0.
        let wrapped = Lattice { period: 40.0, angle: FRAC_PI_2 - 0.001, score: 0.0 };
        assert!(wrapped.near(&truth));
    }
}
