//! The retention sweep, both backends: over a database holding expired and unexpired rows of
//! each kind it removes exactly the expired ones (snapshots and evidence of posts no longer
//! tracked, tombstoned statement lines, erasure receipts), keeps the aggregate totals, leaves
//! a receipt of counts, and runs once per interval, one process at a time.

use chrono::{Duration, Months, Utc};
use sqlx::AnyPool;
use viewmark::consent::retention::{RetentionSettings, Sweeper};
use viewmark::tracking::Round;

use crate::on_both_backends;
use crate::support::tracked::{next_slot, register, scenario, tracked_scenario, OURS};
use crate::support::TestDb;

/// A second post of Ada's carrying her content.
const SECOND: &str = "1900000000000000009";

async fn count(raw: &AnyPool, sql: &str, id: &str) -> i64 {
    sqlx::query_scalar(sql).bind(id).fetch_one(raw).await.unwrap()
}

async fn execute(raw: &AnyPool, sql: &str) {
    sqlx::query(sql).execute(raw).await.unwrap();
}

async fn a_sweep_removes_exactly_what_has_expired(db: TestDb) {
    // Ada's account carries her content in two posts.
    let (ada_payload, bob_payload) = (0x0123_4567_89ab_cdef_u64, 0x0fed_cba9_8765_4321_u64);
    let mut scenario = scenario(ada_payload, bob_payload);
    let mut second = scenario.posts.iter().find(|p| p.id == OURS).unwrap().clone();
    second.id = SECOND.into();
    scenario.posts.push(second);
    let t = tracked_scenario(db, scenario, &[("user-ada", ada_payload), ("user-bob", bob_payload)]).await;
    let raw = t.app._db.raw().await;
    let expired = register(&t, &t.ada, OURS).await["id"].as_str().unwrap().to_owned();
    let kept = register(&t, &t.ada, SECOND).await["id"].as_str().unwrap().to_owned();
    for _ in 0..2 {
        assert_eq!(t.poller.try_execute_task().await.unwrap(), Round::Polled(2));
        next_slot().await;
    }
    let now = Utc::now();
    let ms = |t: chrono::DateTime<Utc>| t.timestamp_millis();
    // Both stopped: one last polled 401 days ago (past the 400 kept), one 10 days ago.
    for (post, days) in [(&expired, 401), (&kept, 10)] {
        sqlx::query("UPDATE posts SET status = 'stopped', last_polled_at = $1 WHERE id = $2")
            .bind(ms(now - Duration::days(days)))
            .bind(post)
            .execute(&raw)
            .await
            .unwrap();
    }
    let snapshots = "SELECT COUNT(*) FROM view_snapshots WHERE post_id = $1";
    let expired_snapshots = count(&raw, snapshots, &expired).await;
    assert!(expired_snapshots >= 2 && count(&raw, snapshots, &kept).await >= 2);
    let evidence = "SELECT COUNT(*) FROM posts WHERE id = $1 AND evidence_media_sha256 IS NOT NULL";
    assert_eq!((count(&raw, evidence, &expired).await, count(&raw, evidence, &kept).await), (1, 1));
    let totals =
        "SELECT CAST(COALESCE(SUM(views), 0) AS BIGINT) FROM creator_day_views WHERE creator_id <> $1";
    let totals_before = count(&raw, totals, "").await;

    // Statements: one whose period ended over 7 years ago, one 6 years ago.
    let years_ago = |years: u32| ms(now.checked_sub_months(Months::new(12 * years)).unwrap());
    for (id, end) in [("s_old", years_ago(7) - 86_400_000), ("s_new", years_ago(6))] {
        execute(&raw, &format!("INSERT INTO payout_statements (id, period_start, period_end, evidence_hash, created_at) VALUES ('{id}', {}, {end}, 'h', {end})", end - 86_400_000)).await;
    }
    for (statement, payee) in
        [("s_old", "tombstone-expired"), ("s_old", "a-live-payee"), ("s_new", "tombstone-kept")]
    {
        execute(&raw, &format!("INSERT INTO statement_lines (statement_id, payee_id, line_kind, views) VALUES ('{statement}', '{payee}', 'views', 10)")).await;
    }
    // Erasure receipts: one over 3 years old, one 2 years old.
    for (id, at) in [("r-expired", years_ago(3) - 86_400_000), ("r-kept", years_ago(2))] {
        execute(&raw, &format!("INSERT INTO erasure_receipts (id, erased_at, trigger_kind, row_counts) VALUES ('{id}', {at}, 'api', '{{}}')")).await;
    }

    let store = t.app.store.clone();
    let sweeper = Sweeper::new(store.clone(), RetentionSettings::default(), "sweeper-a".into());
    let receipt = sweeper.try_execute_task(now).await.unwrap().expect("a sweep is due");
    let counts: Vec<(&str, u64)> = receipt.row_counts.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    assert_eq!(
        counts,
        vec![
            ("erasure_receipts", 1),
            ("post_evidence", 1),
            ("statement_lines (tombstoned)", 1),
            ("view_snapshots", expired_snapshots as u64),
        ]
    );
    assert_eq!(count(&raw, snapshots, &expired).await, 0);
    assert!(count(&raw, snapshots, &kept).await >= 2, "a post stopped 10 days ago keeps its snapshots");
    assert_eq!((count(&raw, evidence, &expired).await, count(&raw, evidence, &kept).await), (0, 1));
    let lines: Vec<String> = sqlx::query_scalar("SELECT payee_id FROM statement_lines ORDER BY payee_id")
        .fetch_all(&raw)
        .await
        .unwrap();
    assert_eq!(lines, vec!["a-live-payee".to_owned(), "tombstone-kept".to_owned()]);
    let receipts: Vec<String> =
        sqlx::query_scalar("SELECT id FROM erasure_receipts ORDER BY id").fetch_all(&raw).await.unwrap();
    assert_eq!(receipts, vec!["r-kept".to_owned()]);
    assert_eq!(count(&raw, totals, "").await, totals_before, "the aggregate totals are kept");

    // Once per interval, and one process at a time.
    let other = Sweeper::new(store.clone(), RetentionSettings::default(), "sweeper-b".into());
    assert!(other.try_execute_task(now).await.unwrap().is_none(), "not due again yet");
    let tomorrow = now + Duration::hours(25);
    assert!(store.claim_sweep("sweeper-c", tomorrow, tomorrow + Duration::minutes(30)).await.unwrap());
    assert!(other.try_execute_task(tomorrow).await.unwrap().is_none(), "another process holds the lease");
    let later = tomorrow + Duration::hours(1);
    let again = other.try_execute_task(later).await.unwrap().expect("the stale lease is taken over");
    assert!(again.row_counts.values().all(|n| *n == 0), "{:?}", again.row_counts);
    let history = store.sweep_receipts(10).await.unwrap();
    assert_eq!(history.iter().map(|r| r.id).collect::<Vec<_>>(), vec![again.id, receipt.id]);
}

on_both_backends!(a_sweep_removes_exactly_what_has_expired);
