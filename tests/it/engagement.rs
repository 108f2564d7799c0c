//! The engagement flag on both backends, against the simulated X: a post whose views run far
//! ahead of the likes, comments and shares the account's other posts draw per view is
//! flagged once, with both rates in numbers; a post merely less liked is not; a cleared flag
//! is not raised again; and the history is read from each other post's latest snapshot.

use reqwest::{Method, StatusCode};
use serde_json::Value;
use viewmark::domain::{CountHistory, Platform};
use viewmark::simulator::scenario::{SimEngagement, SimMedia, SimPost};
use viewmark::simulator::SimPostState;

use crate::on_both_backends;
use crate::support::tracked::{self, next_slot, post_id, register, show};
use crate::support::TestDb;

const HISTORY: [&str; 3] = ["1700000000000000001", "1700000000000000002", "1700000000000000003"];
/// Less liked than the rest, but within the account's range.
const ORGANIC: &str = "1700000000000000011";
/// Views bought: hardly anyone who saw it reacted.
const BOUGHT: &str = "1700000000000000012";

fn ada_post(id: &str, payload: u64, views: u64, engagement: SimEngagement) -> SimPost {
    SimPost {
        engagement,
        platform: Platform::X,
        id: id.into(),
        account: "ada_makes".into(),
        state: SimPostState::Live,
        views: vec![(0, views), (3600, views)],
        media: Some(SimMedia {
            image: "images/astronaut.png".into(),
            payload: Some(format!("{payload:016x}")),
            ..SimMedia::uploaded()
        }),
    }
}

async fn flags(t: &tracked::Tracked, admin: &str, state: &str) -> Vec<Value> {
    let (status, body) = t.app.call(Method::GET, &format!("/v1/admin/flags{state}"), Some(admin), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["items"].as_array().unwrap().clone()
}

async fn views_far_ahead_of_engagement_are_flagged_once(db: TestDb) {
    let (ada_payload, bob_payload) = (0x0123_4567_89ab_cdef_u64, 0x0fed_cba9_8765_4321_u64);
    let mut scenario = tracked::scenario(ada_payload, bob_payload);
    // 40 likes, 3 comments and 2 shares per 1000 views.
    for id in HISTORY {
        scenario.posts.push(ada_post(id, ada_payload, 20_000, SimEngagement::default()));
    }
    let half = SimEngagement { likes_per_1000: 20, comments_per_1000: 2, shares_per_1000: 1 };
    scenario.posts.push(ada_post(ORGANIC, ada_payload, 60_000, half));
    let bought = SimEngagement { likes_per_1000: 2, comments_per_1000: 0, shares_per_1000: 0 };
    scenario.posts.push(ada_post(BOUGHT, ada_payload, 60_000, bought));
    let users = [("user-ada", ada_payload), ("user-bob", bob_payload)];
    let t = tracked::tracked_scenario(db, scenario, &users).await;
    let (admin, _) = crate::support::tokens::service(t.app.store.as_ref(), &["admin"]).await;

    // The history first: its posts and the organic one, none flagged.
    for id in HISTORY.into_iter().chain([ORGANIC]) {
        register(&t, &t.ada, id).await;
    }
    t.poller.try_execute_task().await.unwrap();
    assert!(flags(&t, &admin, "?state=all").await.is_empty(), "nothing is flagged in the account's range");

    // 120 engagements on 60 000 views, against (3 x 900 + 1 380) per 120 000 views.
    let suspect = register(&t, &t.ada, BOUGHT).await;
    next_slot().await;
    t.poller.try_execute_task().await.unwrap();
    assert_eq!(show(&t, &t.ada, &suspect).await["status"], "verified");
    let open = flags(&t, &admin, "").await;
    assert_eq!(open.len(), 1, "{open:?}");
    assert_eq!((open[0]["kind"].as_str(), &open[0]["post_id"]), (Some("engagement_gap"), &suspect["id"]));
    assert_eq!(
        open[0]["detail"],
        "120 engagements on 60000 views (2.00 per 1000) against 34.00 per 1000 on the account's 4 other posts"
    );

    // Cleared by an admin, it is not raised again by the next snapshots.
    let clear = format!("/v1/admin/flags/{}/clear", open[0]["id"].as_str().unwrap());
    assert_eq!(t.app.call(Method::POST, &clear, Some(&admin), None).await.0, StatusCode::OK);
    for _ in 0..2 {
        next_slot().await;
        t.poller.try_execute_task().await.unwrap();
    }
    assert!(t.app.store.snapshots_for_post(post_id(&suspect)).await.unwrap().len() >= 3);
    let all = flags(&t, &admin, "?state=all").await;
    assert_eq!(all.len(), 1, "{all:?}");
    assert!(flags(&t, &admin, "").await.is_empty());

    // The history is each other post's latest snapshot: an older one with another rate, or
    // the suspect's own, change nothing; a newer one hiding its likes leaves its views out of
    // the likes' side only.
    let store = t.app.store.as_ref();
    let before = store.account_engagement(post_id(&suspect)).await.unwrap();
    assert_eq!(before.posts, 4);
    assert_eq!(before.likes, CountHistory { count: 3 * 800 + 1200, views: 120_000 });
    assert_eq!(before.shares, CountHistory { count: 3 * 40 + 60, views: 120_000 });
    let raw = t.app._db.raw().await;
    let snap = |post: String, at: i64, likes: Option<i64>| {
        let raw = raw.clone();
        async move {
            sqlx::query(
                "INSERT INTO view_snapshots (post_id, poll_slot, observed_at, views, baseline, likes, comments, shares) \
                 VALUES ($1, $2, $2, 20000, 0, $3, 60, 40)",
            )
            .bind(post)
            .bind(at)
            .bind(likes)
            .execute(&raw)
            .await
            .unwrap();
        }
    };
    let history_post = store.post_id_by_ref(Platform::X, HISTORY[0]).await.unwrap().unwrap().to_string();
    snap(history_post.clone(), 1, Some(19_000)).await;
    snap(post_id(&suspect).to_string(), 2, Some(0)).await;
    assert_eq!(store.account_engagement(post_id(&suspect)).await.unwrap(), before);
    snap(history_post, i64::MAX / 2, None).await;
    let hidden = store.account_engagement(post_id(&suspect)).await.unwrap();
    assert_eq!(hidden.likes, CountHistory { count: 2 * 800 + 1200, views: 100_000 });
    assert_eq!((hidden.posts, hidden.comments), (4, before.comments));
}

on_both_backends!(views_far_ahead_of_engagement_are_flagged_once);
