//! Creator tokens checked against the identity provider's published key set (JWKS): keys
//! are fetched once and cached, a rotation is picked up on the first token naming the new
//! key id, and unknown key ids cannot make the service fetch again and again.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{web, App, HttpResponse, HttpServer};
use reqwest::{Method, StatusCode};

use crate::support::tokens::{claims, sign_with_kid};
use crate::support::{fixture_path, TestApp, TestDb};

/// The identity provider's JWKS endpoint: serves the file named in `current`, counting hits,
/// and answers with `Cache-Control` when `cache_control` holds one.
struct StandInProvider {
    url: String,
    fetches: Arc<AtomicUsize>,
    current: Arc<Mutex<&'static str>>,
    cache_control: Arc<Mutex<Option<&'static str>>>,
}

async fn stand_in_provider() -> StandInProvider {
    let fetches = Arc::new(AtomicUsize::new(0));
    let current = Arc::new(Mutex::new("auth/test-idp-jwks.json"));
    let cache_control = Arc::new(Mutex::new(None));
    let (f, c, cc) = (fetches.clone(), current.clone(), cache_control.clone());
    let server = HttpServer::new(move || {
        let (f, c, cc) = (f.clone(), c.clone(), cc.clone());
        App::new().route(
            "/.well-known/jwks.json",
            web::get().to(move || {
                let (f, c, cc) = (f.clone(), c.clone(), cc.clone());
                async move {
                    f.fetch_add(1, Ordering::SeqCst);
                    let file = *c.lock().unwrap();
                    let mut answer = HttpResponse::Ok();
                    if let Some(value) = *cc.lock().unwrap() {
                        answer.insert_header(("Cache-Control", value));
                    }
                    answer.content_type("application/json").body(std::fs::read(fixture_path(file)).unwrap())
                }
            }),
        )
    })
    .workers(1)
    .bind("127.0.0.1:0")
    .unwrap();
    let port = server.addrs()[0].port();
    tokio::spawn(server.run());
    let url = format!("http://127.0.0.1:{port}/.well-known/jwks.json");
    StandInProvider { url, fetches, current, cache_control }
}

#[tokio::test]
async fn keys_come_from_the_providers_key_set_and_follow_rotation() {
    let provider = stand_in_provider().await;
    let url = provider.url.clone();
    let app = TestApp::spawn_with(TestDb::sqlite(), move |s| {
        s.auth.public_key_files.clear();
        s.auth.jwks_url = Some(url);
        s.auth.jwks_min_refresh_secs = 1;
    })
    .await;
    let me = |token: String| {
        let app = &app;
        async move { app.call(Method::GET, "/v1/creators/me", Some(&token), None).await.0 }
    };

    // Known key id: one fetch, then served from the cache.
    for _ in 0..3 {
        assert_eq!(
            me(sign_with_kid("test-idp-private.pem", "test-1", &claims("user-a"))).await,
            StatusCode::NOT_FOUND
        );
    }
    assert_eq!(provider.fetches.load(Ordering::SeqCst), 1);

    // A key id the provider does not publish: refused, one refetch at most per interval
    // (none before the interval has passed since the last fetch).
    let forged = sign_with_kid("other-private.pem", "rotated-2", &claims("user-a"));
    assert_eq!(me(forged).await, StatusCode::UNAUTHORIZED);
    assert_eq!(provider.fetches.load(Ordering::SeqCst), 1);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    for _ in 0..5 {
        let forged = sign_with_kid("other-private.pem", "rotated-2", &claims("user-a"));
        assert_eq!(me(forged).await, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(provider.fetches.load(Ordering::SeqCst), 2);

    // The provider rotates in a new key: after the interval, the first token naming it
    // triggers a fetch and is accepted.
    *provider.current.lock().unwrap() = "auth/rotated-jwks.json";
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let rotated = sign_with_kid("other-private.pem", "rotated-2", &claims("user-a"));
    assert_eq!(me(rotated).await, StatusCode::NOT_FOUND);
    assert_eq!(provider.fetches.load(Ordering::SeqCst), 3);
    // A key from the set cannot be used under another key's id.
    let mislabelled = sign_with_kid("other-private.pem", "test-1", &claims("user-a"));
    assert_eq!(me(mislabelled).await, StatusCode::UNAUTHORIZED);
}

/// A key the provider withdraws from its set is refused once the cached set expires, by the
/// configured time-to-live or by the answer's `Cache-Control: max-age`, whichever is shorter,
/// although tokens naming it never trigger a fetch of their own (their key id is known).
#[tokio::test]
async fn a_withdrawn_key_is_refused_once_the_cached_set_expires() {
    for by_header in [false, true] {
        let provider = stand_in_provider().await;
        if by_header {
            *provider.cache_control.lock().unwrap() = Some("public, max-age=1");
        }
        let url = provider.url.clone();
        let app = TestApp::spawn_with(TestDb::sqlite(), move |s| {
            s.auth.public_key_files.clear();
            s.auth.jwks_url = Some(url);
            s.auth.jwks_min_refresh_secs = 1;
            s.auth.jwks_ttl_secs = if by_header { 3600 } else { 1 };
        })
        .await;
        let token = || sign_with_kid("test-idp-private.pem", "test-1", &claims("user-a"));
        let me = |token: String| {
            let app = &app;
            async move { app.call(Method::GET, "/v1/creators/me", Some(&token), None).await.0 }
        };
        assert_eq!(me(token()).await, StatusCode::NOT_FOUND, "accepted while published");
        // The provider withdraws test-1 (it leaked, say).
        *provider.current.lock().unwrap() = "auth/withdrawn-jwks.json";
        assert_eq!(me(token()).await, StatusCode::NOT_FOUND, "still cached, by_header {by_header}");
        tokio::time::sleep(Duration::from_millis(1100)).await;
        assert_eq!(me(token()).await, StatusCode::UNAUTHORIZED, "expired set trusted, by_header {by_header}");
        assert_eq!(provider.fetches.load(Ordering::SeqCst), 2);
        // The key that replaced it is accepted.
        let rotated = sign_with_kid("other-private.pem", "rotated-2", &claims("user-a"));
        assert_eq!(me(rotated).await, StatusCode::NOT_FOUND);
    }
}
