//! Linking accounts by OAuth against the simulated authorization servers of all four
//! platforms: the link is proven at once and holds the platform's tokens; a wrong, expired,
//! replayed or misdirected `state`, a refused authorization, a refused code and a failing
//! token endpoint each answer a JSON error and store nothing; a revocation between the start
//! and the callback stops the exchange before it is sent.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sqlx::Row;
use viewmark::domain::{AccountId, Platform};
use viewmark::platforms::UserToken;
use viewmark::simulator::scenario::SimAccount;
use viewmark::simulator::{Fault, FaultKind, FaultTarget, Scenario};
use viewmark::store::OAuthState;

use crate::on_both_backends;
use crate::support::tracked::*;
use crate::support::TestDb;

/// The tracking fixture's scenario, with Ada's accounts on the other platforms.
fn oauth_scenario() -> Scenario {
    let mut scenario = scenario(1, 2);
    for (platform, handle) in [
        (Platform::Tiktok, "ada.tok"),
        (Platform::Instagram, "ada.ig"),
        (Platform::Youtube, "ada_tube"),
        (Platform::X, "ada_second"),
    ] {
        scenario.accounts.push(SimAccount { platform, ..account(handle) });
    }
    scenario
}

async fn oauth_world(db: TestDb) -> Tracked {
    tracked_scenario(db, oauth_scenario(), &[("user-ada", 1), ("user-bob", 2)]).await
}

