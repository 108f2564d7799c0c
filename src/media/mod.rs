//! Media handling: decoding and encoding pictures and videos under hard limits, marking a
//! creator's file (`enroll`) and recognising a mark, and the content it belongs to, in a file
//! (`recognize`), and what is kept of enrolled content to recognise it by (`kept`: the
//! watermark's references and a perceptual `fingerprint`).

pub mod enroll;
pub mod fingerprint;
pub mod image_io;
pub mod kept;
pub mod recognize;
pub mod video;
