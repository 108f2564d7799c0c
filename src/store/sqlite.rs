//! SQLite specifics: file creation, WAL mode with a busy timeout, foreign keys on, and a
//! single never-closed connection for `:memory:` databases (each connection would otherwise
//! see its own empty database).

use std::path::Path;

use sqlx::any::AnyPoolOptions;
use sqlx::migrate::Migrator;
use sqlx::Executor;

use super::{StoreError, StoreResult};

pub(super) static MIGRATOR: Migrator = sqlx::migrate!("migrations/sqlite");

/// WAL with a busy timeout; reads through a memory map and a larger page cache, which the
/// payout queries (hundreds of thousands of snapshots) need to run from memory.
const PRAGMAS: [&str; 6] = [
    "PRAGMA journal_mode = WAL",
    "PRAGMA busy_timeout = 5000",
    "PRAGMA foreign_keys = ON",
    "PRAGMA synchronous = NORMAL",
    "PRAGMA mmap_size = 268435456",
    "PRAGMA cache_size = -16384",
];

/// Adjusts the URL and pool options for SQLite.
pub(super) fn prepare(url: &str, options: AnyPoolOptions) -> StoreResult<(String, AnyPoolOptions)> {
    let options = options.after_connect(|conn, _meta| {
        Box::pin(async move {
            for pragma in PRAGMAS {
                conn.execute(pragma).await?;
            }
            Ok(())
        })
    });
    if url.contains(":memory:") || url.contains("mode=memory") {
        let options = options.max_connections(1).min_connections(1).idle_timeout(None).max_lifetime(None);
        return Ok((url.to_owned(), options));
    }
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .ok_or(StoreError::UnsupportedUrl)?;
    let file = path.split('?').next().unwrap_or(path);
    if let Some(dir) = Path::new(file).parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::Unreachable(format!("cannot create {}: {e}", dir.display())))?;
    }
    // Create the database file on first start.
    let url = if url.contains('?') { url.to_owned() } else { format!("{url}?mode=rwc") };
    Ok((url, options))
}
