//! Hard limits on what callers may send, and the memory media work may take.

use serde::{Deserialize, Serialize};

use crate::media::image_io::ImageLimits;

/// Hard limits on what callers may send.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Limits {
    /// Largest request body accepted (media uploads included).
    pub body_bytes: usize,
    /// Largest JSON request body accepted.
    pub json_bytes: usize,
    /// Largest decoded image, in pixels.
    pub max_pixels: u64,
    /// Largest decoded image side, in pixels.
    pub max_dimension: u32,
    /// Images decoded, marked or detected at once; more wait their turn, so a burst of
    /// uploads cannot exhaust memory.
    pub media_concurrency: usize,
    /// The memory media work may take at once: `media_concurrency` pictures of `max_pixels`
    /// each at `MEDIA_BYTES_PER_PIXEL`. A configuration that could exceed it is refused at
    /// start.
    pub media_memory_bytes: u64,
    /// A linked account not proven within this many seconds is unlinked: an unproven link
    /// claims nothing, and none lingers.
    pub unproven_link_secs: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            body_bytes: 32 * 1024 * 1024,
            json_bytes: 256 * 1024,
            max_pixels: 8192 * 8192,
            max_dimension: 16384,
            // Every core, up to four: four pictures at the pixel limit fit the memory budget.
            media_concurrency: std::thread::available_parallelism().map_or(2, |n| n.get().min(4)),
            unproven_link_secs: 7 * 24 * 3600,
            media_memory_bytes: 8 << 30,
        }
    }
}

/// Peak memory of marking or reading one picture, per pixel: the decoded RGB, the planes of
/// luma, mask and mark, the re-encoded output, with room to spare over the peak that
/// docs/watermark.md measures.
pub const MEDIA_BYTES_PER_PIXEL: u64 = 16;

impl Limits {
    /// Refuses limits under which concurrent media work could take more memory than allowed.
    pub fn check_memory(&self) -> Result<(), String> {
        let worst = self.max_pixels * MEDIA_BYTES_PER_PIXEL * self.media_concurrency.max(1) as u64;
        if worst > self.media_memory_bytes {
            return Err(format!(
                "limits: {} pictures of {} pixels at once could take {} MiB, over media_memory_bytes ({} MiB): \
                 lower media_concurrency or max_pixels, or raise media_memory_bytes",
                self.media_concurrency,
                self.max_pixels,
                worst >> 20,
                self.media_memory_bytes >> 20
            ));
        }
        Ok(())
    }
}

impl From<&Limits> for ImageLimits {
    fn from(limits: &Limits) -> Self {
        ImageLimits {
            max_bytes: limits.body_bytes,
            max_pixels: limits.max_pixels,
            max_dimension: limits.max_dimension,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_memory_is_bounded_by_configuration() {
        let limits = Limits::default();
        assert!(limits.check_memory().is_ok(), "the defaults fit");
        let greedy = Limits { media_concurrency: 64, ..limits.clone() };
        let refused = greedy.check_memory().unwrap_err();
        assert!(refused.contains("media_memory_bytes"), "{refused}");
        let small = Limits { media_concurrency: 64, max_pixels: 1 << 20, ..limits };
        assert!(small.check_memory().is_ok(), "64 pictures of a megapixel fit");
    }
}
