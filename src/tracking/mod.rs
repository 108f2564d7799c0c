//! The poller, the service's main loop: lease due posts, ask each platform about them in
//! batches, check the watermark where due, record views, schedule the next poll. One round
//! is [`Poller::try_execute_task`] (testable alone); [`run_worker`] is the thin loop around it
//! that `serve` and `viewmark worker` run.
//!
//! The consent gate (docs/invariants.md) is enforced twice: a post is leased, and its platform
//! request started, only while the creator's consent is in force (read from the database
//! just before the request); and the result is written in one transaction that re-checks
//! consent under a lock a revocation also needs, storing nothing if consent changed since
//! the poll started.

pub mod consent_gate;
pub mod discovery;
pub mod registration;
pub mod schedule;
mod settle;
pub mod verify;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use uuid::Uuid;

use consent_gate::ConsentGate;
pub use schedule::TrackingSettings;
use verify::Verifier;

use crate::consent::locks::ConsentLocks;
use crate::domain::{AccountId, CreatorId, Platform, Timestamp};
use crate::platforms::{PlatformError, Platforms, UserCredential, UserToken};
use crate::store::{LeasedPost, Store, StoreError};

/// What one round did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Round {
    /// Nothing was due.
    Idle,
    /// This many posts were leased and settled (stored, discarded or failed).
    Polled(usize),
}

pub struct Poller {
    store: Arc<dyn Store>,
    platforms: Platforms,
    verifier: Arc<Verifier>,
    settings: TrackingSettings,
    fraud: crate::payouts::PayoutSettings,
    worker_id: String,
    /// Shared with the HTTP layer's revocations and erasures in this process.
    consent_locks: Arc<ConsentLocks>,
    /// Scans accounts for posts nobody registered, when polling leaves time.
    discoverer: discovery::Discoverer,
}

impl Poller {
    pub fn new(
        store: Arc<dyn Store>,
        platforms: Platforms,
        verifier: Verifier,
        settings: TrackingSettings,
        platform_settings: &crate::platforms::PlatformSettings,
        fraud: crate::payouts::PayoutSettings,
        consent_locks: Arc<ConsentLocks>,
    ) -> Poller {
        let worker_id = format!("worker-{}", Uuid::new_v4());
        let verifier = Arc::new(verifier);
        let discoverer = discovery::Discoverer::new(
            store.clone(),
            platforms.clone(),
            verifier.clone(),
            settings.discovery.clone(),
            platform_settings,
            consent_locks.clone(),
            worker_id.clone(),
        );
        Poller { store, platforms, verifier, settings, fraud, worker_id, consent_locks, discoverer }
    }

    /// The account scans this worker runs between polling rounds.
    pub fn discoverer(&self) -> &discovery::Discoverer {
        &self.discoverer
    }

    /// The consent gate a batch's requests pass, for these creators.
    fn gate(&self, creators: Vec<(CreatorId, Timestamp)>) -> ConsentGate {
        ConsentGate::new(self.store.clone(), self.consent_locks.clone(), creators)
    }

    pub fn worker_id(&self) -> &str {
        &self.worker_id
    }

    /// One round: lease a batch of due posts and poll them, grouped per platform (and per
    /// creator token where the platform reads with one).
    pub async fn try_execute_task(&self) -> Result<Round, StoreError> {
        let lease = Duration::from_secs(self.settings.lease_secs.max(1));
        let leased =
            self.store.lease_due_posts(&self.worker_id, Utc::now(), lease, self.settings.batch_size).await?;
        if leased.is_empty() {
            return Ok(Round::Idle);
        }
        let count = leased.len();
        let now = Utc::now();
        for post in &leased {
            let lag = (now - post.post.next_poll_at).num_milliseconds().max(0) as f64 / 1000.0;
            metrics::histogram!("viewmark_poll_lag_seconds").record(lag);
        }
        let mut groups: HashMap<(Platform, Option<AccountId>), Vec<LeasedPost>> = HashMap::new();
        for post in leased {
            let adapter = self.platforms.adapter(post.post.platform);
            let per_account = adapter.needs_user_token().then_some(post.account.id);
            groups.entry((post.post.platform, per_account)).or_default().push(post);
        }
        for ((platform, _), posts) in groups {
            self.poll_group(platform, posts).await?;
        }
        Ok(Round::Polled(count))
    }

