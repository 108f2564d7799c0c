//! Authorizations under way at the platforms, and the proven link each one ends in.

use async_trait::async_trait;
use sqlx::Row;

use super::backend::SqlStore;
use super::columns::{from_ms, parse_id, to_ms};
use super::tracking_rows::handle_ref;
use super::{NewSocialAccount, OAuthState, PollRepo, StoreError, StoreResult, TrackingRepo};
use crate::domain::{AccountId, Platform, SocialAccount, Timestamp};

/// Accounts linked by OAuth: the authorizations under way, and the link they end in.
#[async_trait]
pub trait OAuthLinkRepo: Send + Sync {
    /// Records a started authorization (and drops those expired before `now`).
    async fn insert_oauth_state(&self, state: &OAuthState, now: Timestamp) -> StoreResult<()>;
    /// Takes the authorization with this state hash: the first call gets it, every later
    /// one `None`. Expired authorizations are returned too; the caller refuses them.
    async fn take_oauth_state(&self, state_hash: &str) -> StoreResult<Option<OAuthState>>;
    /// Links an account the platform authenticated the creator as, proven at once, with its
    /// tokens: the creator's own earlier link of it becomes this one. `Conflict` if another
    /// creator has proven it already (and nothing is stored).
    async fn link_proven_account(&self, new: &NewSocialAccount) -> StoreResult<SocialAccount>;
}

#[async_trait]
impl OAuthLinkRepo for SqlStore {
    async fn insert_oauth_state(&self, state: &OAuthState, now: Timestamp) -> StoreResult<()> {
        sqlx::query("DELETE FROM oauth_states WHERE expires_at < $1")
            .bind(to_ms(now))
            .execute(&self.pool)
            .await?;
        sqlx::query(
            "INSERT INTO oauth_states (state_hash, creator_id, platform, pkce_verifier, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&state.state_hash)
        .bind(state.creator_id.to_string())
        .bind(state.platform.as_str())
        .bind(&state.pkce_verifier)
        .bind(to_ms(state.expires_at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn take_oauth_state(&self, state_hash: &str) -> StoreResult<Option<OAuthState>> {
        // One statement: of two callbacks racing with the same state, one deletes the row.
        let row = sqlx::query(
            "DELETE FROM oauth_states WHERE state_hash = $1 \
             RETURNING state_hash, creator_id, platform, pkce_verifier, expires_at",
        )
        .bind(state_hash)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let platform: String = row.try_get("platform")?;
        Ok(Some(OAuthState {
            state_hash: row.try_get("state_hash")?,
            creator_id: parse_id(&row.try_get::<String, _>("creator_id")?)?,
            platform: Platform::parse(&platform)
                .ok_or_else(|| StoreError::Corrupt(format!("unknown platform {platform}")))?,
            pkce_verifier: row.try_get("pkce_verifier")?,
            expires_at: from_ms(row.try_get("expires_at")?)?,
        }))
    }

    async fn link_proven_account(&self, new: &NewSocialAccount) -> StoreResult<SocialAccount> {
        let claim = handle_ref(self, new.platform, &new.handle);
        let earlier = sqlx::query(
            "SELECT id FROM social_accounts WHERE creator_id = $1 AND handle_claim = $2 AND unlinked_at IS NULL",
        )
        .bind(new.creator_id.to_string())
        .bind(&claim)
        .fetch_optional(&self.pool)
        .await?;
        let (id, inserted) = match earlier {
            Some(row) => (parse_id::<AccountId>(&row.try_get::<String, _>("id")?)?, false),
            None => {
                let unproven = NewSocialAccount { proof_code: None, oauth_token: None, ..new.clone() };
                (self.insert_social_account(&unproven).await?.id, true)
            }
        };
        // The proof takes the handle's claim; the tokens are stored only once it is ours.
        if let Err(err) = self.mark_account_proven(id, new.at).await {
            if inserted {
                self.discard_unproven(id).await?;
            }
            return Err(err);
        }
        if let Some(token) = &new.oauth_token {
            self.store_oauth_token(id, token).await?;
        }
        self.social_account(id).await?.ok_or(StoreError::NotFound)
    }
}

impl SqlStore {
    /// Removes an unproven link made a moment ago, and its key.
    async fn discard_unproven(&self, id: AccountId) -> StoreResult<()> {
        sqlx::query("DELETE FROM social_accounts WHERE id = $1 AND proven_at IS NULL")
            .bind(id.to_string())
            .execute(&self.pool)
            .await?;
        self.keys.forget_account_keys(&[id]).await
    }
}
