//! Every change of a creator's consent: joining (the first grant), a grant or a revocation,
//! an erasure, and the unlinking of an account (a revocation for that account alone). Routes, the identity provider's webhook and the CLI call these; none
//! repeats their steps.
//!
//! The changes that stop tracking, a revocation and an erasure, are announced first, so
//! that no new request about the creator starts in any process (the poller's gate refuses
//! while an announcement stands), then waits for the requests already on their way (the
//! in-process consent lock here, the creator's row lock on PostgreSQL), then commits. The
//! wait is so bounded by the requests in flight when the change began. Every route and
//! command that revokes or erases goes through here.

use super::locks::ConsentLocks;
use super::{admit, check_birth_year, parse_display_name, AdmissionError, ConsentSettings, JoinRequest};
use crate::domain::{
    AccountId, ConsentEvent, ContentId, Creator, CreatorId, ErasureReceipt, ErasureTrigger, Timestamp,
};
use crate::store::{ConsentChange, NewCreator, ProfileChange, Store, StoreError, StoreResult};

/// Why a join did not happen.
#[derive(Debug, thiserror::Error)]
pub enum JoinError {
    #[error(transparent)]
    Refused(#[from] AdmissionError),
    #[error("already joined")]
    AlreadyJoined,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Joins the Creator Program: the rules of `admit`, and a refusal for age remembered (by a
/// keyed hash of the user id) so that another claim from the same user is refused too.
pub async fn join(
    store: &dyn Store,
    settings: &ConsentSettings,
    user_id: &str,
    request: &JoinRequest,
    channel: &str,
    now: Timestamp,
) -> Result<Creator, JoinError> {
    let refused = store.age_refused_until(user_id).await?;
    if let Some(until) = refused.filter(|until| *until > now) {
        return Err(AdmissionError::UnderAge { minimum_age: settings.minimum_age, until }.into());
    }
    let admission = match admit(request, settings, now) {
        Ok(admission) => admission,
        Err(err @ AdmissionError::UnderAge { until, .. }) => {
            store.record_age_refusal(user_id, until, now).await?;
            return Err(err.into());
        }
        Err(err) => return Err(err.into()),
    };
    if store.creator_by_user_id(user_id).await?.is_some() {
        return Err(JoinError::AlreadyJoined);
    }
    let new = NewCreator {
        user_id: user_id.to_owned(),
        display_name: admission.display_name,
        birth_year: admission.birth_year,
        policy_version: admission.policy_version,
        channel: channel.to_owned(),
        at: now,
    };
    // The unique user id is the backstop against two joins racing.
    let creator = store.create_creator(&new).await.map_err(|e| match e {
        StoreError::Conflict(_) => JoinError::AlreadyJoined,
        other => JoinError::Store(other),
    })?;
    tracing::info!(creator_id = %creator.id, "creator joined");
    super::count_event("joined", via(channel));
    Ok(creator)
}

/// What a correction of the profile came to.
#[derive(Debug)]
pub enum Correction {
    /// The profile as now.
    Corrected(Creator),
    /// The corrected birth year puts the creator under the minimum age: erased, as a join
    /// would have been refused, and the refusal remembered as at join.
    Erased { receipt: ErasureReceipt, refusal: AdmissionError },
}

/// Why a correction did not happen.
#[derive(Debug, thiserror::Error)]
pub enum CorrectionError {
    #[error(transparent)]
    Refused(#[from] AdmissionError),
    #[error("no such creator")]
    NotFound,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Corrects the creator's display name (`Some(None)` removes it) and birth year under the
/// rules of joining; the change is ledgered with the fields it changed.
pub async fn correct_profile(
    store: &dyn Store,
    settings: &ConsentSettings,
    locks: &ConsentLocks,
    creator: &Creator,
    mut change: ProfileChange,
) -> Result<Correction, CorrectionError> {
    if let Some(Some(name)) = &change.display_name {
        change.display_name = Some(Some(parse_display_name(name)?));
    }
    if let Some(year) = change.birth_year {
        match check_birth_year(year, settings, change.at) {
            Ok(()) => {}
            Err(refusal @ AdmissionError::UnderAge { until, .. }) => {
                store.record_age_refusal(&creator.user_id, until, change.at).await?;
                let receipt = erase(store, locks, creator.id, ErasureTrigger::UnderAge, change.at)
                    .await?
                    .ok_or(CorrectionError::NotFound)?;
                return Ok(Correction::Erased { receipt, refusal });
            }
            Err(other) => return Err(other.into()),
        }
    }
    let corrected = store.correct_profile(creator.id, &change).await?.ok_or(CorrectionError::NotFound)?;
    tracing::info!(creator_id = %creator.id, "profile corrected");
    Ok(Correction::Corrected(corrected))
}

/// Records a consent change; a revocation is announced and waits as described above.
pub async fn change_consent(
    store: &dyn Store,
    locks: &ConsentLocks,
    creator_id: CreatorId,
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

/// Erases everything held about an identity-provider user: the refusal for age of a user who
/// never joined, and the creator who did. The creator is found by id alone, which stays
/// readable after an erasure that stopped once the data key was destroyed, so asking again
/// completes it. `None` when the user never joined (or is already erased).
pub async fn erase_user(
    store: &dyn Store,
    locks: &ConsentLocks,
    user_id: &str,
    trigger: ErasureTrigger,
    at: Timestamp,
) -> StoreResult<Option<ErasureReceipt>> {
    // The creator first: their data key is destroyed before anything else is written.
    let receipt = match store.creator_id_by_user_id(user_id).await? {
        Some(creator_id) => erase(store, locks, creator_id, trigger, at).await?,
        None => None,
    };
    store.forget_age_refusal(user_id).await?;
    Ok(receipt)
}

/// Erases the creator; `None` when there is no such creator (any more).
pub async fn erase(
    store: &dyn Store,
    locks: &ConsentLocks,
    creator_id: CreatorId,
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

/// Unlinks one of the creator's accounts with a revocation's guarantee: announced, so no new
/// request about the creator starts in any process; then it waits for the requests on their
/// way; then the store destroys the account's key and stops its posts. Once it returns, no
/// request about the account leaves (the gate also checks that the account is linked).
/// Returns how many posts were stopped; `None` when the account is not linked (any more).
pub async fn unlink_account(
    store: &dyn Store,
    locks: &ConsentLocks,
    creator_id: CreatorId,
    account_id: AccountId,
    at: Timestamp,
) -> StoreResult<Option<u64>> {
    store.announce_revocation(creator_id).await?;
    let _waited = locks.write(creator_id).await;
    let stopped = store.unlink_account(account_id, at).await;
    store.withdraw_revocation(creator_id).await;
    let stopped = stopped?;
    if let Some(posts_stopped) = stopped {
        tracing::info!(%creator_id, %account_id, posts_stopped, "social account unlinked");
    }
    Ok(stopped)
}

/// Deletes one content with a revocation's guarantee for its posts: announced, so no new
/// request about the creator starts in any process; then it waits for the requests on their
/// way; then the store deletes the content and stops its posts. Once it returns, no request
/// about those posts leaves (the gate also checks that its posts are still tracked). Returns
/// how many posts were stopped; `None` when the content is gone already.
pub async fn delete_content(
    store: &dyn Store,
    locks: &ConsentLocks,
    creator_id: CreatorId,
    content_id: ContentId,
) -> StoreResult<Option<u64>> {
    store.announce_revocation(creator_id).await?;
    let _waited = locks.write(creator_id).await;
    let stopped = store.delete_content(content_id).await;
    store.withdraw_revocation(creator_id).await;
    let stopped = stopped?;
    if let Some(posts_stopped) = stopped {
        tracing::info!(%creator_id, %content_id, posts_stopped, "content deleted");
    }
    Ok(stopped)
}

fn via(channel: &str) -> &'static str {
    match channel {
        "webhook" => "webhook",
        "operator" => "operator",
        _ => "api",
    }
}
