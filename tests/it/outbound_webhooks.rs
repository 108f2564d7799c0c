//! Outbound webhooks, both backends: an admin registers an endpoint (never one on a
//! forbidden address); events are written with the changes they report; deliveries are
//! signed so the Standard Webhooks reference library verifies them, retried after a receiver
//! that fails or hangs, logged, and replayed on request; an erasure leaves none of the
//! creator's events behind but the notice of the erasure itself, pruned once delivered;
//! settled events leave after their retention.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use viewmark::store::Store;
use viewmark::webhooks::{Deliverer, DeliverySettings};

use crate::on_both_backends;
use crate::support::{TestApp, TestDb};

/// What the receiver does with the next requests, and what it got.
#[derive(Default)]
struct Receiver {
    /// Answers 500 to this many requests first...
    fail: usize,
    /// ...and sleeps this long before answering the ones after, while non-zero.
    hang_ms: u64,
    got: Vec<(http::HeaderMap, String)>,
}

type Shared = Arc<Mutex<Receiver>>;

async fn receive(req: HttpRequest, body: String, state: web::Data<Shared>) -> HttpResponse {
    let (fail, hang) = {
        let mut r = state.lock().unwrap();
        let mut headers = http::HeaderMap::new();
        for (name, value) in req.headers() {
            headers.insert(
                http::HeaderName::from_bytes(name.as_str().as_bytes()).unwrap(),
                http::HeaderValue::from_bytes(value.as_bytes()).unwrap(),
            );
        }
        r.got.push((headers, body));
        let fail = r.fail > 0;
        r.fail = r.fail.saturating_sub(1);
        (fail, r.hang_ms)
    };
    if hang > 0 {
        tokio::time::sleep(Duration::from_millis(hang)).await;
    }
    if fail {
        HttpResponse::InternalServerError().finish()
    } else {
        HttpResponse::NoContent().finish()
    }
}

async fn receiver() -> (String, Shared) {
    let shared: Shared = Arc::default();
    let data = web::Data::new(shared.clone());
    let server =
        HttpServer::new(move || App::new().app_data(data.clone()).route("/hook", web::post().to(receive)))
            .workers(1)
            .bind("127.0.0.1:0")
            .unwrap();
    let port = server.addrs()[0].port();
    tokio::spawn(server.run());
    (format!("http://127.0.0.1:{port}/hook"), shared)
}

fn settings() -> DeliverySettings {
    DeliverySettings {
        timeout_ms: 300,
        retry_base_secs: 1,
        allow_loopback: true,
        ..DeliverySettings::default()
    }
}

async fn deliver(store: &Arc<dyn Store>) -> usize {
    let deliverer = Deliverer::new(store.clone(), settings(), "test-deliverer".into()).unwrap();
    deliverer.try_execute_task().await.unwrap()
}

