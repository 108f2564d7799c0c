//! Detection: normalise, pre-filter, find the tile lattice, fold the image onto one tile,
//! find the tile's offset and orientation from the synchronisation cells, read the cells and
//! decode.

use std::cell::Cell;

use image::RgbImage;

use super::code::{decode, encode, TAG_BITS};
use super::pattern::{Layout, CELL_COUNT};
use super::reregister::Best;
use super::search::{Attempts, Read, Search};
use super::several::without_mark;
use super::stack::FrameStack;
use super::{Detection, Key};

/// The longest tile period searched for, as a fraction of the working short side: a tile
/// must repeat at least about twice across what is left of the picture to show a lattice.
pub(super) const MAX_PERIOD_OF_SHORT_SIDE: f32 = 0.55;
/// The shortest tile period searched for, in working pixels.
pub(super) const MIN_PERIOD: f32 = 24.0;
/// Lattice candidates taken from the spectrum search (each then joined by its 45-degree
/// relatives, see `with_relatives`).
pub(super) const LATTICE_CANDIDATES: usize = 4;
/// Lattice candidates refined and decoded, best synchronisation first.
pub(super) const LATTICES_DECODED: usize = 3;
/// Fine registrations (period and angle within the refinement's reach) decoded per lattice.
pub(super) const REGISTRATIONS_PER_LATTICE: usize = 2;
/// Orientation/offset peaks decoded per registration, best first: the right symmetry is not
/// always the strongest peak when the mark is weak.
pub(super) const PEAKS_PER_REGISTRATION: usize = 2;
/// Warped lattice candidates taken from the warped search, and of them (with their
/// relatives) those refined and decoded, one registration each: read only when no square
/// lattice decodes.
pub(super) const WARPED_CANDIDATES: usize = 4;
pub(super) const WARPED_DECODED: usize = 2;
/// Warped lattice candidates taken from the spectrum of the picture's centre, and the
/// alignments whose keystone is searched before the `WARPED_DECODED` best are decoded.
pub(super) const CENTRE_CANDIDATES: usize = 2;
pub(super) const KEYSTONED: usize = 4;
const WARPED_ATTEMPTS: usize = WARPED_DECODED * PEAKS_PER_REGISTRATION;
/// Alignments decoded per image: the square search's, one decision-directed re-registration
/// of the best (`Best::reread`), and the warped search's.
pub const DECODE_ATTEMPTS: usize =
    LATTICES_DECODED * REGISTRATIONS_PER_LATTICE * PEAKS_PER_REGISTRATION + 1 + WARPED_ATTEMPTS;
