//! The HTTP shell over the real server: health, readiness, JSON errors, request ids.

use reqwest::StatusCode;
use serde_json::Value;

use crate::on_both_backends;
use crate::support::{TestApp, TestDb};

async fn error_code(response: reqwest::Response) -> String {
    assert_eq!(response.headers()["content-type"], "application/json");
    let body: Value = response.json().await.unwrap();
    assert!(body["error"]["message"].is_string(), "{body}");
    body["error"]["code"].as_str().unwrap().to_owned()
}

on_both_backends!(
    health_and_readiness_answer,
    readiness_fails_when_the_database_is_gone,
    unknown_routes_and_methods_get_json_errors,
    every_response_carries_a_request_id,
);

async fn health_and_readiness_answer(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let health = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body["status"], "ready");
    assert_eq!(body["database"], app.store.backend().as_str());
}

async fn readiness_fails_when_the_database_is_gone(db: TestDb) {
    let app = TestApp::spawn(db).await;
    app.store.close().await;
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(error_code(ready).await, "unavailable");
    // Liveness is about the process, not its dependencies.
    let health = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
}

async fn unknown_routes_and_methods_get_json_errors(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let missing = app.client.get(app.url("/no/such/thing")).send().await.unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_code(missing).await, "not_found");
    let wrong_method = app.client.delete(app.url("/healthz")).send().await.unwrap();
    assert_eq!(wrong_method.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(error_code(wrong_method).await, "method_not_allowed");
}

async fn every_response_carries_a_request_id(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let a = app.client.get(app.url("/healthz")).send().await.unwrap();
    let b = app.client.get(app.url("/nothing-here")).send().await.unwrap();
    let id_a = a.headers()["x-request-id"].to_str().unwrap().to_owned();
    let id_b = b.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert!(!id_a.is_empty() && id_a != id_b);
    // A caller's plain id is carried through; a hostile one is replaced.
    let passed = app.client.get(app.url("/healthz")).header("x-request-id", "edge-42").send().await.unwrap();
    assert_eq!(passed.headers()["x-request-id"], "edge-42");
    let hostile =
        app.client.get(app.url("/healthz")).header("x-request-id", "a\"b<script>").send().await.unwrap();
    assert_ne!(hostile.headers()["x-request-id"], "a\"b<script>");
}

/// A TCP relay to PostgreSQL that can be frozen: connections stay open and nothing more
/// passes either way, as when the database host hangs.
struct FreezableRelay {
    address: String,
    frozen: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl FreezableRelay {
    async fn to(upstream: String) -> FreezableRelay {
        use std::sync::atomic::{AtomicBool, Ordering};
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let frozen = std::sync::Arc::new(AtomicBool::new(false));
        let flag = frozen.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = tokio::net::TcpStream::connect(&upstream).await else { continue };
                let ((client_reads, client_writes), (server_reads, server_writes)) =
                    (client.into_split(), server.into_split());
                for (mut from, mut to) in [(client_reads, server_writes), (server_reads, client_writes)] {
                    let flag = flag.clone();
                    tokio::spawn(async move {
                        let mut buffer = vec![0u8; 16 * 1024];
                        while let Ok(n) = from.read(&mut buffer).await {
                            if n == 0 {
                                break;
                            }
                            while flag.load(Ordering::SeqCst) {
                                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                            }
                            if to.write_all(&buffer[..n]).await.is_err() {
                                break;
                            }
                        }
                    });
                }
            }
        });
        FreezableRelay { address, frozen }
    }

    fn freeze(&self) {
        self.frozen.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

/// A database that stops answering (its host hangs) makes readiness fail within a second,
/// not after the pool's own wait for a connection, nor never.
#[tokio::test]
#[cfg_attr(
    not(viewmark_test_postgres),
    ignore = "needs VIEWMARK_TEST_POSTGRES_URL naming a PostgreSQL server (CI sets it)"
)]
async fn readiness_answers_within_a_second_when_the_database_hangs() {
    let mut db = TestDb::postgres().await.expect("VIEWMARK_TEST_POSTGRES_URL");
    let (scheme_and_user, rest) = db.url.split_once('@').unwrap();
    let (upstream, database) = rest.split_once('/').unwrap();
    let relay = FreezableRelay::to(upstream.to_owned()).await;
    db.url = format!("{scheme_and_user}@{}/{database}", relay.address);
    let app = TestApp::spawn(db).await;
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    relay.freeze();
    let started = std::time::Instant::now();
    let ready =
        tokio::time::timeout(std::time::Duration::from_secs(10), app.client.get(app.url("/readyz")).send())
            .await
            .expect("readiness never answered")
            .unwrap();
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(started.elapsed() < std::time::Duration::from_millis(1500), "{:?}", started.elapsed());
}
