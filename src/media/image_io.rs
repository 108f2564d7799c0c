//! Image decoding and encoding under hard limits: bytes, dimensions and pixel count are
//! checked before any pixel buffer is allocated (decompression bombs stop at the header),
//! and EXIF orientation is applied so the pixels are upright.

use std::io::Cursor;
use std::path::Path;

use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, RgbImage};

/// Limits on one decoded image.
#[derive(Debug, Clone, Copy)]
pub struct ImageLimits {
    pub max_bytes: usize,
    pub max_pixels: u64,
    pub max_dimension: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("image is {0} bytes, over the limit of {1}")]
    TooManyBytes(usize, usize),
    #[error("image format not recognised (PNG, JPEG and WebP are accepted)")]
    UnknownFormat,
    #[error("image format {0:?} is not accepted (PNG, JPEG and WebP are)")]
    UnsupportedFormat(ImageFormat),
    #[error("image is {0}x{1}, over the limit")]
    TooLarge(u32, u32),
    #[error("image is empty")]
    Empty,
    #[error("image is {0}x{1}: a mark that can be detected needs at least {2} pixels on each side")]
    TooSmall(u32, u32, u32),
    #[error("image cannot be decoded: {0}")]
    Corrupt(String),
    #[error("image cannot be encoded: {0}")]
    Encode(String),
}

const ACCEPTED: [ImageFormat; 3] = [ImageFormat::Png, ImageFormat::Jpeg, ImageFormat::WebP];

/// Decodes PNG, JPEG or WebP bytes into upright RGB pixels, refusing anything over limits.
pub fn decode(bytes: &[u8], limits: &ImageLimits) -> Result<(RgbImage, ImageFormat), MediaError> {
    if bytes.len() > limits.max_bytes {
        return Err(MediaError::TooManyBytes(bytes.len(), limits.max_bytes));
    }
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| MediaError::Corrupt(e.to_string()))?;
    let format = reader.format().ok_or(MediaError::UnknownFormat)?;
    if !ACCEPTED.contains(&format) {
        return Err(MediaError::UnsupportedFormat(format));
    }
    let mut decoder = reader.into_decoder().map_err(|e| MediaError::Corrupt(e.to_string()))?;
    let (w, h) = decoder.dimensions();
    if w == 0 || h == 0 {
        return Err(MediaError::Empty);
    }
    if w > limits.max_dimension || h > limits.max_dimension || u64::from(w) * u64::from(h) > limits.max_pixels
    {
        return Err(MediaError::TooLarge(w, h));
    }
    let orientation = decoder.orientation().ok();
    let mut image = DynamicImage::from_decoder(decoder).map_err(|e| MediaError::Corrupt(e.to_string()))?;
    if let Some(orientation) = orientation {
        image.apply_orientation(orientation);
    }
    Ok((image.to_rgb8(), format))
}

/// JPEG quality of the service's own outputs: high, so the mark and the picture keep
/// their quality.
pub const OUTPUT_JPEG_QUALITY: u8 = 95;

/// Encodes RGB pixels (JPEG at `OUTPUT_JPEG_QUALITY`).
pub fn encode(image: &RgbImage, format: ImageFormat) -> Result<Vec<u8>, MediaError> {
    if format == ImageFormat::Jpeg {
        return encode_jpeg(image, OUTPUT_JPEG_QUALITY);
    }
    let mut bytes = Vec::new();
    image.write_to(&mut Cursor::new(&mut bytes), format).map_err(|e| MediaError::Encode(e.to_string()))?;
    Ok(bytes)
}

/// Encodes RGB pixels as JPEG at the given quality (1-100).
pub fn encode_jpeg(image: &RgbImage, quality: u8) -> Result<Vec<u8>, MediaError> {
    let mut bytes = Vec::new();
    let encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(Cursor::new(&mut bytes), quality);
    image.write_with_encoder(encoder).map_err(|e| MediaError::Encode(e.to_string()))?;
    Ok(bytes)
}

/// The output format a file name asks for (PNG when it names none we write).
pub fn format_for_path(path: &Path) -> ImageFormat {
    match ImageFormat::from_path(path) {
        Ok(f) if ACCEPTED.contains(&f) => f,
        _ => ImageFormat::Png,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> ImageLimits {
        ImageLimits { max_bytes: 1 << 20, max_pixels: 1 << 20, max_dimension: 2048 }
    }

    #[test]
    fn round_trips_and_refuses_garbage() {
        let img = RgbImage::from_pixel(40, 30, image::Rgb([10, 200, 30]));
        let png = encode(&img, ImageFormat::Png).unwrap();
        let (back, format) = decode(&png, &limits()).unwrap();
        assert_eq!((back, format), (img, ImageFormat::Png));
        assert!(matches!(decode(b"not an image at all", &limits()), Err(MediaError::UnknownFormat)));
        assert!(decode(&png[..png.len() / 2], &limits()).is_err());
    }

    #[test]
    fn oversized_images_stop_at_the_header() {
        // A few hundred bytes that would decode to an image over the side limit.
        let wide = RgbImage::new(20_000, 1);
        let png = encode(&wide, ImageFormat::Png).unwrap();
        assert!(png.len() < 2048);
        assert!(matches!(decode(&png, &limits()), Err(MediaError::TooLarge(20_000, 1))));
        let many = ImageLimits { max_pixels: 100, ..limits() };
        let square = encode(&RgbImage::new(11, 11), ImageFormat::Png).unwrap();
        assert!(matches!(decode(&square, &many), Err(MediaError::TooLarge(11, 11))));
    }
}
