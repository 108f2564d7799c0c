//! viewmark: invisible watermarks in creators' outputs, verified views of the social posts
//! that carry them, and consent enforced at every step.

pub mod api;
pub mod cli;
pub mod config;
pub mod consent;
pub mod demo;
pub mod domain;
pub mod keys;
pub mod media;
pub mod payouts;
pub mod platforms;
pub mod secret;
pub mod simulator;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod tracking;
pub mod watermark;
pub mod webhooks;
