//! Detection: normalise, pre-filter, find the tile lattice, fold the image onto one tile,
//! find the tile's offset and orientation from the synchronisation cells, read the cells and
//! decode.

use image::RgbImage;
use rustfft::num_complex::Complex32;
use rustfft::FftDirection;

use super::code::{decode, encode, TAG_BITS};
use super::fft::{fft2d, to_complex};
use super::pattern::{render, Layout, CELLS, CELL_COUNT};
use super::plane::Plane;
use super::sync::{find_lattices, residual, Lattice};
use super::{Detection, Key, Transform};

/// The shorter side of the working image. Since the tile period is a fixed fraction of the
/// embedded image's shorter side, this keeps the period in a narrow band of working pixels
/// whatever the resolution the image arrives at.
const WORK_SHORT_SIDE: usize = 320;
/// The longest working side (very elongated canvases are not worth more pixels).
const WORK_LONG_SIDE_MAX: usize = 1280;
/// Size of the folded tile: 4 bins per cell.
const FOLD: usize = 64;
const BINS_PER_CELL: usize = FOLD / CELLS;
/// Lattice candidates taken from the spectrum search.
const LATTICE_CANDIDATES: usize = 4;
/// Lattice candidates refined and decoded, best synchronisation first.
const LATTICES_DECODED: usize = 3;
/// Orientation/offset peaks decoded per lattice, best first: the right symmetry is not
/// always the strongest peak when the mark is weak.
const PEAKS_PER_LATTICE: usize = 4;
/// Alignments decoded per image.
pub const DECODE_ATTEMPTS: usize = LATTICES_DECODED * PEAKS_PER_LATTICE;
/// Codewords the list decoder tries per alignment for a picture, best first.
pub const PICTURE_LIST: usize = 4;
/// Integrity-tag tests per picture: the false-positive arithmetic counts them.
pub const TAG_TESTS: usize = DECODE_ATTEMPTS * PICTURE_LIST;
// The false-positive bound: TAG_TESTS * 2^-TAG_BITS must stay at most 1e-9.
const _: () = assert!(TAG_TESTS as u64 * 1_000_000_000 <= 1 << TAG_BITS);
/// Fine search around each candidate: relative period and angle (radians) offsets.
const PERIOD_STEPS: [f32; 5] = [-0.01, -0.005, 0.0, 0.005, 0.01];
const ANGLE_STEPS: [f32; 3] = [-0.007, 0.0, 0.007];

/// The eight symmetries of the square: the lattice fixes the angle only modulo 90 degrees,
/// and a mirrored image is the same lattice flipped.
const DIHEDRAL: [(i8, i8, i8, i8); 8] = [
    (1, 0, 0, 1),
    (0, -1, 1, 0),
    (-1, 0, 0, -1),
    (0, 1, -1, 0),
    (-1, 0, 0, 1),
    (0, 1, 1, 0),
    (1, 0, 0, -1),
    (0, -1, -1, 0),
];

/// A correlation peak: a symmetry of the square and a cyclic offset, with its z-score.
#[derive(Debug, Clone, Copy)]
struct Peak {
    z: f32,
    symmetry: usize,
    shift: (usize, usize),
}

/// One lattice's fold and its best peaks (best first, one per symmetry).
struct Alignment {
    lattice: Lattice,
    fold: Vec<f32>,
    peaks: Vec<Peak>,
}

impl Alignment {
    fn z(&self) -> f32 {
        self.peaks.first().map_or(f32::NEG_INFINITY, |p| p.z)
    }
}

/// The working image size for an input of this size, and the scale factor to it.
pub(super) fn working_size(width: usize, height: usize) -> (usize, usize, f32) {
    let short = width.min(height) as f32;
    let long = width.max(height) as f32;
    let factor = (WORK_SHORT_SIDE as f32 / short).min(WORK_LONG_SIDE_MAX as f32 / long);
    (
        ((width as f32 * factor).round() as usize).max(16),
        ((height as f32 * factor).round() as usize).max(16),
        factor,
    )
}

