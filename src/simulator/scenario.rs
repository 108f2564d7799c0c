//! The simulated world: accounts with bios and tokens, posts with view curves, and the
//! pictures each post shows, made at start from fixture images (watermarked with a payload,
//! or left unmarked) and transformed the way that platform transforms uploads.

use std::path::{Path, PathBuf};

use anyhow::Context;
use image::RgbImage;
use serde::{Deserialize, Serialize};

use crate::domain::Platform;
use crate::media::image_io::{self, ImageLimits};
use crate::simulator::attacks::Attack;
use crate::watermark::{self, Key};

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Scenario {
    #[serde(default)]
    pub credentials: SimCredentials,
    #[serde(default)]
    pub limits: SimLimits,
    #[serde(default)]
    pub accounts: Vec<SimAccount>,
    #[serde(default)]
    pub posts: Vec<SimPost>,
}

/// The app credentials the simulated APIs accept.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct SimCredentials {
    pub youtube_api_key: String,
    pub x_bearer_token: String,
    pub tiktok_client_key: String,
    pub tiktok_client_secret: String,
    /// Our app's OAuth client at YouTube (Google), Instagram and X.
    pub oauth_client_id: String,
    pub oauth_client_secret: String,
}

impl Default for SimCredentials {
    fn default() -> Self {
        SimCredentials {
            youtube_api_key: "sim-youtube-key".into(),
            x_bearer_token: "sim-x-bearer".into(),
            tiktok_client_key: "sim-tiktok-client".into(),
            tiktok_client_secret: "sim-tiktok-secret".into(),
            oauth_client_id: "sim-oauth-client".into(),
            oauth_client_secret: "sim-oauth-secret".into(),
        }
    }
}

/// The budgets the simulated APIs enforce, as the real ones do.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct SimLimits {
    pub youtube_units_per_day: u32,
    pub tiktok_per_minute: u32,
    pub instagram_per_hour: u32,
    pub x_per_15_min: u32,
}

