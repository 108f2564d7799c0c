//! A simulated YouTube, TikTok, Instagram and X on one loopback port, speaking the real
//! APIs' shapes (see the adapters), for tests, the demo and benchmarks. It checks tokens as
//! the real ones do, enforces rate limits, serves each post's picture as that platform
//! would, and injects faults on demand (through [`Simulator`] or `POST /_sim/faults`).

pub mod attacks;
mod control;
mod faults;
mod google_x;
mod listing;
mod media;
mod meta_tiktok;
mod oauth;
pub mod scenario;

use std::collections::HashMap;
use std::net::TcpListener;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use actix_web::{web, App, HttpResponse, HttpServer};

pub use faults::{Fault, FaultKind, FaultTarget};
pub use scenario::{Scenario, SimPostState};

use crate::domain::Platform;
use crate::platforms::settings::PlatformSettings;
use crate::secret::Secret;
use crate::watermark::Key;

#[derive(Debug, Clone)]
struct TokenState {
    access: String,
    refresh: Option<String>,
    expired: bool,
    generation: u32,
}

/// Everything the simulated APIs read and the control calls change.
pub(crate) struct SimState {
    scenario: Scenario,
    started: Instant,
    clock_offset: AtomicU64,
    base_url: String,
    post_states: Mutex<HashMap<(Platform, String), SimPostState>>,
    tokens: Mutex<HashMap<(Platform, String), TokenState>>,
    /// Served files by name: rendered at start, and added by [`Simulator::publish`].
    media: Mutex<HashMap<String, web::Bytes>>,
    /// Posts published while running, after the scenario's own.
    published: Mutex<Vec<scenario::SimPost>>,
    faults: Mutex<Vec<Fault>>,
    requests: Mutex<HashMap<FaultTarget, u64>>,
    /// When each API request arrived, per target (for consent-gate tests).
    arrivals: Mutex<Vec<(FaultTarget, chrono::DateTime<chrono::Utc>)>>,
    /// How often each post was asked about, for polling tests.
    lookups: Mutex<HashMap<(Platform, String), u32>>,
    /// Bios changed since start (a creator pasting a proof code).
    bios: Mutex<HashMap<(Platform, String), String>>,
    windows: Mutex<HashMap<Platform, (Instant, u32)>>,
    /// Authorization codes handed out and not yet exchanged.
    codes: Mutex<HashMap<String, oauth::IssuedCode>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// What a handler does before answering, after faults were consulted.
pub(crate) enum Before {
    Answer(HttpResponse),
    Proceed { truncate: bool },
}

impl SimState {
    /// Seconds of simulated time since start.
    fn elapsed(&self) -> u64 {
        self.started.elapsed().as_secs() + self.clock_offset.load(Ordering::SeqCst)
    }

    /// Whether the post can be seen (a post with few viewers is live).
    fn post_state(&self, platform: Platform, id: &str) -> Option<SimPostState> {
        lock(&self.post_states).get(&(platform, id.to_owned())).copied().map(|state| match state {
            SimPostState::FewViewers => SimPostState::Live,
            other => other,
        })
    }

    fn few_viewers(&self, platform: Platform, id: &str) -> bool {
        lock(&self.post_states).get(&(platform, id.to_owned())) == Some(&SimPostState::FewViewers)
    }

    /// The platform's posts: the scenario's, then those published since (copies, so a
    /// publication may land while a request reads).
    fn posts(&self, platform: Platform) -> Vec<scenario::SimPost> {
        let published = lock(&self.published);
        self.scenario
            .posts
            .iter()
            .chain(published.iter())
            .filter(|p| p.platform == platform)
            .cloned()
            .collect()
    }

    /// Counts a platform lookup of these posts.
    fn looked_up<'a>(&self, platform: Platform, ids: impl IntoIterator<Item = &'a str>) {
        let mut lookups = lock(&self.lookups);
        for id in ids {
            *lookups.entry((platform, id.to_owned())).or_default() += 1;
        }
    }

