//! The poller's start gate: before every request of a batch (and every media fetch), the
//! in-process consent lock of each creator in the batch is taken for reading and their
//! consent checked in the database, with the accounts the batch is about still linked,
//! share-locked on PostgreSQL, all held until the platform has answered (and the posts it
//! is about still tracked). A revocation, erasure, unlinking or content deletion takes the
//! same locks to commit, so it either commits first (and the
//! request is never sent) or waits until the request has arrived.

use std::sync::Arc;

use async_trait::async_trait;

use crate::consent::locks::ConsentLocks;
use crate::domain::{AccountId, CreatorId, PostId, Timestamp};
use crate::platforms::start_gate::{Permit, StartGate};
use crate::store::Store;

pub struct ConsentGate {
    pub store: Arc<dyn Store>,
    pub locks: Arc<ConsentLocks>,
    /// Each creator in the batch, with the consent change time the poll started under.
    pub creators: Vec<(CreatorId, Timestamp)>,
    /// The linked accounts the requests are about (none for a request about the creator alone).
    pub accounts: Vec<AccountId>,
    /// The posts the requests are about: the gate closes once one is stopped.
    pub posts: Vec<PostId>,
}

impl ConsentGate {
    pub fn new(
        store: Arc<dyn Store>,
        locks: Arc<ConsentLocks>,
        mut creators: Vec<(CreatorId, Timestamp)>,
    ) -> Self {
        // One order for everyone: no two polls can wait on each other's locks.
        creators.sort_by_key(|(id, _)| *id);
        creators.dedup();
        ConsentGate { store, locks, creators, accounts: Vec::new(), posts: Vec::new() }
    }

    /// The same gate, also closed once one of these accounts is unlinked.
    pub fn covering(mut self, accounts: impl IntoIterator<Item = AccountId>) -> Self {
        self.accounts.extend(accounts);
        self
    }

    /// The same gate, also closed once one of these posts is stopped (its content deleted).
    pub fn covering_posts(mut self, posts: impl IntoIterator<Item = PostId>) -> Self {
        self.posts.extend(posts);
        self
    }
}

#[async_trait]
impl StartGate for ConsentGate {
    async fn permit(&self) -> Result<Permit, String> {
        let mut guards = Vec::with_capacity(self.creators.len());
        for (creator_id, _) in &self.creators {
            guards.push(self.locks.read(*creator_id).await);
        }
        match self.store.hold_consent(&self.creators, &self.accounts, &self.posts).await {
            Ok(Ok(hold)) => Ok(Box::new((guards, hold))),
            Ok(Err(reason)) => Err(reason),
            Err(error) => Err(format!("consent check failed: {error}")),
        }
    }
}
