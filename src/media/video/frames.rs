//! Decoded frames, one RGB image at a time, streamed from an `ffmpeg` child: a long video
//! never sits in memory whole.

use std::io::Read;
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};

use image::RgbImage;

use super::{VideoError, VideoInfo};

pub struct FrameReader {
    child: Child,
    stdout: ChildStdout,
    width: u32,
    height: u32,
}

impl FrameReader {
    /// Starts decoding `path` (already probed) to RGB frames at its own size and rate.
    pub fn open(path: &Path, info: &VideoInfo) -> Result<FrameReader, VideoError> {
        let mut child = Command::new("ffmpeg")
            .args(["-v", "error", "-nostdin", "-i"])
            .arg(path)
            .args(["-map", "0:v:0", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| VideoError::Tool(e.to_string()))?;
        let stdout = child.stdout.take().ok_or_else(|| VideoError::Tool("no stdout".into()))?;
        Ok(FrameReader { child, stdout, width: info.width, height: info.height })
    }

    /// The next frame, or `None` at the end of the stream.
    pub fn next_frame(&mut self) -> Result<Option<RgbImage>, VideoError> {
        let size = self.width as usize * self.height as usize * 3;
        let mut buffer = vec![0u8; size];
        let mut filled = 0;
        while filled < size {
            match self.stdout.read(&mut buffer[filled..])? {
                0 if filled == 0 => return Ok(None),
                0 => return Err(VideoError::Io(std::io::ErrorKind::UnexpectedEof.into())),
                n => filled += n,
            }
        }
        Ok(RgbImage::from_raw(self.width, self.height, buffer))
    }
}

impl Drop for FrameReader {
    fn drop(&mut self) {
        // Stopped early (enough frames): do not leave the decoder running.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Iterator for FrameReader {
    type Item = Result<RgbImage, VideoError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_frame().transpose()
    }
}
