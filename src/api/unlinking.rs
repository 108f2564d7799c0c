//! `DELETE /v1/social-accounts/{id}`: unlinking an account. The token is revoked at the
//! platform where it offers that, then the account's key is destroyed and its posts stop,
//! with a revocation's guarantee: once the answer is sent, no request about the account
//! leaves (`consent::changes::unlink_account`). Its past snapshots stay, for statements
//! already issued.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::auth::JoinedCreator;
use super::error::{ApiError, ErrorDoc};
use super::AppState;
use crate::consent::changes::unlink_account;
use crate::domain::{AccountId, Creator, SocialAccount};
use crate::platforms::{UserCredential, UserToken};

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UnlinkedView {
    id: AccountId,
    unlinked_at: DateTime<Utc>,
    /// Posts of the account that were being tracked and now are not.
    posts_stopped: u64,
    /// Whether the platform revoked the token we held (false where the platform offers no
    /// revocation, where no token was held, or where it could not be asked).
    platform_token_revoked: bool,
}

/// `DELETE /v1/social-accounts/{id}`: unlinks one of the caller's accounts.
#[utoipa::path(delete, path = "/v1/social-accounts/{id}", tag = "social accounts", security(("bearer" = [])),
    params(("id" = AccountId, Path, description = "Social account id")),
    responses(
        (status = 200, description = "Unlinked: no request about the account leaves from now on", body = UnlinkedView),
        (status = 401, description = "No valid token", body = ErrorDoc),
        (status = 404, description = "No such linked account of the caller's", body = ErrorDoc),
    ))]
pub async fn unlink(
    state: web::Data<AppState>,
    JoinedCreator(creator): JoinedCreator,
    id: web::Path<AccountId>,
) -> Result<HttpResponse, ApiError> {
    let not_found = || ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such social account of yours");
    let account = state.store.social_account(*id).await?.filter(|a| a.creator_id == creator.id);
    let account = account.ok_or_else(not_found)?;
    let platform_token_revoked = revoke_at_platform(&state, &creator, &account).await?;
    let unlinked_at = Utc::now();
    let stopped =
        unlink_account(state.store.as_ref(), &state.consent_locks, creator.id, account.id, unlinked_at)
            .await?
            .ok_or_else(not_found)?;
    Ok(HttpResponse::Ok().json(UnlinkedView {
        id: account.id,
        unlinked_at,
        posts_stopped: stopped,
        platform_token_revoked,
    }))
}

/// Asks the platform to revoke the token held for the account, through the consent gate like
/// any request about the creator. A refusal or an outage does not stop the unlinking: the
/// token is destroyed here either way, and the creator can remove the app at the platform.
async fn revoke_at_platform(
    state: &AppState,
    creator: &Creator,
    account: &SocialAccount,
) -> Result<bool, ApiError> {
    let Some(bytes) = state.store.oauth_token(account.id).await? else { return Ok(false) };
    let token = UserToken::from_bytes(&bytes).map_err(|_| ApiError::internal())?;
    let user = UserCredential::new(account.id, token);
    let gate = state.creator_gate(creator).covering([account.id]);
    match state.platforms.revoke_token(&gate, account.platform, &user).await {
        Ok(revoked) => Ok(revoked),
        Err(error) => {
            tracing::warn!(account_id = %account.id, kind = error.kind(), "the platform did not revoke the token");
            Ok(false)
        }
    }
}
