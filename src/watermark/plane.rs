//! A single-channel f32 image plane and the filters the engine needs: luma extraction,
//! separable box blur, resampling.

use image::RgbImage;

#[derive(Debug, Clone)]
pub struct Plane {
    pub width: usize,
    pub height: usize,
    pub data: Vec<f32>,
}

impl Plane {
    /// BT.601 luma, 0..255.
    pub fn luma(image: &RgbImage) -> Plane {
        let data = image
            .pixels()
            .map(|p| 0.299 * f32::from(p[0]) + 0.587 * f32::from(p[1]) + 0.114 * f32::from(p[2]))
            .collect();
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
        let horizontal = blur_rows(&self.data, self.width, self.height, radius);
        let transposed = transpose(&horizontal, self.width, self.height);
        let vertical = blur_rows(&transposed, self.height, self.width, radius);
        Plane { width: self.width, height: self.height, data: transpose(&vertical, self.height, self.width) }
    }

    /// Resamples to the given size with a triangle filter whose support widens when
    /// shrinking, so downscaling averages instead of aliasing.
    pub fn resize(&self, width: usize, height: usize) -> Plane {
        if width == self.width && height == self.height {
            return self.clone();
        }
        let rows = resample_rows(&self.data, self.width, self.height, width);
        let transposed = transpose(&rows, width, self.height);
        let cols = resample_rows(&transposed, self.height, width, height);
        Plane { width, height, data: transpose(&cols, height, width) }
    }
}

fn transpose(data: &[f32], width: usize, height: usize) -> Vec<f32> {
    let mut out = vec![0.0; data.len()];
    const B: usize = 32;
    for by in (0..height).step_by(B) {
        for bx in (0..width).step_by(B) {
            for y in by..(by + B).min(height) {
                for x in bx..(bx + B).min(width) {
                    out[x * height + y] = data[y * width + x];
                }
            }
        }
    }
    out
}

fn blur_rows(data: &[f32], width: usize, height: usize, radius: usize) -> Vec<f32> {
    let mut out = vec![0.0; data.len()];
    let norm = 1.0 / (2 * radius + 1) as f32;
    for y in 0..height {
        let row = &data[y * width..(y + 1) * width];
        let dst = &mut out[y * width..(y + 1) * width];
        let at = |i: isize| row[i.clamp(0, width as isize - 1) as usize];
        let r = radius as isize;
        let mut sum: f32 = (-r..=r).map(at).sum();
        for (x, d) in dst.iter_mut().enumerate() {
            *d = sum * norm;
            let x = x as isize;
            sum += at(x + r + 1) - at(x - r);
        }
    }
    out
}

fn resample_rows(data: &[f32], width: usize, height: usize, new_width: usize) -> Vec<f32> {
    let scale = width as f32 / new_width as f32;
    let support = scale.max(1.0);
    // Precompute, per output column, the first input column and the weights.
    let taps: Vec<(usize, Vec<f32>)> = (0..new_width)
        .map(|x| {
            let centre = (x as f32 + 0.5) * scale - 0.5;
            let lo = (centre - support).floor().max(0.0) as usize;
            let hi = ((centre + support).ceil() as usize).min(width - 1);
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
        .collect();
    let mut out = vec![0.0; new_width * height];
    for y in 0..height {
        let row = &data[y * width..(y + 1) * width];
        for (x, (lo, weights)) in taps.iter().enumerate() {
            out[y * new_width + x] = weights.iter().zip(&row[*lo..]).map(|(w, v)| w * v).sum();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
