//! What every adapter shares: the budget (a governor limiter per platform, and per creator
//! token where the platform counts per user), the pause a platform imposes after a 429 or
//! quota error (that platform only), bounded retries of 5xx and timeouts with exponential
//! backoff and full jitter, and a cap on how much of an answer is read.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota};
use rand::Rng;
use reqwest::header::HeaderMap;
use reqwest::{RequestBuilder, StatusCode};
use serde::de::DeserializeOwned;

use super::observation::PlatformError;
use super::settings::PlatformSettings;
use crate::domain::{AccountId, Platform};

/// How long the first throttle without any hint pauses the platform; each further one in a
/// row doubles it, up to `MAX_UNHINTED_PAUSE`, and any other answer starts again from here.
const FIRST_UNHINTED_PAUSE: Duration = Duration::from_secs(15);
const MAX_UNHINTED_PAUSE: Duration = Duration::from_secs(15 * 60);
/// The window TikTok and Google count their per-minute limits in.
const DOCUMENTED_WINDOW: Duration = Duration::from_secs(60);
/// Longest pause a platform's header is believed for (a bogus reset time must not stop
/// polling for days).
const MAX_PAUSE: Duration = Duration::from_secs(24 * 3600);

/// A platform's budget: `requests` per `period`, all usable at once.
pub fn budget(requests: u32, period: Duration) -> Quota {
    let requests = NonZeroU32::new(requests.max(1)).unwrap_or(NonZeroU32::MIN);
    let replenish = (period / requests.get()).max(Duration::from_nanos(1));
    Quota::with_period(replenish).unwrap_or_else(|| Quota::per_second(requests)).allow_burst(requests)
}

/// An answer read in full (under the size cap).
#[derive(Debug)]
pub struct ApiResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

pub struct ApiClient {
    pub platform: Platform,
    http: reqwest::Client,
    max_retries: u32,
    backoff_base: Duration,
    backoff_max: Duration,
    max_response_bytes: usize,
    paused_until: Mutex<Option<Instant>>,
    /// Throttles in a row that came without a hint of how long to wait.
    unhinted_throttles: AtomicU32,
    app_budget: Option<DefaultDirectRateLimiter>,
    user_budget: Option<DefaultKeyedRateLimiter<AccountId>>,
    clock: DefaultClock,
}

enum Attempt {
    Done(ApiResponse),
    Retry(String),
}

