//! Detection: normalise, pre-filter, find the tile lattice, fold the image onto one tile,
//! find the tile's offset and orientation from the synchronisation cells, read the cells and
//! decode.

use std::rc::Rc;

use image::RgbImage;
use rustfft::num_complex::Complex32;
use rustfft::FftDirection;

use super::code::{decode, encode, TAG_BITS};
use super::fft::{fft2d, to_complex};
use super::fold::{apply_symmetry, fold, sync_templates, turn_back, BINS_PER_CELL, DIHEDRAL, FOLD};
use super::pattern::{Layout, CELLS, CELL_COUNT};
use super::plane::Plane;
use super::stack::{FrameStack, WorkingPlanes};
use super::sync::{find_lattices, with_relatives, Lattice};
use super::{Detection, Key, Transform};

/// The longest tile period searched for, as a fraction of the working short side: a tile
/// must repeat at least about twice across what is left of the picture to show a lattice.
pub(super) const MAX_PERIOD_OF_SHORT_SIDE: f32 = 0.55;
/// Lattice candidates taken from the spectrum search (each then joined by its 45-degree
/// relatives, see `with_relatives`).
const LATTICE_CANDIDATES: usize = 4;
/// Lattice candidates refined and decoded, best synchronisation first.
const LATTICES_DECODED: usize = 3;
/// Fine registrations (period and angle within the refinement's reach) decoded per lattice.
const REGISTRATIONS_PER_LATTICE: usize = 2;
/// Orientation/offset peaks decoded per registration, best first: the right symmetry is not
/// always the strongest peak when the mark is weak.
const PEAKS_PER_REGISTRATION: usize = 2;
/// Alignments decoded per image.
pub const DECODE_ATTEMPTS: usize = LATTICES_DECODED * REGISTRATIONS_PER_LATTICE * PEAKS_PER_REGISTRATION;
/// Codewords the list decoder tries per alignment for a picture, best first.
pub const PICTURE_LIST: usize = 4;
/// Integrity-tag tests per picture: the false-positive arithmetic counts them.
pub const TAG_TESTS: usize = DECODE_ATTEMPTS * PICTURE_LIST;
// The false-positive bound: TAG_TESTS * 2^-TAG_BITS must stay at most 1e-9.
const _: () = assert!(TAG_TESTS as u64 * 1_000_000_000 <= 1 << TAG_BITS);
/// The period, in working pixels, the pre-filter and the fold suit best: a lattice found with
/// a period above `RESAMPLE_ABOVE` (a large tile on a small or cropped picture) is folded
/// from the picture resampled so its period is `CANONICAL_PERIOD`. Otherwise the 5 x 5
/// pre-filter would take away much of the mark's larger cells.
const CANONICAL_PERIOD: f32 = 40.0;
const RESAMPLE_ABOVE: f32 = 64.0;
/// Fine search around each candidate: relative period and angle (radians) offsets.
const PERIOD_STEPS: [f32; 5] = [-0.01, -0.005, 0.0, 0.005, 0.01];
const ANGLE_STEPS: [f32; 3] = [-0.007, 0.0, 0.007];

/// A correlation peak: a symmetry of the square and a cyclic offset, with its z-score.
#[derive(Debug, Clone, Copy)]
struct Peak {
    z: f32,
    symmetry: usize,
    shift: (usize, usize),
}

/// The planes at one scale (the working size, or resampled for a large tile): the
/// texture-weighted residual alignments are found on, and the residual cells are read from.
#[derive(Clone)]
struct Planes {
    weighted: Rc<Plane>,
    residual: Rc<Plane>,
    /// The planes' pixels per working pixel.
    scale: f32,
}

/// One lattice's best peaks (best first, one per symmetry) in the fold of the weighted
/// plane, with the planes it was folded from.
struct Alignment {
    planes: Planes,
    lattice: Lattice,
    peaks: Vec<Peak>,
}

impl Alignment {
    fn z(&self) -> f32 {
        self.peaks.first().map_or(f32::NEG_INFINITY, |p| p.z)
    }
}

