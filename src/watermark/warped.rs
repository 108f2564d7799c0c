//! Synchronisation past similarities: lattices under a warp (a stretch along the picture's
//! x axis and a shear, see `warp`). A platform that squeezes a picture into a frame
//! stretches its tiling unevenly, and the square lattices `sync::find_lattices` scores then
//! miss most of its harmonics. The same comb score finds the warped lattice when the search
//! runs over the stretch too; a fine search over all four parameters (period, angle,
//! stretch, shear) then fits any linear distortion near it, which also takes in a picture
//! stretched after it was turned, and the mean geometry of a slight perspective.

use std::f32::consts::FRAC_PI_2;

use super::spectrum::{Spectrum, COARSE_HARMONICS};
use super::sync::Lattice;
use super::warp::Warp;

/// The stretches searched: from 1/`MAX_STRETCH` to `MAX_STRETCH` along x (a squash of the
/// height is a stretch of the width at another scale), in relative steps of
/// `STRETCH_STEP`, leaving out those within `SQUARE_REACH` of 1, which the square search
/// covers.
const MAX_STRETCH: f32 = 1.45;
const STRETCH_STEP: f32 = 1.02;
const SQUARE_REACH: f32 = 1.015;
/// The coarse grid's period step, coarser than the square search's since the grid has a
/// third dimension, and its angles: within `MAX_ANGLE_DEGREES` of upright in steps of
/// `ANGLE_STEP_DEGREES`. An app stretches a picture along its own axes, and a photo of a
/// screen is taken upright: a mark turned by more and then stretched is left out, which
/// keeps the search to a tenth of all angles.
const PERIOD_STEP: f32 = 1.015;
const MAX_ANGLE_DEGREES: i32 = 6;
const ANGLE_STEP_DEGREES: i32 = 2;

/// Candidate warped lattices, best first, with periods (along y) between `min_period` and
/// `max_period` working pixels and a stretch away from 1: a coarse search over stretch,
/// period and angle scored by the comb's low harmonics, then a fine search of each of the
/// `keep` best local maxima over period, angle, stretch and shear, scored by the whole comb.
pub fn find_warped_lattices(
    spectrum: &Spectrum,
    min_period: f32,
    max_period: f32,
    keep: usize,
) -> Vec<Lattice> {
    let mut periods = Vec::new();
    let mut p = min_period;
    while p <= max_period {
        periods.push(p);
        p *= PERIOD_STEP;
    }
    let mut stretches = Vec::new();
    let mut s = 1.0 / MAX_STRETCH;
    while s <= MAX_STRETCH {
        if (s.ln()).abs() > SQUARE_REACH.ln() {
            stretches.push(s);
        }
        s *= STRETCH_STEP;
    }
    let angles: Vec<f32> = (-MAX_ANGLE_DEGREES..=MAX_ANGLE_DEGREES)
        .step_by(ANGLE_STEP_DEGREES as usize)
        .map(|d| (d as f32).to_radians().rem_euclid(FRAC_PI_2))
        .collect();
    let angle_of = |i: usize| angles[i];
    let (np, na, ns) = (periods.len(), angles.len(), stretches.len());
    // Angle-major, then stretch: one angle's rows of periods, every stretch scored at once.
    let warps: Vec<Warp> = stretches.iter().map(|&stretch| Warp::linear(stretch, 0.0)).collect();
    let mut scores = vec![0.0f32; na * ns * np];
    for (ai, rows) in scores.chunks_mut(ns * np).enumerate() {
        spectrum.lattice_scores_warped(&periods, angle_of(ai), &warps, COARSE_HARMONICS, rows);
    }
    let at = |si: usize, ai: usize, pi: usize| scores[(ai * ns + si) * np + pi];
    let mut maxima: Vec<Lattice> = Vec::new();
    for si in 0..stretches.len() {
        for ai in 0..na {
            for (pi, &period) in periods.iter().enumerate().take(np.saturating_sub(1)).skip(1) {
                let v = at(si, ai, pi);
                let mut neighbours = vec![at(si, ai, pi - 1), at(si, ai, pi + 1)];
                if ai > 0 {
                    neighbours.push(at(si, ai - 1, pi));
                }
                if ai + 1 < na {
                    neighbours.push(at(si, ai + 1, pi));
                }
                if si > 0 {
                    neighbours.push(at(si - 1, ai, pi));
                }
                if si + 1 < stretches.len() {
                    neighbours.push(at(si + 1, ai, pi));
                }
                if neighbours.iter().all(|&n| n < v) {
                    let warp = Warp::linear(stretches[si], 0.0);
                    maxima.push(Lattice { period, angle: angle_of(ai), warp, score: v });
                }
            }
        }
    }
    maxima.sort_by(|a, b| b.score.total_cmp(&a.score));
    maxima.truncate(keep);
    let mut refined: Vec<Lattice> = maxima.into_iter().map(|coarse| refine(spectrum, coarse)).collect();
    refined.sort_by(|a, b| b.score.total_cmp(&a.score));
    refined
}

