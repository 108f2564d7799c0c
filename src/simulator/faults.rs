//! Faults the simulated platforms inject on demand.

use serde::{Deserialize, Serialize};

use crate::domain::Platform;

/// Which part of the simulator a fault hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FaultTarget {
    Youtube,
    Tiktok,
    Instagram,
    X,
    /// Picture downloads.
    Media,
}

impl From<Platform> for FaultTarget {
    fn from(platform: Platform) -> Self {
        match platform {
            Platform::Youtube => FaultTarget::Youtube,
            Platform::Tiktok => FaultTarget::Tiktok,
            Platform::Instagram => FaultTarget::Instagram,
            Platform::X => FaultTarget::X,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(tag = "fault", rename_all = "snake_case")]
pub enum FaultKind {
    /// The platform's own rate-limit answer (YouTube rateLimitExceeded, TikTok 429, Instagram
    /// code 4, X 429 with `x-rate-limit-reset`).
    RateLimit {
        retry_after_secs: u64,
    },
    /// YouTube's daily quota answer.
    QuotaExceeded,
    ServerError {
        status: u16,
    },
    Slow {
        delay_ms: u64,
    },
    /// Never answers.
    Hang,
    /// The body is cut in half.
    Truncated,
    /// Media: bytes that are not a picture.
    CorruptImage,
    /// Media: a tiny PNG that claims to be 50000x50000 pixels.
    HugeImage,
    /// Media: an endless body with no length.
    OversizedBody,
    /// Media: HTML where a picture should be.
    WrongContentType,
    /// Media: a redirect to this location (e.g. the cloud metadata address).
    RedirectTo {
        location: String,
    },
    /// Media: redirects that never end.
    RedirectLoop,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Fault {
    pub target: FaultTarget,
    #[serde(flatten)]
    pub kind: FaultKind,
    /// How many requests it hits.
    #[serde(default = "one")]
    pub times: u32,
}

fn one() -> u32 {
    1
}
