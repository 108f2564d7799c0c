//! The creator-facing API over HTTP on both backends: joining, the profile, the consent
//! ledger, the age rule, and who may call what.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::on_both_backends;
use crate::support::tokens::{creator_token, creator_token_born};
use crate::support::{TestApp, TestDb};

fn kinds(ledger: &Value) -> Vec<&str> {
    ledger["events"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect()
}

async fn joining_gives_a_profile_and_a_first_grant(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let token = creator_token("user-ada");
    let (status, body) = app.call(Method::GET, "/v1/creators/me", Some(&token), None).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::NOT_FOUND, Some("not_joined")));

    let join = json!({"display_name": "Ada", "birth_year": 1990});
    let (status, created) = app.call(Method::POST, "/v1/creators/me", Some(&token), Some(join.clone())).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["display_name"], "Ada");
    assert_eq!(created["tracking_consent"]["state"], "granted");

    let (status, me) = app.call(Method::GET, "/v1/creators/me", Some(&token), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["id"], created["id"]);

    let (status, again) = app.call(Method::POST, "/v1/creators/me", Some(&token), Some(join)).await;
    assert_eq!((status, again["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("already_joined")));

    let (status, ledger) = app.call(Method::GET, "/v1/creators/me/consent", Some(&token), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(kinds(&ledger), ["grant"]);
    assert_eq!(ledger["events"][0]["policy_version"], "2026-01");
    assert_eq!(ledger["events"][0]["channel"], "api");

    // Another creator sees only themselves.
    let (status, _) = app.call(Method::GET, "/v1/creators/me", Some(&creator_token("user-bob")), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn consent_changes_append_to_the_ledger(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let token = creator_token("user-cy");
    let join = json!({"age_attested": true});
    assert_eq!(
        app.call(Method::POST, "/v1/creators/me", Some(&token), Some(join)).await.0,
        StatusCode::CREATED
    );

    let revoke = json!({"tracking": false});
    let (status, ledger) =
        app.call(Method::POST, "/v1/creators/me/consent", Some(&token), Some(revoke.clone())).await;
    assert_eq!(status, StatusCode::OK, "{ledger}");
    assert_eq!(ledger["state"], "revoked");
    assert_eq!(kinds(&ledger), ["grant", "revoke"]);
    // Asking for the state already in force records nothing.
    let (_, ledger) = app.call(Method::POST, "/v1/creators/me/consent", Some(&token), Some(revoke)).await;
    assert_eq!(kinds(&ledger), ["grant", "revoke"]);
    let (_, me) = app.call(Method::GET, "/v1/creators/me", Some(&token), None).await;
    assert_eq!(me["tracking_consent"]["state"], "revoked");

    let grant = json!({"tracking": true});
    let (_, ledger) = app.call(Method::POST, "/v1/creators/me/consent", Some(&token), Some(grant)).await;
    assert_eq!(ledger["state"], "granted");
    assert_eq!(kinds(&ledger), ["grant", "revoke", "grant"]);
    // Compared as instants: RFC 3339 text omits a zero fraction, so "…37Z" sorts after "…37.004Z".
    let times: Vec<chrono::DateTime<chrono::Utc>> = ledger["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["occurred_at"].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "ledger out of order: {times:?}");

    // A stale policy version is refused and records nothing.
    let stale = json!({"tracking": false, "policy_version": "2019-01"});
    let (status, body) = app.call(Method::POST, "/v1/creators/me/consent", Some(&token), Some(stale)).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("policy_outdated")));
    let (_, ledger) = app.call(Method::GET, "/v1/creators/me/consent", Some(&token), None).await;
    assert_eq!(kinds(&ledger), ["grant", "revoke", "grant"]);
}

async fn under_13s_and_unknown_ages_are_refused(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let year = chrono::Datelike::year(&chrono::Utc::now());
    // From the identity provider's claims, even when the request says otherwise.
    let child = creator_token_born("user-kid", year - 10);
    let body = json!({"birth_year": 1980, "age_attested": true});
    let (status, err) = app.call(Method::POST, "/v1/creators/me", Some(&child), Some(body)).await;
    assert_eq!((status, err["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("under_minimum_age")));
    // From the request.
    let token = creator_token("user-kid2");
    let (status, _) =
        app.call(Method::POST, "/v1/creators/me", Some(&token), Some(json!({"birth_year": year - 12}))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // The refusal is remembered: another claim from the same user is refused too.
    for retry in [json!({"age_attested": true}), json!({"birth_year": 1980}), json!({})] {
        let (status, err) =
            app.call(Method::POST, "/v1/creators/me", Some(&token), Some(retry.clone())).await;
        let code = err["error"]["code"].as_str();
        assert_eq!((status, code), (StatusCode::FORBIDDEN, Some("under_minimum_age")), "{retry}");
    }
    let unknown = creator_token("user-kid3");
    let (status, err) = app.call(Method::POST, "/v1/creators/me", Some(&unknown), Some(json!({}))).await;
    assert_eq!((status, err["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("age_required")));
    // Remembered by a keyed hash: the user id is not stored.
    let raw = app._db.raw().await;
    let leftovers = crate::support::files::scan(&app._db.url, &raw, &["user-kid".to_owned()]).await;
    assert!(leftovers.is_empty(), "{leftovers:?}");
    let refusals = sqlx::query("SELECT COUNT(*) AS n FROM age_refusals").fetch_one(&raw).await.unwrap();
    assert_eq!(sqlx::Row::get::<i64, _>(&refusals, "n"), 2, "both refusals are remembered");
    // Nothing was stored for either.
    for t in [&child, &token] {
        assert_eq!(app.call(Method::GET, "/v1/creators/me", Some(t), None).await.0, StatusCode::NOT_FOUND);
    }
}

async fn bad_bodies_are_clear_400s(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let token = creator_token("user-dee");
    let response = app
        .client
        .post(app.url("/v1/creators/me"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "bad_json");
    let (status, _) = app
        .call(
            Method::POST,
            "/v1/creators/me",
            Some(&token),
            Some(json!({"age_attested": true, "role": "admin"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = app
        .call(
            Method::POST,
            "/v1/creators/me",
            Some(&token),
            Some(json!({"age_attested": true, "display_name": ""})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(app.call(Method::GET, "/v1/creators/me", Some(&token), None).await.0, StatusCode::NOT_FOUND);
}

/// One caller over its budget is told to wait; other callers are not slowed.
async fn each_caller_has_its_own_rate_limit(db: TestDb) {
    let app = TestApp::spawn_with(db, |s| {
        s.rate_limit.per_minute = 6;
        s.rate_limit.burst = 3;
    })
    .await;
    let (ada, bob) = (creator_token("user-ada"), creator_token("user-bob"));
    for _ in 0..3 {
        assert_eq!(app.call(Method::GET, "/v1/creators/me", Some(&ada), None).await.0, StatusCode::NOT_FOUND);
    }
    let response = app.client.get(app.url("/v1/creators/me")).bearer_auth(&ada).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&wait), "Retry-After {wait}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited");
    // Another creator and a service are unaffected.
    assert_eq!(app.call(Method::GET, "/v1/creators/me", Some(&bob), None).await.0, StatusCode::NOT_FOUND);
    let (admin, _) = crate::support::tokens::service(app.store.as_ref(), &["admin"]).await;
    assert_eq!(app.call(Method::GET, "/v1/creators/me", Some(&admin), None).await.0, StatusCode::FORBIDDEN);
}

on_both_backends!(
    each_caller_has_its_own_rate_limit,
    joining_gives_a_profile_and_a_first_grant,
    consent_changes_append_to_the_ledger,
    under_13s_and_unknown_ages_are_refused,
    bad_bodies_are_clear_400s,
);
