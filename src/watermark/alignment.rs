//! Alignments of one lattice: the fold of the weighted plane matched with the
//! synchronisation template under every symmetry of the square, on the planes at the scale
//! the lattice's period suits, and their fine registration.

use std::rc::Rc;

use rustfft::num_complex::Complex32;

use super::fold::{fold_spectrum, peak_of, Peak};
use super::plane::Plane;
use super::stack::WorkingPlanes;
use super::sync::Lattice;

/// The period, in working pixels, the pre-filter and the fold suit best: a lattice found with
/// a period above `RESAMPLE_ABOVE` (a large tile on a small or cropped picture) is folded
/// from the picture resampled so its period is `CANONICAL_PERIOD`. Otherwise the 5 x 5
/// pre-filter would take away much of the mark's larger cells.
const CANONICAL_PERIOD: f32 = 40.0;
const RESAMPLE_ABOVE: f32 = 64.0;
/// Fine search around each candidate: relative period and angle (radians) offsets.
const PERIOD_STEPS: [f32; 5] = [-0.01, -0.005, 0.0, 0.005, 0.01];
const ANGLE_STEPS: [f32; 3] = [-0.007, 0.0, 0.007];

/// The planes at one scale (the working size, or resampled for a large tile): the
/// texture-weighted residual alignments are found on, and the residual cells are read from.
#[derive(Clone)]
pub(super) struct Planes {
    pub(super) weighted: Rc<Plane>,
    pub(super) residual: Rc<Plane>,
    /// The planes' pixels per working pixel.
    pub(super) scale: f32,
}

/// One lattice's best peaks (best first, one per symmetry) in the fold of the weighted
/// plane, with the planes it was folded from.
#[derive(Clone)]
pub(super) struct Alignment {
    pub(super) planes: Planes,
    pub(super) lattice: Lattice,
    pub(super) peaks: Vec<Peak>,
}

impl Alignment {
    pub(super) fn z(&self) -> f32 {
        self.peaks.first().map_or(f32::NEG_INFINITY, |p| p.z)
    }
}

/// The planes to fold a lattice of this period (working pixels) from: the working planes
/// themselves, or for a large period the picture resampled to the canonical
/// period and pre-filtered again.
pub(super) fn planes_for(work: &Planes, plane: &Plane, period: f32) -> Planes {
    if period <= RESAMPLE_ABOVE {
        return work.clone();
    }
    let scale = CANONICAL_PERIOD / period;
    let width = ((plane.width as f32 * scale).round() as usize).max(16);
    let height = ((plane.height as f32 * scale).round() as usize).max(16);
    let WorkingPlanes { residual, weighted, .. } = WorkingPlanes::from_plane(plane.resize(width, height));
    Planes { weighted: Rc::new(weighted), residual: Rc::new(residual), scale }
}

/// The best cyclic shift of one fold against the synchronisation template under each
/// symmetry of the square, best first.
pub(super) fn align(planes: Planes, lattice: Lattice, templates: &[Vec<Complex32>]) -> Alignment {
    let folded = fold_spectrum(&planes.weighted, lattice);
    let mut peaks: Vec<Peak> = templates
        .iter()
        .enumerate()
        .map(|(symmetry, template)| peak_of(&folded, template, symmetry))
        .collect();
    peaks.sort_by(|a, b| b.z.total_cmp(&a.z));
    Alignment { planes, lattice, peaks }
}

/// Searches small period and angle corrections around a candidate (over many tiles, a
/// fraction of a pixel of period error smears the fold) and keeps the
/// `REGISTRATIONS_PER_LATTICE` best, best first. The template's 44 cells make the peak's
/// z-score a noisy guide at this scale: the best and the second best registration each
/// decode pictures the other misses.
pub(super) fn refine(start: Alignment, templates: &[Vec<Complex32>], keep: usize) -> Vec<Alignment> {
    let base = start.lattice;
    let planes = start.planes.clone();
    let mut all = vec![start];
    for lattice in lattices_around(base, &PERIOD_STEPS, &ANGLE_STEPS) {
        all.push(align(planes.clone(), lattice, templates));
    }
    all.sort_by(|a, b| b.z().total_cmp(&a.z()));
    all.truncate(keep);
    all
}

/// The lattices around `base` at relative period and angle (radians) offsets, period
/// steps outer, without `base` itself.
pub(super) fn lattices_around<'a>(
    base: Lattice,
    period_steps: &'a [f32],
    angle_steps: &'a [f32],
) -> impl Iterator<Item = Lattice> + 'a {
    period_steps
        .iter()
        .flat_map(move |&dp| angle_steps.iter().map(move |&da| (dp, da)))
        .filter(|&(dp, da)| dp != 0.0 || da != 0.0)
        .map(move |(dp, da)| Lattice { period: base.period * (1.0 + dp), angle: base.angle + da, ..base })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::watermark::code::encode;
    use crate::watermark::fold::{apply_symmetry, sync_pattern, sync_templates, turn, DIHEDRAL, FOLD};
    use crate::watermark::pattern::Layout;
    use crate::watermark::Key;
    use rand::{Rng, SeedableRng};

    #[test]
    fn the_keystone_that_sharpens_the_fold_is_the_pictures() {
        use crate::watermark::pattern::render;
        use crate::watermark::warp::Warp;
        use crate::watermark::warped::{with_keystone, COARSE_KEYSTONE_ROUNDS, FINE_KEYSTONE_ROUNDS};
        let key = Key::from_bytes([4; 32]);
        let layout = Layout::new(&key);
        let tile = render(&layout.cell_values(&encode(&key, 0xfeed)), 40);
        // The tiling of period 40 under a warp with a keystone, placed as `Warp` says, in
        // noise.
        let truth = Lattice {
            warp: Warp { stretch: 0.95, shear: 0.0, keystone: (-0.02, 0.06) },
            ..Lattice::square(40.0, 0.05, 0.0)
        };
        let [m00, m01, m10, m11] = truth.bins_of_pixels(40.0);
        let (width, height) = (360usize, 320usize);
        let (cx, cy) = (width as f32 / 2.0, height as f32 / 2.0);
        let mut rng = rand::rngs::StdRng::seed_from_u64(23);
        let data = (0..width * height)
            .map(|i| {
                let (dx, dy) = ((i % width) as f32 - cx, (i / width) as f32 - cy);
                let depth = truth.warp.depth((dx / cx, dy / cy));
                let u = ((dx * m00 + dy * m01) / depth).rem_euclid(40.0) as usize % 40;
                let v = ((dx * m10 + dy * m11) / depth).rem_euclid(40.0) as usize % 40;
                tile[v * 40 + u] + rng.gen_range(-5.0..5.0)
            })
            .collect();
        let plane = Rc::new(Plane { width, height, data });
        let planes = Planes { weighted: Rc::clone(&plane), residual: plane, scale: 1.0 };
        let templates = sync_templates(&layout);
        let z = |l: Lattice| align(planes.clone(), l, &templates).z();
        let flat = Lattice { warp: Warp { keystone: (0.0, 0.0), ..truth.warp }, ..truth };
        let rounds = [COARSE_KEYSTONE_ROUNDS, FINE_KEYSTONE_ROUNDS].concat();
        let (found, _) = with_keystone(flat, &rounds, z);
        let (kx, ky) = found.warp.keystone;
        assert!((kx + 0.02).abs() <= 0.01 && (ky - 0.06).abs() <= 0.01, "{:?}", found.warp);
        assert!(z(found) > z(flat) + 2.0, "{} against {}", z(found), z(flat));
    }

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
        let lattice = Lattice::square(FOLD as f32, 0.0, 0.0);
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
