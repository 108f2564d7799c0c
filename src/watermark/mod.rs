//! The watermark engine: pure signal processing, no I/O and no database.

mod key;

pub use key::Key;
