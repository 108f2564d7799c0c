//! A start gate: a check made immediately before every request a poll sends (each retry
//! included), holding a permit until the platform has answered, so that a consent
//! revocation cannot commit between the check and the request reaching the platform (the
//! revocation waits for the permit). Every adapter method, API call and media fetch takes the
//! gate as an argument: the poller passes one per batch, the account-proof route one for its
//! profile request.

use async_trait::async_trait;

/// Held while one request is on its way; dropping it lets a waiting revocation commit.
pub type Permit = Box<dyn Send>;

#[async_trait]
pub trait StartGate: Send + Sync {
    /// A permit to send one request now, or the reason not to.
    async fn permit(&self) -> Result<Permit, String>;
}

/// The gate of requests about no creator: every request may start. Only tests and tools
/// that call a platform outside any poll or proof use it.
pub struct Ungated;

#[async_trait]
impl StartGate for Ungated {
    async fn permit(&self) -> Result<Permit, String> {
        Ok(Box::new(()))
    }
}
