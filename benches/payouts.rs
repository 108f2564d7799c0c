//! Latency of the payout queries at a real program's scale: 10 000 creators, 1 000 000
//! verified posts and 10 000 000 snapshots, on SQLite and, when `VIEWMARK_BENCH_POSTGRES_URL`
//! names a server the benchmark may create a database on, on PostgreSQL. Posts appear over 100
//! days, ten per creator a day; each is polled on days 0, 1, 2, 3, 5, 8, 13, 21, 34 and 55 of
//! its life. The rows are seeded as the store writes them (each snapshot's gain, the day
//! totals), then the benchmark prints p50/p99 of the period query for a calendar month over
//! every creator, of one page of 100 creators, of 30 whole days off the month's edges, and of
//! the month cut mid-day at both ends (what a live query reads), and the time to issue a
//! statement over more than 100 000 posts (a day and a quarter) with its per-post evidence.
//! Run: `cargo bench --bench payouts` (scale with `VIEWMARK_BENCH_POSTS`; a hundred posts per
//! creator; `VIEWMARK_BENCH_SKIP_SQLITE=1` measures PostgreSQL alone).

use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use sqlx::{AnyPool, Executor};
use viewmark::domain::CreatorId;
use viewmark::store::{connect, ConnectOptions, MasterKey, MasterKeys, Store};

const POSTS_PER_CREATOR: i64 = 100;
const DAYS_OF_POSTS: i64 = 100;
/// The days of its life a post is polled on.
const AGES: [i64; 10] = [0, 1, 2, 3, 5, 8, 13, 21, 34, 55];
const DAY_MS: i64 = 86_400_000;
const RUNS: usize = 100;

fn env_number(name: &str, default: i64) -> i64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The seeding SQL for one backend: `{n}` is the row count, `{expr}` uses `i`.
struct Dialect {
    series: &'static str,
    id: fn(&str, &str) -> String,
    blob: &'static str,
    /// The calendar month (months since January 1970) of the day `day`.
    month: &'static str,
}

const SQLITE: Dialect = Dialect {
    series: "WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i < {n} - 1) ",
    id: |prefix, expr| format!("printf('00000000-0000-4000-{prefix}-%012d', {expr})"),
    blob: "x'00'",
    month: "(CAST(strftime('%Y', day * 86400, 'unixepoch') AS INTEGER) - 1970) * 12 \
            + CAST(strftime('%m', day * 86400, 'unixepoch') AS INTEGER) - 1",
};

const POSTGRES: Dialect = Dialect {
    series: "WITH s(i) AS (SELECT generate_series(0::bigint, {n} - 1)) ",
    id: |prefix, expr| format!("('00000000-0000-4000-{prefix}-' || lpad(({expr})::text, 12, '0'))"),
    blob: "decode('00', 'hex')",
    month: "(EXTRACT(YEAR FROM to_timestamp(day * 86400) AT TIME ZONE 'UTC')::BIGINT - 1970) * 12 \
            + EXTRACT(MONTH FROM to_timestamp(day * 86400) AT TIME ZONE 'UTC')::BIGINT - 1",
};

