//! Detection: normalise, pre-filter, find the tile lattice, fold the image onto one tile,
//! find the tile's offset and orientation from the synchronisation cells, read the cells and
//! decode.

use std::rc::Rc;

use image::RgbImage;
use rustfft::num_complex::Complex32;

use super::code::{decode, encode, likeliest_codeword, TAG_BITS};
use super::fold::{
    fold, fold_spectrum, pattern_of, peak_of, read_cells, sync_templates, turned_spectrum, Peak, DIHEDRAL,
};
use super::pattern::{Layout, CELL_COUNT};
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
/// Alignments decoded per image: the search's, and one decision-directed re-registration
/// of the best (`Best::reread`).
pub const DECODE_ATTEMPTS: usize = LATTICES_DECODED * REGISTRATIONS_PER_LATTICE * PEAKS_PER_REGISTRATION + 1;
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
/// Rounds of decision-directed re-registration, and its search around the alignment: half
/// the first refinement's steps.
const REREGISTRATIONS: usize = 2;
const REREGISTRATION_PERIOD_STEPS: [f32; 5] = [-0.005, -0.0025, 0.0, 0.0025, 0.005];
const REREGISTRATION_ANGLE_STEPS: [f32; 3] = [-0.0035, 0.0, 0.0035];

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

/// Candidate alignments, best synchronisation first, each with the cells it reads (see
/// `Attempts`).
fn attempts(stack: &FrameStack, layout: &Layout) -> Attempts {
    let Some((WorkingPlanes { residual, weighted, plane }, factor)) = stack.working_planes() else {
        return Attempts { read: Vec::new(), best: None };
    };
    let min_period = 24.0;
    let max_period = MAX_PERIOD_OF_SHORT_SIDE * weighted.width.min(weighted.height) as f32;
    let lattices = find_lattices(&weighted, stack.block_period(), min_period, max_period, LATTICE_CANDIDATES);
    let templates = sync_templates(layout);
    let work = Planes { weighted: Rc::new(weighted), residual: Rc::new(residual), scale: 1.0 };

    let mut coarse: Vec<Alignment> = with_relatives(&lattices, min_period, max_period)
        .iter()
        .map(|l| {
            let planes = planes_for(&work, &plane, l.period);
            let lattice = Lattice { period: l.period * planes.scale, ..*l };
            align(planes, lattice, &templates)
        })
        .collect();
    coarse.sort_by(|a, b| b.z().total_cmp(&a.z()));
    let mut refined: Vec<Vec<Alignment>> =
        coarse.into_iter().take(LATTICES_DECODED).map(|a| refine(a, &templates)).collect();
    refined.sort_by(|a, b| best_z(b).total_cmp(&best_z(a)));

    let read: Vec<(Transform, [f32; CELL_COUNT])> = refined
        .iter()
        .flatten()
        .flat_map(|a| {
            let cells_fold = Rc::new(fold(&a.planes.residual, a.lattice));
            a.peaks.iter().take(PEAKS_PER_REGISTRATION).map(move |p| (a, Rc::clone(&cells_fold), *p))
        })
        .map(|(alignment, cells_fold, peak)| {
            let transform = transform_of(alignment.lattice, alignment.planes.scale * factor, peak.symmetry);
            (transform, read_cells(&cells_fold, peak))
        })
        .collect();
    // The first read is the best alignment's best peak.
    let best = refined.first().and_then(|r| r.first()).zip(read.first()).and_then(|(a, (_, cells))| {
        let peak = *a.peaks.first()?;
        Some(Best { planes: a.planes.clone(), lattice: a.lattice, peak, cells: *cells, factor })
    });
    Attempts { read, best }
}

/// The alignments to decode, best synchronisation first, and the best of them kept for a
/// decision-directed re-registration, which is read only if none of them decodes: exactly
/// the `DECODE_ATTEMPTS` the false-positive arithmetic counts (fewer when the spectrum has
/// fewer lattice candidates).
struct Attempts {
    read: Vec<(Transform, [f32; CELL_COUNT])>,
    best: Option<Best>,
}

