//! Every route against every kind of caller. Each route says which callers it accepts:
//! those get through (neither 401 nor 403); valid callers of another kind get 403; missing,
//! forged, expired or revoked credentials get 401 with `WWW-Authenticate: Bearer`.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::on_both_backends;
use crate::support::tokens::{self, claims, creator_token, service, sign_with};
use crate::support::{TestApp, TestDb};

/// The kinds of valid caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Creator,
    ContentWrite,
    PayoutsRead,
    Admin,
}

const ALL: [Kind; 4] = [Kind::Creator, Kind::ContentWrite, Kind::PayoutsRead, Kind::Admin];

enum Body {
    None,
    Json(Value),
    Image,
}

struct Route {
    method: Method,
    path: String,
    body: Body,
    accepts: &'static [Kind],
}

fn png() -> Vec<u8> {
    let img = image::RgbImage::from_fn(300, 260, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, ((x * y) % 251) as u8])
    });
    viewmark::media::image_io::encode(&img, image::ImageFormat::Png).unwrap()
}

async fn send(app: &TestApp, route: &Route, bearer: Option<&str>) -> reqwest::Response {
    let mut request = app.client.request(route.method.clone(), app.url(&route.path));
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    request = match &route.body {
        Body::None => request,
        Body::Json(v) => request.json(v),
        Body::Image => request.header("content-type", "image/png").body(png()),
    };
    request.send().await.unwrap()
}

