//! When a post is polled next: often while it is young (views move fast), hourly for its
//! first week, then daily; sooner while it gains views fast and later while it gains none;
//! failures back off exponentially; a jitter spreads polls so posts registered together do
//! not stay in lockstep.

use std::time::Duration;

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::domain::Timestamp;
use crate::platforms::quota::{plan, QuotaPlan};
use crate::platforms::settings::PlatformSettings;

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
    /// A post gaining views fast is polled often enough that each poll sees about this many
    /// new views (never later than its age's interval)...
    pub views_per_poll: u64,
    /// ...but not more often than this.
    pub fastest_interval_secs: u64,
    /// A post that gained no views since its previous poll waits this many times its age's
    /// interval (at most `old_interval_secs`).
    pub flat_interval_factor: u32,
    /// Each interval is stretched or shrunk by up to this fraction at random.
    pub jitter: f64,
    /// After a failed poll, wait `retry_base_secs * 2^(failures-1)`, at most the
    /// `old_interval_secs`.
    pub retry_base_secs: u64,
    /// A post whose watermark is not found this many times is marked unverified.
    pub max_verify_attempts: u32,
    /// A verified post's media is checked again after this long (media can change).
    pub reverify_after_secs: u64,
    /// Scanning accounts for posts their creators did not register.
    pub discovery: super::discovery::DiscoverySettings,
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
            views_per_poll: 1_000,
            fastest_interval_secs: 5 * 60,
            flat_interval_factor: 2,
            jitter: 0.1,
            retry_base_secs: 300,
            max_verify_attempts: 3,
            reverify_after_secs: 24 * 3600,
            discovery: Default::default(),
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
        self.next_poll_gaining(created_at, now, None)
    }

    /// The same, knowing how fast the post gained views since its previous poll (views per
    /// hour): a fast one is polled sooner, down to `fastest_interval_secs`; one that gained
    /// nothing waits `flat_interval_factor` times its age's interval, at most a day's.
    pub fn next_poll_gaining(
        &self,
        created_at: Timestamp,
        now: Timestamp,
        gain_per_hour: Option<f64>,
    ) -> Timestamp {
        let age = (now - created_at).to_std().unwrap_or_default();
        now + self.jittered(self.interval_following(self.interval_for_age(age), gain_per_hour))
    }

    fn interval_following(&self, base: Duration, gain_per_hour: Option<f64>) -> Duration {
        match gain_per_hour {
            Some(rate) if rate.is_finite() && rate > 0.0 => {
                let seconds = self.views_per_poll as f64 / rate * 3600.0;
                let floor = Duration::from_secs(self.fastest_interval_secs.max(1)).min(base);
                Duration::from_secs_f64(seconds.min(base.as_secs_f64())).max(floor)
            }
            Some(_) => (base * self.flat_interval_factor.max(1))
                .min(Duration::from_secs(self.old_interval_secs.max(1)).max(base)),
            None => base,
        }
    }

    /// After the `failures`-th failure in a row.
    pub fn next_retry(&self, failures: u32, now: Timestamp) -> Timestamp {
        let factor = 1u64 << failures.saturating_sub(1).min(20);
        let wait = self.retry_base_secs.saturating_mul(factor).min(self.old_interval_secs).max(1);
        now + self.jittered(Duration::from_secs(wait))
    }

    /// The intervals the schedule polls at: the fastest, then by age.
    pub fn intervals(&self) -> Vec<Duration> {
        let mut secs = vec![
            self.fastest_interval_secs,
            self.young_interval_secs,
            self.adult_interval_secs,
            self.old_interval_secs,
        ];
        secs.sort_unstable();
        secs.dedup();
        secs.into_iter().map(|s| Duration::from_secs(s.max(1))).collect()
    }

    /// How many posts each platform's budget sustains at this schedule's intervals.
    pub fn quota_plan(&self, platforms: &PlatformSettings) -> Vec<QuotaPlan> {
        plan(platforms, &self.intervals())
    }

    /// Publishes the quota plan as `viewmark_quota_sustained_posts{platform, interval_secs}`.
    pub fn publish_quota_plan(&self, platforms: &PlatformSettings) {
        for quota in self.quota_plan(platforms) {
            for (interval, posts) in &quota.sustained {
                metrics::gauge!("viewmark_quota_sustained_posts", "platform" => quota.platform.as_str(),
                    "interval_secs" => interval.to_string())
                .set(*posts as f64);
            }
        }
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
    fn fast_posts_are_polled_sooner_and_flat_ones_later() {
        let s = TrackingSettings { jitter: 0.0, ..TrackingSettings::default() };
        let created = Utc::now();
        let now = created + chrono::Duration::hours(48);
        let next = |rate| (s.next_poll_gaining(created, now, rate) - now).num_minutes();
        assert_eq!(next(None), 60, "an adult post, nothing known: hourly");
        assert_eq!(next(Some(4_000.0)), 15, "1,000 views a poll at 4,000 an hour");
        assert_eq!(next(Some(1e6)), 5, "never faster than the floor");
        assert_eq!(next(Some(10.0)), 60, "never slower than its age's interval while gaining");
        assert_eq!(next(Some(0.0)), 120, "flat: twice the interval");
        let old = created + chrono::Duration::days(30);
        assert_eq!((s.next_poll_gaining(created, old, Some(0.0)) - old).num_hours(), 24, "capped at daily");
        let young = created + chrono::Duration::minutes(10);
        let soon = (s.next_poll_gaining(created, young, Some(1e6)) - young).num_minutes();
        assert_eq!(soon, 5, "a young viral post too");
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
