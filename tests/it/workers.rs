//! Three `viewmark worker` processes on one PostgreSQL database poll two thousand posts on
//! the simulated X; one is killed mid-run. Every post is polled, none twice in its slot
//! except the few the killed worker had in flight, and every post has exactly one snapshot.

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::Utc;
use sqlx::Row;
use viewmark::domain::*;
use viewmark::simulator::{scenario::SimAccount, scenario::SimPost, Scenario, SimPostState, Simulator};
use viewmark::store::*;

use crate::support::platforms::quick_settings;
use crate::support::{fixture_path, TestDb, TEST_ENCRYPTION_KEY};

const POSTS: usize = 2000;
const BATCH: u32 = 50;

fn worker(config: &std::path::Path) -> Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_viewmark"));
    for (key, _) in std::env::vars() {
        if key.starts_with("VIEWMARK_") {
            cmd.env_remove(key);
        }
    }
    cmd.args(["--config"])
        .arg(config)
        .arg("worker")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

async fn snapshot_count(raw: &sqlx::AnyPool) -> i64 {
    sqlx::query("SELECT COUNT(*) AS n FROM view_snapshots").fetch_one(raw).await.unwrap().get::<i64, _>("n")
}

#[tokio::test]
#[cfg_attr(
    not(viewmark_test_postgres),
    ignore = "needs VIEWMARK_TEST_POSTGRES_URL naming a PostgreSQL server (CI sets it)"
)]
async fn three_worker_processes_share_the_work_and_a_killed_one_loses_nothing() {
    let db = TestDb::postgres().await.expect("VIEWMARK_TEST_POSTGRES_URL");
    let store = db.store().await;
    let raw = db.raw().await;

    // Twenty creators with a proven X account each, a hundred verified posts apiece.
    let mut accounts = Vec::new();
    let mut sim_posts = Vec::new();
    for c in 0..20 {
        let new = NewCreator {
            user_id: format!("user-{c}"),
            display_name: None,
            birth_year: Some(1990),
            policy_version: "2026-01".into(),
            channel: "api".into(),
            at: Utc::now(),
        };
        let creator = store.create_creator(&new).await.unwrap();
        let handle = format!("maker_{c}");
        let account = NewSocialAccount {
            creator_id: creator.id,
            platform: Platform::X,
            handle: handle.clone(),
            proof_code: None,
            oauth_token: None,
            at: Utc::now(),
        };
        let account = store.insert_social_account(&account).await.unwrap();
        accounts.push(SimAccount {
            platform: Platform::X,
            handle: handle.clone(),
            bio: String::new(),
            access_token: None,
            refresh_token: None,
            token_expired: false,
            protected: false,
        });
        for p in 0..POSTS / 20 {
            let id = format!("{}", 2_000_000_000_000_000_000u64 + (c * 1000 + p) as u64);
            let new = NewPost {
                creator_id: creator.id,
                social_account_id: account.id,
                platform: Platform::X,
                platform_post_id: id.clone(),
                url: String::new(),
                content_id: None,
                at: Utc::now() - chrono::Duration::seconds(10),
            };
            store.insert_post(&new).await.unwrap();
            sim_posts.push(SimPost {
                engagement: Default::default(),
                platform: Platform::X,
                id,
                account: handle.clone(),
                state: SimPostState::Live,
                views: vec![(0, 100 + p as u64)],
                media: None,
            });
        }
    }
    // Already verified with fresh evidence: each poll records views.
    sqlx::query(&format!(
        "UPDATE posts SET status = 'verified', verified_at = {0}, evidence_media_sha256 = 'x', evidence_score = 1.0",
        Utc::now().timestamp_millis()
    ))
    .execute(&raw)
    .await
    .unwrap();

    let mut scenario =
        Scenario { credentials: Default::default(), limits: Default::default(), accounts, posts: sim_posts };
    scenario.limits.x_per_15_min = 1_000_000;
    let sim = Simulator::start(scenario, &fixture_path(""), None, "127.0.0.1:0").await.unwrap();
    let platforms = sim.platform_settings(quick_settings());
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("worker.toml");
    std::fs::write(
        &config,
        format!(
            "database_url = {:?}\nkeystore_url = {:?}\nwatermark_key = {:?}\nencryption_key = {:?}\n\
             [log]\nlevel = \"warn\"\n\
             [tracking]\nbatch_size = {BATCH}\nlease_secs = 3\nidle_ms = 100\n\
             [platforms.x]\nbase_url = {:?}\nbearer_token = {:?}\nrequests_per_15_min = 1000000\n",
            db.url,
            db.keystore_url,
            "07".repeat(32),
            hex::encode(TEST_ENCRYPTION_KEY),
            platforms.x.base_url,
            platforms.x.bearer_token.as_ref().unwrap().expose(),
        ),
    )
    .unwrap();

    let mut workers: Vec<Child> = (0..3).map(|_| worker(&config)).collect();
    let started = Instant::now();
    let mut killed = false;
    loop {
        let done = snapshot_count(&raw).await;
        if !killed && done >= (POSTS / 4) as i64 {
            workers[0].kill().unwrap();
            workers[0].wait().unwrap();
            killed = true;
        }
        if done >= POSTS as i64 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(120), "only {done} of {POSTS} polled");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(killed);
    // Let the survivors finish anything in flight, then stop them.
    tokio::time::sleep(Duration::from_millis(500)).await;
    for mut w in workers.into_iter().skip(1) {
        Command::new("kill").arg("-TERM").arg(w.id().to_string()).status().unwrap();
        w.wait().unwrap();
    }

    let per_post: Vec<i64> = sqlx::query("SELECT COUNT(*) AS n FROM view_snapshots GROUP BY post_id")
        .fetch_all(&raw)
        .await
        .unwrap()
        .iter()
        .map(|r| r.get::<i64, _>("n"))
        .collect();
    assert_eq!(per_post.len(), POSTS, "every post has a snapshot");
    assert!(per_post.iter().all(|n| *n == 1), "no post counted twice");

    let lookups: HashMap<String, u32> = sim.lookups(Platform::X);
    assert_eq!(lookups.len(), POSTS, "every post was asked about");
    let twice = lookups.values().filter(|n| **n > 1).count();
    assert!(lookups.values().all(|n| *n <= 2), "no post asked about more than twice");
    assert!(twice <= BATCH as usize, "only the killed worker's batch was asked again: {twice}");
}
