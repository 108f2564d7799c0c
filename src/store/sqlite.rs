//! SQLite specifics: file creation (owner-only), WAL mode with a busy timeout, foreign keys
//! on, deleted content overwritten (`secure_delete`) and purged from the WAL on demand, and a
//! single never-closed connection for `:memory:` databases (each connection would otherwise
//! see its own empty database).

use std::path::Path;
use std::time::Duration;

use sqlx::any::AnyPoolOptions;
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, Executor, Row};

use super::{StoreError, StoreResult};

pub(super) static MIGRATOR: Migrator = sqlx::migrate!("migrations/sqlite");

/// WAL with a busy timeout; reads through a memory map and a larger page cache, which the
/// payout queries (hundreds of thousands of snapshots) need to run from memory. Deleted
/// rows are overwritten with zeros in their pages (`secure_delete`), so an erased row's bytes
/// do not linger in free space for a reader of the file.
const PRAGMAS: [&str; 7] = [
    "PRAGMA journal_mode = WAL",
    "PRAGMA busy_timeout = 5000",
    "PRAGMA foreign_keys = ON",
    "PRAGMA synchronous = NORMAL",
    "PRAGMA mmap_size = 268435456",
    "PRAGMA cache_size = -16384",
    "PRAGMA secure_delete = ON",
];

/// How often a truncating checkpoint is tried; each attempt already waits up to the busy
/// timeout for readers of older pages.
const CHECKPOINT_ATTEMPTS: u32 = 3;

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
    create_private(Path::new(file))?;
    // Create the database file on first start.
    let url = if url.contains('?') { url.to_owned() } else { format!("{url}?mode=rwc") };
    Ok((url, options))
}

/// Creates the database file readable by its owner only (SQLite gives its WAL and shared
/// memory files the database file's mode), and takes group and other access away from one
/// created before.
fn create_private(file: &Path) -> StoreResult<()> {
    let failed =
        |e: std::io::Error| StoreError::Unreachable(format!("cannot create {}: {e}", file.display()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(file) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => restrict(file).map_err(failed),
        Err(e) => Err(failed(e)),
    }
}

#[cfg(unix)]
fn restrict(file: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(file)?.permissions().mode();
    if mode & 0o077 != 0 {
        tracing::warn!(
            mode = format!("{:o}", mode & 0o777),
            "a database file was readable by others: now 0600"
        );
        std::fs::set_permissions(file, std::fs::Permissions::from_mode(mode & 0o700))?;
    }
    Ok(())
}

#[cfg(not(unix))]
fn restrict(_file: &Path) -> std::io::Result<()> {
    Ok(())
}

/// Moves every page of the WAL into the database file and truncates the WAL to nothing, so
/// that pages holding deleted rows survive in neither file. Retries while another
/// connection still reads older pages; gives up (and reports it) after a few attempts.
pub(super) async fn purge_wal(pool: &AnyPool) -> StoreResult<()> {
    for _ in 0..CHECKPOINT_ATTEMPTS {
        let row = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").fetch_one(pool).await?;
        let busy: i64 = row.try_get(0)?;
        if busy == 0 {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(StoreError::Unreachable("the WAL could not be checkpointed: readers held it".into()))
}

/// A claim on a SQLite database by the one process that may poll, revoke or erase on it,
/// held (an exclusive lock on `<database>-owner.lock`) until dropped.
///
/// The consent gate orders polls and revocations with in-process locks on SQLite, which
/// hold only inside one process: `serve`, `worker` and `erase` therefore claim the database
/// first, and a second claimant is refused rather than let a revocation commit between
/// another process's consent check and its request. Several processes need PostgreSQL.
#[derive(Debug)]
pub struct SoleProcess {
    _lock: std::fs::File,
}

/// Claims the SQLite database at `url` for this process; `Ok(None)` for another backend
/// or an in-memory database, `Err` with the reason when another process holds it.
pub fn claim_sole_process(url: &str) -> Result<Option<SoleProcess>, String> {
    if !url.starts_with("sqlite:") || url.contains(":memory:") || url.contains("mode=memory") {
        return Ok(None);
    }
    let path = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")).unwrap_or(url);
    let file = path.split('?').next().unwrap_or(path);
    let lock_path = format!("{file}-owner.lock");
    if let Some(dir) = Path::new(file).parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let lock = options.open(&lock_path).map_err(|e| format!("cannot open {lock_path}: {e}"))?;
    match lock.try_lock() {
        Ok(()) => Ok(Some(SoleProcess { _lock: lock })),
        Err(std::fs::TryLockError::WouldBlock) => {
            Err("another viewmark process (serve, worker or erase) is using this SQLite database, and on \
             SQLite one process owns it: erase through the API, or stop that process first; \
             several processes need PostgreSQL"
                .into())
        }
        Err(std::fs::TryLockError::Error(e)) => Err(format!("cannot lock {lock_path}: {e}")),
    }
}
