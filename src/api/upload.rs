//! Media uploads: a raw body (`Content-Type: image/...` or `video/...`) or
//! `multipart/form-data` with the file in a part named `image` or `video` (or the first file
//! part). Reading stops at the byte limit, before anything is decoded: the picture limit,
//! or, for a body whose first bytes say it is a video, the video limit. Videos are spooled
//! to a temporary file (ffmpeg must seek in them, and they may be large); pictures stay in
//! memory.

use std::io::Write;
use std::sync::Arc;

use actix_multipart::Multipart;
use actix_web::http::header::CONTENT_TYPE;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest};
use futures_util::StreamExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::error::ApiError;
use super::AppState;
use crate::media::image_io::MediaError;
use crate::media::recognize::InputError;
use crate::media::video::{Container, VideoError, VideoSettings};

/// An uploaded file.
pub enum Upload {
    Picture(Vec<u8>),
    /// Spooled to a temporary file; `space` is its share of the spool budget, held while the
    /// file is.
    Video {
        file: tempfile::NamedTempFile,
        container: Container,
        space: SpoolSpace,
    },
}

/// A share of the temporary space all uploads in progress may hold at once
/// (`video.max_spool_bytes`), in KiB; given back when dropped.
#[derive(Default)]
pub struct SpoolSpace(Option<OwnedSemaphorePermit>);

const KIB: u64 = 1 << 10;

/// Collects an upload: in memory while it may be a picture, in a temporary file once it is
/// known to be a video.
struct Spool {
    memory: Vec<u8>,
    video: Option<(tempfile::NamedTempFile, Container)>,
    written: u64,
    picture_limit: usize,
    video_limit: u64,
    dir: Option<std::path::PathBuf>,
    budget: Arc<Semaphore>,
    space: SpoolSpace,
}

fn spool_error(e: std::io::Error) -> ApiError {
    tracing::error!(error = %e, "cannot spool an upload");
    ApiError::internal()
}

impl Spool {
    fn new(picture_limit: usize, video: &VideoSettings, budget: Arc<Semaphore>) -> Spool {
        Spool {
            memory: Vec::new(),
            video: None,
            written: 0,
            picture_limit,
            video_limit: video.max_bytes,
            dir: video.spool_dir.clone(),
            budget,
            space: SpoolSpace::default(),
        }
    }

    /// Takes spool space for everything written so far, or refuses the upload while other
    /// uploads hold the budget.
    fn reserve(&mut self) -> Result<(), ApiError> {
        let needed = self.written.div_ceil(KIB).min(u64::from(u32::MAX)) as u32;
        let held = self.space.0.as_ref().map_or(0, |p| p.num_permits() as u32);
        if needed <= held {
            return Ok(());
        }
        let more = self.budget.clone().try_acquire_many_owned(needed - held).map_err(|_| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "upload_space_exhausted",
                "too many uploads are being processed: try again shortly",
            )
            .with_retry_after(10)
        })?;
        match &mut self.space.0 {
            Some(permit) => permit.merge(more),
            None => self.space.0 = Some(more),
        }
        Ok(())
    }

    fn push(&mut self, chunk: &[u8]) -> Result<(), ApiError> {
        self.written += chunk.len() as u64;
        if self.video.is_none() && self.memory.len() < 12 {
            // Enough of the head to know what it is.
            self.memory.extend_from_slice(chunk);
            return self.settle();
        }
        match &mut self.video {
            Some(_) if self.written > self.video_limit => Err(too_large(self.video_limit as usize)),
            Some(_) => {
                self.reserve()?;
                let Some((file, _)) = &mut self.video else { return Ok(()) };
                file.write_all(chunk).map_err(spool_error)
            }
            None if self.written > self.picture_limit as u64 => Err(too_large(self.picture_limit)),
            None => {
                self.memory.extend_from_slice(chunk);
                Ok(())
            }
        }
    }

    /// Moves to a file as soon as the head says video; checks the limit in force.
    fn settle(&mut self) -> Result<(), ApiError> {
        if self.video.is_none() {
            if let Some(container) = Container::sniff(&self.memory) {
                self.reserve()?;
                let mut file = container.temp_file(self.dir.as_deref()).map_err(spool_error)?;
                file.write_all(&self.memory).map_err(spool_error)?;
                self.memory = Vec::new();
                self.video = Some((file, container));
            }
        }
        let limit = if self.video.is_some() { self.video_limit } else { self.picture_limit as u64 };
        if self.written > limit {
            return Err(too_large(limit as usize));
        }
        Ok(())
    }

    fn finish(mut self) -> Result<Upload, ApiError> {
        if self.written == 0 {
            return Err(ApiError::bad_request("empty_upload", "the request carries no file"));
        }
        self.settle()?;
        Ok(match self.video {
            Some((mut file, container)) => {
                file.flush().map_err(spool_error)?;
                Upload::Video { file, container, space: self.space }
            }
            None => Upload::Picture(self.memory),
        })
    }
}

