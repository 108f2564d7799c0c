//! A single-channel f32 image plane and the filters the engine needs: luma extraction,
//! separable box blur, resampling.

use image::RgbImage;

/// BT.601 weights of R, G and B in luma (JPEG's Y).
pub const LUMA_WEIGHTS: [f32; 3] = [0.299, 0.587, 0.114];

/// The largest integer not above `v`, for values well inside the i32 range. `f32::floor`
/// compiles to a library call on the baseline x86-64 target; the detector's inner loops
/// (the spectrum's bilinear reads, the fold) spent a tenth of their time in it and in
/// `rem_euclid`.
#[inline]
pub fn floor_i32(v: f32) -> i32 {
    let truncated = v as i32;
    if (truncated as f32) > v {
        truncated - 1
    } else {
        truncated
    }
}

#[derive(Debug, Clone)]
pub struct Plane {
    pub width: usize,
    pub height: usize,
    pub data: Vec<f32>,
}

impl Plane {
    /// BT.601 luma, 0..255.
    pub fn luma(image: &RgbImage) -> Plane {
        let [r, g, b] = LUMA_WEIGHTS;
        let data =
            image.pixels().map(|p| r * f32::from(p[0]) + g * f32::from(p[1]) + b * f32::from(p[2])).collect();
        Plane { width: image.width() as usize, height: image.height() as usize, data }
    }

    /// A plane of the same size with `f` applied to every value.
    pub fn map(&self, f: impl Fn(f32) -> f32) -> Plane {
        Plane { width: self.width, height: self.height, data: self.data.iter().map(|&v| f(v)).collect() }
    }

    #[inline]
    pub fn at(&self, x: usize, y: usize) -> f32 {
        self.data[y * self.width + x]
    }

    /// Box blur of the given radius (window 2r+1), edges clamped; O(1) per pixel.
    pub fn box_blur(&self, radius: usize) -> Plane {
        self.box_blur_of(radius, |v| v)
    }

    /// `self.map(f).box_blur(radius)` without the mapped plane: at 4 MP each plane is 16 MB,
    /// and fresh allocations cost page faults.
    pub fn box_blur_of(&self, radius: usize, f: impl Fn(f32) -> f32) -> Plane {
        let horizontal = blur_rows(&self.data, self.width, self.height, radius, f);
        Plane {
            width: self.width,
            height: self.height,
            data: blur_cols(&horizontal, self.width, self.height, radius),
        }
    }

    /// Resamples to the given size with a triangle filter whose support widens when
    /// shrinking, so downscaling averages instead of aliasing.
    /// The middle half of the plane along each side.
    pub fn centre(&self) -> Plane {
        let (width, height) = ((self.width / 2).max(1), (self.height / 2).max(1));
        let (x0, y0) = (self.width / 4, self.height / 4);
        let data = (y0..y0 + height)
            .flat_map(|y| self.data[y * self.width + x0..y * self.width + x0 + width].iter().copied())
            .collect();
        Plane { width, height, data }
    }

    pub fn resize(&self, width: usize, height: usize) -> Plane {
        if width == self.width && height == self.height {
            return self.clone();
        }
        let rows = resample_rows(&self.data, self.width, self.height, width);
        Plane { width, height, data: resample_cols(&rows, width, self.height, height) }
    }
}

fn blur_rows(data: &[f32], width: usize, height: usize, radius: usize, f: impl Fn(f32) -> f32) -> Vec<f32> {
    let mut out = vec![0.0; data.len()];
    // Each row padded with its edge values, so the sliding window needs no bounds checks.
    let mut padded = vec![0.0f32; width + 2 * radius + 1];
    for (row, dst) in data.chunks_exact(width).zip(out.chunks_exact_mut(width)).take(height) {
        blur_row(row, radius, &f, &mut padded, dst);
    }
    out
}

