//! Erasure on both backends: nothing linked to the creator survives in any table, the old
//! watermark resolves to unknown, statements keep their totals under a tombstone, polls in
//! flight store nothing; and the identity provider's signed webhook (forged, stale and
//! replayed deliveries refused or ignored); an admin's erasure, for a reason the receipt keeps.

use std::sync::Arc;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sqlx::Row;
use viewmark::consent::webhook::WebhookSecret;
use viewmark::simulator::{Fault, FaultKind, FaultTarget};
use viewmark::tracking::Round;

use crate::on_both_backends;
use crate::support::files::scan;
use crate::support::tracked::{register, tracked, Tracked, OURS};
use crate::support::{TestDb, WEBHOOK_SECRET};

async fn erasure_leaves_nothing_linked_to_the_creator(db: TestDb) {
    let url = db.url.clone();
    let t = tracked(db).await;
    let raw = {
        sqlx::any::install_default_drivers();
        sqlx::AnyPool::connect(&url).await.unwrap()
    };
    let post = register(&t, &t.ada, OURS).await;
    assert_eq!(t.poller.try_execute_task().await.unwrap(), Round::Polled(1));
    let shown = crate::support::tracked::show(&t, &t.ada, &post).await;
    assert_eq!(shown["status"], "verified", "{shown}");
    let (status, me) = t.app.call(Method::GET, "/v1/creators/me", Some(&t.ada), None).await;
    assert_eq!(status, StatusCode::OK);
    let ada_id = me["id"].as_str().unwrap().to_owned();
    // A statement issued to her before: it must keep its total.
    sqlx::query("INSERT INTO payout_statements (id, period_start, period_end, evidence_hash, created_at) VALUES ('s1', 0, 1, 'h', 0)")
        .execute(&raw)
        .await
        .unwrap();
    sqlx::query(&format!("INSERT INTO statement_lines (statement_id, payee_id, line_kind, views) VALUES ('s1', '{ada_id}', 'views', 4242)"))
        .execute(&raw)
        .await
        .unwrap();
    let picture = reqwest::get(format!("{}/media/x-{OURS}.jpg", t.sim.base_url()))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap()
        .to_vec();
    let (admin, _) = crate::support::tokens::service(t.app.store.as_ref(), &["admin"]).await;
    let detect = |bytes: Vec<u8>| {
        let request = t
            .app
            .client
            .post(t.app.url("/v1/detect"))
            .bearer_auth(&admin)
            .header("content-type", "image/jpeg");
        async move { request.body(bytes).send().await.unwrap().json::<Value>().await.unwrap() }
    };
    assert_eq!(detect(picture.clone()).await["found"], true, "her watermark resolves before erasure");
    let (payouts, _) = crate::support::tokens::service(t.app.store.as_ref(), &["payouts:read"]).await;
    let statement = |etag: Option<String>| {
        let mut request = t.app.client.get(t.app.url("/v1/payouts/statements/s1")).bearer_auth(&payouts);
        if let Some(etag) = etag {
            request = request.header("if-none-match", etag);
        }
        async move {
            let response = request.send().await.unwrap();
            let etag = response.headers().get("etag").map(|v| v.to_str().unwrap().to_owned());
            (response.status(), etag, response.text().await.unwrap())
        }
    };
    let (status, cached_etag, shown) = statement(None).await;
    assert!(status == StatusCode::OK && shown.contains(&ada_id), "{status} {shown}");

    let (status, receipt) = t.app.call(Method::DELETE, "/v1/creators/me", Some(&t.ada), None).await;
    assert_eq!(status, StatusCode::OK, "{receipt}");
    let counts = &receipt["row_counts"];
    for (table, at_least) in [
        ("creators", 1),
        ("posts", 1),
        ("view_snapshots", 1),
        ("social_accounts", 1),
        ("contents", 1),
        ("consent_events", 1),
    ] {
        assert!(counts[table].as_u64().unwrap() >= at_least, "{table}: {receipt}");
    }
    assert_eq!(counts["statement_lines (tombstoned)"], 1);

    let needles = vec![
        ada_id.clone(),
        "user-ada".into(),
        "ada_makes".into(),
        OURS.into(),
        post["id"].as_str().unwrap().into(),
    ];
    let leftovers = scan(&url, &raw, &needles).await;
    assert!(leftovers.is_empty(), "{leftovers:?}");
    let line = sqlx::query("SELECT payee_id, views FROM statement_lines").fetch_one(&raw).await.unwrap();
    assert!(line.get::<String, _>("payee_id").starts_with("tombstone-"));
    assert_eq!(line.get::<i64, _>("views"), 4242, "the statement keeps its total");
    // A copy cached before the erasure is stale: its tag no longer matches.
    let (status, etag, shown) = statement(cached_etag.clone()).await;
    assert_eq!(status, StatusCode::OK, "a cached copy holding her id was revalidated");
    assert_ne!(etag, cached_etag);
    assert!(!shown.contains(&ada_id) && shown.contains("tombstone-"), "{shown}");
    let stored =
        t.app.store.erasure_receipt(receipt["receipt_id"].as_str().unwrap().parse().unwrap()).await.unwrap();
    assert_eq!(stored.unwrap().trigger, viewmark::domain::ErasureTrigger::Api);

    assert_eq!(detect(picture).await["found"], false, "the old watermark now resolves to unknown");
    assert_eq!(t.app.call(Method::GET, "/v1/creators/me", Some(&t.ada), None).await.0, StatusCode::NOT_FOUND);
    assert_eq!(
        t.app.call(Method::DELETE, "/v1/creators/me", Some(&t.ada), None).await.0,
        StatusCode::NOT_FOUND
    );
    crate::support::tracked::next_slot().await;
    assert_eq!(t.poller.try_execute_task().await.unwrap(), Round::Idle);
}

