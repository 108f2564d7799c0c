//! Binding a mark to its content. The mark is one tile repeated over the picture, whatever
//! the picture: it can be estimated from a marked picture (the picture less a denoised copy,
//! or that residual averaged over the tiles) and added to another, where it decodes as
//! well (the copy attack). So a detection alone never proves which content a post carries.
//!
//! At enrollment a [`Reference`] of the content is kept: its luma at [`REF_PERIOD`] pixels
//! per tile, a few thousand bytes. After a detection, the media is brought to the same
//! scale and orientation with the geometry the detector registered (its tile period and
//! angle) into a [`Sighting`], and [`similarity`] searches the eight symmetries of the
//! square and every shift for the best normalised correlation over the overlap of the two:
//! crops compare only what is left, padding and bars only what overlaps. A transplanted
//! mark registers the geometry of the picture it was copied from, but the picture under it
//! is another one, and the correlation stays low.

use image::RgbImage;

use super::plane::Plane;
use super::scale::tile_period;
use super::{Transform, Warp};

/// Reference pixels per tile period: eight tiles across a picture's short side make a
/// reference 48 pixels high.
pub const REF_PERIOD: f32 = 6.0;
/// The largest reference side kept (a 32:1 strip is cut to its first 512 reference pixels).
const MAX_SIDE: usize = 512;
/// The least overlap compared, as a fraction of the smaller of the two views, and in pixels.
const MIN_OVERLAP_FRACTION: f32 = 0.8;
/// The overlap is scored in this many blocks a side, and a score needs this many blocks
/// where the reference shows detail (a variance of its detail of `MIN_DETAIL`, in luma
/// levels squared).
const BLOCKS: usize = 3;
const MIN_BLOCKS: usize = 3;
const MIN_DETAIL: f32 = 4.0;
/// Detail finer than this many reference pixels either side is what is compared: the
/// picture's broad shading (a sky, a vignette) says little about which picture it is.
const DETAIL_RADIUS: usize = 3;
const MIN_OVERLAP_PIXELS: usize = 96;

/// A compact picture of enrolled content, at the scale its tile sets.
#[derive(Debug, Clone, PartialEq)]
pub struct Reference {
    view: View,
}

/// A picture under test brought to a reference's scale and orientation, one view per
/// reading of the detected angle's sign.
#[derive(Debug, Clone)]
pub struct Sighting {
    views: Vec<View>,
}

/// Luma on a small grid; NaN where nothing is known (outside a rotated picture).
#[derive(Debug, Clone, PartialEq)]
struct View {
    width: usize,
    height: usize,
    data: Vec<f32>,
}

impl Reference {
    /// The reference of an original (unmarked or marked: the mark is invisible at this scale).
    pub fn of(image: &RgbImage) -> Reference {
        let (w, h) = (image.width() as usize, image.height() as usize);
        let scale = REF_PERIOD / tile_period(w, h) as f32;
        let view = View::of(&Plane::luma(image), scale);
        Reference { view: view.cropped(MAX_SIDE) }
    }

    /// Width, height (two bytes each, little-endian), then one byte per pixel.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(4 + self.view.data.len());
        bytes.extend_from_slice(&(self.view.width as u16).to_le_bytes());
        bytes.extend_from_slice(&(self.view.height as u16).to_le_bytes());
        bytes.extend(self.view.data.iter().map(|v| v.round().clamp(0.0, 255.0) as u8));
        bytes
    }

    pub fn from_bytes(bytes: &[u8]) -> Option<Reference> {
        let width = usize::from(u16::from_le_bytes([*bytes.first()?, *bytes.get(1)?]));
        let height = usize::from(u16::from_le_bytes([*bytes.get(2)?, *bytes.get(3)?]));
        let pixels = bytes.get(4..)?;
        if width == 0 || height == 0 || pixels.len() != width * height {
            return None;
        }
        Some(Reference { view: View { width, height, data: pixels.iter().map(|&v| f32::from(v)).collect() } })
    }
}

