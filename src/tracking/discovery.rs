//! Discovery: the posts a creator did not register, found by their watermark. Each proven
//! account of a consenting creator is scanned on its own interval (more often in its first
//! days): its newest posts are listed page by page until a page holds nothing new, each new
//! post's pictures are fetched through the media fetcher and the mark read; a post carrying
//! the creator's own content is tracked (`source: discovered`) and verified by the poller under
//! the same rules as a registered one. A post without it is remembered by a keyed hash of its
//! id only. Every request passes the consent gate; scans are leased to one worker at a time;
//! listing spends at most a bounded share of each credential's budget, so polling is never
//! starved. [`Discoverer::try_execute_task`] is one round.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use governor::{DefaultKeyedRateLimiter, RateLimiter};
use serde::{Deserialize, Serialize};

use super::consent_gate::ConsentGate;
use super::verify::{Carried, Verifier};
use crate::consent::locks::ConsentLocks;
use crate::domain::{AccountId, Platform, Timestamp};
use crate::platforms::client::budget;
use crate::platforms::urls::PostRef;
use crate::platforms::{PlatformError, PlatformSettings, Platforms, UserCredential, UserToken};
use crate::store::{LeasedScan, NewPost, Store, StoreError};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DiscoverySettings {
    pub enabled: bool,
    /// How often an account is scanned...
    pub interval_secs: u64,
    /// ...and how often in its first `young_for_days` after it was proven, when a creator
    /// posts what they have just made.
    pub young_interval_secs: u64,
    pub young_for_days: u64,
    /// Pages of an account's posts listed per scan at most (newest first).
    pub max_pages: u32,
    /// The share of each credential's request budget that listing may spend.
    pub budget_share: f64,
    /// Accounts claimed per round, and for how long.
    pub accounts_per_round: u32,
    pub lease_secs: u64,
}

impl Default for DiscoverySettings {
    fn default() -> Self {
        DiscoverySettings {
            enabled: true,
            interval_secs: 3600,
            young_interval_secs: 15 * 60,
            young_for_days: 3,
            max_pages: 3,
            budget_share: 0.2,
            accounts_per_round: 10,
            lease_secs: 600,
        }
    }
}

/// What one round did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScanRound {
    Idle,
    /// Accounts scanned and posts found carrying their creators' content.
    Scanned {
        accounts: usize,
        found: usize,
    },
}

/// Listing requests per platform and credential: the configured share of its budget.
struct ListingBudget {
    /// Per platform: keyed by account where the budget is the creator token's, else by `None`.
    limits: Vec<(Platform, bool, DefaultKeyedRateLimiter<Option<AccountId>>)>,
}

impl ListingBudget {
    fn new(platforms: &PlatformSettings, share: f64) -> ListingBudget {
        let part = |n: u32| ((f64::from(n) * share.clamp(0.0, 1.0)).floor() as u32).max(1);
        let limits = [
            (Platform::Youtube, part(platforms.youtube.daily_quota_units), 86_400, false),
            (Platform::X, part(platforms.x.requests_per_15_min), 900, false),
            (Platform::Tiktok, part(platforms.tiktok.requests_per_minute), 60, true),
            (Platform::Instagram, part(platforms.instagram.requests_per_user_per_hour), 3600, true),
        ]
        .into_iter()
        .map(|(platform, requests, secs, per_user)| {
            (platform, per_user, RateLimiter::keyed(budget(requests, Duration::from_secs(secs))))
        })
        .collect();
        ListingBudget { limits }
    }

    /// Forgets the credentials whose share is full again, so the per-token state stays as
    /// small as the accounts scanned lately.
    fn forget_idle(&self) {
        for (_, _, limiter) in &self.limits {
            limiter.retain_recent();
        }
    }

    /// Takes one listing request from the credential's share; false when it is spent.
    fn take(&self, platform: Platform, account: AccountId) -> bool {
        self.limits.iter().find(|(p, _, _)| *p == platform).is_none_or(|(_, per_user, limiter)| {
            let key = per_user.then_some(account);
            limiter.check_key(&key).is_ok()
        })
    }
}

pub struct Discoverer {
    store: Arc<dyn Store>,
    platforms: Platforms,
    verifier: Arc<Verifier>,
    settings: DiscoverySettings,
    worker_id: String,
    consent_locks: Arc<ConsentLocks>,
    budget: ListingBudget,
}

impl Discoverer {
    pub fn new(
        store: Arc<dyn Store>,
        platforms: Platforms,
        verifier: Arc<Verifier>,
        settings: DiscoverySettings,
        platform_settings: &PlatformSettings,
        consent_locks: Arc<ConsentLocks>,
        worker_id: String,
    ) -> Discoverer {
        let budget = ListingBudget::new(platform_settings, settings.budget_share);
        Discoverer { store, platforms, verifier, settings, worker_id, consent_locks, budget }
    }

    pub fn enabled(&self) -> bool {
        self.settings.enabled
    }

    /// One round: claim the accounts due a scan and scan each.
    pub async fn try_execute_task(&self) -> Result<ScanRound, StoreError> {
        if !self.settings.enabled {
            return Ok(ScanRound::Idle);
        }
        let lease = Duration::from_secs(self.settings.lease_secs.max(1));
        let leased = self
            .store
            .lease_due_scans(&self.worker_id, Utc::now(), lease, self.settings.accounts_per_round.max(1))
            .await?;
        if leased.is_empty() {
            return Ok(ScanRound::Idle);
        }
        let mut found = 0;
        for scan in &leased {
            found += self.scan(scan).await?;
        }
        self.budget.forget_idle();
        Ok(ScanRound::Scanned { accounts: leased.len(), found })
    }

