//! The OpenAPI document: served, and in step with the routes. Every documented operation
//! exists (an anonymous call is refused with 401, not 404 or 405; the OAuth callback, which
//! its `state` authenticates, with 400), and every route the API offers is documented, with
//! its bearer security and its error bodies.

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::support::{TestApp, TestDb};

/// The route a platform sends the creator's browser back to: no bearer token, its `state`
/// is the credential.
const OAUTH_CALLBACK: &str = "/v1/social-accounts/oauth/{platform}/callback";

/// Every route the service offers.
const ROUTES: [(&str, &str); 41] = [
    ("post", "/v1/creators/me"),
    ("get", "/v1/creators/me"),
    ("patch", "/v1/creators/me"),
    ("post", "/v1/creators/me/consent"),
    ("get", "/v1/creators/me/consent"),
    ("get", "/v1/creators/me/export"),
    ("get", "/v1/creators/me/earnings"),
    ("get", "/v1/creators/me/disputes"),
    ("post", "/v1/posts/{id}/disputes"),
    ("get", "/v1/admin/disputes"),
    ("post", "/v1/admin/disputes/{id}/resolve"),
    ("post", "/v1/contents"),
    ("get", "/v1/contents"),
    ("get", "/v1/contents/{id}"),
    ("delete", "/v1/contents/{id}"),
    ("post", "/v1/detect"),
    ("post", "/v1/social-accounts"),
    ("get", "/v1/social-accounts"),
    ("post", "/v1/social-accounts/{id}/verify"),
    ("delete", "/v1/social-accounts/{id}"),
    ("post", "/v1/social-accounts/oauth/{platform}"),
    ("get", OAUTH_CALLBACK),
    ("post", "/v1/posts"),
    ("get", "/v1/posts"),
    ("get", "/v1/posts/{id}"),
    ("delete", "/v1/posts/{id}"),
    ("get", "/metrics"),
    ("get", "/v1/payouts/verified-views"),
    ("post", "/v1/payouts/statements"),
    ("get", "/v1/payouts/statements/{id}"),
    ("get", "/v1/admin/flags"),
    ("post", "/v1/admin/flags/{id}/clear"),
    ("delete", "/v1/creators/me"),
    ("post", "/v1/admin/creators/{id}/erase"),
    ("post", "/v1/webhooks/identity"),
    ("post", "/v1/admin/webhook-endpoints"),
    ("get", "/v1/admin/webhook-endpoints"),
    ("patch", "/v1/admin/webhook-endpoints/{id}"),
    ("delete", "/v1/admin/webhook-endpoints/{id}"),
    ("get", "/v1/admin/webhook-endpoints/{id}/deliveries"),
    ("post", "/v1/admin/webhook-endpoints/{id}/replay"),
];

#[tokio::test]
async fn the_document_describes_exactly_the_routes_served() {
    let app = TestApp::spawn(TestDb::sqlite()).await;
    let (status, doc) = app.call(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."), "{}", doc["openapi"]);
    assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");

    let paths = doc["paths"].as_object().unwrap();
    let mut documented = Vec::new();
    for (path, operations) in paths {
        for (method, operation) in operations.as_object().unwrap() {
            documented.push((method.clone(), path.clone()));
            let concrete =
                path.replace("{id}", &uuid::Uuid::new_v4().to_string()).replace("{platform}", "tiktok");
            if path == OAUTH_CALLBACK {
                let response = app.client.get(app.url(&concrete)).send().await.unwrap();
                assert_eq!(response.status(), StatusCode::BAD_REQUEST, "no state: refused");
                let body: Value = response.json().await.unwrap();
                assert_eq!(body["error"]["code"], "invalid_state");
                continue;
            }
            // Every other route is authenticated: a bearer token, or the webhook's Svix signature.
            let scheme = if path == "/v1/webhooks/identity" { "svix" } else { "bearer" };
            assert!(operation["security"].to_string().contains(scheme), "{method} {path} has no security");
            let response = app
                .client
                .request(method.to_uppercase().parse().unwrap(), app.url(&concrete))
                .send()
                .await
                .unwrap();
            assert_eq!(
                response.status(),
                StatusCode::UNAUTHORIZED,
                "{method} {path} is documented but not served"
            );
            let has_error_body = operation["responses"]
                .as_object()
                .unwrap()
                .iter()
                .any(|(code, r)| code.starts_with('4') && r.to_string().contains("ErrorDoc"));
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["error"]["code"], "unauthorized");
            assert!(has_error_body || method == "get", "{method} {path} documents no error body");
        }
    }
    for (method, path) in ROUTES {
        assert!(
            documented.contains(&(method.to_owned(), path.to_owned())),
            "{method} {path} is not documented"
        );
    }
    assert_eq!(documented.len(), ROUTES.len(), "documented: {documented:?}");
}

#[tokio::test]
async fn the_docs_page_renders_the_document() {
    let app = TestApp::spawn(TestDb::sqlite()).await;
    let response = app.client.get(app.url("/docs")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(content_type.starts_with("text/html"), "{content_type}");
    let page = response.text().await.unwrap();
    assert!(page.contains(r#"spec-url="/openapi.json""#), "{page}");

    // Nothing the page loads comes from another host: it renders offline.
    let mut sources = Vec::new();
    for attribute in ["src=\"", "href=\"", "spec-url=\""] {
        for (at, _) in page.match_indices(attribute) {
            let rest = &page[at + attribute.len()..];
            sources.push(rest[..rest.find('"').unwrap()].to_owned());
        }
    }
    assert!(sources.len() >= 3, "{sources:?}");
    for source in &sources {
        assert!(source.starts_with('/') && !source.starts_with("//"), "{source} is on another host");
    }
    assert!(!page.contains("://"), "no absolute URL: {page}");
    for source in sources.iter().filter(|s| s.ends_with(".js")) {
        let script = app.client.get(app.url(source)).send().await.unwrap();
        assert_eq!(script.status(), StatusCode::OK, "{source}");
        assert!(script.headers()["content-type"].to_str().unwrap().contains("javascript"));
        assert!(script.bytes().await.unwrap().len() > 100_000, "the renderer itself");
    }
}