    /// An account's bio now.
    fn bio(&self, platform: Platform, handle: &str) -> String {
        let changed = lock(&self.bios).get(&(platform, handle.to_owned())).cloned();
        changed.or_else(|| self.scenario.account(platform, handle).map(|a| a.bio.clone())).unwrap_or_default()
    }

    fn views(&self, post: &scenario::SimPost) -> u64 {
        scenario::views_at(&post.views, self.elapsed())
    }

    /// (likes, comments, shares) now.
    fn engagement(&self, post: &scenario::SimPost) -> (u64, u64, u64) {
        post.engagement.at(self.views(post))
    }

    /// The account whose current, unexpired access token this is.
    fn account_for_token(&self, platform: Platform, token: &str) -> Option<(String, bool)> {
        lock(&self.tokens)
            .iter()
            .find(|((p, _), t)| *p == platform && t.access == token)
            .map(|((_, handle), t)| (handle.clone(), t.expired))
    }

    /// Counts a request, consults the fault queue and the platform's rate window.
    async fn before(&self, target: FaultTarget) -> Before {
        *lock(&self.requests).entry(target).or_default() += 1;
        lock(&self.arrivals).push((target, chrono::Utc::now()));
        let fault = {
            let mut faults = lock(&self.faults);
            let index = faults.iter().position(|f| f.target == target);
            index.map(|i| {
                faults[i].times = faults[i].times.saturating_sub(1);
                let kind = faults[i].kind.clone();
                if faults[i].times == 0 {
                    faults.remove(i);
                }
                kind
            })
        };
        match fault {
            None => Before::Proceed { truncate: false },
            Some(FaultKind::Slow { delay_ms }) => {
                tokio::time::sleep(Duration::from_millis(delay_ms)).await;
                Before::Proceed { truncate: false }
            }
            Some(FaultKind::Hang) => {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                Before::Answer(HttpResponse::GatewayTimeout().finish())
            }
            Some(FaultKind::Truncated) => Before::Proceed { truncate: true },
            Some(FaultKind::ServerError { status }) => Before::Answer(
                HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap_or_default())
                    .content_type("text/html")
                    .body("<html><body>Server Error</body></html>"),
            ),
            Some(kind) => Before::Answer(self.fault_answer(target, &kind)),
        }
    }

    fn fault_answer(&self, target: FaultTarget, kind: &FaultKind) -> HttpResponse {
        match (target, kind) {
            (FaultTarget::Media, kind) => media::fault(self, kind),
            (_, FaultKind::RateLimit { retry_after_secs }) => match target {
                FaultTarget::Youtube => google_x::youtube_error(403, "rateLimitExceeded"),
                FaultTarget::X => google_x::x_rate_limited(*retry_after_secs),
                FaultTarget::Tiktok => meta_tiktok::tiktok_rate_limited(),
                _ => meta_tiktok::instagram_throttled(retry_after_secs.div_ceil(60)),
            },
            (FaultTarget::Youtube, FaultKind::QuotaExceeded) => google_x::youtube_error(403, "quotaExceeded"),
            _ => HttpResponse::BadRequest().body("fault does not apply to this target"),
        }
    }

    /// Takes one request from the platform's window; false when over its budget.
    fn within_budget(&self, platform: Platform) -> bool {
        let limits = &self.scenario.limits;
        let (budget, window) = match platform {
            Platform::Youtube => (limits.youtube_units_per_day, 86_400),
            Platform::Tiktok => (limits.tiktok_per_minute, 60),
            Platform::Instagram => (limits.instagram_per_hour, 3_600),
            Platform::X => (limits.x_per_15_min, 900),
        };
        let mut windows = lock(&self.windows);
        let entry = windows.entry(platform).or_insert((Instant::now(), 0));
        if entry.0.elapsed() >= Duration::from_secs(window) {
            *entry = (Instant::now(), 0);
        }
        entry.1 += 1;
        entry.1 <= budget
    }

    /// (limit, remaining, reset epoch) of the platform's window, for X's headers.
    fn window(&self, platform: Platform, budget: u32, window_secs: u64) -> (u32, u32, i64) {
        let windows = lock(&self.windows);
        let (start, used) = windows.get(&platform).copied().unwrap_or((Instant::now(), 0));
        let left = Duration::from_secs(window_secs).saturating_sub(start.elapsed());
        (budget, budget.saturating_sub(used), chrono::Utc::now().timestamp() + left.as_secs() as i64 + 1)
    }
}

