//! Fraud signals raised when a snapshot is stored: a view count that goes down, and a gain
//! faster than the account's history makes plausible. A flagged post is held out of
//! statements until an admin clears it. Details hold numbers only.

use chrono::{DateTime, Utc};

use super::PayoutSettings;
use crate::store::{FlagKind, VelocityContext};

/// The flags a new observation of `views` at `now` raises.
pub fn assess(
    context: &VelocityContext,
    now: DateTime<Utc>,
    views: u64,
    settings: &PayoutSettings,
) -> Vec<(FlagKind, String)> {
    let Some((then, before)) = context.latest else { return vec![] };
    if views < before {
        return vec![(FlagKind::ViewsDecreased, format!("views went from {before} to {views}"))];
    }
    // At least a minute apart, so two polls in quick succession do not look infinitely fast.
    let hours = ((now - then).num_milliseconds().max(60_000) as f64) / 3_600_000.0;
    let rate = (views - before) as f64 / hours;
    let ceiling = context.account_views_per_hour.map_or(settings.velocity_floor_per_hour, |history| {
        (history * settings.velocity_multiplier).max(settings.velocity_floor_per_hour)
    });
    if rate > ceiling {
        return vec![(FlagKind::Velocity, format!("{rate:.0} views/hour against a ceiling of {ceiling:.0}"))];
    }
    vec![]
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
    }
}
