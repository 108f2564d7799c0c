//! Configuration: built-in defaults, then an optional TOML file, then `VIEWMARK_*`
//! environment variables (nested keys separated by `__`, e.g. `VIEWMARK_LIMITS__BODY_BYTES`).

use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;

use crate::api::auth::AuthSettings;
use crate::api::{Limits, RateLimitSettings};
use crate::consent::ConsentSettings;
use crate::secret::Secret;
use crate::telemetry::{LogFormat, LogSettings};
use serde::{Deserialize, Serialize};

/// Everything the service reads from its environment.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Settings {
    /// Address the HTTP server binds to; port 0 picks a free port.
    pub bind: String,
    /// Directory for the embedded database, its key store and the generated watermark key.
    pub data_dir: PathBuf,
    /// Directory for the master key generated when none is configured. It is kept apart
    /// from `data_dir` (another volume, another backup): a copy of the data directory
    /// together with the master key would undo crypto-shredding.
    pub secrets_dir: PathBuf,
    /// `sqlite://...` or `postgres://...`; defaults to `sqlite://<data_dir>/viewmark.db`.
    pub database_url: Option<Secret>,
    pub database: DatabaseSettings,
    pub log: LogSettings,
    pub limits: Limits,
    /// Limits on video inputs, encoder quality, frames read for detection.
    pub video: crate::media::video::VideoSettings,
    /// 64 hex digits. When absent, a key file in `data_dir` is used (created by `serve`).
    pub watermark_key: Option<Secret>,
    /// Path of a file holding the watermark key as 64 hex digits.
    pub watermark_key_file: Option<PathBuf>,
    /// 64 hex digits: the master key, which seals every creator's data key (and those seal
    /// their personal fields). When absent, a key file in `secrets_dir` is used (created once).
    pub encryption_key: Option<Secret>,
    /// Path of a file holding the master key as 64 hex digits.
    pub encryption_key_file: Option<PathBuf>,
    /// Earlier master keys, still accepted while `viewmark rotate-master-key` re-seals the
    /// key store under the current one; remove them once it has run.
    pub encryption_previous_key_files: Vec<PathBuf>,
    /// The key store: the creators' data keys, in a database other than the main one (its
    /// backups must not travel with the main database's). Defaults to
    /// `sqlite://<data_dir>/keys.db` when the main database is SQLite; required with
    /// PostgreSQL.
    pub keystore_url: Option<Secret>,
    /// Seconds in-flight requests get to finish after SIGTERM/SIGINT.
    pub shutdown_timeout_secs: u64,
    pub auth: AuthSettings,
    pub consent: ConsentSettings,
    pub rate_limit: RateLimitSettings,
    /// The platform APIs, our credentials for them, and the media fetcher's rules.
    pub platforms: crate::platforms::PlatformSettings,
    /// The poller's schedule, leases and verification attempts.
    pub tracking: crate::tracking::TrackingSettings,
    pub webhooks: WebhookSettings,
    /// The hold window, period bounds and fraud thresholds.
    pub payouts: crate::payouts::PayoutSettings,
    /// Signed webhooks to the payout system: timeouts, retries, addresses.
    pub outbound_webhooks: crate::webhooks::DeliverySettings,
    /// How long what the privacy policy lets expire is kept, and how often it is swept.
    pub retention: crate::consent::retention::RetentionSettings,
}

/// The identity provider's webhooks (Svix signatures).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WebhookSettings {
    /// The signing secret, `whsec_...`; without it every delivery is refused.
    pub identity_secret: Option<Secret>,
    /// How far a delivery's timestamp may be from now.
    pub tolerance_secs: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DatabaseSettings {
    pub max_connections: u32,
    /// How long start-up waits for the database before giving up.
    pub connect_timeout_secs: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            bind: "127.0.0.1:8080".into(),
            data_dir: PathBuf::from("data"),
            secrets_dir: PathBuf::from("secrets"),
            database_url: None,
            database: DatabaseSettings { max_connections: 10, connect_timeout_secs: 5 },
            log: LogSettings { format: LogFormat::Text, level: "info".into() },
            limits: Limits::default(),
            video: crate::media::video::VideoSettings::default(),
            watermark_key: None,
            watermark_key_file: None,
            encryption_key: None,
            encryption_key_file: None,
            encryption_previous_key_files: Vec::new(),
            keystore_url: None,
            shutdown_timeout_secs: 30,
            auth: AuthSettings {
                leeway_secs: 30,
                jwks_min_refresh_secs: 60,
                jwks_ttl_secs: 900,
                jwks_max_stale_secs: 3600,
                ..AuthSettings::default()
            },
            consent: ConsentSettings {
                policy_version: "2026-01".into(),
                minimum_age: 13,
                regrant_grace_days: 30,
            },
            rate_limit: RateLimitSettings { per_minute: 600, burst: 60 },
            platforms: crate::platforms::PlatformSettings::default(),
            tracking: crate::tracking::TrackingSettings::default(),
            webhooks: WebhookSettings { identity_secret: None, tolerance_secs: 300 },
            payouts: crate::payouts::PayoutSettings::default(),
            outbound_webhooks: crate::webhooks::DeliverySettings::default(),
            retention: crate::consent::retention::RetentionSettings::default(),
        }
    }
}

impl Settings {
    /// Loads defaults, then `config_file` if it exists, then the environment.
    pub fn load(config_file: &Path) -> Result<Settings, Box<figment::Error>> {
        Figment::from(Serialized::defaults(Settings::default()))
            .merge(Toml::file(config_file))
            .merge(Env::prefixed("VIEWMARK_").split("__"))
            .extract()
            .map_err(Box::new)
    }

    /// The key store's URL in effect.
    pub fn keystore_url(&self) -> Result<Secret, String> {
        if let Some(url) = &self.keystore_url {
            return Ok(url.clone());
        }
        match crate::store::Backend::from_url(self.database_url().expose()) {
            // (An unknown scheme is refused when the main database is opened.)
            Some(crate::store::Backend::Sqlite) | None => {
                Ok(Secret::new(format!("sqlite://{}/keys.db", self.data_dir.display())))
            }
            Some(crate::store::Backend::Postgres) => {
                Err("keystore_url is required with PostgreSQL: the creators' data keys must live \
                      outside the main database"
                    .into())
            }
        }
    }

    /// The database URL in effect.
    pub fn database_url(&self) -> Secret {
        match &self.database_url {
            Some(url) => url.clone(),
            None => Secret::new(format!("sqlite://{}/viewmark.db", self.data_dir.display())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted_in_debug_output() {
        let s = Settings {
            watermark_key: Some(Secret::new("00ff00ff")),
            database_url: Some(Secret::new("postgres://user:hunter2@db/x")),
            ..Settings::default()
        };
        let shown = format!("{s:?}");
        assert!(!shown.contains("hunter2"));
        assert!(!shown.contains("00ff00ff"));
    }

    #[test]
    fn default_database_is_sqlite_in_the_data_dir() {
        let s = Settings { data_dir: PathBuf::from("/var/lib/viewmark"), ..Settings::default() };
        assert_eq!(s.database_url().expose(), "sqlite:///var/lib/viewmark/viewmark.db");
    }
}
