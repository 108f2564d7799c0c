//! Policy versions, both backends: a new version is adopted once; creators who consented
//! under the earlier one see `consent_outdated` and have until `regrant_by` to grant again
//! with the new one; past it their posts are not polled until they do, and the views of the
//! pause are not counted; a re-grant within the grace period keeps counting as before.

use chrono::Utc;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use viewmark::tracking::Round;

use crate::on_both_backends;
use crate::support::tracked::{next_slot, post_id, register, tracked, Tracked, OURS};
use crate::support::{test_key, TestDb};

const NEW_POLICY: &str = "2026-06";

/// The API of a process configured with the new policy version, on the same database.
async fn serving_the_new_policy(t: &Tracked) -> String {
    let mut settings = t.settings.clone();
    settings.consent.policy_version = NEW_POLICY.into();
    let app = viewmark::startup::Application::build_with(&settings, t.app.store.clone(), test_key()).unwrap();
    let address = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    address
}

async fn call(
    address: &str,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = reqwest::Client::new().request(method, format!("{address}{path}")).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn past_the_grace_tracking_pauses_until_the_creator_grants_again(db: TestDb) {
    let t = tracked(db).await;
    let post = register(&t, &t.ada, OURS).await;
    assert_eq!(t.poller.try_execute_task().await.unwrap(), Round::Polled(1));
    let (_, me) = t.app.call(Method::GET, "/v1/creators/me", Some(&t.ada), None).await;
    assert_eq!(
        (me["consent_outdated"].as_bool(), me["policy_version"].as_str()),
        (Some(false), Some("2026-01"))
    );

    // The new version is adopted with a grace period already over.
    let now = Utc::now();
    assert!(t.app.store.adopt_policy(NEW_POLICY, now, now).await.unwrap());
    assert!(
        !t.app.store.adopt_policy(NEW_POLICY, now, now + chrono::Duration::days(30)).await.unwrap(),
        "once"
    );
    let address = serving_the_new_policy(&t).await;
    let (_, me) = call(&address, Method::GET, "/v1/creators/me", &t.ada, None).await;
    assert_eq!(
        (me["consent_outdated"].as_bool(), me["processing"].as_str()),
        (Some(true), Some("paused")),
        "{me}"
    );
    assert!(me["regrant_by"].is_string(), "{me}");
    next_slot().await;
    assert_eq!(t.poller.try_execute_task().await.unwrap(), Round::Idle, "paused: not polled");

    // Granting again with the old text is refused; with the new one, tracking resumes.
    let (status, answer) = call(
        &address,
        Method::POST,
        "/v1/creators/me/consent",
        &t.ada,
        Some(json!({"tracking": true, "policy_version": "2026-01"})),
    )
    .await;
    assert_eq!((status, answer["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("policy_outdated")));
    let body = json!({"tracking": true, "policy_version": NEW_POLICY});
    let (status, ledger) = call(&address, Method::POST, "/v1/creators/me/consent", &t.ada, Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{ledger}");
    let last = ledger["events"].as_array().unwrap().last().unwrap().clone();
    assert_eq!((last["kind"].as_str(), last["policy_version"].as_str()), (Some("grant"), Some(NEW_POLICY)));
    let (_, me) = call(&address, Method::GET, "/v1/creators/me", &t.ada, None).await;
    assert_eq!(
        (me["consent_outdated"].as_bool(), me["processing"].as_str()),
        (Some(false), Some("active")),
        "{me}"
    );
    assert!(me.get("regrant_by").is_none(), "{me}");
    next_slot().await;
    assert_eq!(t.poller.try_execute_task().await.unwrap(), Round::Polled(1));
    let snapshots = t.app.store.snapshots_for_post(post_id(&post)).await.unwrap();
    assert!(snapshots.last().unwrap().baseline, "the views of the pause are not counted");
}

async fn a_regrant_within_the_grace_keeps_counting(db: TestDb) {
    let t = tracked(db).await;
    let post = register(&t, &t.ada, OURS).await;
    assert_eq!(t.poller.try_execute_task().await.unwrap(), Round::Polled(1));
    let now = Utc::now();
    assert!(t.app.store.adopt_policy(NEW_POLICY, now, now + chrono::Duration::days(30)).await.unwrap());
    let address = serving_the_new_policy(&t).await;
    let (_, me) = call(&address, Method::GET, "/v1/creators/me", &t.ada, None).await;
    assert_eq!(
        (me["consent_outdated"].as_bool(), me["processing"].as_str()),
        (Some(true), Some("active")),
        "{me}"
    );
    let ada: viewmark::domain::CreatorId = me["id"].as_str().unwrap().parse().unwrap();
    next_slot().await;
    assert_eq!(t.poller.try_execute_task().await.unwrap(), Round::Polled(1), "tracked during the grace");

    let since = t.app.store.consent_stamp(ada).await.unwrap().unwrap().changed_at;
    let body = json!({"tracking": true, "policy_version": NEW_POLICY});
    let (status, _) =
        call(&address, Method::POST, "/v1/creators/me/consent", &t.ada, Some(body.clone())).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(t.app.store.consent_stamp(ada).await.unwrap().unwrap().changed_at, since, "consent ran on");
    let (_, ledger) = call(&address, Method::POST, "/v1/creators/me/consent", &t.ada, Some(body)).await;
    assert_eq!(
        ledger["events"].as_array().unwrap().len(),
        2,
        "the same grant again appends nothing: {ledger}"
    );
    next_slot().await;
    assert_eq!(t.poller.try_execute_task().await.unwrap(), Round::Polled(1));
    let snapshots = t.app.store.snapshots_for_post(post_id(&post)).await.unwrap();
    assert!(!snapshots.last().unwrap().baseline, "counted on");
}

on_both_backends!(
    past_the_grace_tracking_pauses_until_the_creator_grants_again,
    a_regrant_within_the_grace_keeps_counting
);
