//! The data export on both backends: everything held about the creator in one streamed
//! document that validates against the published JSON schema and round-trips through the
//! typed export; restriction shown; pages beyond the first included; no tokens.

use chrono::Utc;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use viewmark::consent::export::{CreatorExport, EXPORT_SCHEMA_VERSION};
use viewmark::domain::{MediaKind, Platform};
use viewmark::store::{NewContent, NewPost};

use crate::on_both_backends;
use crate::support::tracked::{register, revoke, tracked, Tracked, OURS};
use crate::support::TestDb;

fn schema() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/schemas/creator-export-v1.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

async fn export(t: &Tracked, token: &str) -> (reqwest::header::HeaderMap, Value) {
    let response =
        t.app.client.get(t.app.url("/v1/creators/me/export")).bearer_auth(token).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers().clone();
    (headers, serde_json::from_slice(&response.bytes().await.unwrap()).unwrap())
}

/// Validates against the schema and round-trips through the typed document.
fn check_against_the_schema(document: &Value) -> CreatorExport {
    let validator = jsonschema::validator_for(&schema()).unwrap();
    let errors: Vec<String> =
        validator.iter_errors(document).map(|e| format!("{e} at {}", e.instance_path())).collect();
    assert!(errors.is_empty(), "{errors:?}");
    let typed: CreatorExport = serde_json::from_value(document.clone()).unwrap();
    assert_eq!(&serde_json::to_value(&typed).unwrap(), document, "the typed export loses nothing");
    typed
}

async fn the_export_holds_everything_and_matches_its_schema(db: TestDb) {
    let t = tracked(db).await;
    let raw = t.app._db.raw().await;
    let post = register(&t, &t.ada, OURS).await;
    t.poller.try_execute_task().await.unwrap();
    let (_, me) = t.app.call(Method::GET, "/v1/creators/me", Some(&t.ada), None).await;
    assert_eq!(me["processing"], "active");
    let ada = me["id"].as_str().unwrap().to_owned();
    sqlx::query("INSERT INTO payout_statements (id, period_start, period_end, evidence_hash, created_at) VALUES ('st-1', 0, 86400000, 'h', 0)")
        .execute(&raw)
        .await
        .unwrap();
    sqlx::query(&format!(
        "INSERT INTO statement_lines (statement_id, payee_id, line_kind, views) VALUES ('st-1', '{ada}', 'views', 4242)"
    ))
    .execute(&raw)
    .await
    .unwrap();
    // The evidence behind that line, and a flag on the post.
    sqlx::query(&format!(
        "INSERT INTO statement_posts (statement_id, post_id, payee_id, line_kind, views) VALUES ('st-1', '{}', '{ada}', 'views', 4242)",
        post["id"].as_str().unwrap()
    ))
    .execute(&raw)
    .await
    .unwrap();
    let post_id = post["id"].as_str().unwrap().parse().unwrap();
    let flag = viewmark::domain::FlagKind::ViewsDecreased;
    t.app.store.flag_post(post_id, flag, "views went from 20 to 10", chrono::Utc::now()).await.unwrap();
    revoke(&t, &t.ada).await;

    let (headers, document) = export(&t, &t.ada).await;
    assert!(headers["content-type"].to_str().unwrap().starts_with("application/json"));
    assert!(headers["content-disposition"].to_str().unwrap().starts_with("attachment"));
    let typed = check_against_the_schema(&document);
    assert_eq!(typed.schema_version, EXPORT_SCHEMA_VERSION);
    assert_eq!(typed.creator.id.to_string(), ada);
    assert_eq!(typed.creator.user_id, "user-ada");
    // Restriction: consent revoked, data kept and shown, processing restricted.
    assert_eq!(typed.creator.tracking_consent, "revoked");
    assert_eq!(typed.creator.processing, "restricted");
    let (_, me) = t.app.call(Method::GET, "/v1/creators/me", Some(&t.ada), None).await;
    assert_eq!(me["processing"], "restricted");
    let kinds: Vec<&str> = typed.consent_ledger.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["grant", "revoke"]);
    assert_eq!(typed.contents.len(), 1);
    assert_eq!(typed.contents[0].payload, "0123456789abcdef");
    assert_eq!(typed.social_accounts.len(), 1);
    assert_eq!(typed.social_accounts[0].handle, "ada_makes");
    assert!(typed.social_accounts[0].proven_at.is_some());
    assert_eq!(typed.posts.len(), 1);
    assert_eq!(typed.posts[0].id.to_string(), post["id"].as_str().unwrap());
    assert_eq!(typed.posts[0].platform_post_id, OURS);
    assert_eq!(typed.posts[0].url, post["url"].as_str().unwrap());
    assert_eq!(typed.posts[0].status, "verified");
    assert_eq!(typed.posts[0].snapshots.len(), 1);
    assert!(typed.posts[0].snapshots[0].baseline);
    let flags = &typed.posts[0].flags;
    assert_eq!(flags.len(), 1);
    assert_eq!((flags[0].kind.as_str(), flags[0].cleared_at), ("views_decreased", None));
    let payments = &typed.posts[0].payments;
    assert_eq!(payments.len(), 1);
    assert_eq!((payments[0].statement_id.as_str(), payments[0].views), ("st-1", 4242));
    assert_eq!(typed.statements.len(), 1);
    assert_eq!((typed.statements[0].statement_id.as_str(), typed.statements[0].views), ("st-1", 4242));
    // Bob's data is not in Ada's export.
    let text = document.to_string();
    assert!(!text.contains("bob_makes") && !text.contains("user-bob"), "{text}");

    // Someone who never joined has nothing to export.
    let stranger = crate::support::tokens::creator_token("user-nobody");
    let (status, body) = t.app.call(Method::GET, "/v1/creators/me/export", Some(&stranger), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["error"]["code"], "not_joined");
}

async fn a_long_history_is_streamed_whole(db: TestDb) {
    let t = tracked(db).await;
    let (_, me) = t.app.call(Method::GET, "/v1/creators/me", Some(&t.ada), None).await;
    let ada = me["id"].as_str().unwrap().parse().unwrap();
    let account = t.app.store.social_accounts_for_creator(ada).await.unwrap().remove(0);
    // More than a page of each (pages are 200 rows).
    for i in 0..450u64 {
        let content = NewContent {
            creator_id: ada,
            payload: 0x5000_0000_0000_0000 + i,
            media_kind: MediaKind::Image,
            width: 64,
            height: 64,
            sha256: format!("{i:064x}"),
            references: None,
            at: Utc::now(),
        };
        t.app.store.insert_content(&content).await.unwrap();
        let post = NewPost {
            creator_id: ada,
            social_account_id: account.id,
            platform: Platform::X,
            platform_post_id: format!("{}", 1_800_000_000_000_000_000u64 + i),
            url: format!("https://x.com/ada_makes/status/{}", 1_800_000_000_000_000_000u64 + i),
            content_id: None,
            at: Utc::now(),
        };
        t.app.store.insert_post(&post).await.unwrap();
    }
    let (headers, document) = export(&t, &t.ada).await;
    assert!(headers.get("content-length").is_none(), "streamed, not buffered: {headers:?}");
    let typed = check_against_the_schema(&document);
    assert_eq!(typed.contents.len(), 451);
    assert_eq!(typed.posts.len(), 450);
    let mut ids: Vec<_> = typed.posts.iter().map(|p| p.id).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 450, "each post once");
}

on_both_backends!(the_export_holds_everything_and_matches_its_schema, a_long_history_is_streamed_whole);
