//! The one-time rewrite of sealed values of layout 1 (bound to their owner only) in the
//! current layout, bound to their column and row as well; it runs with the migrations.

use sqlx::Row;

use super::backend::SqlStore;
use super::columns::parse_uuid;
use super::sealed::SealedColumn;
use super::StoreResult;
use crate::store::sealing::LAYOUT_1;

impl SqlStore {
    /// Rewrites every value still in layout 1 in the current layout, bound to its column and
    /// row; returns how many. Reads refuse layout 1, so this runs with the migrations, before
    /// the store serves. A value that does not open (its key destroyed, or the value tampered
    /// with) is left as it is and stays unreadable.
    pub(super) async fn reseal_layout_1(&self) -> StoreResult<u64> {
        let mut count = 0;
        for column in SealedColumn::ALL {
            let (table, name, owner) = (column.table(), column.column(), column.owner_column());
            let rows = sqlx::query(&format!(
                "SELECT id, {owner} AS owner, {name} AS sealed FROM {table} WHERE substr({name}, 1, 1) = $1"
            ))
            .bind(vec![LAYOUT_1])
            .fetch_all(&self.pool)
            .await?;
            let owners = rows
                .iter()
                .map(|r| parse_uuid(&r.try_get::<String, _>("owner")?))
                .collect::<StoreResult<Vec<_>>>()?;
            let keys = self.keys.data_keys(&owners).await?;
            for (row, owner) in rows.iter().zip(&owners) {
                let id = parse_uuid(&row.try_get::<String, _>("id")?)?;
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