impl Sighting {
    /// The picture a detection was made in, brought to reference scale: its tile period
    /// becomes `REF_PERIOD`, its warp is undone and the tiling's angle is turned back (both
    /// signs are tried, the angle being known up to the square's symmetries).
    pub fn of(image: &RgbImage, transform: &Transform) -> Sighting {
        let scale = REF_PERIOD / transform.tile_period_px.max(1.0);
        let mut upright = View::of(&Plane::luma(image), scale);
        if !transform.warp.is_identity() {
            upright = upright.unwarped(&transform.warp);
        }
        let angle = transform.rotation_degrees.to_radians();
        let views = if angle.abs() < 0.2f32.to_radians() {
            vec![upright.cropped(2 * MAX_SIDE)]
        } else {
            [angle, -angle].iter().map(|a| upright.rotated(*a).cropped(2 * MAX_SIDE)).collect()
        };
        Sighting { views }
    }
}

/// A content shows in a media when the best of its references scores at least this against
/// one of the media's sightings: midway between the lowest score of genuine pictures after
/// the robustness suite's pipelines and the highest of copy attacks onto unrelated pictures,
/// as docs/watermark.md measures them.
pub const SAME_CONTENT: f32 = 0.45;

/// The best similarity of any reference of a content to any sighting of a media.
pub fn best_similarity(references: &[Reference], sightings: &[Sighting]) -> f32 {
    let mut best = f32::MIN;
    for reference in references {
        for sighting in sightings {
            best = best.max(similarity(reference, sighting));
        }
    }
    best
}

/// Several references (a video's key frames) as bytes: a version byte, a count byte, then
/// each reference's bytes after their length (four bytes, little-endian).
pub fn references_to_bytes(references: &[Reference]) -> Vec<u8> {
    let mut bytes = vec![1u8, references.len().min(255) as u8];
    for reference in references.iter().take(255) {
        let one = reference.to_bytes();
        bytes.extend_from_slice(&(one.len() as u32).to_le_bytes());
        bytes.extend_from_slice(&one);
    }
    bytes
}

/// References as written by [`references_to_bytes`]; `None` for anything else.
pub fn references_from_bytes(bytes: &[u8]) -> Option<Vec<Reference>> {
    let (&version, rest) = bytes.split_first()?;
    let (&count, mut rest) = rest.split_first()?;
    if version != 1 {
        return None;
    }
    let mut references = Vec::with_capacity(usize::from(count));
    for _ in 0..count {
        let length = u32::from_le_bytes(rest.get(..4)?.try_into().ok()?) as usize;
        references.push(Reference::from_bytes(rest.get(4..4 + length)?)?);
        rest = &rest[4 + length..];
    }
    rest.is_empty().then_some(references)
}

/// How well the sighting shows the reference's content: the best normalised correlation over
/// every symmetry of the square, sign of the angle and shift with enough overlap; 1 is the
/// same picture, unrelated pictures score near 0.
pub fn similarity(reference: &Reference, sighting: &Sighting) -> f32 {
    let mut best = f32::MIN;
    for view in &sighting.views {
        for symmetry in 0..8 {
            best = best.max(best_correlation(&reference.view, &view.turned(symmetry)));
        }
    }
    best
}

impl View {
    /// Luma at `scale`, less its local mean (the detail the views are compared by), offset
    /// to mid-grey so it keeps in a byte.
    fn of(luma: &Plane, scale: f32) -> View {
        let width = ((luma.width as f32 * scale).round() as usize).max(1);
        let height = ((luma.height as f32 * scale).round() as usize).max(1);
        let small = luma.resize(width, height);
        let broad = small.box_blur(DETAIL_RADIUS);
        let data = small.data.iter().zip(&broad.data).map(|(v, m)| 128.0 + v - m).collect();
        View { width, height, data }
    }

    /// At most `max` pixels on a side (the top-left part).
    fn cropped(self, max: usize) -> View {
        if self.width <= max && self.height <= max {
            return self;
        }
        let (width, height) = (self.width.min(max), self.height.min(max));
        let data =
            (0..height).flat_map(|y| self.data[y * self.width..y * self.width + width].to_vec()).collect();
        View { width, height, data }
    }

    /// Turned by `angle` about its centre (bilinear), on a canvas holding all of it.
    fn rotated(&self, angle: f32) -> View {
        let (sin, cos) = angle.sin_cos();
        self.mapped([cos, sin, -sin, cos])
    }

    /// The view whose point d (from its centre) shows this view's point m d (row-major m,
    /// from this view's centre), bilinear, on a canvas holding all of this view.
    fn mapped(&self, m: [f32; 4]) -> View {
        self.mapped_by(m, |(dx, dy)| (m[0] * dx + m[1] * dy, m[2] * dx + m[3] * dy))
    }

