//! Two-dimensional FFTs over row-major complex buffers.

use rustfft::num_complex::Complex32;
use rustfft::{FftDirection, FftPlanner};

/// In-place 2-D FFT of a `width` x `height` buffer (unnormalised in both directions).
/// Rows from `used_rows` on must be zero (padding): their row transforms are skipped.
pub fn fft2d(data: &mut [Complex32], width: usize, height: usize, used_rows: usize, direction: FftDirection) {
    let mut planner = FftPlanner::<f32>::new();
    let rows = planner.plan_fft(width, direction);
    for row in data.chunks_exact_mut(width).take(used_rows) {
        rows.process(row);
    }
    let cols = planner.plan_fft(height, direction);
    let mut column = vec![Complex32::new(0.0, 0.0); height];
    for x in 0..width {
        for (y, c) in column.iter_mut().enumerate() {
            *c = data[y * width + x];
        }
        cols.process(&mut column);
        for (y, c) in column.iter().enumerate() {
            data[y * width + x] = *c;
        }
    }
}

pub fn to_complex(values: &[f32]) -> Vec<Complex32> {
    values.iter().map(|&v| Complex32::new(v, 0.0)).collect()
}
