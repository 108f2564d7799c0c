//! Linking social accounts. A linked account starts unproven: the creator proves it by
//! placing the one-time code in the account's bio (checked through the platform's adapter),
//! and the app may hand over the platform's OAuth tokens, which are sealed at rest and never
//! returned or logged. Unproven accounts cannot verify posts.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use rand::Rng;
use serde::{Deserialize, Serialize};

use super::auth::Caller;
use super::auth::JoinedCreator;
use super::auth::{current_creator, require_tracking_consent};
use super::error::ErrorDoc;
use super::error::{store_error, ApiError};
use super::AppState;
use crate::domain::{AccountId, Platform, SocialAccount};
use crate::platforms::{normalise_handle, PlatformError, UserCredential, UserToken};
use crate::store::{NewSocialAccount, StoreError};

/// Characters of a proof code after its prefix: unambiguous lowercase letters and digits.
const PROOF_ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
const PROOF_LENGTH: usize = 10;
/// Longest platform token accepted (real ones are well under this).
const MAX_TOKEN_CHARS: usize = 4096;

#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OAuthTokens {
    access_token: String,
    refresh_token: Option<String>,
    /// When the access token expires (RFC 3339), if the platform said.
    expires_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkBody {
    platform: String,
    handle: String,
    oauth: Option<OAuthTokens>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct AccountView {
    id: AccountId,
    platform: Platform,
    handle: String,
    proven: bool,
    proven_at: Option<DateTime<Utc>>,
    /// Present until the account is proven.
    proof: Option<ProofView>,
    oauth_tokens_held: bool,
    created_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct ProofView {
    code: String,
    instructions: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AccountList {
    items: Vec<AccountView>,
}

impl From<&SocialAccount> for AccountView {
    fn from(a: &SocialAccount) -> Self {
        let proof = match (&a.proof_code, a.proven_at) {
            (Some(code), None) => Some(ProofView {
                code: code.clone(),
                instructions: format!(
                    "Add {code} to the bio or description of your {} account; it can be removed once the account is proven.",
                    a.platform.as_str()
                ),
            }),
            _ => None,
        };
        AccountView {
            id: a.id,
            platform: a.platform,
            handle: a.handle.clone(),
            proven: a.proven_at.is_some(),
            proven_at: a.proven_at,
            proof,
            oauth_tokens_held: a.has_oauth_token,
            created_at: a.created_at,
        }
    }
}

fn proof_code() -> String {
    let mut rng = rand::rngs::OsRng;
    let suffix: String = (0..PROOF_LENGTH)
        .map(|_| char::from(PROOF_ALPHABET[rng.gen_range(0..PROOF_ALPHABET.len())]))
        .collect();
    format!("viewmark-{suffix}")
}

/// `POST /v1/social-accounts`: links an account by handle.
#[utoipa::path(post, path = "/v1/social-accounts", tag = "social accounts", security(("bearer" = [])),
    request_body = LinkBody,
    responses(
        (status = 201, description = "Linked, unproven until the proof code is found in the profile", body = AccountView),
        (status = 400, description = "Unknown platform, bad handle or tokens", body = ErrorDoc),
        (status = 403, description = "Consent revoked", body = ErrorDoc),
        (status = 409, description = "You have linked that account already", body = ErrorDoc),
    ))]
pub async fn link(
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Json<LinkBody>,
) -> Result<HttpResponse, ApiError> {
    let creator = current_creator(&state, &caller).await?;
    require_tracking_consent(&creator)?;
    let body = body.into_inner();
    let platform = Platform::parse(&body.platform).ok_or_else(|| {
        ApiError::bad_request("bad_platform", "platform must be youtube, tiktok, instagram or x")
    })?;
    let handle = normalise_handle(platform, &body.handle)
        .map_err(|e| ApiError::bad_request("bad_handle", e.to_string()))?;
    let oauth_token = match &body.oauth {
        Some(tokens) => {
            let too_long = |t: &str| t.is_empty() || t.len() > MAX_TOKEN_CHARS;
            if too_long(&tokens.access_token) || tokens.refresh_token.as_deref().is_some_and(too_long) {
                return Err(ApiError::bad_request(
                    "bad_oauth",
                    format!("tokens must be 1 to {MAX_TOKEN_CHARS} characters"),
                ));
            }
            Some(serde_json::to_vec(tokens).map_err(|_| ApiError::internal())?)
        }
        None => None,
    };
    let new = NewSocialAccount {
        creator_id: creator.id,
        platform,
        handle,
        proof_code: Some(proof_code()),
        oauth_token,
        at: chrono::Utc::now(),
    };
    // Lapsed links first: a link made long ago and never proven claims nothing.
    let lapsed = new.at - chrono::Duration::seconds(state.limits.unproven_link_secs as i64);
    state.store.expire_unproven_accounts(lapsed).await?;
    // Whoever else linked or proved the account, the answer is the same: an unproven link,
    // which only the account's owner can prove. Only the caller's own duplicate is refused.
    let account = state.store.insert_social_account(&new).await.map_err(|e| match e {
        StoreError::Conflict(_) => {
            ApiError::new(StatusCode::CONFLICT, "already_linked", "you have linked that account already")
        }
        other => store_error(other),
    })?;
    tracing::info!(creator_id = %creator.id, account_id = %account.id, platform = platform.as_str(), "social account linked");
    Ok(HttpResponse::Created().json(AccountView::from(&account)))
}

/// `GET /v1/social-accounts`: the caller's linked accounts.
#[utoipa::path(get, path = "/v1/social-accounts", tag = "social accounts", security(("bearer" = [])),
    responses((status = 200, body = AccountList)))]
