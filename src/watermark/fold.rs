//! The fold: every pixel of a plane accumulated onto one tile under a lattice, which
//! averages all the tiles present whatever the crop; and the eight symmetries of the square
//! under which the fold is matched to the synchronisation template.

use rustfft::num_complex::Complex32;
use rustfft::FftDirection;

use super::fft::{fft2d, to_complex};
use super::pattern::{render, Layout, CELLS, CELL_COUNT};
use super::plane::{floor_i32, Plane};
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
    let [m00, m01, m10, m11] = lattice.bins_of_pixels(FOLD as f32);
    let mut sum = vec![0.0f32; FOLD * FOLD];
    let mut count = vec![0u32; FOLD * FOLD];
    // FOLD is a power of two: masking the two's-complement bin is the cyclic wrap.
    const WRAP: i32 = FOLD as i32 - 1;
    if lattice.warp.has_keystone() {
        let binning = Binning::new(lattice, work.width, work.height);
        for y in 0..work.height {
            let row = &work.data[y * work.width..(y + 1) * work.width];
            for (x, v) in row.iter().enumerate() {
                let bin = binning.bin(x, y);
                sum[bin] += v;
                count[bin] += 1;
            }
        }
        return sum.iter().zip(&count).map(|(s, &c)| if c > 0 { s / c as f32 } else { 0.0 }).collect();
    }
    for y in 0..work.height {
        let (yu, yw) = (y as f32 * m01, y as f32 * m11);
        let row = &work.data[y * work.width..(y + 1) * work.width];
        for (x, v) in row.iter().enumerate() {
            let u = (floor_i32(x as f32 * m00 + yu) & WRAP) as usize;
            let w = (floor_i32(x as f32 * m10 + yw) & WRAP) as usize;
            sum[w * FOLD + u] += v;
            count[w * FOLD + u] += 1;
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
    lattice: Lattice,
    centre: (f32, f32),
}

impl Binning {
    pub(super) fn new(lattice: Lattice, width: usize, height: usize) -> Binning {
        let centre =
            if lattice.warp.has_keystone() { (width as f32 / 2.0, height as f32 / 2.0) } else { (0.0, 0.0) };
        Binning { m: lattice.bins_of_pixels(FOLD as f32), lattice, centre }
    }

    pub(super) fn bin(&self, x: usize, y: usize) -> usize {
        const WRAP: i32 = FOLD as i32 - 1;
        let [m00, m01, m10, m11] = self.m;
        let (dx, dy) = (x as f32 - self.centre.0, y as f32 - self.centre.1);
        let depth = if self.lattice.warp.has_keystone() {
            self.lattice.warp.depth((dx / self.centre.0, dy / self.centre.1))
        } else {
            1.0
        };
        let u = (floor_i32((dx * m00 + dy * m01) / depth) & WRAP) as usize;
        let w = (floor_i32((dx * m10 + dy * m11) / depth) & WRAP) as usize;
        w * FOLD + u
    }
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
    let mut folded = to_complex(&fold(plane, lattice));
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
