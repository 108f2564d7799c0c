//! Unlinking an account: tracking of its posts stops with a revocation's guarantee (a request
//! on its way holds the unlinking back; none leaves after the answer), its handle and token
//! are unreadable from then on in any copy of the database, its past snapshots stay, and the
//! platform revokes the token where it can.

use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sqlx::Row;
use viewmark::consent::locks::ConsentLocks;
use viewmark::domain::{AccountId, CreatorId, Platform};
use viewmark::platforms::start_gate::StartGate;
use viewmark::simulator::scenario::{SimAccount, SimMedia, SimPost};
use viewmark::simulator::{Fault, FaultKind, FaultTarget, SimPostState};
use viewmark::store::SealedColumn;
use viewmark::tracking::consent_gate::ConsentGate;
use viewmark::tracking::Round;

use crate::on_both_backends;
use crate::support::tracked::*;
use crate::support::TestDb;

async fn ada_and_her_account(t: &Tracked) -> (CreatorId, AccountId) {
    let (_, me) = t.app.call(Method::GET, "/v1/creators/me", Some(&t.ada), None).await;
    let (_, accounts) = t.app.call(Method::GET, "/v1/social-accounts", Some(&t.ada), None).await;
    (
        me["id"].as_str().unwrap().parse().unwrap(),
        accounts["items"][0]["id"].as_str().unwrap().parse().unwrap(),
    )
}

async fn unlink(t: &Tracked, token: &str, account: AccountId) -> (StatusCode, Value) {
    t.app.call(Method::DELETE, &format!("/v1/social-accounts/{account}"), Some(token), None).await
}

async fn unlinking_stops_tracking_and_shreds_the_handle(db: TestDb) {
    let t = tracked(db).await;
    let (ada, account) = ada_and_her_account(&t).await;
    let ours = register(&t, &t.ada, OURS).await;
    assert_eq!(t.poller.try_execute_task().await.unwrap(), Round::Polled(1));
    let raw = t.app._db.raw().await;
    let sealed: Vec<u8> = sqlx::query("SELECT handle_enc FROM social_accounts WHERE id = $1")
        .bind(account.to_string())
        .fetch_one(&raw)
        .await
        .unwrap()
        .try_get(0)
        .unwrap();

    assert_eq!(unlink(&t, &t.bob, account).await.0, StatusCode::NOT_FOUND, "not Bob's to unlink");
    let (status, body) =
        t.app.call(Method::DELETE, "/v1/social-accounts/not-an-id", Some(&t.ada), None).await;
    assert_eq!((status, &body["error"]["code"]), (StatusCode::NOT_FOUND, &json!("not_found")), "{body}");
    let (status, body) = unlink(&t, &t.ada, account).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (body["posts_stopped"].as_u64(), body["platform_token_revoked"].as_bool()),
        (Some(1), Some(false))
    );
    let (_, accounts) = t.app.call(Method::GET, "/v1/social-accounts", Some(&t.ada), None).await;
    assert_eq!(accounts["items"], json!([]));
    assert_eq!(unlink(&t, &t.ada, account).await.0, StatusCode::NOT_FOUND, "unlinked once");

    // Its post stops, its snapshot stays, and no request about it leaves.
    let post = show(&t, &t.ada, &ours).await;
    assert_eq!(post["status"], "stopped", "{post}");
    assert_eq!(t.app.store.snapshots_for_post(post_id(&ours)).await.unwrap().len(), 1);
    let requests = t.sim.requests(FaultTarget::X);
    next_slot().await;
    assert_eq!(t.poller.try_execute_task().await.unwrap(), Round::Idle);
    assert_eq!(t.sim.requests(FaultTarget::X), requests);

    // A copy of the handle taken before does not open: the account's key is gone from the key
    // store, and the creator's key alone never opened it.
    let keys = t.app._db.key_store().await;
    assert!(keys.account_key(ada, account).await.unwrap().is_none());
    let creator_key = keys.data_key(ada).await.unwrap().unwrap();
    assert!(creator_key.open(SealedColumn::AccountHandle, account, &sealed).is_err());
    let row =
        sqlx::query("SELECT handle_enc, oauth_token_enc, handle_claim FROM social_accounts WHERE id = $1")
            .bind(account.to_string())
            .fetch_one(&raw)
            .await
            .unwrap();
    assert!(row.try_get::<Option<Vec<u8>>, _>(0).unwrap().is_none());
    assert!(row.try_get::<Option<Vec<u8>>, _>(1).unwrap().is_none());
    assert!(
        row.try_get::<String, _>(2).unwrap().starts_with("unlinked:"),
        "no blind index of the handle left"
    );

    // The handle is free to be linked again.
    let body = json!({"platform": "x", "handle": "ada_makes"});
    let (status, linked) = t.app.call(Method::POST, "/v1/social-accounts", Some(&t.ada), Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{linked}");
}

