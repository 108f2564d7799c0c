//! A perceptual fingerprint of a picture: Meta's PDQ hash (256 bits), computed by the
//! `pdqhash` crate from pixels already decoded under our limits (its own decoders are never
//! given bytes). The watermark is the proof of whose content a post carries; the
//! fingerprint is the second binding, which still recognises the content when a filter has
//! taken the mark away.

use image::RgbImage;

/// Bits in a fingerprint.
pub const FINGERPRINT_BITS: u32 = 256;
/// The operating point PDQ's authors publish (`hashing.pdf` in facebook/ThreatExchange): two
/// hashes within 31 bits of each other are the same picture, and unrelated pictures lie
/// near 128 bits apart. A match here never verifies a post; it marks it for review.
pub const SAME_PICTURE_DISTANCE: u32 = 31;
/// Below this quality (PDQ's own measure of how much detail the hash rests on, from 0 to 1
/// as `pdqhash` scales it; 50 of 100 in the reference) a hash is not trusted, as PDQ's
/// authors advise: a flat or featureless picture matches too much.
pub const MIN_QUALITY: f32 = 0.5;

/// The largest side PDQ hashes at; a larger picture is shrunk to it on each axis.
const PDQ_SIDE: u32 = 512;

/// One picture's PDQ hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fingerprint(pub [u8; 32]);

impl Fingerprint {
    /// The fingerprint of a picture, or `None` when PDQ cannot trust one (too small, or of
    /// quality under [`MIN_QUALITY`]).
    pub fn of(image: &RgbImage) -> Option<Fingerprint> {
        // PDQ hashes a picture of at most 512 x 512 and shrinks a larger one itself; shrinking
        // it here first hands the crate a small copy instead of a full-size one.
        let (width, height) = image.dimensions();
        let (width, height) = (width.min(PDQ_SIDE), height.min(PDQ_SIDE));
        let small = image::imageops::thumbnail(image, width, height);
        let pixels = pdqhash::image::RgbImage::from_raw(width, height, small.into_raw())?;
        let (hash, quality) = pdqhash::generate_pdq(&pdqhash::image::DynamicImage::ImageRgb8(pixels))?;
        (quality >= MIN_QUALITY).then_some(Fingerprint(hash))
    }

    /// Bits that differ.
    pub fn distance(&self, other: &Fingerprint) -> u32 {
        self.0.iter().zip(&other.0).map(|(a, b)| (a ^ b).count_ones()).sum()
    }

    /// The smallest distance to any of `others`, if it is within [`SAME_PICTURE_DISTANCE`].
    pub fn nearest_match(&self, others: &[Fingerprint]) -> Option<u32> {
        others.iter().map(|o| self.distance(o)).min().filter(|&d| d <= SAME_PICTURE_DISTANCE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::imageops::{self, FilterType};

    fn fixture(name: &str) -> RgbImage {
        let path = format!("{}/fixtures/images/{name}", env!("CARGO_MANIFEST_DIR"));
        image::open(path).expect("fixture").to_rgb8()
    }

    #[test]
    fn a_resized_re_encoded_copy_matches_and_other_pictures_do_not() {
        let rocket = fixture("rocket.jpg");
        let coffee = fixture("coffee.png");
        let original = Fingerprint::of(&rocket).expect("a detailed photo has a fingerprint");
        // What a platform does: a smaller copy, re-encoded.
        let small = imageops::resize(&rocket, rocket.width() / 3, rocket.height() / 3, FilterType::Triangle);
        let mut jpeg = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 60).encode_image(&small).unwrap();
        let reposted = image::load_from_memory(&jpeg).unwrap().to_rgb8();
        let copy = Fingerprint::of(&reposted).unwrap();
        assert!(copy.nearest_match(&[original]).is_some(), "{}", copy.distance(&original));
        let other = Fingerprint::of(&coffee).unwrap();
        assert!(other.distance(&original) > 2 * SAME_PICTURE_DISTANCE, "{}", other.distance(&original));
        assert_eq!(other.nearest_match(&[original]), None);
    }

    #[test]
    fn the_mark_leaves_the_fingerprint_where_it_was() {
        let key = crate::watermark::Key::from_bytes([5; 32]);
        for name in ["motorcycle_left.png", "chelsea.png"] {
            let original = fixture(name);
            let marked = crate::watermark::embed(&original, &key, 77);
            let (a, b) = (Fingerprint::of(&original).unwrap(), Fingerprint::of(&marked).unwrap());
            assert!(a.distance(&b) <= 8, "{name}: {}", a.distance(&b));
        }
    }

    #[test]
    fn a_flat_picture_has_no_fingerprint() {
        assert_eq!(Fingerprint::of(&RgbImage::from_pixel(400, 300, image::Rgb([90, 90, 90]))), None);
    }
}
