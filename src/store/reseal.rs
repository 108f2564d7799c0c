//! The one-time rewrite of sealed values of layout 1 (bound to their owner only) in the
//! current layout, bound to their column and row as well; it runs with the migrations, once:
//! the `store_upgrades` row it leaves makes later starts skip it.

use sqlx::Row;

use super::backend::SqlStore;
use super::columns::{parse_id, to_ms};
use super::sealed::SealedColumn;
use super::StoreResult;
use crate::domain::CreatorId;
use crate::store::sealing::LAYOUT_1;

/// The `store_upgrades` row the reseal leaves when it has finished.
const RESEALED: &str = "reseal_layout_1";

impl SqlStore {
    /// Reseals layout 1 unless a start has done it before; returns how many values it rewrote.
    /// Replicas starting together may both run it: each rewrite is conditional on the old
    /// value, so the second finds nothing left.
    pub(super) async fn reseal_once(&self) -> StoreResult<u64> {
        let done = sqlx::query("SELECT 1 FROM store_upgrades WHERE name = $1")
            .bind(RESEALED)
            .fetch_optional(&self.pool)
            .await?;
        if done.is_some() {
            return Ok(0);
        }
        let count = self.reseal_layout_1().await?;
        sqlx::query(
            "INSERT INTO store_upgrades (name, done_at) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
        )
        .bind(RESEALED)
        .bind(to_ms(chrono::Utc::now()))
        .execute(&self.pool)
        .await?;
        Ok(count)
    }

    /// Rewrites every value still in layout 1 in the current layout, bound to its column and
    /// row; returns how many. Reads refuse layout 1, so this runs with the migrations, before
    /// the store serves. A value that does not open (its key destroyed, or the value tampered
    /// with) is left as it is and stays unreadable.
    async fn reseal_layout_1(&self) -> StoreResult<u64> {
        let mut count = 0;
        for column in SealedColumn::ALL {
            let (table, name, owner) = (column.table(), column.column(), column.owner_column());
            let rows = sqlx::query(&format!(
                "SELECT id, {owner} AS owner, {name} AS sealed FROM {table} WHERE substr({name}, 1, 1) = $1"
            ))
            .bind(vec![LAYOUT_1])
            .fetch_all(&self.pool)
            .await?;
            let owners: Vec<CreatorId> = rows
                .iter()
                .map(|r| parse_id(&r.try_get::<String, _>("owner")?))
                .collect::<StoreResult<Vec<_>>>()?;
            let keys = self.keys.data_keys(&owners).await?;
            for (row, owner) in rows.iter().zip(&owners) {
                let id: uuid::Uuid = parse_id(&row.try_get::<String, _>("id")?)?;
                let old: Vec<u8> = row.try_get("sealed")?;
                let key = keys.get(owner);
                let Some((key, plain)) = key.and_then(|key| Some((key, key.open_layout_1(&old).ok()?)))
                else {
                    tracing::warn!(table, column = name, row = %id, "a sealed value of layout 1 does not open; left unreadable");
                    continue;
                };
                let done =
                    sqlx::query(&format!("UPDATE {table} SET {name} = $1 WHERE id = $2 AND {name} = $3"))
                        .bind(key.seal(column, id, &plain)?)
                        .bind(id.to_string())
                        .bind(old)
                        .execute(&self.pool)
                        .await?;
                count += done.rows_affected();
            }
        }
        Ok(count)
    }
}
