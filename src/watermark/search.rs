//! The search for candidate alignments of one stack: square lattices from the spectrum,
//! their registrations and the cells read at each, and past similarities the warped
//! lattices with their keystones. `detect` decodes what it yields, best first.

use std::rc::Rc;

use rustfft::num_complex::Complex32;

use super::alignment::{align, planes_for, refine, Alignment, Planes};
use super::fold::{fold, peak_of, read_cells, sampled_fold_spectrum, sync_templates, Peak, DIHEDRAL};
use super::pattern::{Layout, CELL_COUNT};
use super::plane::Plane;
use super::spectrum::Spectrum;
use super::stack::{FrameStack, WorkingPlanes};
use super::sync::{find_lattices, with_relatives, Lattice};
use super::warped::{find_warped_lattices, with_keystone, COARSE_KEYSTONE_ROUNDS, FINE_KEYSTONE_ROUNDS};
use super::Transform;

/// The longest tile period searched for, as a fraction of the working short side: a tile
/// must repeat at least about twice across what is left of the picture to show a lattice.
pub(super) const MAX_PERIOD_OF_SHORT_SIDE: f32 = 0.55;
/// The shortest tile period searched for, in working pixels.
const MIN_WORKING_PERIOD: f32 = 24.0;
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
/// Warped lattice candidates taken from the warped search of the whole picture's spectrum
/// and of its centre's; the alignments given a keystone; and of those, the sharpest refined
/// and decoded (one registration each), only when no square lattice decodes.
const WARPED_CANDIDATES: usize = 4;
const CENTRE_CANDIDATES: usize = 2;
const KEYSTONED: usize = 8;
const WARPED_DECODED: usize = 2;
const WARPED_ATTEMPTS: usize = WARPED_DECODED * PEAKS_PER_REGISTRATION;
/// The keystone's coarse rounds fold every second pixel of every second row.
const KEYSTONE_SAMPLING: usize = 2;
/// Alignments decoded per image: the square search's, one decision-directed re-registration
/// of the best (`Best::reread`), and the warped search's.
pub const DECODE_ATTEMPTS: usize =
    LATTICES_DECODED * REGISTRATIONS_PER_LATTICE * PEAKS_PER_REGISTRATION + 1 + WARPED_ATTEMPTS;

/// What every candidate alignment of one stack is searched on: the working planes, their
/// spectrum, the synchronisation templates, and the working scale.
pub(super) struct Search {
    work: Planes,
    plane: Plane,
    spectrum: Spectrum,
    templates: Vec<Vec<Complex32>>,
    factor: f32,
    max_period: f32,
    block: (f32, f32),
}

impl Search {
    pub(super) fn new(stack: &FrameStack, layout: &Layout) -> Option<Search> {
        let (planes, factor) = stack.working_planes()?;
        Some(Search::of(planes, factor, stack.block_period(), layout))
    }

    /// The search on working planes at `factor` input pixels per working pixel, whose
    /// input's block grid has the period `block` in working pixels.
    pub(super) fn of(planes: WorkingPlanes, factor: f32, block: (f32, f32), layout: &Layout) -> Search {
        let WorkingPlanes { residual, weighted, plane } = planes;
        let max_period = MAX_PERIOD_OF_SHORT_SIDE * weighted.width.min(weighted.height) as f32;
        let spectrum = Spectrum::compute(&weighted, block);
        Search {
            work: Planes { weighted: Rc::new(weighted), residual: Rc::new(residual), scale: 1.0 },
            plane,
            spectrum,
            templates: sync_templates(layout),
            factor,
            max_period,
            block,
        }
    }

    /// The working planes searched, and the working scale and block grid.
    pub(super) fn planes(&self) -> (WorkingPlanes, f32, (f32, f32)) {
        let planes = WorkingPlanes {
            residual: (*self.work.residual).clone(),
            weighted: (*self.work.weighted).clone(),
            plane: self.plane.clone(),
        };
        (planes, self.factor, self.block)
    }

