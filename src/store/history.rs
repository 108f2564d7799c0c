//! An account's history, the yardstick the fraud checks hold a new snapshot against: its
//! gain rate over all its posts, and the engagement its other posts drew per view.

use async_trait::async_trait;
use sqlx::Row;

use super::backend::SqlStore;
use super::StoreResult;
use crate::domain::{CountHistory, EngagementHistory, PostId};

#[async_trait]
pub trait AccountHistoryRepo: Send + Sync {
    /// The historical gain rate of the account that published the post, views per hour over
    /// all its posts (`None` with under an hour of history).
    async fn account_views_per_hour(&self, post_id: PostId) -> StoreResult<Option<f64>>;
    /// The engagement drawn by the other posts of the account that published the post, from
    /// each one's latest snapshot with views and a count.
    async fn account_engagement(&self, post_id: PostId) -> StoreResult<EngagementHistory>;
}

#[async_trait]
impl AccountHistoryRepo for SqlStore {
    async fn account_views_per_hour(&self, post_id: PostId) -> StoreResult<Option<f64>> {
        // The account's history: views gained and hours observed, over all its posts.
        let history = sqlx::query(
            "SELECT CAST(SUM(hi - lo) AS BIGINT) AS gained, CAST(SUM(last_at - first_at) AS BIGINT) AS span FROM ( \
               SELECT MAX(v.views) AS hi, MIN(v.views) AS lo, MAX(v.observed_at) AS last_at, MIN(v.observed_at) AS first_at \
               FROM view_snapshots v JOIN posts p ON p.id = v.post_id \
               WHERE p.social_account_id = (SELECT social_account_id FROM posts WHERE id = $1) \
               GROUP BY v.post_id) h",
        )
        .bind(post_id.to_string())
        .fetch_one(&self.pool)
        .await?;
        let gained: Option<i64> = history.try_get("gained")?;
        let span_ms: Option<i64> = history.try_get("span")?;
        Ok(match (gained, span_ms) {
            (Some(g), Some(ms)) if ms >= 3_600_000 => Some(g as f64 / (ms as f64 / 3_600_000.0)),
            _ => None,
        })
    }

    async fn account_engagement(&self, post_id: PostId) -> StoreResult<EngagementHistory> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS posts, \
               CAST(SUM(s.likes) AS BIGINT) AS likes, \
               CAST(SUM(CASE WHEN s.likes IS NULL THEN 0 ELSE s.views END) AS BIGINT) AS likes_views, \
               CAST(SUM(s.comments) AS BIGINT) AS comments, \
               CAST(SUM(CASE WHEN s.comments IS NULL THEN 0 ELSE s.views END) AS BIGINT) AS comments_views, \
               CAST(SUM(s.shares) AS BIGINT) AS shares, \
               CAST(SUM(CASE WHEN s.shares IS NULL THEN 0 ELSE s.views END) AS BIGINT) AS shares_views \
             FROM view_snapshots s JOIN posts p ON p.id = s.post_id \
             WHERE p.social_account_id = (SELECT social_account_id FROM posts WHERE id = $1) AND p.id <> $1 \
               AND s.id = (SELECT l.id FROM view_snapshots l WHERE l.post_id = s.post_id \
                           ORDER BY l.observed_at DESC, l.id DESC LIMIT 1) \
               AND s.views > 0 AND (s.likes IS NOT NULL OR s.comments IS NOT NULL OR s.shares IS NOT NULL)",
        )
        .bind(post_id.to_string())
        .fetch_one(&self.pool)
        .await?;
        let sum = |column: &str| -> StoreResult<u64> {
            Ok(row.try_get::<Option<i64>, _>(column)?.map_or(0, |n| u64::try_from(n).unwrap_or(0)))
        };
        let kind = |count: &str, views: &str| -> StoreResult<CountHistory> {
            Ok(CountHistory { count: sum(count)?, views: sum(views)? })
        };
        Ok(EngagementHistory {
            posts: u64::try_from(row.try_get::<i64, _>("posts")?).unwrap_or(0),
            likes: kind("likes", "likes_views")?,
            comments: kind("comments", "comments_views")?,
            shares: kind("shares", "shares_views")?,
        })
    }
}
