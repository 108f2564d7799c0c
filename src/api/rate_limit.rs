//! Inbound rate limiting per caller (a creator, or a service token), so that one caller
//! cannot starve the others. Over the limit: 429 with `Retry-After`.

use std::num::NonZeroU32;

use actix_web::http::StatusCode;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

use super::error::ApiError;

/// Keys kept before idle ones are pruned (a bound on memory, not on callers).
const PRUNE_ABOVE: usize = 10_000;

pub struct CallerLimiter {
    limiter: DefaultKeyedRateLimiter<String>,
    clock: DefaultClock,
}

impl CallerLimiter {
    pub fn new(settings: &RateLimitSettings) -> CallerLimiter {
        let per_minute = NonZeroU32::new(settings.per_minute.max(1)).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(settings.burst.max(1)).unwrap_or(NonZeroU32::MIN);
        CallerLimiter {
            limiter: DefaultKeyedRateLimiter::keyed(Quota::per_minute(per_minute).allow_burst(burst)),
            clock: DefaultClock::default(),
        }
    }

    /// Admits one request from `caller_key`, or says how long to wait.
    pub fn check(&self, caller_key: &str) -> Result<(), ApiError> {
        if self.limiter.len() > PRUNE_ABOVE {
            self.limiter.retain_recent();
        }
        self.limiter.check_key(&caller_key.to_owned()).map_err(|not_until| {
            let wait = not_until.wait_time_from(self.clock.now());
            let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", "too many requests: slow down")
                .with_retry_after(seconds.max(1))
        })
    }
}

/// Requests each caller (creator or service token) may make.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct RateLimitSettings {
    /// Sustained rate.
    pub per_minute: u32,
    /// Requests allowed at once above the sustained rate.
    pub burst: u32,
}
