#![allow(clippy::unwrap_used, clippy::expect_used)]

//! Integration tests: the storage conformance suite (both backends), the HTTP routes over
//! the real server, and the CLI driven as a real process.

mod support;

mod auth_matrix;
mod batch_failures;
mod carousels;
mod cli;
mod collage;
mod conformance;
mod content_deletion;
mod contents_api;
mod contracts;
mod copy_attack;
mod creators_api;
mod demo;
mod discovery;
mod disputes;
mod earnings;
mod engagement;
mod erasure;
mod export;
mod fingerprint_review;
mod http_shell;
mod jwks;
mod leases;
mod log_guard;
mod media_fetch;
mod oauth_linking;
mod openapi;
mod outbound_webhooks;
mod payouts;
mod platforms;
mod policy_versions;
mod profile;
mod refreshed_tokens;
mod retention;
mod rollup;
mod shredding;
mod social_accounts_api;
mod tracking;
mod unlinking;
mod video;
mod video_api;
mod video_robustness;
mod video_tracking;
mod watermark;
mod workers;
