//! When a post is polled next: often while it is young (views move fast), hourly for its
//! first week, then daily; failures back off exponentially; a jitter spreads polls so posts
//! registered together do not stay in lockstep.

use std::time::Duration;

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::domain::Timestamp;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrackingSettings {
    /// Run the poller inside `serve` (`viewmark worker` runs it alone).
    pub poll_in_serve: bool,
    /// Posts leased per round.
    pub batch_size: u32,
    /// A lease lasts this long; a worker that crashes loses its posts to others after it.
    pub lease_secs: u64,
    /// Pause between rounds when nothing is due.
    pub idle_ms: u64,
    /// Every `young_interval_secs` while younger than `young_for_secs`...
    pub young_interval_secs: u64,
    pub young_for_secs: u64,
    /// ...then every `adult_interval_secs` until `old_after_secs`...
    pub adult_interval_secs: u64,
    pub old_after_secs: u64,
    /// ...then every `old_interval_secs`.
    pub old_interval_secs: u64,
    /// Each interval is stretched or shrunk by up to this fraction at random.
    pub jitter: f64,
    /// After a failed poll, wait `retry_base_secs * 2^(failures-1)`, at most the
    /// `old_interval_secs`.
    pub retry_base_secs: u64,
    /// A post whose watermark is not found this many times is marked unverified.
    pub max_verify_attempts: u32,
    /// A verified post's media is checked again after this long (media can change).
    pub reverify_after_secs: u64,
}

impl Default for TrackingSettings {
    fn default() -> Self {
        TrackingSettings {
            poll_in_serve: true,
            batch_size: 100,
            lease_secs: 300,
            idle_ms: 2_000,
            young_interval_secs: 15 * 60,
            young_for_secs: 24 * 3600,
            adult_interval_secs: 3600,
            old_after_secs: 7 * 24 * 3600,
            old_interval_secs: 24 * 3600,
            jitter: 0.1,
            retry_base_secs: 300,
            max_verify_attempts: 3,
            reverify_after_secs: 24 * 3600,
        }
    }
}

impl TrackingSettings {
    /// The regular interval for a post of this age.
    pub fn interval_for_age(&self, age: Duration) -> Duration {
        let secs = if age.as_secs() < self.young_for_secs {
            self.young_interval_secs
        } else if age.as_secs() < self.old_after_secs {
            self.adult_interval_secs
        } else {
            self.old_interval_secs
        };
        Duration::from_secs(secs.max(1))
    }

    /// After a successful poll at `now` of a post registered at `created_at`.
    pub fn next_poll(&self, created_at: Timestamp, now: Timestamp) -> Timestamp {
        let age = (now - created_at).to_std().unwrap_or_default();
        now + self.jittered(self.interval_for_age(age))
    }

    /// After the `failures`-th failure in a row.
    pub fn next_retry(&self, failures: u32, now: Timestamp) -> Timestamp {
        let factor = 1u64 << failures.saturating_sub(1).min(20);
        let wait = self.retry_base_secs.saturating_mul(factor).min(self.old_interval_secs).max(1);
        now + self.jittered(Duration::from_secs(wait))
    }

    fn jittered(&self, interval: Duration) -> chrono::Duration {
        let spread = self.jitter.clamp(0.0, 0.9);
        let factor =
            if spread > 0.0 { rand::thread_rng().gen_range(1.0 - spread..=1.0 + spread) } else { 1.0 };
        chrono::Duration::milliseconds((interval.as_millis() as f64 * factor) as i64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    #[test]
    fn young_posts_are_polled_often_and_old_ones_daily() {
        let s = TrackingSettings { jitter: 0.0, ..TrackingSettings::default() };
        let created = Utc::now();
        let after = |hours: i64| {
            (s.next_poll(created, created + chrono::Duration::hours(hours)) - created).num_minutes()
        };
        assert_eq!(after(1), 60 + 15);
        assert_eq!(after(48), 48 * 60 + 60);
        assert_eq!(after(24 * 8), 24 * 8 * 60 + 24 * 60);
    }

    #[test]
    fn failures_back_off_to_a_ceiling_and_jitter_stays_in_bounds() {
        let s = TrackingSettings { jitter: 0.0, ..TrackingSettings::default() };
        let now = Utc::now();
        let wait = |f| (s.next_retry(f, now) - now).num_seconds();
        assert_eq!((wait(1), wait(2), wait(3)), (300, 600, 1200));
        assert_eq!(wait(30), 24 * 3600);
        let jittery = TrackingSettings::default();
        for _ in 0..100 {
            let minutes = (jittery.next_poll(now, now) - now).num_seconds();
            assert!((810..=990).contains(&minutes), "{minutes}");
        }
    }
}
