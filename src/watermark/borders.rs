//! Letterboxing: platforms fit pictures into fixed canvases (a 9:16 story, a square feed
//! tile) on a flat colour. The detector's working scale follows the canvas's shorter side,
//! so a picture letterboxed into a tall canvas arrives with its tile period near the bottom
//! of the search; cutting the flat bars away first gives it back its usual scale.

use super::plane::Plane;

/// A line counts as part of a bar when its luma spans at most this many grey levels and
/// its mean is this close to the outermost line's (JPEG leaves a little noise in flat bars).
const FLAT_SPAN: f32 = 6.0;
/// Bars are cut only if what is left keeps at least this fraction of each side: a picture
/// that is flat nearly everywhere (a dark frame) is left as it is.
const MIN_CONTENT: f32 = 0.25;

/// The part of the plane inside flat bars on any of its four edges, as (x, y, width,
/// height); the whole plane when there are none.
pub fn content_bounds(luma: &Plane) -> (usize, usize, usize, usize) {
    let (w, h) = (luma.width, luma.height);
    let row = |y: usize| (0..w).map(move |x| luma.at(x, y));
    let col = |x: usize| (0..h).map(move |y| luma.at(x, y));
    let top = bar_depth((0..h).map(|y| line_stats(row(y))));
    let bottom = bar_depth((0..h).rev().map(|y| line_stats(row(y))));
    let left = bar_depth((0..w).map(|x| line_stats(col(x))));
    let right = bar_depth((0..w).rev().map(|x| line_stats(col(x))));
    let (cw, ch) = (w.saturating_sub(left + right), h.saturating_sub(top + bottom));
    if (cw as f32) < MIN_CONTENT * w as f32 || (ch as f32) < MIN_CONTENT * h as f32 {
        return (0, 0, w, h);
    }
    (left, top, cw, ch)
}

/// Mean and span (max - min) of one line of pixels.
fn line_stats(values: impl Iterator<Item = f32>) -> (f32, f32) {
    let (mut sum, mut n, mut lo, mut hi) = (0.0, 0usize, f32::MAX, f32::MIN);
    for v in values {
        sum += v;
        n += 1;
        lo = lo.min(v);
        hi = hi.max(v);
    }
    (sum / n.max(1) as f32, hi - lo)
}

/// How many lines from the edge inwards belong to a flat bar.
fn bar_depth(mut lines: impl Iterator<Item = (f32, f32)>) -> usize {
    let Some((edge_mean, edge_span)) = lines.next() else {
        return 0;
    };
    if edge_span > FLAT_SPAN {
        return 0;
    }
    1 + lines.take_while(|(mean, span)| *span <= FLAT_SPAN && (mean - edge_mean).abs() <= FLAT_SPAN).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plane(width: usize, height: usize, f: impl Fn(usize, usize) -> f32) -> Plane {
        let data = (0..height).flat_map(|y| (0..width).map(move |x| (x, y))).map(|(x, y)| f(x, y)).collect();
        Plane { width, height, data }
    }

    #[test]
    fn flat_bars_are_cut_and_pictures_kept() {
        // A textured picture at (10, 30), 80 x 40, on a near-black canvas with slight noise.
        let boxed = plane(100, 100, |x, y| {
            if (10..90).contains(&x) && (30..70).contains(&y) {
                ((x * 37 + y * 11) % 90) as f32 + 60.0
            } else {
                ((x + y) % 3) as f32
            }
        });
        assert_eq!(content_bounds(&boxed), (10, 30, 80, 40));
        let picture = plane(64, 48, |x, y| ((x * 7 + y * 13) % 50) as f32);
        assert_eq!(content_bounds(&picture), (0, 0, 64, 48));
        // Flat nearly everywhere: left alone.
        let dark = plane(64, 64, |x, y| if x == 32 && y == 32 { 200.0 } else { 0.0 });
        assert_eq!(content_bounds(&dark), (0, 0, 64, 64));
    }
}
