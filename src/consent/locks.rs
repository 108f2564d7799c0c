//! In-process consent locks: a revocation or erasure takes its creator's lock for writing
//! around its commit; a poll holds it for reading from its consent check until its request
//! has reached the platform. Under SQLite (one process) this is what orders the two; on
//! PostgreSQL a row lock does the same across processes, and this lock adds nothing wrong.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::domain::CreatorId;
use tokio::sync::{OwnedRwLockReadGuard, OwnedRwLockWriteGuard, RwLock};

/// Entries kept before unused ones are dropped.
const PRUNE_ABOVE: usize = 10_000;

#[derive(Default)]
pub struct ConsentLocks {
    locks: Mutex<HashMap<CreatorId, Arc<RwLock<()>>>>,
}

impl ConsentLocks {
    fn lock_for(&self, creator_id: CreatorId) -> Arc<RwLock<()>> {
        let mut locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
        if locks.len() > PRUNE_ABOVE {
            locks.retain(|_, lock| Arc::strong_count(lock) > 1);
        }
        locks.entry(creator_id).or_default().clone()
    }

    /// Held by a poll while its request is on its way.
    pub async fn read(&self, creator_id: CreatorId) -> OwnedRwLockReadGuard<()> {
        self.lock_for(creator_id).read_owned().await
    }

    /// Held by a revocation or erasure while it commits.
    pub async fn write(&self, creator_id: CreatorId) -> OwnedRwLockWriteGuard<()> {
        self.lock_for(creator_id).write_owned().await
    }
}
