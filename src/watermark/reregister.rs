//! Decision-directed re-registration: when no alignment decodes, the likeliest codeword
//! read at the best one is a far sharper template of the geometry than the synchronisation
//! cells alone.

use super::alignment::lattices_around;
use super::code::likeliest_codeword;
use super::fold::{fold, fold_spectrum, pattern_of, peak_of, read_cells, turned_spectrum};
use super::pattern::Layout;
use super::search::{Best, Read};
use super::sync::Lattice;

/// Rounds of decision-directed re-registration, and its search around the alignment: half
/// the first refinement's steps.
const REREGISTRATIONS: usize = 2;
const REREGISTRATION_PERIOD_STEPS: [f32; 5] = [-0.005, -0.0025, 0.0, 0.0025, 0.005];
const REREGISTRATION_ANGLE_STEPS: [f32; 3] = [-0.0035, 0.0, 0.0035];

impl Best {
    /// The alignment's lattice in working pixels.
    pub(super) fn working_lattice(&self) -> Lattice {
        Lattice { period: self.lattice.period / self.planes.scale, ..self.lattice }
    }

    /// Decision-directed registration: the likeliest codeword read at the alignment (the
    /// Viterbi path, whatever its tag), rendered with the synchronisation cells into the
    /// whole tile, is a template of 256 cells instead of 44. The small period and angle
    /// corrections around the alignment are searched again against it, twice (the second
    /// time from the cells read at the first's best), and the cells are read at the best.
    /// It rescues small pictures after a downscale, whose alignment is right but too coarse
    /// for their 1-2 px cells.
    pub(super) fn reread(&self, layout: &Layout) -> Read {
        let (mut lattice, mut cells, mut peak) = (self.lattice, self.cells, self.peak);
        for _ in 0..REREGISTRATIONS {
            let soft = layout.normalised_soft_bits(&cells);
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
                let candidate_peak = peak_of(&folded, &template, self.peak.symmetry);
                if candidate_peak.z > best.1.z {
                    best = (candidate, candidate_peak);
                }
            }
            lattice = best.0;
            cells = read_cells(&fold(&self.planes.residual, lattice), best.1);
            peak = best.1;
        }
        Read::at(&self.planes, lattice, peak, cells, self.factor)
    }
}

#[cfg(test)]
mod tests {
    use std::rc::Rc;

    use rand::{Rng, SeedableRng};

    use super::*;
    use crate::watermark::alignment::{align, Planes};
    use crate::watermark::code::encode;
    use crate::watermark::fold::sync_templates;
    use crate::watermark::pattern::CELL_COUNT;
    use crate::watermark::plane::Plane;
    use crate::watermark::Key;

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
        let start = Lattice::square(40.2, 0.0, 0.0);
        let aligned = align(planes.clone(), start, &sync_templates(&layout));
        let peak = aligned.peaks[0];
        let cells = read_cells(&fold(&planes.residual, start), peak);
        let right = |cells: &[f32; CELL_COUNT]| {
            let soft = layout.soft_bits(cells);
            soft.iter().zip(&codeword).filter(|(s, &b)| (**s > 0.0) == (b == 1)).count()
        };
        let best = Best { planes, lattice: start, peak, cells, factor: 1.0 };
        let Read { transform, cells: reread, .. } = best.reread(&layout);
        assert!((transform.tile_period_px - 40.0).abs() < 0.05, "{transform:?}");
        // The rereading corrects bits the first alignment got wrong.
        assert!(right(&reread) >= right(&cells) + 8, "{} then {}", right(&cells), right(&reread));
    }
}
