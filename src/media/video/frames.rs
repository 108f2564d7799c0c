//! Decoded frames, one at a time, streamed from an `ffmpeg` child: a long video never sits
//! in memory whole. Detection reads RGB images; a rewrite reads the video's own planes.

use std::io::Read;
use std::path::Path;
use std::process::{ChildStdout, Command, Stdio};

use image::RgbImage;

use super::deadline::Watched;
use super::{colour_filter, PixelLayout, VideoError, VideoInfo};

pub struct FrameReader {
    child: Watched,
    stdout: ChildStdout,
    width: u32,
    height: u32,
    layout: PixelLayout,
}

impl FrameReader {
    /// Starts decoding every frame of `path` (already probed), once each, at its own size; at
    /// most one past the probe's frame cap, so a container that lies about its length cannot
    /// feed more than that.
    pub fn open(path: &Path, info: &VideoInfo) -> Result<FrameReader, VideoError> {
        FrameReader::open_as(path, info, PixelLayout::Rgb)
    }

    /// Like `open`, the frames coming in `layout` (read them with `next_raw`).
    pub fn open_as(path: &Path, info: &VideoInfo, layout: PixelLayout) -> Result<FrameReader, VideoError> {
        let filter = match layout {
            PixelLayout::Rgb => colour_filter(info, "in"),
            PixelLayout::Yuv420 { .. } => "null".to_owned(),
        };
        let most = (info.frame_cap + 1).to_string();
        let options = ["-fps_mode", "passthrough", "-vf", &filter, "-frames:v", &most];
        FrameReader::spawn(path, info, &[], &options, layout)
    }

    /// Starts decoding about `count` frames spread evenly over the video (all of a short
    /// one): what detection needs, without decoding every frame into the pipe.
    pub fn sampled(path: &Path, info: &VideoInfo, count: usize) -> Result<FrameReader, VideoError> {
        FrameReader::sample(path, info, count, &[], "")
    }

    /// Like `sampled`, from the key frames alone (the first frame at least). A platform's
    /// encoder codes a key frame on its own, so each carries the mark where it was put;
    /// frames predicted from others carry it dragged along with the picture's motion.
    pub fn key_frames(path: &Path, info: &VideoInfo, count: usize) -> Result<FrameReader, VideoError> {
        // `-skip_frame` spares H.264 decoders the predicted frames; VP9's ignores it, so the
        // `select` filter keeps only key frames whatever the decoder did.
        FrameReader::sample(path, info, count, &["-skip_frame", "nokey"], "select='eq(key,1)',")
    }

    fn sample(
        path: &Path,
        info: &VideoInfo,
        count: usize,
        input_options: &[&str],
        select: &str,
    ) -> Result<FrameReader, VideoError> {
        let colour = colour_filter(info, "in");
        let seconds = info.duration_secs;
        let filter = if seconds > 0.0 && count > 0 {
            format!("{select}fps={:.6}:eof_action=pass,{colour}", count as f64 / seconds)
        } else {
            format!("{select}{colour}")
        };
        FrameReader::spawn(
            path,
            info,
            input_options,
            &["-vf", &filter, "-frames:v", &count.max(1).to_string()],
            PixelLayout::Rgb,
        )
    }

    fn spawn(
        path: &Path,
        info: &VideoInfo,
        input_options: &[&str],
        options: &[&str],
        layout: PixelLayout,
    ) -> Result<FrameReader, VideoError> {
        let mut child = Command::new("ffmpeg")
            .args(["-v", "error", "-nostdin"])
            .args(input_options)
            .arg("-i")
            .arg(path)
            .args(["-map", "0:v:0"])
            .args(options)
            .args(["-f", "rawvideo", "-pix_fmt", layout.pixel_format(), "-"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| VideoError::Tool(e.to_string()))?;
        let stdout = child.stdout.take().ok_or_else(|| VideoError::Tool("no stdout".into()))?;
        Ok(FrameReader { child: Watched::new(child), stdout, width: info.width, height: info.height, layout })
    }

    /// The next frame (of a reader in RGB), or `None` at the end of the stream.
    pub fn next_frame(&mut self) -> Result<Option<RgbImage>, VideoError> {
        if self.layout != PixelLayout::Rgb {
            return Err(VideoError::Io(std::io::ErrorKind::InvalidInput.into()));
        }
        Ok(self.next_raw()?.and_then(|bytes| RgbImage::from_raw(self.width, self.height, bytes)))
    }

    /// The next frame's bytes in the reader's layout, or `None` at the end of the stream.
    pub fn next_raw(&mut self) -> Result<Option<Vec<u8>>, VideoError> {
        let size = self.layout.frame_bytes(self.width, self.height);
        let mut buffer = vec![0u8; size];
        let mut filled = 0;
        while filled < size {
            let read = self.stdout.read(&mut buffer[filled..]);
            // A decoder stopped by its deadline ends its output early: that is no end of video.
            if let Some(stopped) = self.child.stopped() {
                return Err(stopped);
            }
            match read? {
                0 if filled == 0 => return Ok(None),
                0 => return Err(VideoError::Io(std::io::ErrorKind::UnexpectedEof.into())),
                n => filled += n,
            }
        }
        Ok(Some(buffer))
    }
}

impl Iterator for FrameReader {
    type Item = Result<RgbImage, VideoError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_frame().transpose()
    }
}
