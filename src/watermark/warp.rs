//! The part of a picture's geometry that is not a similarity: a stretch along the image's x
//! axis and a shear, W = [[stretch, shear], [0, 1]], and a keystone. Every linear map with a
//! positive determinant is W times a rotation times a scale, so W with a tile period and an
//! angle describes any affine distortion of the tiling: a platform squeezing a picture into
//! a frame, or a picture rotated and then stretched. The keystone adds the perspective of a
//! picture seen at a slant (a photo of a screen).

/// W = [[stretch, shear], [0, 1]] in the picture's pixels (x right, y down), and a keystone
/// (kx, ky): with x measured from the picture's centre in half-widths and half-heights
/// (x^), a point p of the tiling as a similarity would place it, measured from the centre,
/// is at x = W p / (1 - k . (W p)^) in the picture. The keystone is the relative change of
/// the tiling's scale from the centre to the right edge and to the bottom edge, whatever
/// the picture's size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Warp {
    pub stretch: f32,
    pub shear: f32,
    pub keystone: (f32, f32),
}

impl Default for Warp {
    fn default() -> Warp {
        Warp::IDENTITY
    }
}

impl Warp {
    pub const IDENTITY: Warp = Warp { stretch: 1.0, shear: 0.0, keystone: (0.0, 0.0) };

    /// A linear warp: a stretch and a shear, no keystone.
    pub fn linear(stretch: f32, shear: f32) -> Warp {
        Warp { stretch, shear, keystone: (0.0, 0.0) }
    }

    /// Whether this is no distortion worth undoing: within the similarity search's reach.
    pub fn is_identity(&self) -> bool {
        (self.stretch - 1.0).abs() < 0.005 && self.shear.abs() < 0.005 && !self.has_keystone()
    }

    pub fn has_keystone(&self) -> bool {
        self.keystone != (0.0, 0.0)
    }

    /// The keystone's divisor at a point of the picture (x^: from the centre, in
    /// half-sides): the tiling's local scale there relative to the centre's is its inverse.
    pub fn depth(&self, (x, y): (f32, f32)) -> f32 {
        1.0 + self.keystone.0 * x + self.keystone.1 * y
    }

    /// The row-major matrix W.
    pub fn matrix(&self) -> [f32; 4] {
        [self.stretch, self.shear, 0.0, 1.0]
    }

    /// W^-1 as a row-major matrix.
    pub fn inverse(&self) -> [f32; 4] {
        let a = self.stretch;
        [1.0 / a, -self.shear / a, 0.0, 1.0]
    }

    /// A frequency of the undistorted tiling (cycles per pixel) as it shows in the picture:
    /// W^-T f.
    pub fn frequency(&self, (fx, fy): (f32, f32)) -> (f32, f32) {
        let x = fx / self.stretch;
        (x, fy - self.shear * x)
    }

    /// Whether two warps are the same within the fine search's reach.
    pub(super) fn near(&self, other: &Warp) -> bool {
        (self.stretch / other.stretch - 1.0).abs() < 0.015
            && (self.shear - other.shear).abs() < 0.015
            && (self.keystone.0 - other.keystone.0).abs() < 0.01
            && (self.keystone.1 - other.keystone.1).abs() < 0.01
    }
}

/// The product of two row-major 2 x 2 matrices.
pub(super) fn times(m: [f32; 4], n: [f32; 4]) -> [f32; 4] {
    [
        m[0] * n[0] + m[1] * n[2],
        m[0] * n[1] + m[1] * n[3],
        m[2] * n[0] + m[3] * n[2],
        m[2] * n[1] + m[3] * n[3],
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frequencies_follow_the_points_they_belong_to() {
        let warp = Warp::linear(1.3, -0.2);
        // A plane wave's phase f . p is kept when p moves to W p and f to W^-T f.
        let (f, p) = ((0.07f32, -0.03f32), (11.0f32, 5.0f32));
        let m = warp.matrix();
        let q = (m[0] * p.0 + m[1] * p.1, m[2] * p.0 + m[3] * p.1);
        let g = warp.frequency(f);
        assert!((f.0 * p.0 + f.1 * p.1 - (g.0 * q.0 + g.1 * q.1)).abs() < 1e-5);
        let one = times(warp.matrix(), warp.inverse());
        for (v, e) in one.iter().zip([1.0, 0.0, 0.0, 1.0]) {
            assert!((v - e).abs() < 1e-6, "{one:?}");
        }
        assert!(Warp::IDENTITY.is_identity() && !warp.is_identity());
    }
}
