//! Frames summed in the detector's working domain: one picture, or many frames of a video.

use image::RgbImage;

use super::borders::content_bounds;
use super::colour::{detection_weights, mix, mixed, working_channels};
use super::plane::Plane;
use super::scale::working_size;
use super::sync::{residual, texture_weighted};

/// The side, in input pixels, of the blocks JPEG and video codecs transform: their edges
/// are notched out of the lattice search (see `sync::find_lattices`).
const CODEC_BLOCK: f32 = 8.0;

/// One frame's planes at the working size, or their sums over a stack's frames.
#[derive(Debug, Clone)]
pub(super) struct WorkingPlanes {
    /// Pre-filtered (`sync::residual`): what cells are read from.
    pub residual: Plane,
    /// The residual weighted by texture (`sync::texture_weighted`): what the lattice and the
    /// tile's offset are found on.
    pub weighted: Plane,
    /// The plane detected from (a mix of R, G and B, see `colour`), to resample from when
    /// the tile is large.
    pub plane: Plane,
}

impl WorkingPlanes {
    /// The planes of one frame's detection plane at the scale it is given: the working
    /// size, or the detector's resampling for a large tile.
    pub fn from_plane(plane: Plane) -> WorkingPlanes {
        let residual = residual(&plane);
        let weighted = texture_weighted(&residual, &plane);
        WorkingPlanes { residual, weighted, plane }
    }

    fn add(&mut self, frame: &WorkingPlanes) {
        for (sum, plane) in [
            (&mut self.residual, &frame.residual),
            (&mut self.weighted, &frame.weighted),
            (&mut self.plane, &frame.plane),
        ] {
            sum.data.iter_mut().zip(&plane.data).for_each(|(s, v)| *s += v);
        }
    }
}

/// Evidence from one or more frames of the same size (a picture, or frames of one video),
/// summed in the detector's working domain. Every frame of a marked video carries the same
/// pattern at the same place, while the picture moves and changes: the average of the
/// frames' whitened residuals keeps the mark and averages the picture away. Only the
/// average is decoded, so the false-positive bound is the same as for one picture.
#[derive(Debug, Clone, Default)]
pub struct FrameStack {
    sums: Option<WorkingPlanes>,
    /// The input size the stack was started with, the part of it inside flat letterbox bars
    /// (found on the first frame), and the scale from that part to working pixels.
    size: (usize, usize),
    content: (usize, usize, usize, usize),
    factor: f32,
    /// The mix of R, G and B read (`colour::detection_weights`), chosen on the first frame.
    weights: [f32; 3],
    frames: usize,
}

impl FrameStack {
    pub fn new() -> FrameStack {
        FrameStack::default()
    }

    /// Adds a frame. Frames of another size than the first (or too small to work on) are
    /// ignored: `false`.
    pub fn add(&mut self, image: &RgbImage) -> bool {
        let size = (image.width() as usize, image.height() as usize);
        if size.0 < 16 || size.1 < 16 || (self.sums.is_some() && size != self.size) {
            return false;
        }
        match &mut self.sums {
            // Later frames: the first frame's content and mix, straight from the pixels.
            Some(sums) => {
                let (_, _, width, height) = self.content;
                let (ww, wh, _) = working_size(width, height);
                let plane = mixed(image, self.content, self.weights).resize(ww, wh);
                sums.add(&WorkingPlanes::from_plane(plane));
            }
            None => {
                let content = content_bounds(&Plane::luma(image));
                let (_, _, width, height) = content;
                let (ww, wh, factor) = working_size(width, height);
                let channels = working_channels(image, content, (ww, wh));
                let weights = detection_weights(&channels);
                self.sums = Some(WorkingPlanes::from_plane(mix(&channels, weights)));
                self.size = size;
                self.content = content;
                self.factor = factor;
                self.weights = weights;
            }
        }
        self.frames += 1;
        true
    }

    /// The period, in working pixels along x and y, of a codec's block grid in the input.
    pub(super) fn block_period(&self) -> (f32, f32) {
        let (_, _, width, height) = self.content;
        match &self.sums {
            Some(sums) if width > 0 && height > 0 => (
                CODEC_BLOCK * sums.plane.width as f32 / width as f32,
                CODEC_BLOCK * sums.plane.height as f32 / height as f32,
            ),
            _ => (0.0, 0.0),
        }
    }

    /// Frames added so far.
    pub fn frames(&self) -> usize {
        self.frames
    }

    /// The frames' averaged working planes, and the scale from input to working pixels.
    pub(super) fn working_planes(&self) -> Option<(WorkingPlanes, f32)> {
        let sums = self.sums.as_ref()?;
        let n = self.frames.max(1) as f32;
        let mean = |plane: &Plane| plane.map(|v| v / n);
        let planes = WorkingPlanes {
            residual: mean(&sums.residual),
            weighted: mean(&sums.weighted),
            plane: mean(&sums.plane),
        };
        Some((planes, self.factor))
    }
}