async fn deliveries_are_signed_retried_logged_and_replayed(db: TestDb) {
    let t = TestApp::spawn_with(db, |s| s.outbound_webhooks = settings()).await;
    let (admin, _) = crate::support::tokens::service(t.store.as_ref(), &["admin"]).await;
    let (url, got) = receiver().await;

    // Never an endpoint on a forbidden address, whatever the test allows on loopback.
    for forbidden in
        ["http://10.0.0.7/hook", "http://169.254.169.254/latest/meta-data", "http://[::ffff:192.168.1.1]/"]
    {
        let body = json!({"url": forbidden, "event_types": ["consent.revoked"]});
        let (status, answer) =
            t.call(Method::POST, "/v1/admin/webhook-endpoints", Some(&admin), Some(body)).await;
        assert_eq!(
            (status, answer["error"]["code"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("forbidden_address")),
            "{forbidden}"
        );
    }
    let body = json!({"url": url, "event_types": ["consent.revoked", "nope"]});
    let (status, _) = t.call(Method::POST, "/v1/admin/webhook-endpoints", Some(&admin), Some(body)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let body = json!({"url": url, "event_types": ["consent.revoked", "creator.erased"]});
    let (status, endpoint) =
        t.call(Method::POST, "/v1/admin/webhook-endpoints", Some(&admin), Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{endpoint}");
    let secret = endpoint["secret"].as_str().unwrap().to_owned();
    let id = endpoint["id"].as_str().unwrap().to_owned();
    let (_, listed) = t.call(Method::GET, "/v1/admin/webhook-endpoints", Some(&admin), None).await;
    assert!(listed["items"][0].get("secret").is_none(), "the secret is shown once: {listed}");

    // A creator revokes consent: the event is in the outbox with the change.
    let token = crate::support::creators::join(&t, "user-ada").await;
    let (_, me) = t.call(Method::GET, "/v1/creators/me", Some(&token), None).await;
    let ada = me["id"].as_str().unwrap().to_owned();
    let (status, _) =
        t.call(Method::POST, "/v1/creators/me/consent", Some(&token), Some(json!({"tracking": false}))).await;
    assert!(status.is_success(), "{status}");

    // The receiver fails the first attempt: it is logged and retried after the backoff.
    got.lock().unwrap().fail = 1;
    assert_eq!(deliver(&t.store).await, 1);
    let log = format!("/v1/admin/webhook-endpoints/{id}/deliveries");
    let (_, first) = t.call(Method::GET, &log, Some(&admin), None).await;
    let item = &first["items"][0];
    assert_eq!(
        (item["state"].as_str(), item["attempts"].as_u64(), item["last_status"].as_u64()),
        (Some("pending"), Some(1), Some(500)),
        "{first}"
    );
    assert_eq!(deliver(&t.store).await, 0, "not due before its backoff");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(deliver(&t.store).await, 1);
    let (_, second) = t.call(Method::GET, &log, Some(&admin), None).await;
    assert_eq!(
        (second["items"][0]["state"].as_str(), second["items"][0]["attempts"].as_u64()),
        (Some("delivered"), Some(2))
    );

    // Both attempts carry the same id and a signature the reference library accepts.
    let received = got.lock().unwrap().got.clone();
    assert_eq!(received.len(), 2);
    let reference = standardwebhooks::Webhook::new(&secret).unwrap();
    for (headers, body) in &received {
        reference.verify(body.as_bytes(), headers).unwrap();
        let payload: Value = serde_json::from_str(body).unwrap();
        assert_eq!(payload["type"], "consent.revoked");
        assert_eq!(payload["data"]["creator_id"].as_str(), Some(ada.as_str()));
    }
    assert_eq!(received[0].0["webhook-id"], received[1].0["webhook-id"]);
    let mut forged = received[0].0.clone();
    forged.insert("webhook-signature", http::HeaderValue::from_static("v1,AAAA"));
    assert!(reference.verify(received[0].1.as_bytes(), &forged).is_err());

    // A hanging receiver costs one timeout, is logged as such, and is tried again.
    let (status, _) = t
        .call(
            Method::POST,
            &format!("/v1/admin/webhook-endpoints/{id}/replay"),
            Some(&admin),
            Some(json!({"since": "2020-01-01T00:00:00Z"})),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    got.lock().unwrap().hang_ms = 3_000;
    let started = std::time::Instant::now();
    assert_eq!(deliver(&t.store).await, 1);
    assert!(started.elapsed() < Duration::from_millis(2_000), "the attempt gave up at its timeout");
    let (status, _) = t.call(Method::GET, "/healthz", None, None).await;
    assert_eq!(status, StatusCode::OK, "the API answers meanwhile");
    let (_, hung) = t.call(Method::GET, &log, Some(&admin), None).await;
    assert_eq!(hung["items"][0]["state"].as_str(), Some("pending"), "{hung}");
    assert!(hung["items"][0]["last_error"].as_str().unwrap().contains("no answer"), "{hung}");
    got.lock().unwrap().hang_ms = 0;
    // The log numbers attempts across the replay; the replay's backoff starts over at the base.
    assert_eq!(hung["items"][0]["attempts"].as_u64(), Some(3), "{hung}");
    let next: chrono::DateTime<chrono::Utc> =
        hung["items"][0]["next_attempt_at"].as_str().unwrap().parse().unwrap();
    assert!(next - chrono::Utc::now() <= chrono::Duration::milliseconds(1_000), "{hung}");
    tokio::time::sleep((next - chrono::Utc::now()).to_std().unwrap_or_default() + Duration::from_millis(100))
        .await;
    assert_eq!(deliver(&t.store).await, 1);

    // Erasure: the creator's earlier events go; the notice of the erasure is delivered.
    let (status, _) = t.call(Method::DELETE, "/v1/creators/me", Some(&token), None).await;
    assert!(status.is_success(), "{status}");
    let raw = t._db.raw().await;
    let left: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM outbox_events WHERE payload LIKE '%consent.revoked%'")
            .fetch_one(&raw)
            .await
            .unwrap();
    assert_eq!(left, 0, "the creator's events went with them");
    assert_eq!(deliver(&t.store).await, 1);
    let last = got.lock().unwrap().got.last().cloned().unwrap();
    let payload: Value = serde_json::from_str(&last.1).unwrap();
    assert_eq!(
        (payload["type"].as_str(), payload["data"]["creator_id"].as_str()),
        (Some("creator.erased"), Some(ada.as_str()))
    );
    // Once delivered, the notice is pruned: no row names the erased creator any more.
    let deliverer = Deliverer::new(t.store.clone(), settings(), "test-deliverer".into()).unwrap();
    assert_eq!(deliverer.prune().await.unwrap(), 1);
    let naming: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox_events WHERE payload LIKE $1")
        .bind(format!("%{ada}%"))
        .fetch_one(&raw)
        .await
        .unwrap();
    assert_eq!(naming, 0);
}

async fn settled_events_are_kept_for_their_retention_only(db: TestDb) {
    let store = db.store().await;
    let (url, _got) = receiver().await;
    let endpoint = viewmark::domain::WebhookEndpoint {
        id: uuid::Uuid::new_v4(),
        url,
        event_types: vec![viewmark::domain::EventType::ConsentRevoked],
        description: String::new(),
        enabled: true,
        created_at: chrono::Utc::now(),
    };
    store.insert_endpoint(&endpoint, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").await.unwrap();
    for user in ["user-old-delivered", "user-old-pending", "user-new-delivered", "user-old-failed"] {
        let creator = crate::support::creators::creator(store.as_ref(), user).await;
        let revoke = viewmark::store::ConsentChange {
            grant: false,
            policy_version: "2026-01".into(),
            channel: "api".into(),
            actor: "creator".into(),
            at: chrono::Utc::now(),
        };
        store.record_consent(creator.id, &revoke).await.unwrap();
    }
    // Events in the order written: their age and state set by hand.
    let raw = db.raw().await;
    let ids: Vec<String> = sqlx::query_scalar("SELECT id FROM outbox_events ORDER BY created_at, id")
        .fetch_all(&raw)
        .await
        .unwrap();
    assert_eq!(ids.len(), 4);
    let old = (chrono::Utc::now() - chrono::Duration::days(31)).timestamp_millis();
    let now = chrono::Utc::now().timestamp_millis();
    let setup = [(old, "delivered"), (old, "pending"), (now, "delivered"), (old, "failed")];
    for (id, (at, state)) in ids.iter().zip(setup) {
        sqlx::query("UPDATE outbox_events SET created_at = $1 WHERE id = $2")
            .bind(at)
            .bind(id)
            .execute(&raw)
            .await
            .unwrap();
        sqlx::query("UPDATE outbox_deliveries SET state = $1 WHERE event_id = $2")
            .bind(state)
            .bind(id)
            .execute(&raw)
            .await
            .unwrap();
    }
    let deliverer = Deliverer::new(store.clone(), settings(), "test-deliverer".into()).unwrap();
    assert_eq!(deliverer.prune().await.unwrap(), 2);
    let left: Vec<String> = sqlx::query_scalar("SELECT id FROM outbox_events ORDER BY created_at, id")
        .fetch_all(&raw)
        .await
        .unwrap();
    assert_eq!(left, vec![ids[1].clone(), ids[2].clone()], "the old pending event and the new one stay");
    let logs: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM outbox_deliveries").fetch_one(&raw).await.unwrap();
    assert_eq!(logs, 2, "deliveries went with their events");
}

/// A `viewmark worker` process on the test database, delivering to loopback receivers.
fn worker(db: &TestDb, dir: &std::path::Path) -> std::process::Child {
    let config = dir.join("worker.toml");
    std::fs::write(
        &config,
        format!(
            "database_url = {:?}\nkeystore_url = {:?}\nwatermark_key = {:?}\nencryption_key = {:?}\n\
             [log]\nlevel = \"warn\"\n\
             [outbound_webhooks]\ntimeout_ms = 500\nretry_base_secs = 1\nallow_loopback = true\n",
            db.url,
            db.keystore_url,
            "07".repeat(32),
            hex::encode(crate::support::TEST_ENCRYPTION_KEY),
        ),
    )
    .unwrap();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_viewmark"));
    for (key, _) in std::env::vars() {
        if key.starts_with("VIEWMARK_") {
            cmd.env_remove(key);
        }
    }
    cmd.arg("--config")
        .arg(&config)
        .arg("worker")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

async fn a_delivery_survives_its_worker_killed_mid_attempt(db: TestDb) {
    let store = db.store().await;
    let (url, got) = receiver().await;
    let endpoint = viewmark::domain::WebhookEndpoint {
        id: uuid::Uuid::new_v4(),
        url,
        event_types: vec![viewmark::domain::EventType::ConsentRevoked],
        description: String::new(),
        enabled: true,
        created_at: chrono::Utc::now(),
    };
    store.insert_endpoint(&endpoint, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").await.unwrap();
    let ada = crate::support::creators::creator(store.as_ref(), "user-ada").await;
    let revoke = viewmark::store::ConsentChange {
        grant: false,
        policy_version: "2026-01".into(),
        channel: "api".into(),
        actor: "creator".into(),
        at: chrono::Utc::now(),
    };
    store.record_consent(ada.id, &revoke).await.unwrap();

    // The first attempt hangs; the worker is killed while it waits.
    got.lock().unwrap().hang_ms = 60_000;
    let dir = tempfile::tempdir().unwrap();
    let mut first = worker(&db, dir.path());
    let raw = db.raw().await;
    for _ in 0..300 {
        if !got.lock().unwrap().got.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!got.lock().unwrap().got.is_empty(), "the first attempt reached the receiver");
    first.kill().unwrap();
    first.wait().unwrap();

    // Restarted, a worker finds the delivery in the outbox once the dead one's lease ends.
    got.lock().unwrap().hang_ms = 0;
    let mut second = worker(&db, dir.path());
    let mut delivered = false;
    for _ in 0..300 {
        let state: String =
            sqlx::query_scalar("SELECT state FROM outbox_deliveries").fetch_one(&raw).await.unwrap();
        if state == "delivered" {
            delivered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    second.kill().unwrap();
    second.wait().unwrap();
    assert!(delivered, "delivered after the restart");
    let received = got.lock().unwrap().got.clone();
    assert!(received.len() >= 2, "the killed attempt and the one after");
    assert!(
        received.iter().all(|(h, _)| h["webhook-id"] == received[0].0["webhook-id"]),
        "one event, one id"
    );
}

on_both_backends!(
    deliveries_are_signed_retried_logged_and_replayed,
    a_delivery_survives_its_worker_killed_mid_attempt,
    settled_events_are_kept_for_their_retention_only
);
