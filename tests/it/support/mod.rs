//! Test databases on both backends, and the real server spawned on a random port.

pub mod cli;
pub mod clips;
pub mod creators;
pub mod files;
pub mod marked;
pub mod platforms;
pub mod tokens;
pub mod tracked;

use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::Value;
use sqlx::{AnyPool, Executor};
use viewmark::config::Settings;
use viewmark::secret::Secret;
use viewmark::store::{self, ConnectOptions, KeyStore, MasterKey, MasterKeys, Store};
use viewmark::watermark::Key;

pub const POSTGRES_ENV: &str = "VIEWMARK_TEST_POSTGRES_URL";
/// Set by CI so that a missing PostgreSQL fails the run instead of skipping half of it.
pub const REQUIRE_POSTGRES_ENV: &str = "VIEWMARK_TEST_REQUIRE_POSTGRES";

/// A fresh, empty database for one test, removed when dropped.
pub struct TestDb {
    pub url: String,
    /// The key store: a database of its own beside the main one.
    pub keystore_url: String,
    _dir: Option<tempfile::TempDir>,
    /// The admin URL and the databases to drop.
    drop_postgres: Option<(String, Vec<String>)>,
}

impl TestDb {
    pub fn sqlite() -> TestDb {
        crate::log_guard::install();
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/viewmark.db", dir.path().display());
        let keystore_url = format!("sqlite://{}/keys.db", dir.path().display());
        TestDb { url, keystore_url, _dir: Some(dir), drop_postgres: None }
    }

    /// A new database on the test PostgreSQL server, or `None` when none is configured.
    pub async fn postgres() -> Option<TestDb> {
        crate::log_guard::install();
        let Ok(admin_url) = std::env::var(POSTGRES_ENV) else {
            assert!(
                std::env::var(REQUIRE_POSTGRES_ENV).is_err(),
                "{REQUIRE_POSTGRES_ENV} is set but {POSTGRES_ENV} is not"
            );
            eprintln!("skipped: {POSTGRES_ENV} is not set");
            return None;
        };
        sqlx::any::install_default_drivers();
        let name = format!("viewmark_test_{}", uuid::Uuid::new_v4().simple());
        let admin = AnyPool::connect(&admin_url).await.expect("connect to the test PostgreSQL server");
        let keys_name = format!("{name}_keys");
        admin.execute(format!("CREATE DATABASE {name}").as_str()).await.unwrap();
        admin.execute(format!("CREATE DATABASE {keys_name}").as_str()).await.unwrap();
        admin.close().await;
        let (base, _) = admin_url.rsplit_once('/').expect("database URL has a path");
        let url = format!("{base}/{name}");
        let keystore_url = format!("{base}/{keys_name}");
        Some(TestDb {
            url,
            keystore_url,
            _dir: None,
            drop_postgres: Some((admin_url, vec![name, keys_name])),
        })
    }

    pub async fn store(&self) -> Arc<dyn Store> {
        store::connect(&self.url, &self.options()).await.unwrap()
    }

    pub fn options(&self) -> ConnectOptions {
        ConnectOptions {
            max_connections: 5,
            connect_timeout: Duration::from_secs(5),
            migrate: true,
            keystore_url: self.keystore_url.clone(),
            master_keys: MasterKeys { current: MasterKey::new(&TEST_ENCRYPTION_KEY), previous: vec![] },
        }
    }

    /// A raw pool on the key store.
    pub async fn raw_keystore(&self) -> AnyPool {
        sqlx::any::install_default_drivers();
        AnyPool::connect(&self.keystore_url).await.unwrap()
    }

    /// The key store as the service opens it.
    pub async fn key_store(&self) -> KeyStore {
        KeyStore::open(&self.keystore_url, self.options().master_keys, Duration::from_secs(5)).await.unwrap()
    }

    /// A raw pool on the same database, for checks the store interface deliberately lacks
    /// (tampering with rows, scanning tables).
    pub async fn raw(&self) -> AnyPool {
        sqlx::any::install_default_drivers();
        AnyPool::connect(&self.url).await.unwrap()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some((admin_url, names)) = self.drop_postgres.take() else { return };
        // Drop runs outside async context (and possibly while panicking): use a private runtime.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                if let Ok(admin) = AnyPool::connect(&admin_url).await {
                    for name in names {
                        let drop = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                        let _ = admin.execute(drop.as_str()).await;
                    }
                    admin.close().await;
                }
            });
        })
        .join();
    }
}

