//! The pictures posts show, and what a hostile or broken CDN does instead.

use actix_web::{web, HttpResponse};

use super::{lock, scenario, Before, FaultKind, FaultTarget, SimState};

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/media/loop/{n}", web::get().to(redirect_loop)).route("/media/{name}", web::get().to(picture));
}

async fn picture(state: web::Data<SimState>, name: web::Path<String>) -> HttpResponse {
    let truncate = match state.before(FaultTarget::Media).await {
        Before::Answer(answer) => return answer,
        Before::Proceed { truncate } => truncate,
    };
    let Some(bytes) = state.media_file(&name) else {
        return HttpResponse::NotFound().content_type("text/plain").body("no such media");
    };
    if truncate {
        // The full length is announced, half is sent, and the connection ends: what a
        // dropped transfer looks like to the client.
        let half = web::Bytes::copy_from_slice(&bytes[..bytes.len() / 2]);
        let chunks = futures_util::stream::iter([Ok::<_, actix_web::Error>(half)]);
        return HttpResponse::Ok()
            .content_type("image/jpeg")
            .no_chunking(bytes.len() as u64)
            .streaming(chunks);
    }
    let content_type = if name.ends_with(".mp4") { "video/mp4" } else { "image/jpeg" };
    HttpResponse::Ok().content_type(content_type).body(bytes.clone())
}

async fn redirect_loop(n: web::Path<u64>) -> HttpResponse {
    HttpResponse::Found().insert_header(("location", format!("/media/loop/{}", *n + 1))).finish()
}

/// The answer a media fault gives.
pub(super) fn fault(state: &SimState, kind: &FaultKind) -> HttpResponse {
    match kind {
        FaultKind::CorruptImage => {
            // A JPEG start marker, then garbage.
            let mut bytes = vec![0xFF, 0xD8, 0xFF, 0xE0];
            bytes.extend((0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
            HttpResponse::Ok().content_type("image/jpeg").body(bytes)
        }
        FaultKind::HugeImage => HttpResponse::Ok().content_type("image/png").body(bomb_png(50_000, 50_000)),
        FaultKind::OversizedBody => {
            let chunks = (0..1024).map(|_| Ok::<_, actix_web::Error>(web::Bytes::from(vec![0u8; 1 << 20])));
            HttpResponse::Ok().content_type("image/jpeg").streaming(futures_util::stream::iter(chunks))
        }
        FaultKind::WrongContentType => {
            HttpResponse::Ok().content_type("text/html").body("<html>not a picture</html>")
        }
        FaultKind::RedirectTo { location } => {
            HttpResponse::Found().insert_header(("location", location.as_str())).finish()
        }
        FaultKind::RedirectLoop => HttpResponse::Found()
            .insert_header(("location", format!("{}/media/loop/0", state.base_url)))
            .finish(),
        _ => HttpResponse::BadRequest().body("fault does not apply to media"),
    }
}

/// A PNG whose header claims `width` x `height` pixels, with no pixel data to speak of:
/// a decoder that trusted the header would try to allocate gigabytes.
fn bomb_png(width: u32, height: u32) -> Vec<u8> {
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]); // 8-bit RGB
    chunk(&mut png, b"IHDR", &ihdr);
    chunk(&mut png, b"IDAT", &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]);
    chunk(&mut png, b"IEND", &[]);
    png
}

fn chunk(png: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    png.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let start = png.len();
    png.extend_from_slice(kind);
    png.extend_from_slice(data);
    let crc = crc32(&png[start..]);
    png.extend_from_slice(&crc.to_be_bytes());
}

/// The CRC-32 PNG chunks carry (bitwise; a few hundred bytes, once per fault).
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

/// Where the simulated platforms serve each post's media.
impl SimState {
    /// A served file.
    pub(super) fn media_file(&self, name: &str) -> Option<web::Bytes> {
        lock(&self.media).get(name).cloned()
    }

    pub(super) fn media_url(&self, post: &scenario::SimPost) -> Option<String> {
        post.media
            .as_ref()
            .map(|_| format!("{}/media/{}-{}.jpg", self.base_url, post.platform.as_str(), post.id))
    }

    /// The URLs of the slides shown before the last one, for a carousel.
    pub(super) fn slides_before_urls(&self, post: &scenario::SimPost) -> Vec<String> {
        let count = post.media.as_ref().map_or(0, |m| m.slides_before.len());
        (0..count)
            .map(|n| format!("{}/media/{}-{}-s{n}.jpg", self.base_url, post.platform.as_str(), post.id))
            .collect()
    }

    /// The video file's URL, for posts whose scenario gives the video itself.
    pub(super) fn video_url(&self, post: &scenario::SimPost) -> Option<String> {
        post.media
            .as_ref()
            .filter(|m| m.clip.is_some())
            .map(|_| format!("{}/media/{}-{}.mp4", self.base_url, post.platform.as_str(), post.id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::image_io::{decode, ImageLimits, MediaError};

    #[test]
    fn the_bomb_is_a_valid_header_that_the_decoder_refuses() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        let limits = ImageLimits { max_bytes: 1 << 20, max_pixels: 8192 * 8192, max_dimension: 16384 };
        assert!(matches!(
            decode(&bomb_png(50_000, 50_000), &limits),
            Err(MediaError::TooLarge(50_000, 50_000))
        ));
    }
}