/// One row of `blur_rows`: `dst` is the box blur of `f` of `row`. `padded` is scratch of
/// `row.len() + 2 * radius + 1` values.
pub(super) fn blur_row(
    row: &[f32],
    radius: usize,
    f: impl Fn(f32) -> f32,
    padded: &mut [f32],
    dst: &mut [f32],
) {
    let norm = 1.0 / (2 * radius + 1) as f32;
    let width = row.len();
    for (j, p) in padded.iter_mut().enumerate() {
        *p = f(row[j.saturating_sub(radius).min(width - 1)]);
    }
    let mut sum: f32 = padded[..=2 * radius].iter().sum();
    for (x, d) in dst.iter_mut().enumerate() {
        *d = sum * norm;
        sum += padded[x + 2 * radius + 1] - padded[x];
    }
}

/// The vertical twin of `blur_rows`: whole rows at a time, so memory is read in order (a
/// transpose of a power-of-two-wide plane thrashes the cache). Same sums in the same order.
fn blur_cols(data: &[f32], width: usize, height: usize, radius: usize) -> Vec<f32> {
    let mut out = vec![0.0; data.len()];
    let norm = 1.0 / (2 * radius + 1) as f32;
    blur_down(
        width,
        height,
        radius,
        |k, row| row.copy_from_slice(&data[k * width..(k + 1) * width]),
        |y, sums| {
            let dst = &mut out[y * width..(y + 1) * width];
            dst.iter_mut().zip(sums).for_each(|(d, s)| *d = s * norm);
        },
    );
    out
}

/// Box sums (window 2r+1, edges clamped) down the columns of rows made on demand:
/// `source(k, row)` fills row k (each once, in order), `emit(y, sums)` receives output row
/// y's sums (in order; multiply by 1/(2r+1) for the mean). Only 2r+2 source rows are held at
/// once, so a caller can blur a plane it never builds whole.
pub(super) fn blur_down(
    width: usize,
    height: usize,
    radius: usize,
    mut source: impl FnMut(usize, &mut [f32]),
    mut emit: impl FnMut(usize, &[f32]),
) {
    let slots = 2 * radius + 2;
    let mut ring = vec![0.0f32; slots * width];
    let mut made = 0;
    // Makes source rows up to k; row k lives in slot k % slots, which held row k - slots,
    // below every row the window still needs (the window spans at most 2r+2 rows).
    let mut make_up_to = |k: usize, ring: &mut [f32]| {
        while made <= k {
            source(made, &mut ring[(made % slots) * width..(made % slots + 1) * width]);
            made += 1;
        }
    };
    let clamp = |i: isize| i.clamp(0, height as isize - 1) as usize;
    let slot = |k: usize| (k % slots) * width..(k % slots + 1) * width;
    let r = radius as isize;
    make_up_to(clamp(r), &mut ring);
    let mut sums = ring[slot(clamp(-r))].to_vec();
    for k in -r + 1..=r {
        sums.iter_mut().zip(&ring[slot(clamp(k))]).for_each(|(s, v)| *s += v);
    }
    for y in 0..height as isize {
        emit(y as usize, &sums);
        let (add, sub) = (clamp(y + r + 1), clamp(y - r));
        make_up_to(add, &mut ring);
        for ((s, a), b) in sums.iter_mut().zip(&ring[slot(add)]).zip(&ring[slot(sub)]) {
            *s += a - b;
        }
    }
}

/// Per output coordinate: the first input coordinate and the triangle-filter weights.
fn resample_taps(size: usize, new_size: usize) -> Vec<(usize, Vec<f32>)> {
    let scale = size as f32 / new_size as f32;
    let support = scale.max(1.0);
    (0..new_size)
        .map(|x| {
            let centre = (x as f32 + 0.5) * scale - 0.5;
            let lo = (centre - support).floor().max(0.0) as usize;
            let hi = ((centre + support).ceil() as usize).min(size - 1);
            let mut weights: Vec<f32> =
                (lo..=hi).map(|i| (1.0 - (i as f32 - centre).abs() / support).max(0.0)).collect();
            let total: f32 = weights.iter().sum();
            if total > 0.0 {
                weights.iter_mut().for_each(|w| *w /= total);
            } else {
                weights = vec![1.0];
            }
            (lo, weights)
        })
        .collect()
}

