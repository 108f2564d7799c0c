//! Synchronisation, step one: the tile lattice's period and angle from the power spectrum
//! of the pre-filtered image. A periodically tiled mark puts its energy on the harmonics of a
//! square lattice whatever the crop; scoring a candidate by all its harmonics at once gathers
//! many weak peaks into one strong score. The lattice gives the scale and the rotation
//! (modulo 90 degrees; the remaining symmetries are tried when folding).

use std::f32::consts::{FRAC_1_SQRT_2, FRAC_PI_2, FRAC_PI_4, SQRT_2};

pub use super::lattice::Lattice;
use super::mask::perceptual_mask;
use super::plane::Plane;
use super::spectrum::{Spectrum, COARSE_HARMONICS};
use super::warp::Warp;

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
            ..*l
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

/// Candidate lattices, best first, with periods between `min_period` and `max_period`, in a
/// spectrum without the input's block grid (`block`: its period in working pixels along x
/// and y):
/// a coarse search over period and angle scored by the comb's low harmonics, then a finer
/// search around the best local maxima scored by the whole comb.
pub fn find_lattices(spectrum: &Spectrum, min_period: f32, max_period: f32, keep: usize) -> Vec<Lattice> {
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
        spectrum.lattice_scores(&periods, angle_of(ai), Warp::IDENTITY, COARSE_HARMONICS, row);
    }
    let at = |pi: usize, ai: usize| scores[(ai % ANGLES) * periods.len() + pi];
    let mut maxima: Vec<Lattice> = Vec::new();
    for (pi, &period) in periods.iter().enumerate().take(periods.len().saturating_sub(1)).skip(1) {
        for ai in 0..ANGLES {
            let v = at(pi, ai);
            let neighbours = [(pi - 1, ai), (pi + 1, ai), (pi, ai + 1), (pi, ai + ANGLES - 1)];
            if neighbours.iter().all(|&(p, a)| at(p, a) < v) {
                maxima.push(Lattice::square(period, angle_of(ai), v));
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
                    let candidate = Lattice::square(period, angle.rem_euclid(FRAC_PI_2), 0.0);
                    let score = spectrum.lattice_score(&candidate);
                    if score > best.score {
                        best = Lattice { score, ..candidate };
                    }
                }
            }
            best
        })
        .collect()
}

/// Pre-filter: removes the image's own low frequencies and evens out local contrast, so the
/// faint mark is not drowned by the picture.
pub fn residual(plane: &Plane) -> Plane {
    let mut res = high_pass(plane);
    let local = local_level(&res);
    for (v, m) in res.data.iter_mut().zip(&local.data) {
        *v = (*v / level_divisor(*m)).clamp(-2.0, 2.0);
    }
    res
}

/// A plane less its 5 x 5 triangle blur: the band the mark's cells live in.
pub(super) fn high_pass(plane: &Plane) -> Plane {
    let smooth = plane.box_blur(1).box_blur(1);
    Plane {
        width: plane.width,
        height: plane.height,
        data: plane.data.iter().zip(&smooth.data).map(|(v, s)| v - s).collect(),
    }
}

/// The local level of a high-passed plane: its mean magnitude over 13 x 13 pixels.
pub(super) fn local_level(high_passed: &Plane) -> Plane {
    high_passed.box_blur_of(6, f32::abs)
}

/// What the pre-filter divides a residual by at a local level. Dividing by the square of
/// the level (not the level itself) mutes edges and busy texture hardest, which is what the
/// alignment needs. The constant is a floor of half a grey level for flat areas.
pub(super) fn level_divisor(level: f32) -> f32 {
    level * level + 0.25
}

/// The pre-filtered plane weighted by how strongly the embedder marked each place, to find
/// the lattice and the tile's offset on. After a downscale and JPEG, flat areas hold little
/// of the mark (the embedder put a fifth of its strength there) but the pre-filter's
/// division by the local level amplifies what the codec left in them; muting them lets the
/// textured areas, which carry most of the mark, decide the alignment. Cells are still read
/// from the unweighted residual: the weights would tilt the soft bits towards texture.
pub fn texture_weighted(residual: &Plane, luma: &Plane) -> Plane {
    // The embedder's mask estimated on working pixels, over 3 x 3 of them.
    let mask = perceptual_mask(luma, 1);
    let data = residual.data.iter().zip(&mask.data).map(|(r, m)| r * m).collect();
    Plane { width: residual.width, height: residual.height, data }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::watermark::spectrum::HARMONICS;

    #[test]
    fn the_texture_weight_follows_the_embedders_mask() {
        use crate::watermark::mask::{FLAT_GAIN, TEXTURE_GAIN};
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
        let truth = Lattice::square(45.0, 5.0f32.to_radians(), 0.0);
        let shortlist = |block| find_lattices(&Spectrum::compute(&plane, block), 24.0, 176.0, 4);
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
            spectrum.lattice_scores(&periods, angle, Warp::IDENTITY, HARMONICS, &mut batch);
            for (&period, &score) in periods.iter().zip(&batch) {
                assert_eq!(
                    score.to_bits(),
                    spectrum.lattice_score(&Lattice::square(period, angle, 0.0)).to_bits(),
                    "{period} {angle}"
                );
            }
        }
        // The true lattice stands out with the low harmonics alone, as the coarse search
        // needs.
        let truth = 5.0f32.to_radians();
        let mut low = [0.0; 3];
        spectrum.lattice_scores(
            &[45.0, 45.0 * 1.07, 45.0 / 1.07],
            truth,
            Warp::IDENTITY,
            COARSE_HARMONICS,
            &mut low,
        );
        assert!(low[0] > 2.0 * low[1].max(low[2]), "{low:?}");
    }

    #[test]
    fn a_relative_leads_back_to_the_true_lattice_once() {
        // The shortlist holds only the two 45-degree relatives of a 40 px lattice at 0.
        let relative = |period: f32| Lattice::square(period, FRAC_PI_4, 1.0);
        let shortlist = [relative(40.0 * SQRT_2), relative(40.0 * FRAC_1_SQRT_2)];
        let all = with_relatives(&shortlist, 24.0, 176.0);
        let truth = Lattice::square(40.0, 0.0, 0.0);
        // Both relatives lead back to it: it is there once, beside them and their other
        // relatives within the period range (80 px; 20 px is below it).
        assert_eq!(all.iter().filter(|l| l.near(&truth)).count(), 1, "{all:?}");
        assert_eq!(all.len(), 4, "{all:?}");
        assert!(all.iter().all(|l| (24.0..=176.0).contains(&l.period)));
        // An angle just under 90 degrees is the same lattice as one just over 0.
        let wrapped = Lattice::square(40.0, FRAC_PI_2 - 0.001, 0.0);
        assert!(wrapped.near(&truth));
    }
}