/// The uploaded file, a picture of at most `limits.body_bytes` or a video of at most
/// `video.max_bytes`, spooled within the spool budget.
pub async fn read_media_upload(
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
) -> Result<Upload, ApiError> {
    let mut spool = Spool::new(state.limits.body_bytes, &state.video, state.spool_budget.clone());
    let content_type = req.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if content_type.starts_with("multipart/form-data") {
        read_multipart(Multipart::new(req.headers(), payload), &mut spool).await?;
    } else {
        read_raw(payload, &mut spool).await?;
    }
    spool.finish()
}

fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        format!("uploads are limited to {limit} bytes"),
    )
}

async fn read_raw(mut payload: web::Payload, spool: &mut Spool) -> Result<(), ApiError> {
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| match e {
            actix_web::error::PayloadError::Overflow => too_large(spool.picture_limit),
            other => ApiError::bad_request("bad_upload", other.to_string()),
        })?;
        spool.push(&chunk)?;
    }
    Ok(())
}

async fn read_multipart(mut form: Multipart, spool: &mut Spool) -> Result<(), ApiError> {
    let bad = |e: actix_multipart::MultipartError| ApiError::bad_request("bad_multipart", e.to_string());
    while let Some(field) = form.next().await {
        let mut field = field.map_err(bad)?;
        let is_file = field.content_disposition().is_some_and(|d| {
            matches!(d.get_name(), Some("image") | Some("video")) || d.get_filename().is_some()
        });
        let mut skipped = 0usize;
        while let Some(chunk) = field.next().await {
            let chunk = chunk.map_err(bad)?;
            if is_file {
                spool.push(&chunk)?;
            } else {
                // Other fields are read past, within the picture limit.
                skipped += chunk.len();
                if skipped > spool.picture_limit {
                    return Err(too_large(spool.picture_limit));
                }
            }
        }
        if is_file {
            return Ok(());
        }
    }
    Err(ApiError::bad_request("empty_upload", "the form has no part named 'image' or 'video'"))
}

/// A media problem as the caller should see it.
pub fn media_error(err: MediaError) -> ApiError {
    let (status, code) = match &err {
        MediaError::TooManyBytes(..) => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
        MediaError::TooLarge(..) => (StatusCode::PAYLOAD_TOO_LARGE, "image_too_large"),
        MediaError::UnknownFormat | MediaError::UnsupportedFormat(_) => {
            (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_image_format")
        }
        MediaError::Empty | MediaError::Corrupt(_) => (StatusCode::BAD_REQUEST, "bad_image"),
        MediaError::TooSmall(..) => (StatusCode::UNPROCESSABLE_ENTITY, "image_too_small"),
        MediaError::Encode(_) => return ApiError::internal(),
    };
    ApiError::new(status, code, err.to_string())
}

/// A video problem as the caller should see it.
pub fn video_error(err: VideoError) -> ApiError {
    let (status, code) = match &err {
        VideoError::TooLarge(..) => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
        VideoError::TooLong(..) => (StatusCode::PAYLOAD_TOO_LARGE, "video_too_long"),
        VideoError::TooManyPixels(..) => (StatusCode::PAYLOAD_TOO_LARGE, "video_too_large"),
        VideoError::TooFast(..) => (StatusCode::PAYLOAD_TOO_LARGE, "video_frame_rate_too_high"),
        VideoError::TooManyFrames(..) => (StatusCode::PAYLOAD_TOO_LARGE, "video_too_many_frames"),
        VideoError::TimedOut => (StatusCode::UNPROCESSABLE_ENTITY, "video_too_slow"),
        // Nobody is left to read it; said for the log's sake.
        VideoError::Cancelled => (StatusCode::BAD_REQUEST, "cancelled"),
        VideoError::Unreadable | VideoError::OddSize(..) => (StatusCode::BAD_REQUEST, "bad_video"),
        VideoError::UnsupportedContainer => (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_video_format"),
        VideoError::Tool(_) => {
            tracing::error!(error = %err, "ffmpeg/ffprobe unavailable");
            return ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "video_unavailable",
                "video processing is not available on this server",
            );
        }
        VideoError::Encode(_) | VideoError::Io(_) => {
            tracing::error!(error = %err, "video processing failed");
            return ApiError::internal();
        }
    };
    ApiError::new(status, code, err.to_string())
}

/// Either kind of media problem.
pub fn input_error(err: InputError) -> ApiError {
    match err {
        InputError::Image(e) => media_error(e),
        InputError::Video(e) => video_error(e),
    }
}
