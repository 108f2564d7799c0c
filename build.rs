//! Tells the integration tests what this machine can run, so a test that cannot run here is
//! reported as ignored, with how to run it, instead of passing without running:
//! `viewmark_test_postgres` when `VIEWMARK_TEST_POSTGRES_URL` names a test server, and
//! `viewmark_test_ffmpeg` when `ffmpeg` and `ffprobe` are on the `PATH`. CI sets
//! `VIEWMARK_TEST_REQUIRE_POSTGRES` and `VIEWMARK_TEST_REQUIRE_FFMPEG`, which turn a missing
//! one into a failed build. After installing ffmpeg without changing the `PATH`, run
//! `touch build.rs` so the check runs again.

use std::process::{Command, Stdio};

fn runs(program: &str) -> bool {
    Command::new(program)
        .arg("-version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

fn main() {
    println!("cargo::rustc-check-cfg=cfg(viewmark_test_postgres)");
    println!("cargo::rustc-check-cfg=cfg(viewmark_test_ffmpeg)");
    for var in [
        "VIEWMARK_TEST_POSTGRES_URL",
        "VIEWMARK_TEST_REQUIRE_POSTGRES",
        "VIEWMARK_TEST_REQUIRE_FFMPEG",
        "PATH",
    ] {
        println!("cargo::rerun-if-env-changed={var}");
    }
    println!("cargo::rerun-if-changed=build.rs");

    if std::env::var_os("VIEWMARK_TEST_POSTGRES_URL").is_some() {
        println!("cargo::rustc-cfg=viewmark_test_postgres");
    } else if std::env::var_os("VIEWMARK_TEST_REQUIRE_POSTGRES").is_some() {
        panic!("VIEWMARK_TEST_REQUIRE_POSTGRES is set but VIEWMARK_TEST_POSTGRES_URL is not");
    }
    if runs("ffmpeg") && runs("ffprobe") {
        println!("cargo::rustc-cfg=viewmark_test_ffmpeg");
    } else if std::env::var_os("VIEWMARK_TEST_REQUIRE_FFMPEG").is_some() {
        panic!("VIEWMARK_TEST_REQUIRE_FFMPEG is set but ffmpeg or ffprobe does not run");
    }
}
