//! The scales the embedder and the detector agree on: how many tiles a picture carries, and
//! the working size the detector brings every input to.

/// Tiles across the shorter side of the image. Eight keeps many whole tiles in any crop
/// that keeps half the area (more tiles, more averaging) while cells stay large enough to
/// survive a 4x downscale of a creator-sized output.
pub(super) const TILES_PER_SHORT_SIDE: f32 = 8.0;
/// The smallest tile period in pixels: pictures under 448 px on their shorter side get
/// fewer than eight tiles across it, and larger cells, which is what survives a downscale
/// and JPEG of a small picture; a larger floor leaves too few tiles in an aspect crop of a
/// small picture (docs/watermark-lab.md, "Parameter choices").
pub(super) const MIN_PERIOD: usize = 56;

/// The shorter side of the working image. Since the tile period is a fixed fraction of the
/// embedded image's shorter side, this keeps the period in a narrow band of working pixels
/// whatever the resolution the image arrives at.
pub(super) const WORK_SHORT_SIDE: usize = 320;
/// The most working pixels: an input more elongated than 4:1 is worked on at the scale that
/// gives it this area (320 x 1280 at 4:1, 160 x 2560 at 16:1), so the cost stays bounded
/// while the short side keeps enough pixels for the tile (see `tile_period`).
pub(super) const WORK_AREA_MAX: usize = WORK_SHORT_SIDE * WORK_SHORT_SIDE * 4;

/// The working image size for an input of this size, and the scale factor to it.
pub(super) fn working_size(width: usize, height: usize) -> (usize, usize, f32) {
    let short = width.min(height) as f32;
    let area = width as f32 * height as f32;
    let factor = (WORK_SHORT_SIDE as f32 / short).min((WORK_AREA_MAX as f32 / area).sqrt());
    (
        ((width as f32 * factor).round() as usize).max(16),
        ((height as f32 * factor).round() as usize).max(16),
        factor,
    )
}

/// The tile period, in pixels, for an image of this size: an eighth of the shorter side, or
/// for a picture more elongated than 4:1 (a panorama, a long strip) the period that still
/// measures an eighth of the working short side at the detector's working scale, which
/// bounds such a picture's working area (`WORK_AREA_MAX`) rather than its short side.
/// Without it, a 16:1 strip's tile would shrink below the smallest period the detector
/// searches for; with it, the strip gets 4 tiles across instead of 8.
pub fn tile_period(width: usize, height: usize) -> usize {
    let by_short_side = width.min(height) as f32 / TILES_PER_SHORT_SIDE;
    // The working scale of an elongated picture is sqrt(WORK_AREA_MAX / area).
    let by_area = (width as f32 * height as f32 / WORK_AREA_MAX as f32).sqrt() * WORK_SHORT_SIDE as f32
        / TILES_PER_SHORT_SIDE;
    (by_short_side.max(by_area).round() as usize).max(MIN_PERIOD)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tile_spans_an_eighth_of_the_working_short_side_at_any_aspect() {
        use crate::watermark::search::MAX_PERIOD_OF_SHORT_SIDE;
        for short in [256, 300, 448, 451, 1000, 2048, 8192] {
            for tenths in [10, 13, 18, 25, 40, 41, 80, 160, 320] {
                let long = (short * tenths / 10).min(8192);
                for (width, height) in [(short, long), (long, short)] {
                    let period = tile_period(width, height);
                    // Up to 4:1, an eighth of the short side, as before strips were handled.
                    if long <= 4 * short {
                        let eighth = (short as f32 / TILES_PER_SHORT_SIDE).round() as usize;
                        assert_eq!(period, eighth.max(MIN_PERIOD), "{width}x{height}");
                    }
                    // At the detector's working scale it spans at least an eighth of the
                    // usual working short side, within the periods the detector searches.
                    let (ww, wh, factor) = working_size(width, height);
                    let working = period as f32 * factor;
                    let searched = MAX_PERIOD_OF_SHORT_SIDE * ww.min(wh) as f32;
                    assert!(working >= 0.99 * 40.0 && working <= searched, "{width}x{height}: {working}");
                }
            }
        }
    }
}