/// Runs a test body once on SQLite and once on PostgreSQL. The PostgreSQL half is reported
/// as ignored when no test server is configured (see build.rs); `ffmpeg:` first marks bodies
/// that need ffmpeg, ignored likewise where it is missing.
#[macro_export]
macro_rules! on_both_backends {
    (ffmpeg: $($name:ident),+ $(,)?) => {$(
        $crate::on_both_backends!(@pair $name,
            [#[cfg_attr(not(viewmark_test_ffmpeg), ignore = "needs ffmpeg and ffprobe on the PATH (CI installs them)")]],
            [#[cfg_attr(
                not(all(viewmark_test_postgres, viewmark_test_ffmpeg)),
                ignore = "needs ffmpeg and ffprobe, and VIEWMARK_TEST_POSTGRES_URL naming a PostgreSQL server (CI sets both)"
            )]]);
    )+};
    (@pair $name:ident, [$($sqlite_attr:tt)*], [$($postgres_attr:tt)*]) => {
        mod $name {
            #[tokio::test]
            $($sqlite_attr)*
            async fn sqlite() {
                super::$name($crate::support::TestDb::sqlite()).await;
            }
            #[tokio::test]
            $($postgres_attr)*
            async fn postgres() {
                let db = $crate::support::TestDb::postgres().await.expect("VIEWMARK_TEST_POSTGRES_URL");
                super::$name(db).await;
            }
        }
    };
    ($($name:ident),+ $(,)?) => {$(
        $crate::on_both_backends!(@pair $name,
            [],
            [#[cfg_attr(
                not(viewmark_test_postgres),
                ignore = "needs VIEWMARK_TEST_POSTGRES_URL naming a PostgreSQL server (CI sets it)"
            )]]);
    )+};
}

/// The identity provider's webhook signing secret in tests.
pub const WEBHOOK_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

pub const TEST_ENCRYPTION_KEY: [u8; 32] = [9u8; 32];

pub fn test_key() -> Key {
    Key::from_bytes([7u8; 32])
}

pub const TEST_ISSUER: &str = "https://idp.test";
pub const TEST_AUDIENCE: &str = "viewmark";

pub fn fixture_path(relative: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures").join(relative)
}

pub fn test_settings(db: &TestDb) -> Settings {
    let mut settings = Settings {
        bind: "127.0.0.1:0".into(),
        database_url: Some(Secret::new(db.url.clone())),
        keystore_url: Some(Secret::new(db.keystore_url.clone())),
        encryption_key: Some(Secret::new(hex::encode(TEST_ENCRYPTION_KEY))),
        ..Settings::default()
    };
    settings.auth.issuer = Some(TEST_ISSUER.into());
    settings.auth.audience = Some(TEST_AUDIENCE.into());
    settings.auth.public_key_files = vec![fixture_path("auth/test-idp-public.pem")];
    settings.auth.allowed_origins = vec!["https://app.test".into()];
    settings.webhooks.identity_secret = Some(Secret::new(WEBHOOK_SECRET));
    // Tests drive the poller round by round.
    settings.tracking.poll_in_serve = false;
    settings
}

/// The real server on a random port.
pub struct TestApp {
    pub address: String,
    pub store: Arc<dyn Store>,
    pub client: reqwest::Client,
    /// Shared with a poller the test runs beside the server.
    pub consent_locks: Arc<viewmark::consent::locks::ConsentLocks>,
    /// Kept alive so the database outlives the server.
    pub _db: TestDb,
}

impl TestApp {
    pub async fn spawn(db: TestDb) -> TestApp {
        Self::spawn_with(db, |_| {}).await
    }

    pub async fn spawn_with(db: TestDb, adjust: impl FnOnce(&mut Settings)) -> TestApp {
        let mut settings = test_settings(&db);
        adjust(&mut settings);
        let store = db.store().await;
        let app = viewmark::startup::Application::build_with(&settings, store.clone(), test_key()).unwrap();
        let address = format!("http://127.0.0.1:{}", app.port());
        let consent_locks = app.consent_locks();
        tokio::spawn(app.run_until_stopped());
        TestApp { address, store, client: reqwest::Client::new(), consent_locks, _db: db }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }
}

/// JSON calls with an optional bearer token; the body comes back as JSON (null if none).
impl TestApp {
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        bearer: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.client.request(method, self.url(path));
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }
}
