//! Account keys: one random key per linked social account, kept in the key store beside the
//! creator's data key. An account's handle and platform tokens are sealed under a key derived
//! from both (HMAC-SHA256 keyed by the creator's key, over the account's), so destroying
//! either makes them unreadable in every copy of the main database: an erasure destroys the
//! creator's key, an unlinking the account's.

use std::collections::HashMap;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use uuid::Uuid;

use super::keystore::KeyStore;
use super::sealed::DataKey;
use super::{StoreError, StoreResult};
use crate::domain::{AccountId, CreatorId, Timestamp};

/// What the derivation binds the account key to, so it serves no other purpose.
const DERIVATION_LABEL: &[u8] = b"viewmark account key\0";

impl KeyStore {
    /// Creates the account's key (a no-op if one exists) and returns the key its fields are
    /// sealed under; `KeyUnavailable` if the creator's key is gone.
    pub async fn create_account_key(
        &self,
        creator: CreatorId,
        account: AccountId,
        at: Timestamp,
    ) -> StoreResult<DataKey> {
        self.create(account.as_uuid(), at).await?;
        self.account_key(creator, account).await?.ok_or(StoreError::KeyUnavailable)
    }

    /// The key an account's fields are sealed under, if both keys behind it exist.
    pub async fn account_key(&self, creator: CreatorId, account: AccountId) -> StoreResult<Option<DataKey>> {
        Ok(self.account_keys(&[(creator, account)]).await?.remove(&account))
    }

    /// The same for several accounts, in one query per batch.
    pub async fn account_keys(
        &self,
        accounts: &[(CreatorId, AccountId)],
    ) -> StoreResult<HashMap<AccountId, DataKey>> {
        let owners: Vec<Uuid> = accounts.iter().flat_map(|(c, a)| [c.as_uuid(), a.as_uuid()]).collect();
        let raw = self.raw_keys(&owners).await?;
        accounts
            .iter()
            .filter_map(|(creator, account)| {
                let (creator_key, account_key) = (raw.get(&creator.as_uuid())?, raw.get(&account.as_uuid())?);
                Some(derive(creator_key, account_key).map(|key| (*account, DataKey::new(*creator, &key))))
            })
            .collect()
    }

    /// Destroys an account's key, leaving its bytes in none of the key store's files (as for
    /// a creator's); true if there was one.
    pub async fn destroy_account_key(&self, account: AccountId) -> StoreResult<bool> {
        self.destroy_owner(account.as_uuid()).await
    }

    /// Forgets the keys of accounts erased with their creator. Nothing needs them to be purged:
    /// without the creator's key, which the erasure destroyed, they open nothing.
    pub async fn forget_account_keys(&self, accounts: &[AccountId]) -> StoreResult<()> {
        // A few hundred at a time, well under either engine's limit on bound values.
        for chunk in accounts.chunks(500) {
            let placeholders: Vec<String> = (1..=chunk.len()).map(|n| format!("${n}")).collect();
            let sql = format!("DELETE FROM data_keys WHERE owner IN ({})", placeholders.join(", "));
            let mut query = sqlx::query(&sql);
            for account in chunk {
                query = query.bind(account.to_string());
            }
            query.execute(&self.pool).await?;
        }
        Ok(())
    }
}

fn derive(creator_key: &[u8; 32], account_key: &[u8; 32]) -> StoreResult<[u8; 32]> {
    let mut mac = Hmac::<Sha256>::new_from_slice(creator_key)
        .map_err(|_| StoreError::Corrupt("account key derivation failed".into()))?;
    mac.update(DERIVATION_LABEL);
    mac.update(account_key);
    Ok(mac.finalize().into_bytes().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_derived_key_needs_both_keys() {
        let (creator, account, other) = ([1u8; 32], [2u8; 32], [3u8; 32]);
        let key = derive(&creator, &account).unwrap();
        assert_eq!(key, derive(&creator, &account).unwrap());
        assert_ne!(key, derive(&creator, &other).unwrap());
        assert_ne!(key, derive(&other, &account).unwrap());
        assert_ne!(key, creator);
    }
}
