//! Linking social accounts over HTTP on both backends: handles per platform, one owner per
//! account, proof codes, and platform tokens sealed at rest (never returned).

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sqlx::Row;
use viewmark::store::SealedColumn;

use crate::on_both_backends;
use crate::support::tokens::creator_token;
use crate::support::{TestApp, TestDb};

async fn join(app: &TestApp, user: &str) -> (String, String) {
    let token = creator_token(user);
    let (status, body) =
        app.call(Method::POST, "/v1/creators/me", Some(&token), Some(json!({"age_attested": true}))).await;
    assert_eq!(status, StatusCode::CREATED);
    (token, body["id"].as_str().unwrap().to_owned())
}

async fn accounts_are_linked_unproven_with_a_proof_code(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let (ada, _) = join(&app, "user-ada").await;
    let (bob, _) = join(&app, "user-bob").await;
    let (status, linked) = app
        .call(
            Method::POST,
            "/v1/social-accounts",
            Some(&ada),
            Some(json!({"platform": "x", "handle": "@Ada_Makes"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{linked}");
    assert_eq!(linked["handle"], "ada_makes");
    assert_eq!(linked["proven"], false);
    let code = linked["proof"]["code"].as_str().unwrap();
    assert!(code.starts_with("viewmark-") && code.len() == "viewmark-".len() + 10, "{code}");
    assert!(linked["proof"]["instructions"].as_str().unwrap().contains(code));

    // An unproven link claims nothing: another creator may link the same account (whatever
    // the spelling), and learns nothing about who else did; only a proof makes it one's own.
    let (status, theirs) = app
        .call(
            Method::POST,
            "/v1/social-accounts",
            Some(&bob),
            Some(json!({"platform": "x", "handle": "ADA_MAKES"})),
        )
        .await;
    assert_eq!((status, theirs["proven"].as_bool()), (StatusCode::CREATED, Some(false)), "{theirs}");
    // The caller's own duplicate is refused.
    let body = json!({"platform": "x", "handle": "ada_makes"});
    let (status, err) = app.call(Method::POST, "/v1/social-accounts", Some(&ada), Some(body)).await;
    assert_eq!((status, err["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("already_linked")));
    // The same handle on another platform is another account.
    let (status, _) = app
        .call(
            Method::POST,
            "/v1/social-accounts",
            Some(&bob),
            Some(json!({"platform": "tiktok", "handle": "ada_makes"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);

    for (body, code) in [
        (json!({"platform": "myspace", "handle": "ada"}), "bad_platform"),
        (json!({"platform": "x", "handle": "not a handle"}), "bad_handle"),
        (json!({"platform": "instagram", "handle": ""}), "bad_handle"),
    ] {
        let (status, err) =
            app.call(Method::POST, "/v1/social-accounts", Some(&ada), Some(body.clone())).await;
        assert_eq!((status, err["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some(code)), "{body}");
    }

    let (status, mine) = app.call(Method::GET, "/v1/social-accounts", Some(&ada), None).await;
    assert_eq!(status, StatusCode::OK);
    let items = mine["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["id"], linked["id"]);

    // While consent is revoked nothing new is linked.
    app.call(Method::POST, "/v1/creators/me/consent", Some(&ada), Some(json!({"tracking": false}))).await;
    let (status, _) = app
        .call(
            Method::POST,
            "/v1/social-accounts",
            Some(&ada),
            Some(json!({"platform": "youtube", "handle": "adamakes"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

/// A link left unproven lapses: its proof is refused with 410 and it leaves the list.
async fn unproven_links_lapse(db: TestDb) {
    let app = TestApp::spawn_with(db, |s| s.limits.unproven_link_secs = 1).await;
    let (ada, _) = join(&app, "user-ada").await;
    let body = json!({"platform": "x", "handle": "ada_makes"});
    let (status, linked) =
        app.call(Method::POST, "/v1/social-accounts", Some(&ada), Some(body.clone())).await;
    assert_eq!(status, StatusCode::CREATED);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let path = format!("/v1/social-accounts/{}/verify", linked["id"].as_str().unwrap());
    let (status, err) = app.call(Method::POST, &path, Some(&ada), None).await;
    assert_eq!((status, err["error"]["code"].as_str()), (StatusCode::GONE, Some("link_expired")));
    let (_, mine) = app.call(Method::GET, "/v1/social-accounts", Some(&ada), None).await;
    assert_eq!(mine["items"].as_array().unwrap().len(), 0, "{mine}");
    // And can be made again.
    let (status, _) = app.call(Method::POST, "/v1/social-accounts", Some(&ada), Some(body)).await;
    assert_eq!(status, StatusCode::CREATED);
}

async fn platform_tokens_are_sealed_at_rest_and_never_shown(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let raw = app._db.raw().await;
    let (ada, creator_id) = join(&app, "user-ada").await;
    let body = json!({
        "platform": "tiktok",
        "handle": "ada.makes",
        "oauth": {"access_token": "act.SECRET-ACCESS-4242", "refresh_token": "rft.SECRET-REFRESH-4242"},
    });
    let (status, linked) = app.call(Method::POST, "/v1/social-accounts", Some(&ada), Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{linked}");
    assert_eq!(linked["oauth_tokens_held"], true);
    let (_, listed) = app.call(Method::GET, "/v1/social-accounts", Some(&ada), None).await;
    for shown in [&linked, &listed] {
        let text = shown.to_string();
        assert!(!text.contains("SECRET"), "a token was returned: {text}");
    }

    let row = sqlx::query(
        "SELECT id, oauth_token_enc, handle_ref, handle_enc FROM social_accounts WHERE creator_id = $1",
    )
    .bind(&creator_id)
    .fetch_one(&raw)
    .await
    .unwrap();
    let sealed: Vec<u8> = row.try_get("oauth_token_enc").unwrap();
    assert!(!sealed.windows(6).any(|w| w == b"SECRET"), "stored in clear");
    let handle_ref: String = row.try_get("handle_ref").unwrap();
    let handle_enc: Vec<u8> = row.try_get("handle_enc").unwrap();
    // The blind index is an HMAC in hex: 64 hex digits can spell "ada" by chance (about one
    // run in 70), never the handle, whose '.', 'm', 'k' and 's' are not hex digits.
    assert!(handle_ref.len() == 64 && handle_ref.bytes().all(|b| b.is_ascii_hexdigit()), "{handle_ref}");
    assert!(!handle_enc.windows(9).any(|w| w == b"ada.makes"), "handle in clear");
    // Sealed under the account's key, derived from the creator's and the account's own, both
    // sealed by the master key.
    let owner: viewmark::domain::CreatorId = creator_id.parse().unwrap();
    let account: viewmark::domain::AccountId = row.try_get::<String, _>("id").unwrap().parse().unwrap();
    let key = app._db.key_store().await.account_key(owner, account).await.unwrap().unwrap();
    let opened: Value =
        serde_json::from_slice(&key.open(SealedColumn::AccountToken, account, &sealed).unwrap()).unwrap();
    assert_eq!(opened["access_token"], "act.SECRET-ACCESS-4242");
    assert_eq!(key.open_text(SealedColumn::AccountHandle, account, &handle_enc).unwrap(), "ada.makes");
    let other = app._db.key_store().await.data_key(viewmark::domain::CreatorId::random()).await.unwrap();
    assert!(other.is_none());

    let (status, _) = app
        .call(
            Method::POST,
            "/v1/social-accounts",
            Some(&ada),
            Some(json!({"platform": "x", "handle": "ada", "oauth": {"access_token": ""}})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

on_both_backends!(
    accounts_are_linked_unproven_with_a_proof_code,
    platform_tokens_are_sealed_at_rest_and_never_shown,
    unproven_links_lapse,
);