/// The fine search around a coarse maximum: period and angle, then stretch and shear,
/// twice, each on a grid around the best so far, scored by the whole comb.
fn refine(spectrum: &Spectrum, coarse: Lattice) -> Lattice {
    let mut best = Lattice { score: spectrum.lattice_score(&coarse), ..coarse };
    for round in 0..2 {
        let fine = if round == 0 { 1.0 } else { 0.5 };
        let start = best;
        for dp in -5..=5 {
            for da in -5..=5 {
                let candidate = Lattice {
                    period: start.period * (1.0 + fine * 0.002 * dp as f32),
                    angle: (start.angle + (fine * da as f32 * 0.2).to_radians()).rem_euclid(FRAC_PI_2),
                    ..start
                };
                keep_better(spectrum, candidate, &mut best);
            }
        }
        let start = best;
        for ds in -3..=3 {
            for dh in -3..=3 {
                let warp = Warp::linear(
                    start.warp.stretch * (1.0 + fine * 0.005 * ds as f32),
                    start.warp.shear + fine * 0.005 * dh as f32,
                );
                keep_better(spectrum, Lattice { warp, ..start }, &mut best);
            }
        }
    }
    best
}

/// The keystones searched around a lattice, coarse to fine: each round tries a grid of
/// (kx, ky) offsets of its step around the best so far (see `Warp`). A picture's keystone
/// rarely reaches 10 %: a photo of a screen taken at more of a slant is cropped or
/// straightened by its taker. The coarse rounds tell the candidate lattices apart, the fine
/// ones sharpen the few kept.
pub const COARSE_KEYSTONE_ROUNDS: [(f32, i32); 2] = [(0.04, 2), (0.02, 1)];
pub const FINE_KEYSTONE_ROUNDS: [(f32, i32); 2] = [(0.01, 1), (0.005, 1)];

/// The lattice with the keystone that scores best by `score` (the synchronisation
/// template's peak over the fold) over `rounds`, and its score: the lattice's harmonics
/// blur under perspective, so the spectrum cannot tell the keystone, but the fold sharpens
/// when the keystone is undone.
pub fn with_keystone(
    start: Lattice,
    rounds: &[(f32, i32)],
    score: impl Fn(Lattice) -> f32,
) -> (Lattice, f32) {
    let mut best = (start, score(start));
    for &(step, reach) in rounds {
        let centre = best.0;
        for i in -reach..=reach {
            for j in -reach..=reach {
                if i == 0 && j == 0 {
                    continue;
                }
                let keystone =
                    (centre.warp.keystone.0 + step * i as f32, centre.warp.keystone.1 + step * j as f32);
                let candidate = Lattice { warp: Warp { keystone, ..centre.warp }, ..centre };
                let z = score(candidate);
                if z > best.1 {
                    best = (candidate, z);
                }
            }
        }
    }
    best
}

fn keep_better(spectrum: &Spectrum, candidate: Lattice, best: &mut Lattice) {
    let score = spectrum.lattice_score(&candidate);
    if score > best.score {
        *best = Lattice { score, ..candidate };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::watermark::plane::Plane;
    use rand::{Rng, SeedableRng};
    use std::f32::consts::TAU;

    /// A faint tiling (random phases on its harmonics up to the third) of period 40 turned
    /// by `angle` and then warped, in noise.
    fn warped_plane(angle: f32, warp: Warp) -> Plane {
        let mut rng = rand::rngs::StdRng::seed_from_u64(9);
        let harmonics: Vec<(f32, f32, f32)> = (-3..=3)
            .flat_map(|k| (-3..=3).map(move |l| (k as f32, l as f32)))
            .filter(|&(k, l)| (k, l) != (0.0, 0.0))
            .map(|(k, l)| (k, l, rng.gen_range(0.0..TAU)))
            .collect();
        let lattice = Lattice { period: 40.0, angle, warp, score: 0.0 };
        let [m00, m01, m10, m11] = lattice.bins_of_pixels(1.0);
        let (width, height) = (420, 320);
        let data = (0..width * height)
            .map(|i| {
                let (x, y) = ((i % width) as f32, (i / width) as f32);
                let (u, v) = (m00 * x + m01 * y, m10 * x + m11 * y);
                let mark: f32 = harmonics
                    .iter()
                    .map(|&(k, l, phase)| (TAU * (k * u + l * v) + phase).cos() / (1.0 + k.abs() + l.abs()))
                    .sum();
                0.3 * mark + rng.gen_range(-1.0..1.0)
            })
            .collect();
        Plane { width, height, data }
    }

    #[test]
    fn a_stretched_and_turned_tiling_is_found_with_its_warp() {
        for (angle, warp) in [
            (0.0, Warp::linear(1.3, 0.0)),
            (7.0f32.to_radians(), Warp::linear(0.8, 0.0)),
            (3.0f32.to_radians(), Warp::linear(1.2, 0.03)),
        ] {
            let spectrum = Spectrum::compute(&warped_plane(angle, warp), (0.0, 0.0));
            let found = find_warped_lattices(&spectrum, 24.0, 176.0, 4);
            let truth = Lattice { period: 40.0, angle, warp, score: 0.0 };
            let best = found.first().expect("a candidate");
            assert!(best.near(&truth), "{angle} {warp:?}: {found:?}");
        }
    }

    #[test]
    fn a_square_tiling_is_left_to_the_square_search() {
        let spectrum = Spectrum::compute(&warped_plane(0.1, Warp::IDENTITY), (0.0, 0.0));
        let found = find_warped_lattices(&spectrum, 24.0, 176.0, 4);
        // The warped search starts away from the identity; whatever it finds scores less
        // than the square lattice itself.
        let square = spectrum.lattice_score(&Lattice::square(40.0, 0.1, 0.0));
        assert!(found.iter().all(|l| l.score < square), "{square} {found:?}");
    }
}
