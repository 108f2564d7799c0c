//! Payouts: views gained per period and frozen statements.
//!
//! Views gained: the stored gains (see `rollup`) of the snapshots observed in `[from, to)`
//! on counted posts. Per creator, a period's whole months and days are read from the totals
//! and only its partial days from the snapshots; per post, from the snapshots of the period.

use async_trait::async_trait;
use sqlx::any::AnyRow;
use sqlx::Row;

use super::backend::SqlStore;
use super::columns::JsonColumn::{BigInt, Text};
use super::columns::{from_ms, insert_rows, parse_id, placeholders, to_ms, Cell};
use super::rollup::{recount_post, PeriodSplit};
use super::{PayoutRepo, StoreError, StoreResult};
use crate::domain::{
    Clawback, CreatorId, CreatorViews, EventType, OutboxEvent, PostGains, PostId, PostViews, Statement,
    StatementDraft, StatementTotal, Timestamp,
};

/// The gains of counted posts' snapshots observed in `[$a, $b)`, with their creators.
fn snapshot_gains(a: usize, b: usize) -> String {
    format!(
        "SELECT p.creator_id AS creator_id, v.gained AS views FROM view_snapshots v JOIN posts p ON p.id = v.post_id \
         WHERE p.counted = 1 AND v.observed_at >= ${a} AND v.observed_at < ${b}"
    )
}

fn views(row: &AnyRow, column: &str) -> StoreResult<u64> {
    Ok(u64::try_from(row.try_get::<i64, _>(column)?).unwrap_or(0))
}

impl SqlStore {
    async fn statement_in(&self, id: &str) -> StoreResult<Option<Statement>> {
        let Some(head) = sqlx::query(
            "SELECT id, period_start, period_end, evidence_hash, created_at FROM payout_statements WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        else {
            return Ok(None);
        };
        let lines = sqlx::query(
            "SELECT payee_id, line_kind, views FROM statement_lines WHERE statement_id = $1 ORDER BY payee_id, line_kind",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        Ok(Some(Statement {
            id: head.try_get("id")?,
            period_start: from_ms(head.try_get("period_start")?)?,
            period_end: from_ms(head.try_get("period_end")?)?,
            evidence_hash: head.try_get("evidence_hash")?,
            created_at: from_ms(head.try_get("created_at")?)?,
            lines: lines
                .iter()
                .map(|l| {
                    Ok(StatementTotal {
                        payee_id: l.try_get("payee_id")?,
                        line_kind: l.try_get("line_kind")?,
                        views: l.try_get("views")?,
                    })
                })
                .collect::<StoreResult<_>>()?,
        }))
    }
}

#[async_trait]
impl PayoutRepo for SqlStore {
    async fn statement_for_period(&self, from: Timestamp, to: Timestamp) -> StoreResult<Option<Statement>> {
        let row = sqlx::query("SELECT id FROM payout_statements WHERE period_start = $1 AND period_end = $2")
            .bind(to_ms(from))
            .bind(to_ms(to))
            .fetch_optional(&self.pool)
            .await?;
        match row {
            Some(row) => self.statement_in(&row.try_get::<String, _>("id")?).await,
            None => Ok(None),
        }
    }

