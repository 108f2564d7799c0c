//! The perceptual mask: how strongly each place of a picture can carry the mark without it
//! showing, which the embedder applies and the detector estimates to weigh its evidence; and
//! how a change of luma is shared over R, G and B.

use super::plane::{blur_down, blur_row, Plane, LUMA_WEIGHTS};

/// How a change of luma is shared out over R, G and B: in proportion to each channel's
/// weight in luma (BT.601, as JPEG's Y), divided by the sum of the squared weights. That is
/// the smallest change of the three, in squared error, that moves luma by one grey level:
/// the same change on all three costs 1.34 times the squared error (1.27 dB of PSNR) for the
/// same mark. It tints the change slightly (per grey level of luma, Cb -0.42 and Cr -0.24),
/// far below what the eye resolves in colour at the mark's spatial frequencies.
pub(super) const LUMA_SPREAD: [f32; 3] = {
    let [r, g, b] = LUMA_WEIGHTS;
    let squares = r * r + g * g + b * b;
    [r / squares, g / squares, b / squares]
};

/// Relative strength in flat areas and in busy texture: flat skies get a faint mark, foliage
/// a strong one, which is how invisibility and robustness coexist.
pub(super) const FLAT_GAIN: f32 = 0.2;
pub(super) const TEXTURE_GAIN: f32 = 1.6;
/// Local variance (grey levels²) at which an area counts as half textured.
const TEXTURE_KNEE: f32 = 30.0;
/// The embedder's mask window: 7 x 7 pixels.
pub(super) const MASK_RADIUS: usize = 3;

/// Strength map from local luma variance (a noise-visibility-function style mask) over a
/// window of `radius` pixels either side: the embedder's over 7 x 7, the detector's estimate
/// of it (`sync::texture_weighted`) over 3 x 3 of its working pixels.
pub(super) fn perceptual_mask(luma: &Plane, radius: usize) -> Plane {
    let mut data = Vec::with_capacity(luma.width * luma.height);
    for_each_mask_row(luma, radius, |_, row| data.extend_from_slice(row));
    Plane { width: luma.width, height: luma.height, data }
}

/// `perceptual_mask` a row at a time, in order, without its mean and mean-square planes: at
/// 4 MP each would be 16 MB, and fresh memory costs page faults (a quarter of embedding's
/// time when they were whole planes).
pub(super) fn for_each_mask_row(luma: &Plane, radius: usize, mut emit: impl FnMut(usize, &[f32])) {
    let width = luma.width;
    let norm = 1.0 / (2 * radius + 1) as f32;
    let mut padded = vec![0.0; width + 2 * radius + 1];
    let mut mask = vec![0.0; width];
    // Each source row holds the horizontal blur of a luma row, then that of its square.
    blur_down(
        2 * width,
        luma.height,
        radius,
        |k, row| {
            let luma_row = &luma.data[k * width..(k + 1) * width];
            let (mean, mean_sq) = row.split_at_mut(width);
            blur_row(luma_row, radius, |v| v, &mut padded, mean);
            blur_row(luma_row, radius, |v| v * v, &mut padded, mean_sq);
        },
        |y, sums| {
            let (mean, mean_sq) = sums.split_at(width);
            for ((m, s), s2) in mask.iter_mut().zip(mean).zip(mean_sq) {
                let (mean, mean_sq) = (s * norm, s2 * norm);
                let var = (mean_sq - mean * mean).max(0.0);
                *m = FLAT_GAIN + (TEXTURE_GAIN - FLAT_GAIN) * var / (var + TEXTURE_KNEE);
            }
            emit(y, &mask);
        },
    );
}