/// Candidate alignments, best synchronisation first, each with the cells it reads: exactly
/// the `DECODE_ATTEMPTS` the false-positive arithmetic counts (fewer when the spectrum has
/// fewer lattice candidates).
fn attempts(stack: &FrameStack, layout: &Layout) -> Vec<(Transform, [f32; CELL_COUNT])> {
    let Some((WorkingPlanes { residual, weighted, luma }, factor)) = stack.working_planes() else {
        return Vec::new();
    };
    let min_period = 24.0;
    let max_period = MAX_PERIOD_OF_SHORT_SIDE * weighted.width.min(weighted.height) as f32;
    let lattices = find_lattices(&weighted, stack.block_period(), min_period, max_period, LATTICE_CANDIDATES);
    let templates = sync_templates(layout);
    let work = Planes { weighted: Rc::new(weighted), residual: Rc::new(residual), scale: 1.0 };

    let mut coarse: Vec<Alignment> = with_relatives(&lattices, min_period, max_period)
        .iter()
        .map(|l| {
            let planes = planes_for(&work, &luma, l.period);
            let lattice = Lattice { period: l.period * planes.scale, ..*l };
            align(planes, lattice, &templates)
        })
        .collect();
    coarse.sort_by(|a, b| b.z().total_cmp(&a.z()));
    let mut refined: Vec<Vec<Alignment>> =
        coarse.into_iter().take(LATTICES_DECODED).map(|a| refine(a, &templates)).collect();
    refined.sort_by(|a, b| best_z(b).total_cmp(&best_z(a)));

    refined
        .iter()
        .flatten()
        .flat_map(|a| {
            let cells_fold = Rc::new(fold(&a.planes.residual, a.lattice));
            a.peaks.iter().take(PEAKS_PER_REGISTRATION).map(move |p| (a, Rc::clone(&cells_fold), *p))
        })
        .map(|(alignment, cells_fold, peak)| {
            let (a, b, c, d) = DIHEDRAL[peak.symmetry];
            let transform = Transform {
                tile_period_px: alignment.lattice.period / alignment.planes.scale / factor,
                rotation_degrees: alignment.lattice.angle.to_degrees(),
                // A symmetry with a negative determinant is a mirror image.
                flipped: a * d - b * c < 0,
            };
            (transform, read_cells(&cells_fold, peak))
        })
        .collect()
}

/// The planes to fold a lattice of this period (working pixels) from: the working planes
/// themselves, or for a large period the picture resampled to the canonical
/// period and pre-filtered again.
fn planes_for(work: &Planes, luma: &Plane, period: f32) -> Planes {
    if period <= RESAMPLE_ABOVE {
        return work.clone();
    }
    let scale = CANONICAL_PERIOD / period;
    let width = ((luma.width as f32 * scale).round() as usize).max(16);
    let height = ((luma.height as f32 * scale).round() as usize).max(16);
    let WorkingPlanes { residual, weighted, .. } = WorkingPlanes::from_luma(luma.resize(width, height));
    Planes { weighted: Rc::new(weighted), residual: Rc::new(residual), scale }
}

/// Soft coded bits from cells, normalised to unit RMS.
fn normalised_soft_bits(layout: &Layout, cells: &[f32; CELL_COUNT]) -> Vec<f32> {
    let mut soft = layout.soft_bits(cells);
    let rms = (soft.iter().map(|v| v * v).sum::<f32>() / soft.len() as f32).sqrt().max(1e-9);
    soft.iter_mut().for_each(|v| *v /= rms);
    soft
}

pub fn detect(image: &RgbImage, key: &Key) -> Option<Detection> {
    let mut stack = FrameStack::new();
    stack.add(image);
    stack.detect(key)
}

pub(super) fn detect_stack(stack: &FrameStack, key: &Key, list: usize) -> Option<Detection> {
    let layout = Layout::new(key);
    for (transform, cells) in attempts(stack, &layout) {
        let soft = normalised_soft_bits(&layout, &cells);
        if let Some(payload) = decode(key, &soft, list) {
            let codeword = encode(key, payload);
            let agreement =
                soft.iter().zip(&codeword).map(|(s, &b)| if b == 1 { *s } else { -*s }).sum::<f32>()
                    / soft.len() as f32;
            return Some(Detection { payload, score: agreement.clamp(0.0, 1.0), transform });
        }
    }
    None
}

/// For measurement: the most coded bits any attempt reads right for a known payload.
#[doc(hidden)]
pub fn coded_bits_right(image: &RgbImage, key: &Key, payload: u64) -> usize {
    let layout = Layout::new(key);
    let codeword = encode(key, payload);
    let mut stack = FrameStack::new();
    stack.add(image);
    attempts(&stack, &layout)
        .iter()
        .map(|(_, cells)| {
            let soft = layout.soft_bits(cells);
            soft.iter().zip(&codeword).filter(|(s, &b)| (**s > 0.0) == (b == 1)).count()
        })
        .max()
        .unwrap_or(0)
}

