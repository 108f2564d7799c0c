//! The roll-up behind the payout queries. Each snapshot stores its gain over its post's
//! previous snapshot (`gain_over`), and `creator_day_views` holds, per creator and UTC day,
//! the gains of the creator's counted posts: verified at some time, not removed, no open
//! flag. A post's `counted` column says whether its gains are in the totals now.
//!
//! Everything that can move a post's gains (a snapshot stored, a flag raised or cleared, the
//! post verified or removed) recounts that post in the same transaction, so the totals never
//! disagree with the snapshots. A period reads its whole days from the totals and only its
//! partial days from the snapshots.

use std::collections::BTreeMap;

use sqlx::{Any, Row, Transaction};

use super::StoreResult;
use crate::domain::gain_over;

/// One UTC day in milliseconds: the totals' granularity.
pub(super) const DAY_MS: i64 = 86_400_000;

/// Whether a post's gains count now (a SQL expression over `posts`).
const PAYABLE: &str = "CAST(CASE WHEN verified_at IS NOT NULL AND status <> 'removed' \
       AND NOT EXISTS (SELECT 1 FROM post_flags f WHERE f.post_id = posts.id AND f.cleared_at IS NULL) \
     THEN 1 ELSE 0 END AS BIGINT)";

/// Recounts one post inside `tx`. The post's row is written first: on SQLite that takes the
/// write lock before anything is read, on PostgreSQL it locks the row, so two recounts of a
/// post never interleave and each reads what the other committed. The post's snapshots get
/// their gains recomputed, and each day's total moves by the difference between what the
/// post counted for there and what it counts for now. Days are moved in order, so
/// transactions touching one creator's days always lock them in the same order.
pub(super) async fn recount_post(tx: &mut Transaction<'static, Any>, post_id: &str) -> StoreResult<()> {
    let locked = sqlx::query("UPDATE posts SET counted = counted WHERE id = $1")
        .bind(post_id)
        .execute(&mut **tx)
        .await?;
    if locked.rows_affected() == 0 {
        return Ok(());
    }
    let post =
        sqlx::query(&format!("SELECT creator_id, counted, {PAYABLE} AS payable FROM posts WHERE id = $1"))
            .bind(post_id)
            .fetch_one(&mut **tx)
            .await?;
    let creator_id: String = post.try_get("creator_id")?;
    let counted = post.try_get::<i64, _>("counted")? != 0;
    let payable = post.try_get::<i64, _>("payable")? != 0;
    let snapshots = sqlx::query(
        "SELECT id, observed_at, views, baseline, gained FROM view_snapshots WHERE post_id = $1 ORDER BY poll_slot",
    )
    .bind(post_id)
    .fetch_all(&mut **tx)
    .await?;
    let mut moved: BTreeMap<i64, i64> = BTreeMap::new();
    let mut previous = None;
    for row in &snapshots {
        let views = u64::try_from(row.try_get::<i64, _>("views")?).unwrap_or(0);
        let baseline = row.try_get::<i64, _>("baseline")? != 0;
        let stored: i64 = row.try_get("gained")?;
        let gained = i64::try_from(gain_over(previous, views, baseline)).unwrap_or(i64::MAX);
        previous = Some(views);
        if gained != stored {
            sqlx::query("UPDATE view_snapshots SET gained = $2 WHERE id = $1")
                .bind(row.try_get::<i64, _>("id")?)
                .bind(gained)
                .execute(&mut **tx)
                .await?;
        }
        let was = if counted { stored } else { 0 };
        let now = if payable { gained } else { 0 };
        if was != now {
            let day = row.try_get::<i64, _>("observed_at")?.div_euclid(DAY_MS);
            *moved.entry(day).or_default() += now - was;
        }
    }
    for (day, delta) in moved.into_iter().filter(|(_, delta)| *delta != 0) {
        sqlx::query(
            "INSERT INTO creator_day_views (creator_id, day, views) VALUES ($1, $2, $3) \
             ON CONFLICT (creator_id, day) DO UPDATE SET views = creator_day_views.views + excluded.views",
        )
        .bind(&creator_id)
        .bind(day)
        .bind(delta)
        .execute(&mut **tx)
        .await?;
        if delta < 0 {
            sqlx::query("DELETE FROM creator_day_views WHERE creator_id = $1 AND day = $2 AND views = 0")
                .bind(&creator_id)
                .bind(day)
                .execute(&mut **tx)
                .await?;
        }
    }
    if counted != payable {
        sqlx::query("UPDATE posts SET counted = $2 WHERE id = $1")
            .bind(post_id)
            .bind(i64::from(payable))
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// How a period `[from, to)` (Unix milliseconds) is read: whole UTC days `[first, last)`
/// from the totals, the rest (at most one partial day at each end) from the snapshots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct PeriodSplit {
    pub whole_days: Option<(i64, i64)>,
    pub partial: Vec<(i64, i64)>,
}

impl PeriodSplit {
    pub fn of(from: i64, to: i64) -> PeriodSplit {
        let first = from.div_euclid(DAY_MS) + i64::from(from.rem_euclid(DAY_MS) != 0);
        let last = to.div_euclid(DAY_MS);
        if first >= last {
            return PeriodSplit { whole_days: None, partial: vec![(from, to)] };
        }
        let partial = [(from, first * DAY_MS), (last * DAY_MS, to)]
            .into_iter()
            .filter(|(start, end)| start < end)
            .collect();
        PeriodSplit { whole_days: Some((first, last)), partial }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_period_reads_whole_days_from_the_totals_and_the_rest_from_snapshots() {
        let d = DAY_MS;
        assert_eq!(PeriodSplit::of(2 * d, 5 * d), PeriodSplit { whole_days: Some((2, 5)), partial: vec![] });
        assert_eq!(
            PeriodSplit::of(2 * d + 7, 5 * d + 9),
            PeriodSplit { whole_days: Some((3, 5)), partial: vec![(2 * d + 7, 3 * d), (5 * d, 5 * d + 9)] }
        );
        assert_eq!(
            PeriodSplit::of(2 * d + 7, 3 * d),
            PeriodSplit { whole_days: None, partial: vec![(2 * d + 7, 3 * d)] }
        );
        assert_eq!(
            PeriodSplit::of(2 * d + 7, 3 * d + 1),
            PeriodSplit { whole_days: None, partial: vec![(2 * d + 7, 3 * d + 1)] }
        );
        assert_eq!(PeriodSplit::of(2 * d, 3 * d), PeriodSplit { whole_days: Some((2, 3)), partial: vec![] });
    }
}
