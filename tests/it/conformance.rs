//! The storage conformance suite: every test runs on SQLite and on PostgreSQL.

use chrono::{Duration, TimeZone, Utc};
use sqlx::Row;
use viewmark::domain::*;
use viewmark::store::*;

use crate::on_both_backends;
use crate::support::TestDb;

fn at(minutes: i64) -> Timestamp {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap() + Duration::minutes(minutes)
}

async fn creator(store: &dyn Store, user: &str) -> Creator {
    store
        .create_creator(&NewCreator {
            user_id: user.into(),
            display_name: Some("Ada".into()),
            birth_year: Some(1990),
            policy_version: "2026-01".into(),
            channel: "api".into(),
            at: at(0),
        })
        .await
        .unwrap()
}

fn content(creator_id: CreatorId, payload: u64) -> NewContent {
    NewContent {
        creator_id,
        payload,
        media_kind: MediaKind::Image,
        width: 1024,
        height: 768,
        sha256: "ab".repeat(32),
        references: None,
        at: at(1),
    }
}

async fn post_of(store: &dyn Store, creator: &Creator, post_id: &str) -> Post {
    let account = store
        .insert_social_account(&NewSocialAccount {
            creator_id: creator.id,
            platform: Platform::Tiktok,
            handle: format!("handle-{post_id}"),
            proof_code: None,
            oauth_token: None,
            at: at(2),
        })
        .await
        .unwrap();
    store
        .insert_post(&NewPost {
            creator_id: creator.id,
            social_account_id: account.id,
            platform: Platform::Tiktok,
            platform_post_id: post_id.into(),
            url: format!("https://www.tiktok.com/@h/video/{post_id}"),
            content_id: None,
            at: at(3),
        })
        .await
        .unwrap()
}

fn change(grant: bool, minutes: i64) -> ConsentChange {
    ConsentChange {
        grant,
        policy_version: "2026-01".into(),
        channel: "api".into(),
        actor: "creator".into(),
        at: at(minutes),
    }
}

on_both_backends!(
    migrations_apply_once_and_leave_nothing_pending,
    joining_records_consent_as_the_first_ledger_event,
    consent_changes_append_and_the_state_follows_the_last,
    the_consent_ledger_refuses_updates,
    a_user_joins_once,
    payloads_are_unique_across_the_store,
    rows_must_reference_existing_parents,
    one_snapshot_per_post_and_poll_slot,
    deleting_a_creator_leaves_no_orphan_rows,
    statement_totals_cannot_change,
    a_post_is_registered_once,
    service_tokens_are_found_by_hash_until_revoked,
    contents_page_in_creation_order_per_creator,
);

async fn migrations_apply_once_and_leave_nothing_pending(db: TestDb) {
    let store = db.store().await;
    store.ping().await.unwrap();
    assert_eq!(store.pending_migrations().await.unwrap(), 0);
    // Connecting again (a restart) re-applies nothing and keeps data.
    let c = creator(store.as_ref(), "user-1").await;
    let again = db.store().await;
    assert_eq!(again.pending_migrations().await.unwrap(), 0);
    assert_eq!(again.creator(c.id).await.unwrap(), Some(c));
}

async fn joining_records_consent_as_the_first_ledger_event(db: TestDb) {
    let store = db.store().await;
    let c = creator(store.as_ref(), "user-1").await;
    assert_eq!(c.consent, ConsentState::Granted);
    assert_eq!(store.creator_by_user_id("user-1").await.unwrap(), Some(c.clone()));
    let ledger = store.consent_ledger(c.id).await.unwrap();
    assert_eq!(ledger.len(), 1);
    assert_eq!(ledger[0].kind, ConsentState::Granted);
    assert_eq!(ledger[0].policy_version, "2026-01");
    assert_eq!(ledger[0].occurred_at, at(0));
}

async fn consent_changes_append_and_the_state_follows_the_last(db: TestDb) {
    let store = db.store().await;
    let c = creator(store.as_ref(), "user-1").await;
    store.record_consent(c.id, &change(false, 10)).await.unwrap();
    assert_eq!(store.creator(c.id).await.unwrap().unwrap().consent, ConsentState::Revoked);
    store.record_consent(c.id, &change(true, 20)).await.unwrap();
    let now = store.creator(c.id).await.unwrap().unwrap();
    assert_eq!(now.consent, ConsentState::Granted);
    assert_eq!(now.consent_changed_at, at(20));
    let kinds: Vec<_> = store.consent_ledger(c.id).await.unwrap().iter().map(|e| e.kind).collect();
    assert_eq!(kinds, [ConsentState::Granted, ConsentState::Revoked, ConsentState::Granted]);
    assert!(matches!(
        store.record_consent(CreatorId::random(), &change(false, 30)).await,
        Err(StoreError::NotFound)
    ));
}