/// The best alignment: its planes, lattice and peak, the cells read there, and the working
/// scale.
struct Best {
    planes: Planes,
    lattice: Lattice,
    peak: Peak,
    cells: [f32; CELL_COUNT],
    factor: f32,
}

impl Best {
    /// Decision-directed registration: the likeliest codeword read at the alignment (the
    /// Viterbi path, whatever its tag), rendered with the synchronisation cells into the
    /// whole tile, is a template of 256 cells instead of 44. The small period and angle
    /// corrections around the alignment are searched again against it, twice (the second
    /// time from the cells read at the first's best), and the cells are read at the best.
    /// It rescues small pictures after a downscale, whose alignment is right but too coarse
    /// for their 1-2 px cells.
    fn reread(&self, layout: &Layout) -> (Transform, [f32; CELL_COUNT]) {
        let (mut lattice, mut cells) = (self.lattice, self.cells);
        for _ in 0..REREGISTRATIONS {
            let soft = normalised_soft_bits(layout, &cells);
            let guess = layout.cell_values(&likeliest_codeword(&soft));
            let template = turned_spectrum(&pattern_of(&guess), self.peak.symmetry);
            let mut best = (
                lattice,
                peak_of(&fold_spectrum(&self.planes.weighted, lattice), &template, self.peak.symmetry),
            );
            for candidate in
                lattices_around(lattice, &REREGISTRATION_PERIOD_STEPS, &REREGISTRATION_ANGLE_STEPS)
            {
                let folded = fold_spectrum(&self.planes.weighted, candidate);
                let peak = peak_of(&folded, &template, self.peak.symmetry);
                if peak.z > best.1.z {
                    best = (candidate, peak);
                }
            }
            lattice = best.0;
            cells = read_cells(&fold(&self.planes.residual, lattice), best.1);
        }
        (transform_of(lattice, self.planes.scale * self.factor, self.peak.symmetry), cells)
    }
}

/// The geometry reported for a lattice found on planes at `scale` input pixels per plane
/// pixel, read under a symmetry of the square.
fn transform_of(lattice: Lattice, scale: f32, symmetry: usize) -> Transform {
    let (a, b, c, d) = DIHEDRAL[symmetry];
    Transform {
        tile_period_px: lattice.period / scale,
        rotation_degrees: lattice.angle.to_degrees(),
        // A symmetry with a negative determinant is a mirror image.
        flipped: a * d - b * c < 0,
    }
}

/// The planes to fold a lattice of this period (working pixels) from: the working planes
/// themselves, or for a large period the picture resampled to the canonical
/// period and pre-filtered again.
fn planes_for(work: &Planes, plane: &Plane, period: f32) -> Planes {
    if period <= RESAMPLE_ABOVE {
        return work.clone();
    }
    let scale = CANONICAL_PERIOD / period;
    let width = ((plane.width as f32 * scale).round() as usize).max(16);
    let height = ((plane.height as f32 * scale).round() as usize).max(16);
    let WorkingPlanes { residual, weighted, .. } = WorkingPlanes::from_plane(plane.resize(width, height));
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
    let Attempts { read, best } = attempts(stack, &layout);
    let decoded = |(transform, cells): (Transform, [f32; CELL_COUNT])| {
        let soft = normalised_soft_bits(&layout, &cells);
        let payload = decode(key, &soft, list)?;
        let codeword = encode(key, payload);
        let agreement = soft.iter().zip(&codeword).map(|(s, &b)| if b == 1 { *s } else { -*s }).sum::<f32>()
            / soft.len() as f32;
        Some(Detection { payload, score: agreement.clamp(0.0, 1.0), transform })
    };
    // The re-registration costs some thirty folds: only when nothing else decodes.
    read.into_iter().find_map(decoded).or_else(|| best.and_then(|b| decoded(b.reread(&layout))))
}