impl Default for SimLimits {
    fn default() -> Self {
        SimLimits {
            youtube_units_per_day: 10_000,
            tiktok_per_minute: 600,
            instagram_per_hour: 200,
            x_per_15_min: 300,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct SimAccount {
    pub platform: Platform,
    pub handle: String,
    #[serde(default)]
    pub bio: String,
    /// The creator's OAuth tokens (TikTok, Instagram).
    pub access_token: Option<String>,
    pub refresh_token: Option<String>,
    /// The access token starts out expired (TikTok: refreshable; Instagram: must relink).
    #[serde(default)]
    pub token_expired: bool,
    /// X: protected account, its posts answer "not authorized".
    #[serde(default)]
    pub protected: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SimPostState {
    Live,
    Removed,
    Private,
    /// Live, with so few viewers that Instagram withholds its insights (Meta's "(#10) Not
    /// enough viewers for the media to show insights", common on new posts).
    FewViewers,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct SimPost {
    pub platform: Platform,
    pub id: String,
    /// The handle of the account that posted it.
    pub account: String,
    #[serde(default = "live")]
    pub state: SimPostState,
    /// (seconds since the simulator started, views) points; linear between them, flat after.
    #[serde(default)]
    pub views: Vec<(u64, u64)>,
    /// Likes, comments and shares per 1,000 views, reported beside the views.
    #[serde(default)]
    pub engagement: SimEngagement,
    pub media: Option<SimMedia>,
}

fn live() -> SimPostState {
    SimPostState::Live
}

/// A post's engagement as rates per 1,000 views; by default a photo's usual 4 % likes, a few
/// comments and shares.
#[derive(Debug, Clone, Copy, Deserialize, Serialize)]
pub struct SimEngagement {
    pub likes_per_1000: u64,
    pub comments_per_1000: u64,
    pub shares_per_1000: u64,
}

impl Default for SimEngagement {
    fn default() -> SimEngagement {
        SimEngagement { likes_per_1000: 40, comments_per_1000: 3, shares_per_1000: 2 }
    }
}

impl SimEngagement {
    /// (likes, comments, shares) at `views`.
    pub fn at(&self, views: u64) -> (u64, u64, u64) {
        let of = |rate: u64| views.saturating_mul(rate) / 1000;
        (of(self.likes_per_1000), of(self.comments_per_1000), of(self.shares_per_1000))
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct SimMedia {
    /// A picture, relative to the scenario file.
    pub image: PathBuf,
    /// 16 hex digits to watermark with; absent for an unmarked picture.
    pub payload: Option<String>,
    /// A video (the picture is its cover or thumbnail) rather than a photo.
    #[serde(default)]
    pub video: bool,
    /// The video file itself (MP4, relative to the scenario file), served as the post's
    /// media URL where the platform gives one: marked with `payload` and re-encoded as
    /// platforms do (at most 720 pixels wide, 1.5 Mbit/s H.264).
    #[serde(default)]
    pub clip: Option<PathBuf>,
    /// The cover is a picture the creator chose, not a frame: never marked.
    #[serde(default)]
    pub custom_cover: bool,
    /// What the platform does to the upload; absent for that platform's usual pipeline.
    pub transform: Option<Vec<Step>>,
    /// Pictures shown before this one in a carousel (Instagram), relative to the scenario
    /// file, never marked: a post with any is an album whose last slide is `image`.
    #[serde(default)]
    pub slides_before: Vec<PathBuf>,
}

impl SimMedia {
    /// A published upload's media: the platform's usual pipeline, nothing marked here.
    pub fn uploaded() -> SimMedia {
        SimMedia {
            image: PathBuf::from("upload"),
            payload: None,
            video: false,
            clip: None,
            custom_cover: false,
            transform: None,
            slides_before: vec![],
        }
    }
}

/// One processing step a platform applies.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    Jpeg(u8),
    Scale(f32),
    /// Downscale to this width if wider (platforms do not upscale).
    MaxWidth(u32),
    Aspect(u32, u32),
    Crop(f32),
}

impl Step {
    fn apply(&self, image: &RgbImage) -> RgbImage {
        let attack = match self {
            Step::MaxWidth(w) if image.width() <= *w => return image.clone(),
            Step::MaxWidth(w) => Attack::ResizeToWidth(*w),
            Step::Jpeg(q) => Attack::Jpeg(*q),
            Step::Scale(f) => Attack::Scale(*f),
            Step::Aspect(w, h) => Attack::AspectCrop(*w, *h),
            Step::Crop(area) => Attack::Crop { area: *area, cx: 0.5, cy: 0.5 },
        };
        attack.apply(image)
    }
}

/// What each platform does to an upload before serving it (final JPEG included).
pub fn usual_pipeline(platform: Platform) -> Vec<Step> {
    match platform {
        Platform::Youtube => vec![Step::Aspect(16, 9), Step::MaxWidth(1280), Step::Jpeg(85)],
        Platform::Tiktok => vec![Step::Aspect(9, 16), Step::MaxWidth(720), Step::Jpeg(80)],
        Platform::Instagram => vec![Step::Aspect(4, 5), Step::MaxWidth(1080), Step::Jpeg(75)],
        Platform::X => vec![Step::Jpeg(85)],
    }
}

impl Scenario {
    pub fn load(path: &Path) -> anyhow::Result<(Scenario, PathBuf)> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        let scenario: Scenario = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a valid scenario", path.display()))?;
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Ok((scenario, dir))
    }

    pub fn account(&self, platform: Platform, handle: &str) -> Option<&SimAccount> {
        self.accounts.iter().find(|a| a.platform == platform && a.handle == handle)
    }
}

/// Renders a post's picture as the platform would serve it: JPEG bytes.
pub fn render_media(
    platform: Platform,
    media: &SimMedia,
    dir: &Path,
    key: Option<&Key>,
) -> anyhow::Result<Vec<u8>> {
    let path = dir.join(&media.image);
    let bytes = std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut image = decode_picture(&bytes)?;
    if let (Some(payload), false) = (payload(media, key)?, media.custom_cover) {
        image = watermark::embed(&image, payload.1, payload.0);
    }
    render_picture(platform, media, image)
}

/// Renders the slides shown before a carousel's last one, unmarked, as the platform serves them.
pub fn render_slides_before(
    platform: Platform,
    media: &SimMedia,
    dir: &Path,
) -> anyhow::Result<Vec<Vec<u8>>> {
    media
        .slides_before
        .iter()
        .map(|slide| {
            let path = dir.join(slide);
            let bytes = std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
            render_picture(platform, media, decode_picture(&bytes)?)
        })
        .collect()
}

/// Decodes an uploaded or scenario picture.
pub fn decode_picture(bytes: &[u8]) -> anyhow::Result<RgbImage> {
    let limits = ImageLimits { max_bytes: 64 << 20, max_pixels: 8192 * 8192, max_dimension: 8192 };
    Ok(image_io::decode(bytes, &limits)?.0)
}

/// Applies the platform's processing to a picture: the JPEG bytes it serves.
pub fn render_picture(platform: Platform, media: &SimMedia, mut image: RgbImage) -> anyhow::Result<Vec<u8>> {
    let steps = media.transform.clone().unwrap_or_else(|| usual_pipeline(platform));
    let (encode_quality, steps) = match steps.split_last() {
        Some((Step::Jpeg(q), rest)) => (*q, rest.to_vec()),
        _ => (90, steps),
    };
    for step in &steps {
        image = step.apply(&image);
    }
    Ok(image_io::encode_jpeg(&image, encode_quality)?)
}

/// The payload to mark with and the key, when the media carries one.
fn payload<'k>(media: &SimMedia, key: Option<&'k Key>) -> anyhow::Result<Option<(u64, &'k Key)>> {
    let Some(hex) = &media.payload else { return Ok(None) };
    let payload =
        u64::from_str_radix(hex, 16).with_context(|| format!("payload {hex} is not 16 hex digits"))?;
    let key = key.context("the scenario marks media, so the simulator needs the watermark key")?;
    Ok(Some((payload, key)))
}

/// The post's video as the platform serves it, when the scenario gives one.
pub fn render_clip(media: &SimMedia, dir: &Path, key: Option<&Key>) -> anyhow::Result<Option<Vec<u8>>> {
    let Some(clip) = &media.clip else { return Ok(None) };
    let source = dir.join(clip);
    let work = tempfile::tempdir()?;
    let marked = match payload(media, key)? {
        Some((payload, key)) => {
            let marked = work.path().join("marked.mp4");
            crate::media::enroll::mark_video(&source, &marked, &Default::default(), key, payload)?;
            marked
        }
        None => source.clone(),
    };
    let served = work.path().join("served.mp4");
    let status = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-nostdin", "-y", "-i"])
        .arg(&marked)
        .args(["-vf", "scale='min(720,iw)':-2", "-c:v", "libx264", "-b:v", "1500k", "-c:a", "copy"])
        .arg(&served)
        .status()?;
    anyhow::ensure!(status.success(), "ffmpeg could not re-encode {}", source.display());
    Ok(Some(std::fs::read(served)?))
}

/// Views at `elapsed` seconds on a curve of (seconds, views) points.
pub fn views_at(curve: &[(u64, u64)], elapsed: u64) -> u64 {
    let Some(first) = curve.first() else { return 0 };
    if elapsed <= first.0 {
        return first.1;
    }
    for pair in curve.windows(2) {
        let ((t0, v0), (t1, v1)) = (pair[0], pair[1]);
        if elapsed <= t1 && t1 > t0 {
            let fraction = (elapsed - t0) as f64 / (t1 - t0) as f64;
            return (v0 as f64 + fraction * (v1 as f64 - v0 as f64)).round() as u64;
        }
    }
    curve.last().map_or(0, |p| p.1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn view_curves_interpolate_and_stay_flat_after_the_last_point() {
        let curve = [(0, 0), (100, 1000), (200, 1500)];
        assert_eq!(views_at(&curve, 0), 0);
        assert_eq!(views_at(&curve, 50), 500);
        assert_eq!(views_at(&curve, 150), 1250);
        assert_eq!(views_at(&curve, 10_000), 1500);
        assert_eq!(views_at(&[], 10), 0);
    }
}