    /// Posts paid before (net of earlier clawbacks) that are now removed or flagged:
    /// (payee, post, net views to take back).
    async fn clawbacks_due(&self) -> StoreResult<Vec<Clawback>> {
        let rows = sqlx::query(
            "SELECT sp.payee_id AS payee_id, sp.post_id AS post_id, CAST(SUM(sp.views) AS BIGINT) AS net FROM statement_posts sp \
             WHERE sp.post_id IN (SELECT id FROM posts WHERE status = 'removed') \
                OR sp.post_id IN (SELECT post_id FROM post_flags WHERE cleared_at IS NULL) \
             GROUP BY sp.payee_id, sp.post_id HAVING SUM(sp.views) > 0 ORDER BY sp.payee_id, sp.post_id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Clawback {
                    payee_id: r.try_get("payee_id")?,
                    post_id: r.try_get("post_id")?,
                    views: r.try_get("net")?,
                })
            })
            .collect()
    }

    async fn period_views(
        &self,
        from: Timestamp,
        to: Timestamp,
        after: Option<CreatorId>,
        limit: u32,
    ) -> StoreResult<Vec<CreatorViews>> {
        let split = PeriodSplit::of(to_ms(from), to_ms(to));
        // $1: the creator to start after, $2: the limit; then each part's bounds.
        let mut parts = Vec::new();
        let mut bounds = Vec::new();
        let totals = split
            .whole_months
            .iter()
            .map(|range| ("creator_month_views", "month", *range))
            .chain(split.whole_days.iter().map(|range| ("creator_day_views", "day", *range)));
        for (table, column, (first, last)) in totals {
            let n = bounds.len() + 3;
            parts.push(format!(
                "SELECT creator_id, views FROM {table} WHERE {column} >= ${n} AND {column} < ${} AND creator_id > $1",
                n + 1
            ));
            bounds.extend([first, last]);
        }
        for (start, end) in split.partial {
            let n = bounds.len() + 3;
            parts.push(format!("{} AND p.creator_id > $1", snapshot_gains(n, n + 1)));
            bounds.extend([start, end]);
        }
        let sql = format!(
            "SELECT g.creator_id AS creator_id, CAST(SUM(g.views) AS BIGINT) AS views FROM ({}) g \
             GROUP BY g.creator_id HAVING SUM(g.views) > 0 ORDER BY g.creator_id LIMIT $2",
            parts.join(" UNION ALL ")
        );
        let mut query =
            sqlx::query(&sql).bind(after.map(|a| a.to_string()).unwrap_or_default()).bind(i64::from(limit));
        for bound in bounds {
            query = query.bind(bound);
        }
        query
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| {
                Ok(CreatorViews {
                    creator_id: parse_id(&r.try_get::<String, _>("creator_id")?)?,
                    views: views(r, "views")?,
                })
            })
            .collect()
    }

    async fn period_post_views(
        &self,
        from: Timestamp,
        to: Timestamp,
        creators: Option<&[CreatorId]>,
    ) -> StoreResult<Vec<PostViews>> {
        let mut sql = String::from(
            "SELECT p.creator_id AS creator_id, v.post_id AS post_id, CAST(SUM(v.gained) AS BIGINT) AS views, \
               MAX(v.id) AS last_snapshot_id FROM view_snapshots v JOIN posts p ON p.id = v.post_id \
             WHERE p.counted = 1 AND v.observed_at >= $1 AND v.observed_at < $2",
        );
        if let Some(ids) = creators {
            if ids.is_empty() {
                return Ok(vec![]);
            }
            sql.push_str(&format!(" AND p.creator_id IN ({})", placeholders(3, ids.len())));
        }
        sql.push_str(
            " GROUP BY p.creator_id, v.post_id HAVING SUM(v.gained) > 0 ORDER BY p.creator_id, v.post_id",
        );
        let mut query = sqlx::query(&sql).bind(to_ms(from)).bind(to_ms(to));
        for id in creators.unwrap_or_default() {
            query = query.bind(id.to_string());
        }
        query
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| {
                Ok(PostViews {
                    creator_id: parse_id(&r.try_get::<String, _>("creator_id")?)?,
                    post_id: parse_id(&r.try_get::<String, _>("post_id")?)?,
                    views: views(r, "views")?,
                    last_snapshot_id: r.try_get("last_snapshot_id")?,
                })
            })
            .collect()
    }

    async fn insert_statement(
        &self,
        draft: &StatementDraft,
        at: Timestamp,
    ) -> StoreResult<(Statement, bool)> {
        let (from, to) = (draft.period_start, draft.period_end);
        if let Some(statement) = self.statement_for_period(from, to).await? {
            return Ok((statement, false));
        }
        let overlapping = sqlx::query(
            "SELECT COUNT(*) AS n FROM payout_statements WHERE period_start < $2 AND period_end > $1 \
             AND NOT (period_start = $1 AND period_end = $2)",
        )
        .bind(to_ms(from))
        .bind(to_ms(to))
        .fetch_one(&self.pool)
        .await?;
        if overlapping.try_get::<i64, _>("n")? > 0 {
            return Err(StoreError::Conflict("the period overlaps an issued statement".into()));
        }
        let id = &draft.id;
        let mut tx = self.pool.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO payout_statements (id, period_start, period_end, evidence_hash, created_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (period_start, period_end) DO NOTHING",
        )
        .bind(id)
        .bind(to_ms(from))
        .bind(to_ms(to))
        .bind(&draft.evidence_hash)
        .bind(to_ms(at))
        .execute(&mut *tx)
        .await?;
        if inserted.rows_affected() == 0 {
            // A concurrent request created it first: theirs is the statement.
            tx.rollback().await?;
            let theirs = self.statement_for_period(from, to).await?.ok_or(StoreError::NotFound)?;
            return Ok((theirs, false));
        }
        // One line per payee and one evidence row per post: tens of thousands of rows, in a
        // few statements rather than a round trip each.
        let lines: Vec<Vec<Cell>> = draft
            .lines
            .iter()
            .map(|l| {
                vec![Cell::Text(l.payee_id.clone()), Cell::Text(l.line_kind.clone()), Cell::Int(l.views)]
            })
            .collect();
        let line_columns = [("payee_id", Text), ("line_kind", Text), ("views", BigInt)];
        insert_rows(&mut tx, self.backend, "statement_lines", ("statement_id", id), &line_columns, &lines)
            .await?;
        let posts: Vec<Vec<Cell>> = draft
            .posts
            .iter()
            .map(|p| {
                vec![
                    Cell::Text(p.post_id.to_string()),
                    Cell::Text(p.creator_id.to_string()),
                    Cell::Text("views".to_owned()),
                    Cell::Int(i64::try_from(p.views).unwrap_or(i64::MAX)),
                    Cell::Int(p.last_snapshot_id),
                ]
            })
            .collect();
        let post_columns = [
            ("post_id", Text),
            ("payee_id", Text),
            ("line_kind", Text),
            ("views", BigInt),
            ("last_snapshot_id", BigInt),
        ];
        insert_rows(&mut tx, self.backend, "statement_posts", ("statement_id", id), &post_columns, &posts)
            .await?;
        for clawback in &draft.clawbacks {
            sqlx::query(
                "INSERT INTO statement_posts (statement_id, post_id, payee_id, line_kind, views) \
                 VALUES ($1, $2, $3, 'clawback', $4)",
            )
            .bind(id)
            .bind(&clawback.post_id)
            .bind(&clawback.payee_id)
            .bind(-clawback.views)
            .execute(&mut *tx)
            .await?;
        }
        let data = serde_json::json!({
            "statement_id": id,
            "period_start": from.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "period_end": to.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        });
        super::outbox::enqueue(&mut tx, &OutboxEvent::new(EventType::StatementCreated, None, data, at))
            .await?;
        tx.commit().await?;
        Ok((self.statement_in(id).await?.ok_or(StoreError::NotFound)?, true))
    }

    async fn statement(&self, id: &str) -> StoreResult<Option<Statement>> {
        self.statement_in(id).await
    }

    async fn payments_for_post(&self, post_id: PostId) -> StoreResult<Vec<crate::domain::PostPayment>> {
        let rows = sqlx::query(
            "SELECT sp.statement_id, sp.line_kind, sp.views, sp.last_snapshot_id FROM statement_posts sp \
             JOIN payout_statements s ON s.id = sp.statement_id WHERE sp.post_id = $1 \
             ORDER BY s.period_start, sp.line_kind",
        )
        .bind(post_id.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(crate::domain::PostPayment {
                    statement_id: row.try_get("statement_id")?,
                    line_kind: row.try_get("line_kind")?,
                    views: row.try_get("views")?,
                    last_snapshot_id: row.try_get("last_snapshot_id")?,
                })
            })
            .collect()
    }

    async fn post_id_by_ref(
        &self,
        platform: crate::domain::Platform,
        platform_post_id: &str,
    ) -> StoreResult<Option<PostId>> {
        let row = sqlx::query("SELECT id FROM posts WHERE platform = $1 AND post_ref = $2")
            .bind(platform.as_str())
            .bind(super::tracking_rows::post_ref(self, platform, platform_post_id))
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| parse_id(&r.try_get::<String, _>("id")?)).transpose()
    }

    async fn post_gains(
        &self,
        posts: &[PostId],
        from: Timestamp,
        to: Timestamp,
        edge: Timestamp,
    ) -> StoreResult<Vec<PostGains>> {
        if posts.is_empty() {
            return Ok(vec![]);
        }
        let sql = format!(
            "SELECT v.post_id AS post_id, \
               CAST(SUM(CASE WHEN v.observed_at < $3 THEN v.gained ELSE 0 END) AS BIGINT) AS settled, \
               CAST(SUM(CASE WHEN v.observed_at >= $3 THEN v.gained ELSE 0 END) AS BIGINT) AS held, \
               MAX(CASE WHEN v.observed_at >= $3 AND v.gained > 0 THEN v.observed_at END) AS held_last_at \
             FROM view_snapshots v WHERE v.observed_at >= $1 AND v.observed_at < $2 AND v.post_id IN ({}) \
             GROUP BY v.post_id",
            placeholders(4, posts.len())
        );
        let mut query = sqlx::query(&sql).bind(to_ms(from)).bind(to_ms(to)).bind(to_ms(edge));
        for id in posts {
            query = query.bind(id.to_string());
        }
        query
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| {
                Ok(PostGains {
                    post_id: parse_id(&r.try_get::<String, _>("post_id")?)?,
                    settled: views(r, "settled")?,
                    held: views(r, "held")?,
                    held_last_at: r.try_get::<Option<i64>, _>("held_last_at")?.map(from_ms).transpose()?,
                })
            })
            .collect()
    }

    async fn recount_post(&self, post_id: PostId) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        recount_post(&mut tx, &post_id.to_string()).await?;
        tx.commit().await?;
        Ok(())
    }
}
