//! The poller's storage contract on both backends: leases are exclusive, a crashed
//! worker's lease expires and another takes over, and a late, retried or duplicated
//! completion never stores a second snapshot for a slot (idempotence, docs/invariants.md).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::Mutex;
use viewmark::domain::*;
use viewmark::store::*;

use crate::on_both_backends;
use crate::support::creators::creator;
use crate::support::TestDb;

/// `count` due posts of one creator on X.
async fn due_posts(store: &dyn Store, creator: &Creator, count: usize) -> Vec<Post> {
    let account = store
        .insert_social_account(&NewSocialAccount {
            creator_id: creator.id,
            platform: Platform::X,
            handle: format!("h{}", &creator.id.as_uuid().simple().to_string()[..8]),
            proof_code: None,
            oauth_token: None,
            at: Utc::now(),
        })
        .await
        .unwrap();
    let mut posts = Vec::with_capacity(count);
    for i in 0..count {
        let new = NewPost {
            creator_id: creator.id,
            social_account_id: account.id,
            platform: Platform::X,
            platform_post_id: format!("{}-{i}", creator.id.as_uuid().simple()),
            url: String::new(),
            content_id: None,
            at: Utc::now() - chrono::Duration::seconds(5),
        };
        posts.push(store.insert_post(&new).await.unwrap());
    }
    posts
}

fn completion(leased: &LeasedPost, worker: &str, consent_since: Timestamp, views: u64) -> PollCompletion {
    PollCompletion {
        post_id: leased.post.id,
        creator_id: leased.post.creator_id,
        worker: worker.into(),
        slot: leased.slot,
        consent_since,
        observed_at: Utc::now(),
        views: Some(views),
        engagement: Engagement::default(),
        status: PostStatus::Verified,
        status_reason: None,
        next_poll_at: Utc::now() + chrono::Duration::hours(1),
        failures: 0,
        evidence: None,
        content_id: None,
        flags: vec![],
    }
}

async fn a_crashed_workers_lease_expires_and_nothing_counts_twice(db: TestDb) {
    let store = db.store().await;
    let ada = creator(store.as_ref(), "user-ada").await;
    let post = due_posts(store.as_ref(), &ada, 1).await.remove(0);
    let since = store.consent_stamp(ada.id).await.unwrap().unwrap().changed_at;
    let short = Duration::from_millis(300);

    let a = store.lease_due_posts("worker-a", Utc::now(), short, 10).await.unwrap();
    assert_eq!(a.len(), 1);
    assert!(
        store.lease_due_posts("worker-b", Utc::now(), short, 10).await.unwrap().is_empty(),
        "leased to A"
    );

    // A "crashes"; once its lease expires, B takes the post over in the same slot.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let b = store.lease_due_posts("worker-b", Utc::now(), short, 10).await.unwrap();
    assert_eq!((b.len(), b[0].post.id, b[0].slot), (1, post.id, a[0].slot));
    let stored = store.complete_poll(&completion(&b[0], "worker-b", since, 10)).await.unwrap();
    assert_eq!(stored, PollCommit::Stored(Some(SnapshotWrite::Inserted)));

    // A comes back and finishes late; B retries its write: neither stores anything.
    assert_eq!(
        store.complete_poll(&completion(&a[0], "worker-a", since, 11)).await.unwrap(),
        PollCommit::LeaseLost
    );
    assert_eq!(
        store.complete_poll(&completion(&b[0], "worker-b", since, 12)).await.unwrap(),
        PollCommit::LeaseLost
    );
    let snapshots = store.snapshots_for_post(post.id).await.unwrap();
    assert_eq!(snapshots.iter().map(|s| s.views).collect::<Vec<_>>(), [10]);
    assert!(snapshots[0].baseline);
    assert!(store.lease_due_posts("worker-c", Utc::now(), short, 10).await.unwrap().is_empty(), "not due");
}

/// A store of one connection, so every statement runs as the one prepared before it, and
/// two posts of one creator leased on it, with the consent stamp their polls start under.
async fn two_leased_on_one_connection(db: &TestDb) -> (Arc<dyn Store>, Timestamp, Vec<LeasedPost>) {
    let options = ConnectOptions { max_connections: 1, ..db.options() };
    let store = viewmark::store::connect(&db.url, &options).await.unwrap();
    let ada = creator(store.as_ref(), "user-ada").await;
    due_posts(store.as_ref(), &ada, 2).await;
    let since = store.consent_stamp(ada.id).await.unwrap().unwrap().changed_at;
    let leased = store.lease_due_posts("w", Utc::now(), Duration::from_secs(60), 10).await.unwrap();
    (store, since, leased)
}

