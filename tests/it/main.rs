#![allow(clippy::unwrap_used, clippy::expect_used)]

//! Integration tests: the storage conformance suite (both backends), the HTTP shell over
//! the real server, and the CLI driven as a real process.

mod support;

mod cli;
mod conformance;
mod http_shell;
mod watermark;
mod wm_support;