/// Starts an authorization and answers the platform's page it names.
async fn start(t: &Tracked, token: &str, platform: &str) -> url::Url {
    let path = format!("/v1/social-accounts/oauth/{platform}");
    let (status, body) = t.app.call(Method::POST, &path, Some(token), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    url::Url::parse(body["authorization_url"].as_str().unwrap()).unwrap()
}

fn param(url: &url::Url, name: &str) -> Option<String> {
    url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

/// The creator at the platform's page: signs in as `handle` (or refuses, with `None`); the
/// platform's redirect back, as query parameters.
async fn sign_in(page: &url::Url, handle: Option<&str>) -> url::Url {
    let mut page = page.clone();
    match handle {
        Some(h) => page.query_pairs_mut().append_pair("as", h),
        None => page.query_pairs_mut().append_pair("deny", "1"),
    };
    let browser = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let answer = browser.get(page).send().await.unwrap();
    assert_eq!(answer.status(), StatusCode::FOUND);
    url::Url::parse(answer.headers()["location"].to_str().unwrap()).unwrap()
}

/// The browser arriving at our callback with what the platform appended.
async fn callback(t: &Tracked, platform: &str, back: &url::Url) -> (StatusCode, Value) {
    let path = format!("/v1/social-accounts/oauth/{platform}/callback?{}", back.query().unwrap_or_default());
    t.app.call(Method::GET, &path, None, None).await
}

async fn link(t: &Tracked, token: &str, platform: &str, handle: &str) -> (StatusCode, Value) {
    let page = start(t, token, platform).await;
    let back = sign_in(&page, Some(handle)).await;
    callback(t, platform, &back).await
}

async fn accounts(t: &Tracked, token: &str) -> Vec<Value> {
    let (_, body) = t.app.call(Method::GET, "/v1/social-accounts", Some(token), None).await;
    body["items"].as_array().unwrap().clone()
}

async fn pending_authorizations(t: &Tracked) -> i64 {
    let raw = t.app._db.raw().await;
    sqlx::query("SELECT COUNT(*) FROM oauth_states").fetch_one(&raw).await.unwrap().try_get(0).unwrap()
}

async fn every_platform_links_by_oauth_proven_with_its_tokens(db: TestDb) {
    let t = oauth_world(db).await;
    let redirect_base = &t.settings.platforms.oauth.redirect_base;
    for (platform, handle, scope) in [
        (Platform::Tiktok, "ada.tok", "video.list"),
        (Platform::Instagram, "ada.ig", "instagram_business_basic"),
        (Platform::Youtube, "ada_tube", "youtube.readonly"),
        (Platform::X, "ada_second", "offline.access"),
    ] {
        let name = platform.as_str();
        let page = start(&t, &t.ada, name).await;
        assert_eq!(param(&page, "code_challenge_method").as_deref(), Some("S256"), "{page}");
        assert!(param(&page, "code_challenge").is_some_and(|c| c.len() >= 43));
        assert!(param(&page, "state").is_some_and(|s| s.len() >= 16));
        assert!(param(&page, "scope").unwrap().contains(scope), "{page}");
        let callback_uri = format!("{redirect_base}/v1/social-accounts/oauth/{name}/callback");
        assert_eq!(param(&page, "redirect_uri"), Some(callback_uri));
        if platform == Platform::Tiktok {
            assert!(param(&page, "client_key").is_some(), "TikTok names the client client_key");
        }
        let back = sign_in(&page, Some(handle)).await;
        let (status, account) = callback(&t, name, &back).await;
        assert_eq!(status, StatusCode::CREATED, "{name}: {account}");
        assert_eq!((account["handle"].as_str(), account["proven"].as_bool()), (Some(handle), Some(true)));
        assert_eq!((account["oauth_tokens_held"].as_bool(), &account["proof"]), (Some(true), &Value::Null));

        // The token held is the platform's current one: on Instagram the long-lived token the
        // short-lived one was exchanged for.
        let id: AccountId = account["id"].as_str().unwrap().parse().unwrap();
        let held = UserToken::from_bytes(&t.app.store.oauth_token(id).await.unwrap().unwrap()).unwrap();
        let current = t.sim.access_token(platform, handle).unwrap();
        assert_eq!(held.access_token.expose(), current, "{name}");
        if platform == Platform::Instagram {
            assert!(current.starts_with("IGQ."), "long-lived: {current}");
        } else {
            assert!(held.refresh_token.is_some(), "{name} gives a refresh token");
        }
    }
    assert_eq!(accounts(&t, &t.ada).await.len(), 5, "the X account of the fixture and four more");
    assert_eq!(pending_authorizations(&t).await, 0, "each authorization is taken when completed");
}

/// Google and X offer revocation by OAuth: unlinking an account linked there revokes its
/// tokens at the platform (the refresh token, which takes its access tokens with it).
async fn unlinking_revokes_google_and_x_tokens(db: TestDb) {
    let t = oauth_world(db).await;
    for (platform, handle) in [(Platform::Youtube, "ada_tube"), (Platform::X, "ada_second")] {
        let (status, account) = link(&t, &t.ada, platform.as_str(), handle).await;
        assert_eq!(status, StatusCode::CREATED, "{account}");
        let path = format!("/v1/social-accounts/{}", account["id"].as_str().unwrap());
        let (status, unlinked) = t.app.call(Method::DELETE, &path, Some(&t.ada), None).await;
        assert_eq!(status, StatusCode::OK, "{unlinked}");
        assert_eq!(unlinked["platform_token_revoked"], true, "{platform:?}: {unlinked}");
        let now = t.sim.access_token(platform, handle).unwrap();
        assert!(now.starts_with("revoked."), "{platform:?}: the platform no longer honours it: {now}");
    }
}

async fn bad_states_and_refusals_store_nothing(db: TestDb) {
    let t = oauth_world(db).await;
    let before = accounts(&t, &t.ada).await;
    let refused = |(status, body): (StatusCode, Value), code: &str| {
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(body["error"]["code"], code, "{body}");
    };
    let app = &t.app;
    let call = |query: String| {
        let path = format!("/v1/social-accounts/oauth/x/callback?{query}");
        async move { app.call(Method::GET, &path, None, None).await }
    };

    refused(call("code=abc".into()).await, "invalid_state");
    refused(call("code=abc&state=made-up".into()).await, "invalid_state");

    // A state is good for its own platform only, and is spent by trying another.
    let page = start(&t, &t.ada, "tiktok").await;
    let back = sign_in(&page, Some("ada.tok")).await;
    refused(callback(&t, "x", &back).await, "invalid_state");
    refused(callback(&t, "tiktok", &back).await, "invalid_state");

    // The creator refuses at the platform.
    let page = start(&t, &t.ada, "x").await;
    let back = sign_in(&page, None).await;
    assert_eq!(param(&back, "error").as_deref(), Some("access_denied"));
    refused(callback(&t, "x", &back).await, "authorization_refused");

    // A code the platform does not know.
    let page = start(&t, &t.ada, "x").await;
    let mut back = sign_in(&page, Some("ada_second")).await;
    let state = param(&back, "state").unwrap();
    back.set_query(Some(&format!("code=forged&state={state}")));
    refused(callback(&t, "x", &back).await, "code_refused");

    // The token endpoint fails: unavailable, and nothing stored.
    let page = start(&t, &t.ada, "x").await;
    let back = sign_in(&page, Some("ada_second")).await;
    t.sim.inject(Fault { target: FaultTarget::X, kind: FaultKind::ServerError { status: 503 }, times: 1 });
    let (status, body) = callback(&t, "x", &back).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(body["error"]["code"].is_string());

    // An expired authorization.
    let expired = OAuthState {
        state_hash: hex::encode(<sha2::Sha256 as sha2::Digest>::digest(b"expired-state")),
        creator_id: t.app.store.creator_by_user_id("user-ada").await.unwrap().unwrap().id,
        platform: Platform::X,
        pkce_verifier: "v".repeat(43),
        expires_at: chrono::Utc::now() - chrono::Duration::seconds(1),
    };
    let long_ago = chrono::Utc::now() - chrono::Duration::hours(1);
    t.app.store.insert_oauth_state(&expired, long_ago).await.unwrap();
    refused(call("code=abc&state=expired-state".into()).await, "state_expired");

    // A completed link's callback replayed.
    let page = start(&t, &t.ada, "x").await;
    let back = sign_in(&page, Some("ada_second")).await;
    assert_eq!(callback(&t, "x", &back).await.0, StatusCode::CREATED);
    refused(callback(&t, "x", &back).await, "invalid_state");

    assert_eq!(accounts(&t, &t.ada).await.len(), before.len() + 1, "only the one completed link");
    assert_eq!(pending_authorizations(&t).await, 0);
}

async fn an_account_proven_by_another_creator_is_refused(db: TestDb) {
    let t = oauth_world(db).await;
    // Ada proved ada_makes with its bio; Bob signing in as it at X gets no link.
    let (status, body) = link(&t, &t.bob, "x", "ada_makes").await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "handle_taken");
    assert!(accounts(&t, &t.bob).await.is_empty(), "nothing stored for Bob");

    // Ada's own unproven link of an account becomes the proven one.
    let body = json!({"platform": "x", "handle": "ada_second"});
    let (status, unproven) = t.app.call(Method::POST, "/v1/social-accounts", Some(&t.ada), Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{unproven}");
    let (status, proven) = link(&t, &t.ada, "x", "ada_second").await;
    assert_eq!(status, StatusCode::CREATED, "{proven}");
    assert_eq!((&proven["id"], proven["proven"].as_bool()), (&unproven["id"], Some(true)));
    assert_eq!(accounts(&t, &t.ada).await.len(), 2);
}

async fn a_revocation_before_the_callback_stops_the_exchange(db: TestDb) {
    let t = oauth_world(db).await;
    let page = start(&t, &t.ada, "tiktok").await;
    let back = sign_in(&page, Some("ada.tok")).await;
    revoke(&t, &t.ada).await;
    let requests = t.sim.requests(FaultTarget::Tiktok);
    let (status, body) = callback(&t, "tiktok", &back).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"]["code"], "consent_revoked");
    assert_eq!(t.sim.requests(FaultTarget::Tiktok), requests, "the code was not exchanged");
    grant(&t, &t.ada).await;
    assert_eq!(accounts(&t, &t.ada).await.len(), 1, "only the fixture's account");

    // Starting needs consent too, and an erasure takes pending authorizations with it.
    start(&t, &t.ada, "x").await;
    assert_eq!(pending_authorizations(&t).await, 1);
    let (status, body) = t.app.call(Method::DELETE, "/v1/creators/me", Some(&t.ada), None).await;
    assert!(status.is_success(), "{body}");
    assert_eq!(pending_authorizations(&t).await, 0);
}

async fn unknown_platforms_and_unconfigured_clients_are_refused(db: TestDb) {
    let t = oauth_world(db).await;
    let (status, body) =
        t.app.call(Method::POST, "/v1/social-accounts/oauth/myspace", Some(&t.ada), None).await;
    assert_eq!((status, &body["error"]["code"]), (StatusCode::NOT_FOUND, &json!("not_found")));
    let (status, _) = t.app.call(Method::POST, "/v1/social-accounts/oauth/x", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // The default settings name no client: linking by OAuth is not offered.
    let flows = viewmark::platforms::oauth::OAuthFlows::new(&Default::default()).unwrap();
    assert!(matches!(
        flows.authorize(Platform::X),
        Err(viewmark::platforms::PlatformError::NotConfigured { .. })
    ));
}

on_both_backends!(
    every_platform_links_by_oauth_proven_with_its_tokens,
    bad_states_and_refusals_store_nothing,
    an_account_proven_by_another_creator_is_refused,
    unlinking_revokes_google_and_x_tokens,
    a_revocation_before_the_callback_stops_the_exchange,
    unknown_platforms_and_unconfigured_clients_are_refused,
);
