//! Outbound webhooks in the Standard Webhooks format: each delivery is signed with the
//! endpoint's secret (`webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64
//! HMAC-SHA256 of "{id}.{timestamp}.{body}">`), sent at least once, retried with exponential
//! backoff until the retry window closes, and logged attempt by attempt. The deliverer runs
//! in its own task with its own HTTP client, timeout and concurrency bound, so an endpoint
//! that hangs or fails never slows the poller or the API. Endpoints' addresses go through the
//! same policy as media fetches (no loopback, private or metadata addresses).

mod deliver;

use std::time::Duration;

use chrono::Utc;
use serde::{Deserialize, Serialize};

pub use deliver::{run_deliverer, Deliverer};

use crate::domain::Timestamp;

/// Outbound delivery (`[outbound_webhooks]` in the configuration).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeliverySettings {
    /// How long one attempt may take, connection included.
    pub timeout_ms: u64,
    /// The first retry's delay; each later one doubles it...
    pub retry_base_secs: u64,
    /// ...up to this.
    pub retry_max_secs: u64,
    /// A delivery not made this long after its event is given up on (a replay sends it again).
    pub give_up_after_secs: u64,
    /// Attempts in flight at once, across endpoints.
    pub concurrency: usize,
    /// Settled events (and their delivery log) older than this are deleted.
    pub keep_log_days: u64,
    /// Only for tests and local receivers: endpoints on loopback addresses.
    pub allow_loopback: bool,
}

impl Default for DeliverySettings {
    fn default() -> Self {
        DeliverySettings {
            timeout_ms: 10_000,
            retry_base_secs: 5,
            retry_max_secs: 6 * 3600,
            give_up_after_secs: 3 * 24 * 3600,
            concurrency: 8,
            keep_log_days: 30,
            allow_loopback: false,
        }
    }
}

impl DeliverySettings {
    /// When to try again after `attempts` failed attempts of an event created at `created`,
    /// or `None` when the retry window is over.
    pub fn retry_at(&self, attempts: u32, created: Timestamp, now: Timestamp) -> Option<Timestamp> {
        let doubling = 2u64.saturating_pow(attempts.saturating_sub(1));
        let delay = self.retry_base_secs.saturating_mul(doubling).min(self.retry_max_secs);
        let at = now + chrono::Duration::seconds(i64::try_from(delay).unwrap_or(i64::MAX / 2_000));
        let window =
            chrono::Duration::seconds(i64::try_from(self.give_up_after_secs).unwrap_or(i64::MAX / 2_000));
        (at <= created + window).then_some(at)
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }
}

/// The `webhook-timestamp` of an attempt made now.
pub fn timestamp_now() -> i64 {
    Utc::now().timestamp()
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn retries_back_off_exponentially_until_the_window_closes() {
        let settings = DeliverySettings::default();
        let created = Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap();
        let after = |attempts: u32, now: Timestamp| {
            settings.retry_at(attempts, created, now).map(|t| (t - now).num_seconds())
        };
        assert_eq!(after(1, created), Some(5));
        assert_eq!(after(2, created), Some(10));
        assert_eq!(after(5, created), Some(80));
        assert_eq!(after(30, created), Some(6 * 3600), "capped");
        let late = created + chrono::Duration::hours(70);
        assert_eq!(after(30, late), None, "past three days: given up");
        assert_eq!(after(1, late), Some(5), "a short delay still inside the window");
    }
}
