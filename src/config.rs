//! Configuration: built-in defaults, then an optional TOML file, then `VIEWMARK_*`
//! environment variables (nested keys separated by `__`, e.g. `VIEWMARK_LIMITS__BODY_BYTES`).

use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;

use crate::domain::Secret;
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
}

/// The identity provider's webhooks (Svix signatures).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WebhookSettings {
    /// The signing secret, `whsec_...`; without it every delivery is refused.
    pub identity_secret: Option<Secret>,
    /// How far a delivery's timestamp may be from now.
    pub tolerance_secs: u64,
}

/// Requests each caller (creator or service token) may make.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RateLimitSettings {
    /// Sustained rate.
    pub per_minute: u32,
    /// Requests allowed at once above the sustained rate.
    pub burst: u32,
}

/// How creators' session tokens from the identity provider are checked. With no issuer,
/// audience or key configured, every creator token is refused (fail closed).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct AuthSettings {
    /// The `iss` every token must carry.
    pub issuer: Option<String>,
    /// The `aud` every token must carry.
    pub audience: Option<String>,
    /// The identity provider's RS256 public keys, PEM text.
    pub public_keys_pem: Vec<String>,
    /// Files holding such PEM keys.
    pub public_key_files: Vec<PathBuf>,
    /// The identity provider's key set (JWKS), fetched when first needed and again when a
    /// token names a key id not seen yet.
    pub jwks_url: Option<String>,
    /// The key set is fetched again at most this often, however many unknown key ids arrive.
    pub jwks_min_refresh_secs: u64,
    /// Fetched keys are trusted this long (less if the answer's `Cache-Control: max-age` says
    /// so), then fetched again: a key the provider withdrew is refused after at most this.
    pub jwks_ttl_secs: u64,
    /// While the provider cannot be reached, expired keys stay usable this much longer.
    pub jwks_max_stale_secs: u64,
    /// Clock skew allowed on `exp` and `nbf`, in seconds.
    pub leeway_secs: u64,
    /// Accepted `azp` (authorized party) values, checked when a token carries one.
    pub allowed_origins: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConsentSettings {
    /// Version of the privacy policy text creators consent to when joining or re-granting.
    pub policy_version: String,
    /// The youngest age allowed into the Creator Program.
    pub minimum_age: i32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DatabaseSettings {
    pub max_connections: u32,
    /// How long start-up waits for the database before giving up.
    pub connect_timeout_secs: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LogSettings {
    pub format: LogFormat,
    /// A tracing `EnvFilter` directive, e.g. `info` or `viewmark=debug,info`.
    pub level: String,
}

/// Hard limits on what callers may send.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Limits {
    /// Largest request body accepted (media uploads included).
    pub body_bytes: usize,
    /// Largest JSON request body accepted.
    pub json_bytes: usize,
    /// Largest decoded image, in pixels.
    pub max_pixels: u64,
    /// Largest decoded image side, in pixels.
    pub max_dimension: u32,
    /// Images decoded, marked or detected at once; more wait their turn, so a burst of
    /// uploads cannot exhaust memory.
    pub media_concurrency: usize,
    /// The memory media work may take at once: `media_concurrency` pictures of `max_pixels`
    /// each at `MEDIA_BYTES_PER_PIXEL`. A configuration that could exceed it is refused at
    /// start.
    pub media_memory_bytes: u64,
    /// A linked account not proven within this many seconds is unlinked: an unproven link
    /// claims nothing, and none lingers.
    pub unproven_link_secs: u64,
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
            limits: Limits {
                body_bytes: 32 * 1024 * 1024,
                json_bytes: 256 * 1024,
                max_pixels: 8192 * 8192,
                max_dimension: 16384,
                // Every core, up to four: four pictures at the pixel limit fit the memory budget.
                media_concurrency: std::thread::available_parallelism().map_or(2, |n| n.get().min(4)),
                unproven_link_secs: 7 * 24 * 3600,
                media_memory_bytes: 8 << 30,
            },
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
            consent: ConsentSettings { policy_version: "2026-01".into(), minimum_age: 13 },
            rate_limit: RateLimitSettings { per_minute: 600, burst: 60 },
            platforms: crate::platforms::PlatformSettings::default(),
            tracking: crate::tracking::TrackingSettings::default(),
            webhooks: WebhookSettings { identity_secret: None, tolerance_secs: 300 },
            payouts: crate::payouts::PayoutSettings::default(),
        }
    }
}

/// Peak memory of marking or reading one picture, per pixel: the decoded RGB, the planes of
/// luma, mask and mark, the re-encoded output, with room to spare over the peak that
/// docs/watermark.md measures.
pub const MEDIA_BYTES_PER_PIXEL: u64 = 16;

impl Limits {
    /// Refuses limits under which concurrent media work could take more memory than allowed.
    pub fn check_memory(&self) -> Result<(), String> {
        let worst = self.max_pixels * MEDIA_BYTES_PER_PIXEL * self.media_concurrency.max(1) as u64;
        if worst > self.media_memory_bytes {
            return Err(format!(
                "limits: {} pictures of {} pixels at once could take {} MiB, over media_memory_bytes ({} MiB): \
                 lower media_concurrency or max_pixels, or raise media_memory_bytes",
                self.media_concurrency,
                self.max_pixels,
                worst >> 20,
                self.media_memory_bytes >> 20
            ));
        }
        Ok(())
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

impl From<&Limits> for crate::media::image_io::ImageLimits {
    fn from(limits: &Limits) -> Self {
        crate::media::image_io::ImageLimits {
            max_bytes: limits.body_bytes,
            max_pixels: limits.max_pixels,
            max_dimension: limits.max_dimension,
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
    fn media_memory_is_bounded_by_configuration() {
        let limits = Settings::default().limits;
        assert!(limits.check_memory().is_ok(), "the defaults fit");
        let greedy = Limits { media_concurrency: 64, ..limits.clone() };
        let refused = greedy.check_memory().unwrap_err();
        assert!(refused.contains("media_memory_bytes"), "{refused}");
        let small = Limits { media_concurrency: 64, max_pixels: 1 << 20, ..limits };
        assert!(small.check_memory().is_ok(), "64 pictures of a megapixel fit");
    }

    #[test]
    fn default_database_is_sqlite_in_the_data_dir() {
        let s = Settings { data_dir: PathBuf::from("/var/lib/viewmark"), ..Settings::default() };
        assert_eq!(s.database_url().expose(), "sqlite:///var/lib/viewmark/viewmark.db");
    }
}
