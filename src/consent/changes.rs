//! The changes that stop tracking: a revocation and an erasure. Each is announced first, so
//! that no new request about the creator starts in any process (the poller's gate refuses
//! while an announcement stands), then waits for the requests already on their way (the
//! in-process consent lock here, the creator's row lock on PostgreSQL), then commits. The
//! wait is so bounded by the requests in flight when the change began. Every route and
//! command that revokes or erases goes through here.

use uuid::Uuid;

use super::locks::ConsentLocks;
use crate::domain::{ConsentEvent, ErasureReceipt, ErasureTrigger, Timestamp};
use crate::store::{ConsentChange, Store, StoreResult};

/// Records a consent change; a revocation is announced and waits as described above.
pub async fn change_consent(
    store: &dyn Store,
    locks: &ConsentLocks,
    creator_id: Uuid,
    change: &ConsentChange,
) -> StoreResult<ConsentEvent> {
    if !change.grant {
        store.announce_revocation(creator_id).await?;
    }
    let _waited = locks.write(creator_id).await;
    let event = store.record_consent(creator_id, change).await;
    if event.is_err() && !change.grant {
        store.withdraw_revocation(creator_id).await;
    }
    let event = event?;
    tracing::info!(%creator_id, grant = change.grant, "tracking consent changed");
    super::count_event(if change.grant { "granted" } else { "revoked" }, via(&change.channel));
    Ok(event)
}

/// Erases the creator; `None` when there is no such creator (any more).
pub async fn erase(
    store: &dyn Store,
    locks: &ConsentLocks,
    creator_id: Uuid,
    trigger: ErasureTrigger,
    at: Timestamp,
) -> StoreResult<Option<ErasureReceipt>> {
    store.announce_revocation(creator_id).await?;
    let _waited = locks.write(creator_id).await;
    let receipt = store.erase_creator(creator_id, trigger, at).await;
    if !matches!(receipt, Ok(Some(_))) {
        store.withdraw_revocation(creator_id).await;
    }
    let receipt = receipt?;
    if let Some(receipt) = &receipt {
        tracing::info!(receipt_id = %receipt.id, trigger = trigger.as_str(), "creator erased");
        super::count_event("erased", trigger.as_str());
    }
    Ok(receipt)
}

fn via(channel: &str) -> &'static str {
    match channel {
        "webhook" => "webhook",
        "operator" => "operator",
        _ => "api",
    }
}