/// The best cyclic shift of one fold against the synchronisation template under each
/// symmetry of the square, best first.
fn align(planes: Planes, lattice: Lattice, templates: &[Vec<Complex32>]) -> Alignment {
    let mut folded = to_complex(&fold(&planes.weighted, lattice));
    fft2d(&mut folded, FOLD, FOLD, FOLD, FftDirection::Forward);
    let mut peaks = Vec::with_capacity(DIHEDRAL.len());
    for (symmetry, template) in templates.iter().enumerate() {
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
        peaks.push(Peak { z: (peak - mean) / std, symmetry, shift });
    }
    peaks.sort_by(|a, b| b.z.total_cmp(&a.z));
    Alignment { planes, lattice, peaks }
}

/// Searches small period and angle corrections around a candidate (over many tiles, a
/// fraction of a pixel of period error smears the fold) and keeps the
/// `REGISTRATIONS_PER_LATTICE` best, best first. The template's 44 cells make the peak's
/// z-score a noisy guide at this scale: the best and the second best registration each
/// decode pictures the other misses.
fn refine(start: Alignment, templates: &[Vec<Complex32>]) -> Vec<Alignment> {
    let base = start.lattice;
    let planes = start.planes.clone();
    let mut all = vec![start];
    for dp in PERIOD_STEPS {
        for da in ANGLE_STEPS {
            if dp == 0.0 && da == 0.0 {
                continue;
            }
            let lattice =
                Lattice { period: base.period * (1.0 + dp), angle: base.angle + da, score: base.score };
            all.push(align(planes.clone(), lattice, templates));
        }
    }
    all.sort_by(|a, b| b.z().total_cmp(&a.z()));
    all.truncate(REGISTRATIONS_PER_LATTICE);
    all
}

/// The best peak among a lattice's registrations.
fn best_z(registrations: &[Alignment]) -> f32 {
    registrations.iter().map(Alignment::z).fold(f32::NEG_INFINITY, f32::max)
}

/// Cell values from the fold aligned by a peak: a raised-cosine weighted sum around each
/// cell centre.
fn read_cells(fold: &[f32], peak: Peak) -> [f32; CELL_COUNT] {
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
    use crate::watermark::fold::{sync_pattern, turn};
    use rand::{Rng, SeedableRng};

    #[test]
    fn one_transform_of_the_fold_finds_what_turning_the_fold_finds() {
        let layout = Layout::new(&Key::from_bytes([3; 32]));
        let t = sync_pattern(&layout);
        // A fold holding the template turned by symmetry 5 and shifted by (9, 50), in noise.
        let (planted, shift) = (5, (9, 50));
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        let mut folded: Vec<f32> = (0..FOLD * FOLD).map(|_| rng.gen_range(-1.0..1.0)).collect();
        for (x, value) in t.iter().enumerate() {
            let (u, v) = turn(planted, ((x % FOLD + shift.0) % FOLD, (x / FOLD + shift.1) % FOLD));
            folded[v * FOLD + u] += value;
        }
        // One tile of working pixels folds to itself.
        let plane = Rc::new(Plane { width: FOLD, height: FOLD, data: folded.clone() });
        let planes = Planes { weighted: Rc::clone(&plane), residual: plane, scale: 1.0 };
        let lattice = Lattice { period: FOLD as f32, angle: 0.0, score: 0.0 };
        let alignment = align(planes, lattice, &sync_templates(&layout));
        // Brute force: turn the fold by each symmetry and correlate it with the template.
        for symmetry in 0..DIHEDRAL.len() {
            let candidate = apply_symmetry(&folded, symmetry);
            let values: Vec<f32> = (0..FOLD * FOLD)
                .map(|s| {
                    let (su, sv) = (s % FOLD, s / FOLD);
                    (0..FOLD * FOLD)
                        .map(|x| candidate[((x / FOLD + sv) % FOLD) * FOLD + (x % FOLD + su) % FOLD] * t[x])
                        .sum()
                })
                .collect();
            let n = values.len() as f32;
            let mean = values.iter().sum::<f32>() / n;
            let std = (values.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n).sqrt();
            let best = values.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let peak = alignment.peaks.iter().find(|p| p.symmetry == symmetry).unwrap();
            assert!((peak.z - (best - mean) / std).abs() < 1e-2, "symmetry {symmetry}: {}", peak.z);
            if symmetry == planted {
                assert_eq!(peak.shift, shift);
            }
        }
        assert_eq!(alignment.peaks[0].symmetry, planted);
    }
}