fn resample_rows(data: &[f32], width: usize, height: usize, new_width: usize) -> Vec<f32> {
    let taps = resample_taps(width, new_width);
    let mut out = vec![0.0; new_width * height];
    for y in 0..height {
        let row = &data[y * width..(y + 1) * width];
        for (x, (lo, weights)) in taps.iter().enumerate() {
            out[y * new_width + x] = weights.iter().zip(&row[*lo..]).map(|(w, v)| w * v).sum();
        }
    }
    out
}

/// The vertical twin of `resample_rows`, a whole row at a time (same weighted sums, in the
/// same order).
fn resample_cols(data: &[f32], width: usize, height: usize, new_height: usize) -> Vec<f32> {
    let taps = resample_taps(height, new_height);
    let mut out = vec![0.0; width * new_height];
    for (dst, (lo, weights)) in out.chunks_exact_mut(width).zip(&taps) {
        for (i, w) in weights.iter().enumerate() {
            let src = &data[(lo + i) * width..(lo + i + 1) * width];
            dst.iter_mut().zip(src).for_each(|(d, v)| *d += w * v);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floor_i32_is_floor() {
        for v in [-3.5f32, -3.0, -2.999, -0.25, -0.0, 0.0, 0.25, 1.0, 2.75, 4095.5, -4095.5] {
            assert_eq!(floor_i32(v), v.floor() as i32, "{v}");
        }
    }

    #[test]
    fn blur_keeps_constants_and_resize_keeps_the_mean() {
        let p = Plane { width: 37, height: 23, data: vec![5.0; 37 * 23] };
        assert!(p.box_blur(3).data.iter().all(|v| (v - 5.0).abs() < 1e-4));
        let ramp = Plane { width: 40, height: 30, data: (0..1200).map(|i| (i % 40) as f32).collect() };
        let small = ramp.resize(20, 15);
        let mean = |p: &Plane| p.data.iter().sum::<f32>() / p.data.len() as f32;
        assert!((mean(&small) - mean(&ramp)).abs() < 0.5);
        let big = ramp.resize(80, 60);
        assert!((mean(&big) - mean(&ramp)).abs() < 0.5);
    }

    #[test]
    fn box_blur_is_the_mean_over_the_clamped_window() {
        let p = Plane { width: 23, height: 17, data: (0..23 * 17).map(|i| ((i * 53) % 89) as f32).collect() };
        // 9 is more than half the height: the window reaches past both edges at once.
        for radius in [1, 3, 9] {
            let blurred = p.box_blur(radius);
            let r = radius as isize;
            let clamp = |v: isize, size: usize| v.clamp(0, size as isize - 1) as usize;
            for y in 0..p.height {
                for x in 0..p.width {
                    let mut sum = 0.0;
                    for dy in -r..=r {
                        for dx in -r..=r {
                            sum += p.at(clamp(x as isize + dx, p.width), clamp(y as isize + dy, p.height));
                        }
                    }
                    let naive = sum / ((2 * r + 1) * (2 * r + 1)) as f32;
                    assert!((blurred.at(x, y) - naive).abs() < 1e-3, "radius {radius} at {x},{y}");
                }
            }
        }
    }

    #[test]
    fn blurring_a_function_of_the_plane_is_blurring_the_mapped_plane() {
        let p = Plane {
            width: 41,
            height: 19,
            data: (0..41 * 19).map(|i| ((i * 37) % 101) as f32 - 50.0).collect(),
        };
        // 25 is wider than the plane is tall: edges clamp the same way in both.
        for radius in [1, 3, 6, 25] {
            for f in [|v: f32| v * v, f32::abs] {
                assert_eq!(p.box_blur_of(radius, f).data, p.map(f).box_blur(radius).data, "radius {radius}");
            }
        }
    }
}