/// Candidate alignments, best synchronisation first, each with the cells it reads: exactly
/// the `DECODE_ATTEMPTS` the false-positive arithmetic counts (fewer when the spectrum has
/// fewer lattice candidates).
fn attempts(stack: &FrameStack, layout: &Layout) -> Vec<(Transform, [f32; CELL_COUNT])> {
    let Some((work, factor)) = stack.working_plane() else {
        return Vec::new();
    };
    let min_period = 24.0;
    let max_period = 0.55 * work.width.min(work.height) as f32;
    let lattices = find_lattices(&work, min_period, max_period, LATTICE_CANDIDATES);
    let template = sync_template(layout);

    let mut coarse: Vec<Alignment> = lattices.iter().map(|l| align(&work, *l, &template)).collect();
    coarse.sort_by(|a, b| b.z().total_cmp(&a.z()));
    let mut refined: Vec<Alignment> =
        coarse.into_iter().take(LATTICES_DECODED).map(|a| refine(&work, a, &template)).collect();
    refined.sort_by(|a, b| b.z().total_cmp(&a.z()));

    refined
        .iter()
        .flat_map(|a| a.peaks.iter().take(PEAKS_PER_LATTICE).map(move |p| (a, *p)))
        .map(|(alignment, peak)| {
            let (a, b, c, d) = DIHEDRAL[peak.symmetry];
            let transform = Transform {
                tile_period_px: alignment.lattice.period / factor,
                rotation_degrees: alignment.lattice.angle.to_degrees(),
                // A symmetry with a negative determinant is a mirror image.
                flipped: a * d - b * c < 0,
            };
            (transform, read_cells(&alignment.fold, peak))
        })
        .collect()
}

/// Soft coded bits from cells, normalised to unit RMS.
fn normalised_soft_bits(layout: &Layout, cells: &[f32; CELL_COUNT]) -> Vec<f32> {
    let mut soft = layout.soft_bits(cells);
    let rms = (soft.iter().map(|v| v * v).sum::<f32>() / soft.len() as f32).sqrt().max(1e-9);
    soft.iter_mut().for_each(|v| *v /= rms);
    soft
}

/// Evidence from one or more frames of the same size (a picture, or frames of one video),
/// summed in the detector's working domain. Every frame of a marked video carries the same
/// pattern at the same place, while the picture moves and changes: the average of the
/// frames' whitened residuals keeps the mark and averages the picture away. Only the
/// average is decoded, so the false-positive bound is the same as for one picture.
#[derive(Debug, Clone, Default)]
pub struct FrameStack {
    sum: Option<Plane>,
    /// The input size the stack was started with, and the scale to working pixels.
    size: (usize, usize),
    factor: f32,
    frames: usize,
}

impl FrameStack {
    pub fn new() -> FrameStack {
        FrameStack::default()
    }

    /// Adds a frame. Frames of another size than the first (or too small to work on) are
    /// ignored: `false`.
    pub fn add(&mut self, image: &RgbImage) -> bool {
        let size = (image.width() as usize, image.height() as usize);
        if size.0 < 16 || size.1 < 16 || (self.sum.is_some() && size != self.size) {
            return false;
        }
        let (ww, wh, factor) = working_size(size.0, size.1);
        let work = residual(&Plane::luma(image).resize(ww, wh));
        match &mut self.sum {
            Some(sum) => sum.data.iter_mut().zip(&work.data).for_each(|(s, w)| *s += w),
            None => {
                self.sum = Some(work);
                self.size = size;
                self.factor = factor;
            }
        }
        self.frames += 1;
        true
    }

    /// Frames added so far.
    pub fn frames(&self) -> usize {
        self.frames
    }

