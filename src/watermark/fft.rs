//! Two-dimensional FFTs over row-major complex buffers.

use std::cell::RefCell;

use rustfft::num_complex::Complex32;
use rustfft::{FftDirection, FftPlanner};

thread_local! {
    /// A planner keeps the plans it made: detection runs hundreds of 64 x 64 transforms per
    /// picture, and with a new planner (so new plans) for each, `fft2d` took a tenth of it.
    static PLANNER: RefCell<FftPlanner<f32>> = RefCell::new(FftPlanner::new());
}

/// Starts the thread's plans afresh. A planner builds a length's plan from the plans it
/// already holds, so the same transform's last bits depend on what the thread transformed
/// before; a detection that starts afresh gives the same answer on any thread, whatever
/// ran there first.
pub fn fresh_plans() {
    PLANNER.with(|planner| *planner.borrow_mut() = FftPlanner::new());
}

/// In-place 2-D FFT of a `width` x `height` buffer (unnormalised in both directions).
/// Rows from `used_rows` on must be zero (padding): their row transforms are skipped.
pub fn fft2d(data: &mut [Complex32], width: usize, height: usize, used_rows: usize, direction: FftDirection) {
    let (rows, cols) = PLANNER.with(|planner| {
        let mut planner = planner.borrow_mut();
        (planner.plan_fft(width, direction), planner.plan_fft(height, direction))
    });
    for row in data.chunks_exact_mut(width).take(used_rows) {
        rows.process(row);
    }
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
