//! The roll-up property: under any sequence of polls (some verifying or removing the post),
//! late snapshots, flags raised and cleared, consent revoked and granted again, and erasures,
//! the per-creator day and month totals and every period query equal a recomputation from the raw
//! snapshots by a model of the payout rules. Both backends; failures shrink to a minimal
//! sequence.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration as StdDuration;

use chrono::{Datelike, TimeZone, Utc};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};
use sqlx::Row;
use uuid::Uuid;
use viewmark::domain::*;
use viewmark::store::*;

use crate::on_both_backends;
use crate::support::TestDb;

const CREATORS: usize = 2;
const POSTS_PER_CREATOR: usize = 2;
const POSTS: usize = CREATORS * POSTS_PER_CREATOR;
const DAY_MS: i64 = 86_400_000;

#[derive(Debug, Clone)]
enum Op {
    /// A poll through the store's lease: verifies the post first if asked, or finds it removed.
    Poll {
        post: usize,
        views: u64,
        verify: bool,
        remove: bool,
    },
    /// A snapshot written late, one slot before the post's latest.
    Late {
        post: usize,
        views: u64,
    },
    Flag {
        post: usize,
    },
    Clear {
        post: usize,
    },
    Revoke {
        creator: usize,
    },
    Grant {
        creator: usize,
    },
    Erase {
        creator: usize,
    },
}

#[derive(Debug, Clone)]
struct Step {
    op: Op,
    /// Minutes the clock moves before the step.
    advance: i64,
}

fn step() -> impl Strategy<Value = Step> {
    let post = 0..POSTS;
    let creator = 0..CREATORS;
    let op = prop_oneof![
        8 => (post.clone(), 0u64..5_000, proptest::bool::weighted(0.5), proptest::bool::weighted(0.05))
            .prop_map(|(post, views, verify, remove)| Op::Poll { post, views, verify, remove }),
        2 => (post.clone(), 0u64..5_000).prop_map(|(post, views)| Op::Late { post, views }),
        2 => post.clone().prop_map(|post| Op::Flag { post }),
        2 => post.prop_map(|post| Op::Clear { post }),
        1 => creator.clone().prop_map(|creator| Op::Revoke { creator }),
        1 => creator.clone().prop_map(|creator| Op::Grant { creator }),
        1 => creator.prop_map(|creator| Op::Erase { creator }),
    ];
    (op, prop_oneof![3 => 0i64..120, 1 => 120i64..2_000]).prop_map(|(op, advance)| Step { op, advance })
}

#[derive(Debug, Default)]
struct PostModel {
    id: Option<PostId>,
    /// poll slot -> (observed at ms, views, baseline)
    snapshots: BTreeMap<i64, (i64, u64, bool)>,
    verified: bool,
    removed: bool,
    open_flags: Vec<Uuid>,
    next_slot: Option<i64>,
}

#[derive(Debug)]
struct CreatorModel {
    id: CreatorId,
    granted: bool,
    since: i64,
    erased: bool,
}

struct Model {
    creators: Vec<CreatorModel>,
    posts: Vec<PostModel>,
}

impl Model {
    fn creator_of(&self, post: usize) -> &CreatorModel {
        &self.creators[post / POSTS_PER_CREATOR]
    }

    /// Each snapshot's gain under the payout rules, from the raw snapshots alone.
    fn gains(post: &PostModel) -> Vec<(i64, u64)> {
        let mut previous = None;
        post.snapshots
            .values()
            .map(|&(observed, views, baseline)| {
                let gained = match previous {
                    Some(before) if !baseline && views > before => views - before,
                    _ => 0,
                };
                previous = Some(views);
                (observed, gained)
            })
            .collect()
    }

    fn counted(&self, post: usize) -> bool {
        let p = &self.posts[post];
        !self.creator_of(post).erased && p.verified && !p.removed && p.open_flags.is_empty()
    }

