//! The key store: one random data key per creator, sealed by the master key, kept in a
//! database of its own. Personal fields in the main database (profile, handles, post ids and
//! URLs, platform tokens) are sealed under their creator's data key, so the main database
//! and every backup of it hold ciphertext only. Erasure destroys the data key first: from
//! then on no copy of that creator's fields can be read, whoever holds the master key
//! (crypto-shredding). The key store is tiny and must not be backed up with the main
//! database (see docs/privacy.md).
//!
//! Columns that must stay unique or searchable (a handle, a post id, the identity provider's
//! user id) are stored as a keyed hash (a blind index) beside their sealed value. The index
//! key is itself a sealed row here, so rotating the master key changes nothing in the main
//! database: `rewrap_all` re-seals this store's rows under the current master key.

use std::collections::HashMap;
use std::time::Duration;

use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};
use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, Row};
use uuid::Uuid;

use super::columns::{parse_id, placeholders, to_ms, Backend};
use super::sealed::DataKey;
use super::{sqlite, StoreError, StoreResult};
use crate::domain::{CreatorId, Timestamp};
use crate::store::sealing::{Sealer, LAYOUT_1};

/// The owner of the blind-index key's row.
const INDEX_OWNER: Uuid = Uuid::nil();
/// What a data key is sealed for under the master key.
const DATA_KEY_CONTEXT: &[u8] = b"data_keys.sealed";
/// The most ids in one `IN (...)` list.
const BATCH: usize = 500;
/// How long (steps of `PURGE_WAIT_STEP`) a destruction waits for older transactions.
const PURGE_WAIT_STEPS: u32 = 100;
const PURGE_WAIT_STEP: Duration = Duration::from_millis(100);

/// A master key and its public id (a hash prefix: which key sealed a row, never the key).
#[derive(Clone)]
pub struct MasterKey {
    id: String,
    sealer: Sealer,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MasterKey({})", self.id)
    }
}

impl MasterKey {
    pub fn new(key: &[u8; 32]) -> MasterKey {
        let digest = Sha256::new().chain_update(b"viewmark master key id\0").chain_update(key).finalize();
        MasterKey { id: hex::encode(&digest[..8]), sealer: Sealer::new(key) }
    }

    pub fn id(&self) -> &str {
        &self.id
    }
}

/// The master key in force, and earlier ones still accepted while a rotation completes.
#[derive(Debug, Clone)]
pub struct MasterKeys {
    pub current: MasterKey,
    pub previous: Vec<MasterKey>,
}

impl MasterKeys {
    fn by_id(&self, id: &str) -> Option<&MasterKey> {
        std::iter::once(&self.current).chain(&self.previous).find(|k| k.id == id)
    }
}

pub struct KeyStore {
    pub(super) pool: AnyPool,
    backend: Backend,
    master: MasterKeys,
    index: Hmac<Sha256>,
}

impl KeyStore {
    /// Opens (creating if needed) the key store at `url`, refusing one that holds keys
    /// sealed under a master key not configured.
    pub async fn open(url: &str, master: MasterKeys, connect_timeout: Duration) -> StoreResult<KeyStore> {
        sqlx::any::install_default_drivers();
        let backend = Backend::from_url(url).ok_or(StoreError::UnsupportedUrl)?;
        let options = AnyPoolOptions::new().max_connections(4).acquire_timeout(connect_timeout);
        let (url, options) = match backend {
            Backend::Sqlite => sqlite::prepare(url, options)?,
            Backend::Postgres => (url.to_owned(), options),
        };
        let pool = tokio::time::timeout(connect_timeout, options.connect(&url))
            .await
            .map_err(|_| StoreError::Unreachable("timed out connecting to the key store".into()))?
            .map_err(|e| StoreError::Unreachable(format!("key store: {e}")))?;
        let blob = if backend == Backend::Postgres { "BYTEA" } else { "BLOB" };
        sqlx::query(&format!(
            "CREATE TABLE IF NOT EXISTS data_keys (owner TEXT PRIMARY KEY, sealed {blob} NOT NULL, \
             master_key_id TEXT NOT NULL, created_at BIGINT NOT NULL)"
        ))
        .execute(&pool)
        .await?;
        let unknown: Vec<String> = sqlx::query("SELECT DISTINCT master_key_id FROM data_keys")
            .fetch_all(&pool)
            .await?
            .iter()
            .map(|r| r.try_get::<String, _>(0))
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .filter(|id| master.by_id(id).is_none())
            .collect();
        if !unknown.is_empty() {
            return Err(StoreError::Keys(format!(
                "the key store holds keys sealed under master key(s) {} that are not configured \
                 (encryption_key / encryption_previous_key_files)",
                unknown.join(", ")
            )));
        }
        let mut store =
            KeyStore { pool, backend, master, index: Hmac::new_from_slice(&[0; 32]).map_err(corrupt)? };
        let index_key = match store.get(INDEX_OWNER).await? {
            Some(key) => key,
            None => {
                store.create(INDEX_OWNER, chrono::Utc::now()).await?;
                // Another process may have won the race: read back whichever row is stored.
                store.get(INDEX_OWNER).await?.ok_or(StoreError::KeyUnavailable)?
            }
        };
        store.index = Hmac::new_from_slice(&index_key).map_err(corrupt)?;
        Ok(store)
    }

