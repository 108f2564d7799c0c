//! What a poll that counted writes, inside the transaction that checked its lease and
//! consent: the view snapshot (once per slot), the flags raised with it, the post's new
//! state and evidence, and the post's recount in the day totals.

use sqlx::{Any, Transaction};
use uuid::Uuid;

use super::columns::to_ms;
use super::{PollCompletion, SnapshotWrite, StoreError, StoreResult};
use crate::domain::{EventType, OutboxEvent, PostStatus};

/// Writes `done` for the post `post_id`; says whether a snapshot was written.
pub(super) async fn write(
    tx: &mut Transaction<'static, Any>,
    post_id: &str,
    done: &PollCompletion,
) -> StoreResult<Option<SnapshotWrite>> {
    let mut snapshot = None;
    if let Some(views) = done.views {
        let views =
            i64::try_from(views).map_err(|_| StoreError::Corrupt("view count out of range".into()))?;
        // The first snapshot since consent was (re)granted starts a counting run.
        let since_grant =
            sqlx::query("SELECT COUNT(*) AS n FROM view_snapshots WHERE post_id = $1 AND observed_at >= $2")
                .bind(post_id)
                .bind(to_ms(done.consent_since))
                .fetch_one(&mut **tx)
                .await?;
        let baseline = i64::from(sqlx::Row::try_get::<i64, _>(&since_grant, "n")? == 0);
        let count = |n: Option<u64>| n.map(|n| i64::try_from(n).unwrap_or(i64::MAX));
        let engagement = done.engagement;
        let written = sqlx::query(
            "INSERT INTO view_snapshots (post_id, poll_slot, observed_at, views, baseline, likes, comments, shares) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (post_id, poll_slot) DO NOTHING",
        )
        .bind(post_id)
        .bind(done.slot)
        .bind(to_ms(done.observed_at))
        .bind(views)
        .bind(baseline)
        .bind(count(engagement.likes))
        .bind(count(engagement.comments))
        .bind(count(engagement.shares))
        .execute(&mut **tx)
        .await?;
        snapshot = Some(if written.rows_affected() == 1 {
            SnapshotWrite::Inserted
        } else {
            SnapshotWrite::AlreadyRecorded
        });
    }
    // A snapshot's flags are raised once, with the snapshot; a check's (no views) with it.
    let raises_flags =
        (snapshot.is_none() || snapshot == Some(SnapshotWrite::Inserted)) && !done.flags.is_empty();
    if raises_flags {
        for (kind, detail) in &done.flags {
            let flag_id = Uuid::new_v4();
            sqlx::query(super::flags::INSERT_FLAG)
                .bind(flag_id.to_string())
                .bind(post_id)
                .bind(kind.as_str())
                .bind(detail)
                .bind(to_ms(done.observed_at))
                .execute(&mut **tx)
                .await?;
            let data = serde_json::json!({
                "flag_id": flag_id, "post_id": done.post_id, "creator_id": done.creator_id, "kind": kind.as_str(),
            });
            let event =
                OutboxEvent::new(EventType::FlagRaised, Some(done.creator_id), data, done.observed_at);
            super::outbox::enqueue(tx, &event).await?;
        }
    }
    let before =
        sqlx::query("SELECT status FROM posts WHERE id = $1").bind(post_id).fetch_one(&mut **tx).await?;
    let status_before: String = sqlx::Row::try_get(&before, "status")?;
    let was_verified = status_before == PostStatus::Verified.as_str();
    let evidence = done.evidence.as_ref();
    sqlx::query(
        "UPDATE posts SET status = $2, status_reason = $3, next_poll_at = $4, failures = $5, last_polled_at = $6, \
           verified_at = COALESCE($7, verified_at), evidence_media_sha256 = COALESCE($8, evidence_media_sha256), \
           evidence_score = CASE WHEN $7 IS NULL THEN evidence_score ELSE $9 END, content_id = COALESCE(content_id, $10), \
           lease_owner = NULL, lease_expires_at = NULL \
         WHERE id = $1",
    )
    .bind(post_id)
    .bind(done.status.as_str())
    .bind(done.status_reason.clone())
    .bind(to_ms(done.next_poll_at))
    .bind(i64::from(done.failures))
    .bind(to_ms(done.observed_at))
    .bind(evidence.map(|e| to_ms(e.verified_at)))
    .bind(evidence.map(|e| e.media_sha256.clone()))
    // Never a NULL float: sqlx's Any driver binds a missing f64 as a PostgreSQL float4, and
    // the statement prepared with it then refuses the next call's f64.
    .bind(evidence.map_or(0.0, |e| e.score))
    .bind(done.content_id.map(|c| c.to_string()))
    .execute(&mut **tx)
    .await?;
    // Only a new snapshot, a new flag or a new status can move the post's gains.
    if snapshot == Some(SnapshotWrite::Inserted) || raises_flags || status_before != done.status.as_str() {
        super::rollup::recount_post(tx, post_id).await?;
    }
    let is_verified = done.status == PostStatus::Verified;
    if was_verified != is_verified {
        let event_type = if is_verified { EventType::PostVerified } else { EventType::PostUnverified };
        let data = serde_json::json!({
            "post_id": done.post_id, "creator_id": done.creator_id, "status": done.status.as_str(),
        });
        let event = OutboxEvent::new(event_type, Some(done.creator_id), data, done.observed_at);
        super::outbox::enqueue(tx, &event).await?;
    }
    Ok(snapshot)
}
