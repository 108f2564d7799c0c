//! A video's frames changed one by one and encoded again: decoding, the change and encoding
//! run at once (a decoder thread, the change on every core, the encoder child), and only a
//! few frames are in memory at a time.

use std::path::Path;
use std::sync::mpsc::sync_channel;

use image::RgbImage;

use super::{EncodeSettings, FrameReader, FrameWriter, VideoError, VideoInfo};

/// Frames changed per batch, per core: enough to keep every core busy while the encoder
/// takes the previous batch.
const FRAMES_PER_CORE: usize = 2;

/// Writes `output` as `input` (already probed) with every frame passed through `change`,
/// audio and metadata carried over. Returns the number of frames written.
pub fn rewrite_frames(
    input: &Path,
    info: &VideoInfo,
    output: &Path,
    settings: &EncodeSettings,
    change: &(dyn Fn(&RgbImage) -> RgbImage + Sync),
) -> Result<usize, VideoError> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let batch_size = cores * FRAMES_PER_CORE;
    let mut writer = FrameWriter::create(input, info, output, settings)?;
    let reader = FrameReader::open(input, info)?;
    let mut written = 0;
    std::thread::scope(|scope| -> Result<(), VideoError> {
        // One batch decoded ahead while the current one is changed and encoded.
        let (batches, incoming) = sync_channel::<Result<Vec<RgbImage>, VideoError>>(1);
        scope.spawn(move || {
            let mut reader = reader;
            loop {
                let mut batch = Vec::with_capacity(batch_size);
                for frame in reader.by_ref().take(batch_size) {
                    match frame {
                        Ok(frame) => batch.push(frame),
                        Err(e) => {
                            let _ = batches.send(Err(e));
                            return;
                        }
                    }
                }
                let last = batch.len() < batch_size;
                if (!batch.is_empty() && batches.send(Ok(batch)).is_err()) || last {
                    return;
                }
            }
        });
        for batch in incoming {
            let batch = batch?;
            super::Deadline::check_current()?;
            for frame in change_all(&batch, cores, change)? {
                writer.write(&frame)?;
                written += 1;
            }
            // The decoder gives one frame past the cap at most: a container that lied.
            if written as u64 > info.frame_cap {
                return Err(VideoError::TooManyFrames(written as u64, info.frame_cap));
            }
        }
        Ok(())
    })?;
    if written == 0 {
        return Err(VideoError::Unreadable);
    }
    writer.finish()?;
    Ok(written)
}

/// `change` applied to every frame of a batch, the batch split over `cores` threads; the
/// order is kept.
fn change_all(
    batch: &[RgbImage],
    cores: usize,
    change: &(dyn Fn(&RgbImage) -> RgbImage + Sync),
) -> Result<Vec<RgbImage>, VideoError> {
    let per_thread = batch.len().div_ceil(cores).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = batch
            .chunks(per_thread)
            .map(|chunk| scope.spawn(move || chunk.iter().map(change).collect::<Vec<_>>()))
            .collect();
        let mut changed = Vec::with_capacity(batch.len());
        for handle in handles {
            changed.extend(
                handle.join().map_err(|_| VideoError::Encode("a frame could not be changed".into()))?,
            );
        }
        Ok(changed)
    })
}
