//! Storage: one interface, two backends (SQLite, the embedded default, and PostgreSQL for
//! several replicas), chosen by the URL scheme. Nothing outside this module sees SQL.
//!
//! Both backends share one query layer over sqlx's `Any` driver: ids are text UUIDs and times
//! are UTC Unix milliseconds in both schemas, and every query uses `$n` placeholders, which
//! both engines accept. What differs (connection set-up, migrations, and later row locking)
//! lives in `sqlite.rs` and `postgres.rs`.

mod account_keys;
mod backend;
mod columns;
mod content_deletion;
mod creators;
mod discovery;
mod disputes;
mod erasure;
mod flags;
mod history;
mod keystore;
mod models;
mod oauth_links;
mod outbox;
mod payouts;
mod policy;
mod poll_result;
mod polling;
mod postgres;
mod profile;
mod reseal;
mod retention;
mod rollup;
mod sealed;
pub mod sealing;
mod service_tokens;
mod sqlite;
mod tracking;
mod tracking_rows;
mod webhook_endpoints;

use std::time::Duration;

use async_trait::async_trait;
use uuid::Uuid;

use crate::domain::{
    AccountId, Clawback, ConsentEvent, Content, ContentId, Creator, CreatorId, CreatorViews, ErasureReceipt,
    ErasureTrigger, Platform, Post, PostGains, PostId, PostPayment, PostViews, ServiceToken, SocialAccount,
    Statement, StatementDraft, StatementLine, Timestamp, ViewSnapshot,
};

pub use backend::{connect, SqlStore};
pub use columns::Backend;
pub use content_deletion::{ContentDeletionRepo, CONTENT_DELETED};
pub use discovery::DiscoveryRepo;
pub use disputes::{DisputeRepo, Resolution};
pub use flags::FlagRepo;
pub use history::AccountHistoryRepo;
pub use keystore::{KeyStore, MasterKey, MasterKeys};
pub use models::*;
pub use oauth_links::OAuthLinkRepo;
pub use outbox::{AttemptRecord, DeliveryRecord, LeasedDelivery, OutboxRepo};
pub use policy::PolicyRepo;
pub use profile::{ProfileChange, ProfileRepo};
pub use retention::{RetentionCutoffs, RetentionRepo, SweepReceipt};
pub use sealed::{DataKey, SealedColumn};
pub use sqlite::{claim_sole_process, SoleProcess};
pub use webhook_endpoints::{EndpointWithSecret, WebhookEndpointRepo};

/// Errors the storage layer reports; callers map them to responses.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("unsupported database URL (expected sqlite://... or postgres://...)")]
    UnsupportedUrl,
    #[error("cannot reach the database: {0}")]
    Unreachable(String),
    #[error("database migration failed: {0}")]
    Migration(String),
    /// A uniqueness constraint refused the write (e.g. a payload or a post already taken).
    #[error("conflict: {0}")]
    Conflict(String),
    /// A referenced row does not exist (a foreign key refused the write).
    #[error("missing referenced row: {0}")]
    MissingReference(String),
    #[error("not found")]
    NotFound,
    /// The creator's data key is gone (erased, or an erasure is completing) or was sealed
    /// under a master key not configured: their personal fields cannot be read.
    #[error("the data key for these fields is not available")]
    KeyUnavailable,
    /// The key store cannot be used as configured.
    #[error("key store: {0}")]
    Keys(String),
    #[error("stored data is inconsistent: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &err {
            // SQLite reports constraint failures as extended codes 1555/2067 (unique) and
            // 787 (foreign key); PostgreSQL as SQLSTATE 23505 and 23503.
            match db.code().as_deref() {
                Some("23505") | Some("2067") | Some("1555") => {
                    return StoreError::Conflict(db.message().to_owned())
                }
                Some("23503") | Some("787") => return StoreError::MissingReference(db.message().to_owned()),
                _ => {}
            }
        }
        match err {
            sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) => StoreError::Unreachable(err.to_string()),
            other => StoreError::Database(other),
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Health of the store itself.
#[async_trait]
pub trait Health: Send + Sync {
    fn backend(&self) -> Backend;
    /// Round-trips a trivial query.
    async fn ping(&self) -> StoreResult<()>;
    /// Migrations known to this binary but not applied to the database.
    async fn pending_migrations(&self) -> StoreResult<usize>;
    /// Closes every connection; later calls fail as if the database were gone.
    async fn close(&self);
}

