//! The simulated platforms' authorization servers: each platform's authorization page (where
//! `?as=<handle>` stands for the creator signing in and granting, `?deny=1` for refusing), its
//! token endpoint (the code is single-use, bound to its redirect URI and PKCE challenge, and
//! our app's credentials are checked), Instagram's long-lived token exchange, and Google's and
//! X's revocation endpoints.

use std::collections::HashMap;

use actix_web::{web, HttpRequest, HttpResponse};
use base64::Engine;
use rand::Rng;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::{lock, Before, FaultTarget, SimState, TokenState};
use crate::domain::Platform;

/// An authorization code handed out and not yet exchanged.
#[derive(Debug, Clone)]
pub(super) struct IssuedCode {
    platform: Platform,
    handle: String,
    redirect_uri: String,
    challenge: String,
}

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/v2/auth/authorize/", web::get().to(|s, q| authorize(s, q, Platform::Tiktok)))
        .route("/oauth/authorize", web::get().to(|s, q| authorize(s, q, Platform::Instagram)))
        .route("/o/oauth2/v2/auth", web::get().to(|s, q| authorize(s, q, Platform::Youtube)))
        .route("/i/oauth2/authorize", web::get().to(|s, q| authorize(s, q, Platform::X)))
        .route("/v2/oauth/token/", web::post().to(tiktok_token))
        .route("/oauth/access_token", web::post().to(|s, r, f| token(s, r, f, Platform::Instagram)))
        .route("/token", web::post().to(|s, r, f| token(s, r, f, Platform::Youtube)))
        .route("/2/oauth2/token", web::post().to(|s, r, f| token(s, r, f, Platform::X)))
        .route("/revoke", web::post().to(|s, r, f| revoke(s, r, f, Platform::Youtube)))
        .route("/2/oauth2/revoke", web::post().to(|s, r, f| revoke(s, r, f, Platform::X)))
        .route("/access_token", web::get().to(instagram_long_lived));
}

fn target(platform: Platform) -> FaultTarget {
    match platform {
        Platform::Youtube => FaultTarget::Youtube,
        Platform::Tiktok => FaultTarget::Tiktok,
        Platform::Instagram => FaultTarget::Instagram,
        Platform::X => FaultTarget::X,
    }
}

/// Our app's client id at the platform (TikTok's client key).
fn client_id(state: &SimState, platform: Platform) -> &str {
    let credentials = &state.scenario.credentials;
    match platform {
        Platform::Tiktok => &credentials.tiktok_client_key,
        _ => &credentials.oauth_client_id,
    }
}

fn client_secret(state: &SimState, platform: Platform) -> &str {
    let credentials = &state.scenario.credentials;
    match platform {
        Platform::Tiktok => &credentials.tiktok_client_secret,
        _ => &credentials.oauth_client_secret,
    }
}

fn page_error(message: &str) -> HttpResponse {
    HttpResponse::BadRequest().json(json!({"error": "invalid_request", "error_description": message}))
}

fn redirect(to: &str, params: &[(&str, &str)]) -> HttpResponse {
    match url::Url::parse_with_params(to, params) {
        Ok(url) => HttpResponse::Found().insert_header(("location", url.as_str())).finish(),
        Err(_) => page_error("redirect_uri is not a URL"),
    }
}