/// For measurement: the most coded bits any attempt reads right for a known payload.
#[doc(hidden)]
pub fn coded_bits_right(image: &RgbImage, key: &Key, payload: u64) -> usize {
    let layout = Layout::new(key);
    let codeword = encode(key, payload);
    let mut stack = FrameStack::new();
    stack.add(image);
    let Attempts { mut read, best } = attempts(&stack, &layout);
    read.extend(best.map(|b| b.reread(&layout)));
    read.iter()
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
fn refine(start: Alignment, templates: &[Vec<Complex32>]) -> Vec<Alignment> {
    let base = start.lattice;
    let planes = start.planes.clone();
    let mut all = vec![start];
    for lattice in lattices_around(base, &PERIOD_STEPS, &ANGLE_STEPS) {
        all.push(align(planes.clone(), lattice, templates));
    }
    all.sort_by(|a, b| b.z().total_cmp(&a.z()));
    all.truncate(REGISTRATIONS_PER_LATTICE);
    all
}

/// The lattices around `base` at relative period and angle (radians) offsets, period
/// steps outer, without `base` itself.
fn lattices_around<'a>(
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

/// The best peak among a lattice's registrations.
fn best_z(registrations: &[Alignment]) -> f32 {
    registrations.iter().map(Alignment::z).fold(f32::NEG_INFINITY, f32::max)
}

impl FrameStack {
    /// Looks for a mark made with this key in the frames added, with a picture's budget of
    /// tag tests (`TAG_TESTS`).
    pub fn detect(&self, key: &Key) -> Option<Detection> {
        detect_stack(self, key, PICTURE_LIST)
    }

    /// Like `detect`, trying `list` codewords per alignment (`DECODE_ATTEMPTS * list` tag
    /// tests): a caller that decodes several stacks of one video shares the budget out.
    pub fn detect_with_list(&self, key: &Key, list: usize) -> Option<Detection> {
        detect_stack(self, key, list)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::watermark::fold::{apply_symmetry, sync_pattern, turn, FOLD};
    use rand::{Rng, SeedableRng};

    #[test]
    fn re_registration_against_the_likeliest_codeword_finds_the_true_period() {
        use crate::watermark::pattern::render;
        let key = Key::from_bytes([7; 32]);
        let layout = Layout::new(&key);
        let codeword = encode(&key, 0x5eed_cafe);
        // A mark tiled at a period of 40 px over 320 x 320, in noise that leaves about 85 %
        // of the coded bits right.
        let tile = render(&layout.cell_values(&codeword), 40);
        let mut rng = rand::rngs::StdRng::seed_from_u64(17);
        let data = (0..320 * 320)
            .map(|i| tile[(i / 320 % 40) * 40 + i % 320 % 40] + rng.gen_range(-NOISE..NOISE))
            .collect();
        const NOISE: f32 = 15.0;
        let plane = Rc::new(Plane { width: 320, height: 320, data });
        let planes = Planes { weighted: Rc::clone(&plane), residual: plane, scale: 1.0 };
        // Registered half a per cent off, as the synchronisation cells alone may leave it.
        let start = Lattice { period: 40.2, angle: 0.0, score: 0.0 };
        let aligned = align(planes.clone(), start, &sync_templates(&layout));
        let peak = aligned.peaks[0];
        let cells = read_cells(&fold(&planes.residual, start), peak);
        let right = |cells: &[f32; CELL_COUNT]| {
            let soft = layout.soft_bits(cells);
            soft.iter().zip(&codeword).filter(|(s, &b)| (**s > 0.0) == (b == 1)).count()
        };
        let best = Best { planes, lattice: start, peak, cells, factor: 1.0 };
        let (transform, reread) = best.reread(&layout);
        assert!((transform.tile_period_px - 40.0).abs() < 0.05, "{transform:?}");
        // The rereading corrects bits the first alignment got wrong.
        assert!(right(&reread) >= right(&cells) + 8, "{} then {}", right(&cells), right(&reread));
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