/// Creators and their append-only consent ledger.
#[async_trait]
pub trait CreatorRepo: Send + Sync {
    /// Creates the creator with consent granted, the ledger's first event, in one transaction.
    async fn create_creator(&self, new: &NewCreator) -> StoreResult<Creator>;
    async fn creator_by_user_id(&self, user_id: &str) -> StoreResult<Option<Creator>>;
    /// The creator's id alone: readable even when their data key is already destroyed (an
    /// erasure interrupted after that step), so the erasure can be completed.
    async fn creator_id_by_user_id(&self, user_id: &str) -> StoreResult<Option<CreatorId>>;
    async fn creator(&self, id: CreatorId) -> StoreResult<Option<Creator>>;
    /// Remembers that `user_id` was refused as under the minimum age, until `until` (a later
    /// refusal extends it, never shortens it).
    async fn record_age_refusal(&self, user_id: &str, until: Timestamp, at: Timestamp) -> StoreResult<()>;
    /// Until when `user_id` stays refused, if they were refused as under age.
    async fn age_refused_until(&self, user_id: &str) -> StoreResult<Option<Timestamp>>;
    /// Forgets an age refusal (the identity provider deleted the user); true if there was one.
    async fn forget_age_refusal(&self, user_id: &str) -> StoreResult<bool>;
    /// Appends a grant or revoke event and updates the current state in one transaction.
    async fn record_consent(
        &self,
        creator_id: CreatorId,
        change: &ConsentChange,
    ) -> StoreResult<ConsentEvent>;
    /// The ledger, oldest first.
    async fn consent_ledger(&self, creator_id: CreatorId) -> StoreResult<Vec<ConsentEvent>>;
    /// Enrolled content; the payload must be unique across the store.
    async fn insert_content(&self, new: &NewContent) -> StoreResult<Content>;
    async fn content_by_payload(&self, payload: u64) -> StoreResult<Option<Content>>;
    /// The references kept of a content, opened (`None` if none were kept).
    async fn content_references(&self, content: &Content) -> StoreResult<Option<Vec<u8>>>;
    /// What is kept of a creator's contents (`media::kept` bytes), opened, newest first, at
    /// most `limit`; contents without any are left out.
    async fn kept_of_creator(
        &self,
        creator_id: CreatorId,
        limit: u32,
    ) -> StoreResult<Vec<(ContentId, Vec<u8>)>>;
    async fn content(&self, id: ContentId) -> StoreResult<Option<Content>>;
    /// A creator's contents, oldest first, after the cursor, at most `limit`.
    async fn contents_for_creator(
        &self,
        creator_id: CreatorId,
        after: Option<ContentCursor>,
        limit: u32,
    ) -> StoreResult<Vec<Content>>;
}

/// Social accounts, posts and their view snapshots.
#[async_trait]
pub trait TrackingRepo: Send + Sync {
    /// Links an account, unproven: `Conflict` only if this creator has linked it already
    /// (an unproven link claims nothing, so others' links never conflict).
    async fn insert_social_account(&self, new: &NewSocialAccount) -> StoreResult<SocialAccount>;
    /// Removes unproven links made before `before`; returns how many.
    async fn expire_unproven_accounts(&self, before: Timestamp) -> StoreResult<u64>;
    /// A creator's linked accounts, oldest first.
    async fn social_accounts_for_creator(&self, creator_id: CreatorId) -> StoreResult<Vec<SocialAccount>>;
    /// Unlinks an account: destroys its key first (its handle and tokens are then unreadable
    /// in every copy), then, in one transaction, empties the row of them and of its claims
    /// (the handle can be linked again) and stops its posts, which stay with their snapshots.
    /// Returns how many posts were stopped; `None` if there is no such linked account.
    async fn unlink_account(&self, id: AccountId, at: Timestamp) -> StoreResult<Option<u64>>;
    async fn insert_post(&self, new: &NewPost) -> StoreResult<Post>;
    /// Stores a snapshot unless one exists for that post and poll slot (a retried poll).
    async fn record_snapshot(&self, new: &NewSnapshot) -> StoreResult<SnapshotWrite>;
    /// Snapshots of a post, in poll-slot order.
    async fn snapshots_for_post(&self, post_id: PostId) -> StoreResult<Vec<ViewSnapshot>>;
    async fn social_account(&self, id: AccountId) -> StoreResult<Option<SocialAccount>>;
    /// The account's platform tokens (serialised), if any.
    async fn oauth_token(&self, id: AccountId) -> StoreResult<Option<Vec<u8>>>;
    /// Records that the proof code was found in the account's profile (first time only).
    /// The account becomes its creator's, alone: `Conflict` if another creator has proven
    /// it already; other creators' unproven links of it are removed.
    async fn mark_account_proven(&self, id: AccountId, at: Timestamp) -> StoreResult<()>;
    async fn post(&self, id: PostId) -> StoreResult<Option<Post>>;
    /// A creator's posts, oldest first, after the cursor, at most `limit`.
    async fn posts_for_creator(
        &self,
        creator_id: CreatorId,
        after: Option<PostCursor>,
        limit: u32,
    ) -> StoreResult<Vec<Post>>;
    async fn latest_snapshot(&self, post_id: PostId) -> StoreResult<Option<ViewSnapshot>>;
    /// Stops tracking a post (it is never leased again); `None` if there is no such post.
    async fn stop_post(&self, id: PostId) -> StoreResult<Option<Post>>;
}

