//! Several marks in one picture: a collage, a duet or a stitch holds two creators'
//! contents side by side, each tiled with its own mark. The fold of the whole picture finds
//! the stronger one first; the other is found after masking out the part of the picture
//! the first one covers, where its tile correlates with the residual.

use super::fold::{pattern_of, turn_back, Binning, FOLD};
use super::pattern::CELL_COUNT;
use super::search::Read;
use super::stack::WorkingPlanes;

/// A place belongs to the found mark where the local correlation with its tile reaches this
/// fraction of the correlation's 90th percentile over the picture: the found mark covers at
/// least a tenth of the picture, and a part that holds another mark correlates about 0.
const COVERED: f32 = 0.3;
const PERCENTILE: f32 = 0.9;

/// The working planes with the part a found mark covers masked out: the residuals set to 0
/// and the detection plane to its mean there.
pub(super) fn without_mark(planes: WorkingPlanes, read: &Read, values: &[f32; CELL_COUNT]) -> WorkingPlanes {
    let WorkingPlanes { mut residual, mut weighted, mut plane } = planes;
    let (width, height) = (residual.width, residual.height);
    // The found mark's tile in fold bins: the bin under the read's symmetry, less its shift,
    // is the place in the tile (as `fold::read_cells` reads it).
    let tile = pattern_of(values);
    let (sx, sy) = read.peak.shift;
    let expected: Vec<f32> = (0..FOLD * FOLD)
        .map(|bin| {
            let (u, v) = turn_back(read.peak.symmetry, (bin % FOLD, bin / FOLD));
            tile[((v + FOLD - sy) % FOLD) * FOLD + (u + FOLD - sx) % FOLD]
        })
        .collect();
    let binning = Binning::new(read.lattice, width, height);
    let mut product = residual.clone();
    let mut bins = vec![0u32; width];
    for (y, row) in product.data.chunks_exact_mut(width).enumerate() {
        binning.row(y, 1, &mut bins);
        row.iter_mut().zip(&bins).for_each(|(v, &bin)| *v *= expected[bin as usize]);
    }
    let local = product.box_blur((read.lattice.period.round() as usize).max(8));
    let mut sorted = local.data.clone();
    sorted.sort_by(f32::total_cmp);
    let high = sorted[((sorted.len() - 1) as f32 * PERCENTILE) as usize];
    if high <= 0.0 {
        return WorkingPlanes { residual, weighted, plane };
    }
    let mean = plane.data.iter().sum::<f32>() / plane.data.len().max(1) as f32;
    for (i, &c) in local.data.iter().enumerate() {
        if c >= COVERED * high {
            residual.data[i] = 0.0;
            weighted.data[i] = 0.0;
            plane.data[i] = mean;
        }
    }
    WorkingPlanes { residual, weighted, plane }
}