    /// Gains of counted posts observed in `[from, to)`: per creator and per post.
    fn period(&self, from: i64, to: i64) -> (HashMap<CreatorId, u64>, HashMap<PostId, u64>) {
        let (mut per_creator, mut per_post) = (HashMap::new(), HashMap::new());
        for (i, post) in self.posts.iter().enumerate().filter(|(i, _)| self.counted(*i)) {
            let sum: u64 =
                Self::gains(post).iter().filter(|(at, _)| (from..to).contains(at)).map(|(_, g)| g).sum();
            if sum > 0 {
                *per_creator.entry(self.creator_of(i).id).or_default() += sum;
                per_post.insert(post.id.unwrap(), sum);
            }
        }
        (per_creator, per_post)
    }

    /// Per creator and day (`by` = `day`) or calendar month (`month`), the gains of counted
    /// posts.
    fn totals(&self, by: &str) -> BTreeMap<(String, i64), i64> {
        let mut totals = BTreeMap::new();
        for (i, post) in self.posts.iter().enumerate().filter(|(i, _)| self.counted(*i)) {
            for (at, gained) in Self::gains(post) {
                let key = match by {
                    "day" => at.div_euclid(DAY_MS),
                    _ => {
                        let t = Utc.timestamp_millis_opt(at).unwrap();
                        i64::from(t.year() - 1970) * 12 + i64::from(t.month0())
                    }
                };
                *totals.entry((self.creator_of(i).id.to_string(), key)).or_default() += gained as i64;
            }
        }
        totals.retain(|_, v| *v != 0);
        totals
    }
}

async fn setup(store: &dyn Store, t0: i64) -> Model {
    let at = Utc.timestamp_millis_opt(t0).unwrap();
    let mut model = Model { creators: vec![], posts: vec![] };
    for _ in 0..CREATORS {
        let creator = store
            .create_creator(&NewCreator {
                user_id: format!("rollup-{}", Uuid::new_v4()),
                display_name: None,
                birth_year: Some(1990),
                policy_version: "2026-01".into(),
                channel: "api".into(),
                at,
            })
            .await
            .unwrap();
        let account = store
            .insert_social_account(&NewSocialAccount {
                creator_id: creator.id,
                platform: Platform::X,
                handle: format!("h{}", Uuid::new_v4().simple()),
                proof_code: None,
                oauth_token: None,
                at,
            })
            .await
            .unwrap();
        for _ in 0..POSTS_PER_CREATOR {
            let ref_id = Uuid::new_v4().as_u128() % 10u128.pow(18);
            let post = store
                .insert_post(&NewPost {
                    creator_id: creator.id,
                    social_account_id: account.id,
                    platform: Platform::X,
                    platform_post_id: ref_id.to_string(),
                    url: format!("https://x.com/i/status/{ref_id}"),
                    content_id: None,
                    at,
                })
                .await
                .unwrap();
            model.posts.push(PostModel { id: Some(post.id), ..PostModel::default() });
        }
        model.creators.push(CreatorModel { id: creator.id, granted: true, since: t0, erased: false });
    }
    model
}