impl ApiClient {
    pub fn new(
        platform: Platform,
        settings: &PlatformSettings,
        app_budget: Option<Quota>,
        user_budget: Option<Quota>,
    ) -> Result<ApiClient, PlatformError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(settings.request_timeout_ms))
            .connect_timeout(Duration::from_millis(settings.request_timeout_ms))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("viewmark/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| PlatformError::NotConfigured { platform, reason: e.to_string() })?;
        Ok(ApiClient {
            platform,
            http,
            max_retries: settings.max_retries,
            backoff_base: Duration::from_millis(settings.backoff_base_ms),
            backoff_max: Duration::from_millis(settings.backoff_max_ms),
            max_response_bytes: settings.max_response_bytes,
            paused_until: Mutex::new(None),
            unhinted_throttles: AtomicU32::new(0),
            app_budget: app_budget.map(DefaultDirectRateLimiter::direct),
            user_budget: user_budget.map(DefaultKeyedRateLimiter::keyed),
            clock: DefaultClock::default(),
        })
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// Whether the platform is paused, and for how much longer.
    pub fn paused_for(&self) -> Option<Duration> {
        let guard = self.paused_until.lock().unwrap_or_else(|p| p.into_inner());
        guard.and_then(|until| until.checked_duration_since(Instant::now())).filter(|d| !d.is_zero())
    }

    /// Stops requests to this platform (only) for `duration`; a longer pause already in
    /// force stays.
    pub fn pause(&self, duration: Duration) {
        let until = Instant::now() + duration.min(MAX_PAUSE);
        let mut guard = self.paused_until.lock().unwrap_or_else(|p| p.into_inner());
        if guard.is_none_or(|current| current < until) {
            *guard = Some(until);
        }
        tracing::warn!(platform = self.platform.as_str(), pause_secs = duration.as_secs(), "platform paused");
    }

    /// Pauses the platform and says so as a rate-limit error.
    pub fn rate_limited(&self, retry_after: Duration) -> PlatformError {
        self.pause(retry_after);
        PlatformError::RateLimited { platform: self.platform, retry_after: retry_after.min(MAX_PAUSE) }
    }

    /// A throttle answer: paused for as long as its headers say; when they say nothing, until
    /// the one-minute window TikTok and Google document for their limits ends, or elsewhere
    /// for a short pause that doubles with each such answer in a row.
    pub fn throttled(&self, headers: &HeaderMap) -> PlatformError {
        if let Some(wait) = retry_hint(headers) {
            return self.rate_limited(wait);
        }
        if matches!(self.platform, Platform::Tiktok | Platform::Youtube) {
            return self.rate_limited(DOCUMENTED_WINDOW);
        }
        let row = self.unhinted_throttles.fetch_add(1, Ordering::Relaxed);
        let wait = FIRST_UNHINTED_PAUSE.saturating_mul(1 << row.min(16)).min(MAX_UNHINTED_PAUSE);
        self.rate_limited(wait)
    }

    /// Takes one request from the budgets, or says how long to wait (no request is made).
    fn admit(&self, user: Option<AccountId>) -> Result<(), PlatformError> {
        if let Some(retry_after) = self.paused_for() {
            return Err(PlatformError::RateLimited { platform: self.platform, retry_after });
        }
        let over = |wait: Duration| PlatformError::RateLimited { platform: self.platform, retry_after: wait };
        if let Some(limiter) = &self.app_budget {
            limiter.check().map_err(|n| over(n.wait_time_from(self.clock.now())))?;
        }
        if let (Some(limiter), Some(user)) = (&self.user_budget, user) {
            limiter.check_key(&user).map_err(|n| over(n.wait_time_from(self.clock.now())))?;
        }
        Ok(())
    }

    /// Sends a request built by `build` (called again for each retry), within the budgets.
    /// 5xx answers, timeouts and dropped connections are retried with backoff; a 429 pauses
    /// the platform. Any other answer is returned for the adapter to read.
    pub async fn send(
        &self,
        gate: &dyn super::start_gate::StartGate,
        user: Option<AccountId>,
        build: impl Fn(&reqwest::Client) -> RequestBuilder,
    ) -> Result<ApiResponse, PlatformError> {
        let mut last = String::new();
        for attempt in 0..=self.max_retries {
            if attempt > 0 {
                tokio::time::sleep(self.backoff(attempt - 1)).await;
            }
            self.admit(user)?;
            // Checked before every attempt: a retry is a new request.
            let permit = gate
                .permit()
                .await
                .map_err(|reason| PlatformError::Gated { platform: self.platform, reason })?;
            match self.attempt(build(&self.http), permit).await? {
                Attempt::Done(response) => {
                    if response.status == StatusCode::TOO_MANY_REQUESTS {
                        return Err(self.throttled(&response.headers));
                    }
                    if response.status.is_success() {
                        self.unhinted_throttles.store(0, Ordering::Relaxed);
                    }
                    if let Some(wait) = exhausted_window(&response.headers) {
                        // The platform says the window is spent: stop before the 429.
                        self.pause(wait);
                    }
                    return Ok(response);
                }
                Attempt::Retry(reason) => {
                    tracing::debug!(platform = self.platform.as_str(), attempt, reason, "retrying");
                    last = reason;
                }
            }
        }
        Err(PlatformError::Unavailable {
            platform: self.platform,
            attempts: self.max_retries + 1,
            reason: last,
        })
    }

    async fn attempt(
        &self,
        request: RequestBuilder,
        permit: super::start_gate::Permit,
    ) -> Result<Attempt, PlatformError> {
        let sent = request.send().await;
        // The platform has the request (or it failed): what the gate guards is over.
        drop(permit);
        let mut response = match sent {
            Ok(response) => response,
            Err(e) if e.is_builder() => {
                return Err(PlatformError::NotConfigured { platform: self.platform, reason: e.to_string() })
            }
            Err(e) => return Ok(Attempt::Retry(describe(&e))),
        };
        let status = response.status();
        if status.is_server_error() {
            return Ok(Attempt::Retry(format!("status {}", status.as_u16())));
        }
        if response.content_length().is_some_and(|n| n > self.max_response_bytes as u64) {
            return Err(self.too_big());
        }
        let headers = response.headers().clone();
        let mut body = Vec::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    if body.len() + chunk.len() > self.max_response_bytes {
                        return Err(self.too_big());
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) => return Ok(Attempt::Retry(describe(&e))),
            }
        }
        Ok(Attempt::Done(ApiResponse { status, headers, body }))
    }

    fn too_big(&self) -> PlatformError {
        PlatformError::BadResponse {
            platform: self.platform,
            reason: format!("answer over {} bytes", self.max_response_bytes),
        }
    }

    fn backoff(&self, retry: u32) -> Duration {
        let ceiling = self.backoff_base.saturating_mul(1 << retry.min(16)).min(self.backoff_max);
        let millis = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
        Duration::from_millis(rand::thread_rng().gen_range(0..=millis))
    }

    /// Parses an answer's body as the API's JSON shape.
    pub fn json<T: DeserializeOwned>(&self, response: &ApiResponse) -> Result<T, PlatformError> {
        serde_json::from_slice(&response.body)
            .map_err(|e| PlatformError::BadResponse { platform: self.platform, reason: e.to_string() })
    }

    /// The error for an answer the adapter did not expect. Only the platform's error code
    /// is kept, never its message: messages echo handles and ids back, and errors are logged.
    pub fn refused(&self, response: &ApiResponse) -> PlatformError {
        let body: serde_json::Value = serde_json::from_slice(&response.body).unwrap_or_default();
        let code = [&body["error"]["code"], &body["error"]["status"], &body["type"], &body["error"]]
            .into_iter()
            .find_map(|v| match v {
                serde_json::Value::String(s) if s.len() <= 80 => Some(s.clone()),
                serde_json::Value::Number(n) => Some(n.to_string()),
                _ => None,
            });
        let reason = code.unwrap_or_else(|| "no error code".into());
        PlatformError::Refused { platform: self.platform, status: response.status.as_u16(), reason }
    }
}

fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "connection failed".into()
    } else if e.is_body() || e.is_decode() {
        "answer cut off".into()
    } else {
        "request failed".into()
    }
}

/// How long a 429 asks us to wait: `Retry-After` (seconds or an HTTP date) or X's
/// `x-rate-limit-reset` (epoch seconds).
pub fn retry_hint(headers: &HeaderMap) -> Option<Duration> {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    if let Some(value) = text("retry-after") {
        if let Ok(seconds) = value.parse::<u64>() {
            return Some(Duration::from_secs(seconds));
        }
        if let Ok(when) = chrono::DateTime::parse_from_rfc2822(value) {
            return Some(until_epoch(when.timestamp()));
        }
    }
    if let Some(wait) = text("x-business-use-case-usage").and_then(meta_regain_time) {
        return Some(wait);
    }
    text("x-rate-limit-reset").and_then(|v| v.parse::<i64>().ok()).map(until_epoch)
}

/// Meta's business use case usage: `{"<business id>": [{"type", "call_count", "total_cputime",
/// "total_time", "estimated_time_to_regain_access"}]}`, the last in minutes (0 while not
/// throttled). The longest wait any entry names, if any is above 0.
fn meta_regain_time(header: &str) -> Option<Duration> {
    let usage: serde_json::Value = serde_json::from_str(header).ok()?;
    let minutes = usage
        .as_object()?
        .values()
        .flat_map(|entries| entries.as_array().into_iter().flatten())
        .filter_map(|entry| entry["estimated_time_to_regain_access"].as_u64())
        .max()?;
    (minutes > 0).then(|| Duration::from_secs(minutes * 60))
}

