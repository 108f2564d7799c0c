//! A creator's own view of what each post earned in a period: the views counted, the views
//! still inside the hold window (and when they leave it), the views not counted and why,
//! the flags raised on it, and what statements paid or clawed back.

use chrono::Duration;

use super::PayoutSettings;
use crate::domain::{Post, PostFlag, PostGains, PostPayment, PostStatus, Timestamp};

/// Why a post's views in the period are not counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotCounted {
    /// An open fraud flag holds the post out until an admin clears it.
    Flagged,
    /// The post was removed from its platform.
    Removed,
    /// The watermark check has not proved the post carries the creator's content.
    NotVerified,
}

impl NotCounted {
    pub fn as_str(self) -> &'static str {
        match self {
            NotCounted::Flagged => "flagged",
            NotCounted::Removed => "removed",
            NotCounted::NotVerified => "not_verified",
        }
    }
}

/// One post's earnings in a period.
#[derive(Debug, Clone, PartialEq)]
pub struct PostEarnings {
    /// Views the payout system counts for the period now.
    pub counted: u64,
    /// Views observed inside the hold window: counted once it passes, at `held_until`.
    pub held: u64,
    pub held_until: Option<Timestamp>,
    /// Views gained in the period that are not counted, and why.
    pub not_counted: u64,
    pub because: Option<NotCounted>,
}

/// A post's earnings from its gains in the period, by the rules the payout query applies:
/// a post counts when it was verified, is not removed and has no open flag.
pub fn post_earnings(
    post: &Post,
    gains: Option<&PostGains>,
    flags: &[PostFlag],
    settings: &PayoutSettings,
) -> PostEarnings {
    let (settled, held, held_last_at) = gains.map_or((0, 0, None), |g| (g.settled, g.held, g.held_last_at));
    let because = if flags.iter().any(|f| f.cleared_at.is_none()) {
        Some(NotCounted::Flagged)
    } else if post.status == PostStatus::Removed {
        Some(NotCounted::Removed)
    } else if post.evidence.is_none() {
        Some(NotCounted::NotVerified)
    } else {
        None
    };
    match because {
        Some(_) => PostEarnings {
            counted: 0,
            held: 0,
            held_until: None,
            not_counted: settled + held,
            because: (settled + held > 0).then_some(because).flatten(),
        },
        None => {
            let hold = Duration::seconds(i64::try_from(settings.hold_secs).unwrap_or(i64::MAX / 2_000));
            PostEarnings {
                counted: settled,
                held,
                held_until: held_last_at.map(|at| at + hold),
                not_counted: 0,
                because: None,
            }
        }
    }
}

/// What statements paid on a post (positive) and clawed back (negative), summed.
pub fn paid_and_clawed_back(payments: &[PostPayment]) -> (u64, u64) {
    payments.iter().fold((0, 0), |(paid, clawed), p| {
        let views = p.views.unsigned_abs();
        if p.views < 0 {
            (paid, clawed + views)
        } else {
            (paid + views, clawed)
        }
    })
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use uuid::Uuid;

    use super::*;
    use crate::domain::{Evidence, FlagKind, Platform, PostSource};

    fn post(status: PostStatus, verified: bool) -> Post {
        let at = Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).single().unwrap();
        Post {
            id: Uuid::new_v4().into(),
            creator_id: Uuid::new_v4().into(),
            social_account_id: Uuid::new_v4().into(),
            platform: Platform::X,
            platform_post_id: "1".into(),
            url: "https://x.com/i/status/1".into(),
            content_id: None,
            source: PostSource::Registered,
            status,
            status_reason: None,
            next_poll_at: at,
            failures: 0,
            last_polled_at: None,
            evidence: verified.then(|| Evidence { verified_at: at, media_sha256: "e".into(), score: 1.0 }),
            created_at: at,
        }
    }

    #[test]
    fn views_are_counted_held_or_withheld_by_the_payout_rules() {
        let settings = PayoutSettings::default();
        let at = Utc.with_ymd_and_hms(2026, 11, 2, 0, 0, 0).single().unwrap();
        let verified = post(PostStatus::Verified, true);
        let gains = PostGains { post_id: verified.id, settled: 500, held: 70, held_last_at: Some(at) };
        let earned = post_earnings(&verified, Some(&gains), &[], &settings);
        assert_eq!((earned.counted, earned.held, earned.not_counted, earned.because), (500, 70, 0, None));
        assert_eq!(earned.held_until, Some(at + Duration::hours(72)));
        // Nothing gained: nothing to say.
        assert_eq!(post_earnings(&verified, None, &[], &settings).because, None);

        let flag = |cleared: bool| PostFlag {
            id: Uuid::new_v4(),
            post_id: verified.id,
            kind: FlagKind::Velocity,
            detail: "1".into(),
            raised_at: at,
            cleared_at: cleared.then_some(at),
            cleared_by: None,
        };
        let flagged = post_earnings(&verified, Some(&gains), &[flag(true), flag(false)], &settings);
        assert_eq!((flagged.counted, flagged.held, flagged.not_counted), (0, 0, 570));
        assert_eq!(flagged.because, Some(NotCounted::Flagged));
        // A cleared flag holds nothing back.
        assert_eq!(post_earnings(&verified, Some(&gains), &[flag(true)], &settings).counted, 500);
        let removed = post_earnings(&post(PostStatus::Removed, true), Some(&gains), &[], &settings);
        assert_eq!((removed.not_counted, removed.because), (570, Some(NotCounted::Removed)));
        let pending = post_earnings(&post(PostStatus::Pending, false), Some(&gains), &[], &settings);
        assert_eq!((pending.not_counted, pending.because), (570, Some(NotCounted::NotVerified)));

        let payment = |views| PostPayment {
            statement_id: "s".into(),
            line_kind: "views".into(),
            views,
            last_snapshot_id: None,
        };
        assert_eq!(paid_and_clawed_back(&[payment(300), payment(200), payment(-300)]), (500, 300));
    }
}
