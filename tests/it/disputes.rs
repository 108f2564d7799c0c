//! Disputes on both backends: a creator contests one of their own posts with a note, an
//! admin lists and resolves it, the creator reads the outcome; one open dispute per post;
//! bad input refused; another creator neither disputes nor sees it; the notes are sealed at
//! rest, exported, and gone with the creator's erasure.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::on_both_backends;
use crate::payouts::{post, world};
use crate::support::tokens::creator_token;
use crate::support::TestDb;

const NOTE: &str = "My video went viral on 3 November; the views are real, see my analytics.";
const ANSWER: &str = "Checked against the platform's analytics: the flag is cleared.";

async fn a_dispute_is_opened_resolved_and_answered(db: TestDb) {
    let w = world(db).await;
    let (ada, bob) = (creator_token("user-ada"), creator_token("user-bob"));
    let (admin, _) = crate::support::tokens::service(w.app.store.as_ref(), &["admin"]).await;
    let contested = post(&w, w.ada, 1).await;
    let path = format!("/v1/posts/{contested}/disputes");

    // Bad notes, someone else's post, a post that does not exist.
    for note in [String::new(), "   ".into(), "x".repeat(1001), "a\u{7}b".into()] {
        let (status, body) = w.app.call(Method::POST, &path, Some(&ada), Some(json!({"note": note}))).await;
        assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("bad_text")));
    }
    let (status, _) = w.app.call(Method::POST, &path, Some(&bob), Some(json!({"note": NOTE}))).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "not Bob's post");
    let nowhere = format!("/v1/posts/{}/disputes", uuid::Uuid::new_v4());
    assert_eq!(
        w.app.call(Method::POST, &nowhere, Some(&ada), Some(json!({"note": NOTE}))).await.0,
        StatusCode::NOT_FOUND
    );

    // Opened, once at a time.
    let (status, opened) =
        w.app.call(Method::POST, &path, Some(&ada), Some(json!({"note": format!("  {NOTE} ")}))).await;
    assert_eq!(status, StatusCode::CREATED, "{opened}");
    assert_eq!((opened["note"].as_str(), &opened["outcome"]), (Some(NOTE), &Value::Null));
    let (status, body) = w.app.call(Method::POST, &path, Some(&ada), Some(json!({"note": NOTE}))).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("dispute_open")));
    let (_, bobs) = w.app.call(Method::GET, "/v1/creators/me/disputes", Some(&bob), None).await;
    assert_eq!(bobs["items"], json!([]), "Bob sees none of Ada's");

    // Sealed at rest: the note is nowhere in the database in plain text.
    let needles = vec![NOTE.to_owned(), ANSWER.to_owned()];
    assert!(crate::support::files::scan(&w.app._db.url, &w.raw, &needles).await.is_empty());

    // The admin sees it and resolves it; the first resolution stands.
    let (status, open) = w.app.call(Method::GET, "/v1/admin/disputes", Some(&admin), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!((open["items"].as_array().unwrap().len(), open["items"][0]["note"].as_str()), (1, Some(NOTE)));
    let resolve = format!("/v1/admin/disputes/{}/resolve", opened["id"].as_str().unwrap());
    let (status, body) =
        w.app.call(Method::POST, &resolve, Some(&admin), Some(json!({"outcome": "maybe"}))).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("bad_outcome")));
    let nothing = format!("/v1/admin/disputes/{}/resolve", uuid::Uuid::new_v4());
    let (status, _) =
        w.app.call(Method::POST, &nothing, Some(&admin), Some(json!({"outcome": "upheld"}))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, resolved) = w
        .app
        .call(Method::POST, &resolve, Some(&admin), Some(json!({"outcome": "upheld", "answer": ANSWER})))
        .await;
    assert_eq!(status, StatusCode::OK, "{resolved}");
    let (status, body) =
        w.app.call(Method::POST, &resolve, Some(&admin), Some(json!({"outcome": "rejected"}))).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("already_resolved")));
    let (_, open) = w.app.call(Method::GET, "/v1/admin/disputes", Some(&admin), None).await;
    assert_eq!(open["items"], json!([]));
    let (_, all) = w.app.call(Method::GET, "/v1/admin/disputes?state=all", Some(&admin), None).await;
    assert_eq!(all["items"].as_array().unwrap().len(), 1);

    // The creator reads the outcome, and may contest the post again.
    let (_, mine) = w.app.call(Method::GET, "/v1/creators/me/disputes", Some(&ada), None).await;
    let first = &mine["items"][0];
    assert_eq!((first["outcome"].as_str(), first["answer"].as_str()), (Some("upheld"), Some(ANSWER)));
    assert!(first["resolved_at"].is_string());
    let (status, _) = w.app.call(Method::POST, &path, Some(&ada), Some(json!({"note": "Again."}))).await;
    assert_eq!(status, StatusCode::CREATED);

    // Exported with the rest of her data.
    let (status, export) = w.app.call(Method::GET, "/v1/creators/me/export", Some(&ada), None).await;
    assert_eq!(status, StatusCode::OK);
    let notes: Vec<&str> =
        export["disputes"].as_array().unwrap().iter().map(|d| d["note"].as_str().unwrap()).collect();
    assert_eq!(notes, [NOTE, "Again."]);
    assert_eq!(export["disputes"][0]["outcome"], "upheld");

    // Gone with her erasure; an admin's list holds nothing of hers.
    assert_eq!(w.app.call(Method::DELETE, "/v1/creators/me", Some(&ada), None).await.0, StatusCode::OK);
    let (status, all) = w.app.call(Method::GET, "/v1/admin/disputes?state=all", Some(&admin), None).await;
    assert_eq!((status, all["items"].clone()), (StatusCode::OK, json!([])));
    let left: i64 = sqlx::Row::get(
        &sqlx::query("SELECT COUNT(*) AS n FROM post_disputes").fetch_one(&w.raw).await.unwrap(),
        "n",
    );
    assert_eq!(left, 0);
}

on_both_backends!(a_dispute_is_opened_resolved_and_answered);