/// One connection, so both completions run the same prepared statement: the first stores
/// no evidence, the second does, and it reads back as written.
async fn evidence_is_stored_after_a_completion_without_any(db: TestDb) {
    let (store, since, leased) = two_leased_on_one_connection(&db).await;
    let unproven = PollCompletion { status: PostStatus::Pending, ..completion(&leased[0], "w", since, 10) };
    assert!(matches!(store.complete_poll(&unproven).await.unwrap(), PollCommit::Stored(_)));
    let evidence = Evidence { verified_at: Utc::now(), media_sha256: "ab".repeat(32), score: 0.875 };
    let proven =
        PollCompletion { evidence: Some(evidence.clone()), ..completion(&leased[1], "w", since, 10) };
    assert!(matches!(store.complete_poll(&proven).await.unwrap(), PollCommit::Stored(_)));
    let stored = store.post(leased[1].post.id).await.unwrap().unwrap().evidence.unwrap();
    assert_eq!((stored.media_sha256, stored.score), (evidence.media_sha256, evidence.score));
    assert_eq!(store.post(leased[0].post.id).await.unwrap().unwrap().evidence, None);
}

/// The engagement counts of a poll are stored with its snapshot, a count the platform did
/// not give as none (not as 0), on one connection so a missing count and a present one go
/// through the same prepared statement.
async fn engagement_is_stored_with_its_snapshot(db: TestDb) {
    let (store, since, leased) = two_leased_on_one_connection(&db).await;
    let counted = [
        Engagement { likes: Some(40), comments: None, shares: Some(2) },
        Engagement { likes: None, comments: Some(3), shares: None },
    ];
    for (post, engagement) in leased.iter().zip(counted) {
        let done = PollCompletion { engagement, ..completion(post, "w", since, 1000) };
        assert!(matches!(store.complete_poll(&done).await.unwrap(), PollCommit::Stored(_)));
    }
    for (post, engagement) in leased.iter().zip(counted) {
        let snapshots = store.snapshots_for_post(post.post.id).await.unwrap();
        assert_eq!(snapshots.len(), 1);
        assert_eq!(snapshots[0].engagement, engagement);
        let latest = store.latest_snapshot(post.post.id).await.unwrap().unwrap();
        assert_eq!(latest.engagement, engagement);
    }
}

