//! The binary as an operator runs it.

use crate::support::cli::{detect, secrets_dir, viewmark};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Starts `serve` and waits for its "listening" line; returns the child and the port.
fn start_serve(data_dir: &std::path::Path) -> (Child, u16, Vec<String>) {
    let mut child = viewmark()
        .arg("serve")
        .env("VIEWMARK_DATA_DIR", data_dir)
        .env("VIEWMARK_SECRETS_DIR", secrets_dir(data_dir))
        .env("VIEWMARK_BIND", "127.0.0.1:0")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut lines = Vec::new();
    while let Some(Ok(line)) = stderr.next() {
        lines.push(line.clone());
        if let Some(address) = line.split("address=").nth(1) {
            let port = address.trim().rsplit(':').next().unwrap().parse().unwrap();
            // Keep draining so the server never writes into a closed pipe.
            std::thread::spawn(move || stderr.for_each(drop));
            return (child, port, lines);
        }
    }
    let status = child.wait();
    panic!("serve exited ({status:?}) before listening: {lines:#?}");
}

fn terminate(mut child: Child) -> std::process::ExitStatus {
    Command::new("kill").arg("-TERM").arg(child.id().to_string()).status().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "serve did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn version_and_help_describe_the_commands() {
    let version = viewmark().arg("--version").output().unwrap();
    assert!(version.status.success());
    assert!(String::from_utf8_lossy(&version.stdout).contains(env!("CARGO_PKG_VERSION")));
    let help = String::from_utf8(viewmark().arg("--help").output().unwrap().stdout).unwrap();
    for command in ["serve", "migrate"] {
        assert!(help.contains(command), "--help does not mention {command}");
    }
}

#[tokio::test]
async fn serve_creates_database_and_key_then_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let (child, port, lines) = start_serve(dir.path());
    assert!(lines.iter().any(|l| l.contains("created a new random key file")), "{lines:#?}");
    let ready = reqwest::get(format!("http://127.0.0.1:{port}/readyz")).await.unwrap();
    assert_eq!(ready.status(), 200);
    assert!(dir.path().join("viewmark.db").exists());
    let key_path = dir.path().join("watermark.key");
    let key = std::fs::read_to_string(&key_path).unwrap();
    assert_eq!(key.trim().len(), 64);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&key_path).unwrap().permissions().mode() & 0o777, 0o600);
        let sealing = secrets_dir(dir.path()).join("encryption.key");
        assert!(!dir.path().join("encryption.key").exists(), "the master key is in the data directory");
        assert_eq!(std::fs::metadata(&sealing).unwrap().permissions().mode() & 0o777, 0o600);
        assert_ne!(std::fs::read_to_string(&sealing).unwrap(), key, "the two keys are distinct");
        for file in ["viewmark.db", "viewmark.db-wal", "keys.db", "keys.db-wal"] {
            let Ok(meta) = std::fs::metadata(dir.path().join(file)) else {
                assert!(file.ends_with("-wal"), "{file} is missing");
                continue;
            };
            assert_eq!(meta.permissions().mode() & 0o777, 0o600, "{file} is readable by others");
        }
    }
    assert!(!lines.iter().any(|l| l.contains("SECURITY")), "{lines:#?}");
    let status = terminate(child);
    assert!(status.success(), "{status:?}");

    // The second start reuses the key and says nothing about creating one.
    let (child, _, lines) = start_serve(dir.path());
    assert!(!lines.iter().any(|l| l.contains("created a new random key file")), "{lines:#?}");
    assert_eq!(std::fs::read_to_string(&key_path).unwrap(), key);
    let status = terminate(child);
    assert!(status.success(), "{status:?}");
    std::fs::remove_dir_all(secrets_dir(dir.path())).unwrap();
}

/// On SQLite one process owns the database: an erasure or a worker beside `serve` would
/// revoke or poll outside serve's consent locks, so they are refused while it runs.
#[test]
fn on_sqlite_erase_and_worker_are_refused_beside_serve() {
    let dir = tempfile::tempdir().unwrap();
    let (child, _, _) = start_serve(dir.path());
    let run = |command: &str| {
        let mut cmd = viewmark();
        cmd.arg(command)
            .env("VIEWMARK_DATA_DIR", dir.path())
            .env("VIEWMARK_SECRETS_DIR", secrets_dir(dir.path()));
        if command == "erase" {
            cmd.args(["--user", "user-ada"]);
        }
        cmd.output().unwrap()
    };
    for command in ["erase", "worker"] {
        let out = run(command);
        assert!(!out.status.success(), "{command} ran beside serve");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("one process owns it"), "{command}: {stderr}");
    }
    assert!(terminate(child).success());
    let out = run("erase");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()["erased"], false);
    std::fs::remove_dir_all(secrets_dir(dir.path())).unwrap();
}

