//! Fraud signals raised when a snapshot is stored: a view count that goes down, and a gain
//! faster than the account's history makes plausible. A flagged post is held out of
//! statements until an admin clears it. Details hold numbers only.

use chrono::{DateTime, Utc};

use super::PayoutSettings;
use crate::domain::{FlagKind, VelocityContext};

/// The flags a new observation of `views` at `now` raises.
pub fn assess(
    context: &VelocityContext,
    now: DateTime<Utc>,
    views: u64,
    settings: &PayoutSettings,
) -> Vec<(FlagKind, String)> {
    let Some((_, before)) = context.latest else { return vec![] };
    if views < before {
        return vec![(FlagKind::ViewsDecreased, format!("views went from {before} to {views}"))];
    }
    let Some(rate) = gain_rate(context.latest, now, views) else { return vec![] };
    let ceiling = context.account_views_per_hour.map_or(settings.velocity_floor_per_hour, |history| {
        (history * settings.velocity_multiplier).max(settings.velocity_floor_per_hour)
    });
    if rate > ceiling {
        return vec![(FlagKind::Velocity, format!("{rate:.0} views/hour against a ceiling of {ceiling:.0}"))];
    }
    vec![]
}

/// Views per hour gained since the latest snapshot (`None` without one, or on a decrease).
pub fn gain_rate(latest: Option<(DateTime<Utc>, u64)>, now: DateTime<Utc>, views: u64) -> Option<f64> {
    let (then, before) = latest?;
    // At least a minute apart, so two polls in quick succession do not look infinitely fast.
    let hours = ((now - then).num_milliseconds().max(60_000) as f64) / 3_600_000.0;
    Some(views.checked_sub(before)? as f64 / hours)
}

/// Whether the account's history can matter: the ceiling is never below the floor, so a gain
/// at or under it is never flagged and the history need not be read.
pub fn needs_history(
    latest: Option<(DateTime<Utc>, u64)>,
    now: DateTime<Utc>,
    views: u64,
    settings: &PayoutSettings,
) -> bool {
    gain_rate(latest, now, views).is_some_and(|rate| rate > settings.velocity_floor_per_hour)
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;

    #[test]
    fn decreases_and_implausible_jumps_are_flagged() {
        let settings = PayoutSettings {
            velocity_floor_per_hour: 1000.0,
            velocity_multiplier: 10.0,
            ..Default::default()
        };
        let now = Utc::now();
        let context = |views, history| VelocityContext {
            latest: Some((now - Duration::hours(2), views)),
            account_views_per_hour: history,
        };
        assert!(assess(&VelocityContext { latest: None, account_views_per_hour: None }, now, 5, &settings)
            .is_empty());
        assert_eq!(assess(&context(500, None), now, 400, &settings)[0].0, FlagKind::ViewsDecreased);
        // 2 000 views in 2 hours = 1 000/h: at the floor, fine; 2 002 is over it.
        assert!(assess(&context(0, None), now, 2000, &settings).is_empty());
        assert_eq!(assess(&context(0, None), now, 2002, &settings)[0].0, FlagKind::Velocity);
        // An account that usually gains 500/h may gain up to 5 000/h.
        assert!(assess(&context(0, Some(500.0)), now, 10_000, &settings).is_empty());
        assert_eq!(assess(&context(0, Some(500.0)), now, 10_002, &settings)[0].0, FlagKind::Velocity);
        // The history is read only when the gain beats the floor: below it nothing is flagged.
        let latest = Some((now - Duration::hours(2), 0));
        assert!(!needs_history(latest, now, 2000, &settings));
        assert!(needs_history(latest, now, 2002, &settings));
        assert!(!needs_history(latest, now, 0, &settings) && !needs_history(None, now, 9_999_999, &settings));
    }
}