pub async fn list(
    state: web::Data<AppState>,
    JoinedCreator(creator): JoinedCreator,
) -> Result<HttpResponse, ApiError> {
    let accounts = state.store.social_accounts_for_creator(creator.id).await?;
    Ok(HttpResponse::Ok().json(AccountList { items: accounts.iter().map(AccountView::from).collect() }))
}

pub(super) fn platform_error(error: &PlatformError) -> ApiError {
    match error {
        PlatformError::Unauthorized { .. } => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "platform_token_refused",
            "the platform refused the account's token: link the account again with fresh tokens",
        ),
        PlatformError::Gated { .. } => ApiError::new(
            StatusCode::FORBIDDEN,
            "consent_revoked",
            "tracking consent was revoked: the platform was not asked",
        ),
        PlatformError::NotConfigured { .. } => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "platform_token_missing",
            "this platform is read with your token: link the account with its OAuth tokens",
        ),
        other => {
            let busy = ApiError::unavailable(format!("{} cannot be reached now: try again later", other));
            match other.retry_after() {
                Some(wait) => busy.with_retry_after(wait.as_secs().max(1)),
                None => busy,
            }
        }
    }
}

/// `POST /v1/social-accounts/{id}/verify`: looks for the proof code in the account's
/// profile through the platform's API; the account is proven when it is there.
#[utoipa::path(post, path = "/v1/social-accounts/{id}/verify", tag = "social accounts", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Social account id")),
    responses(
        (status = 200, description = "Proven (now or before)", body = AccountView),
        (status = 403, description = "Consent revoked", body = ErrorDoc),
        (status = 404, description = "No such account of the caller's", body = ErrorDoc),
        (status = 409, description = "Another creator proved the account first", body = ErrorDoc),
        (status = 410, description = "The link lapsed unproven", body = ErrorDoc),
        (status = 422, description = "Proof code not in the profile, or the platform token is missing or refused", body = ErrorDoc),
        (status = 503, description = "The platform cannot be asked now", body = ErrorDoc),
    ))]
pub async fn verify(
    state: web::Data<AppState>,
    JoinedCreator(creator): JoinedCreator,
    id: web::Path<AccountId>,
) -> Result<HttpResponse, ApiError> {
    require_tracking_consent(&creator)?;
    let not_found = || ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such social account of yours");
    let account = state.store.social_account(*id).await?.ok_or_else(not_found)?;
    if account.creator_id != creator.id {
        return Err(not_found());
    }
    if account.proven_at.is_some() {
        return Ok(HttpResponse::Ok().json(AccountView::from(&account)));
    }
    let lapses_at = account.created_at + chrono::Duration::seconds(state.limits.unproven_link_secs as i64);
    if lapses_at <= Utc::now() {
        state.store.expire_unproven_accounts(lapses_at).await?;
        return Err(ApiError::new(
            StatusCode::GONE,
            "link_expired",
            "the link lapsed before it was proven: link the account again",
        ));
    }
    let adapter = state.platforms.adapter(account.platform);
    let user = match state.store.oauth_token(account.id).await? {
        Some(bytes) => {
            let token = UserToken::from_bytes(&bytes).map_err(|_| ApiError::internal())?;
            Some(UserCredential::new(account.id, token))
        }
        None => None,
    };
    // The profile request is a request about the creator: it passes the consent gate like a
    // poll, so a revocation committing meanwhile either stops it or waits for its answer.
    let gate = state.creator_gate(&creator).covering([account.id]);
    let fetched = adapter.profile(&gate, &account.handle, user.as_ref()).await;
    // Tokens obtained on the way are kept whatever the answer: the old ones may be dead.
    if let Some(token) = user.as_ref().and_then(|u| u.refreshed.take()) {
        let bytes = token.to_bytes().map_err(|_| ApiError::internal())?;
        state.store.store_oauth_token(account.id, &bytes).await?;
    }
    let profile = fetched.map_err(|e| platform_error(&e))?;
    let code = account.proof_code.as_deref().unwrap_or_default();
    let proven =
        profile.is_some_and(|p| p.handle == account.handle && !code.is_empty() && p.bio.contains(code));
    if !proven {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "proof_not_found",
            "the proof code is not in that account's profile yet (or the token belongs to another account)",
        ));
    }
    // Only the account's owner gets here (the code is in its profile): telling them that
    // another creator proved it first reveals nothing to anyone else.
    state.store.mark_account_proven(account.id, Utc::now()).await.map_err(|e| match e {
        StoreError::Conflict(_) => ApiError::new(
            StatusCode::CONFLICT,
            "handle_taken",
            "that account is already proven by another creator",
        ),
        other => store_error(other),
    })?;
    tracing::info!(creator_id = %creator.id, account_id = %account.id, "social account proven");
    let account = state.store.social_account(account.id).await?.ok_or_else(not_found)?;
    Ok(HttpResponse::Ok().json(AccountView::from(&account)))
}