async fn apply(store: &dyn Store, model: &mut Model, step: &Step, now: i64, lease_clock: &mut i64) {
    let at = Utc.timestamp_millis_opt(now).unwrap();
    match step.op {
        Op::Poll { post, views, verify, remove } => {
            // Each poll leases every due post for a millisecond; a second later all are due again.
            *lease_clock += 1000;
            let lease_at = Utc.timestamp_millis_opt(*lease_clock).unwrap();
            let leased =
                store.lease_due_posts("rollup", lease_at, StdDuration::from_millis(1), 1000).await.unwrap();
            let mine = leased.iter().find(|l| Some(l.post.id) == model.posts[post].id);
            let creator = model.creator_of(post);
            let pollable = !creator.erased && creator.granted && !model.posts[post].removed;
            assert_eq!(mine.is_some(), pollable, "leased only while pollable: {step:?}");
            let Some(leased) = mine else { return };
            let (creator_id, since) = (creator.id, creator.since);
            let p = &mut model.posts[post];
            if let Some(slot) = p.next_slot {
                assert_eq!(leased.slot, slot);
            }
            let verified_now = verify && !p.verified;
            let next_slot = now.max(leased.slot + 1);
            let (status, views) = if remove {
                (PostStatus::Removed, None)
            } else if p.verified || verify {
                (PostStatus::Verified, Some(views))
            } else {
                (PostStatus::Pending, None)
            };
            let done = PollCompletion {
                post_id: leased.post.id,
                creator_id,
                worker: "rollup".into(),
                slot: leased.slot,
                consent_since: Utc.timestamp_millis_opt(since).unwrap(),
                observed_at: at,
                views,
                engagement: Engagement::default(),
                status,
                status_reason: None,
                next_poll_at: Utc.timestamp_millis_opt(next_slot).unwrap(),
                failures: 0,
                evidence: (verified_now && !remove).then(|| Evidence {
                    verified_at: at,
                    media_sha256: "e".into(),
                    score: 1.0,
                }),
                content_id: None,
                flags: vec![],
            };
            assert!(matches!(store.complete_poll(&done).await.unwrap(), PollCommit::Stored(_)));
            p.next_slot = Some(next_slot);
            p.removed |= remove;
            p.verified |= verified_now && !remove;
            if let Some(views) = views {
                let baseline = !p.snapshots.values().any(|(observed, _, _)| *observed >= since);
                p.snapshots.insert(leased.slot, (now, views, baseline));
            }
        }
        Op::Late { post, views } => {
            let p = &mut model.posts[post];
            let (Some(id), Some(&latest)) = (p.id, p.snapshots.keys().next_back()) else { return };
            if model.creators[post / POSTS_PER_CREATOR].erased {
                return;
            }
            let slot = latest - 1;
            let new = NewSnapshot { post_id: id, poll_slot: slot, observed_at: at, views };
            let written = store.record_snapshot(&new).await.unwrap();
            assert_eq!(written == SnapshotWrite::Inserted, !p.snapshots.contains_key(&slot));
            p.snapshots.entry(slot).or_insert((now, views, false));
        }
        Op::Flag { post } => {
            if model.creator_of(post).erased {
                return;
            }
            let p = &mut model.posts[post];
            let flag = store.flag_post(p.id.unwrap(), FlagKind::Velocity, "test", at).await.unwrap();
            p.open_flags.push(flag.id);
        }
        Op::Clear { post } => {
            if model.creator_of(post).erased {
                return;
            }
            let p = &mut model.posts[post];
            if let Some(id) = p.open_flags.pop() {
                assert!(store.clear_flag(id, "admin", at).await.unwrap().is_some());
            }
        }
        Op::Revoke { creator } | Op::Grant { creator } => {
            let grant = matches!(step.op, Op::Grant { .. });
            let c = &mut model.creators[creator];
            if c.erased || c.granted == grant {
                return;
            }
            let change = ConsentChange {
                grant,
                policy_version: "2026-01".into(),
                channel: "api".into(),
                actor: "creator".into(),
                at,
            };
            store.record_consent(c.id, &change).await.unwrap();
            c.granted = grant;
            c.since = now;
        }
        Op::Erase { creator } => {
            let c = &mut model.creators[creator];
            if c.erased {
                return;
            }
            store.erase_creator(c.id, ErasureTrigger::Operator, at).await.unwrap().unwrap();
            c.erased = true;
        }
    }
}

