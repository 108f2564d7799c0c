//! The fold: every pixel of a plane accumulated onto one tile under a lattice, which
//! averages all the tiles present whatever the crop; and the eight symmetries of the square
//! under which the fold is matched to the synchronisation template.

use rustfft::num_complex::Complex32;
use rustfft::FftDirection;

use super::fft::{fft2d, to_complex};
use super::pattern::{render, Layout, CELLS, CELL_COUNT};
use super::plane::Plane;
use super::sync::Lattice;

/// Size of the folded tile: 4 bins per cell.
pub(super) const FOLD: usize = 64;
pub(super) const BINS_PER_CELL: usize = FOLD / CELLS;
const _: () = assert!(FOLD.is_power_of_two());
/// The eight symmetries of the square: the lattice fixes the angle only modulo 90 degrees,
/// and a mirrored image is the same lattice flipped.
pub(super) const DIHEDRAL: [(i8, i8, i8, i8); 8] = [
    (1, 0, 0, 1),
    (0, -1, 1, 0),
    (-1, 0, 0, -1),
    (0, 1, -1, 0),
    (-1, 0, 0, 1),
    (0, 1, 1, 0),
    (1, 0, 0, -1),
    (0, -1, -1, 0),
];

/// The synchronisation template's spectrum turned by each symmetry S of the square:
/// T_S(S x) = T(x). Correlating the fold itself with T_S gives at shift S t what correlating
/// the fold turned by S with T gives at t, so one transform of the fold serves all eight.
pub(super) fn sync_templates(layout: &Layout) -> Vec<Vec<Complex32>> {
    let t = sync_pattern(layout);
    (0..DIHEDRAL.len()).map(|symmetry| turned_spectrum(&t, symmetry)).collect()
}

/// A pattern's spectrum turned by a symmetry S of the square: T_S(S x) = T(x).
pub(super) fn turned_spectrum(pattern: &[f32], symmetry: usize) -> Vec<Complex32> {
    let mut turned = vec![0.0; FOLD * FOLD];
    for (x, value) in pattern.iter().enumerate() {
        let (u, v) = turn(symmetry, (x % FOLD, x / FOLD));
        turned[v * FOLD + u] = *value;
    }
    let mut spectrum = to_complex(&turned);
    fft2d(&mut spectrum, FOLD, FOLD, FOLD, FftDirection::Forward);
    spectrum
}

/// The synchronisation cells rendered at the fold's size, less their mean.
pub(super) fn sync_pattern(layout: &Layout) -> Vec<f32> {
    pattern_of(&layout.sync_values())
}

/// Cell values rendered at the fold's size, less their mean.
pub(super) fn pattern_of(values: &[f32; CELL_COUNT]) -> Vec<f32> {
    let mut t = render(values, FOLD);
    let mean = t.iter().sum::<f32>() / t.len() as f32;
    t.iter_mut().for_each(|v| *v -= mean);
    t
}

/// A fold coordinate under a symmetry of the square (as `apply_symmetry` reads it), or under
/// its inverse, which for these matrices is the transpose.
pub(super) fn turn(symmetry: usize, (u, v): (usize, usize)) -> (usize, usize) {
    let (a, b, c, d) = DIHEDRAL[symmetry];
    turn_by((a, b, c, d), (u, v))
}

pub(super) fn turn_back(symmetry: usize, (u, v): (usize, usize)) -> (usize, usize) {
    let (a, b, c, d) = DIHEDRAL[symmetry];
    turn_by((a, c, b, d), (u, v))
}

fn turn_by((a, b, c, d): (i8, i8, i8, i8), (u, v): (usize, usize)) -> (usize, usize) {
    let n = FOLD as isize;
    let (u, v) = (u as isize, v as isize);
    let su = (isize::from(a) * u + isize::from(b) * v).rem_euclid(n);
    let sv = (isize::from(c) * u + isize::from(d) * v).rem_euclid(n);
    (su as usize, sv as usize)
}

