//! Detection: normalise, pre-filter, find the tile lattice, fold the image onto one tile,
//! find the tile's offset and orientation from the synchronisation cells, read the cells and
//! decode.

use std::cell::Cell;

use image::RgbImage;

use super::code::{decode, encode, TAG_BITS};
use super::pattern::Layout;
use super::search::Best;
pub use super::search::DECODE_ATTEMPTS;
use super::search::{Attempts, Read, Search};
use super::several::without_mark;
use super::stack::FrameStack;
use super::{Detection, Key};

/// The most marks looked for in one picture: a collage or a duet holds two, a grid of
/// re-posts a few more.
const MAX_MARKS: usize = 4;
/// Codewords the list decoder tries per alignment for a picture, best first.
pub const PICTURE_LIST: usize = 4;
/// Integrity-tag tests per picture: the false-positive arithmetic counts them.
pub const TAG_TESTS: usize = DECODE_ATTEMPTS * PICTURE_LIST;
// The false-positive bound: TAG_TESTS * 2^-TAG_BITS must stay at most 1e-9.
const _: () = assert!(TAG_TESTS as u64 * 1_000_000_000 <= 1 << TAG_BITS);
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
        let soft = layout.normalised_soft_bits(&read.cells);
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
        .or_else(|| warped.then(|| search.warped_stage(best_square, decoded)).flatten())
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
    search.warped_stage(best_square, |r| {
        read.push(r);
        None::<()>
    });
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