#[test]
fn serve_warns_loudly_when_the_master_key_is_in_the_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    // Where an earlier version created it.
    std::fs::write(dir.path().join("encryption.key"), "5c".repeat(32)).unwrap();
    let (child, _, lines) = start_serve(dir.path());
    assert!(lines.iter().any(|l| l.contains("SECURITY") && l.contains("master key")), "{lines:#?}");
    assert!(!secrets_dir(dir.path()).exists(), "the key in use was not replaced by a new one");
    assert!(terminate(child).success());
}

#[test]
fn quota_says_how_many_posts_each_budget_sustains() {
    let out =
        viewmark().arg("quota").env("VIEWMARK_PLATFORMS__X__REQUESTS_PER_15_MIN", "30").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let plans: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let of = |platform: &str| {
        plans.as_array().unwrap().iter().find(|p| p["platform"] == platform).unwrap().clone()
    };
    // 30 lookups of 100 posts per 15 minutes: 12,000 posts hourly, 3,000 every 15 minutes.
    let x = of("x");
    assert_eq!(x["holder"], "app");
    assert!(x["sustained"].as_array().unwrap().contains(&serde_json::json!([3600, 12_000])), "{x}");
    assert!(x["sustained"].as_array().unwrap().contains(&serde_json::json!([900, 3_000])), "{x}");
    assert_eq!(of("instagram")["holder"], "each_creator_token");
}

#[test]
fn migrate_creates_the_default_database() {
    let dir = tempfile::tempdir().unwrap();
    let out = viewmark()
        .arg("migrate")
        .env("VIEWMARK_DATA_DIR", dir.path())
        .env("VIEWMARK_SECRETS_DIR", dir.path().join("secrets"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(dir.path().join("viewmark.db").exists());
}

#[test]
fn a_bad_database_url_is_refused_with_one_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let out = viewmark()
        .arg("migrate")
        .env("VIEWMARK_DATA_DIR", dir.path())
        .env("VIEWMARK_DATABASE_URL", "mysql://db/viewmark")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("unsupported database URL"), "{stderr}");
    // Refused before anything is written: no key file, no database.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn postgres_without_a_separate_key_store_is_refused() {
    let out = viewmark()
        .arg("migrate")
        .env("VIEWMARK_DATABASE_URL", "postgres://viewmark:s3cret-pw@127.0.0.1:1/viewmark")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("keystore_url is required with PostgreSQL"), "{stderr}");
    assert!(!stderr.contains("s3cret-pw"), "the password was printed: {stderr}");
}

#[test]
fn an_unreachable_database_fails_fast_without_printing_the_url() {
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let out = viewmark()
        .arg("serve")
        .env("VIEWMARK_DATA_DIR", dir.path())
        .env("VIEWMARK_SECRETS_DIR", dir.path())
        .env("VIEWMARK_DATABASE_URL", "postgres://viewmark:s3cret-pw@127.0.0.1:1/viewmark")
        .env("VIEWMARK_KEYSTORE_URL", "postgres://viewmark:s3cret-pw@127.0.0.1:1/viewmark_keys")
        .env("VIEWMARK_DATABASE__CONNECT_TIMEOUT_SECS", "2")
        .env("VIEWMARK_BIND", "127.0.0.1:0")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(started.elapsed() < Duration::from_secs(15));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot reach the database"), "{stderr}");
    assert!(!stderr.contains("s3cret-pw"), "the password was printed: {stderr}");
}