/// Accumulates every working pixel into the tile bin it maps to under the lattice.
pub(super) fn fold(work: &Plane, lattice: Lattice) -> Vec<f32> {
    fold_sampled(work, lattice, 1)
}

/// Accumulates every `step`-th pixel of every `step`-th row into the tile bin it maps to:
/// a fold with a `step`² of the cost and of the samples per bin, whose peaks rank
/// candidate geometries nearly as the whole fold's do.
pub(super) fn fold_sampled(work: &Plane, lattice: Lattice, step: usize) -> Vec<f32> {
    let mut sum = vec![0.0f32; FOLD * FOLD];
    let mut count = vec![0u32; FOLD * FOLD];
    let binning = Binning::new(lattice, work.width, work.height);
    // A row's bins are found first and accumulated after: the first loop has no stores
    // that depend on each other, and runs several pixels at once.
    let mut bins = vec![0u32; work.width.div_ceil(step)];
    for y in (0..work.height).step_by(step) {
        binning.row(y, step, &mut bins);
        let row = &work.data[y * work.width..(y + 1) * work.width];
        for (&bin, v) in bins.iter().zip(row.iter().step_by(step)) {
            sum[bin as usize] += v;
            count[bin as usize] += 1;
        }
    }
    sum.iter().zip(&count).map(|(s, &c)| if c > 0 { s / c as f32 } else { 0.0 }).collect()
}

/// Which fold bin (row-major) each pixel of a plane falls in under a lattice. Under a
/// keystone the bin is taken from the plane's centre, the linear map divided by the depth
/// there (see `Warp`); a linear lattice is cyclic, so where it is taken from is only a shift
/// of the fold.
pub(super) struct Binning {
    m: [f32; 4],
    keystone: Option<(f32, f32)>,
    centre: (f32, f32),
}

impl Binning {
    pub(super) fn new(lattice: Lattice, width: usize, height: usize) -> Binning {
        let warp = lattice.warp;
        let centre = if warp.has_keystone() { (width as f32 / 2.0, height as f32 / 2.0) } else { (0.0, 0.0) };
        let keystone = warp.has_keystone().then_some(warp.keystone);
        Binning { m: lattice.bins_of_pixels(FOLD as f32), keystone, centre }
    }

    /// The bins of every `step`-th pixel of row `y`, from its first.
    pub(super) fn row(&self, y: usize, step: usize, bins: &mut [u32]) {
        // FOLD is a power of two: masking the two's-complement bin is the cyclic wrap.
        const WRAP: i32 = FOLD as i32 - 1;
        let [m00, m01, m10, m11] = self.m;
        let dy = y as f32 - self.centre.1;
        let (yu, yw) = (dy * m01, dy * m11);
        let x0 = -self.centre.0;
        let step = step as f32;
        match self.keystone {
            None => {
                for (i, bin) in bins.iter_mut().enumerate() {
                    let dx = x0 + i as f32 * step;
                    let u = floor_bits(dx * m00 + yu) & WRAP;
                    let w = floor_bits(dx * m10 + yw) & WRAP;
                    *bin = (w * FOLD as i32 + u) as u32;
                }
            }
            Some((kx, ky)) => {
                let (cx, cy) = self.centre;
                let row_depth = ky * (dy / cy);
                for (i, bin) in bins.iter_mut().enumerate() {
                    let dx = x0 + i as f32 * step;
                    let depth = 1.0 + kx * (dx / cx) + row_depth;
                    let u = floor_bits((dx * m00 + yu) / depth) & WRAP;
                    let w = floor_bits((dx * m10 + yw) / depth) & WRAP;
                    *bin = (w * FOLD as i32 + u) as u32;
                }
            }
        }
    }
}

/// The low bits of floor(v) for |v| < 2^21, by adding 1.5 x 2^23: the sum's mantissa then
/// holds v rounded to the nearest integer in its low bits, with no conversion (which would
/// not run several at once), and one less where that rounded up.
#[inline]
fn floor_bits(v: f32) -> i32 {
    const MAGIC: f32 = 12_582_912.0;
    let rounded = v + MAGIC;
    (rounded.to_bits() as i32) - i32::from(rounded - MAGIC > v)
}

