//! Addresses outbound webhooks may go to: the media fetcher's policy (no loopback, private,
//! link-local, metadata or reserved address, checked on every resolution so a name cannot
//! change its answer between the check and the connect), for endpoints the admin names.

use std::sync::Arc;
use std::time::Duration;

use url::Url;

use super::fetcher::{AddressPolicy, CheckedResolver};

/// Why an endpoint's URL is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointUrlError {
    #[error("{0}")]
    Malformed(String),
    #[error("{0}")]
    Forbidden(String),
}

/// Checks an endpoint's URL when it is registered: `https` (or `http` where loopback is
/// allowed, for local receivers), no credentials, and a host whose every address passes.
pub async fn check_endpoint_url(text: &str, allow_loopback: bool) -> Result<(), EndpointUrlError> {
    let url = Url::parse(text).map_err(|_| EndpointUrlError::Malformed("not a URL".into()))?;
    let plain_ok = allow_loopback && url.scheme() == "http";
    if url.scheme() != "https" && !plain_ok {
        return Err(EndpointUrlError::Malformed("the URL must be https".into()));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(EndpointUrlError::Malformed("the URL may not carry credentials".into()));
    }
    let host = url.host_str().ok_or_else(|| EndpointUrlError::Malformed("the URL has no host".into()))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    CheckedResolver::checked(AddressPolicy { allow_loopback }, host)
        .await
        .map(|_| ())
        .map_err(|e| EndpointUrlError::Forbidden(e.to_string()))
}

/// An HTTP client for outbound webhooks: its resolver enforces the address policy, it never
/// follows a redirect (a redirect is a failed delivery) nor a proxy, and every request ends
/// within `timeout`.
pub fn checked_http_client(allow_loopback: bool, timeout: Duration) -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .dns_resolver(Arc::new(CheckedResolver { policy: AddressPolicy { allow_loopback } }))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(timeout)
        .connect_timeout(timeout)
        .user_agent(concat!("viewmark-webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| e.to_string())
}