#[test]
fn embed_and_detect_follow_the_cli_contract() {
    let dir = tempfile::tempdir().unwrap();
    let input = format!("{}/fixtures/images/hubble_deep_field.jpg", env!("CARGO_MANIFEST_DIR"));
    let key_file = dir.path().join("k.key");
    std::fs::write(&key_file, "ab".repeat(32)).unwrap();
    let output = dir.path().join("marked.png");
    let embed = viewmark()
        .args(["embed", "--input", &input, "--output"])
        .arg(&output)
        .args(["--payload", "00c0ffee12345678", "--key-file"])
        .arg(&key_file)
        .output()
        .unwrap();
    assert!(embed.status.success(), "{}", String::from_utf8_lossy(&embed.stderr));
    let (original, marked) = (image::open(&input).unwrap(), image::open(&output).unwrap());
    assert_eq!((original.width(), original.height()), (marked.width(), marked.height()));

    let found = detect(&output, &key_file);
    assert_eq!(found["payload"], "00c0ffee12345678");
    assert!(found["score"].as_f64().unwrap() > 0.0);
    assert_eq!(found["marks"].as_array().map(Vec::len), Some(1), "{found}");
    assert_eq!(found["marks"][0]["payload"], "00c0ffee12345678");
    let unmarked = detect(std::path::Path::new(&input), &key_file);
    assert_eq!(unmarked["payload"], serde_json::Value::Null);
    assert!(unmarked["score"].is_number());
    assert_eq!(unmarked["marks"], serde_json::json!([]));

    // A collage of two marked pictures: the best mark, and both beside it.
    let key = viewmark::watermark::Key::from_bytes([0xab; 32]);
    let other = image::open(format!("{}/fixtures/images/coffee.png", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let other = viewmark::watermark::embed(&other.to_rgb8(), &key, 0x0123_4567_89ab_cdef);
    let collage = viewmark::simulator::attacks::side_by_side(&marked.to_rgb8(), &other, 720);
    let collage_path = dir.path().join("collage.png");
    collage.save(&collage_path).unwrap();
    let both = detect(&collage_path, &key_file);
    let mut payloads: Vec<&str> =
        both["marks"].as_array().unwrap().iter().map(|m| m["payload"].as_str().unwrap()).collect();
    payloads.sort_unstable();
    assert_eq!(payloads, ["00c0ffee12345678", "0123456789abcdef"], "{both}");
    assert_eq!(both["payload"], both["marks"][0]["payload"]);

    let bad = viewmark()
        .args(["embed", "--input", &input, "--output", "x.png", "--payload", "xyz"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
}

#[test]
fn service_tokens_are_shown_once_stored_hashed_and_revocable() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let mut cmd = viewmark();
        cmd.args(args).env("VIEWMARK_DATA_DIR", dir.path()).env("VIEWMARK_SECRETS_DIR", dir.path());
        cmd.output().unwrap()
    };
    let out = run(&["token", "create", "--name", "payouts", "--scope", "payouts:read", "--scope", "admin"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let created: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let token = created["token"].as_str().unwrap();
    assert!(token.starts_with("vmk_"), "{token}");
    assert_eq!(created["scopes"], serde_json::json!(["admin", "payouts:read"]));
    assert!(!String::from_utf8_lossy(&out.stderr).contains(token), "the token was logged");
    // The database and its write-ahead log, where a fresh row may still sit.
    let stored: Vec<u8> = ["viewmark.db", "viewmark.db-wal"]
        .iter()
        .flat_map(|f| std::fs::read(dir.path().join(f)).unwrap_or_default())
        .collect();
    let hash = viewmark::api::auth::service_token::hash(token);
    assert!(!stored.windows(token.len()).any(|w| w == token.as_bytes()), "the token is stored in clear");
    assert!(stored.windows(hash.len()).any(|w| w == hash.as_bytes()), "its hash is what is stored");

    let bad = run(&["token", "create", "--name", "x", "--scope", "root"]);
    assert!(!bad.status.success());
    let id = created["id"].as_str().unwrap();
    assert!(run(&["token", "revoke", "--id", id]).status.success());
    assert!(
        !run(&["token", "revoke", "--id", id]).status.success(),
        "a revoked token cannot be revoked again"
    );
}

#[tokio::test]
async fn simulated_platforms_start_with_one_command_and_answer_the_adapters() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("simulated.toml");
    let mut child = viewmark()
        .args(["simulate-platforms", "--bind", "127.0.0.1:0", "--write-config"])
        .arg(&config)
        .env("VIEWMARK_DATA_DIR", dir.path())
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let first: serde_json::Value = serde_json::from_str(&stdout.next().unwrap().unwrap()).unwrap();
    let base = first["simulator"].as_str().unwrap().to_owned();

    // `serve` reads the written config: the adapters built from it reach the simulator.
    let settings = viewmark::config::Settings::load(&config).unwrap();
    assert_eq!(settings.platforms.x.base_url, base);
    let platforms = viewmark::platforms::Platforms::new(&settings.platforms).unwrap();
    let seen = platforms
        .adapter(viewmark::domain::Platform::X)
        .observe(&viewmark::platforms::start_gate::Ungated, &["1800000000000000001".to_owned()], None)
        .await
        .unwrap();
    assert_eq!(seen[0].author_handle.as_deref(), Some("ana_creates"));
    let fetcher = viewmark::platforms::fetcher::MediaFetcher::new(&settings.platforms.media).unwrap();
    let media = fetcher
        .fetch(
            &viewmark::platforms::start_gate::Ungated,
            viewmark::domain::Platform::X,
            &seen[0].media_urls[0],
        )
        .await
        .unwrap();
    assert!(!media.bytes.is_empty());
    terminate(child);
}