pub(super) fn apply_symmetry(fold: &[f32], symmetry: usize) -> Vec<f32> {
    let mut out = vec![0.0; FOLD * FOLD];
    for (x, value) in out.iter_mut().enumerate() {
        let (su, sv) = turn(symmetry, (x % FOLD, x / FOLD));
        *value = fold[sv * FOLD + su];
    }
    out
}

/// A correlation peak: a symmetry of the square and a cyclic offset, with its z-score.
#[derive(Debug, Clone, Copy)]
pub(super) struct Peak {
    pub z: f32,
    pub symmetry: usize,
    pub shift: (usize, usize),
}

/// The spectrum of a plane's fold under a lattice.
pub(super) fn fold_spectrum(plane: &Plane, lattice: Lattice) -> Vec<Complex32> {
    sampled_fold_spectrum(plane, lattice, 1)
}

/// The spectrum of a plane's fold under a lattice from every `step`-th pixel and row (see
/// `fold_sampled`).
pub(super) fn sampled_fold_spectrum(plane: &Plane, lattice: Lattice, step: usize) -> Vec<Complex32> {
    let mut folded = to_complex(&fold_sampled(plane, lattice, step));
    fft2d(&mut folded, FOLD, FOLD, FOLD, FftDirection::Forward);
    folded
}

/// The best cyclic shift of a fold (its spectrum) against a template turned by a symmetry.
pub(super) fn peak_of(folded: &[Complex32], template: &[Complex32], symmetry: usize) -> Peak {
    let mut spectrum: Vec<Complex32> = folded.iter().zip(template).map(|(f, t)| f * t.conj()).collect();
    fft2d(&mut spectrum, FOLD, FOLD, FOLD, FftDirection::Inverse);
    let values: Vec<f32> = spectrum.iter().map(|c| c.re).collect();
    let n = values.len() as f32;
    let mean = values.iter().sum::<f32>() / n;
    let std = (values.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n).sqrt().max(1e-12);
    let (index, peak) =
        values
            .iter()
            .enumerate()
            .fold((0, f32::NEG_INFINITY), |acc, (i, &v)| if v > acc.1 { (i, v) } else { acc });
    // The peak is at S t for the shift t of the turned fold.
    let shift = turn_back(symmetry, (index % FOLD, index / FOLD));
    Peak { z: (peak - mean) / std, symmetry, shift }
}

/// Cell values from the fold aligned by a peak: a raised-cosine weighted sum around each
/// cell centre.
pub(super) fn read_cells(fold: &[f32], peak: Peak) -> [f32; CELL_COUNT] {
    const WEIGHTS: [f32; BINS_PER_CELL] = [0.69, 0.96, 0.96, 0.69];
    let aligned = apply_symmetry(fold, peak.symmetry);
    let (sx, sy) = peak.shift;
    let mut cells = [0.0; CELL_COUNT];
    for (i, cell) in cells.iter_mut().enumerate() {
        let (row, col) = (i / CELLS, i % CELLS);
        let mut acc = 0.0;
        for (dy, wy) in WEIGHTS.iter().enumerate() {
            for (dx, wx) in WEIGHTS.iter().enumerate() {
                let u = (col * BINS_PER_CELL + dx + sx) % FOLD;
                let v = (row * BINS_PER_CELL + dy + sy) % FOLD;
                acc += wx * wy * aligned[v * FOLD + u];
            }
        }
        *cell = acc;
    }
    cells
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floor_bits_are_the_floors_low_bits() {
        const WRAP: i32 = FOLD as i32 - 1;
        for v in [-4095.5f32, -64.0, -3.5, -3.0, -2.999, -0.25, -0.0, 0.0, 0.25, 1.0, 2.5, 3.0, 63.99, 4095.5]
        {
            assert_eq!(floor_bits(v) & WRAP, (v.floor() as i32) & WRAP, "{v}");
        }
    }
}