    async fn poll_group(&self, platform: Platform, posts: Vec<LeasedPost>) -> Result<(), StoreError> {
        let adapter = self.platforms.adapter(platform);
        for chunk in posts.chunks(adapter.batch_size().max(1)) {
            // The gate: consent read just before the request; revoked creators' posts are
            // given back untouched, and their ids never reach the platform.
            let mut ready = Vec::with_capacity(chunk.len());
            for leased in chunk {
                match self.store.consent_stamp(leased.post.creator_id).await? {
                    Some(stamp) if stamp.granted => ready.push((leased, stamp.changed_at)),
                    _ => self.store.release_lease(leased.post.id, &self.worker_id).await?,
                }
            }
            let Some((first, _)) = ready.first() else { continue };
            let user = if adapter.needs_user_token() {
                match self.user_credential(first) {
                    Ok(user) => Some(user),
                    Err(reason) => {
                        for (leased, since) in &ready {
                            self.fail(leased, *since, reason.clone(), None).await?;
                        }
                        continue;
                    }
                }
            } else {
                None
            };
            let ids: Vec<String> = ready.iter().map(|(l, _)| l.post.platform_post_id.clone()).collect();
            let gate = self
                .gate(ready.iter().map(|(l, since)| (l.post.creator_id, *since)).collect())
                .covering(ready.iter().map(|(l, _)| l.account.id))
                .covering_posts(ready.iter().map(|(l, _)| l.post.id));
            let outcome = adapter.observe(&gate, &ids, user.as_ref()).await;
            // New tokens are kept whatever the outcome: the old ones may be dead already.
            if let Some(user) = &user {
                keep_refreshed_token(self.store.as_ref(), user).await?;
            }
            match outcome {
                Ok(observations) => {
                    for ((leased, since), seen) in ready.iter().zip(observations) {
                        self.settle(leased, *since, &seen).await?;
                    }
                }
                Err(PlatformError::Gated { .. }) => {
                    // A creator's consent ended before the request left: nothing was sent.
                    for (leased, _) in &ready {
                        self.store.release_lease(leased.post.id, &self.worker_id).await?;
                    }
                }
                Err(error) => {
                    tracing::warn!(
                        platform = platform.as_str(),
                        kind = error.kind(),
                        posts = ready.len(),
                        "poll failed"
                    );
                    for (leased, since) in &ready {
                        self.fail(leased, *since, describe(&error), error.retry_after()).await?;
                    }
                }
            }
        }
        Ok(())
    }

    fn user_credential(&self, leased: &LeasedPost) -> Result<UserCredential, String> {
        let bytes = leased.oauth_token.as_ref().ok_or("no platform token held for the account")?;
        let token =
            UserToken::from_bytes(bytes).map_err(|_| "the platform token cannot be read".to_owned())?;
        Ok(UserCredential::new(leased.account.id, token))
    }
}

/// Stores the tokens an adapter obtained for `user`, if any. An account erased or unlinked
/// meanwhile has nothing to store them under: they are dropped, and the round goes on for
/// everyone else.
pub(crate) async fn keep_refreshed_token(store: &dyn Store, user: &UserCredential) -> Result<(), StoreError> {
    let Some(token) = user.refreshed.take() else { return Ok(()) };
    let bytes = token.to_bytes().map_err(StoreError::Corrupt)?;
    match store.store_oauth_token(user.account_id, &bytes).await {
        Err(StoreError::NotFound | StoreError::KeyUnavailable) => {
            tracing::info!(account_id = %user.account_id, "refreshed token dropped: the account is gone");
            Ok(())
        }
        other => other,
    }
}

fn describe(error: &PlatformError) -> String {
    match error {
        PlatformError::Unauthorized { .. } => "the platform refused the token: link the account again".into(),
        other => format!("platform: {}", other.kind()),
    }
}

/// Runs rounds until `stop` turns true: straight on while there is work, pausing
/// `idle_ms` when nothing is due or the database fails.
pub async fn run_worker(poller: Arc<Poller>, mut stop: tokio::sync::watch::Receiver<bool>) {
    let idle = Duration::from_millis(poller.settings.idle_ms.max(10));
    tracing::info!(worker = poller.worker_id(), "poller started");
    while !*stop.borrow() {
        let pause = match poller.try_execute_task().await {
            Ok(Round::Polled(_)) => continue,
            // Scans run only when no poll is due: polling comes first.
            Ok(Round::Idle) => match poller.discoverer.try_execute_task().await {
                Ok(discovery::ScanRound::Scanned { .. }) => continue,
                Ok(discovery::ScanRound::Idle) => idle,
                Err(error) => {
                    tracing::error!(%error, "scan round failed");
                    idle
                }
            },
            Err(error) => {
                tracing::error!(%error, "poll round failed");
                idle
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = stop.changed() => {}
        }
    }
    tracing::info!(worker = poller.worker_id(), "poller stopped");
}
