//! The keyed tile: a 16 x 16 grid of cells, each carrying ±1 times a secret carrier sign.
//! Most cells carry one coded payload bit each; the rest carry a fixed synchronisation
//! pattern that locates the tile's offset and orientation. Cell values are interpolated
//! smoothly (raised cosine, periodic) into pixels, so the mark lives at the tile's low
//! spatial frequencies, which survive downscaling and JPEG.

use super::code::{keyed_stream, CODED_BITS};
use super::Key;

/// Cells per tile side.
pub const CELLS: usize = 16;
pub const CELL_COUNT: usize = CELLS * CELLS;

/// Which cell carries what, and the secret signs: all derived from the key.
pub struct Layout {
    carriers: [f32; CELL_COUNT],
    /// The cell of each coded bit.
    bit_cells: Vec<usize>,
    /// Cells carrying the synchronisation pattern.
    sync_cells: Vec<usize>,
    /// Coded bits are XORed with this before modulation, so no payload gives a plain pattern.
    whitening: Vec<u8>,
}

impl Layout {
    pub fn new(key: &Key) -> Layout {
        let signs = keyed_stream(key, "viewmark/carriers", CELL_COUNT);
        let mut carriers = [0.0; CELL_COUNT];
        for (c, s) in carriers.iter_mut().zip(&signs) {
            *c = if s & 1 == 1 { 1.0 } else { -1.0 };
        }
        // Fisher-Yates with keyed randomness: spreads each bit's cells over the tile.
        let random = keyed_stream(key, "viewmark/permutation", 4 * CELL_COUNT);
        let mut order: Vec<usize> = (0..CELL_COUNT).collect();
        for i in (1..CELL_COUNT).rev() {
            let r =
                u32::from_be_bytes([random[4 * i], random[4 * i + 1], random[4 * i + 2], random[4 * i + 3]]);
            order.swap(i, r as usize % (i + 1));
        }
        let whitening = keyed_stream(key, "viewmark/whitening", CODED_BITS).iter().map(|b| b & 1).collect();
        let sync_cells = order[CODED_BITS..].to_vec();
        order.truncate(CODED_BITS);
        Layout { carriers, bit_cells: order, sync_cells, whitening }
    }

    /// Cell values of a mark carrying this codeword.
    pub fn cell_values(&self, codeword: &[u8]) -> [f32; CELL_COUNT] {
        let mut values = self.sync_values();
        for (i, (&cell, &bit)) in self.bit_cells.iter().zip(codeword).enumerate() {
            let sign = if bit ^ self.whitening[i] == 1 { 1.0 } else { -1.0 };
            values[cell] = sign * self.carriers[cell];
        }
        values
    }

    /// The synchronisation cells alone (data cells zero): the template the detector
    /// correlates against to find the tile's offset and orientation.
    pub fn sync_values(&self) -> [f32; CELL_COUNT] {
        let mut values = [0.0; CELL_COUNT];
        for &cell in &self.sync_cells {
            values[cell] = self.carriers[cell];
        }
        values
    }

    /// Soft coded bits from cells, normalised to unit RMS.
    pub fn normalised_soft_bits(&self, cells: &[f32; CELL_COUNT]) -> Vec<f32> {
        let mut soft = self.soft_bits(cells);
        let rms = (soft.iter().map(|v| v * v).sum::<f32>() / soft.len() as f32).sqrt().max(1e-9);
        soft.iter_mut().for_each(|v| *v /= rms);
        soft
    }

    /// Soft coded bits from measured cell values (positive: evidence for a 1).
    pub fn soft_bits(&self, cells: &[f32; CELL_COUNT]) -> Vec<f32> {
        self.bit_cells
            .iter()
            .enumerate()
            .map(|(i, &cell)| {
                let v = cells[cell] * self.carriers[cell];
                if self.whitening[i] == 1 {
                    -v
                } else {
                    v
                }
            })
            .collect()
    }
}

/// Per output coordinate: the two neighbouring cells and the weight of the second.
fn axis_taps(size: usize) -> Vec<(usize, usize, f32)> {
    (0..size)
        .map(|x| {
            let t = (x as f32 + 0.5) * CELLS as f32 / size as f32 - 0.5;
            let i0 = t.floor();
            let f = t - i0;
            let w = (1.0 - (std::f32::consts::PI * f).cos()) / 2.0;
            let i0 = (i0 as isize).rem_euclid(CELLS as isize) as usize;
            (i0, (i0 + 1) % CELLS, w)
        })
        .collect()
}

/// Renders cell values into a `size` x `size` periodic tile.
pub fn render(values: &[f32; CELL_COUNT], size: usize) -> Vec<f32> {
    let taps = axis_taps(size);
    let mut out = vec![0.0; size * size];
    for (y, &(r0, r1, wy)) in taps.iter().enumerate() {
        for (x, &(c0, c1, wx)) in taps.iter().enumerate() {
            let top = values[r0 * CELLS + c0] * (1.0 - wx) + values[r0 * CELLS + c1] * wx;
            let bottom = values[r1 * CELLS + c0] * (1.0 - wx) + values[r1 * CELLS + c1] * wx;
            out[y * size + x] = top * (1.0 - wy) + bottom * wy;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_is_a_partition_and_soft_bits_invert_modulation() {
        let key = Key::from_bytes([9; 32]);
        let layout = Layout::new(&key);
        let mut seen = [false; CELL_COUNT];
        for &c in layout.bit_cells.iter().chain(&layout.sync_cells) {
            assert!(!seen[c]);
            seen[c] = true;
        }
        assert!(seen.iter().all(|s| *s));
        let code: Vec<u8> = (0..CODED_BITS).map(|i| (i % 3 == 0) as u8).collect();
        let soft = layout.soft_bits(&layout.cell_values(&code));
        for (s, b) in soft.iter().zip(&code) {
            assert_eq!(*s > 0.0, *b == 1);
        }
    }

    #[test]
    fn rendering_hits_cell_values_at_cell_centres() {
        let mut values = [0.0; CELL_COUNT];
        values[3 * CELLS + 5] = 1.0;
        let tile = render(&values, 64);
        // Cell (row 3, col 5) is centred at pixel 4*i + 1.5.
        assert!(tile[13 * 64 + 21] > 0.8);
        assert!(tile[40 * 64 + 40].abs() < 1e-6);
    }
}
