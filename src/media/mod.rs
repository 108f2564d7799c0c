//! Media handling: decoding and encoding under hard limits, and what platforms do to
//! uploads (for the robustness suite, the benchmarks and the simulated platforms).

pub mod image_io;
pub mod video;