/// The authorization page. The client, the redirect URI, `response_type=code` and an S256
/// PKCE challenge are required, as on the real pages.
async fn authorize(
    state: web::Data<SimState>,
    query: web::Query<HashMap<String, String>>,
    platform: Platform,
) -> HttpResponse {
    let get = |name: &str| query.get(name).map(String::as_str).unwrap_or_default();
    let client = if platform == Platform::Tiktok { get("client_key") } else { get("client_id") };
    if client != client_id(&state, platform) {
        return page_error("unknown client");
    }
    let redirect_uri = get("redirect_uri");
    if redirect_uri.is_empty() || get("response_type") != "code" {
        return page_error("redirect_uri and response_type=code are required");
    }
    if get("code_challenge").is_empty() || get("code_challenge_method") != "S256" {
        return page_error("a PKCE challenge with code_challenge_method=S256 is required");
    }
    let echo_state = get("state");
    if query.contains_key("deny") {
        return redirect(redirect_uri, &[("error", "access_denied"), ("state", echo_state)]);
    }
    let handle = get("as").trim_start_matches('@').to_ascii_lowercase();
    if state.scenario.account(platform, &handle).is_none() {
        return page_error("sign in as an account of this platform: ?as=<handle>");
    }
    let code: String = format!("code-{:016x}", rand::rngs::OsRng.gen::<u64>());
    let issued = IssuedCode {
        platform,
        handle,
        redirect_uri: redirect_uri.to_owned(),
        challenge: get("code_challenge").to_owned(),
    };
    lock(&state.codes).insert(code.clone(), issued);
    redirect(redirect_uri, &[("code", &code), ("state", echo_state)])
}

fn invalid_grant(message: &str) -> HttpResponse {
    HttpResponse::BadRequest().json(json!({"error": "invalid_grant", "error_description": message}))
}

/// The client's credentials from Basic auth (X) or the form (the others).
fn client_credentials(request: &HttpRequest, form: &HashMap<String, String>) -> (String, String) {
    let basic = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok());
    if let Some((id, secret)) = basic.as_deref().and_then(|b| b.split_once(':')) {
        let decode = |s: &str| {
            url::form_urlencoded::parse(format!("v={s}").as_bytes()).next().map(|(_, v)| v.into_owned())
        };
        return (decode(id).unwrap_or_default(), decode(secret).unwrap_or_default());
    }
    let id = form.get("client_key").or_else(|| form.get("client_id")).cloned().unwrap_or_default();
    (id, form.get("client_secret").cloned().unwrap_or_default())
}

/// A token endpoint's `authorization_code` grant.
async fn token(
    state: web::Data<SimState>,
    request: HttpRequest,
    form: web::Form<HashMap<String, String>>,
    platform: Platform,
) -> HttpResponse {
    exchange_code(&state, &request, &form, platform).await
}

/// TikTok's token endpoint: an authorization code's exchange, or a refresh.
async fn tiktok_token(
    state: web::Data<SimState>,
    request: HttpRequest,
    form: web::Form<HashMap<String, String>>,
) -> HttpResponse {
    match form.get("grant_type").map(String::as_str) {
        Some("authorization_code") => exchange_code(&state, &request, &form, Platform::Tiktok).await,
        _ => super::meta_tiktok::tiktok_refresh(&state, &form).await,
    }
}

