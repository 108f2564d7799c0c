//! Creators as the tests make them: joined over HTTP, or created in the store directly, and
//! uploads on their behalf.

use chrono::Utc;
use reqwest::{Method, StatusCode};
use serde_json::json;
use viewmark::domain::Creator;
use viewmark::store::{NewCreator, Store};

use super::TestApp;
use crate::support::tokens::creator_token;

pub async fn join(app: &TestApp, user: &str) -> String {
    let token = creator_token(user);
    let (status, body) =
        app.call(Method::POST, "/v1/creators/me", Some(&token), Some(json!({"age_attested": true}))).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    token
}

pub async fn upload(
    app: &TestApp,
    path: &str,
    token: &str,
    bytes: Vec<u8>,
    content_type: &str,
) -> reqwest::Response {
    app.client
        .post(app.url(path))
        .bearer_auth(token)
        .header("content-type", content_type)
        .body(bytes)
        .send()
        .await
        .unwrap()
}

pub async fn creator(store: &dyn Store, user: &str) -> Creator {
    let new = NewCreator {
        user_id: user.into(),
        display_name: None,
        birth_year: Some(1990),
        policy_version: "2026-01".into(),
        channel: "api".into(),
        at: Utc::now() - chrono::Duration::hours(1),
    };
    store.create_creator(&new).await.unwrap()
}