    /// The view with a warp undone: its point p (from its centre) shows this view's point
    /// W p / (1 - k . (W p)^), as `Warp` places it.
    fn unwarped(&self, warp: &Warp) -> View {
        let m = warp.matrix();
        let (half_w, half_h) = (self.width as f32 / 2.0, self.height as f32 / 2.0);
        self.mapped_by(m, |(dx, dy)| {
            let (x, y) = (m[0] * dx + m[1] * dy, m[2] * dx + m[3] * dy);
            let depth = 1.0 - warp.keystone.0 * x / half_w - warp.keystone.1 * y / half_h;
            (x / depth, y / depth)
        })
    }

    /// The view whose point d (from its centre) shows this view's point `source(d)` (from
    /// its centre), bilinear, on a canvas holding this view carried by the inverse of the
    /// linear map `m` (which `source` is, or is near).
    fn mapped_by(&self, m: [f32; 4], source: impl Fn((f32, f32)) -> (f32, f32)) -> View {
        let (w, h) = (self.width as f32, self.height as f32);
        let det = m[0] * m[3] - m[1] * m[2];
        let inverse = [m[3] / det, -m[1] / det, -m[2] / det, m[0] / det];
        // The canvas holds the corners (+-w/2, +-h/2) carried by m^-1.
        let extent = |a: f32, b: f32| (a * w + b * h).abs().max((a * w - b * h).abs()).ceil() as usize;
        let (width, height) = (extent(inverse[0], inverse[1]), extent(inverse[2], inverse[3]));
        let (cx, cy, ox, oy) = (w / 2.0, h / 2.0, width as f32 / 2.0, height as f32 / 2.0);
        let mut data = vec![f32::NAN; width * height];
        for y in 0..height {
            for x in 0..width {
                let (sx, sy) = source((x as f32 + 0.5 - ox, y as f32 + 0.5 - oy));
                data[y * width + x] = self.bilinear(sx + cx - 0.5, sy + cy - 0.5);
            }
        }
        View { width, height, data }
    }

    fn bilinear(&self, x: f32, y: f32) -> f32 {
        if x < 0.0 || y < 0.0 || x > (self.width - 1) as f32 || y > (self.height - 1) as f32 {
            return f32::NAN;
        }
        let (x0, y0) = (x.floor() as usize, y.floor() as usize);
        let (x1, y1) = ((x0 + 1).min(self.width - 1), (y0 + 1).min(self.height - 1));
        let (fx, fy) = (x - x0 as f32, y - y0 as f32);
        let at = |x: usize, y: usize| self.data[y * self.width + x];
        let top = at(x0, y0) * (1.0 - fx) + at(x1, y0) * fx;
        let bottom = at(x0, y1) * (1.0 - fx) + at(x1, y1) * fx;
        top * (1.0 - fy) + bottom * fy
    }

    /// The view under one of the 8 symmetries of the square (0 is the identity; 1-3 turn by
    /// quarter turns; 4-7 mirror first).
    fn turned(&self, symmetry: usize) -> View {
        let mirrored = symmetry >= 4;
        let quarter_turns = symmetry % 4;
        let (w, h) = (self.width, self.height);
        let (width, height) = if quarter_turns % 2 == 1 { (h, w) } else { (w, h) };
        let mut data = vec![0.0; w * h];
        for y in 0..height {
            for x in 0..width {
                let (mut sx, sy) = match quarter_turns {
                    0 => (x, y),
                    1 => (y, h - 1 - x),
                    2 => (w - 1 - x, h - 1 - y),
                    _ => (w - 1 - y, x),
                };
                if mirrored {
                    sx = w - 1 - sx;
                }
                data[y * width + x] = self.data[sy * w + sx];
            }
        }
        View { width, height, data }
    }
}

