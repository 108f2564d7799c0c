//! A start gate: a check made immediately before every request a poll sends (each retry
//! included), holding a permit until the platform has answered, so that a consent
//! revocation cannot commit between the check and the request reaching the platform (the
//! revocation waits for the permit). The poller installs one around each batch, and the
//! account-proof route around its profile request, with [`with_gate`].

use std::future::Future;
use std::sync::Arc;

use async_trait::async_trait;

/// Held while one request is on its way; dropping it lets a waiting revocation commit.
pub type Permit = Box<dyn Send>;

#[async_trait]
pub trait StartGate: Send + Sync {
    /// A permit to send one request now, or the reason not to.
    async fn permit(&self) -> Result<Permit, String>;
}

tokio::task_local! {
    static GATE: Arc<dyn StartGate>;
}

/// Runs `work` with every platform request (and media fetch) inside it gated by `gate`.
pub async fn with_gate<F: Future>(gate: Arc<dyn StartGate>, work: F) -> F::Output {
    GATE.scope(gate, work).await
}

/// A permit from the gate in force, if any.
pub async fn permit() -> Result<Option<Permit>, String> {
    let gate = GATE.try_with(Arc::clone).ok();
    match gate {
        Some(gate) => gate.permit().await.map(Some),
        None => Ok(None),
    }
}