async fn an_erasure_during_a_poll_stores_nothing(db: TestDb) {
    let t = Arc::new(tracked(db).await);
    let post = register(&t, &t.ada, OURS).await;
    t.sim.inject(Fault { target: FaultTarget::X, kind: FaultKind::Slow { delay_ms: 300 }, times: 1 });
    let polling = {
        let t = t.clone();
        tokio::spawn(async move { t.poller.try_execute_task().await })
    };
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert_eq!(t.app.call(Method::DELETE, "/v1/creators/me", Some(&t.ada), None).await.0, StatusCode::OK);
    assert!(polling.await.unwrap().is_ok(), "the poll ends quietly");
    let post_id = post["id"].as_str().unwrap().parse().unwrap();
    assert!(t.app.store.snapshots_for_post(post_id).await.unwrap().is_empty());
    assert!(t.app.store.post(post_id).await.unwrap().is_none());
}

fn signed(secret: &WebhookSecret, id: &str, timestamp: i64, body: &Value) -> (String, Vec<(String, String)>) {
    let text = body.to_string();
    let signature = secret.sign(id, timestamp, text.as_bytes());
    let headers = vec![
        ("svix-id".to_owned(), id.to_owned()),
        ("svix-timestamp".to_owned(), timestamp.to_string()),
        ("svix-signature".to_owned(), signature),
    ];
    (text, headers)
}

async fn deliver(t: &Tracked, body: String, headers: &[(String, String)]) -> (StatusCode, Value) {
    let mut request =
        t.app.client.post(t.app.url("/v1/webhooks/identity")).header("content-type", "application/json");
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let response = request.body(body).send().await.unwrap();
    (response.status(), response.json().await.unwrap_or(Value::Null))
}