async fn seed(pool: &AnyPool, d: &Dialect, posts: i64, base: i64) {
    let creators = (posts + POSTS_PER_CREATOR - 1) / POSTS_PER_CREATOR;
    let series = |n: i64| d.series.replace("{n}", &n.to_string());
    let creator = |expr: &str| (d.id)("8000", expr);
    let account = |expr: &str| (d.id)("9000", expr);
    let post = |expr: &str| (d.id)("a000", expr);
    // Post i is created on day i % 100, by creator i / 100, at second i % 86400 of it.
    let born = format!("{base} + (i % {DAYS_OF_POSTS}) * {DAY_MS} + (i % 86400) * 1000");
    let mut statements = vec![
        format!(
            "{}INSERT INTO creators (id, user_ref, profile_enc, consent_state, consent_changed_at, created_at) \
             SELECT {}, 'bench-' || i, {}, 'granted', 0, 0 FROM s",
            series(creators),
            creator("i"),
            d.blob
        ),
        format!(
            "{}INSERT INTO social_accounts (id, creator_id, platform, handle_ref, handle_enc, created_at) \
             SELECT {}, {}, 'x', 'h' || i, {}, 0 FROM s",
            series(creators),
            account("i"),
            creator("i"),
            d.blob
        ),
        format!(
            "{}INSERT INTO posts (id, creator_id, social_account_id, platform, post_ref, status, verified_at, \
               evidence_media_sha256, evidence_score, next_poll_at, created_at, counted) \
             SELECT {}, {}, {}, 'x', 'p' || i, 'verified', 0, 'e', 1.0, 0, {born}, 1 FROM s",
            series(posts),
            post("i"),
            creator(&format!("i / {POSTS_PER_CREATOR}")),
            account(&format!("i / {POSTS_PER_CREATOR}"))
        ),
    ];
    // The k-th snapshot has (k + 1) x 100 x (1 + i % 7) views: each gains 100 x (1 + i % 7)
    // over the one before, and the first (a baseline) nothing.
    for (k, age) in AGES.iter().enumerate() {
        let (k, age_ms) = (k as i64, age * DAY_MS);
        statements.push(format!(
            "{}INSERT INTO view_snapshots (post_id, poll_slot, observed_at, views, baseline, gained) \
             SELECT {}, {born} + {age_ms}, {born} + {age_ms}, {} * 100 * (1 + i % 7), {}, {} * 100 * (1 + i % 7) FROM s",
            series(posts),
            post("i"),
            k + 1,
            i64::from(k == 0),
            i64::from(k > 0),
        ));
    }
    statements.push(
        "INSERT INTO creator_day_views (creator_id, day, views) \
         SELECT p.creator_id, v.observed_at / 86400000, SUM(v.gained) FROM view_snapshots v JOIN posts p ON p.id = v.post_id \
         GROUP BY p.creator_id, v.observed_at / 86400000"
            .to_owned(),
    );
    statements.push(format!(
        "INSERT INTO creator_month_views (creator_id, month, views) \
         SELECT creator_id, {0}, SUM(views) FROM creator_day_views GROUP BY creator_id, {0}",
        d.month
    ));
    statements.push("ANALYZE".to_owned());
    for sql in statements {
        pool.execute(sql.as_str()).await.unwrap_or_else(|e| panic!("{e}: {sql}"));
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

/// p50 and p99 of `RUNS` runs of `run`, in milliseconds, and the last run's answer.
async fn timed<T, F, Fut>(mut run: F) -> (f64, f64, T)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let mut times = Vec::with_capacity(RUNS);
    let mut last = None;
    for _ in 0..RUNS {
        let t = Instant::now();
        last = Some(run().await);
        times.push(t.elapsed());
    }
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    (ms(percentile(&times, 0.5)), ms(percentile(&times, 0.99)), last.unwrap_or_else(|| panic!("no run")))
}

async fn measure(name: &str, url: &str, keystore_url: &str, dialect: &Dialect, posts: i64) {
    let options = ConnectOptions {
        max_connections: 4,
        connect_timeout: Duration::from_secs(10),
        migrate: true,
        keystore_url: keystore_url.to_owned(),
        master_keys: MasterKeys { current: MasterKey::new(&[3; 32]), previous: vec![] },
    };
    let connected: std::sync::Arc<dyn Store> = connect(url, &options).await.unwrap_or_else(|e| panic!("{e}"));
    sqlx::any::install_default_drivers();
    let pool = AnyPool::connect(url).await.unwrap_or_else(|e| panic!("{e}"));
    let base = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).single().map_or(0, |t| t.timestamp_millis());
    let started = Instant::now();
    seed(&pool, dialect, posts, base).await;
    let seeded = started.elapsed();
    let day = |d: f64| -> DateTime<Utc> {
        Utc.timestamp_millis_opt(base + (d * DAY_MS as f64) as i64).single().unwrap_or_default()
    };
    let store = connected.as_ref();
    // March 2026 (days 59 to 89), in the thick of it: every post born in it or in the 55 days
    // before is polled in it.
    let (from, to) = (day(59.0), day(90.0));
    let (full50, full99, all) = timed(|| async {
        store.period_views(from, to, None, u32::MAX).await.unwrap_or_else(|e| panic!("{e}"))
    })
    .await;
    let middle: Option<CreatorId> = all.get(all.len() / 2).map(|v| v.creator_id);
    let (page50, page99, _) =
        timed(|| async { store.period_views(from, to, middle, 100).await.unwrap_or_else(|e| panic!("{e}")) })
            .await;
    let (days50, days99, _) = timed(|| async {
        store.period_views(day(60.0), day(90.0), None, u32::MAX).await.unwrap_or_else(|e| panic!("{e}"))
    })
    .await;
    let (live50, live99, _) = timed(|| async {
        store.period_views(day(59.4), day(89.6), None, u32::MAX).await.unwrap_or_else(|e| panic!("{e}"))
    })
    .await;
    let period = viewmark::payouts::Period { from: day(70.0), to: day(71.25) };
    let t = Instant::now();
    let issued = viewmark::api::issue_statement(store, &period, Utc::now()).await;
    let (statement, _) = issued.unwrap_or_else(|e| panic!("{e}"));
    let statement_time = t.elapsed();
    let t = Instant::now();
    store.period_post_views(period.from, period.to, None).await.unwrap_or_else(|e| panic!("{e}"));
    let evidence_time = t.elapsed();

    let evidence: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM statement_posts WHERE statement_id = $1")
        .bind(&statement.id)
        .fetch_one(&pool)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    println!(
        "{name}: seeded {} snapshots over {posts} posts in {:.0} s\n  \
         a calendar month, all {} creators: p50 {full50:.1} ms, p99 {full99:.1} ms\n  \
         one page of 100 creators: p50 {page50:.1} ms, p99 {page99:.1} ms\n  \
         30 whole days off the month's edges, all creators: p50 {days50:.1} ms, p99 {days99:.1} ms\n  \
         the month cut mid-day at both ends, all creators: p50 {live50:.1} ms, p99 {live99:.1} ms\n  \
         statement for a day and a quarter, {evidence} posts: {:.0} ms (reading its per-post views: {:.0} ms)",
        posts * AGES.len() as i64,
        seeded.as_secs_f64(),
        all.len(),
        statement_time.as_secs_f64() * 1e3,
        evidence_time.as_secs_f64() * 1e3,
    );
    pool.close().await;
    connected.close().await;
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs this too: keep that cheap.
    let quick = !std::env::args().any(|a| a == "--bench");
    let posts = if quick { 1_000 } else { env_number("VIEWMARK_BENCH_POSTS", 1_000_000) };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    runtime.block_on(async {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let url = format!("sqlite://{}/bench.db", dir.path().display());
        let keys = format!("sqlite://{}/keys.db", dir.path().display());
        if std::env::var_os("VIEWMARK_BENCH_SKIP_SQLITE").is_none() {
            measure("sqlite", &url, &keys, &SQLITE, posts).await;
        }
        if let Ok(admin_url) = std::env::var("VIEWMARK_BENCH_POSTGRES_URL") {
            sqlx::any::install_default_drivers();
            let admin = AnyPool::connect(&admin_url).await.unwrap_or_else(|e| panic!("{e}"));
            let name = format!("viewmark_bench_{}", std::process::id());
            admin.execute(format!("CREATE DATABASE {name}").as_str()).await.unwrap_or_else(|e| panic!("{e}"));
            let base = admin_url.rsplit_once('/').map_or(admin_url.as_str(), |(b, _)| b).to_owned();
            measure("postgres", &format!("{base}/{name}"), &keys, &POSTGRES, posts).await;
            let drop = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
            admin.execute(drop.as_str()).await.unwrap_or_else(|e| panic!("{e}"));
        }
    });
}
