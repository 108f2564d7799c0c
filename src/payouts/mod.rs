//! Payouts: the rules the payout system relies on, apart from storage and HTTP. Verified
//! views per period count only snapshots older than the hold window (so botted spikes and
//! deleted posts are caught before money moves); periods are half-open `[from, to)`.

pub mod earnings;
pub mod fraud;
pub mod statement;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// Payout rules (`[payouts]` in the configuration).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PayoutSettings {
    /// Snapshots younger than this are not payable yet.
    pub hold_secs: u64,
    /// The longest period one query or statement may cover.
    pub max_period_days: u32,
    /// A post gaining faster than this many views per hour is always allowed...
    pub velocity_floor_per_hour: f64,
    /// ...beyond it, faster than this multiple of its account's historical rate is flagged.
    pub velocity_multiplier: f64,
    /// A post is held against its account's engagement only from this many views: below
    /// it, a handful of likes more or less swings the rate by more than the flag's margin.
    pub engagement_min_views: u64,
    /// ...and only when at least this many of the account's other posts reported
    /// engagement: one or two posts are not a history.
    pub engagement_min_history_posts: u64,
    /// ...and it is flagged when it drew this many times less engagement per view than
    /// those posts. An account's posts vary in engagement rate by a few times; bought
    /// views bring none, and leave a post an order of magnitude below.
    pub engagement_gap_ratio: f64,
}

impl Default for PayoutSettings {
    fn default() -> Self {
        PayoutSettings {
            hold_secs: 72 * 3600,
            max_period_days: 366,
            velocity_floor_per_hour: 10_000.0,
            velocity_multiplier: 50.0,
            engagement_min_views: 10_000,
            engagement_min_history_posts: 3,
            engagement_gap_ratio: 10.0,
        }
    }
}

/// Why a period is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeriodError {
    #[error("`from` must be before `to`")]
    Empty,
    #[error("a period may cover at most {0} days")]
    TooLong(u32),
    #[error("the period ends after the hold window's edge ({0}): its views are not final yet")]
    NotYetFinal(DateTime<Utc>),
}

/// A half-open period `[from, to)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

impl Period {
    pub fn parse(
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        settings: &PayoutSettings,
    ) -> Result<Period, PeriodError> {
        if from >= to {
            return Err(PeriodError::Empty);
        }
        if to - from > Duration::days(i64::from(settings.max_period_days)) {
            return Err(PeriodError::TooLong(settings.max_period_days));
        }
        Ok(Period { from, to })
    }

    /// The edge of the hold window: snapshots observed before it are payable.
    pub fn hold_edge(now: DateTime<Utc>, settings: &PayoutSettings) -> DateTime<Utc> {
        now - Duration::seconds(i64::try_from(settings.hold_secs).unwrap_or(i64::MAX / 2_000))
    }

    /// Where the payable part of the period ends now: the hold window's edge, kept within
    /// `[from, to]`.
    pub fn payable_until(&self, now: DateTime<Utc>, settings: &PayoutSettings) -> DateTime<Utc> {
        self.to.min(Self::hold_edge(now, settings)).max(self.from)
    }

    /// The part of the period whose snapshots are payable now: `[from, payable_until)`, or
    /// `None` when none is.
    pub fn payable(&self, now: DateTime<Utc>, settings: &PayoutSettings) -> Option<Period> {
        let to = self.payable_until(now, settings);
        (self.from < to).then_some(Period { from: self.from, to })
    }

    /// A statement freezes a period: only once all of it is past the hold window.
    pub fn final_by(&self, now: DateTime<Utc>, settings: &PayoutSettings) -> Result<(), PeriodError> {
        let edge = Self::hold_edge(now, settings);
        if self.to > edge {
            return Err(PeriodError::NotYetFinal(edge));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at(h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).single().unwrap() + Duration::hours(i64::from(h))
    }

    #[test]
    fn the_hold_window_cuts_the_payable_part() {
        let settings = PayoutSettings::default(); // 72 h
        let period = Period::parse(at(0), at(48), &settings).unwrap();
        assert_eq!(period.payable(at(100), &settings), Some(Period { from: at(0), to: at(28) }));
        assert_eq!(period.payable(at(72), &settings), None);
        assert_eq!(period.payable_until(at(72), &settings), at(0));
        assert_eq!(period.payable_until(at(100), &settings), at(28));
        assert_eq!(period.payable_until(at(200), &settings), at(48));
        assert_eq!(period.payable(at(200), &settings), Some(period));
        assert!(period.final_by(at(119), &settings).is_err());
        assert!(period.final_by(at(120), &settings).is_ok());
        assert_eq!(Period::parse(at(5), at(5), &settings), Err(PeriodError::Empty));
        assert_eq!(Period::parse(at(0), at(24 * 400), &settings), Err(PeriodError::TooLong(366)));
    }
}
