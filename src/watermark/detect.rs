//! Detection: normalise, pre-filter, find the tile lattice, fold the image onto one tile,
//! find the tile's offset and orientation from the synchronisation cells, read the cells and
//! decode.

use std::cell::Cell;

use image::RgbImage;

use super::code::{decode, encode, TAG_BITS};
use super::fft::fresh_plans;
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

/// Up to `most` marks in the stack, first found first: after each mark, the part of the
/// picture it covers is masked out (`several::without_mark`) and the rest searched again,
/// until a search finds nothing new or the tag tests run out. All the searches share one
/// picture's `TAG_TESTS`, so every mark found is under the same false-positive bound as one.
fn marks_in_stack(stack: &FrameStack, key: &Key, list: usize, most: usize) -> Vec<Detection> {
    fresh_plans();
    let layout = Layout::new(key);
    let Some(mut search) = Search::new(stack, &layout) else {
        return Vec::new();
    };
    let budget = Cell::new(DECODE_ATTEMPTS * list);
    let mut found: Vec<Detection> = Vec::new();
    while found.len() < most && budget.get() >= list {
        let payloads: Vec<u64> = found.iter().map(|d| d.payload).collect();
        // The warped stage only for the first mark: a second search costs a marked picture
        // its square stage, which is what a collage of upright pictures needs.
        let stages = if found.is_empty() { Stages::All } else { Stages::Square };
        let decoded = |read: Read| decode_read(&layout, key, list, &budget, &payloads, read);
        let Some((detection, read)) = walk(&search, &layout, stages, decoded) else {
            break;
        };
        if found.len() + 1 < most {
            let (planes, factor, block) = search.planes();
            let rest = without_mark(planes, &read, &layout.cell_values(&encode(key, detection.payload)));
            search = Search::of(rest, factor, block, &layout);
        }
        found.push(detection);
    }
    found
}

/// The stages of the search a walk goes through.
#[derive(Clone, Copy, PartialEq)]
enum Stages {
    /// The square lattices' alignments and the re-registration of the best.
    Square,
    /// Those, then the warped stage.
    All,
}

/// Passes every alignment of the search to `visit`, best first, until it gives an answer:
/// the square lattices' reads, then the re-registration of the best, then (for
/// `Stages::All`) the warped stage. The re-registration costs some thirty folds and the
/// warped stage a second search of the spectrum: each runs only when nothing before it
/// answered.
fn walk<T>(
    search: &Search,
    layout: &Layout,
    stages: Stages,
    mut visit: impl FnMut(Read) -> Option<T>,
) -> Option<T> {
    let Attempts { read, best } = search.square_attempts();
    let best_square = best.as_ref().map(Best::working_lattice);
    read.into_iter()
        .find_map(&mut visit)
        .or_else(|| best.and_then(|b| visit(b.reread(layout))))
        .or_else(|| (stages == Stages::All).then(|| search.warped_stage(best_square, visit)).flatten())
}

/// The detection a read decodes to, if its payload is not in `found`, while the `budget`
/// of tag tests lasts (each read costs `list`).
fn decode_read(
    layout: &Layout,
    key: &Key,
    list: usize,
    budget: &Cell<usize>,
    found: &[u64],
    read: Read,
) -> Option<(Detection, Read)> {
    let left = budget.get().checked_sub(list)?;
    budget.set(left);
    let soft = layout.normalised_soft_bits(&read.cells);
    let payload = decode(key, &soft, list).filter(|p| !found.contains(p))?;
    let codeword = encode(key, payload);
    let agreement = soft.iter().zip(&codeword).map(|(s, &b)| if b == 1 { *s } else { -*s }).sum::<f32>()
        / soft.len() as f32;
    Some((Detection { payload, score: agreement.clamp(0.0, 1.0), transform: read.transform }, read))
}

/// For measurement: the most coded bits any attempt reads right for a known payload.
#[doc(hidden)]
pub fn coded_bits_right(image: &RgbImage, key: &Key, payload: u64) -> usize {
    fresh_plans();
    let layout = Layout::new(key);
    let codeword = encode(key, payload);
    let mut stack = FrameStack::new();
    stack.add(image);
    let Some(search) = Search::new(&stack, &layout) else {
        return 0;
    };
    let mut most = 0;
    walk(&search, &layout, Stages::All, |read| {
        let soft = layout.soft_bits(&read.cells);
        most = most.max(soft.iter().zip(&codeword).filter(|(s, &b)| (**s > 0.0) == (b == 1)).count());
        None::<()>
    });
    most
}

impl FrameStack {
    /// Looks for a mark made with this key in the frames added, with a picture's budget of
    /// tag tests (`TAG_TESTS`).
    pub fn detect(&self, key: &Key) -> Option<Detection> {
        marks_in_stack(self, key, PICTURE_LIST, 1).into_iter().next()
    }

    /// Every mark made with this key in the frames added (a collage, a duet), within one
    /// picture's budget of tag tests, trying `list` codewords per alignment: a caller that
    /// decodes several stacks of one video shares the budget out.
    pub fn detect_all_with_list(&self, key: &Key, list: usize) -> Vec<Detection> {
        marks_in_stack(self, key, list, MAX_MARKS)
    }
}
