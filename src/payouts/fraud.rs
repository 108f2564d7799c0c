//! Fraud signals raised when a snapshot is stored: a view count that goes down, a gain
//! faster than the account's history makes plausible, and views far ahead of the engagement
//! the account's posts draw. A flagged post is held out of statements until an admin clears
//! it. Details hold numbers only.

use chrono::{DateTime, Utc};

use super::PayoutSettings;
use crate::domain::{Engagement, EngagementHistory, FlagKind, VelocityContext};

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

/// Whether a snapshot can raise the engagement flag at all: enough views, and a count to
/// compare. The account's history is read only then.
pub fn engagement_matters(views: u64, engagement: Engagement, settings: &PayoutSettings) -> bool {
    views >= settings.engagement_min_views
        && (engagement.likes.is_some() || engagement.comments.is_some() || engagement.shares.is_some())
}

/// The engagement flag a post at `views` raises against its account's other posts. The
/// engagement expected is the account's rate per view times the post's views, summed over
/// the kinds of count this post reports and the history holds (a platform that hides a
/// count on one post is not read as a post without it); the post is flagged when it drew
/// less than that divided by `engagement_gap_ratio`.
pub fn assess_engagement(
    views: u64,
    engagement: Engagement,
    history: &EngagementHistory,
    settings: &PayoutSettings,
) -> Option<(FlagKind, String)> {
    if !engagement_matters(views, engagement, settings)
        || history.posts < settings.engagement_min_history_posts
    {
        return None;
    }
    let mut drew = 0u64;
    let mut expected = 0.0f64;
    let kinds = [
        (engagement.likes, history.likes),
        (engagement.comments, history.comments),
        (engagement.shares, history.shares),
    ];
    for (count, past) in kinds {
        if let (Some(count), true) = (count, past.views > 0) {
            drew = drew.saturating_add(count);
            expected += past.count as f64 / past.views as f64 * views as f64;
        }
    }
    if expected <= 0.0 || drew as f64 * settings.engagement_gap_ratio >= expected {
        return None;
    }
    let per_thousand = |n: f64| n * 1000.0 / views as f64;
    Some((
        FlagKind::EngagementGap,
        format!(
            "{drew} engagements on {views} views ({:.2} per 1000) against {:.2} per 1000 on the account's {} other posts",
            per_thousand(drew as f64),
            per_thousand(expected),
            history.posts
        ),
    ))
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

    #[test]
    fn views_far_ahead_of_the_accounts_engagement_are_flagged() {
        use crate::domain::CountHistory;
        let settings = PayoutSettings::default();
        // Three posts with 300 000 views between them drew 12 000 likes and 900 comments:
        // 40 likes and 3 comments per 1000 views.
        let history = EngagementHistory {
            posts: 3,
            likes: CountHistory { count: 12_000, views: 300_000 },
            comments: CountHistory { count: 900, views: 300_000 },
            shares: CountHistory::default(),
        };
        let counts =
            |likes, comments| Engagement { likes: Some(likes), comments: Some(comments), shares: None };
        // 100 000 views: 4 300 engagements expected, a tenth of it is 430.
        assert!(assess_engagement(100_000, counts(400, 30), &history, &settings).is_none());
        let (kind, detail) = assess_engagement(100_000, counts(400, 29), &history, &settings).unwrap();
        assert_eq!(kind, FlagKind::EngagementGap);
        assert_eq!(detail, "429 engagements on 100000 views (4.29 per 1000) against 43.00 per 1000 on the account's 3 other posts");
        // Too few views, too short a history, or no count to compare: nothing.
        assert!(assess_engagement(9_999, counts(0, 0), &history, &settings).is_none());
        assert!(assess_engagement(
            100_000,
            counts(0, 0),
            &EngagementHistory { posts: 2, ..history },
            &settings
        )
        .is_none());
        assert!(assess_engagement(100_000, Engagement::default(), &history, &settings).is_none());
        // A count the post hides is not read as none: comments alone are compared.
        let hidden_likes = Engagement { likes: None, comments: Some(30), shares: None };
        assert!(assess_engagement(100_000, hidden_likes, &history, &settings).is_none());
        let (_, detail) = assess_engagement(
            100_000,
            Engagement { comments: Some(29), ..hidden_likes },
            &history,
            &settings,
        )
        .unwrap();
        assert!(detail.starts_with("29 engagements"), "{detail}");
        // A count the history never had (shares) is left out of both sides.
        let shared = Engagement { shares: Some(0), ..counts(400, 30) };
        assert!(assess_engagement(100_000, shared, &history, &settings).is_none());
    }
}