    /// The square lattices' alignments, best synchronisation first, each with the cells it
    /// reads (see `Attempts`).
    pub(super) fn square_attempts(&self) -> Attempts {
        let lattices = find_lattices(&self.spectrum, MIN_WORKING_PERIOD, self.max_period, LATTICE_CANDIDATES);
        let refined = self.registrations(&lattices, LATTICES_DECODED, REGISTRATIONS_PER_LATTICE);
        let read = self.reads(&refined);
        // The first read is the best alignment's best peak.
        let best = refined.first().and_then(|r| r.first()).zip(read.first()).and_then(|(a, first)| {
            let peak = *a.peaks.first()?;
            Some(Best {
                planes: a.planes.clone(),
                lattice: a.lattice,
                peak,
                cells: first.cells,
                factor: self.factor,
            })
        });
        Attempts { read, best }
    }

    /// The warped stage (see `warped`), read only when no square lattice decodes: the
    /// warped lattices' candidates, the centre's and the best square one, aligned; the
    /// `KEYSTONED` best given the keystone that sharpens their fold most (under each one's
    /// best symmetry alone, an eighth of the transforms); the `WARPED_DECODED` sharpest
    /// given a finer keystone, refined and read, `WARPED_ATTEMPTS` alignments in all, each
    /// passed to `decoded` until it gives an answer. Under a strong keystone the mark's own
    /// lattice, unkeyed, folds little sharper than the spectrum's other candidates: the
    /// keystone is searched on many of them before any is refined, since refining an
    /// unkeyed candidate fits its period and angle to the wrong geometry.
    pub(super) fn warped_stage<T>(
        &self,
        best_square: Option<Lattice>,
        decoded: impl FnMut(Read) -> Option<T>,
    ) -> Option<T> {
        let mut lattices =
            find_warped_lattices(&self.spectrum, MIN_WORKING_PERIOD, self.max_period, WARPED_CANDIDATES);
        lattices.extend(best_square);
        // Under a keystone the tiling's scale changes across the picture and the comb of
        // the whole picture blurs; the centre's holds the centre's lattice.
        let centre = self.work.weighted.centre();
        let centre_max = MAX_PERIOD_OF_SHORT_SIDE * centre.width.min(centre.height) as f32;
        let centre_spectrum = Spectrum::compute(&centre, self.block);
        lattices.extend(find_warped_lattices(
            &centre_spectrum,
            MIN_WORKING_PERIOD,
            centre_max,
            CENTRE_CANDIDATES,
        ));
        lattices.extend(find_lattices(&centre_spectrum, MIN_WORKING_PERIOD, centre_max, 1));
        let aligned = self.aligned(&lattices);
        // The keystone's coarse rounds score a sampled fold of every alignment; its fine
        // rounds the whole fold of the `WARPED_DECODED` best.
        let mut keyed: Vec<(f32, Planes, Lattice, usize)> = aligned
            .into_iter()
            .take(KEYSTONED)
            .filter_map(|start| {
                let symmetry = start.peaks.first()?.symmetry;
                let z = |l| self.sync_z(&start.planes, l, symmetry, KEYSTONE_SAMPLING);
                let (lattice, z) = with_keystone(start.lattice, &COARSE_KEYSTONE_ROUNDS, z);
                Some((z, start.planes, lattice, symmetry))
            })
            .collect();
        keyed.sort_by(|a, b| b.0.total_cmp(&a.0));
        let sharpest: Vec<Vec<Alignment>> = keyed
            .into_iter()
            .take(WARPED_DECODED)
            .map(|(_, planes, lattice, symmetry)| {
                let z = |l| self.sync_z(&planes, l, symmetry, 1);
                let (lattice, _) = with_keystone(lattice, &FINE_KEYSTONE_ROUNDS, z);
                refine(align(planes, lattice, &self.templates), &self.templates, 1)
            })
            .collect();
        self.reads(&sharpest).into_iter().find_map(decoded)
    }

    /// The synchronisation peak of a lattice under one symmetry, on a fold of every
    /// `sampling`-th pixel and row of the weighted plane.
    fn sync_z(&self, planes: &Planes, lattice: Lattice, symmetry: usize, sampling: usize) -> f32 {
        let folded = sampled_fold_spectrum(&planes.weighted, lattice, sampling);
        peak_of(&folded, &self.templates[symmetry], symmetry).z
    }

