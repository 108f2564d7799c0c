//! Fetching media named in platform answers without becoming a proxy into our own network.
//! A URL an attacker can influence must not reach internal services, so every hop is
//! checked: the scheme, the host against the platform's allow list, and every address the
//! name resolves to against the forbidden ranges (loopback, private, link-local and cloud
//! metadata, CGNAT, multicast, reserved, and IPv6 forms that embed such an IPv4 address).
//! The connection goes only to addresses that passed: the client's resolver is this module's,
//! so a name cannot resolve differently between the check and the connect. Redirects are
//! followed by hand, at most `max_redirects`, each checked like the first URL. Bytes, time
//! and content type are capped.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::header::{CONTENT_TYPE, LOCATION};
use url::{Host, Url};

use super::settings::MediaFetchSettings;
use crate::domain::Platform;

/// Picture types the detector reads.
const IMAGE_TYPES: [&str; 3] = ["image/jpeg", "image/png", "image/webp"];
/// A video post's file, where the platform's media URL gives it.
const VIDEO_TYPES: [&str; 3] = ["video/mp4", "video/quicktime", "video/webm"];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    #[error("not an http(s) URL")]
    Scheme,
    #[error("host is not on the {0} media allow list")]
    HostNotAllowed(&'static str),
    #[error("address {0} is not reachable from here (internal or reserved)")]
    ForbiddenAddress(IpAddr),
    #[error("host name does not resolve")]
    Unresolvable,
    #[error("more than {0} redirects")]
    TooManyRedirects(u32),
    #[error("redirect without a usable Location")]
    BadRedirect,
    #[error("media over {0} bytes")]
    TooLarge(usize),
    #[error("media fetch took longer than {0} ms")]
    Timeout(u64),
    #[error("media host answered {0}")]
    Status(u16),
    #[error("not an accepted picture type: {0}")]
    ContentType(String),
    #[error("media fetch failed: {0}")]
    Network(String),
    #[error("media fetch not sent: {0}")]
    Gated(String),
}

/// A fetched picture.
#[derive(Debug, Clone)]
pub struct FetchedMedia {
    pub bytes: Vec<u8>,
    pub content_type: String,
    /// Where the bytes came from after redirects.
    pub final_url: Url,
}

/// Which addresses may be connected to.
#[derive(Debug, Clone, Copy)]
pub(super) struct AddressPolicy {
    pub(super) allow_loopback: bool,
}

impl AddressPolicy {
    fn check(&self, ip: IpAddr) -> Result<(), FetchError> {
        let ip = canonical(ip);
        let loopback = ip.is_loopback();
        if (loopback && !self.allow_loopback) || (!loopback && is_forbidden(ip)) {
            return Err(FetchError::ForbiddenAddress(ip));
        }
        Ok(())
    }
}

/// IPv4 addresses written in IPv6 form (mapped, compatible, NAT64) are judged as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return IpAddr::V4(v4);
            }
            let s = v6.segments();
            let nat64 = s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0];
            let compatible = s[..6] == [0, 0, 0, 0, 0, 0] && !matches!(s[6..], [0, 0] | [0, 1]);
            if nat64 || compatible {
                let [a, b] = s[6].to_be_bytes();
                let [c, d] = s[7].to_be_bytes();
                return IpAddr::V4(Ipv4Addr::new(a, b, c, d));
            }
            IpAddr::V6(v6)
        }
        v4 => v4,
    }
}

fn is_forbidden(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_forbidden_v4(v4),
        IpAddr::V6(v6) => is_forbidden_v6(v6),
    }
}

fn is_forbidden_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local() // 169.254/16, cloud metadata
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // CGNAT 100.64/10 (Alibaba metadata too)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (18..20).contains(&b)) // benchmarking
        || a >= 240 // reserved
}

fn is_forbidden_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00 // unique local (AWS metadata fd00:ec2::254)
        || (first & 0xffc0) == 0xfe80 // link-local
        || (first & 0xffc0) == 0xfec0 // site-local (deprecated)
        || (first == 0x2001 && ip.segments()[1] == 0x0db8) // documentation
}

