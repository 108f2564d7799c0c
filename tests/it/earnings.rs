//! The creator's own earnings on both backends: per post, the views counted (the same the
//! payout system is answered), held with the time they leave the hold window, not counted
//! and why, the flags and the statements that paid or clawed back; a page at a time; only
//! the caller's own posts; bad periods refused.

use chrono::{Duration, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use viewmark::domain::FlagKind;

use crate::on_both_backends;
use crate::payouts::{post, rfc3339, world, World};
use crate::support::tokens::creator_token;
use crate::support::TestDb;

async fn earnings(w: &World, token: &str, query: &str) -> (StatusCode, Value) {
    w.app.call(Method::GET, &format!("/v1/creators/me/earnings?{query}"), Some(token), None).await
}

async fn a_creator_sees_what_each_post_earned_and_why(db: TestDb) {
    let w = world(db).await;
    let (ada, bob) = (creator_token("user-ada"), creator_token("user-bob"));
    // Counted 500 by the hold window's edge, 70 still held.
    let counted = post(&w, w.ada, 1).await;
    w.snap(counted, 0, 100, true).await;
    w.snap(counted, 5, 600, false).await;
    let recent = Utc::now() - Duration::hours(1);
    let hours_ago = (recent - w.at(0)).num_hours();
    w.snap(counted, hours_ago, 670, false).await;
    // Flagged: 300 gained and not counted.
    let flagged = post(&w, w.ada, 2).await;
    w.snap(flagged, 0, 0, true).await;
    w.snap(flagged, 6, 300, false).await;
    w.app
        .store
        .flag_post(flagged, FlagKind::Velocity, "9000 views/hour against a ceiling of 10", Utc::now())
        .await
        .unwrap();
    // Paid 4242 by a statement, then 1000 clawed back.
    let paid = post(&w, w.ada, 3).await;
    for (statement, kind, views) in [("st-1", "views", 4242), ("st-2", "clawback", -1000)] {
        sqlx::query(
            "INSERT INTO payout_statements (id, period_start, period_end, evidence_hash, created_at) VALUES ($1, $2, $3, 'h', 0)",
        )
        .bind(statement)
        .bind(if statement == "st-1" { 0i64 } else { 86_400_000 })
        .bind(if statement == "st-1" { 86_400_000i64 } else { 172_800_000 })
        .execute(&w.raw)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO statement_posts (statement_id, post_id, payee_id, line_kind, views) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(statement)
        .bind(paid.to_string())
        .bind(w.ada.to_string())
        .bind(kind)
        .bind(views)
        .execute(&w.raw)
        .await
        .unwrap();
    }
    // Bob's post gained too: never in Ada's view.
    let bobs = post(&w, w.bob, 4).await;
    w.snap(bobs, 0, 0, true).await;
    w.snap(bobs, 7, 999, false).await;

    let query = format!("from={}&to={}", rfc3339(w.at(0)), rfc3339(Utc::now() + Duration::hours(1)));
    let (status, page) = earnings(&w, &ada, &query).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let items = page["items"].as_array().unwrap();
    let ids: Vec<&Value> = items.iter().map(|i| &i["post_id"]).collect();
    assert_eq!(ids, [&json!(counted), &json!(flagged), &json!(paid)], "Ada's posts, oldest first");
    let (one, two, three) = (&items[0], &items[1], &items[2]);
    assert_eq!((one["views_counted"].as_u64(), one["views_held"].as_u64()), (Some(500), Some(70)), "{one}");
    let held_until: chrono::DateTime<Utc> = one["held_until"].as_str().unwrap().parse().unwrap();
    let observed = w.at(hours_ago);
    assert_eq!(held_until, observed + Duration::hours(72));
    assert_eq!((one["views_not_counted"].as_u64(), &one["not_counted_because"]), (Some(0), &Value::Null));
    assert_eq!((two["views_counted"].as_u64(), two["views_not_counted"].as_u64()), (Some(0), Some(300)));
    assert_eq!(two["not_counted_because"], "flagged");
    assert_eq!(two["flags"][0]["kind"], "velocity");
    assert_eq!(two["flags"][0]["detail"], "9000 views/hour against a ceiling of 10");
    assert_eq!((three["views_paid"].as_u64(), three["views_clawed_back"].as_u64()), (Some(4242), Some(1000)));
    assert_eq!(three["payments"][1], json!({"statement_id": "st-2", "kind": "clawback", "views": -1000}));
    assert!(!page.to_string().contains(&bobs.to_string()), "{page}");

    // Counted is what the payout system is told for the post.
    let payouts = w.views(0, 24 * 40).await;
    let told =
        payouts["items"].as_array().unwrap().iter().find(|i| i["creator_id"] == w.ada.to_string()).unwrap();
    assert_eq!(told["posts"], json!([{"post_id": counted, "views": 500}]));

    // Bob sees his own post only.
    let (_, his) = earnings(&w, &bob, &query).await;
    assert_eq!(his["items"].as_array().unwrap().len(), 1);
    assert_eq!(
        (his["items"][0]["post_id"].clone(), his["items"][0]["views_counted"].as_u64()),
        (json!(bobs), Some(999))
    );

    // A page at a time.
    let (_, first) = earnings(&w, &ada, &format!("{query}&limit=2")).await;
    assert_eq!(first["items"].as_array().unwrap().len(), 2);
    let cursor = first["next_cursor"].as_str().unwrap();
    let (_, second) = earnings(&w, &ada, &format!("{query}&limit=2&cursor={cursor}")).await;
    assert_eq!(second["items"][0]["post_id"], json!(paid));
    assert_eq!(second["next_cursor"], Value::Null);

    // Bad input is a clear 400.
    let empty = format!("from={}&to={}", rfc3339(w.at(5)), rfc3339(w.at(5)));
    for (bad, code) in [(empty, "empty_period"), (format!("{query}&limit=0"), "bad_limit")] {
        let (status, body) = earnings(&w, &ada, &bad).await;
        assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some(code)), "{body}");
    }
    let (status, _) = earnings(&w, &ada, "from=yesterday&to=today").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // Someone who never joined has no earnings to see.
    let (status, _) = earnings(&w, &creator_token("user-nobody"), &query).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

on_both_backends!(a_creator_sees_what_each_post_earned_and_why);