/// Cuts a JSON body in half when a truncation fault is in force.
pub(crate) fn json_body(value: &serde_json::Value, truncate: bool) -> Vec<u8> {
    let mut bytes = serde_json::to_vec(value).unwrap_or_default();
    if truncate {
        bytes.truncate(bytes.len() / 2);
    }
    bytes
}

/// A running simulator.
#[derive(Clone)]
pub struct Simulator {
    state: Arc<SimState>,
}

impl Simulator {
    /// Renders the scenario's media, binds `bind` (port 0 for any) and serves in the
    /// background of the current tokio runtime. `dir` is where the scenario's image paths
    /// start from; `key` marks the pictures that carry a payload.
    pub async fn start(
        scenario: Scenario,
        dir: &Path,
        key: Option<Key>,
        bind: &str,
    ) -> anyhow::Result<Simulator> {
        let mut rendered = HashMap::new();
        for post in &scenario.posts {
            if let Some(m) = &post.media {
                let bytes = scenario::render_media(post.platform, m, dir, key.as_ref())?;
                rendered.insert(format!("{}-{}.jpg", post.platform.as_str(), post.id), bytes.into());
                for (n, slide) in
                    scenario::render_slides_before(post.platform, m, dir)?.into_iter().enumerate()
                {
                    rendered.insert(format!("{}-{}-s{n}.jpg", post.platform.as_str(), post.id), slide.into());
                }
                if let Some(clip) = scenario::render_clip(m, dir, key.as_ref())? {
                    rendered.insert(format!("{}-{}.mp4", post.platform.as_str(), post.id), clip.into());
                }
            }
        }
        let listener = TcpListener::bind(bind)?;
        let base_url = format!("http://127.0.0.1:{}", listener.local_addr()?.port());
        let post_states =
            scenario.posts.iter().map(|p| ((p.platform, p.id.clone()), p.state)).collect::<HashMap<_, _>>();
        let tokens = scenario
            .accounts
            .iter()
            .filter_map(|a| {
                let access = a.access_token.clone()?;
                let state = TokenState {
                    access,
                    refresh: a.refresh_token.clone(),
                    expired: a.token_expired,
                    generation: 0,
                };
                Some(((a.platform, a.handle.clone()), state))
            })
            .collect();
        let state = Arc::new(SimState {
            scenario,
            started: Instant::now(),
            clock_offset: AtomicU64::new(0),
            base_url,
            post_states: Mutex::new(post_states),
            tokens: Mutex::new(tokens),
            media: Mutex::new(rendered),
            published: Mutex::new(Vec::new()),
            faults: Mutex::new(Vec::new()),
            requests: Mutex::new(HashMap::new()),
            arrivals: Mutex::new(Vec::new()),
            bios: Mutex::new(HashMap::new()),
            lookups: Mutex::new(HashMap::new()),
            windows: Mutex::new(HashMap::new()),
            codes: Mutex::new(HashMap::new()),
        });
        let data = web::Data::from(state.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .configure(control::routes)
                .configure(media::routes)
                .configure(google_x::routes)
                .configure(meta_tiktok::routes)
                .configure(oauth::routes)
                .configure(listing::routes)
        })
        .workers(2)
        .disable_signals()
        .listen(listener)?
        .run();
        tokio::spawn(server);
        Ok(Simulator { state })
    }

    pub fn base_url(&self) -> &str {
        &self.state.base_url
    }

    /// Adapter settings pointed here, with the scenario's app credentials.
    pub fn platform_settings(&self, base: PlatformSettings) -> PlatformSettings {
        let credentials = &self.state.scenario.credentials;
        let mut settings = base.pointed_at(&self.state.base_url);
        settings.youtube.api_key = Some(Secret::new(credentials.youtube_api_key.clone()));
        settings.x.bearer_token = Some(Secret::new(credentials.x_bearer_token.clone()));
        settings.oauth.tiktok.client_id = Some(credentials.tiktok_client_key.clone());
        settings.oauth.tiktok.client_secret = Some(Secret::new(credentials.tiktok_client_secret.clone()));
        for app in [&mut settings.oauth.youtube, &mut settings.oauth.instagram, &mut settings.oauth.x] {
            app.client_id = Some(credentials.oauth_client_id.clone());
            app.client_secret = Some(Secret::new(credentials.oauth_client_secret.clone()));
        }
        settings
    }

    /// Publishes a post while running, as its creator uploading `upload` (the file they
    /// were given: a picture): the platform's pipeline (`post.media`'s `transform`, or the
    /// platform's usual one) is applied and the result served as the post's picture. The
    /// view curve counts from the simulator's start, like the scenario's.
    pub fn publish(&self, mut post: scenario::SimPost, upload: &[u8]) -> anyhow::Result<()> {
        let media = post.media.get_or_insert_with(scenario::SimMedia::uploaded);
        let picture = scenario::decode_picture(upload)?;
        let served = scenario::render_picture(post.platform, media, picture)?;
        let name = format!("{}-{}.jpg", post.platform.as_str(), post.id);
        lock(&self.state.media).insert(name, served.into());
        lock(&self.state.post_states).insert((post.platform, post.id.clone()), post.state);
        lock(&self.state.published).push(post);
        Ok(())
    }

    pub fn inject(&self, fault: Fault) {
        lock(&self.state.faults).push(fault);
    }

    pub fn clear_faults(&self) {
        lock(&self.state.faults).clear();
    }

    pub fn set_post_state(&self, platform: Platform, id: &str, state: SimPostState) {
        lock(&self.state.post_states).insert((platform, id.to_owned()), state);
    }

    /// Moves simulated time (view curves) forward.
    pub fn advance(&self, seconds: u64) {
        self.state.clock_offset.fetch_add(seconds, Ordering::SeqCst);
    }

    /// Expires a creator's access token, as if its lifetime ran out.
    pub fn expire_token(&self, platform: Platform, handle: &str) {
        if let Some(t) = lock(&self.state.tokens).get_mut(&(platform, handle.to_owned())) {
            t.expired = true;
        }
    }

    /// The creator's current access token (after refreshes).
    pub fn access_token(&self, platform: Platform, handle: &str) -> Option<String> {
        lock(&self.state.tokens).get(&(platform, handle.to_owned())).map(|t| t.access.clone())
    }

    /// Replaces an account's bio (as a creator adding a proof code would).
    pub fn set_bio(&self, platform: Platform, handle: &str, bio: &str) {
        lock(&self.state.bios).insert((platform, handle.to_owned()), bio.to_owned());
    }

    /// How many times each post of a platform was looked up.
    pub fn lookups(&self, platform: Platform) -> HashMap<String, u32> {
        lock(&self.state.lookups)
            .iter()
            .filter(|((p, _), _)| *p == platform)
            .map(|((_, id), n)| (id.clone(), *n))
            .collect()
    }

    /// When the requests to one target arrived.
    pub fn arrivals(&self, target: FaultTarget) -> Vec<chrono::DateTime<chrono::Utc>> {
        lock(&self.state.arrivals).iter().filter(|(t, _)| *t == target).map(|(_, at)| *at).collect()
    }

    /// Requests seen so far for one target.
    pub fn requests(&self, target: FaultTarget) -> u64 {
        lock(&self.state.requests).get(&target).copied().unwrap_or(0)
    }
}