/// The poller's view of posts: leases, the consent check, and a poll's result.
#[async_trait]
pub trait PollRepo: Send + Sync {
    /// Leases up to `limit` due posts of consenting creators to `worker` for `lease_for`;
    /// posts leased to another worker are skipped until that lease expires.
    async fn lease_due_posts(
        &self,
        worker: &str,
        now: Timestamp,
        lease_for: Duration,
        limit: u32,
    ) -> StoreResult<Vec<LeasedPost>>;
    /// Announces a revocation or erasure about to wait for the requests on their way: until
    /// it commits (or the announcement expires), no new permit is granted for the creator.
    async fn announce_revocation(&self, creator_id: CreatorId) -> StoreResult<()>;
    /// Withdraws the announcement of a revocation or erasure that failed (one that commits
    /// removes its own, in its transaction). A failure to withdraw is logged: the
    /// announcement then expires.
    async fn withdraw_revocation(&self, creator_id: CreatorId);
    /// The creator's consent state now (`None`: no such creator, e.g. erased).
    async fn consent_stamp(&self, creator_id: CreatorId) -> StoreResult<Option<ConsentStamp>>;
    /// Checks that each creator's consent is still the one given (granted, changed at that
    /// time) and that each account is still linked, and, on PostgreSQL, keeps their rows
    /// share-locked until the returned hold is dropped, so a revocation or an unlinking waits
    /// for it; likewise that no post of `posts` was stopped. `Ok(Err(reason))` when consent
    /// has changed, an account is unlinked or a post stopped.
    async fn hold_consent(
        &self,
        creators: &[(CreatorId, Timestamp)],
        accounts: &[AccountId],
        posts: &[PostId],
    ) -> StoreResult<Result<Box<dyn Send>, String>>;
    /// Gives a lease back without recording anything (the poll did not happen).
    async fn release_lease(&self, post_id: PostId, worker: &str) -> StoreResult<()>;
    /// Writes a poll's result in one transaction that first checks the lease is still ours
    /// and consent is still the one the poll started under; otherwise stores nothing.
    async fn complete_poll(&self, done: &PollCompletion) -> StoreResult<PollCommit>;
    /// Replaces an account's platform tokens (after a refresh).
    async fn store_oauth_token(&self, account_id: AccountId, token: &[u8]) -> StoreResult<()>;
}

/// Erasure and the identity provider's deletion webhook.
#[async_trait]
pub trait ErasureRepo: Send + Sync {
    /// Removes everything held about the creator in one transaction and records a receipt;
    /// `None` when there is no such creator (already erased).
    async fn erase_creator(
        &self,
        creator_id: CreatorId,
        trigger: ErasureTrigger,
        at: Timestamp,
    ) -> StoreResult<Option<ErasureReceipt>>;
    async fn erasure_receipt(&self, id: Uuid) -> StoreResult<Option<ErasureReceipt>>;
    /// The payout statement lines issued to a payee (a creator id), oldest statement first;
    /// what the data export lists.
    async fn statement_lines_for_payee(&self, payee_id: &str) -> StoreResult<Vec<StatementLine>>;
    /// Records a webhook delivery id; false when it was seen before (a replay).
    async fn first_delivery(&self, delivery_id: &str, at: Timestamp) -> StoreResult<bool>;
}

