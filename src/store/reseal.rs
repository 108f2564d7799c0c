//! One-time rewrites of sealed values, run with the migrations, each once: the row each
//! leaves in `store_upgrades` makes later starts skip it.
//! - Values of layout 1 (bound to their owner only) are resealed in the current layout, bound
//!   to their column and row as well.
//! - Account handles and tokens sealed under the creator's key move under the account's own
//!   key (`store::account_keys`), so unlinking can destroy them.

use std::future::Future;

use sqlx::Row;

use super::backend::SqlStore;
use super::columns::{from_ms, parse_id, to_ms};
use super::sealed::SealedColumn;
use super::StoreResult;
use crate::domain::{AccountId, CreatorId};
use crate::store::sealing::LAYOUT_1;

/// The `store_upgrades` rows the rewrites leave when they have finished.
const RESEALED: &str = "reseal_layout_1";
const ACCOUNT_KEYS: &str = "account_keys";

impl SqlStore {
    /// Runs every rewrite that no start has finished before, in order; returns how many
    /// values were rewritten. Replicas starting together may both run one: each rewrite is
    /// conditional on the old value, so the second finds nothing left.
    pub(super) async fn upgrade_once(&self) -> StoreResult<u64> {
        let resealed = self.once(RESEALED, self.reseal_layout_1()).await?;
        let rekeyed = self.once(ACCOUNT_KEYS, self.seal_accounts_under_their_keys()).await?;
        Ok(resealed + rekeyed)
    }

    async fn once(&self, name: &str, work: impl Future<Output = StoreResult<u64>>) -> StoreResult<u64> {
        let done = sqlx::query("SELECT 1 FROM store_upgrades WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        if done.is_some() {
            return Ok(0);
        }
        let count = work.await?;
        sqlx::query(
            "INSERT INTO store_upgrades (name, done_at) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(to_ms(chrono::Utc::now()))
        .execute(&self.pool)
        .await?;
        Ok(count)
    }

    /// Moves each linked account's handle and tokens from its creator's key to the account's
    /// own. A value that does not open under the creator's key is left as it is.
    async fn seal_accounts_under_their_keys(&self) -> StoreResult<u64> {
        let rows = sqlx::query(
            "SELECT id, creator_id, handle_enc, oauth_token_enc, created_at FROM social_accounts \
             WHERE unlinked_at IS NULL AND handle_enc IS NOT NULL",
        )
        .fetch_all(&self.pool)
        .await?;
        let creators: Vec<CreatorId> = rows
            .iter()
            .map(|r| parse_id(&r.try_get::<String, _>("creator_id")?))
            .collect::<StoreResult<_>>()?;
        let keys = self.keys.data_keys(&creators).await?;
        let mut count = 0;
        for (row, creator) in rows.iter().zip(&creators) {
            let id: AccountId = parse_id(&row.try_get::<String, _>("id")?)?;
            let (handle, token): (Vec<u8>, Option<Vec<u8>>) =
                (row.try_get("handle_enc")?, row.try_get("oauth_token_enc")?);
            let Some(creator_key) = keys.get(creator) else { continue };
            let Ok(plain_handle) = creator_key.open(SealedColumn::AccountHandle, id, &handle) else {
                continue;
            };
            let plain_token =
                token.as_deref().map(|t| creator_key.open(SealedColumn::AccountToken, id, t)).transpose();
            let Ok(plain_token) = plain_token else { continue };
            let key =
                self.keys.create_account_key(*creator, id, from_ms(row.try_get("created_at")?)?).await?;
            let done = sqlx::query(
                "UPDATE social_accounts SET handle_enc = $2, oauth_token_enc = $3 WHERE id = $1 AND handle_enc = $4",
            )
            .bind(id.to_string())
            .bind(key.seal(SealedColumn::AccountHandle, id, &plain_handle)?)
            .bind(plain_token.map(|t| key.seal(SealedColumn::AccountToken, id, &t)).transpose()?)
            .bind(handle)
            .execute(&self.pool)
            .await?;
            count += done.rows_affected();
        }
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