    /// The averaged working plane and the scale from input to working pixels.
    fn working_plane(&self) -> Option<(Plane, f32)> {
        let sum = self.sum.as_ref()?;
        let n = self.frames.max(1) as f32;
        Some((sum.map(|v| v / n), self.factor))
    }

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

pub fn detect(image: &RgbImage, key: &Key) -> Option<Detection> {
    let mut stack = FrameStack::new();
    stack.add(image);
    detect_stack(&stack, key, PICTURE_LIST)
}

fn detect_stack(stack: &FrameStack, key: &Key, list: usize) -> Option<Detection> {
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

fn sync_template(layout: &Layout) -> Vec<Complex32> {
    let mut t = render(&layout.sync_values(), FOLD);
    let mean = t.iter().sum::<f32>() / t.len() as f32;
    t.iter_mut().for_each(|v| *v -= mean);
    let mut spectrum = to_complex(&t);
    fft2d(&mut spectrum, FOLD, FOLD, FOLD, FftDirection::Forward);
    spectrum
}

/// Accumulates every working pixel into the tile bin it maps to under the lattice.
fn fold(work: &Plane, lattice: Lattice) -> Vec<f32> {
    let k = FOLD as f32 / lattice.period;
    let (c, s) = ((-lattice.angle).cos() * k, (-lattice.angle).sin() * k);
    let mut sum = vec![0.0f32; FOLD * FOLD];
    let mut count = vec![0u32; FOLD * FOLD];
    let n = FOLD as f32;
    for y in 0..work.height {
        let (yc, ys) = (y as f32 * -s, y as f32 * c);
        let row = &work.data[y * work.width..(y + 1) * work.width];
        for (x, v) in row.iter().enumerate() {
            let u = (x as f32 * c + yc).rem_euclid(n) as usize % FOLD;
            let w = (x as f32 * s + ys).rem_euclid(n) as usize % FOLD;
            sum[w * FOLD + u] += v;
            count[w * FOLD + u] += 1;
        }
    }
    sum.iter().zip(&count).map(|(s, &c)| if c > 0 { s / c as f32 } else { 0.0 }).collect()
}

fn apply_symmetry(fold: &[f32], symmetry: usize) -> Vec<f32> {
    let (a, b, c, d) = DIHEDRAL[symmetry];
    let n = FOLD as isize;
    let mut out = vec![0.0; FOLD * FOLD];
    for v in 0..n {
        for u in 0..n {
            let su = (isize::from(a) * u + isize::from(b) * v).rem_euclid(n);
            let sv = (isize::from(c) * u + isize::from(d) * v).rem_euclid(n);
            out[(v * n + u) as usize] = fold[(sv * n + su) as usize];
        }
    }
    out
}

/// The best cyclic shift of one fold against the synchronisation template under each
/// symmetry of the square, best first.
fn align(work: &Plane, lattice: Lattice, template: &[Complex32]) -> Alignment {
    let folded = fold(work, lattice);
    let mut peaks = Vec::with_capacity(DIHEDRAL.len());
    for symmetry in 0..DIHEDRAL.len() {
        let candidate = apply_symmetry(&folded, symmetry);
        let mut spectrum = to_complex(&candidate);
        fft2d(&mut spectrum, FOLD, FOLD, FOLD, FftDirection::Forward);
        for (s, t) in spectrum.iter_mut().zip(template) {
            *s *= t.conj();
        }
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
        peaks.push(Peak { z: (peak - mean) / std, symmetry, shift: (index % FOLD, index / FOLD) });
    }
    peaks.sort_by(|a, b| b.z.total_cmp(&a.z));
    Alignment { lattice, fold: folded, peaks }
}

/// Searches small period and angle corrections around a candidate: over many tiles, a
/// fraction of a pixel of period error smears the fold.
fn refine(work: &Plane, start: Alignment, template: &[Complex32]) -> Alignment {
    let base = start.lattice;
    let mut best = start;
    for dp in PERIOD_STEPS {
        for da in ANGLE_STEPS {
            if dp == 0.0 && da == 0.0 {
                continue;
            }
            let lattice =
                Lattice { period: base.period * (1.0 + dp), angle: base.angle + da, score: base.score };
            let candidate = align(work, lattice, template);
            if candidate.z() > best.z() {
                best = candidate;
            }
        }
    }
    best
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
