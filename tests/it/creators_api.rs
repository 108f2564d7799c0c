//! The creator-facing API over HTTP on both backends: joining, the profile, the consent
//! ledger, the age rule, and who may call what.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::on_both_backends;
use crate::support::{TestApp, TestDb};
use crate::tokens::{self, claims, creator_token, creator_token_born, service, sign_with};

impl TestApp {
    async fn call(
        &self,
        method: Method,
        path: &str,
        bearer: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.client.request(method, self.url(path));
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }
}

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
    let times: Vec<&str> =
        ledger["events"].as_array().unwrap().iter().map(|e| e["occurred_at"].as_str().unwrap()).collect();
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
    let (status, err) = app.call(Method::POST, "/v1/creators/me", Some(&token), Some(json!({}))).await;
    assert_eq!((status, err["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("age_required")));
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

/// Every route of this API against every kind of caller: only creators get through, bad
/// credentials are 401 (with WWW-Authenticate), good credentials of the wrong kind are 403.
async fn the_auth_matrix_holds(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let routes: [(Method, &str, Option<Value>); 4] = [
        (Method::POST, "/v1/creators/me", Some(json!({"age_attested": true}))),
        (Method::GET, "/v1/creators/me", None),
        (Method::POST, "/v1/creators/me/consent", Some(json!({"tracking": true}))),
        (Method::GET, "/v1/creators/me/consent", None),
    ];
    let mut expired = claims("user-eve");
    expired["exp"] = json!(chrono::Utc::now().timestamp() - 3600);
    let mut wrong_audience = claims("user-eve");
    wrong_audience["aud"] = json!("someone-else");
    let mut wrong_issuer = claims("user-eve");
    wrong_issuer["iss"] = json!("https://evil.test");
    let mut not_yet = claims("user-eve");
    not_yet["nbf"] = json!(chrono::Utc::now().timestamp() + 3600);
    let mut foreign_origin = claims("user-eve");
    foreign_origin["azp"] = json!("https://evil.test");
    let (revoked, revoked_id) = service(app.store.as_ref(), &["admin"]).await;
    assert!(app.store.revoke_service_token(revoked_id).await.unwrap());

    let refused: Vec<(&str, Option<String>)> = vec![
        ("no credentials", None),
        ("garbage", Some("not-a-token".into())),
        (
            "unknown service token",
            Some(format!("{}{}", viewmark::api::auth::service_token::PREFIX, "0".repeat(64))),
        ),
        ("revoked service token", Some(revoked)),
        ("signed by another key", Some(sign_with("other-private.pem", &claims("user-eve")))),
        ("expired", Some(sign_with("test-idp-private.pem", &expired))),
        ("not yet valid", Some(sign_with("test-idp-private.pem", &not_yet))),
        ("wrong audience", Some(sign_with("test-idp-private.pem", &wrong_audience))),
        ("wrong issuer", Some(sign_with("test-idp-private.pem", &wrong_issuer))),
        ("foreign azp", Some(sign_with("test-idp-private.pem", &foreign_origin))),
        ("HS256 with the public key", Some(tokens::hs256_with_public_key("user-eve"))),
    ];
    let mut forbidden = Vec::new();
    for scopes in
        [&["content:write"][..], &["payouts:read"], &["admin"], &["content:write", "payouts:read", "admin"]]
    {
        forbidden.push((scopes.join(","), service(app.store.as_ref(), scopes).await.0));
    }
    let creator = creator_token("user-frank");

    for (method, path, body) in &routes {
        for (label, bearer) in &refused {
            let response = {
                let mut r = app.client.request(method.clone(), app.url(path));
                if let Some(t) = bearer {
                    r = r.bearer_auth(t);
                }
                if let Some(b) = body {
                    r = r.json(b);
                }
                r.send().await.unwrap()
            };
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{method} {path} with {label}");
            assert_eq!(response.headers()["www-authenticate"], "Bearer", "{method} {path} with {label}");
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["error"]["code"], "unauthorized", "{method} {path} with {label}");
        }
        for (label, token) in &forbidden {
            let (status, body) = app.call(method.clone(), path, Some(token), body.clone()).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path} with service token {label}: {body}");
        }
        let (status, body) = app.call(method.clone(), path, Some(&creator), body.clone()).await;
        assert!(
            status != StatusCode::UNAUTHORIZED && status != StatusCode::FORBIDDEN,
            "{method} {path} refused a valid creator: {status} {body}"
        );
    }
}

on_both_backends!(
    joining_gives_a_profile_and_a_first_grant,
    consent_changes_append_to_the_ledger,
    under_13s_and_unknown_ages_are_refused,
    bad_bodies_are_clear_400s,
    the_auth_matrix_holds,
);
