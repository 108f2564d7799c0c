//! How a poll ends: what the platform said and what the check found become one
//! completion (status, views, evidence, flags, the next poll), committed in the transaction
//! that re-checks consent.

use std::time::Duration;

use chrono::Utc;

use super::verify::Verdict;
use super::Poller;
use crate::domain::{Engagement, FlagKind, Platform, Post, PostId, PostStatus, Timestamp};
use crate::platforms::{Observation, PostState};
use crate::store::{LeasedPost, PollCommit, PollCompletion, StoreError};

impl Poller {
    fn completion(&self, leased: &LeasedPost, since: Timestamp, now: Timestamp) -> PollCompletion {
        PollCompletion {
            post_id: leased.post.id,
            creator_id: leased.post.creator_id,
            worker: self.worker_id.clone(),
            slot: leased.slot,
            consent_since: since,
            observed_at: now,
            views: None,
            engagement: Engagement::default(),
            status: leased.post.status,
            status_reason: None,
            next_poll_at: self.settings.next_poll(leased.post.created_at, now),
            failures: 0,
            evidence: None,
            content_id: None,
            flags: vec![],
        }
    }

    /// A poll that learnt nothing about the post: try again later.
    pub(super) async fn fail(
        &self,
        leased: &LeasedPost,
        since: Timestamp,
        reason: String,
        retry_after: Option<Duration>,
    ) -> Result<(), StoreError> {
        let now = Utc::now();
        let mut done = self.completion(leased, since, now);
        done.status_reason = Some(reason);
        let outcome = if retry_after.is_some() { "throttled" } else { "failed" };
        match retry_after {
            // The platform asked us to wait: not the post's fault.
            Some(wait) => {
                done.failures = leased.post.failures;
                done.next_poll_at =
                    now + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::hours(1));
            }
            None => {
                done.failures = leased.post.failures.saturating_add(1);
                done.next_poll_at = self.settings.next_retry(done.failures, now);
            }
        }
        self.commit(&done, leased.post.platform, outcome).await
    }

    pub(super) async fn settle(
        &self,
        leased: &LeasedPost,
        since: Timestamp,
        seen: &Observation,
    ) -> Result<(), StoreError> {
        let now = Utc::now();
        let post = &leased.post;
        let mut done = self.completion(leased, since, now);
        match seen.state {
            PostState::Removed => {
                done.status = PostStatus::Removed;
                done.status_reason = Some("removed from the platform".into());
            }
            PostState::Private => {
                return self.fail(leased, since, "the post is not public".into(), None).await
            }
            PostState::Live => {
                let reverify = chrono::Duration::seconds(self.settings.reverify_after_secs as i64);
                let check_due = post.status == PostStatus::Pending
                    || post.evidence.as_ref().is_none_or(|e| now - e.verified_at > reverify);
                if check_due {
                    let gate = self
                        .gate(vec![(post.creator_id, since)])
                        .covering([post.social_account_id])
                        .covering_posts([post.id]);
                    match self.verifier.check(&gate, post, &leased.account, seen).await {
                        Verdict::Verified { evidence, content_id } => {
                            done.status = PostStatus::Verified;
                            done.evidence = Some(evidence);
                            done.content_id = Some(content_id);
                            done.views = seen.views;
                        }
                        Verdict::Rejected(reason) => {
                            done.status = PostStatus::Unverified;
                            done.status_reason = Some(reason);
                        }
                        Verdict::NotYet(reason) => self.not_yet(&mut done, post, reason, now),
                        Verdict::Review { content_id, evidence, reason } => {
                            let flags = self.store.flags_for_post(post.id).await?;
                            let matched = flags.iter().filter(|f| f.kind == FlagKind::FingerprintMatch);
                            if matched.clone().any(|f| f.cleared_at.is_some()) {
                                // An admin approved the match: it stands while the media match.
                                done.status = PostStatus::Verified;
                                done.evidence = Some(evidence);
                                done.content_id = Some(content_id);
                                done.views = seen.views;
                            } else {
                                self.not_yet(&mut done, post, reason.clone(), now);
                                if done.status == PostStatus::Unverified {
                                    done.content_id = Some(content_id);
                                    if matched.count() == 0 {
                                        done.flags.push((FlagKind::FingerprintMatch, reason));
                                    }
                                }
                            }
                        }
                    }
                } else {
                    done.views = seen.views;
                }
                if done.status_reason.is_none() && done.views.is_none() {
                    done.status_reason.clone_from(&seen.views_withheld);
                }
            }
        }
        done.engagement = seen.engagement;
        let outcome = match done.status {
            PostStatus::Verified => "verified",
            PostStatus::Unverified => "unverified",
            PostStatus::Removed => "removed",
            PostStatus::Pending | PostStatus::Stopped => "pending",
        };
        if let Some(views) = done.views {
            use crate::payouts::fraud;
            let latest = self.store.latest_snapshot(post.id).await?.map(|s| (s.observed_at, s.views));
            // The account's history is an aggregate over all its snapshots: read only when the
            // gain is fast enough for it to decide anything.
            let account_views_per_hour = match fraud::needs_history(latest, now, views, &self.fraud) {
                true => self.store.account_views_per_hour(post.id).await?,
                false => None,
            };
            let context = crate::domain::VelocityContext { latest, account_views_per_hour };
            done.flags = fraud::assess(&context, now, views, &self.fraud);
            done.flags.extend(self.engagement_flag(post.id, views, seen.engagement).await?);
            done.next_poll_at =
                self.settings.next_poll_gaining(post.created_at, now, gain_per_hour(latest, now, views));
        }
        self.commit(&done, post.platform, outcome).await
    }

    /// The engagement flag, raised once per post: a post flagged for it before, cleared or
    /// not, is not held against its account again. The account's history is read only when
    /// the snapshot could raise it.
    async fn engagement_flag(
        &self,
        post_id: PostId,
        views: u64,
        engagement: Engagement,
    ) -> Result<Option<(FlagKind, String)>, StoreError> {
        use crate::payouts::fraud;
        if !fraud::engagement_matters(views, engagement, &self.fraud)
            || self.store.flags_for_post(post_id).await?.iter().any(|f| f.kind == FlagKind::EngagementGap)
        {
            return Ok(None);
        }
        let history = self.store.account_engagement(post_id).await?;
        Ok(fraud::assess_engagement(views, engagement, &history, &self.fraud))
    }

    /// A check that proved nothing this time: retried until the attempts run out.
    fn not_yet(&self, done: &mut PollCompletion, post: &Post, reason: String, now: Timestamp) {
        done.failures = post.failures.saturating_add(1);
        if done.failures >= self.settings.max_verify_attempts {
            done.status = PostStatus::Unverified;
        } else {
            done.next_poll_at = self.settings.next_retry(done.failures, now);
        }
        done.status_reason = Some(reason);
    }

    async fn commit(
        &self,
        done: &PollCompletion,
        platform: Platform,
        outcome: &'static str,
    ) -> Result<(), StoreError> {
        let committed = self.store.complete_poll(done).await?;
        let label = match committed {
            PollCommit::Stored(_) => outcome,
            PollCommit::ConsentEnded => "consent_ended",
            PollCommit::LeaseLost => "lease_lost",
        };
        metrics::counter!("viewmark_polls_total", "platform" => platform.as_str(), "outcome" => label)
            .increment(1);
        match committed {
            PollCommit::Stored(_) => {
                tracing::debug!(post_id = %done.post_id, status = done.status.as_str(), "poll stored");
            }
            PollCommit::ConsentEnded => {
                tracing::info!(post_id = %done.post_id, "consent changed during the poll: nothing stored");
            }
            PollCommit::LeaseLost => tracing::warn!(post_id = %done.post_id, "lease lost: nothing stored"),
        }
        Ok(())
    }
}

/// Views gained per hour since the previous snapshot, when there is one at least a second old.
fn gain_per_hour(latest: Option<(Timestamp, u64)>, now: Timestamp, views: u64) -> Option<f64> {
    let (at, before) = latest?;
    let hours = (now - at).num_milliseconds() as f64 / 3_600_000.0;
    (hours >= 1.0 / 3600.0).then(|| views.saturating_sub(before) as f64 / hours)
}
