//! The quota planner: how many posts each platform's configured budget can poll at a given
//! interval. A budget is the app's (YouTube units a day, X lookups per 15 minutes) or each
//! creator token's (TikTok requests a minute, Instagram calls an hour); a poll of a batch
//! costs what the adapter spends on it.

use std::time::Duration;

use serde::Serialize;

use super::settings::PlatformSettings;
use super::{instagram, tiktok, x, youtube};
use crate::domain::Platform;

/// Whose budget a platform's requests draw from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BudgetHolder {
    /// One budget for the whole service.
    App,
    /// One budget per creator token: the figures are per linked account.
    EachCreatorToken,
}

/// One platform's budget, and the posts it sustains at each interval asked about.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QuotaPlan {
    pub platform: Platform,
    pub holder: BudgetHolder,
    /// Post polls an hour the budget pays for.
    pub post_polls_per_hour: f64,
    /// (interval in seconds, posts polled at that interval the budget sustains).
    pub sustained: Vec<(u64, u64)>,
}

/// The plan of every platform for polls at these intervals.
pub fn plan(settings: &PlatformSettings, intervals: &[Duration]) -> Vec<QuotaPlan> {
    Platform::ALL
        .into_iter()
        .map(|platform| {
            let (holder, post_polls_per_hour) = post_polls_per_hour(settings, platform);
            let sustained = intervals
                .iter()
                .map(|i| (i.as_secs(), (post_polls_per_hour * i.as_secs_f64() / 3600.0).floor() as u64))
                .collect();
            QuotaPlan { platform, holder, post_polls_per_hour, sustained }
        })
        .collect()
}

/// What a post poll costs each platform, against its budget an hour.
fn post_polls_per_hour(settings: &PlatformSettings, platform: Platform) -> (BudgetHolder, f64) {
    match platform {
        // `videos.list` and `channels.list` (the authors' handles): one unit each per batch.
        Platform::Youtube => {
            let units_per_post = 2.0 / youtube::BATCH as f64;
            (BudgetHolder::App, f64::from(settings.youtube.daily_quota_units) / 24.0 / units_per_post)
        }
        // One lookup per batch.
        Platform::X => (BudgetHolder::App, f64::from(settings.x.requests_per_15_min) * 4.0 * x::BATCH as f64),
        // One video query per batch.
        Platform::Tiktok => (
            BudgetHolder::EachCreatorToken,
            f64::from(settings.tiktok.requests_per_minute) * 60.0 * tiktok::BATCH as f64,
        ),
        // A page of the creator's media per batch, then the insights of each post.
        Platform::Instagram => {
            let calls_per_post = 1.0 + 1.0 / instagram::BATCH as f64;
            (
                BudgetHolder::EachCreatorToken,
                f64::from(settings.instagram.requests_per_user_per_hour) / calls_per_post,
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_budgets_sustain_these_posts() {
        let hour = Duration::from_secs(3600);
        let plans = plan(&PlatformSettings::default(), &[Duration::from_secs(900), hour]);
        let of = |p: Platform| plans.iter().find(|q| q.platform == p).unwrap();
        // 10,000 units a day, two units per 50 posts.
        assert_eq!(of(Platform::Youtube).sustained, [(900, 2604), (3600, 10_416)]);
        // 300 lookups per 15 minutes, 100 posts each.
        assert_eq!(of(Platform::X).sustained, [(900, 30_000), (3600, 120_000)]);
        // 200 calls an hour per token, 1.04 calls per post.
        assert_eq!(of(Platform::Instagram).sustained, [(900, 48), (3600, 192)]);
        assert_eq!(of(Platform::Instagram).holder, BudgetHolder::EachCreatorToken);
        assert_eq!(of(Platform::Tiktok).sustained[0], (900, 180_000));
    }

    #[test]
    fn a_smaller_budget_sustains_fewer_posts() {
        let mut settings = PlatformSettings::default();
        settings.x.requests_per_15_min = 30;
        let plans = plan(&settings, &[Duration::from_secs(3600)]);
        assert_eq!(plans.iter().find(|q| q.platform == Platform::X).unwrap().sustained, [(3600, 12_000)]);
    }
}