/// The client's resolver: names resolve only to addresses that pass the policy.
pub(super) struct CheckedResolver {
    pub(super) policy: AddressPolicy,
}

impl CheckedResolver {
    pub(super) async fn checked(policy: AddressPolicy, host: &str) -> Result<Vec<SocketAddr>, FetchError> {
        let addrs: Vec<SocketAddr> =
            tokio::net::lookup_host((host, 0)).await.map_err(|_| FetchError::Unresolvable)?.collect();
        if addrs.is_empty() {
            return Err(FetchError::Unresolvable);
        }
        // One bad address refuses the name: a rebinding name may hand out both.
        for addr in &addrs {
            policy.check(addr.ip())?;
        }
        Ok(addrs)
    }
}

impl Resolve for CheckedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs = CheckedResolver::checked(policy, &host).await?;
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

pub struct MediaFetcher {
    http: reqwest::Client,
    settings: MediaFetchSettings,
    policy: AddressPolicy,
}

impl MediaFetcher {
    pub fn new(settings: &MediaFetchSettings) -> Result<MediaFetcher, FetchError> {
        let policy = AddressPolicy { allow_loopback: settings.allow_loopback };
        let http = reqwest::Client::builder()
            .dns_resolver(Arc::new(CheckedResolver { policy }))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(Duration::from_millis(settings.timeout_ms))
            .user_agent(concat!("viewmark/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| FetchError::Network(e.to_string()))?;
        Ok(MediaFetcher { http, settings: settings.clone(), policy })
    }

    fn allowed_hosts(&self, platform: Platform) -> &[String] {
        match platform {
            Platform::Youtube => &self.settings.youtube_hosts,
            Platform::Tiktok => &self.settings.tiktok_hosts,
            Platform::Instagram => &self.settings.instagram_hosts,
            Platform::X => &self.settings.x_hosts,
        }
    }

    /// Checks one hop before any connection: scheme, allow list, literal addresses.
    fn check_url(&self, platform: Platform, url: &Url) -> Result<(), FetchError> {
        match url.scheme() {
            "https" => {}
            "http" if self.settings.allow_http => {}
            _ => return Err(FetchError::Scheme),
        }
        let host = url.host().ok_or(FetchError::Scheme)?;
        // As the URL spells it after parsing: IPv6 in brackets, IPv4 in dotted decimal.
        let name = url.host_str().unwrap_or_default().trim_end_matches('.').to_ascii_lowercase();
        if !self.allowed_hosts(platform).iter().any(|pattern| host_matches(pattern, &name)) {
            return Err(FetchError::HostNotAllowed(platform.as_str()));
        }
        match host {
            Host::Ipv4(ip) => self.policy.check(IpAddr::V4(ip)),
            Host::Ipv6(ip) => self.policy.check(IpAddr::V6(ip)),
            Host::Domain(_) => Ok(()),
        }
    }

    /// Fetches a picture for `platform`, following at most `max_redirects` checked hops.
    pub async fn fetch(
        &self,
        gate: &dyn super::start_gate::StartGate,
        platform: Platform,
        url: &Url,
    ) -> Result<FetchedMedia, FetchError> {
        let timeout = Duration::from_millis(self.settings.timeout_ms);
        tokio::time::timeout(timeout, self.follow(gate, platform, url.clone()))
            .await
            .unwrap_or(Err(FetchError::Timeout(self.settings.timeout_ms)))
    }

    async fn follow(
        &self,
        gate: &dyn super::start_gate::StartGate,
        platform: Platform,
        mut url: Url,
    ) -> Result<FetchedMedia, FetchError> {
        for _hop in 0..=self.settings.max_redirects {
            self.check_url(platform, &url)?;
            if let Some(Host::Domain(name)) = url.host() {
                // A typed refusal now; the resolver enforces the same on connect.
                CheckedResolver::checked(self.policy, name).await?;
            }
            let permit = gate.permit().await.map_err(FetchError::Gated)?;
            let response = self.http.get(url.clone()).send().await.map_err(|e| self.network(e));
            drop(permit);
            let response = response?;
            let status = response.status();
            if status.is_redirection() {
                let location = response.headers().get(LOCATION).and_then(|v| v.to_str().ok());
                url = location.and_then(|l| url.join(l).ok()).ok_or(FetchError::BadRedirect)?;
                continue;
            }
            if !status.is_success() {
                return Err(FetchError::Status(status.as_u16()));
            }
            return self.read(response, url).await;
        }
        Err(FetchError::TooManyRedirects(self.settings.max_redirects))
    }

    async fn read(&self, mut response: reqwest::Response, url: Url) -> Result<FetchedMedia, FetchError> {
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or_default().trim().to_ascii_lowercase())
            .unwrap_or_default();
        let max = if IMAGE_TYPES.contains(&content_type.as_str()) {
            self.settings.max_bytes
        } else if VIDEO_TYPES.contains(&content_type.as_str()) {
            self.settings.video_max_bytes
        } else {
            return Err(FetchError::ContentType(content_type.chars().take(60).collect()));
        };
        if response.content_length().is_some_and(|n| n > max as u64) {
            return Err(FetchError::TooLarge(max));
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| self.network(e))? {
            if bytes.len() + chunk.len() > max {
                return Err(FetchError::TooLarge(max));
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(FetchedMedia { bytes, content_type, final_url: url })
    }

    fn network(&self, e: reqwest::Error) -> FetchError {
        if e.is_timeout() {
            return FetchError::Timeout(self.settings.timeout_ms);
        }
        // The resolver's refusal travels inside reqwest's error.
        let mut source: Option<&dyn std::error::Error> = Some(&e);
        while let Some(err) = source {
            if let Some(fetch) = err.downcast_ref::<FetchError>() {
                return fetch.clone();
            }
            source = err.source();
        }
        FetchError::Network(if e.is_connect() {
            "connection failed".into()
        } else {
            "transfer failed".into()
        })
    }
}

/// `pattern` is a host name, or `*.domain` for any subdomain of domain.
fn host_matches(pattern: &str, host: &str) -> bool {
    let pattern = pattern.trim().to_ascii_lowercase();
    match pattern.strip_prefix("*.") {
        Some(domain) => host.strip_suffix(domain).is_some_and(|sub| sub.len() > 1 && sub.ends_with('.')),
        None => host == pattern,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn internal_and_reserved_addresses_are_forbidden() {
        let strict = AddressPolicy { allow_loopback: false };
        for bad in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.100.100.200",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "240.0.0.1",
            "192.0.0.170",
            "::1",
            "::",
            "fe80::1",
            "fd00:ec2::254",
            "fc00::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
            "::127.0.0.1",
            "ff02::1",
        ] {
            assert!(strict.check(v4(bad)).is_err(), "{bad} allowed");
        }
        for good in ["93.184.216.34", "151.101.1.140", "2606:4700::6810:84e5", "::ffff:8.8.8.8"] {
            assert!(strict.check(v4(good)).is_ok(), "{good} refused");
        }
        let loopback_ok = AddressPolicy { allow_loopback: true };
        assert!(loopback_ok.check(v4("127.0.0.1")).is_ok());
        assert!(loopback_ok.check(v4("::ffff:127.0.0.1")).is_ok());
        assert!(loopback_ok.check(v4("169.254.169.254")).is_err(), "loopback only, not metadata");
        assert!(loopback_ok.check(v4("10.0.0.1")).is_err());
    }

    #[test]
    fn host_patterns_match_exact_names_and_subdomains_only() {
        assert!(host_matches("pbs.twimg.com", "pbs.twimg.com"));
        assert!(!host_matches("pbs.twimg.com", "evil-pbs.twimg.com"));
        assert!(host_matches("*.fbcdn.net", "scontent.xx.fbcdn.net"));
        assert!(!host_matches("*.fbcdn.net", "fbcdn.net.evil.com"));
        assert!(!host_matches("*.fbcdn.net", "evilfbcdn.net"));
        assert!(!host_matches("*.fbcdn.net", "fbcdn.net"));
    }
}