/// Runs one sequence on fresh creators; an error says where the store and the model differ.
async fn check(db: &TestDb, store: &dyn Store, steps: &[Step], window: (i64, i64)) -> Result<(), String> {
    // Two days before a month ends: most runs cross into the next month.
    let t0 = Utc.with_ymd_and_hms(2026, 3, 30, 0, 0, 0).unwrap().timestamp_millis();
    let mut model = setup(store, t0).await;
    let mut now = t0;
    let mut lease_clock = Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap().timestamp_millis();
    for step in steps {
        now += step.advance * 60_000;
        apply(store, &mut model, step, now, &mut lease_clock).await;
    }
    let ids: Vec<CreatorId> = model.creators.iter().map(|c| c.id).collect();
    let raw = db.raw().await;
    for (table, by) in [("creator_day_views", "day"), ("creator_month_views", "month")] {
        let mut stored = BTreeMap::new();
        for id in &ids {
            let sql = format!("SELECT {by} AS k, views FROM {table} WHERE creator_id = $1 AND views <> 0");
            for row in sqlx::query(&sql).bind(id.to_string()).fetch_all(&raw).await.unwrap() {
                stored.insert((id.to_string(), row.get::<i64, _>("k")), row.get::<i64, _>("views"));
            }
        }
        let expected = model.totals(by);
        if stored != expected {
            raw.close().await;
            return Err(format!("{table}: stored {stored:?}, recomputed {expected:?}"));
        }
    }
    raw.close().await;
    let end = now + DAY_MS;
    let day0 = t0.div_euclid(DAY_MS) * DAY_MS;
    // Whole months, whole days, the whole run, and a period cut mid-day at both ends.
    let month = |m: u32| Utc.with_ymd_and_hms(2026, m, 1, 0, 0, 0).unwrap().timestamp_millis();
    let mut periods =
        vec![(day0, end.div_euclid(DAY_MS) * DAY_MS + DAY_MS), (month(3), month(6)), (month(4), month(5))];
    periods.push((day0 - DAY_MS, month(5) + DAY_MS));
    periods.extend((0..=(now - t0) / DAY_MS).map(|d| (day0 + d * DAY_MS, day0 + (d + 1) * DAY_MS)));
    let (a, b) = (t0 + window.0.min(window.1) * 60_000, t0 + window.0.max(window.1) * 60_000 + 1);
    periods.push((a, b + 40 * DAY_MS));
    periods.push((a, b));
    for (from, to) in periods {
        let (want_creators, want_posts) = model.period(from, to);
        let (f, t) = (Utc.timestamp_millis_opt(from).unwrap(), Utc.timestamp_millis_opt(to).unwrap());
        let got: HashMap<CreatorId, u64> = store
            .period_views(f, t, None, 1000)
            .await
            .unwrap()
            .into_iter()
            .filter(|v| ids.contains(&v.creator_id))
            .map(|v| (v.creator_id, v.views))
            .collect();
        if got != want_creators {
            return Err(format!(
                "period [{from}, {to}) per creator: store {got:?}, recomputed {want_creators:?}"
            ));
        }
        let got: HashMap<PostId, u64> = store
            .period_post_views(f, t, Some(&ids))
            .await
            .unwrap()
            .into_iter()
            .map(|v| (v.post_id, v.views))
            .collect();
        if got != want_posts {
            return Err(format!("period [{from}, {to}) per post: store {got:?}, recomputed {want_posts:?}"));
        }
    }
    Ok(())
}

async fn the_roll_up_equals_a_recount_from_raw_snapshots(db: TestDb) {
    let store = db.store().await;
    // Cheap on SQLite; on PostgreSQL each step is a few round trips.
    let cases = if db.url.starts_with("sqlite") { 256 } else { 64 };
    let strategy = (proptest::collection::vec(step(), 1..40), (0i64..6_000, 0i64..6_000));
    let mut runner = TestRunner::new(Config { cases, ..Config::default() });
    for _ in 0..cases {
        let mut tree = strategy.new_tree(&mut runner).unwrap();
        let (steps, window) = tree.current();
        let Err(first) = check(&db, store.as_ref(), &steps, window).await else { continue };
        // Shrink to a minimal failing sequence, the way proptest's runner does.
        let mut failure = (tree.current(), first);
        let mut simpler = tree.simplify();
        while simpler {
            let (steps, window) = tree.current();
            simpler = match check(&db, store.as_ref(), &steps, window).await {
                Err(err) => {
                    failure = (tree.current(), err);
                    tree.simplify()
                }
                Ok(()) => tree.complicate(),
            };
        }
        panic!("the roll-up disagrees with a recount: {}\nminimal sequence: {:#?}", failure.1, failure.0);
    }
}

on_both_backends!(the_roll_up_equals_a_recount_from_raw_snapshots);
