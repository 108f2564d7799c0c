//! Linking an account by OAuth. `POST /v1/social-accounts/oauth/{platform}` starts an
//! authorization: a single-use `state` bound to the creator and a PKCE verifier are kept (the
//! state only as a hash), and the platform's authorization page is answered. The platform
//! sends the creator's browser back to `GET …/oauth/{platform}/callback?code&state`, which
//! takes the state (once), trades the code for tokens and reads whose account they open. The
//! account is linked proven: the platform authenticated its owner. Every failure answers a
//! JSON error and stores nothing.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::auth::{current_creator, require_tracking_consent, Caller};
use super::error::{store_error, ApiError, ErrorDoc};
use super::social_accounts::{platform_error, AccountView};
use super::AppState;
use crate::domain::{AccountId, Platform};
use crate::platforms::{PlatformError, UserCredential};
use crate::store::{NewSocialAccount, OAuthState, StoreError};

/// Longest `code` or `state` accepted (real ones are far shorter).
const MAX_PARAM_CHARS: usize = 2048;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuthorizationView {
    /// The platform's page to send the creator to.
    authorization_url: String,
    /// The authorization must be completed before this.
    expires_at: DateTime<Utc>,
}

/// What the platform appends to the callback (other parameters it adds are ignored).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    /// Set instead of `code` when the creator refused (`access_denied`) or the platform failed.
    error: Option<String>,
}

fn platform_in_path(name: &str) -> Result<Platform, ApiError> {
    Platform::parse(name).ok_or_else(|| {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such platform: youtube, tiktok, instagram or x")
    })
}

fn state_hash(state: &str) -> String {
    hex::encode(Sha256::digest(state.as_bytes()))
}

fn oauth_unconfigured(platform: Platform) -> ApiError {
    ApiError::new(
        StatusCode::NOT_IMPLEMENTED,
        "oauth_not_configured",
        format!("linking a {} account by OAuth is not configured on this service", platform.as_str()),
    )
}

/// `POST /v1/social-accounts/oauth/{platform}`: starts linking an account by OAuth.
#[utoipa::path(post, path = "/v1/social-accounts/oauth/{platform}", tag = "social accounts", security(("bearer" = [])),
    params(("platform" = String, Path, description = "youtube, tiktok, instagram or x")),
    responses(
        (status = 200, description = "Send the creator to `authorization_url`", body = AuthorizationView),
        (status = 401, description = "No valid token", body = ErrorDoc),
        (status = 403, description = "Consent revoked", body = ErrorDoc),
        (status = 404, description = "Not joined, or no such platform", body = ErrorDoc),
        (status = 501, description = "OAuth is not configured for that platform", body = ErrorDoc),
    ))]
pub async fn start(
    state: web::Data<AppState>,
    caller: Caller,
    platform: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let creator = current_creator(&state, &caller).await?;
    require_tracking_consent(&creator)?;
    let platform = platform_in_path(&platform)?;
    let authorization = state.platforms.oauth().authorize(platform).map_err(|e| match e {
        PlatformError::NotConfigured { .. } => oauth_unconfigured(platform),
        other => platform_error(&other),
    })?;
    let now = Utc::now();
    let expires_at = now + chrono::Duration::seconds(state.platforms.oauth_state_ttl_secs() as i64);
    let pending = OAuthState {
        state_hash: state_hash(authorization.state.expose()),
        creator_id: creator.id,
        platform,
        pkce_verifier: authorization.pkce_verifier.expose().to_owned(),
        expires_at,
    };
    state.store.insert_oauth_state(&pending, now).await?;
    tracing::info!(creator_id = %creator.id, platform = platform.as_str(), "oauth authorization started");
    Ok(HttpResponse::Ok()
        .json(AuthorizationView { authorization_url: authorization.url.to_string(), expires_at }))
}

fn refused(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::bad_request(code, message)
}

/// The platform's error code, as far as it is a plain word (it is echoed back).
fn error_code(text: &str) -> String {
    text.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '_').take(64).collect()
}

