//! The plane the detector reads: a mix of R, G and B chosen per picture to hear the mark
//! over the picture's own texture.
//!
//! The embedder changes luma, spread over the channels as `mask::LUMA_SPREAD`: a change of
//! one grey level moves (R, G, B) by m = (0.67, 1.31, 0.26). A mix w of the channels sees
//! the mark at w.m and the picture's texture at a power of w'Sw, S being the channels'
//! covariance in the band the mark lives in, weighted as the pre-filter weighs each place.
//! The best mix, the one with the most mark per unit of texture, is w = S^-1 m. Where a
//! picture's texture has a colour of its own (stained tissue, foliage, skin), that mix
//! cancels much of it, and the mark stands well above what luma alone would show.
//! When brightening clips its pale background, what is left is that tissue, and only the
//! mix still synchronises. A grey picture's mix is its luma.

use image::RgbImage;

use super::mask::LUMA_SPREAD;
use super::plane::{Plane, LUMA_WEIGHTS};
use super::sync::{high_pass, level_divisor, local_level};

/// Ridge added to S, as a fraction of its mean diagonal. A codec keeps less of the mark's
/// colour than S (measured on what arrives) can tell: JPEG quantises chroma harder than
/// luma and halves its resolution. Without the ridge the mix leans on chroma alone, and the
/// grey pictures are lost under strong JPEG; too large a ridge gives up the colour that
/// carries small pictures through a downscale.
const RIDGE: f64 = 0.1;

/// A picture's R, G and B planes inside `content` (x, y, width, height), each resampled to
/// `size`, one channel at a time so that no more than one full-size plane is alive.
pub(super) fn working_channels(
    image: &RgbImage,
    content: (usize, usize, usize, usize),
    size: (usize, usize),
) -> [Plane; 3] {
    [0, 1, 2].map(|c| {
        let mut weights = [0.0; 3];
        weights[c] = 1.0;
        mixed(image, content, weights).resize(size.0, size.1)
    })
}

/// The picture inside `content` mixed by `weights`, at full size.
pub(super) fn mixed(image: &RgbImage, content: (usize, usize, usize, usize), weights: [f32; 3]) -> Plane {
    let (x0, y0, width, height) = content;
    let [r, g, b] = weights;
    let stride = 3 * image.width() as usize;
    let mut data = Vec::with_capacity(width * height);
    for row in image.as_raw().chunks_exact(stride).skip(y0).take(height) {
        let pixels = &row[3 * x0..3 * (x0 + width)];
        data.extend(
            pixels.chunks_exact(3).map(|p| r * f32::from(p[0]) + g * f32::from(p[1]) + b * f32::from(p[2])),
        );
    }
    Plane { width, height, data }
}

/// Planes of the same size mixed by `weights`.
pub(super) fn mix(channels: &[Plane; 3], weights: [f32; 3]) -> Plane {
    let [r, g, b] = weights;
    let data = (0..channels[0].data.len())
        .map(|i| r * channels[0].data[i] + g * channels[1].data[i] + b * channels[2].data[i])
        .collect();
    Plane { width: channels[0].width, height: channels[0].height, data }
}

/// The mix to detect from (see the module documentation), scaled so that the picture's
/// texture has the same weighted power in it as in luma: the pre-filter's floor
/// (`sync::level_divisor`) is in grey levels of luma, and a grey picture's mix is then its
/// luma exactly. Luma itself when the picture has no texture to measure.
pub(super) fn detection_weights(channels: &[Plane; 3]) -> [f32; 3] {
    let high = channels.each_ref().map(high_pass);
    let level = local_level(&mix(&high, LUMA_WEIGHTS));
    let mut s = [[0.0f64; 3]; 3];
    for (i, m) in level.data.iter().enumerate() {
        // A residual's share of the detection statistic after the pre-filter's division.
        let gain = f64::from(1.0 / level_divisor(*m));
        let v = [high[0].data[i], high[1].data[i], high[2].data[i]].map(|x| f64::from(x) * gain);
        for a in 0..3 {
            for b in 0..3 {
                s[a][b] += v[a] * v[b];
            }
        }
    }
    let luma_weights = LUMA_WEIGHTS.map(f64::from);
    let luma_power = quadratic(&s, luma_weights);
    let mut ridged = s;
    let ridge = RIDGE * (s[0][0] + s[1][1] + s[2][2]) / 3.0;
    for (a, row) in ridged.iter_mut().enumerate() {
        row[a] += ridge;
    }
    let Some(w) = solve(ridged, LUMA_SPREAD.map(f64::from)) else { return LUMA_WEIGHTS };
    let power = quadratic(&s, w);
    if !(luma_power > 1e-12 && power > 1e-12) {
        return LUMA_WEIGHTS;
    }
    let scale = (luma_power / power).sqrt();
    w.map(|x| (x * scale) as f32)
}