    /// Each candidate and its 45-degree relatives aligned with the synchronisation template;
    /// the `lattices` best refined, each to its `registrations` best registrations.
    fn registrations(
        &self,
        candidates: &[Lattice],
        lattices: usize,
        registrations: usize,
    ) -> Vec<Vec<Alignment>> {
        let coarse = self.aligned(candidates);
        let mut refined: Vec<Vec<Alignment>> =
            coarse.into_iter().take(lattices).map(|a| refine(a, &self.templates, registrations)).collect();
        refined.sort_by(|a, b| best_z(b).total_cmp(&best_z(a)));
        refined
    }

    /// Each candidate and its 45-degree relatives aligned with the synchronisation template,
    /// best first.
    fn aligned(&self, candidates: &[Lattice]) -> Vec<Alignment> {
        let mut all: Vec<Alignment> = with_relatives(candidates, MIN_WORKING_PERIOD, self.max_period)
            .iter()
            .map(|l| {
                let planes = planes_for(&self.work, &self.plane, l.period);
                let lattice = Lattice { period: l.period * planes.scale, ..*l };
                align(planes, lattice, &self.templates)
            })
            .collect();
        all.sort_by(|a, b| b.z().total_cmp(&a.z()));
        all
    }

    /// The cells read at the `PEAKS_PER_REGISTRATION` best peaks of each registration.
    fn reads(&self, refined: &[Vec<Alignment>]) -> Vec<Read> {
        refined
            .iter()
            .flatten()
            .flat_map(|a| {
                let cells_fold = Rc::new(fold(&a.planes.residual, a.lattice));
                a.peaks.iter().take(PEAKS_PER_REGISTRATION).map(move |p| (a, Rc::clone(&cells_fold), *p))
            })
            .map(|(alignment, cells_fold, peak)| {
                Read::at(
                    &alignment.planes,
                    alignment.lattice,
                    peak,
                    read_cells(&cells_fold, peak),
                    self.factor,
                )
            })
            .collect()
    }
}

/// An alignment's geometry and the cells read there.
pub(super) struct Read {
    pub(super) transform: Transform,
    pub(super) cells: [f32; CELL_COUNT],
    /// The lattice in working pixels and the peak it was read at: where the mark lies.
    pub(super) lattice: Lattice,
    pub(super) peak: Peak,
}

impl Read {
    /// Cells read at a lattice and peak of planes, at `factor` input pixels per working
    /// pixel.
    pub(super) fn at(
        planes: &Planes,
        lattice: Lattice,
        peak: Peak,
        cells: [f32; CELL_COUNT],
        factor: f32,
    ) -> Read {
        Read {
            transform: transform_of(lattice, planes.scale * factor, peak.symmetry),
            cells,
            lattice: Lattice { period: lattice.period / planes.scale, ..lattice },
            peak,
        }
    }
}

/// The best alignment: its planes, lattice and peak, the cells read there, and the working
/// scale.
pub(super) struct Best {
    pub(super) planes: Planes,
    pub(super) lattice: Lattice,
    pub(super) peak: Peak,
    pub(super) cells: [f32; CELL_COUNT],
    pub(super) factor: f32,
}

/// The square lattices' alignments to decode, best synchronisation first, and the best of
/// them kept for a decision-directed re-registration, which is read only if none of them
/// decodes.
pub(super) struct Attempts {
    pub(super) read: Vec<Read>,
    pub(super) best: Option<Best>,
}

/// The geometry reported for a lattice found on planes at `scale` input pixels per plane
/// pixel, read under a symmetry of the square.
pub(super) fn transform_of(lattice: Lattice, scale: f32, symmetry: usize) -> Transform {
    let (a, b, c, d) = DIHEDRAL[symmetry];
    Transform {
        tile_period_px: lattice.period / scale,
        rotation_degrees: lattice.angle.to_degrees(),
        // A symmetry with a negative determinant is a mirror image.
        flipped: a * d - b * c < 0,
        warp: lattice.warp,
    }
}

/// The best peak among a lattice's registrations.
fn best_z(registrations: &[Alignment]) -> f32 {
    registrations.iter().map(Alignment::z).fold(f32::NEG_INFINITY, f32::max)
}
