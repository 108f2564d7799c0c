//! Posts polled per second on one core against the simulated X: the poller's whole round
//! (lease, consent check, batched platform request, snapshot transaction) on SQLite, for
//! verified posts (views only) and for pending posts (media fetched and watermark detected);
//! and posts scanned per second by discovery (listing, media fetched, watermark detected,
//! found posts tracked). Run: `cargo bench --bench polling`.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use viewmark::config::Settings;
use viewmark::domain::*;
use viewmark::platforms::Platforms;
use viewmark::secret::Secret;
use viewmark::simulator::scenario::{SimAccount, SimMedia, SimPost};
use viewmark::simulator::{Scenario, SimPostState, Simulator};
use viewmark::store::*;
use viewmark::tracking::discovery::ScanRound;
use viewmark::tracking::{Poller, Round, TrackingSettings};
use viewmark::watermark::Key;

const KEY: [u8; 32] = [5; 32];

struct Setup {
    runtime: tokio::runtime::Runtime,
    poller: Poller,
    raw: sqlx::AnyPool,
    _dir: tempfile::TempDir,
    _sim: Simulator,
}

/// `count` posts of one creator on the simulated X; `marked` ones carry media with her
/// watermark and start pending, the others are verified already. Unless `registered`, the
/// posts are only on the platform, for discovery to find.
fn setup(count: usize, marked: bool, registered: bool) -> Setup {
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap_or_else(|e| panic!("{e}"));
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (poller, raw, sim) = runtime.block_on(async {
        let url = format!("sqlite://{}/bench.db", dir.path().display());
        let options = ConnectOptions {
            max_connections: 4,
            connect_timeout: Duration::from_secs(5),
            migrate: true,
            keystore_url: format!("sqlite://{}/keys.db", dir.path().display()),
            master_keys: MasterKeys { current: MasterKey::new(&[9; 32]), previous: vec![] },
        };
        let store = connect(&url, &options).await.unwrap_or_else(|e| panic!("{e}"));
        let new = NewCreator {
            user_id: "bench".into(),
            display_name: None,
            birth_year: Some(1990),
            policy_version: "2026-01".into(),
            channel: "api".into(),
            at: Utc::now(),
        };
        let creator = store.create_creator(&new).await.unwrap_or_else(|e| panic!("{e}"));
        let payload = 0x00c0_ffee_u64;
        let content = NewContent {
            creator_id: creator.id,
            payload,
            media_kind: MediaKind::Image,
            width: 512,
            height: 512,
            sha256: String::new(),
            references: None,
            at: Utc::now(),
        };
        store.insert_content(&content).await.unwrap_or_else(|e| panic!("{e}"));
        let account = NewSocialAccount {
            creator_id: creator.id,
            platform: Platform::X,
            handle: "bench_maker".into(),
            proof_code: None,
            oauth_token: None,
            at: Utc::now(),
        };
        let account = store.insert_social_account(&account).await.unwrap_or_else(|e| panic!("{e}"));
        store.mark_account_proven(account.id, Utc::now()).await.unwrap_or_else(|e| panic!("{e}"));
        let mut posts = Vec::new();
        for i in 0..count {
            let id = format!("{}", 3_000_000_000_000_000_000u64 + i as u64);
            let new = NewPost {
                creator_id: creator.id,
                social_account_id: account.id,
                platform: Platform::X,
                platform_post_id: id.clone(),
                url: String::new(),
                content_id: None,
                at: Utc::now(),
            };
            if registered {
                store.insert_post(&new).await.unwrap_or_else(|e| panic!("{e}"));
            }
            posts.push(SimPost {
                engagement: Default::default(),
                platform: Platform::X,
                id,
                account: "bench_maker".into(),
                state: SimPostState::Live,
                views: vec![(0, 1000)],
                media: marked.then(|| SimMedia {
                    image: "images/astronaut.png".into(),
                    payload: Some(format!("{payload:016x}")),
                    video: false,
                    clip: None,
                    custom_cover: false,
                    transform: None,
                    slides_before: vec![],
                }),
            });
        }
        let account = SimAccount {
            platform: Platform::X,
            handle: "bench_maker".into(),
            bio: String::new(),
            access_token: None,
            refresh_token: None,
            token_expired: false,
            protected: false,
        };
        let mut scenario = Scenario {
            credentials: Default::default(),
            limits: Default::default(),
            accounts: vec![account],
            posts,
        };
        scenario.limits.x_per_15_min = u32::MAX;
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
        let sim = Simulator::start(scenario, &fixtures, Some(Key::from_bytes(KEY)), "127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let mut settings = Settings { database_url: Some(Secret::new(url.clone())), ..Settings::default() };
        settings.platforms = sim.platform_settings(settings.platforms.clone());
        settings.platforms.x.requests_per_15_min = u32::MAX;
        settings.limits.media_concurrency = 1;
        settings.tracking = TrackingSettings { batch_size: 100, ..TrackingSettings::default() };
        settings.tracking.discovery.max_pages = 1;
        settings.tracking.discovery.budget_share = 1.0;
        let platforms = Platforms::new(&settings.platforms).unwrap_or_else(|e| panic!("{e}"));
        let poller = viewmark::startup::build_poller(
            &settings,
            store,
            Key::from_bytes(KEY),
            platforms,
            Default::default(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        sqlx::any::install_default_drivers();
        let raw = sqlx::AnyPool::connect(&url).await.unwrap_or_else(|e| panic!("{e}"));
        (poller, raw, sim)
    });
    Setup { runtime, poller, raw, _dir: dir, _sim: sim }
}

/// Makes every post due again (as pending when `reverify`, so the watermark is checked).
async fn make_due(raw: &sqlx::AnyPool, reverify: bool) {
    let now = Utc::now().timestamp_millis();
    let status = if reverify { "pending" } else { "verified" };
    let sql = format!(
        "UPDATE posts SET next_poll_at = {now}, status = '{status}', failures = 0, verified_at = {now}, \
         evidence_media_sha256 = 'x', evidence_score = 1.0"
    );
    sqlx::query(&sql).execute(raw).await.unwrap_or_else(|e| panic!("{e}"));
}

/// Polls every post once; returns the time the rounds took.
fn poll_all(setup: &Setup, reverify: bool, count: usize) -> Duration {
    setup.runtime.block_on(async {
        make_due(&setup.raw, reverify).await;
        let started = Instant::now();
        let mut polled = 0;
        while let Ok(Round::Polled(n)) = setup.poller.try_execute_task().await {
            polled += n;
        }
        assert_eq!(polled, count);
        started.elapsed()
    })
}

/// Scans the account once, from a clean slate; returns the time the scan took.
fn discover_all(setup: &Setup, count: usize) -> Duration {
    setup.runtime.block_on(async {
        for table in ["posts", "discovery_seen", "discovery_scans"] {
            sqlx::query(&format!("DELETE FROM {table}"))
                .execute(&setup.raw)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
        }
        let started = Instant::now();
        let round = setup.poller.discoverer().try_execute_task().await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(round, ScanRound::Scanned { accounts: 1, found: count });
        started.elapsed()
    })
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("polling");
    group.sample_size(10);
    for (label, count, marked) in
        [("verified posts", 500usize, false), ("pending posts, detection", 20, true)]
    {
        let setup = Arc::new(setup(count, marked, true));
        group.throughput(Throughput::Elements(count as u64));
        group.bench_function(label, |b| {
            b.iter_custom(|iterations| (0..iterations).map(|_| poll_all(&setup, marked, count)).sum())
        });
    }
    let count = 20;
    let setup = Arc::new(setup(count, true, false));
    group.throughput(Throughput::Elements(count as u64));
    group.bench_function("discovery, posts scanned", |b| {
        b.iter_custom(|iterations| (0..iterations).map(|_| discover_all(&setup, count)).sum())
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