    /// The blind index of `value` in `domain` (e.g. "handle:x"): equal inputs give equal
    /// outputs; without the key nothing can be learnt from it.
    pub fn blind_index(&self, domain: &str, value: &str) -> String {
        let mut mac = self.index.clone();
        mac.update(domain.as_bytes());
        mac.update(&[0]);
        mac.update(value.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// Creates a creator's data key (a no-op if one exists).
    pub async fn create_data_key(&self, creator: CreatorId, at: Timestamp) -> StoreResult<DataKey> {
        self.create(creator.as_uuid(), at).await?;
        self.data_key(creator).await?.ok_or(StoreError::KeyUnavailable)
    }

    pub async fn data_key(&self, creator: CreatorId) -> StoreResult<Option<DataKey>> {
        Ok(self.get(creator.as_uuid()).await?.map(|key| DataKey::new(creator, &key)))
    }

    /// The data keys of several creators (those that exist).
    pub async fn data_keys(&self, creators: &[CreatorId]) -> StoreResult<HashMap<CreatorId, DataKey>> {
        let owners: Vec<Uuid> = creators.iter().map(|c| c.as_uuid()).collect();
        let raw = self.raw_keys(&owners).await?;
        Ok(creators.iter().filter_map(|c| Some((*c, DataKey::new(*c, raw.get(&c.as_uuid())?)))).collect())
    }

    /// The keys of several owners (those that exist), unsealed, in one query per batch.
    pub(super) async fn raw_keys(&self, owners: &[Uuid]) -> StoreResult<HashMap<Uuid, [u8; 32]>> {
        let mut ids: Vec<Uuid> = owners.to_vec();
        ids.sort();
        ids.dedup();
        let mut keys = HashMap::new();
        for chunk in ids.chunks(BATCH) {
            let list = placeholders(1, chunk.len());
            let sql = format!("SELECT owner, sealed, master_key_id FROM data_keys WHERE owner IN ({list})");
            let mut query = sqlx::query(&sql);
            for id in chunk {
                query = query.bind(id.to_string());
            }
            for row in query.fetch_all(&self.pool).await? {
                let owner: Uuid = parse_id(&row.try_get::<String, _>("owner")?)?;
                keys.insert(owner, self.unseal(owner, &row)?);
            }
        }
        Ok(keys)
    }

    /// Destroys a creator's data key, leaving its bytes in none of the key store's files;
    /// true if there was one.
    ///
    /// A deleted row's bytes otherwise outlive the deletion: in free space of its page, in
    /// SQLite's WAL, in PostgreSQL's dead tuples. SQLite overwrites deleted content
    /// (`secure_delete`) and the WAL is then checkpointed and truncated; PostgreSQL rewrites
    /// the table (`VACUUM FULL`, instant on a table of one small row per creator), which
    /// leaves the dead tuple in no data file, once no transaction older than the deletion
    /// can still see it. Its WAL segments are the operator's to expire (docs/privacy.md).
    pub async fn destroy(&self, creator: CreatorId) -> StoreResult<bool> {
        self.destroy_owner(creator.as_uuid()).await
    }

    pub(super) async fn destroy_owner(&self, owner: Uuid) -> StoreResult<bool> {
        match self.backend {
            Backend::Sqlite => {
                let done = sqlx::query("DELETE FROM data_keys WHERE owner = $1")
                    .bind(owner.to_string())
                    .execute(&self.pool)
                    .await?;
                sqlite::purge_wal(&self.pool).await?;
                Ok(done.rows_affected() == 1)
            }
            Backend::Postgres => self.destroy_on_postgres(owner).await,
        }
    }

    /// PostgreSQL keeps a deleted tuple, even through `VACUUM FULL`, while a transaction
    /// that began before the deletion runs. The rewrite waits (a bounded time) until none
    /// does; if one outlasts the wait, the rewrite goes ahead and the next one purges the row.
    async fn destroy_on_postgres(&self, owner: Uuid) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query("DELETE FROM data_keys WHERE owner = $1")
            .bind(owner.to_string())
            .execute(&mut *tx)
            .await?;
        let xid: i64 = sqlx::query("SELECT CAST(txid_current() % 4294967296 AS BIGINT)")
            .fetch_one(&mut *tx)
            .await?
            .try_get(0)?;
        tx.commit().await?;
        let older = "SELECT COUNT(*) FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND \
                     (age(backend_xmin) >= age(CAST(CAST($1 AS TEXT) AS xid)) OR \
                      age(backend_xid) >= age(CAST(CAST($1 AS TEXT) AS xid)))";
        let mut clear = false;
        for _ in 0..PURGE_WAIT_STEPS {
            let holders: i64 = sqlx::query(older).bind(xid).fetch_one(&self.pool).await?.try_get(0)?;
            if holders == 0 {
                clear = true;
                break;
            }
            tokio::time::sleep(PURGE_WAIT_STEP).await;
        }
        if !clear {
            tracing::warn!("a transaction older than a data key's destruction outlasted the wait: its row is purged by the next destruction");
        }
        sqlx::query("VACUUM FULL data_keys").execute(&self.pool).await?;
        Ok(done.rows_affected() == 1)
    }

    /// Re-seals every key not sealed under the current master key; returns how many. Safe to
    /// repeat, and to run while the service runs.
    pub async fn rewrap_all(&self) -> StoreResult<u64> {
        let rows =
            sqlx::query("SELECT owner, sealed, master_key_id FROM data_keys WHERE master_key_id <> $1")
                .bind(self.master.current.id.clone())
                .fetch_all(&self.pool)
                .await?;
        let mut count = 0;
        for row in rows {
            let owner: Uuid = parse_id(&row.try_get::<String, _>("owner")?)?;
            let old_id: String = row.try_get("master_key_id")?;
            let key = self.unseal(owner, &row)?;
            let sealed = self.master.current.sealer.seal(owner, DATA_KEY_CONTEXT, &key).map_err(corrupt)?;
            let done = sqlx::query(
                "UPDATE data_keys SET sealed = $2, master_key_id = $3 WHERE owner = $1 AND master_key_id = $4",
            )
            .bind(owner.to_string())
            .bind(sealed)
            .bind(self.master.current.id.clone())
            .bind(old_id)
            .execute(&self.pool)
            .await?;
            count += done.rows_affected();
        }
        Ok(count)
    }

    /// How many keys are sealed under each master key id.
    pub async fn keys_per_master(&self) -> StoreResult<HashMap<String, u64>> {
        let rows = sqlx::query("SELECT master_key_id, COUNT(*) AS n FROM data_keys GROUP BY master_key_id")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| Ok((r.try_get::<String, _>(0)?, r.try_get::<i64, _>(1)? as u64))).collect()
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    pub(super) async fn create(&self, owner: Uuid, at: Timestamp) -> StoreResult<()> {
        let mut key = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut key);
        let sealed = self.master.current.sealer.seal(owner, DATA_KEY_CONTEXT, &key).map_err(corrupt)?;
        sqlx::query(
            "INSERT INTO data_keys (owner, sealed, master_key_id, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (owner) DO NOTHING",
        )
        .bind(owner.to_string())
        .bind(sealed)
        .bind(self.master.current.id.clone())
        .bind(to_ms(at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub(super) async fn get(&self, owner: Uuid) -> StoreResult<Option<[u8; 32]>> {
        let row = sqlx::query("SELECT owner, sealed, master_key_id FROM data_keys WHERE owner = $1")
            .bind(owner.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| self.unseal(owner, &row)).transpose()
    }

    fn unseal(&self, owner: Uuid, row: &sqlx::any::AnyRow) -> StoreResult<[u8; 32]> {
        let master_id: String = row.try_get("master_key_id")?;
        let sealed: Vec<u8> = row.try_get("sealed")?;
        let master = self.master.by_id(&master_id).ok_or(StoreError::KeyUnavailable)?;
        // A data key is the only sealed value of its row, keyed by its owner: the layout bound
        // to the owner alone already stops it from being moved, so that layout still opens.
        let key = match sealed.first() {
            Some(&LAYOUT_1) => master.sealer.open_layout_1(owner, &sealed),
            _ => master.sealer.open(owner, DATA_KEY_CONTEXT, &sealed),
        }
        .map_err(|_| StoreError::KeyUnavailable)?;
        key.try_into().map_err(|_| StoreError::Corrupt("data key of the wrong length".into()))
    }
}

fn corrupt(err: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(err.to_string())
}