/// `GET /v1/social-accounts/oauth/{platform}/callback`: where the platform sends the creator
/// back. Authenticated by its `state`, not by a bearer token.
#[utoipa::path(get, path = "/v1/social-accounts/oauth/{platform}/callback", tag = "social accounts",
    params(("platform" = String, Path, description = "youtube, tiktok, instagram or x"), CallbackQuery),
    responses(
        (status = 201, description = "Linked and proven", body = AccountView),
        (status = 400, description = "Unknown, expired or used state; authorization refused; code refused", body = ErrorDoc),
        (status = 403, description = "Consent revoked meanwhile", body = ErrorDoc),
        (status = 404, description = "No such platform", body = ErrorDoc),
        (status = 409, description = "Another creator has proven that account", body = ErrorDoc),
        (status = 422, description = "The tokens name no account", body = ErrorDoc),
        (status = 501, description = "OAuth is not configured for that platform", body = ErrorDoc),
        (status = 503, description = "The platform cannot be asked now", body = ErrorDoc),
    ))]
pub async fn callback(
    state: web::Data<AppState>,
    platform: web::Path<String>,
    query: web::Query<CallbackQuery>,
) -> Result<HttpResponse, ApiError> {
    let platform = platform_in_path(&platform)?;
    let query = query.into_inner();
    let bad_state =
        || refused("invalid_state", "unknown, expired or already used state: start linking again");
    let given = query
        .state
        .as_deref()
        .filter(|s| !s.is_empty() && s.len() <= MAX_PARAM_CHARS)
        .ok_or_else(bad_state)?;
    // Taken whatever follows: a state is good for one answer from the platform.
    let pending = state.store.take_oauth_state(&state_hash(given)).await?.ok_or_else(bad_state)?;
    if pending.platform != platform {
        return Err(bad_state());
    }
    if pending.expires_at <= Utc::now() {
        return Err(refused("state_expired", "the authorization took too long: start linking again"));
    }
    if let Some(error) = &query.error {
        return Err(refused(
            "authorization_refused",
            format!("{} did not authorize the link ({})", platform.as_str(), error_code(error)),
        ));
    }
    let code = query
        .code
        .as_deref()
        .filter(|c| !c.is_empty() && c.len() <= MAX_PARAM_CHARS)
        .ok_or_else(|| refused("missing_code", "the platform sent no authorization code"))?;
    let creator = state
        .store
        .creator(pending.creator_id)
        .await?
        .ok_or_else(|| ApiError::new(StatusCode::FORBIDDEN, "consent_revoked", "the creator is gone"))?;
    require_tracking_consent(&creator)?;
    // The exchange and the profile read are requests about the creator: they pass the
    // consent gate like a poll.
    let gate = state.creator_gate(&creator);
    let oauth = state.platforms.oauth();
    let verifier = crate::secret::Secret::new(pending.pkce_verifier);
    let token = oauth.exchange(&gate, platform, code, &verifier).await.map_err(|e| match e {
        PlatformError::Refused { .. } => refused(
            "code_refused",
            format!("{} refused the authorization code: start linking again", platform.as_str()),
        ),
        PlatformError::NotConfigured { .. } => oauth_unconfigured(platform),
        other => platform_error(&other),
    })?;
    let user = UserCredential::new(AccountId::random(), token);
    let owner =
        state.platforms.adapter(platform).token_owner(&gate, &user).await.map_err(|e| platform_error(&e))?;
    let owner = owner.ok_or_else(|| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "no_account",
            "the platform names no account for that authorization",
        )
    })?;
    let tokens = user.current_token().to_bytes().map_err(|_| ApiError::internal())?;
    let new = NewSocialAccount {
        creator_id: creator.id,
        platform,
        handle: owner.handle,
        proof_code: None,
        oauth_token: Some(tokens),
        at: Utc::now(),
    };
    let account = state.store.link_proven_account(&new).await.map_err(|e| match e {
        StoreError::Conflict(_) => ApiError::new(
            StatusCode::CONFLICT,
            "handle_taken",
            "that account is already proven by another creator",
        ),
        other => store_error(other),
    })?;
    tracing::info!(creator_id = %creator.id, account_id = %account.id, platform = platform.as_str(), "social account linked by oauth");
    Ok(HttpResponse::Created().json(AccountView::from(&account)))
}