    fn next_scan(&self, scan: &LeasedScan, now: Timestamp) -> Timestamp {
        let young = scan
            .account
            .proven_at
            .is_some_and(|at| now - at < chrono::Duration::days(self.settings.young_for_days as i64));
        let secs = if young { self.settings.young_interval_secs } else { self.settings.interval_secs };
        now + chrono::Duration::seconds(secs.max(1) as i64)
    }

    /// Scans one account; returns how many posts it found and tracked.
    async fn scan(&self, scan: &LeasedScan) -> Result<usize, StoreError> {
        let account = &scan.account;
        let platform = account.platform;
        let adapter = self.platforms.adapter(platform);
        let user = match &scan.oauth_token {
            Some(bytes) => UserToken::from_bytes(bytes).ok().map(|t| UserCredential::new(account.id, t)),
            None => None,
        };
        let gate = ConsentGate::new(
            self.store.clone(),
            self.consent_locks.clone(),
            vec![(account.creator_id, scan.consent_since)],
        )
        .covering([account.id]);
        let started = Utc::now();
        let mut next_scan = self.next_scan(scan, started);
        let (mut found, mut page) = (0, None::<String>);
        for _ in 0..self.settings.max_pages.max(1) {
            if !self.budget.take(platform, account.id) {
                // The share is spent: come back soon rather than after a whole interval.
                next_scan = next_scan.min(started + chrono::Duration::minutes(5));
                break;
            }
            let listed = adapter.list_posts(&gate, &account.handle, user.as_ref(), page.as_deref()).await;
            if let Some(user) = &user {
                super::keep_refreshed_token(self.store.as_ref(), user).await?;
            }
            let listed = match listed {
                Ok(listed) => listed,
                // Consent ended or the account went: nothing more about it is asked, and the
                // scan is due again as soon as the account may be scanned.
                Err(PlatformError::Gated { .. }) => {
                    self.store.finish_scan(account.id, &self.worker_id, Utc::now(), started).await?;
                    return Ok(found);
                }
                Err(error) => {
                    tracing::warn!(account_id = %account.id, platform = platform.as_str(), kind = error.kind(), "scan failed");
                    metrics::counter!("viewmark_discovery_failures_total", "platform" => platform.as_str())
                        .increment(1);
                    break;
                }
            };
            let ids: Vec<String> = listed.posts.iter().map(|p| p.post_id.clone()).collect();
            let new = self.store.unscanned(account.id, platform, &ids).await?;
            // A page with nothing new: what is older was looked at by an earlier scan.
            if new.is_empty() {
                break;
            }
            for post in listed.posts.iter().filter(|p| new.contains(&p.post_id)) {
                found += usize::from(self.consider(&gate, scan, post).await?);
            }
            page = listed.next;
            if page.is_none() {
                break;
            }
        }
        if !self.store.finish_scan(account.id, &self.worker_id, Utc::now(), next_scan).await? {
            tracing::warn!(account_id = %account.id, "scan lease lost");
        }
        Ok(found)
    }

    /// One new post of the account: tracked if it carries the creator's content, remembered
    /// as looked at if its media hold none, left for the next scan if they could not be read.
    async fn consider(
        &self,
        gate: &ConsentGate,
        scan: &LeasedScan,
        post: &crate::platforms::Observation,
    ) -> Result<bool, StoreError> {
        let account = &scan.account;
        metrics::counter!("viewmark_discovery_posts_scanned_total", "platform" => account.platform.as_str())
            .increment(1);
        if post.author_handle.as_deref() != Some(account.handle.as_str()) {
            self.store.mark_scanned(account.id, std::slice::from_ref(&post.post_id), Utc::now()).await?;
            return Ok(false);
        }
        let carried = self
            .verifier
            .carries_content_of(gate, account.platform, account.creator_id, &post.media_urls)
            .await;
        let content_id = match carried {
            Carried::Yes(content_id) => content_id,
            Carried::No => {
                self.store.mark_scanned(account.id, std::slice::from_ref(&post.post_id), Utc::now()).await?;
                return Ok(false);
            }
            Carried::Unknown(_) => return Ok(false),
        };
        // The grant the scan started under must still stand for the post to be tracked.
        let stamp = self.store.consent_stamp(account.creator_id).await?;
        if stamp.is_none_or(|s| !s.granted || s.changed_at != scan.consent_since) {
            return Ok(false);
        }
        let reference = PostRef { platform: account.platform, post_id: post.post_id.clone() };
        let new = NewPost {
            creator_id: account.creator_id,
            social_account_id: account.id,
            platform: account.platform,
            platform_post_id: post.post_id.clone(),
            url: reference.canonical_url(),
            content_id: Some(content_id),
            at: Utc::now(),
        };
        match self.store.insert_discovered_post(&new).await {
            Ok(tracked) => {
                tracing::info!(creator_id = %account.creator_id, post_id = %tracked.id, account_id = %account.id, "post discovered by its watermark");
                metrics::counter!("viewmark_discovery_posts_found_total", "platform" => account.platform.as_str())
                    .increment(1);
                Ok(true)
            }
            // Registered meanwhile (by its creator, or claimed by another): tracked already.
            Err(StoreError::Conflict(_)) => Ok(false),
            Err(other) => Err(other),
        }
    }
}
