//! The data export (the right of access and portability): one JSON document with everything
//! held about a creator, written as a stream of chunks page by page, so a long history never
//! sits in memory whole. Its shape is a published contract, versioned by `schema_version`
//! and described by `docs/schemas/creator-export-v1.json`; the types below are that shape.
//! Platform tokens are never exported (they are the platform's secrets, not the creator's
//! data); that they are held is.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::domain::{
    AccountId, ConsentEvent, ConsentState, Content, ContentId, Creator, CreatorId, Post, PostId,
    SocialAccount,
};
use crate::store::{ContentCursor, PostCursor, Store, StoreError};

pub const EXPORT_SCHEMA_VERSION: u32 = 1;
/// Rows read per page.
const PAGE: u32 = 200;
/// Bytes gathered before a chunk is handed on.
const CHUNK: usize = 64 * 1024;

/// The whole document (what the stream spells out, in this order).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreatorExport {
    pub schema_version: u32,
    pub exported_at: DateTime<Utc>,
    pub creator: ExportedCreator,
    pub consent_ledger: Vec<ExportedConsentEvent>,
    #[serde(default)]
    pub profile_corrections: Vec<ExportedCorrection>,
    pub contents: Vec<ExportedContent>,
    pub social_accounts: Vec<ExportedAccount>,
    pub posts: Vec<ExportedPost>,
    pub disputes: Vec<ExportedDispute>,
    pub statements: Vec<ExportedStatementLine>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportedCreator {
    pub id: CreatorId,
    /// The identity provider's user id.
    pub user_id: String,
    pub display_name: Option<String>,
    pub birth_year: Option<i32>,
    pub created_at: DateTime<Utc>,
    pub tracking_consent: String,
    pub consent_changed_at: DateTime<Utc>,
    /// "active", or "restricted" while consent is revoked: the data is kept (and exported)
    /// but nothing is processed.
    pub processing: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportedConsentEvent {
    pub kind: String,
    pub policy_version: String,
    pub channel: String,
    pub actor: String,
    pub occurred_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportedCorrection {
    pub fields: Vec<String>,
    pub channel: String,
    pub actor: String,
    pub occurred_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportedContent {
    pub id: ContentId,
    /// The watermark payload, 16 hex digits.
    pub payload: String,
    pub media_kind: String,
    pub width: u32,
    pub height: u32,
    pub sha256: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportedAccount {
    pub id: AccountId,
    pub platform: String,
    pub handle: String,
    pub proof_code: Option<String>,
    pub proven_at: Option<DateTime<Utc>>,
    pub oauth_tokens_held: bool,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportedPost {
    pub id: PostId,
    pub social_account_id: AccountId,
    pub platform: String,
    pub platform_post_id: String,
    pub url: String,
    pub content_id: Option<ContentId>,
    /// `registered` or `discovered`.
    pub source: String,
    pub status: String,
    pub status_reason: Option<String>,
    pub verified_at: Option<DateTime<Utc>>,
    pub evidence_media_sha256: Option<String>,
    pub evidence_score: Option<f64>,
    pub last_polled_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub snapshots: Vec<ExportedSnapshot>,
    /// Fraud flags raised on the post, cleared ones included.
    pub flags: Vec<ExportedFlag>,
    /// What each statement paid (or clawed back) on the post.
    pub payments: Vec<ExportedPayment>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportedFlag {
    pub kind: String,
    pub detail: String,
    pub raised_at: DateTime<Utc>,
    pub cleared_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportedPayment {
    pub statement_id: String,
    pub line_kind: String,
    pub views: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportedSnapshot {
    pub observed_at: DateTime<Utc>,
    pub views: u64,
    /// The first snapshot after consent was (re)granted: views before it are not counted.
    pub baseline: bool,
    /// What the platform reported beside the views; null where it does not give a count.
    pub likes: Option<u64>,
    pub comments: Option<u64>,
    pub shares: Option<u64>,
}

/// A dispute the creator opened, with the admin's answer once given.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportedDispute {
    pub id: uuid::Uuid,
    pub post_id: PostId,
    pub note: String,
    pub opened_at: DateTime<Utc>,
    /// `upheld` or `rejected`, once resolved.
    pub outcome: Option<String>,
    pub answer: Option<String>,
    pub resolved_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportedStatementLine {
    pub statement_id: String,
    pub period_start: DateTime<Utc>,
    pub period_end: DateTime<Utc>,
    pub line_kind: String,
    pub views: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the reader went away")]
    Closed,
}

/// Writes the creator's export to `sink` as chunks of JSON text; the chunks joined are one
/// [`CreatorExport`] document.
pub async fn write_export(
    store: &dyn Store,
    creator: &Creator,
    now: DateTime<Utc>,
    sink: &mpsc::Sender<Vec<u8>>,
) -> Result<(), ExportError> {
    let mut out = Chunks { buffer: Vec::with_capacity(CHUNK), sink };
    out.raw(format!("{{\"schema_version\":{EXPORT_SCHEMA_VERSION},\"exported_at\":")).await?;
    out.value(&now).await?;
    out.raw(",\"creator\":").await?;
    out.value(&exported_creator(creator)).await?;

    out.raw(",\"consent_ledger\":").await?;
    let ledger: Vec<_> = store.consent_ledger(creator.id).await?.iter().map(exported_event).collect();
    out.value(&ledger).await?;

    out.raw(",\"profile_corrections\":").await?;
    let corrections: Vec<_> = store
        .profile_corrections(creator.id)
        .await?
        .into_iter()
        .map(|c| ExportedCorrection {
            fields: c.fields,
            channel: c.channel,
            actor: c.actor,
            occurred_at: c.occurred_at,
        })
        .collect();
    out.value(&corrections).await?;

    out.raw(",\"contents\":[").await?;
    let mut first = true;
    let mut cursor = None;
    loop {
        let page = store.contents_for_creator(creator.id, cursor, PAGE).await?;
        for content in &page {
            out.item(&mut first, &exported_content(content)).await?;
        }
        match page.last() {
            Some(last) if page.len() == PAGE as usize => {
                cursor = Some(ContentCursor { created_at: last.created_at, id: last.id })
            }
            _ => break,
        }
    }

    out.raw("],\"social_accounts\":").await?;
    let accounts: Vec<_> =
        store.social_accounts_for_creator(creator.id).await?.iter().map(exported_account).collect();
    out.value(&accounts).await?;

    out.raw(",\"posts\":[").await?;
    let mut first = true;
    let mut cursor = None;
    loop {
        let page = store.posts_for_creator(creator.id, cursor, PAGE).await?;
        for post in &page {
            let snapshots = store.snapshots_for_post(post.id).await?;
            let snapshots = snapshots
                .iter()
                .map(|s| ExportedSnapshot {
                    observed_at: s.observed_at,
                    views: s.views,
                    baseline: s.baseline,
                    likes: s.engagement.likes,
                    comments: s.engagement.comments,
                    shares: s.engagement.shares,
                })
                .collect();
            let flags = store.flags_for_post(post.id).await?;
            let flags = flags
                .iter()
                .map(|f| ExportedFlag {
                    kind: f.kind.as_str().to_owned(),
                    detail: f.detail.clone(),
                    raised_at: f.raised_at,
                    cleared_at: f.cleared_at,
                })
                .collect();
            let payments = store.payments_for_post(post.id).await?;
            let payments = payments
                .into_iter()
                .map(|p| ExportedPayment {
                    statement_id: p.statement_id,
                    line_kind: p.line_kind,
                    views: p.views,
                })
                .collect();
            out.item(&mut first, &exported_post(post, snapshots, flags, payments)).await?;
        }
        match page.last() {
            Some(last) if page.len() == PAGE as usize => {
                cursor = Some(PostCursor { created_at: last.created_at, id: last.id })
            }
            _ => break,
        }
    }

    out.raw("],\"disputes\":").await?;
    let disputes: Vec<_> = store
        .disputes_for_creator(creator.id)
        .await?
        .into_iter()
        .map(|d| ExportedDispute {
            id: d.id,
            post_id: d.post_id,
            note: d.note,
            opened_at: d.opened_at,
            outcome: d.outcome.map(|o| o.as_str().to_owned()),
            answer: d.answer,
            resolved_at: d.resolved_at,
        })
        .collect();
    out.value(&disputes).await?;

    out.raw(",\"statements\":").await?;
    let lines: Vec<_> = store
        .statement_lines_for_payee(&creator.id.to_string())
        .await?
        .into_iter()
        .map(|l| ExportedStatementLine {
            statement_id: l.statement_id,
            period_start: l.period_start,
            period_end: l.period_end,
            line_kind: l.line_kind,
            views: l.views,
        })
        .collect();
    out.value(&lines).await?;
    out.raw("}").await?;
    out.flush().await
}

/// Buffers JSON text and hands it on in chunks; waits while the reader is behind.
struct Chunks<'a> {
    buffer: Vec<u8>,
    sink: &'a mpsc::Sender<Vec<u8>>,
}

impl Chunks<'_> {
    async fn raw(&mut self, text: impl AsRef<str>) -> Result<(), ExportError> {
        self.buffer.extend_from_slice(text.as_ref().as_bytes());
        self.maybe_flush().await
    }

    async fn value(&mut self, value: &impl Serialize) -> Result<(), ExportError> {
        serde_json::to_writer(&mut self.buffer, value)
            .map_err(|e| StoreError::Corrupt(format!("cannot serialise the export: {e}")))?;
        self.maybe_flush().await
    }

    async fn item(&mut self, first: &mut bool, value: &impl Serialize) -> Result<(), ExportError> {
        if !std::mem::take(first) {
            self.buffer.push(b',');
        }
        self.value(value).await
    }

    async fn maybe_flush(&mut self) -> Result<(), ExportError> {
        if self.buffer.len() >= CHUNK {
            self.flush().await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), ExportError> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buffer, Vec::with_capacity(CHUNK));
        self.sink.send(chunk).await.map_err(|_| ExportError::Closed)
    }
}

fn exported_creator(c: &Creator) -> ExportedCreator {
    let restricted = c.consent == ConsentState::Revoked;
    ExportedCreator {
        id: c.id,
        user_id: c.user_id.clone(),
        display_name: c.display_name.clone(),
        birth_year: c.birth_year,
        created_at: c.created_at,
        tracking_consent: c.consent.as_str().to_owned(),
        consent_changed_at: c.consent_changed_at,
        processing: if restricted { "restricted" } else { "active" }.to_owned(),
    }
}

fn exported_event(e: &ConsentEvent) -> ExportedConsentEvent {
    ExportedConsentEvent {
        kind: if e.kind == ConsentState::Granted { "grant" } else { "revoke" }.to_owned(),
        policy_version: e.policy_version.clone(),
        channel: e.channel.clone(),
        actor: e.actor.clone(),
        occurred_at: e.occurred_at,
    }
}

fn exported_content(c: &Content) -> ExportedContent {
    ExportedContent {
        id: c.id,
        payload: format!("{:016x}", c.payload),
        media_kind: c.media_kind.as_str().to_owned(),
        width: c.width,
        height: c.height,
        sha256: c.sha256.clone(),
        created_at: c.created_at,
    }
}

fn exported_account(a: &SocialAccount) -> ExportedAccount {
    ExportedAccount {
        id: a.id,
        platform: a.platform.as_str().to_owned(),
        handle: a.handle.clone(),
        proof_code: a.proof_code.clone(),
        proven_at: a.proven_at,
        oauth_tokens_held: a.has_oauth_token,
        created_at: a.created_at,
    }
}

fn exported_post(
    p: &Post,
    snapshots: Vec<ExportedSnapshot>,
    flags: Vec<ExportedFlag>,
    payments: Vec<ExportedPayment>,
) -> ExportedPost {
    let evidence = p.evidence.as_ref();
    ExportedPost {
        id: p.id,
        social_account_id: p.social_account_id,
        platform: p.platform.as_str().to_owned(),
        platform_post_id: p.platform_post_id.clone(),
        url: p.url.clone(),
        content_id: p.content_id,
        source: p.source.as_str().to_owned(),
        status: p.status.as_str().to_owned(),
        status_reason: p.status_reason.clone(),
        verified_at: evidence.map(|e| e.verified_at),
        evidence_media_sha256: evidence.map(|e| e.media_sha256.clone()),
        evidence_score: evidence.map(|e| e.score),
        last_polled_at: p.last_polled_at,
        created_at: p.created_at,
        snapshots,
        flags,
        payments,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn chunks_join_into_the_text_written() {
        let (tx, mut rx) = mpsc::channel(4);
        let writer = tokio::spawn(async move {
            let mut out = Chunks { buffer: Vec::new(), sink: &tx };
            out.raw("[").await.unwrap();
            let mut first = true;
            for i in 0..20_000u32 {
                out.item(&mut first, &i).await.unwrap();
            }
            out.raw("]").await.unwrap();
            out.flush().await.unwrap();
        });
        let mut joined = Vec::new();
        let mut chunks = 0;
        while let Some(chunk) = rx.recv().await {
            assert!(chunk.len() <= CHUNK + 16);
            joined.extend(chunk);
            chunks += 1;
        }
        writer.await.unwrap();
        let parsed: Vec<u32> = serde_json::from_slice(&joined).unwrap();
        assert_eq!(parsed, (0..20_000).collect::<Vec<_>>());
        assert!(chunks > 1, "written in several chunks");
    }
}
