//! A video's frames changed one by one and encoded again, in a pipeline of three stages
//! that run at once: a decoder thread reads batches of frames from one `ffmpeg` child, the
//! batch before is changed on every core, and a writer thread hands the batch before that to
//! the encoder child. Only a few batches are in memory at a time.

use std::path::Path;
use std::sync::mpsc::sync_channel;

use super::{EncodeSettings, FrameReader, FrameWriter, PixelLayout, VideoError, VideoInfo};

/// Frames changed per batch, per core: enough to keep every core busy while the encoder
/// takes the previous batch.
const FRAMES_PER_CORE: usize = 2;

/// A batch of frames' bytes.
type Batch = Vec<Vec<u8>>;

/// Writes `output` as `input` (already probed) with every frame's bytes, in `layout`,
/// changed in place by `change`; audio and metadata carried over. Returns the number of
/// frames written, or the first error `change` gives.
pub fn rewrite_frames(
    input: &Path,
    info: &VideoInfo,
    output: &Path,
    settings: &EncodeSettings,
    layout: PixelLayout,
    change: &(dyn Fn(&mut [u8]) -> Result<(), VideoError> + Sync),
) -> Result<usize, VideoError> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let batch_size = cores * FRAMES_PER_CORE;
    let writer = FrameWriter::create(input, info, output, settings, layout)?;
    let reader = FrameReader::open_as(input, info, layout)?;
    let (writer, written) = std::thread::scope(|scope| {
        let (decoded, incoming) = sync_channel::<Result<Batch, VideoError>>(1);
        scope.spawn(move || decode(reader, batch_size, decoded));
        let (changed, outgoing) = sync_channel::<Batch>(1);
        let encoder = scope.spawn(move || -> Result<(FrameWriter, usize), VideoError> {
            let (mut writer, mut written) = (writer, 0);
            for batch in outgoing {
                for frame in &batch {
                    writer.write(frame)?;
                    written += 1;
                }
            }
            Ok((writer, written))
        });
        let changing = (|| -> Result<(), VideoError> {
            let mut seen = 0u64;
            for batch in incoming {
                let mut batch = batch?;
                super::Deadline::check_current()?;
                change_all(&mut batch, cores, change)?;
                seen += batch.len() as u64;
                // The decoder gives one frame past the cap at most: a container that lied.
                if seen > info.frame_cap {
                    return Err(VideoError::TooManyFrames(seen, info.frame_cap));
                }
                if changed.send(batch).is_err() {
                    // The writer stopped: its own error says why.
                    break;
                }
            }
            Ok(())
        })();
        drop(changed);
        let encoded = encoder.join().map_err(|_| VideoError::Encode("the writer failed".into()))?;
        changing?;
        encoded
    })?;
    if written == 0 {
        return Err(VideoError::Unreadable);
    }
    writer.finish()?;
    Ok(written)
}

/// Reads batches of `batch_size` frames until the end of the video or an error, sending
/// each on; stops early if nobody listens.
fn decode(
    mut reader: FrameReader,
    batch_size: usize,
    batches: std::sync::mpsc::SyncSender<Result<Batch, VideoError>>,
) {
    loop {
        let mut batch = Vec::with_capacity(batch_size);
        while batch.len() < batch_size {
            match reader.next_raw() {
                Ok(Some(frame)) => batch.push(frame),
                Ok(None) => break,
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
}

/// `change` applied to every frame of a batch in place, the batch split over `cores`
/// threads.
fn change_all(
    batch: &mut [Vec<u8>],
    cores: usize,
    change: &(dyn Fn(&mut [u8]) -> Result<(), VideoError> + Sync),
) -> Result<(), VideoError> {
    let per_thread = batch.len().div_ceil(cores).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = batch
            .chunks_mut(per_thread)
            .map(|chunk| scope.spawn(move || chunk.iter_mut().try_for_each(|frame| change(frame))))
            .collect();
        for handle in handles {
            handle.join().map_err(|_| VideoError::Encode("a frame could not be changed".into()))??;
        }
        Ok(())
    })
}