/// Checks the code, its redirect URI, the PKCE verifier and our credentials; the code is
/// spent whatever the outcome. Answers the platform's token shape.
async fn exchange_code(
    state: &SimState,
    request: &HttpRequest,
    form: &HashMap<String, String>,
    platform: Platform,
) -> HttpResponse {
    if let Before::Answer(answer) = state.before(target(platform)).await {
        return answer;
    }
    let (id, secret) = client_credentials(request, form);
    if id != client_id(state, platform) || secret != client_secret(state, platform) {
        return HttpResponse::Unauthorized()
            .json(json!({"error": "invalid_client", "error_description": "Client authentication failed."}));
    }
    let get = |name: &str| form.get(name).map(String::as_str).unwrap_or_default();
    if get("grant_type") != "authorization_code" {
        return HttpResponse::BadRequest().json(json!({"error": "unsupported_grant_type"}));
    }
    let Some(issued) = lock(&state.codes).remove(get("code")) else {
        return invalid_grant("The authorization code is invalid, expired or already used.");
    };
    let challenge =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(get("code_verifier")));
    if issued.platform != platform
        || issued.redirect_uri != get("redirect_uri")
        || issued.challenge != challenge
    {
        return invalid_grant("The code does not match its redirect_uri or code_verifier.");
    }
    let handle = issued.handle;
    let generation = lock(&state.tokens).get(&(platform, handle.clone())).map_or(0, |t| t.generation + 1);
    let access = format!("oauth.{}.{handle}.{generation}", platform.as_str());
    let refresh = (platform != Platform::Instagram)
        .then(|| format!("oauth-refresh.{}.{handle}.{generation}", platform.as_str()));
    let issued_token =
        TokenState { access: access.clone(), refresh: refresh.clone(), expired: false, generation };
    lock(&state.tokens).insert((platform, handle.clone()), issued_token);
    match platform {
        Platform::Tiktok => HttpResponse::Ok().json(json!({"access_token": access, "expires_in": 86400,
            "open_id": format!("open-{handle}"), "refresh_expires_in": 31_536_000, "refresh_token": refresh,
            "scope": "user.info.basic,user.info.profile,video.list", "token_type": "Bearer"})),
        Platform::Instagram => HttpResponse::Ok().json(json!({"access_token": access, "user_id": 17_841_400_000_000_000_u64})),
        Platform::Youtube => HttpResponse::Ok().json(json!({"access_token": access, "expires_in": 3599,
            "refresh_token": refresh, "scope": "https://www.googleapis.com/auth/youtube.readonly", "token_type": "Bearer"})),
        Platform::X => HttpResponse::Ok().json(json!({"token_type": "bearer", "expires_in": 7200, "access_token": access,
            "scope": "users.read tweet.read offline.access", "refresh_token": refresh})),
    }
}

/// RFC 7009 revocation (Google's, X's): the access token and its refresh token stop working.
async fn revoke(
    state: web::Data<SimState>,
    request: HttpRequest,
    form: web::Form<HashMap<String, String>>,
    platform: Platform,
) -> HttpResponse {
    if let Before::Answer(answer) = state.before(target(platform)).await {
        return answer;
    }
    // Google does not ask the client to authenticate; X does (Basic auth).
    if platform == Platform::X && client_credentials(&request, &form).0 != client_id(&state, platform) {
        return HttpResponse::Unauthorized().json(json!({"error": "invalid_client"}));
    }
    let given = form.get("token").cloned().unwrap_or_default();
    let mut tokens = lock(&state.tokens);
    let Some((_, token)) = tokens.iter_mut().find(|((p, _), t)| {
        *p == platform && (t.access == given || t.refresh.as_deref() == Some(given.as_str()))
    }) else {
        return HttpResponse::BadRequest().json(json!({"error": "invalid_token"}));
    };
    token.generation += 1;
    token.access = format!("revoked.{}", token.generation);
    token.refresh = None;
    match platform {
        Platform::X => HttpResponse::Ok().json(json!({"revoked": true})),
        _ => HttpResponse::Ok().finish(),
    }
}

/// `GET /access_token?grant_type=ig_exchange_token`: a short-lived Instagram token for a
/// long-lived one.
async fn instagram_long_lived(
    state: web::Data<SimState>,
    query: web::Query<HashMap<String, String>>,
) -> HttpResponse {
    if let Before::Answer(answer) = state.before(FaultTarget::Instagram).await {
        return answer;
    }
    let get = |name: &str| query.get(name).map(String::as_str).unwrap_or_default();
    let refuse = |message: &str| super::meta_tiktok::instagram_error(400, 190, message);
    if get("grant_type") != "ig_exchange_token"
        || get("client_secret") != state.scenario.credentials.oauth_client_secret
    {
        return refuse("grant_type must be ig_exchange_token, with the app's secret");
    }
    let mut tokens = lock(&state.tokens);
    let Some(((_, handle), token)) = tokens
        .iter_mut()
        .find(|((p, _), t)| *p == Platform::Instagram && t.access == get("access_token") && !t.expired)
    else {
        return refuse("Invalid OAuth access token");
    };
    token.generation += 1;
    token.access = format!("IGQ.{handle}.{}", token.generation);
    HttpResponse::Ok()
        .json(json!({"access_token": token.access, "token_type": "bearer", "expires_in": 5_184_000}))
}