async fn the_deletion_webhook_erases_only_when_signed_fresh_and_new(db: TestDb) {
    let t = tracked(db).await;
    let secret = WebhookSecret::parse(WEBHOOK_SECRET).unwrap();
    let now = chrono::Utc::now().timestamp();
    let event = json!({"type": "user.deleted", "data": {"id": "user-bob"}});

    // Forged (another secret), stale, unsigned: refused, Bob still there.
    let forger = WebhookSecret::parse("whsec_b3RoZXItc2VjcmV0LW9mLTE2Yg==").unwrap();
    let (body, headers) = signed(&forger, "msg_1", now, &event);
    assert_eq!(deliver(&t, body, &headers).await.0, StatusCode::UNAUTHORIZED);
    let (body, headers) = signed(&secret, "msg_1", now - 600, &event);
    let (status, answer) = deliver(&t, body, &headers).await;
    assert_eq!((status, answer["error"]["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("stale_webhook")));
    assert_eq!(deliver(&t, event.to_string(), &[]).await.0, StatusCode::UNAUTHORIZED, "unsigned");
    let (body, mut headers) = signed(&secret, "msg_1", now, &event);
    headers[2].1 = headers[2].1.replace("v1,", "v1,AAAA");
    assert_eq!(deliver(&t, body, &headers).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(t.app.call(Method::GET, "/v1/creators/me", Some(&t.bob), None).await.0, StatusCode::OK);
    // A compressed body (here 32 MiB of zeros in 32 KiB) is refused before it is inflated.
    let bomb = {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&vec![b' '; 32 << 20]).unwrap();
        gz.finish().unwrap()
    };
    let (_, headers) = signed(&forger, "msg_1", now, &event);
    let mut request = t
        .app
        .client
        .post(t.app.url("/v1/webhooks/identity"))
        .header("content-type", "application/json")
        .header("content-encoding", "gzip");
    for (name, value) in &headers {
        request = request.header(name, value);
    }
    let response = request.body(bomb).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(response.json::<Value>().await.unwrap()["error"]["code"], "unsupported_encoding");

    // Signed and fresh: erased, with a receipt; the replay is a no-op.
    let (body, headers) = signed(&secret, "msg_1", now, &event);
    let (status, answer) = deliver(&t, body.clone(), &headers).await;
    assert_eq!((status, answer["status"].as_str()), (StatusCode::OK, Some("erased")), "{answer}");
    assert!(answer["receipt_id"].is_string());
    assert_eq!(t.app.call(Method::GET, "/v1/creators/me", Some(&t.bob), None).await.0, StatusCode::NOT_FOUND);
    let (status, answer) = deliver(&t, body, &headers).await;
    assert_eq!((status, answer["status"].as_str()), (StatusCode::OK, Some("duplicate")));

    // An erasure the first delivery left unfinished (killed after destroying the data key)
    // is completed by the provider's retry of the same delivery.
    let (_, me) = t.app.call(Method::GET, "/v1/creators/me", Some(&t.ada), None).await;
    let ada: viewmark::domain::CreatorId = me["id"].as_str().unwrap().parse().unwrap();
    let ada_deleted = json!({"type": "user.deleted", "data": {"id": "user-ada"}});
    let (body, headers) = signed(&secret, "msg_3", now, &ada_deleted);
    assert!(
        t.app.store.first_delivery("msg_3", chrono::Utc::now()).await.unwrap(),
        "as the first delivery did"
    );
    assert!(t.app._db.key_store().await.destroy(ada).await.unwrap(), "and then it was killed");
    let (status, answer) = deliver(&t, body.clone(), &headers).await;
    assert_eq!((status, answer["status"].as_str()), (StatusCode::OK, Some("erased")), "{answer}");
    assert_eq!(t.app.store.creator_id_by_user_id("user-ada").await.unwrap(), None);
    assert_eq!(deliver(&t, body, &headers).await.1["status"], "duplicate");

    // Other events and unknown users change nothing.
    let other = json!({"type": "user.updated", "data": {"id": "user-carol"}});
    let (body, headers) = signed(&secret, "msg_2", now, &other);
    assert_eq!(deliver(&t, body, &headers).await.1["status"], "ignored");
    // A user refused for age never became a creator: the refusal is all there is, and goes.
    let until = chrono::Utc::now() + chrono::Duration::days(365);
    t.app.store.record_age_refusal("user-nobody", until, chrono::Utc::now()).await.unwrap();
    let unknown = json!({"type": "user.deleted", "data": {"id": "user-nobody"}});
    let (body, headers) = signed(&secret, "msg_4", now, &unknown);
    assert_eq!(deliver(&t, body, &headers).await.1["status"], "no such creator");
    assert_eq!(t.app.store.age_refused_until("user-nobody").await.unwrap(), None, "the refusal stayed");
}

async fn an_admin_erases_a_creator_for_a_reason(db: TestDb) {
    let url = db.url.clone();
    let t = tracked(db).await;
    let raw = t.app._db.raw().await;
    let post = register(&t, &t.ada, OURS).await;
    assert_eq!(t.poller.try_execute_task().await.unwrap(), Round::Polled(1));
    let (_, me) = t.app.call(Method::GET, "/v1/creators/me", Some(&t.ada), None).await;
    let ada_id = me["id"].as_str().unwrap().to_owned();
    let (admin, _) = crate::support::tokens::service(t.app.store.as_ref(), &["admin"]).await;
    let erase = format!("/v1/admin/creators/{ada_id}/erase");

    for bad in [json!({}), json!({"reason": "boredom"}), json!({"reason": "minor", "note": "x"})] {
        let (status, answer) = t.app.call(Method::POST, &erase, Some(&admin), Some(bad.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {answer}");
        assert!(answer["error"]["code"].is_string(), "{answer}");
    }
    let nobody = format!("/v1/admin/creators/{}/erase", uuid::Uuid::new_v4());
    let (status, _) = t.app.call(Method::POST, &nobody, Some(&admin), Some(json!({"reason": "minor"}))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(t.app.call(Method::GET, "/v1/creators/me", Some(&t.ada), None).await.0, StatusCode::OK);

    let (status, receipt) =
        t.app.call(Method::POST, &erase, Some(&admin), Some(json!({"reason": "minor"}))).await;
    assert_eq!(status, StatusCode::OK, "{receipt}");
    assert_eq!((receipt["trigger"].as_str(), receipt["reason"].as_str()), (Some("admin"), Some("minor")));
    assert_eq!(receipt["row_counts"]["creators"], 1, "{receipt}");
    let stored =
        t.app.store.erasure_receipt(receipt["receipt_id"].as_str().unwrap().parse().unwrap()).await.unwrap();
    assert_eq!(
        stored.unwrap().trigger,
        viewmark::domain::ErasureTrigger::Admin(viewmark::domain::ErasureReason::Minor)
    );
    let needles = vec![
        ada_id.clone(),
        "user-ada".into(),
        "ada_makes".into(),
        OURS.into(),
        post["id"].as_str().unwrap().into(),
    ];
    let leftovers = scan(&url, &raw, &needles).await;
    assert!(leftovers.is_empty(), "{leftovers:?}");
    assert_eq!(t.app.call(Method::GET, "/v1/creators/me", Some(&t.ada), None).await.0, StatusCode::NOT_FOUND);
    let (status, _) = t.app.call(Method::POST, &erase, Some(&admin), Some(json!({"reason": "minor"}))).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "already erased");
    crate::support::tracked::next_slot().await;
    assert_eq!(t.poller.try_execute_task().await.unwrap(), Round::Idle);
}

on_both_backends!(
    an_admin_erases_a_creator_for_a_reason,
    erasure_leaves_nothing_linked_to_the_creator,
    an_erasure_during_a_poll_stores_nothing,
    the_deletion_webhook_erases_only_when_signed_fresh_and_new,
);