/// The best score of `b` against `a` over every shift that overlaps nearly all of the smaller
/// of the two: the median of the normalised correlations of the overlap's 3 x 3 blocks, so
/// a caption or a sticker over part of the picture costs a block or two, not the match.
fn best_correlation(a: &View, b: &View) -> f32 {
    let valid = |v: &View| v.data.iter().filter(|x| !x.is_nan()).count();
    let least = ((valid(a).min(valid(b)) as f32 * MIN_OVERLAP_FRACTION) as usize).max(MIN_OVERLAP_PIXELS);
    let mut best = f32::MIN;
    let (aw, ah, bw, bh) = (a.width as isize, a.height as isize, b.width as isize, b.height as isize);
    for dy in -(bh - 1)..ah {
        for dx in -(bw - 1)..aw {
            // b's pixel (x, y) lies on a's (x + dx, y + dy).
            let (x0, x1) = (dx.max(0), (dx + bw).min(aw));
            let (y0, y1) = (dy.max(0), (dy + bh).min(ah));
            if ((x1 - x0) * (y1 - y0)) < least as isize {
                continue;
            }
            let mut blocks = [[0.0f32; 6]; BLOCKS * BLOCKS];
            for y in y0..y1 {
                let by = ((y - y0) * BLOCKS as isize / (y1 - y0)) as usize;
                let start_a = (y * aw + x0) as usize;
                let start_b = ((y - dy) * bw + (x0 - dx)) as usize;
                for i in 0..(x1 - x0) as usize {
                    let (va, vb) = (a.data[start_a + i], b.data[start_b + i]);
                    if va.is_nan() || vb.is_nan() {
                        continue;
                    }
                    let bx = i * BLOCKS / (x1 - x0) as usize;
                    let s = &mut blocks[by * BLOCKS + bx];
                    s[0] += 1.0;
                    s[1] += va;
                    s[2] += vb;
                    s[3] += va * va;
                    s[4] += vb * vb;
                    s[5] += va * vb;
                }
            }
            if (blocks.iter().map(|s| s[0]).sum::<f32>() as usize) < least {
                continue;
            }
            // Blocks where the reference shows detail: flat ones (a clear sky) say nothing.
            let mut scores: Vec<f32> = blocks
                .iter()
                .filter(|s| s[0] >= 8.0 && (s[3] - s[1] * s[1] / s[0]) / s[0] >= MIN_DETAIL)
                .map(|s| {
                    let cov = s[5] - s[1] * s[2] / s[0];
                    let var = (s[3] - s[1] * s[1] / s[0]) * (s[4] - s[2] * s[2] / s[0]);
                    if var > 1e-3 {
                        cov / var.sqrt()
                    } else {
                        0.0
                    }
                })
                .collect();
            if scores.len() < MIN_BLOCKS {
                continue;
            }
            scores.sort_by(f32::total_cmp);
            best = best.max(scores[scores.len() / 2]);
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gradient(width: u32, height: u32) -> RgbImage {
        RgbImage::from_fn(width, height, |x, y| {
            let v = ((x * 7 + y * 3) % 256) as u8 ^ ((x / 37 + y / 23) % 2 * 90) as u8;
            image::Rgb([v, v / 2, 255 - v])
        })
    }

    #[test]
    fn references_round_trip_through_bytes() {
        let reference = Reference::of(&gradient(640, 480));
        let bytes = reference.to_bytes();
        let back = Reference::from_bytes(&bytes).unwrap();
        assert_eq!(back.to_bytes(), bytes);
        assert!(Reference::from_bytes(&bytes[..bytes.len() - 1]).is_none());
        assert!(Reference::from_bytes(&[]).is_none());
        let two = vec![reference.clone(), Reference::of(&gradient(300, 500))];
        let written = references_to_bytes(&two);
        let read = references_from_bytes(&written).unwrap();
        assert_eq!(read.len(), 2);
        assert_eq!(references_to_bytes(&read), written);
        assert!(references_from_bytes(&written[..written.len() - 1]).is_none());
    }

    #[test]
    fn every_symmetry_of_the_square_is_found() {
        let picture = gradient(600, 400);
        let reference = Reference::of(&picture);
        let period = tile_period(600, 400) as f32;
        let transform =
            Transform { tile_period_px: period, rotation_degrees: 0.0, flipped: false, warp: Warp::IDENTITY };
        for turned in [
            picture.clone(),
            image::imageops::rotate90(&picture),
            image::imageops::rotate180(&picture),
            image::imageops::flip_horizontal(&picture),
        ] {
            let score = similarity(&reference, &Sighting::of(&turned, &transform));
            assert!(score > 0.95, "{score}");
        }
    }
}
