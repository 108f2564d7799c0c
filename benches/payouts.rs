//! Latency of the payout queries at scale: 1 000 creators, 100 000 verified posts and
//! 1 000 000 snapshots (ten daily snapshots per post), on SQLite and, when
//! `VIEWMARK_BENCH_POSTGRES_URL` names a server the benchmark may create a database on, on
//! PostgreSQL. Prints p50/p99 of the period query (one day: 100 000 snapshots) over repeated
//! runs, and the time to create that day's statement.
//! Run: `cargo bench --bench payouts` (scale with `VIEWMARK_BENCH_POSTS`).

use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use sqlx::{AnyPool, Executor};
use viewmark::store::{connect, ConnectOptions, MasterKey, MasterKeys, Store};

const CREATORS: i64 = 1_000;
const SNAPSHOTS_PER_POST: i64 = 10;
const DAY_MS: i64 = 86_400_000;
const RUNS: usize = 20;

fn env_number(name: &str, default: i64) -> i64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The seeding SQL for one backend: `{n}` is the row count, `{expr}` uses `i`.
struct Dialect {
    series: &'static str,
    id: fn(&str, &str) -> String,
    blob: &'static str,
}

const SQLITE: Dialect = Dialect {
    series: "WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i < {n} - 1) ",
    id: |prefix, expr| format!("printf('00000000-0000-4000-{prefix}-%012d', {expr})"),
    blob: "x'00'",
};

const POSTGRES: Dialect = Dialect {
    series: "WITH s(i) AS (SELECT generate_series(0, {n} - 1)) ",
    id: |prefix, expr| format!("('00000000-0000-4000-{prefix}-' || lpad(({expr})::text, 12, '0'))"),
    blob: "decode('00', 'hex')",
};

async fn seed(pool: &AnyPool, d: &Dialect, posts: i64, base: i64) {
    let series = |n: i64| d.series.replace("{n}", &n.to_string());
    let creator = |expr: &str| (d.id)("8000", expr);
    let account = |expr: &str| (d.id)("9000", expr);
    let post = |expr: &str| (d.id)("a000", expr);
    let statements = vec![
        format!(
            "{}INSERT INTO creators (id, user_ref, profile_enc, consent_state, consent_changed_at, created_at) \
             SELECT {}, 'bench-' || i, {}, 'granted', 0, 0 FROM s",
            series(CREATORS),
            creator("i"),
            d.blob
        ),
        format!(
            "{}INSERT INTO social_accounts (id, creator_id, platform, handle_ref, handle_enc, created_at) \
             SELECT {}, {}, 'x', 'h' || i, {}, 0 FROM s",
            series(CREATORS),
            account("i"),
            creator("i"),
            d.blob
        ),
        format!(
            "{}INSERT INTO posts (id, creator_id, social_account_id, platform, post_ref, status, verified_at, \
               evidence_media_sha256, evidence_score, next_poll_at, created_at) \
             SELECT {}, {}, {}, 'x', 'p' || i, 'verified', 0, 'e', 1.0, 0, 0 FROM s",
            series(posts),
            post("i"),
            creator(&format!("i % {CREATORS}")),
            account(&format!("i % {CREATORS}"))
        ),
    ];
    for sql in statements {
        pool.execute(sql.as_str()).await.unwrap_or_else(|e| panic!("{e}: {sql}"));
    }
    for day in 0..SNAPSHOTS_PER_POST {
        let at = base + day * DAY_MS;
        let sql = format!(
            "{}INSERT INTO view_snapshots (post_id, poll_slot, observed_at, views, baseline) \
             SELECT {}, {at}, {at} + (i % 3600) * 1000, {} * 100 + (i % 37), {} FROM s",
            series(posts),
            post("i"),
            day,
            i64::from(day == 0)
        );
        pool.execute(sql.as_str()).await.unwrap_or_else(|e| panic!("{e}: {sql}"));
    }
    pool.execute("ANALYZE").await.unwrap_or_else(|e| panic!("{e}"));
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

async fn measure(name: &str, url: &str, keystore_url: &str, dialect: &Dialect, posts: i64) {
    let options = ConnectOptions {
        max_connections: 4,
        connect_timeout: Duration::from_secs(10),
        migrate: true,
        keystore_url: keystore_url.to_owned(),
        master_keys: MasterKeys { current: MasterKey::new(&[3; 32]), previous: vec![] },
    };
    let store: std::sync::Arc<dyn Store> = connect(url, &options).await.unwrap_or_else(|e| panic!("{e}"));
    sqlx::any::install_default_drivers();
    let pool = AnyPool::connect(url).await.unwrap_or_else(|e| panic!("{e}"));
    let base = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).single().map_or(0, |t| t.timestamp_millis());
    let started = Instant::now();
    seed(&pool, dialect, posts, base).await;
    let seeded = started.elapsed();
    let day = |d: i64| Utc.timestamp_millis_opt(base + d * DAY_MS).single().unwrap_or_default();
    let (from, to) = (day(5), day(6));
    let mut runs = Vec::with_capacity(RUNS);
    let mut creators = 0;
    for _ in 0..RUNS {
        let t = Instant::now();
        let page = store.period_views(from, to, None, 1000).await.unwrap_or_else(|e| panic!("{e}"));
        runs.push(t.elapsed());
        creators = page.len();
    }
    runs.sort();
    let mut pages = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let t = Instant::now();
        store.period_views(from, to, None, 100).await.unwrap_or_else(|e| panic!("{e}"));
        pages.push(t.elapsed());
    }
    pages.sort();
    let t = Instant::now();
    let period = viewmark::payouts::Period { from, to };
    let issued = viewmark::api::issue_statement(store.as_ref(), &period, Utc::now()).await;
    let (statement, _) = issued.unwrap_or_else(|e| panic!("{e}"));
    let statement_time = t.elapsed();
    println!(
        "{name}: seeded {} snapshots over {posts} posts in {:.1} s; period query (1 day, {creators} creators): \
         p50 {:.0} ms, p99 {:.0} ms; a page of 100: p50 {:.0} ms, p99 {:.0} ms; statement ({} lines): {:.0} ms",
        posts * SNAPSHOTS_PER_POST,
        seeded.as_secs_f64(),
        percentile(&runs, 0.5).as_secs_f64() * 1e3,
        percentile(&runs, 0.99).as_secs_f64() * 1e3,
        percentile(&pages, 0.5).as_secs_f64() * 1e3,
        percentile(&pages, 0.99).as_secs_f64() * 1e3,
        statement.lines.len(),
        statement_time.as_secs_f64() * 1e3,
    );
    pool.close().await;
    store.close().await;
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs this too: keep that cheap.
    let quick = !std::env::args().any(|a| a == "--bench");
    let posts = if quick { 1_000 } else { env_number("VIEWMARK_BENCH_POSTS", 100_000) };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    runtime.block_on(async {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let url = format!("sqlite://{}/bench.db", dir.path().display());
        let keys = format!("sqlite://{}/keys.db", dir.path().display());
        measure("sqlite", &url, &keys, &SQLITE, posts).await;
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