async fn a_completion_under_changed_consent_stores_nothing(db: TestDb) {
    let store = db.store().await;
    let ada = creator(store.as_ref(), "user-ada").await;
    let post = due_posts(store.as_ref(), &ada, 1).await.remove(0);
    let since = store.consent_stamp(ada.id).await.unwrap().unwrap().changed_at;
    let leased = store.lease_due_posts("w", Utc::now(), Duration::from_secs(60), 10).await.unwrap();
    // Revoked and granted again while the poll was in flight: the poll straddled a
    // revocation, so it is discarded even though consent is in force now.
    for grant in [false, true] {
        let change = ConsentChange {
            grant,
            policy_version: "2026-01".into(),
            channel: "api".into(),
            actor: "creator".into(),
            at: Utc::now(),
        };
        store.record_consent(ada.id, &change).await.unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let outcome = store.complete_poll(&completion(&leased[0], "w", since, 10)).await.unwrap();
    assert_eq!(outcome, PollCommit::ConsentEnded);
    assert!(store.snapshots_for_post(post.id).await.unwrap().is_empty());
    // The lease was given back: the post is due again under the new consent.
    let again = store.lease_due_posts("w2", Utc::now(), Duration::from_secs(60), 10).await.unwrap();
    assert_eq!(again.len(), 1);
}

async fn flags_raised_by_a_poll_are_stored_with_its_snapshot(db: TestDb) {
    let store = db.store().await;
    let ada = creator(store.as_ref(), "user-ada").await;
    let post = due_posts(store.as_ref(), &ada, 1).await.remove(0);
    let since = store.consent_stamp(ada.id).await.unwrap().unwrap().changed_at;
    let leased = store.lease_due_posts("w", Utc::now(), Duration::from_secs(60), 10).await.unwrap();
    let mut done = completion(&leased[0], "w", since, 10);
    done.flags = vec![(FlagKind::ViewsDecreased, "views went from 20 to 10".into())];
    // What the poller asks before storing: the previous snapshot and the account's rate.
    assert_eq!(store.latest_snapshot(post.id).await.unwrap(), None);
    assert_eq!(store.account_views_per_hour(post.id).await.unwrap(), None);
    store.complete_poll(&done).await.unwrap();
    let flags = store.flags(true, 10).await.unwrap();
    assert_eq!(flags.len(), 1);
    assert_eq!((flags[0].post_id, flags[0].kind), (post.id, FlagKind::ViewsDecreased));
    assert_eq!(store.latest_snapshot(post.id).await.unwrap().map(|s| s.views), Some(10));
}

/// Three workers, each with its own connection pool (as three processes would have), lease
/// and complete hundreds of posts concurrently: every post is polled exactly once.
async fn concurrent_workers_poll_every_post_exactly_once(db: TestDb) {
    let setup = db.store().await;
    let mut all = HashSet::new();
    for user in ["user-a", "user-b", "user-c"] {
        let c = creator(setup.as_ref(), user).await;
        all.extend(due_posts(setup.as_ref(), &c, 150).await.into_iter().map(|p| p.id));
    }
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut workers = Vec::new();
    for w in 0..3 {
        let store = db.store().await;
        let seen = seen.clone();
        workers.push(tokio::spawn(async move {
            let name = format!("worker-{w}");
            loop {
                let batch =
                    store.lease_due_posts(&name, Utc::now(), Duration::from_secs(60), 20).await.unwrap();
                if batch.is_empty() {
                    break;
                }
                for leased in &batch {
                    let since =
                        store.consent_stamp(leased.post.creator_id).await.unwrap().unwrap().changed_at;
                    let outcome = store.complete_poll(&completion(leased, &name, since, 1)).await.unwrap();
                    assert_eq!(outcome, PollCommit::Stored(Some(SnapshotWrite::Inserted)));
                    seen.lock().await.push(leased.post.id);
                }
            }
        }));
    }
    for worker in workers {
        worker.await.unwrap();
    }
    let seen = seen.lock().await;
    let unique: HashSet<_> = seen.iter().copied().collect();
    assert_eq!(seen.len(), unique.len(), "a post was polled twice in one slot");
    assert_eq!(unique, all, "every due post was polled");
}

/// Erasure locks the creator, then deletes the posts. A poll's completion waiting at that
/// moment must take its locks in the same order; the other order (post, then creator) is a
/// deadlock on PostgreSQL, which aborts the erasure after its data key is already gone.
async fn a_completion_racing_an_erasure_never_deadlocks(db: TestDb) {
    use sqlx::Executor;
    let store = db.store().await;
    let ada = creator(store.as_ref(), "user-ada").await;
    let post = due_posts(store.as_ref(), &ada, 1).await.remove(0);
    let since = store.consent_stamp(ada.id).await.unwrap().unwrap().changed_at;
    let leased = store.lease_due_posts("w", Utc::now(), Duration::from_secs(60), 10).await.unwrap();
    let raw = db.raw().await;
    let mut eraser = raw.acquire().await.unwrap();
    eraser.execute(if db.url.starts_with("sqlite") { "BEGIN IMMEDIATE" } else { "BEGIN" }).await.unwrap();
    // The erasure's first step (`erase_creator`): the creator's row.
    sqlx::query("UPDATE creators SET consent_state = 'revoked' WHERE id = $1")
        .bind(ada.id.to_string())
        .execute(&mut *eraser)
        .await
        .unwrap();
    let completing = tokio::spawn({
        let (store, done) = (store.clone(), completion(&leased[0], "w", since, 10));
        async move { store.complete_poll(&done).await }
    });
    // The completion is now waiting for a lock the erasure holds.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let deleted = sqlx::query("DELETE FROM posts WHERE creator_id = $1")
        .bind(ada.id.to_string())
        .execute(&mut *eraser)
        .await;
    assert!(deleted.is_ok(), "the erasure's delete failed: {deleted:?}");
    eraser.execute("COMMIT").await.unwrap();
    let outcome = completing.await.unwrap();
    assert!(matches!(outcome, Ok(PollCommit::ConsentEnded | PollCommit::LeaseLost)), "{outcome:?}");
    assert!(store.snapshots_for_post(post.id).await.unwrap().is_empty());
}

on_both_backends!(
    a_completion_racing_an_erasure_never_deadlocks,
    flags_raised_by_a_poll_are_stored_with_its_snapshot,
    a_crashed_workers_lease_expires_and_nothing_counts_twice,
    a_completion_under_changed_consent_stores_nothing,
    evidence_is_stored_after_a_completion_without_any,
    engagement_is_stored_with_its_snapshot,
    concurrent_workers_poll_every_post_exactly_once,
);