async fn every_route_accepts_only_its_callers(db: TestDb) {
    let app = TestApp::spawn(db).await;
    // A joined creator with one content, so that "own" routes have something to find.
    let creator = creator_token("user-frank");
    let (status, _) =
        app.call(Method::POST, "/v1/creators/me", Some(&creator), Some(json!({"age_attested": true}))).await;
    assert_eq!(status, StatusCode::CREATED);
    let enrolled = app
        .client
        .post(app.url("/v1/contents"))
        .bearer_auth(&creator)
        .header("content-type", "image/png")
        .body(png())
        .send()
        .await
        .unwrap();
    assert_eq!(enrolled.status(), StatusCode::CREATED);
    let content_id = enrolled.headers()["x-content-id"].to_str().unwrap().to_owned();

    let routes = [
        Route {
            method: Method::POST,
            path: "/v1/creators/me".into(),
            body: Body::Json(json!({"age_attested": true})),
            accepts: &[Kind::Creator],
        },
        Route {
            method: Method::GET,
            path: "/v1/creators/me".into(),
            body: Body::None,
            accepts: &[Kind::Creator],
        },
        Route {
            method: Method::PATCH,
            path: "/v1/creators/me".into(),
            body: Body::Json(json!({"display_name": "Frank"})),
            accepts: &[Kind::Creator],
        },
        Route {
            method: Method::POST,
            path: "/v1/creators/me/consent".into(),
            body: Body::Json(json!({"tracking": true})),
            accepts: &[Kind::Creator],
        },
        Route {
            method: Method::GET,
            path: "/v1/creators/me/consent".into(),
            body: Body::None,
            accepts: &[Kind::Creator],
        },
        Route {
            method: Method::GET,
            path: "/v1/creators/me/export".into(),
            body: Body::None,
            accepts: &[Kind::Creator],
        },
        Route {
            method: Method::GET,
            path: "/v1/creators/me/earnings?from=2026-11-01T00:00:00Z&to=2026-11-02T00:00:00Z".into(),
            body: Body::None,
            accepts: &[Kind::Creator],
        },
        Route {
            method: Method::POST,
            path: "/v1/contents?user_id=user-frank".into(),
            body: Body::Image,
            accepts: &[Kind::Creator, Kind::ContentWrite],
        },
        Route {
            method: Method::POST,
            path: "/v1/contents".into(),
            body: Body::Image,
            accepts: &[Kind::Creator, Kind::ContentWrite],
        },
        Route {
            method: Method::GET,
            path: "/v1/contents".into(),
            body: Body::None,
            accepts: &[Kind::Creator],
        },
        Route {
            method: Method::GET,
            path: format!("/v1/contents/{content_id}"),
            body: Body::None,
            accepts: &[Kind::Creator, Kind::Admin],
        },
        Route {
            method: Method::DELETE,
            path: format!("/v1/contents/{}", uuid::Uuid::new_v4()),
            body: Body::None,
            accepts: &[Kind::Creator, Kind::ContentWrite],
        },
        Route {
            method: Method::POST,
            path: "/v1/detect".into(),
            body: Body::Image,
            accepts: &[Kind::Creator, Kind::Admin],
        },
        Route {
            method: Method::POST,
            path: "/v1/social-accounts".into(),
            body: Body::Json(json!({"platform": "x", "handle": "frank_makes"})),
            accepts: &[Kind::Creator],
        },
        Route {
            method: Method::GET,
            path: "/v1/social-accounts".into(),
            body: Body::None,
            accepts: &[Kind::Creator],
        },
        Route {
            method: Method::POST,
            path: format!("/v1/social-accounts/{}/verify", uuid::Uuid::new_v4()),
            body: Body::None,
            accepts: &[Kind::Creator],
        },
        Route {
            method: Method::DELETE,
            path: format!("/v1/social-accounts/{}", uuid::Uuid::new_v4()),
            body: Body::None,
            accepts: &[Kind::Creator],
        },
        Route {
            method: Method::POST,
            path: "/v1/posts".into(),
            body: Body::Json(json!({"url": "https://x.com/frank/status/1234"})),
            accepts: &[Kind::Creator],
        },
        Route { method: Method::GET, path: "/v1/posts".into(), body: Body::None, accepts: &[Kind::Creator] },
        Route {
            method: Method::GET,
            path: format!("/v1/posts/{}", uuid::Uuid::new_v4()),
            body: Body::None,
            accepts: &[Kind::Creator, Kind::Admin],
        },
        Route {
            method: Method::DELETE,
            path: format!("/v1/posts/{}", uuid::Uuid::new_v4()),
            body: Body::None,
            accepts: &[Kind::Creator],
        },
        Route { method: Method::GET, path: "/metrics".into(), body: Body::None, accepts: &[Kind::Admin] },
        Route {
            method: Method::GET,
            path: "/v1/payouts/verified-views?from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z".into(),
            body: Body::None,
            accepts: &[Kind::PayoutsRead],
        },
        Route {
            method: Method::POST,
            path: "/v1/payouts/statements".into(),
            body: Body::Json(json!({"from": "2026-01-01T00:00:00Z", "to": "2026-01-02T00:00:00Z"})),
            accepts: &[Kind::PayoutsRead],
        },
        Route {
            method: Method::GET,
            path: "/v1/payouts/statements/st_nothing".into(),
            body: Body::None,
            accepts: &[Kind::PayoutsRead],
        },
        Route {
            method: Method::GET,
            path: "/v1/admin/flags".into(),
            body: Body::None,
            accepts: &[Kind::Admin],
        },
        Route {
            method: Method::POST,
            path: format!("/v1/admin/flags/{}/clear", uuid::Uuid::new_v4()),
            body: Body::None,
            accepts: &[Kind::Admin],
        },
        Route {
            method: Method::GET,
            path: "/v1/creators/me/disputes".into(),
            body: Body::None,
            accepts: &[Kind::Creator],
        },
        Route {
            method: Method::POST,
            path: format!("/v1/posts/{}/disputes", uuid::Uuid::new_v4()),
            body: Body::Json(json!({"note": "the views are real"})),
            accepts: &[Kind::Creator],
        },
        Route {
            method: Method::GET,
            path: "/v1/admin/disputes".into(),
            body: Body::None,
            accepts: &[Kind::Admin],
        },
        Route {
            method: Method::POST,
            path: format!("/v1/admin/disputes/{}/resolve", uuid::Uuid::new_v4()),
            body: Body::Json(json!({"outcome": "rejected"})),
            accepts: &[Kind::Admin],
        },
        Route {
            method: Method::POST,
            path: "/v1/admin/webhook-endpoints".into(),
            body: Body::Json(json!({"url": "https://203.0.113.9/hooks", "event_types": ["flag.raised"]})),
            accepts: &[Kind::Admin],
        },
        Route {
            method: Method::GET,
            path: "/v1/admin/webhook-endpoints".into(),
            body: Body::None,
            accepts: &[Kind::Admin],
        },
        Route {
            method: Method::PATCH,
            path: format!("/v1/admin/webhook-endpoints/{}", uuid::Uuid::new_v4()),
            body: Body::Json(json!({"enabled": false})),
            accepts: &[Kind::Admin],
        },
        Route {
            method: Method::GET,
            path: format!("/v1/admin/webhook-endpoints/{}/deliveries", uuid::Uuid::new_v4()),
            body: Body::None,
            accepts: &[Kind::Admin],
        },
        Route {
            method: Method::POST,
            path: format!("/v1/admin/webhook-endpoints/{}/replay", uuid::Uuid::new_v4()),
            body: Body::Json(json!({"since": "2026-01-01T00:00:00Z"})),
            accepts: &[Kind::Admin],
        },
        Route {
            method: Method::DELETE,
            path: format!("/v1/admin/webhook-endpoints/{}", uuid::Uuid::new_v4()),
            body: Body::None,
            accepts: &[Kind::Admin],
        },
        Route {
            method: Method::POST,
            path: format!("/v1/admin/creators/{}/erase", uuid::Uuid::new_v4()),
            body: Body::Json(json!({"reason": "request"})),
            accepts: &[Kind::Admin],
        },
        // Last: it erases the creator.
        Route {
            method: Method::DELETE,
            path: "/v1/creators/me".into(),
            body: Body::None,
            accepts: &[Kind::Creator],
        },
    ];

    let mut expired = claims("user-frank");
    expired["exp"] = json!(chrono::Utc::now().timestamp() - 3600);
    let mut wrong_audience = claims("user-frank");
    wrong_audience["aud"] = json!("someone-else");
    let mut wrong_issuer = claims("user-frank");
    wrong_issuer["iss"] = json!("https://evil.test");
    let mut not_yet = claims("user-frank");
    not_yet["nbf"] = json!(chrono::Utc::now().timestamp() + 3600);
    let mut foreign_origin = claims("user-frank");
    foreign_origin["azp"] = json!("https://evil.test");
    let (revoked, revoked_id) = service(app.store.as_ref(), &["admin", "content:write"]).await;
    assert!(app.store.revoke_service_token(revoked_id).await.unwrap());
    let refused: Vec<(&str, Option<String>)> = vec![
        ("no credentials", None),
        ("garbage", Some("not-a-token".into())),
        (
            "unknown service token",
            Some(format!("{}{}", viewmark::api::auth::service_token::PREFIX, "0".repeat(64))),
        ),
        ("revoked service token", Some(revoked)),
        ("signed by another key", Some(sign_with("other-private.pem", &claims("user-frank")))),
        ("expired", Some(sign_with("test-idp-private.pem", &expired))),
        ("not yet valid", Some(sign_with("test-idp-private.pem", &not_yet))),
        ("wrong audience", Some(sign_with("test-idp-private.pem", &wrong_audience))),
        ("wrong issuer", Some(sign_with("test-idp-private.pem", &wrong_issuer))),
        ("foreign azp", Some(sign_with("test-idp-private.pem", &foreign_origin))),
        ("HS256 with the public key", Some(tokens::hs256_with_public_key("user-frank"))),
    ];
    let mut valid = Vec::new();
    for kind in ALL {
        let token = match kind {
            Kind::Creator => creator.clone(),
            Kind::ContentWrite => service(app.store.as_ref(), &["content:write"]).await.0,
            Kind::PayoutsRead => service(app.store.as_ref(), &["payouts:read"]).await.0,
            Kind::Admin => service(app.store.as_ref(), &["admin"]).await.0,
        };
        valid.push((kind, token));
    }

    let (_, document) = app.call(Method::GET, "/openapi.json", None, None).await;
    let mut undeclared = Vec::new();
    let mut check_declared = |route: &Route, status: StatusCode| {
        let declared = declared_statuses(&document, &route.method, &route.path);
        if !declared.contains(&status.as_u16().to_string()) {
            undeclared.push(format!("{} {}: {status} (declared {declared:?})", route.method, route.path));
        }
    };
    for route in &routes {
        let name = format!("{} {}", route.method, route.path);
        for (label, bearer) in &refused {
            let response = send(&app, route, bearer.as_deref()).await;
            check_declared(route, response.status());
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{name} with {label}");
            assert_eq!(response.headers()["www-authenticate"], "Bearer", "{name} with {label}");
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["error"]["code"], "unauthorized", "{name} with {label}");
        }
        for (kind, token) in &valid {
            let response = send(&app, route, Some(token)).await;
            let status = response.status();
            check_declared(route, status);
            let body = response.text().await.unwrap_or_default();
            if route.accepts.contains(kind) {
                assert!(
                    status != StatusCode::UNAUTHORIZED && status != StatusCode::FORBIDDEN,
                    "{name} refused {kind:?}: {status} {body}"
                );
            } else {
                assert_eq!(status, StatusCode::FORBIDDEN, "{name} let {kind:?} through: {body}");
            }
        }
    }
    // Every status any caller got is one the OpenAPI document declares for that route.
    assert!(undeclared.is_empty(), "undeclared statuses:\n{}", undeclared.join("\n"));
}

/// The statuses the document declares for the operation serving `method path` (a concrete
/// path: each `{param}` of the documented paths matches one segment).
fn declared_statuses(document: &Value, method: &Method, path: &str) -> Vec<String> {
    let path = path.split('?').next().unwrap();
    let segments: Vec<&str> = path.split('/').collect();
    let (_, item) = document["paths"]
        .as_object()
        .unwrap()
        .iter()
        .find(|(template, _)| {
            let parts: Vec<&str> = template.split('/').collect();
            parts.len() == segments.len()
                && parts
                    .iter()
                    .zip(&segments)
                    .all(|(t, s)| t == s || (t.starts_with('{') && t.ends_with('}')))
        })
        .unwrap_or_else(|| panic!("{path} is not documented"));
    item[method.as_str().to_lowercase()]["responses"]
        .as_object()
        .unwrap_or_else(|| panic!("{method} {path} is not documented"))
        .keys()
        .cloned()
        .collect()
}

on_both_backends!(every_route_accepts_only_its_callers);
