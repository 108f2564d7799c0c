//! The shared SQL store: connection by URL scheme, migrations, and row conversions.

use std::sync::Arc;

use async_trait::async_trait;
use sqlx::any::AnyPoolOptions;
use sqlx::AnyPool;
use sqlx::Row;

use super::columns::Backend;
use super::keystore::KeyStore;
use super::sealed::DataKey;
use super::{sqlite, ConnectOptions, Health, Store, StoreError, StoreResult};
use crate::domain::CreatorId;

/// The store over either backend.
pub struct SqlStore {
    pub(super) pool: AnyPool,
    pub(super) backend: Backend,
    pub(super) keys: Arc<KeyStore>,
}

/// Opens the database a URL names, failing fast (within `connect_timeout`) when it is
/// unreachable, and applies pending migrations when asked.
pub async fn connect(url: &str, options: &ConnectOptions) -> StoreResult<Arc<dyn Store>> {
    Ok(Arc::new(SqlStore::connect(url, options).await?))
}

impl SqlStore {
    pub async fn connect(url: &str, options: &ConnectOptions) -> StoreResult<SqlStore> {
        sqlx::any::install_default_drivers();
        let backend = Backend::from_url(url).ok_or(StoreError::UnsupportedUrl)?;
        if options.keystore_url == url {
            return Err(StoreError::Keys("the key store must be another database than the main one".into()));
        }
        let pool_options = AnyPoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .acquire_timeout(options.connect_timeout);
        let (url, pool_options) = match backend {
            Backend::Sqlite => sqlite::prepare(url, pool_options)?,
            Backend::Postgres => (url.to_owned(), pool_options),
        };
        let connecting = pool_options.connect(&url);
        let pool = tokio::time::timeout(options.connect_timeout, connecting)
            .await
            .map_err(|_| StoreError::Unreachable("timed out connecting".into()))?
            .map_err(|e| StoreError::Unreachable(e.to_string()))?;
        let keys =
            KeyStore::open(&options.keystore_url, options.master_keys.clone(), options.connect_timeout)
                .await?;
        let store = SqlStore { pool, backend, keys: Arc::new(keys) };
        if options.migrate {
            store.migrate().await?;
            let rewritten = store.upgrade_once().await?;
            if rewritten > 0 {
                tracing::info!(rewritten, "sealed values rewritten by a one-time upgrade");
            }
        }
        store.refuse_plaintext_rows().await?;
        Ok(store)
    }

    /// Rows written before personal fields were sealed would be misread: refuse them.
    async fn refuse_plaintext_rows(&self) -> StoreResult<()> {
        let Ok(row) = sqlx::query("SELECT COUNT(*) FROM creators WHERE profile_enc IS NULL")
            .fetch_one(&self.pool)
            .await
        else {
            return Ok(()); // not migrated yet
        };
        if row.try_get::<i64, _>(0)? > 0 {
            return Err(StoreError::Keys(
                "the database holds creators stored before personal fields were sealed".into(),
            ));
        }
        Ok(())
    }

    /// The creator's data key; `KeyUnavailable` once it is destroyed.
    pub(super) async fn data_key(&self, creator: CreatorId) -> StoreResult<DataKey> {
        self.keys.data_key(creator).await?.ok_or(StoreError::KeyUnavailable)
    }

    /// Applies every pending migration of this backend.
    pub async fn migrate(&self) -> StoreResult<()> {
        self.backend.migrator().run(&self.pool).await.map_err(|e| StoreError::Migration(e.to_string()))
    }
}

#[async_trait]
impl Health for SqlStore {
    fn backend(&self) -> Backend {
        self.backend
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn pending_migrations(&self) -> StoreResult<usize> {
        let applied: Vec<i64> = match sqlx::query("SELECT version FROM _sqlx_migrations WHERE success = $1")
            .bind(true)
            .fetch_all(&self.pool)
            .await
        {
            Ok(rows) => rows.iter().map(|r| r.try_get::<i64, _>(0)).collect::<Result<_, _>>()?,
            // No bookkeeping table yet: nothing has been applied.
            Err(sqlx::Error::Database(_)) => Vec::new(),
            Err(other) => return Err(other.into()),
        };
        Ok(self
            .backend
            .migrator()
            .iter()
            .filter(|m| !m.migration_type.is_down_migration())
            .filter(|m| !applied.contains(&m.version))
            .count())
    }

    async fn close(&self) {
        self.pool.close().await;
        self.keys.close().await;
    }
}