/// v'Sv.
fn quadratic(s: &[[f64; 3]; 3], v: [f64; 3]) -> f64 {
    (0..3).map(|a| (0..3).map(|b| v[a] * s[a][b] * v[b]).sum::<f64>()).sum()
}

/// Solves S x = v by Cramer's rule; `None` if S is singular.
fn solve(s: [[f64; 3]; 3], v: [f64; 3]) -> Option<[f64; 3]> {
    let det = |m: &[[f64; 3]; 3]| {
        m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
            + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0])
    };
    let d = det(&s);
    if d.abs() < 1e-30 {
        return None;
    }
    Some([0, 1, 2].map(|column| {
        let mut replaced = s;
        for (row, value) in replaced.iter_mut().zip(v) {
            row[column] = value;
        }
        det(&replaced) / d
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// Channels of a texture of one colour (`tint` per unit) plus a luma-spread mark.
    fn channels(tint: [f32; 3], texture: f32, mark: f32) -> [Plane; 3] {
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let (width, height) = (96, 96);
        let values: Vec<(f32, f32)> =
            (0..width * height).map(|_| (rng.gen_range(-1.0..1.0), rng.gen_range(-1.0..1.0))).collect();
        [0, 1, 2].map(|c| Plane {
            width,
            height,
            data: values
                .iter()
                .map(|(t, m)| 128.0 + tint[c] * texture * t + LUMA_SPREAD[c] * mark * m)
                .collect(),
        })
    }

    fn dot(a: [f32; 3], b: [f32; 3]) -> f32 {
        a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
    }

    #[test]
    fn a_coloured_texture_is_cancelled_and_the_mark_kept() {
        // Brown texture 20 times the mark's amplitude.
        let tint = [1.0, 0.6, 0.3];
        let w = detection_weights(&channels(tint, 20.0, 1.0));
        let texture_per_mark = |w: [f32; 3]| (dot(w, tint) / dot(w, LUMA_SPREAD)).abs();
        let (mixed, luma) = (texture_per_mark(w), texture_per_mark(LUMA_WEIGHTS));
        // The mix hears far less texture per unit of mark than luma; the ridge keeps some.
        assert!(mixed < luma / 5.0, "texture per unit of mark: {mixed} in the mix, {luma} in luma");
    }

    #[test]
    fn a_grey_picture_is_read_in_luma() {
        let grey = channels([1.0, 1.0, 1.0], 20.0, 0.0);
        let w = detection_weights(&grey);
        // Every mix of a grey picture is a multiple of it: this one is luma itself.
        assert!((w.iter().sum::<f32>() - 1.0).abs() < 1e-3, "{w:?}");
        let flat = [0, 1, 2].map(|_| Plane { width: 32, height: 32, data: vec![90.0; 32 * 32] });
        assert_eq!(detection_weights(&flat), LUMA_WEIGHTS);
    }

    #[test]
    fn mixing_at_full_size_then_resampling_is_resampling_then_mixing() {
        let image =
            RgbImage::from_fn(60, 40, |x, y| image::Rgb([(x * 4) as u8, (y * 6) as u8, ((x + y) * 3) as u8]));
        let content = (5, 4, 50, 30);
        let weights = [0.5, -0.25, 0.75];
        let early = mixed(&image, content, weights).resize(25, 15);
        let late = mix(&working_channels(&image, content, (25, 15)), weights);
        for (a, b) in early.data.iter().zip(&late.data) {
            assert!((a - b).abs() < 1e-3, "{a} {b}");
        }
    }
}
