//! Deleting one upload, both backends: the content's mark detects as unknown, its posts stop
//! (`content_deleted`) with no platform request after the answer, statement lines already
//! issued stay; only its creator or the generator's service token may delete it; and a
//! request on its way holds the deletion back, as it holds a revocation.

use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::Value;
use viewmark::platforms::start_gate::StartGate;
use viewmark::simulator::FaultTarget;
use viewmark::tracking::consent_gate::ConsentGate;
use viewmark::tracking::Round;

use crate::on_both_backends;
use crate::support::tracked::{next_slot, post_id, register, show, tracked, Tracked, OURS};
use crate::support::TestDb;

/// The caller's only content.
async fn own_content(t: &Tracked, token: &str) -> String {
    let (status, page) = t.app.call(Method::GET, "/v1/contents", Some(token), None).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["items"].as_array().unwrap().len(), 1, "{page}");
    page["items"][0]["id"].as_str().unwrap().to_owned()
}

async fn deleting_a_content_stops_its_posts_and_its_mark(db: TestDb) {
    let t = tracked(db).await;
    let raw = t.app._db.raw().await;
    let post = register(&t, &t.ada, OURS).await;
    assert_eq!(t.poller.try_execute_task().await.unwrap(), Round::Polled(1));
    assert_eq!(show(&t, &t.ada, &post).await["status"], "verified");
    let content = own_content(&t, &t.ada).await;
    let (_, me) = t.app.call(Method::GET, "/v1/creators/me", Some(&t.ada), None).await;
    let ada_id = me["id"].as_str().unwrap().to_owned();
    // Evidence a statement issued before: it stays.
    sqlx::query("INSERT INTO payout_statements (id, period_start, period_end, evidence_hash, created_at) VALUES ('s1', 0, 1, 'h', 0)")
        .execute(&raw)
        .await
        .unwrap();
    sqlx::query("INSERT INTO statement_posts (statement_id, post_id, payee_id, line_kind, views) VALUES ('s1', $1, $2, 'views', 4500)")
        .bind(post["id"].as_str().unwrap())
        .bind(&ada_id)
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
    let detect = |bytes: Vec<u8>| {
        let request = t
            .app
            .client
            .post(t.app.url("/v1/detect"))
            .bearer_auth(&t.ada)
            .header("content-type", "image/jpeg");
        async move { request.body(bytes).send().await.unwrap().json::<Value>().await.unwrap() }
    };
    assert_eq!(detect(picture.clone()).await["found"], true, "{content}");

    let path = format!("/v1/contents/{content}");
    let (status, _) = t.app.call(Method::DELETE, &path, Some(&t.bob), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "another creator's content is none of theirs");
    let (status, answer) = t.app.call(Method::DELETE, &path, Some(&t.ada), None).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(
        (answer["content_id"].as_str(), answer["posts_stopped"].as_u64()),
        (Some(content.as_str()), Some(1))
    );
    let requests = t.sim.requests(FaultTarget::X);

    assert_eq!(detect(picture).await["found"], false, "the mark now detects as unknown");
    let shown = show(&t, &t.ada, &post).await;
    assert_eq!(
        (shown["status"].as_str(), shown["status_reason"].as_str()),
        (Some("stopped"), Some("content_deleted"))
    );
    next_slot().await;
    assert_eq!(t.poller.try_execute_task().await.unwrap(), Round::Idle);
    assert_eq!(t.sim.requests(FaultTarget::X), requests, "no request about the post after the answer");
    let kept: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM statement_posts WHERE post_id = $1")
        .bind(post["id"].as_str().unwrap())
        .fetch_one(&raw)
        .await
        .unwrap();
    assert_eq!(kept, 1, "issued statement lines stay");
    let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM contents WHERE id = $1")
        .bind(&content)
        .fetch_one(&raw)
        .await
        .unwrap();
    assert_eq!(left, 0);
    assert_eq!(t.app.call(Method::DELETE, &path, Some(&t.ada), None).await.0, StatusCode::NOT_FOUND);

    // The generator's service token deletes any content.
    let bobs = own_content(&t, &t.bob).await;
    let (writer, _) = crate::support::tokens::service(t.app.store.as_ref(), &["content:write"]).await;
    let (status, answer) =
        t.app.call(Method::DELETE, &format!("/v1/contents/{bobs}"), Some(&writer), None).await;
    assert_eq!((status, answer["posts_stopped"].as_u64()), (StatusCode::OK, Some(0)), "{answer}");
}

async fn a_request_on_its_way_holds_the_deletion_back(db: TestDb) {
    let t = Arc::new(tracked(db).await);
    let post = register(&t, &t.ada, OURS).await;
    assert_eq!(t.poller.try_execute_task().await.unwrap(), Round::Polled(1));
    let content = own_content(&t, &t.ada).await;
    let (_, me) = t.app.call(Method::GET, "/v1/creators/me", Some(&t.ada), None).await;
    let ada: viewmark::domain::CreatorId = me["id"].as_str().unwrap().parse().unwrap();
    let since = t.app.store.consent_stamp(ada).await.unwrap().unwrap().changed_at;
    let gate = ConsentGate::new(t.app.store.clone(), t.app.consent_locks.clone(), vec![(ada, since)])
        .covering_posts([post_id(&post)]);
    let permit = gate.permit().await.unwrap();
    let deleting = {
        let t = t.clone();
        let path = format!("/v1/contents/{content}");
        tokio::spawn(async move { t.app.call(Method::DELETE, &path, Some(&t.ada), None).await.0 })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!deleting.is_finished(), "the deletion committed while a request was on its way");
    drop(permit);
    let status = tokio::time::timeout(Duration::from_secs(10), deleting).await.unwrap().unwrap();
    assert_eq!(status, StatusCode::OK);
    assert!(gate.permit().await.is_err(), "no request about the post starts after the deletion");
}

on_both_backends!(
    deleting_a_content_stops_its_posts_and_its_mark,
    a_request_on_its_way_holds_the_deletion_back
);