/// Payouts: views per period and immutable statements.
#[async_trait]
pub trait PayoutRepo: Send + Sync {
    /// Views gained in `[from, to)` per creator on payable posts, creators after `after` in
    /// id order, at most `limit`.
    async fn period_views(
        &self,
        from: Timestamp,
        to: Timestamp,
        after: Option<CreatorId>,
        limit: u32,
    ) -> StoreResult<Vec<CreatorViews>>;
    /// The same per post, for these creators (all when `None`).
    async fn period_post_views(
        &self,
        from: Timestamp,
        to: Timestamp,
        creators: Option<&[CreatorId]>,
    ) -> StoreResult<Vec<PostViews>>;
    /// The statement issued for exactly `[from, to)`, if any.
    async fn statement_for_period(&self, from: Timestamp, to: Timestamp) -> StoreResult<Option<Statement>>;
    /// Posts paid before (net of earlier clawbacks) that are now removed or flagged.
    async fn clawbacks_due(&self) -> StoreResult<Vec<Clawback>>;
    /// Issues a composed statement with its per-post evidence and clawbacks; or, when one for
    /// the same period exists (a concurrent request issued it first), returns that one. A
    /// period overlapping another statement is a `Conflict`. The boolean says whether this
    /// call issued it.
    async fn insert_statement(&self, draft: &StatementDraft, at: Timestamp)
        -> StoreResult<(Statement, bool)>;
    async fn statement(&self, id: &str) -> StoreResult<Option<Statement>>;
    /// What statements paid (or clawed back) on one post, oldest statement first.
    async fn payments_for_post(&self, post_id: PostId) -> StoreResult<Vec<PostPayment>>;
    /// The post already registered under this platform id, whoever registered it.
    async fn post_id_by_ref(&self, platform: Platform, platform_post_id: &str)
        -> StoreResult<Option<PostId>>;
    /// Views each of these posts gained in `[from, to)`, payable or not, split at the hold
    /// window's `edge`; posts that gained nothing may be left out.
    async fn post_gains(
        &self,
        posts: &[PostId],
        from: Timestamp,
        to: Timestamp,
        edge: Timestamp,
    ) -> StoreResult<Vec<PostGains>>;
    /// Recomputes one post's gains and its share of the day totals from its snapshots, flags
    /// and state: for rows changed by hand (a repair, a test's fixture), since the store's
    /// own writes keep them current.
    async fn recount_post(&self, post_id: PostId) -> StoreResult<()>;
}

/// Service tokens, stored as SHA-256 hashes only.
#[async_trait]
pub trait ServiceTokenRepo: Send + Sync {
    async fn insert_service_token(&self, new: &NewServiceToken) -> StoreResult<ServiceToken>;
    /// The live (not revoked) token with this hash.
    async fn active_service_token(&self, token_hash: &str) -> StoreResult<Option<ServiceToken>>;
    /// Revokes by id; returns whether a live token was revoked.
    async fn revoke_service_token(&self, id: Uuid) -> StoreResult<bool>;
}

/// Everything the service stores, behind one object the rest of the code shares.
pub trait Store:
    Health
    + CreatorRepo
    + TrackingRepo
    + OAuthLinkRepo
    + DiscoveryRepo
    + PollRepo
    + ErasureRepo
    + PayoutRepo
    + FlagRepo
    + AccountHistoryRepo
    + DisputeRepo
    + ServiceTokenRepo
    + OutboxRepo
    + WebhookEndpointRepo
    + ProfileRepo
    + ContentDeletionRepo
    + PolicyRepo
    + RetentionRepo
{
}
impl<
        T: Health
            + CreatorRepo
            + TrackingRepo
            + OAuthLinkRepo
            + DiscoveryRepo
            + PollRepo
            + ErasureRepo
            + PayoutRepo
            + FlagRepo
            + AccountHistoryRepo
            + DisputeRepo
            + ServiceTokenRepo
            + OutboxRepo
            + WebhookEndpointRepo
            + ProfileRepo
            + ContentDeletionRepo
            + PolicyRepo
            + RetentionRepo,
    > Store for T
{
}

/// How to open a store.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    pub max_connections: u32,
    pub connect_timeout: Duration,
    /// Apply pending migrations on connect.
    pub migrate: bool,
    /// Where the creators' data keys live: a database other than the main one.
    pub keystore_url: String,
    pub master_keys: MasterKeys,
}
