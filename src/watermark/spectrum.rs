//! The residual's whitened power spectrum, and the score of a square lattice in it: the mean
//! power over the lattice's harmonics. The synchronisation search (`sync`) ranks candidate
//! tile lattices by it.

use rustfft::num_complex::Complex32;
use rustfft::FftDirection;

use super::fft::fft2d;
use super::lattice::Lattice;
use super::plane::{floor_i32, Plane};
use super::warp::Warp;

/// Harmonics along each axis in a lattice's score: the mark's cells put energy up to
/// about the twelfth harmonic of the tile at the working scale.
pub(super) const HARMONICS: i32 = 12;
/// Harmonics in the coarse search's scores. Its grid steps the angle by 1 degree and the
/// period by 1 %, which moves harmonic k of a 40 px lattice by about k/2 bins of the padded
/// spectrum: only the low harmonics are sampled near their peaks, and the high ones add
/// noise between grid points. The fine search scores all of them.
pub(super) const COARSE_HARMONICS: i32 = 6;

/// The most bins along either axis, unless the side is longer. Padding each side to at least
/// twice its length keeps the bilinear reads between bins close to the peaks; the long side
/// of a strip's working plane (over 1,024 px, so beyond about 3:1) is padded less, since its
/// bins are already finer than the reads need, and a strip's transform then costs half as
/// much.
const MAX_BINS: usize = 2048;

/// The residual's power spectrum, whitened by its radial average, so that a tiled mark
/// shows as a comb of peaks on the dual lattice standing above a flat floor of ~1.
pub(super) struct Spectrum {
    power: Vec<f32>,
    pw: usize,
    ph: usize,
}

impl Spectrum {
    /// `block`: the period, in working pixels along x and y, of the input's 8 x 8 block
    /// grid (see `notch_block_grid`).
    pub(super) fn compute(residual: &Plane, block: (f32, f32)) -> Spectrum {
        let (w, h) = (residual.width, residual.height);
        let bins = |n: usize| (2 * n).next_power_of_two().min(MAX_BINS.max(n.next_power_of_two()));
        let (pw, ph) = (bins(w), bins(h));
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
    /// lines and outscores the mark after a downscale and strong JPEG. The lines cost a
    /// genuine lattice a few of its harmonics at most.
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

    /// Mean whitened power over the harmonics of a lattice (half plane, below Nyquist, up to
    /// `HARMONICS` along each of its axes), minus the floor: about 0 for an unmarked image.
    pub(super) fn lattice_score(&self, lattice: &Lattice) -> f32 {
        let mut score = [0.0];
        self.lattice_scores(&[lattice.period], lattice.angle, lattice.warp, HARMONICS, &mut score);
        score[0]
    }

    /// `lattice_score` for many periods at one angle, with harmonics up to `harmonics`. The
    /// harmonic is the outer loop: the same harmonic of neighbouring periods lies a few bins
    /// apart along one ray, so the spectrum's reads stay close (scoring one lattice at a time
    /// jumps across its 4 MB). Each period's sum still adds its harmonics in the same order.
    /// The lattices share one warp: a harmonic (k, l) of the square lattice is at W^-T of its
    /// frequency.
    pub(super) fn lattice_scores(
        &self,
        periods: &[f32],
        angle: f32,
        warp: Warp,
        harmonics: i32,
        scores: &mut [f32],
    ) {
        self.lattice_scores_warped(periods, angle, &[warp], harmonics, scores);
    }

    /// `lattice_scores` under each of `warps`, into `scores` warp-major (one row of periods
    /// per warp). The warps are the innermost loop: warps that differ in stretch alone put a
    /// harmonic on the same rows of the spectrum a few bins apart, so its reads share cache
    /// lines. Each lattice's sum adds its harmonics in the same order as one scored alone.
    pub(super) fn lattice_scores_warped(
        &self,
        periods: &[f32],
        angle: f32,
        warps: &[Warp],
        harmonics: i32,
        scores: &mut [f32],
    ) {
        let (cos, sin) = (angle.cos(), angle.sin());
        // The two dual basis vectors per period and warp, period-major: harmonic (k, l) is
        // k b1 + l b2.
        let steps: Vec<((f32, f32), (f32, f32))> = periods
            .iter()
            .flat_map(|p| {
                warps.iter().map(move |w| (w.frequency((cos / p, sin / p)), w.frequency((-sin / p, cos / p))))
            })
            .collect();
        let mut sums = vec![0.0f32; steps.len()];
        let mut counts = vec![0u32; steps.len()];
        for k in 0..=harmonics {
            for l in -harmonics..=harmonics {
                if k == 0 && l <= 0 {
                    continue;
                }
                let (k, l) = (k as f32, l as f32);
                for ((&(b1, b2), sum), n) in steps.iter().zip(sums.iter_mut()).zip(counts.iter_mut()) {
                    let (fx, fy) = (k * b1.0 + l * b2.0, k * b1.1 + l * b2.1);
                    if fx.abs() > 0.45 || fy.abs() > 0.45 {
                        continue;
                    }
                    *sum += self.at(fx, fy);
                    *n += 1;
                }
            }
        }
        let (np, nw) = (periods.len(), warps.len());
        for (i, (sum, &n)) in sums.iter().zip(&counts).enumerate() {
            let (pi, wi) = (i / nw, i % nw);
            scores[wi * np + pi] = if n == 0 { 0.0 } else { sum / n as f32 - 1.0 };
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};

    use super::*;

    /// Batching the warps is only another order of the same arithmetic: every score is the
    /// one of its lattice scored alone, bit for bit.
    #[test]
    fn scores_do_not_depend_on_how_they_are_batched() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        let (width, height) = (200, 150);
        let plane =
            Plane { width, height, data: (0..width * height).map(|_| rng.gen_range(-1.0..1.0)).collect() };
        let spectrum = Spectrum::compute(&plane, (0.0, 0.0));
        let periods = [24.0, 31.5, 40.0, 57.0];
        let warps = [Warp::linear(0.8, 0.0), Warp::IDENTITY, Warp::linear(1.3, 0.0)];
        for angle in [0.0f32, 0.3, 1.2] {
            let mut batched = vec![0.0; warps.len() * periods.len()];
            spectrum.lattice_scores_warped(&periods, angle, &warps, HARMONICS, &mut batched);
            for (w, warp) in warps.iter().enumerate() {
                let mut alone = vec![0.0; periods.len()];
                spectrum.lattice_scores(&periods, angle, *warp, HARMONICS, &mut alone);
                for (p, &period) in periods.iter().enumerate() {
                    let one = spectrum.lattice_score(&Lattice { period, angle, warp: *warp, score: 0.0 });
                    assert_eq!(alone[p].to_bits(), one.to_bits(), "{angle} {warp:?} {period}");
                    assert_eq!(
                        batched[w * periods.len() + p].to_bits(),
                        one.to_bits(),
                        "{angle} {warp:?} {period}"
                    );
                }
            }
        }
    }
}