/// The most marks looked for in one picture: a collage or a duet holds two, a grid of
/// re-posts a few more.
const MAX_MARKS: usize = 4;
/// Codewords the list decoder tries per alignment for a picture, best first.
pub const PICTURE_LIST: usize = 4;
/// Integrity-tag tests per picture: the false-positive arithmetic counts them.
pub const TAG_TESTS: usize = DECODE_ATTEMPTS * PICTURE_LIST;
// The false-positive bound: TAG_TESTS * 2^-TAG_BITS must stay at most 1e-9.
const _: () = assert!(TAG_TESTS as u64 * 1_000_000_000 <= 1 << TAG_BITS);
/// Soft coded bits from cells, normalised to unit RMS.
pub(super) fn normalised_soft_bits(layout: &Layout, cells: &[f32; CELL_COUNT]) -> Vec<f32> {
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

pub fn detect_all(image: &RgbImage, key: &Key) -> Vec<Detection> {
    let mut stack = FrameStack::new();
    stack.add(image);
    stack.detect_all_with_list(key, PICTURE_LIST)
}

pub(super) fn detect_stack(stack: &FrameStack, key: &Key, list: usize) -> Option<Detection> {
    let layout = Layout::new(key);
    let search = Search::new(stack, &layout)?;
    let budget = Cell::new(DECODE_ATTEMPTS * list);
    next_mark(&search, &layout, key, list, &budget, &[], true).map(|(detection, _)| detection)
}

/// Every mark in the stack, first found first: after each mark, the part of the picture
/// it covers is masked out (`several::without_mark`) and the rest searched again, until a
/// search finds nothing new or `MAX_MARKS` are found. All the searches share one picture's
/// `TAG_TESTS`, so every mark found is under the same false-positive bound as one.
pub(super) fn detect_all_in_stack(stack: &FrameStack, key: &Key, list: usize) -> Vec<Detection> {
    let layout = Layout::new(key);
    let Some(mut search) = Search::new(stack, &layout) else {
        return Vec::new();
    };
    let budget = Cell::new(DECODE_ATTEMPTS * list);
    let mut found: Vec<Detection> = Vec::new();
    while found.len() < MAX_MARKS {
        let payloads: Vec<u64> = found.iter().map(|d| d.payload).collect();
        // The warped stage only for the first mark: a second search costs a marked picture
        // its square stage, which is what a collage of upright pictures needs.
        let first = found.is_empty();
        let Some((detection, read)) = next_mark(&search, &layout, key, list, &budget, &payloads, first)
        else {
            break;
        };
        let (planes, factor, block) = search.planes();
        let rest = without_mark(planes, &read, &layout.cell_values(&encode(key, detection.payload)));
        search = Search::of(rest, factor, block, &layout);
        found.push(detection);
    }
    found
}

/// The first alignment, best first, that decodes to a payload not in `found`, while the
/// `budget` of tag tests lasts (each alignment costs `list`); the warped stage only if
/// `warped`.
fn next_mark(
    search: &Search,
    layout: &Layout,
    key: &Key,
    list: usize,
    budget: &Cell<usize>,
    found: &[u64],
    warped: bool,
) -> Option<(Detection, Read)> {
    let decoded = |read: Read| {
        let left = budget.get().checked_sub(list)?;
        budget.set(left);
        let soft = normalised_soft_bits(layout, &read.cells);
        let payload = decode(key, &soft, list).filter(|p| !found.contains(p))?;
        let codeword = encode(key, payload);
        let agreement = soft.iter().zip(&codeword).map(|(s, &b)| if b == 1 { *s } else { -*s }).sum::<f32>()
            / soft.len() as f32;
        Some((Detection { payload, score: agreement.clamp(0.0, 1.0), transform: read.transform }, read))
    };
    let Attempts { read, best } = search.square_attempts();
    let best_square = best.as_ref().map(Best::working_lattice);
    // The re-registration costs some thirty folds and the warped search a second search of
    // the spectrum: each only when nothing before it decodes.
    read.into_iter()
        .find_map(decoded)
        .or_else(|| best.and_then(|b| decoded(b.reread(layout))))
        .or_else(|| warped.then(|| search.warped_reads(best_square).into_iter().find_map(decoded)).flatten())
}

/// For measurement: the most coded bits any attempt reads right for a known payload.
#[doc(hidden)]
pub fn coded_bits_right(image: &RgbImage, key: &Key, payload: u64) -> usize {
    let layout = Layout::new(key);
    let codeword = encode(key, payload);
    let mut stack = FrameStack::new();
    stack.add(image);
    let Some(search) = Search::new(&stack, &layout) else {
        return 0;
    };
    let Attempts { mut read, best } = search.square_attempts();
    let best_square = best.as_ref().map(Best::working_lattice);
    read.extend(best.map(|b| b.reread(&layout)));
    read.extend(search.warped_reads(best_square));
    read.iter()
        .map(|r| {
            let soft = layout.soft_bits(&r.cells);
            soft.iter().zip(&codeword).filter(|(s, &b)| (**s > 0.0) == (b == 1)).count()
        })
        .max()
        .unwrap_or(0)
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

    /// Every mark made with this key in the frames added (a collage, a duet), within one
    /// picture's budget of tag tests, trying `list` codewords per alignment.
    pub fn detect_all_with_list(&self, key: &Key, list: usize) -> Vec<Detection> {
        detect_all_in_stack(self, key, list)
    }
}
