//! Registering a post for tracking: the post's URL names the platform and the post; the post
//! is tracked under one of the creator's proven accounts on that platform; the content it
//! carries, if named, must be the creator's own. A post another creator registered first is
//! refused, and raises a fraud flag on that post once (one of the two claims is false).

use chrono::Utc;

use crate::domain::{AccountId, ContentId, Creator, CreatorId, FlagKind, Post};
use crate::platforms::urls::parse_post_url;
use crate::store::{NewPost, Store, StoreError};

/// What a creator asks to register.
#[derive(Debug, Clone)]
pub struct Registration {
    /// The post's address as copied from the platform.
    pub url: String,
    /// The enrolled content the post carries, if the creator names it.
    pub content_id: Option<ContentId>,
    /// Which of the creator's proven accounts posted it (needed only with several proven
    /// accounts on that platform).
    pub social_account_id: Option<AccountId>,
}

/// Why a post was not registered.
#[derive(Debug, thiserror::Error)]
pub enum RegistrationError {
    #[error("{0}")]
    BadUrl(String),
    #[error("no such social account of yours")]
    UnknownAccount,
    #[error("no proven account of yours on that platform: link it and prove it first")]
    Unproven,
    #[error("several proven accounts on that platform: name one with social_account_id")]
    AmbiguousAccount,
    #[error("no such content of yours")]
    UnknownContent,
    #[error("that post is already registered")]
    Taken,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Registers the post for the creator (whose consent the caller has checked).
pub async fn register_post(
    store: &dyn Store,
    creator: &Creator,
    request: &Registration,
) -> Result<Post, RegistrationError> {
    let post_ref = parse_post_url(&request.url).map_err(|e| RegistrationError::BadUrl(e.to_string()))?;
    let accounts = store.social_accounts_for_creator(creator.id).await?;
    let proven: Vec<_> =
        accounts.iter().filter(|a| a.platform == post_ref.platform && a.proven_at.is_some()).collect();
    let account = match request.social_account_id {
        Some(id) => {
            let named = accounts.iter().find(|a| a.id == id).ok_or(RegistrationError::UnknownAccount)?;
            if named.platform != post_ref.platform || named.proven_at.is_none() {
                return Err(RegistrationError::Unproven);
            }
            named
        }
        None => match proven.as_slice() {
            [] => return Err(RegistrationError::Unproven),
            [only] => *only,
            _ => return Err(RegistrationError::AmbiguousAccount),
        },
    };
    if let Some(content_id) = request.content_id {
        let content = store.content(content_id).await?;
        if content.is_none_or(|c| c.creator_id != creator.id) {
            return Err(RegistrationError::UnknownContent);
        }
    }
    let new = NewPost {
        creator_id: creator.id,
        social_account_id: account.id,
        platform: post_ref.platform,
        platform_post_id: post_ref.post_id.clone(),
        url: post_ref.canonical_url(),
        content_id: request.content_id,
        at: Utc::now(),
    };
    let post = match store.insert_post(&new).await {
        Ok(post) => post,
        Err(StoreError::Conflict(_)) => {
            claimed_again(store, &new, creator.id).await?;
            return Err(RegistrationError::Taken);
        }
        Err(other) => return Err(other.into()),
    };
    tracing::info!(creator_id = %creator.id, post_id = %post.id, platform = post.platform.as_str(), "post registered");
    Ok(post)
}

/// A post another creator registered first: a fraud signal on that post (one of the two
/// claims is false), which holds it out of statements until an admin looks. Raised once:
/// repeating the claim, or repeating it after an admin cleared the flag, changes nothing,
/// so nobody can hold another creator's post out of statements by claiming it again.
async fn claimed_again(store: &dyn Store, new: &NewPost, claimant: CreatorId) -> Result<(), StoreError> {
    let Some(existing) = store.post_id_by_ref(new.platform, &new.platform_post_id).await? else {
        return Ok(());
    };
    let owner = store.post(existing).await?.map(|p| p.creator_id);
    let raised_before =
        store.flags_for_post(existing).await?.iter().any(|f| f.kind == FlagKind::ClaimedTwice);
    if owner.is_some_and(|owner| owner != claimant) && !raised_before {
        let detail = "registered by a second creator";
        let flag = store.flag_post(existing, FlagKind::ClaimedTwice, detail, Utc::now()).await?;
        tracing::warn!(post_id = %existing, flag_id = %flag.id, "post claimed by a second creator: flagged");
    }
    Ok(())
}