/// The platform says, on an answer that went through, that the next would be throttled: X's
/// remaining count at 0, or Meta's usage naming a time to regain access.
fn exhausted_window(headers: &HeaderMap) -> Option<Duration> {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    if let Some(wait) = text("x-business-use-case-usage").and_then(meta_regain_time) {
        return Some(wait);
    }
    let remaining = text("x-rate-limit-remaining")?.parse::<u64>().ok()?;
    (remaining == 0).then(|| retry_hint(headers)).flatten()
}

fn until_epoch(epoch_seconds: i64) -> Duration {
    let now = chrono::Utc::now().timestamp();
    Duration::from_secs(u64::try_from(epoch_seconds.saturating_sub(now)).unwrap_or(0).max(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn retry_hints_are_read_from_either_header() {
        let mut h = HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_static("7"));
        assert_eq!(retry_hint(&h), Some(Duration::from_secs(7)));
        let mut h = HeaderMap::new();
        let reset = (chrono::Utc::now().timestamp() + 120).to_string();
        h.insert("x-rate-limit-reset", HeaderValue::from_str(&reset).unwrap());
        let wait = retry_hint(&h).unwrap().as_secs();
        assert!((118..=120).contains(&wait), "{wait}");
        assert_eq!(exhausted_window(&h), None, "no remaining count: not exhausted");
        h.insert("x-rate-limit-remaining", HeaderValue::from_static("0"));
        assert!(exhausted_window(&h).is_some());
        assert_eq!(retry_hint(&HeaderMap::new()), None);
    }

    #[test]
    fn meta_usage_headers_name_the_wait() {
        let usage = |regain: u64| {
            let mut h = HeaderMap::new();
            let value = format!(
                r#"{{"17841400000000000":[{{"type":"instagram","call_count":100,"total_cputime":12,"total_time":30,"estimated_time_to_regain_access":{regain}}}]}}"#
            );
            h.insert("x-business-use-case-usage", HeaderValue::from_str(&value).unwrap());
            h
        };
        assert_eq!(retry_hint(&usage(7)), Some(Duration::from_secs(420)));
        assert_eq!(exhausted_window(&usage(7)), Some(Duration::from_secs(420)));
        assert_eq!(retry_hint(&usage(0)), None, "0 minutes: not throttled");
        assert_eq!(exhausted_window(&usage(0)), None);
    }

    #[test]
    fn a_throttle_without_a_hint_pauses_briefly_then_longer() {
        let client = ApiClient::new(Platform::Instagram, &PlatformSettings::default(), None, None).unwrap();
        let waits: Vec<u64> =
            (0..8).map(|_| client.throttled(&HeaderMap::new()).retry_after().unwrap().as_secs()).collect();
        assert_eq!(waits, [15, 30, 60, 120, 240, 480, 900, 900]);
        let mut hinted = HeaderMap::new();
        hinted.insert("retry-after", HeaderValue::from_static("5"));
        assert_eq!(client.throttled(&hinted).retry_after(), Some(Duration::from_secs(5)));
    }

    #[test]
    fn budgets_allow_their_burst_then_refuse() {
        let settings = PlatformSettings::default();
        let client =
            ApiClient::new(Platform::X, &settings, Some(budget(3, Duration::from_secs(900))), None).unwrap();
        for _ in 0..3 {
            client.admit(None).unwrap();
        }
        let err = client.admit(None).unwrap_err();
        let wait = err.retry_after().unwrap();
        assert!(wait > Duration::from_secs(200) && wait <= Duration::from_secs(300), "{wait:?}");
    }

    #[test]
    fn a_pause_refuses_without_a_request_and_keeps_the_longer_one() {
        let client = ApiClient::new(Platform::Tiktok, &PlatformSettings::default(), None, None).unwrap();
        client.pause(Duration::from_secs(100));
        client.pause(Duration::from_secs(5));
        assert!(client.paused_for().unwrap() > Duration::from_secs(90));
        assert_eq!(client.admit(None).unwrap_err().kind(), "rate_limited");
    }
}
