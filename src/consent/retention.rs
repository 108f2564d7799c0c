//! The retention sweep: what the privacy policy lets expire is purged on a schedule, by one
//! process at a time (the sweep is leased like a poll), each sweep leaving a receipt of
//! counts. `try_execute_task` is one sweep if one is due; `run_sweeper` repeats it.

use std::sync::Arc;
use std::time::Duration;

use chrono::{Months, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::Timestamp;
use crate::store::{RetentionCutoffs, Store, StoreResult, SweepReceipt};

/// How often the loop asks whether a sweep is due.
const CHECK_EVERY: Duration = Duration::from_secs(60);
/// How long a sweep may hold its lease before another process may take it over.
const LEASE: chrono::Duration = chrono::Duration::minutes(30);

/// Retention (`[retention]` in the configuration); the policy clause each serves is in
/// docs/privacy.md (Retention).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RetentionSettings {
    /// Whether workers (and `serve` when it polls) run the sweep.
    pub enabled: bool,
    /// Seconds between sweeps.
    pub interval_secs: u64,
    /// Snapshots and verification evidence of a post no longer tracked are kept this long
    /// after its last poll.
    pub snapshots_days: u32,
    /// Statement lines of erased creators (under a tombstone payee) are kept this many years
    /// after their period, as payment records.
    pub payment_records_years: u32,
    /// Erasure receipts are kept this many years.
    pub erasure_receipts_years: u32,
}

impl Default for RetentionSettings {
    fn default() -> Self {
        RetentionSettings {
            enabled: true,
            interval_secs: 24 * 3600,
            snapshots_days: 400,
            payment_records_years: 7,
            erasure_receipts_years: 3,
        }
    }
}

impl RetentionSettings {
    /// What has expired at `now`.
    pub fn cutoffs(&self, now: Timestamp) -> RetentionCutoffs {
        let years_ago =
            |years: u32| now.checked_sub_months(Months::new(years.saturating_mul(12))).unwrap_or(now);
        RetentionCutoffs {
            snapshots_before: now - chrono::Duration::days(i64::from(self.snapshots_days)),
            payment_records_before: years_ago(self.payment_records_years),
            erasure_receipts_before: years_ago(self.erasure_receipts_years),
        }
    }
}

pub struct Sweeper {
    store: Arc<dyn Store>,
    settings: RetentionSettings,
    owner: String,
}

impl Sweeper {
    pub fn new(store: Arc<dyn Store>, settings: RetentionSettings, owner: String) -> Sweeper {
        Sweeper { store, settings, owner }
    }

    /// One sweep, if one is due at `now` and no other process is running it.
    pub async fn try_execute_task(&self, now: Timestamp) -> StoreResult<Option<SweepReceipt>> {
        if !self.store.claim_sweep(&self.owner, now, now + LEASE).await? {
            return Ok(None);
        }
        let every = chrono::Duration::seconds(i64::try_from(self.settings.interval_secs).unwrap_or(86_400));
        let receipt = self.store.sweep(&self.owner, &self.settings.cutoffs(now), now, now + every).await?;
        tracing::info!(receipt_id = %receipt.id, counts = ?receipt.row_counts, "retention sweep");
        Ok(Some(receipt))
    }
}

/// Sweeps whenever one is due, until `stopped` turns true; a failed sweep is logged and
/// tried again at the next check.
pub async fn run_sweeper(sweeper: Arc<Sweeper>, mut stopped: tokio::sync::watch::Receiver<bool>) {
    loop {
        if *stopped.borrow() {
            return;
        }
        if let Err(err) = sweeper.try_execute_task(Utc::now()).await {
            tracing::warn!(%err, "retention sweep failed");
        }
        tokio::select! {
            _ = tokio::time::sleep(CHECK_EVERY) => {}
            _ = stopped.changed() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn cutoffs_count_calendar_years_and_days() {
        let now = Utc.with_ymd_and_hms(2026, 2, 28, 12, 0, 0).unwrap();
        let cutoffs = RetentionSettings::default().cutoffs(now);
        assert_eq!(cutoffs.payment_records_before, Utc.with_ymd_and_hms(2019, 2, 28, 12, 0, 0).unwrap());
        assert_eq!(cutoffs.erasure_receipts_before, Utc.with_ymd_and_hms(2023, 2, 28, 12, 0, 0).unwrap());
        assert_eq!(cutoffs.snapshots_before, Utc.with_ymd_and_hms(2025, 1, 24, 12, 0, 0).unwrap());
    }
}
