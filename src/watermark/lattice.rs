//! A candidate tile lattice: a square tiling's period and angle, and the warp that
//! distorts it in the picture.

use std::f32::consts::FRAC_PI_2;

use super::warp::{times, Warp};

/// A candidate lattice: period in working pixels and angle in radians, in [0, pi/2), of a
/// square tiling, distorted by a warp (the identity for a similarity): a tile corner of the
/// square tiling at p is at W p in the picture.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Lattice {
    pub period: f32,
    pub angle: f32,
    pub warp: Warp,
    pub score: f32,
}

impl Lattice {
    /// A square lattice (no warp).
    pub fn square(period: f32, angle: f32, score: f32) -> Lattice {
        Lattice { period, angle, warp: Warp::IDENTITY, score }
    }

    /// Whether two candidates are the same lattice within the fine search's reach.
    pub(super) fn near(&self, other: &Lattice) -> bool {
        let angle = (self.angle - other.angle).rem_euclid(FRAC_PI_2);
        (self.period / other.period - 1.0).abs() < 0.015
            && angle.min(FRAC_PI_2 - angle) < 0.02
            && self.warp.near(&other.warp)
    }

    /// The map from picture pixels to fold bins, row-major: `fold` bins per period, the
    /// angle turned back and the warp undone, (FOLD / period) R(-angle) W^-1.
    pub(super) fn bins_of_pixels(&self, fold: f32) -> [f32; 4] {
        let k = fold / self.period;
        let (s, c) = (-self.angle).sin_cos();
        times([c * k, -s * k, s * k, c * k], self.warp.inverse())
    }
}
