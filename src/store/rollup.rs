//! The roll-up behind the payout queries. Each snapshot stores its gain over its post's
//! previous snapshot (`gain_over`); `creator_day_views` holds, per creator and UTC day, and
//! `creator_month_views` per creator and calendar month, the gains of the creator's counted
//! posts: verified at some time, not removed, no open flag. A post's `counted` column says
//! whether its gains are in the totals now.
//!
//! Everything that can move a post's gains (a snapshot stored, a flag raised or cleared, the
//! post verified or removed) recounts that post in the same transaction, so the totals never
//! disagree with the snapshots. A period reads its whole months and days from the totals and
//! only its partial days from the snapshots.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, NaiveDate};
use sqlx::{Any, Row, Transaction};

use super::StoreResult;
use crate::domain::gain_over;

/// One UTC day in milliseconds: the finest totals' granularity.
pub(super) const DAY_MS: i64 = 86_400_000;

/// The calendar month (months since January 1970) of a day (days since 1970-01-01).
fn month_of(day: i64) -> i64 {
    DateTime::from_timestamp(day.saturating_mul(86_400), 0)
        .map_or(0, |t| i64::from(t.year() - 1970) * 12 + i64::from(t.month0()))
}

/// The first day of a calendar month (months since January 1970).
fn first_day_of(month: i64) -> i64 {
    let (year, month0) = (month.div_euclid(12) + 1970, month.rem_euclid(12));
    let first = i32::try_from(year)
        .ok()
        .and_then(|y| NaiveDate::from_ymd_opt(y, u32::try_from(month0 + 1).unwrap_or(1), 1));
    first.map_or(0, |d| (d - NaiveDate::default()).num_days())
}

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
    let mut months: BTreeMap<i64, i64> = BTreeMap::new();
    for (day, delta) in &moved {
        *months.entry(month_of(*day)).or_default() += delta;
    }
    move_totals(tx, "creator_day_views", "day", &creator_id, moved).await?;
    move_totals(tx, "creator_month_views", "month", &creator_id, months).await?;
    if counted != payable {
        sqlx::query("UPDATE posts SET counted = $2 WHERE id = $1")
            .bind(post_id)
            .bind(i64::from(payable))
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Adds each `(key, delta)` to the creator's row of `table` (a table of totals keyed by
/// creator and `column`), in key order, dropping rows that reach zero.
async fn move_totals(
    tx: &mut Transaction<'static, Any>,
    table: &str,
    column: &str,
    creator_id: &str,
    deltas: BTreeMap<i64, i64>,
) -> StoreResult<()> {
    for (key, delta) in deltas.into_iter().filter(|(_, delta)| *delta != 0) {
        sqlx::query(&format!(
            "INSERT INTO {table} (creator_id, {column}, views) VALUES ($1, $2, $3) \
             ON CONFLICT (creator_id, {column}) DO UPDATE SET views = {table}.views + excluded.views"
        ))
        .bind(creator_id)
        .bind(key)
        .bind(delta)
        .execute(&mut **tx)
        .await?;
        if delta < 0 {
            sqlx::query(&format!(
                "DELETE FROM {table} WHERE creator_id = $1 AND {column} = $2 AND views = 0"
            ))
            .bind(creator_id)
            .bind(key)
            .execute(&mut **tx)
            .await?;
        }
    }
    Ok(())
}

/// How a period `[from, to)` (Unix milliseconds) is read: whole calendar months from the
/// month totals, whole UTC days outside them from the day totals, and the rest (at most one
/// partial day at each end) from the snapshots.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct PeriodSplit {
    /// Months `[first, last)`.
    pub whole_months: Option<(i64, i64)>,
    /// Day ranges `[first, last)`.
    pub whole_days: Vec<(i64, i64)>,
    /// Millisecond ranges `[from, to)`.
    pub partial: Vec<(i64, i64)>,
}

impl PeriodSplit {
    pub fn of(from: i64, to: i64) -> PeriodSplit {
        let first = from.div_euclid(DAY_MS) + i64::from(from.rem_euclid(DAY_MS) != 0);
        let last = to.div_euclid(DAY_MS);
        if first >= last {
            return PeriodSplit { partial: vec![(from, to)], ..PeriodSplit::default() };
        }
        let partial = nonempty([(from, first * DAY_MS), (last * DAY_MS, to)]);
        let first_month = month_of(first) + i64::from(first_day_of(month_of(first)) != first);
        let last_month = month_of(last);
        if first_month >= last_month {
            return PeriodSplit { whole_days: vec![(first, last)], partial, ..PeriodSplit::default() };
        }
        PeriodSplit {
            whole_months: Some((first_month, last_month)),
            whole_days: nonempty([(first, first_day_of(first_month)), (first_day_of(last_month), last)]),
            partial,
        }
    }
}

fn nonempty(ranges: [(i64, i64); 2]) -> Vec<(i64, i64)> {
    ranges.into_iter().filter(|(start, end)| start < end).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i32, m: u32, d: u32) -> i64 {
        (NaiveDate::from_ymd_opt(y, m, d).unwrap() - NaiveDate::default()).num_days()
    }

    #[test]
    fn months_and_days_number_the_calendar() {
        assert_eq!((month_of(0), first_day_of(0)), (0, 0));
        assert_eq!(month_of(day(2026, 2, 28)), 56 * 12 + 1);
        assert_eq!(month_of(day(2026, 3, 1)), 56 * 12 + 2);
        assert_eq!(first_day_of(56 * 12 + 2), day(2026, 3, 1));
        assert_eq!(first_day_of(month_of(day(2024, 12, 31)) + 1), day(2025, 1, 1));
    }

    #[test]
    fn a_period_reads_whole_months_and_days_from_the_totals_and_the_rest_from_snapshots() {
        let d = DAY_MS;
        let (mar1, apr1, may1) = (day(2026, 3, 1), day(2026, 4, 1), day(2026, 5, 1));
        let split = |from: i64, to: i64| PeriodSplit::of(from, to);
        assert_eq!(split(2 * d, 5 * d), PeriodSplit { whole_days: vec![(2, 5)], ..Default::default() });
        assert_eq!(
            split(2 * d + 7, 5 * d + 9),
            PeriodSplit {
                whole_days: vec![(3, 5)],
                partial: vec![(2 * d + 7, 3 * d), (5 * d, 5 * d + 9)],
                ..Default::default()
            }
        );
        assert_eq!(
            split(2 * d + 7, 3 * d),
            PeriodSplit { partial: vec![(2 * d + 7, 3 * d)], ..Default::default() }
        );
        assert_eq!(
            split(2 * d + 7, 3 * d + 1),
            PeriodSplit { partial: vec![(2 * d + 7, 3 * d + 1)], ..Default::default() }
        );
        let march = month_of(mar1);
        assert_eq!(
            split(mar1 * d, apr1 * d),
            PeriodSplit { whole_months: Some((march, march + 1)), ..Default::default() }
        );
        assert_eq!(
            split((mar1 - 2) * d - 5, (may1 + 3) * d + 5),
            PeriodSplit {
                whole_months: Some((march, march + 2)),
                whole_days: vec![(mar1 - 2, mar1), (may1, may1 + 3)],
                partial: vec![((mar1 - 2) * d - 5, (mar1 - 2) * d), ((may1 + 3) * d, (may1 + 3) * d + 5)],
            }
        );
        assert_eq!(
            split((mar1 + 1) * d, apr1 * d),
            PeriodSplit { whole_days: vec![(mar1 + 1, apr1)], ..Default::default() }
        );
    }
}