async fn the_consent_ledger_refuses_updates(db: TestDb) {
    let store = db.store().await;
    let c = creator(store.as_ref(), "user-1").await;
    let raw = db.raw().await;
    let tampered = sqlx::query("UPDATE consent_events SET kind = 'revoke' WHERE creator_id = $1")
        .bind(c.id.to_string())
        .execute(&raw)
        .await;
    assert!(tampered.is_err(), "the ledger accepted an update");
    let ledger = store.consent_ledger(c.id).await.unwrap();
    assert_eq!(ledger[0].kind, ConsentState::Granted);
}

async fn a_user_joins_once(db: TestDb) {
    let store = db.store().await;
    creator(store.as_ref(), "user-1").await;
    let again = store
        .create_creator(&NewCreator {
            user_id: "user-1".into(),
            display_name: None,
            birth_year: None,
            policy_version: "2026-01".into(),
            channel: "api".into(),
            at: at(5),
        })
        .await;
    assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
}

async fn payloads_are_unique_across_the_store(db: TestDb) {
    let store = db.store().await;
    let a = creator(store.as_ref(), "user-a").await;
    let b = creator(store.as_ref(), "user-b").await;
    // The high bit set: the bit-cast to a signed column must round-trip.
    let payload = 0xfedc_ba98_7654_3210;
    let stored = store.insert_content(&content(a.id, payload)).await.unwrap();
    assert_eq!(stored.payload, payload);
    let clash = store.insert_content(&content(b.id, payload)).await;
    assert!(matches!(clash, Err(StoreError::Conflict(_))), "{clash:?}");
    let found = store.content_by_payload(payload).await.unwrap().unwrap();
    assert_eq!(found.creator_id, a.id);
    assert_eq!(store.content_by_payload(payload ^ 1).await.unwrap(), None);
    // References are kept sealed and handed back whole.
    assert_eq!(store.content_references(&found).await.unwrap(), None);
    let with = NewContent { references: Some(b"what it looks like".to_vec()), ..content(b.id, 7) };
    let kept = store.insert_content(&with).await.unwrap();
    assert_eq!(store.content_references(&kept).await.unwrap().as_deref(), Some(&b"what it looks like"[..]));
    let raw = db.raw().await;
    let leftovers = crate::support::files::scan(&db.url, &raw, &["what it looks like".to_owned()]).await;
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

async fn rows_must_reference_existing_parents(db: TestDb) {
    let store = db.store().await;
    let orphan = store.insert_content(&content(CreatorId::random(), 42)).await;
    assert!(matches!(orphan, Err(StoreError::MissingReference(_))), "{orphan:?}");
    let snapshot = store
        .record_snapshot(&NewSnapshot {
            post_id: PostId::random(),
            poll_slot: 1,
            observed_at: at(4),
            views: 10,
        })
        .await;
    assert!(matches!(snapshot, Err(StoreError::MissingReference(_))), "{snapshot:?}");
}

async fn one_snapshot_per_post_and_poll_slot(db: TestDb) {
    let store = db.store().await;
    let c = creator(store.as_ref(), "user-1").await;
    let post = post_of(store.as_ref(), &c, "7001").await;
    let first = NewSnapshot { post_id: post.id, poll_slot: 100, observed_at: at(10), views: 500 };
    assert_eq!(store.record_snapshot(&first).await.unwrap(), SnapshotWrite::Inserted);
    // A retried poll of the same slot (after a crash, a lease expiry) stores nothing new.
    let retry = NewSnapshot { views: 900, observed_at: at(11), ..first.clone() };
    assert_eq!(store.record_snapshot(&retry).await.unwrap(), SnapshotWrite::AlreadyRecorded);
    let next = NewSnapshot { poll_slot: 101, observed_at: at(25), views: 800, ..first.clone() };
    assert_eq!(store.record_snapshot(&next).await.unwrap(), SnapshotWrite::Inserted);
    let views: Vec<_> = store.snapshots_for_post(post.id).await.unwrap().iter().map(|s| s.views).collect();
    assert_eq!(views, [500, 800]);
}

async fn deleting_a_creator_leaves_no_orphan_rows(db: TestDb) {
    let store = db.store().await;
    let c = creator(store.as_ref(), "user-1").await;
    let other = creator(store.as_ref(), "user-2").await;
    store.insert_content(&content(c.id, 1)).await.unwrap();
    store.insert_content(&content(other.id, 2)).await.unwrap();
    let post = post_of(store.as_ref(), &c, "9001").await;
    store
        .record_snapshot(&NewSnapshot { post_id: post.id, poll_slot: 1, observed_at: at(9), views: 3 })
        .await
        .unwrap();
    let raw = db.raw().await;
    sqlx::query("DELETE FROM creators WHERE id = $1").bind(c.id.to_string()).execute(&raw).await.unwrap();
    for table in ["consent_events", "contents", "social_accounts", "posts"] {
        let left: i64 = sqlx::query(&format!("SELECT COUNT(*) FROM {table} WHERE creator_id = $1"))
            .bind(c.id.to_string())
            .fetch_one(&raw)
            .await
            .unwrap()
            .get(0);
        assert_eq!(left, 0, "{table} kept rows of a deleted creator");
    }
    let snapshots: i64 =
        sqlx::query("SELECT COUNT(*) FROM view_snapshots").fetch_one(&raw).await.unwrap().get(0);
    assert_eq!(snapshots, 0);
    // The other creator is untouched.
    assert!(store.content_by_payload(2).await.unwrap().is_some());
    assert_eq!(store.consent_ledger(other.id).await.unwrap().len(), 1);
}

async fn statement_totals_cannot_change(db: TestDb) {
    let _store = db.store().await;
    let raw = db.raw().await;
    sqlx::query(
        "INSERT INTO payout_statements (id, period_start, period_end, evidence_hash, created_at) VALUES ('s1', 0, 10, 'h', 11)",
    )
    .execute(&raw)
    .await
    .unwrap();
    sqlx::query("INSERT INTO statement_lines (statement_id, payee_id, line_kind, views) VALUES ('s1', 'creator-1', 'views', 1000)")
        .execute(&raw)
        .await
        .unwrap();
    let same_period = sqlx::query(
        "INSERT INTO payout_statements (id, period_start, period_end, evidence_hash, created_at) VALUES ('s2', 0, 10, 'h', 12)",
    )
    .execute(&raw)
    .await;
    assert!(same_period.is_err(), "two statements for one period");
    let changed_total =
        sqlx::query("UPDATE statement_lines SET views = 5 WHERE statement_id = 's1'").execute(&raw).await;
    assert!(changed_total.is_err(), "a statement total changed");
    let changed_period =
        sqlx::query("UPDATE payout_statements SET period_end = 20 WHERE id = 's1'").execute(&raw).await;
    assert!(changed_period.is_err(), "a statement period changed");
    // Erasure re-keys lines under a tombstone id: allowed, and the total stays.
    sqlx::query("UPDATE statement_lines SET payee_id = 'tombstone-1' WHERE payee_id = 'creator-1'")
        .execute(&raw)
        .await
        .unwrap();
    let views: i64 = sqlx::query("SELECT views FROM statement_lines WHERE payee_id = 'tombstone-1'")
        .fetch_one(&raw)
        .await
        .unwrap()
        .get(0);
    assert_eq!(views, 1000);
}

async fn a_post_is_registered_once(db: TestDb) {
    let store = db.store().await;
    let a = creator(store.as_ref(), "user-a").await;
    let b = creator(store.as_ref(), "user-b").await;
    let post = post_of(store.as_ref(), &a, "5555").await;
    assert_eq!(post.status, PostStatus::Pending);
    let account = store
        .insert_social_account(&NewSocialAccount {
            creator_id: b.id,
            platform: Platform::Tiktok,
            handle: "someone-else".into(),
            proof_code: None,
            oauth_token: None,
            at: at(2),
        })
        .await
        .unwrap();
    let claim = store
        .insert_post(&NewPost {
            creator_id: b.id,
            social_account_id: account.id,
            platform: Platform::Tiktok,
            platform_post_id: "5555".into(),
            url: "https://www.tiktok.com/@x/video/5555".into(),
            content_id: None,
            at: at(4),
        })
        .await;
    assert!(matches!(claim, Err(StoreError::Conflict(_))), "{claim:?}");
}

async fn service_tokens_are_found_by_hash_until_revoked(db: TestDb) {
    let store = db.store().await;
    let token = store
        .insert_service_token(&NewServiceToken {
            name: "payouts".into(),
            token_hash: "11".repeat(32),
            scopes: vec!["payouts:read".into()],
            at: at(0),
        })
        .await
        .unwrap();
    let found = store.active_service_token(&"11".repeat(32)).await.unwrap().unwrap();
    assert_eq!(found.scopes, ["payouts:read"]);
    assert_eq!(store.active_service_token(&"22".repeat(32)).await.unwrap(), None);
    assert!(store.revoke_service_token(token.id).await.unwrap());
    assert!(!store.revoke_service_token(token.id).await.unwrap());
    assert_eq!(store.active_service_token(&"11".repeat(32)).await.unwrap(), None);
}

async fn contents_page_in_creation_order_per_creator(db: TestDb) {
    let store = db.store().await;
    let a = creator(store.as_ref(), "user-a").await;
    let b = creator(store.as_ref(), "user-b").await;
    let mut mine = Vec::new();
    for i in 0..5u64 {
        // Two share a creation time: the id breaks the tie.
        let new = NewContent { at: at(10 + (i as i64).min(3)), ..content(a.id, 100 + i) };
        mine.push(store.insert_content(&new).await.unwrap());
        store.insert_content(&content(b.id, 200 + i)).await.unwrap();
    }
    mine.sort_by_key(|c| (c.created_at, c.id));
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = store.contents_for_creator(a.id, cursor, 2).await.unwrap();
        assert!(page.len() <= 2);
        let Some(last) = page.last() else { break };
        cursor = Some(ContentCursor { created_at: last.created_at, id: last.id });
        seen.extend(page);
    }
    assert_eq!(seen, mine);
    assert_eq!(store.content(mine[0].id).await.unwrap().as_ref(), Some(&mine[0]));
    assert_eq!(store.content(ContentId::random()).await.unwrap(), None);
}
