//! The deliverer: leases due deliveries, sends each signed, and records what came of it.
//! One round is `try_execute_task` (testable alone); `run_deliverer` repeats it until stopped.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use reqwest::header::CONTENT_TYPE;

use super::DeliverySettings;
use crate::consent::webhook::WebhookSecret;
use crate::domain::DeliveryState;
use crate::platforms::{check_endpoint_url, checked_http_client};
use crate::store::{AttemptRecord, LeasedDelivery, Store, StoreResult};

/// How long a round waits when nothing was due.
const IDLE: Duration = Duration::from_millis(500);
/// How often settled events are pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(60);

pub struct Deliverer {
    store: Arc<dyn Store>,
    http: reqwest::Client,
    settings: DeliverySettings,
    worker_id: String,
}

impl Deliverer {
    pub fn new(
        store: Arc<dyn Store>,
        settings: DeliverySettings,
        worker_id: String,
    ) -> Result<Deliverer, String> {
        let http = checked_http_client(settings.allow_loopback, settings.timeout())?;
        Ok(Deliverer { store, http, settings, worker_id })
    }

    /// One round: up to `concurrency` due deliveries, attempted at once, each recorded.
    /// Returns how many were attempted.
    pub async fn try_execute_task(&self) -> StoreResult<usize> {
        let now = Utc::now();
        // The lease outlasts an attempt: a crashed deliverer's deliveries are retried after it.
        let hold = chrono::Duration::milliseconds(
            i64::try_from(self.settings.timeout_ms).unwrap_or(10_000).saturating_mul(2).saturating_add(5_000),
        );
        let limit = u32::try_from(self.settings.concurrency.max(1)).unwrap_or(8);
        let leased = self.store.lease_deliveries(&self.worker_id, now, now + hold, limit).await?;
        let attempts = futures_util::future::join_all(leased.iter().map(|d| self.attempt(d))).await;
        for (delivery, attempt) in leased.iter().zip(&attempts) {
            if !self.store.record_attempt(delivery, &self.worker_id, attempt).await? {
                tracing::warn!(event_id = %delivery.event_id, endpoint_id = %delivery.endpoint_id, "a delivery's lease was lost before its attempt was recorded");
            }
        }
        Ok(leased.len())
    }

    /// Deletes settled events past the log's retention, and the notice of every erasure once
    /// settled (it names the erased creator); how many.
    pub async fn prune(&self) -> StoreResult<u64> {
        let days = i64::try_from(self.settings.keep_log_days).unwrap_or(36_500).min(36_500);
        self.store.prune_outbox(Utc::now() - chrono::Duration::days(days)).await
    }

    async fn attempt(&self, delivery: &LeasedDelivery) -> AttemptRecord {
        let at = Utc::now();
        let started = Instant::now();
        let outcome = self.send(delivery).await;
        let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let (status, error) = match outcome {
            Ok(status) if (200..300).contains(&status) => {
                return AttemptRecord {
                    at,
                    status: Some(status),
                    error: None,
                    duration_ms,
                    state: DeliveryState::Delivered,
                    next_attempt_at: at,
                };
            }
            Ok(status) => (Some(status), Some(format!("the endpoint answered {status}"))),
            Err(error) => (None, Some(error)),
        };
        let attempts = delivery.window_attempts.saturating_add(1);
        let retry = self.settings.retry_at(attempts, delivery.window_start, Utc::now());
        tracing::info!(event_id = %delivery.event_id, endpoint_id = %delivery.endpoint_id, attempts, given_up = retry.is_none(), "webhook delivery failed");
        AttemptRecord {
            at,
            status,
            error,
            duration_ms,
            state: if retry.is_some() { DeliveryState::Pending } else { DeliveryState::Failed },
            next_attempt_at: retry.unwrap_or(at),
        }
    }

    /// Sends the delivery once; the endpoint's HTTP status, or why there was none (never the
    /// URL: it may name a person's server).
    async fn send(&self, delivery: &LeasedDelivery) -> Result<u16, String> {
        let secret = WebhookSecret::parse(&delivery.secret).map_err(|e| e.to_string())?;
        // A name is checked by the client's resolver on connect; an address written in the
        // URL never reaches a resolver, so the policy is applied here too.
        check_endpoint_url(&delivery.url, self.settings.allow_loopback)
            .await
            .map_err(|e| format!("the endpoint's address is not allowed: {e}"))?;
        let timestamp = Utc::now().timestamp();
        let signature = secret.sign(&delivery.event_id, timestamp, delivery.payload.as_bytes());
        let response = self
            .http
            .post(&delivery.url)
            .header("webhook-id", &delivery.event_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .header(CONTENT_TYPE, "application/json")
            .body(delivery.payload.clone())
            .send()
            .await
            .map_err(|e| {
                if e.is_timeout() {
                    format!("no answer within {} ms", self.settings.timeout_ms)
                } else if e.is_connect() {
                    "could not connect (or the address is not allowed)".to_owned()
                } else {
                    "the request failed".to_owned()
                }
            })?;
        Ok(response.status().as_u16())
    }
}

/// Delivers until `stopped` turns true; a round that fails is logged and retried.
pub async fn run_deliverer(deliverer: Arc<Deliverer>, mut stopped: tokio::sync::watch::Receiver<bool>) {
    let mut pruned_at: Option<Instant> = None;
    loop {
        if *stopped.borrow() {
            return;
        }
        if pruned_at.is_none_or(|at| at.elapsed() >= PRUNE_EVERY) {
            pruned_at = Some(Instant::now());
            if let Err(err) = deliverer.prune().await {
                tracing::warn!(%err, "pruning the webhook outbox failed");
            }
        }
        let pause = match deliverer.try_execute_task().await {
            Ok(0) => IDLE,
            Ok(_) => Duration::ZERO,
            Err(err) => {
                tracing::warn!(%err, "webhook delivery round failed");
                IDLE
            }
        };
        if !pause.is_zero() {
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = stopped.changed() => {}
            }
        }
    }
}
