//! Media handling: decoding and encoding pictures and videos under hard limits, marking a
//! creator's file (`enroll`) and recognising a mark, and the content it belongs to, in a file
//! (`recognize`).

pub mod enroll;
pub mod image_io;
pub mod recognize;
pub mod video;