/// A request about the account on its way holds the unlinking back, in this process and (on
/// PostgreSQL) in another; once it is answered, no request about the account starts.
async fn a_request_on_its_way_holds_the_unlinking_back(db: TestDb) {
    let postgres = db.url.starts_with("postgres");
    let t = Arc::new(tracked(db).await);
    let (ada, account) = ada_and_her_account(&t).await;
    let locks = if postgres { Arc::new(ConsentLocks::default()) } else { t.app.consent_locks.clone() };
    let since = t.app.store.consent_stamp(ada).await.unwrap().unwrap().changed_at;
    let gate = ConsentGate::new(t.app.store.clone(), locks.clone(), vec![(ada, since)]).covering([account]);
    let permit = gate.permit().await.unwrap();
    let unlinking = {
        let t = t.clone();
        tokio::spawn(async move { unlink(&t, &t.ada, account).await.0 })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!unlinking.is_finished(), "the unlinking committed while a request was on its way");
    drop(permit);
    assert_eq!(
        tokio::time::timeout(Duration::from_secs(10), unlinking).await.unwrap().unwrap(),
        StatusCode::OK
    );
    assert!(gate.permit().await.is_err(), "no request about the account starts after the answer");
    let about_her = ConsentGate::new(t.app.store.clone(), locks, vec![(ada, since)]);
    assert!(about_her.permit().await.is_ok(), "requests about her other accounts go on");
}

/// A poll on its way when the account is unlinked: the unlinking waits for its answer, and
/// the poll stores nothing and sends nothing more.
async fn a_poll_racing_an_unlinking_sends_nothing_after_it(db: TestDb) {
    let t = Arc::new(tracked(db).await);
    let (_, account) = ada_and_her_account(&t).await;
    let ours = register(&t, &t.ada, OURS).await;
    t.sim.inject(Fault { target: FaultTarget::X, kind: FaultKind::Slow { delay_ms: 600 }, times: 1 });
    let before = t.sim.requests(FaultTarget::X);
    let round = {
        let t = t.clone();
        tokio::spawn(async move { t.poller.try_execute_task().await })
    };
    while t.sim.requests(FaultTarget::X) == before {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (status, _) = unlink(&t, &t.ada, account).await;
    assert_eq!(status, StatusCode::OK);
    let answered_at = t.sim.requests(FaultTarget::X) + t.sim.requests(FaultTarget::Media);
    round.await.unwrap().unwrap();
    assert_eq!(
        t.sim.requests(FaultTarget::X) + t.sim.requests(FaultTarget::Media),
        answered_at,
        "no request (lookup or media) after the answer"
    );
    assert!(t.app.store.snapshots_for_post(post_id(&ours)).await.unwrap().is_empty());
    // Stopped by the unlinking; or, when the poll's verdict (its media could not be fetched
    // once the unlinking began) committed just before the unlinking's transaction, left
    // unverified. Tracked either way no more.
    let now = show(&t, &t.ada, &ours).await;
    assert!(["stopped", "unverified"].contains(&now["status"].as_str().unwrap()), "{now}");
    assert!(now["next_poll_at"].is_null(), "{now}");
}

/// TikTok offers a revocation endpoint: the token stops working there.
async fn a_tiktok_token_is_revoked_at_the_platform(db: TestDb) {
    let payload = 0x0123_4567_89ab_cdef_u64;
    let mut world = scenario(payload, 0x0fed_cba9_8765_4321);
    world.accounts.push(SimAccount {
        platform: Platform::Tiktok,
        access_token: Some("act.ada.tt.0".into()),
        refresh_token: Some("rft.ada.tt.0".into()),
        ..account("ada.tt")
    });
    world.posts.push(SimPost {
        engagement: Default::default(),
        platform: Platform::Tiktok,
        id: "7300000000000000001".into(),
        account: "ada.tt".into(),
        state: SimPostState::Live,
        views: vec![(0, 100)],
        media: Some(SimMedia { image: "images/astronaut.png".into(), payload: None, ..SimMedia::uploaded() }),
    });
    let t = tracked_scenario(db, world, &[("user-ada", payload)]).await;
    let body = json!({"platform": "tiktok", "handle": "ada.tt",
        "oauth": {"access_token": "act.ada.tt.0", "refresh_token": "rft.ada.tt.0"}});
    let (status, linked) = t.app.call(Method::POST, "/v1/social-accounts", Some(&t.ada), Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{linked}");
    let account: AccountId = linked["id"].as_str().unwrap().parse().unwrap();
    assert!(t.sim.access_token(Platform::Tiktok, "ada.tt").is_some_and(|token| token == "act.ada.tt.0"));
    let (status, body) = unlink(&t, &t.ada, account).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["platform_token_revoked"], true, "{body}");
    assert!(t.sim.access_token(Platform::Tiktok, "ada.tt").is_none_or(|token| token != "act.ada.tt.0"));
}

on_both_backends!(
    unlinking_stops_tracking_and_shreds_the_handle,
    a_request_on_its_way_holds_the_unlinking_back,
    a_poll_racing_an_unlinking_sends_nothing_after_it,
    a_tiktok_token_is_revoked_at_the_platform,
);
