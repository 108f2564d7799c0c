//! The right to rectification, both backends: `PATCH /v1/creators/me` corrects the display
//! name and birth year under the rules of joining, ledgers the fields it changed (in the
//! export), and erases a creator whose corrected birth year is under the minimum age (after
//! the requests about them on their way, as any erasure), who then cannot join again.

use chrono::Datelike;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use viewmark::platforms::start_gate::StartGate;
use viewmark::tracking::consent_gate::ConsentGate;

use crate::on_both_backends;
use crate::support::files::scan;
use crate::support::tokens::creator_token;
use crate::support::{TestApp, TestDb};

async fn patch(t: &TestApp, token: &str, body: Value) -> (StatusCode, Value) {
    t.call(Method::PATCH, "/v1/creators/me", Some(token), Some(body)).await
}

async fn corrections(t: &TestApp, token: &str) -> Vec<Vec<String>> {
    let response = t.client.get(t.url("/v1/creators/me/export")).bearer_auth(token).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let export: Value = response.json().await.unwrap();
    export["profile_corrections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            assert_eq!(c["channel"], "api", "{c}");
            c["fields"].as_array().unwrap().iter().map(|f| f.as_str().unwrap().to_owned()).collect()
        })
        .collect()
}

async fn a_creator_corrects_their_profile(db: TestDb) {
    let t = TestApp::spawn(db).await;
    let token = creator_token("user-ada");
    let body = json!({"display_name": "Ada", "birth_year": 1990, "age_attested": true});
    let (status, joined) = t.call(Method::POST, "/v1/creators/me", Some(&token), Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{joined}");

    for (bad, code) in [
        (json!({}), "nothing_to_correct"),
        (json!({"display_name": "  "}), "bad_display_name"),
        (json!({"display_name": "x".repeat(101)}), "bad_display_name"),
        (json!({"birth_year": 1850}), "bad_birth_year"),
        (json!({"birth_year": chrono::Utc::now().year() + 1}), "bad_birth_year"),
    ] {
        let (status, answer) = patch(&t, &token, bad.clone()).await;
        assert_eq!(
            (status, answer["error"]["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some(code)),
            "{bad}"
        );
    }
    let (status, _) = patch(&t, &token, json!({"nickname": "A"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "unknown fields are refused");
    assert!(corrections(&t, &token).await.is_empty(), "a refused correction is not ledgered");

    let (status, me) = patch(&t, &token, json!({"display_name": " Ada L. "})).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!((me["display_name"].as_str(), me["birth_year"].as_i64()), (Some("Ada L."), Some(1990)));
    let (status, me) = patch(&t, &token, json!({"birth_year": 1991})).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!((me["display_name"].as_str(), me["birth_year"].as_i64()), (Some("Ada L."), Some(1991)));
    let (_, unchanged) = patch(&t, &token, json!({"birth_year": 1991, "display_name": "Ada L."})).await;
    assert_eq!(unchanged, me, "the same values again change nothing");
    let (status, me) = patch(&t, &token, json!({"display_name": null})).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert!(me["display_name"].is_null(), "{me}");
    let (_, shown) = t.call(Method::GET, "/v1/creators/me", Some(&token), None).await;
    assert_eq!(shown, me, "the correction is what the profile shows");
    assert_eq!(
        corrections(&t, &token).await,
        vec![vec!["display_name".to_owned()], vec!["birth_year".to_owned()], vec!["display_name".to_owned()]]
    );
}

async fn a_correction_under_the_minimum_age_erases_the_creator(db: TestDb) {
    let url = db.url.clone();
    let t = TestApp::spawn(db).await;
    let raw = t._db.raw().await;
    let token = creator_token("user-kid");
    let body = json!({"display_name": "Kiddo", "age_attested": true});
    let (status, joined) = t.call(Method::POST, "/v1/creators/me", Some(&token), Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{joined}");
    let id = joined["id"].as_str().unwrap().to_owned();

    let (status, answer) = patch(&t, &token, json!({"birth_year": chrono::Utc::now().year() - 10})).await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("under_minimum_age"))
    );
    assert_eq!(t.call(Method::GET, "/v1/creators/me", Some(&token), None).await.0, StatusCode::NOT_FOUND);
    let trigger: String =
        sqlx::query_scalar("SELECT trigger_kind FROM erasure_receipts").fetch_one(&raw).await.unwrap();
    assert_eq!(trigger, "under_age");
    let leftovers = scan(&url, &raw, &[id, "user-kid".into(), "Kiddo".into()]).await;
    assert!(leftovers.is_empty(), "{leftovers:?}");
    // As a refusal at join: the same user cannot join again by attesting their age.
    let (status, again) =
        t.call(Method::POST, "/v1/creators/me", Some(&token), Some(json!({"age_attested": true}))).await;
    assert_eq!((status, again["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("under_minimum_age")));
}

/// A correction that erases waits for a request on its way, as any erasure does, and no
/// request about the creator starts after its answer.
async fn an_erasing_correction_waits_for_a_request_on_its_way(db: TestDb) {
    let t = std::sync::Arc::new(crate::support::tracked::tracked(db).await);
    let (_, me) = t.app.call(Method::GET, "/v1/creators/me", Some(&t.ada), None).await;
    let ada: viewmark::domain::CreatorId = me["id"].as_str().unwrap().parse().unwrap();
    let since = t.app.store.consent_stamp(ada).await.unwrap().unwrap().changed_at;
    let gate = ConsentGate::new(t.app.store.clone(), t.app.consent_locks.clone(), vec![(ada, since)]);
    let permit = gate.permit().await.unwrap();
    let correcting = {
        let t = t.clone();
        tokio::spawn(async move {
            patch(&t.app, &t.ada, json!({"birth_year": chrono::Utc::now().year() - 9})).await
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(!correcting.is_finished(), "the erasure committed while a request was on its way");
    drop(permit);
    let (status, _) =
        tokio::time::timeout(std::time::Duration::from_secs(10), correcting).await.unwrap().unwrap();
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(gate.permit().await.is_err(), "no request about the creator starts after the answer");
}

on_both_backends!(
    a_creator_corrects_their_profile,
    a_correction_under_the_minimum_age_erases_the_creator,
    an_erasing_correction_waits_for_a_request_on_its_way
);
