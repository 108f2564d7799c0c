//! Builds the running service from settings: store, key, HTTP server. Binding port 0 picks
//! a free port, which is how the tests spawn the real server.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::{Server, ServerHandle};
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};

use crate::api::{self, request_id, AppState};
use crate::config::Settings;
use crate::consent::locks::ConsentLocks;
use crate::consent::ConsentSettings;
use crate::keys::{self, IfMissing};
use crate::media::image_io::ImageLimits;
use crate::platforms::fetcher::MediaFetcher;
use crate::platforms::Platforms;
use crate::store::{self, ConnectOptions, Store};
use crate::tracking::{self, verify::Verifier, Poller};
use crate::watermark::Key;

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Store(#[from] store::StoreError),
    #[error(transparent)]
    Key(#[from] keys::KeyError),
    #[error(transparent)]
    Auth(#[from] api::auth::VerifierError),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: String, source: std::io::Error },
    #[error("platform settings: {0}")]
    Platforms(String),
    #[error("{0}")]
    Limits(String),
    #[error("webhooks.identity_secret: {0}")]
    Webhook(#[from] crate::consent::webhook::WebhookError),
}

/// Opens (and by default migrates) the configured database, with its key store under the
/// configured master keys.
pub async fn open_store(settings: &Settings, migrate: bool) -> Result<Arc<dyn Store>, StartupError> {
    let options = connect_options(settings, migrate)?;
    Ok(store::connect(settings.database_url().expose(), &options).await?)
}

/// Adopts the configured policy version if no process has yet: creators who consented under
/// another one have the grace period to re-grant (`store::PolicyRepo`). `serve` and `worker`
/// adopt at start; one-off commands (an erasure above all) never wait on it.
pub async fn adopt_policy(store: &dyn Store, consent: &ConsentSettings) -> Result<(), StartupError> {
    let now = chrono::Utc::now();
    let due = now + chrono::Duration::days(i64::from(consent.regrant_grace_days));
    if store.adopt_policy(&consent.policy_version, now, due).await? {
        tracing::info!(policy_version = %consent.policy_version, "privacy policy version adopted");
    }
    Ok(())
}

/// How the configured database and key store are opened.
pub fn connect_options(settings: &Settings, migrate: bool) -> Result<ConnectOptions, StartupError> {
    // Refused before the keys are loaded: a mistyped URL must not leave key files behind.
    if store::Backend::from_url(settings.database_url().expose()).is_none() {
        return Err(store::StoreError::UnsupportedUrl.into());
    }
    Ok(ConnectOptions {
        max_connections: settings.database.max_connections,
        connect_timeout: Duration::from_secs(settings.database.connect_timeout_secs),
        migrate,
        keystore_url: settings.keystore_url().map_err(store::StoreError::Keys)?.expose().to_owned(),
        master_keys: keys::load_master_keys(settings)?,
    })
}

pub struct Application {
    port: u16,
    server: Server,
    /// The poller `serve` runs beside the HTTP server (`tracking.poll_in_serve`).
    poller: Option<Arc<Poller>>,
    /// The webhook deliverer that runs beside it.
    deliverer: Option<Arc<crate::webhooks::Deliverer>>,
    /// The retention sweeper that runs beside it.
    sweeper: Option<Arc<crate::consent::retention::Sweeper>>,
    consent_locks: Arc<ConsentLocks>,
}

/// The retention sweeper, with an id of its own for its lease.
pub fn build_sweeper(settings: &Settings, store: Arc<dyn Store>) -> Arc<crate::consent::retention::Sweeper> {
    let owner = format!("sweeper-{}", uuid::Uuid::new_v4());
    Arc::new(crate::consent::retention::Sweeper::new(store, settings.retention.clone(), owner))
}

/// The outbound webhook deliverer, with an id of its own for its leases.
pub fn build_deliverer(
    settings: &Settings,
    store: Arc<dyn Store>,
) -> Result<crate::webhooks::Deliverer, StartupError> {
    let id = format!("deliverer-{}", uuid::Uuid::new_v4());
    crate::webhooks::Deliverer::new(store, settings.outbound_webhooks.clone(), id)
        .map_err(StartupError::Platforms)
}

/// The platform adapters, built once and shared by the HTTP routes and the poller (so they
/// share each platform's budget and pauses).
pub fn build_platforms(settings: &Settings) -> Result<Platforms, StartupError> {
    Platforms::new(&settings.platforms).map_err(|e| StartupError::Platforms(e.to_string()))
}

/// A poller over the given store and platforms.
pub fn build_poller(
    settings: &Settings,
    store: Arc<dyn Store>,
    key: Key,
    platforms: Platforms,
    consent_locks: Arc<ConsentLocks>,
) -> Result<Poller, StartupError> {
    let fetcher =
        MediaFetcher::new(&settings.platforms.media).map_err(|e| StartupError::Platforms(e.to_string()))?;
    let verifier = Verifier {
        store: store.clone(),
        fetcher,
        key,
        limits: ImageLimits::from(&settings.limits),
        video: settings.video.clone(),
        media_permits: Arc::new(tokio::sync::Semaphore::new(settings.limits.media_concurrency.max(1))),
    };
    let tracking = settings.tracking.clone();
    tracking.publish_quota_plan(&settings.platforms);
    Ok(Poller::new(
        store,
        platforms,
        verifier,
        tracking,
        &settings.platforms,
        settings.payouts.clone(),
        consent_locks,
    ))
}

impl Application {
    /// Connects to the database, applies migrations, loads (or creates) the watermark key
    /// and binds the listener.
    pub async fn build(settings: Settings) -> Result<Application, StartupError> {
        let store = open_store(&settings, true).await?;
        adopt_policy(store.as_ref(), &settings.consent).await?;
        tracing::info!(backend = store.backend().as_str(), "database ready");
        let key = keys::load_configured_key(&settings, IfMissing::Create)?;
        Application::build_with(&settings, store, key)
    }

    /// Builds the server around an already-open store and the watermark key.
    pub fn build_with(
        settings: &Settings,
        store: Arc<dyn Store>,
        key: Key,
    ) -> Result<Application, StartupError> {
        settings.limits.check_memory().map_err(StartupError::Limits)?;
        let bind_err = |source| StartupError::Bind { addr: settings.bind.clone(), source };
        let listener = TcpListener::bind(&settings.bind).map_err(bind_err)?;
        let port = listener.local_addr().map_err(bind_err)?.port();
        let verifier = api::auth::CreatorVerifier::from_settings(&settings.auth)?;
        // Installed before anything records (the poller, the routes).
        let _ = crate::telemetry::metrics();
        let platforms = build_platforms(settings)?;
        let webhook_secret = settings
            .webhooks
            .identity_secret
            .as_ref()
            .map(|s| crate::consent::webhook::WebhookSecret::parse(s.expose()))
            .transpose()?;
        let consent_locks = Arc::new(ConsentLocks::default());
        let (poller, deliverer) = if settings.tracking.poll_in_serve {
            let locks = consent_locks.clone();
            let poller = build_poller(settings, store.clone(), key.clone(), platforms.clone(), locks)?;
            (Some(Arc::new(poller)), Some(Arc::new(build_deliverer(settings, store.clone())?)))
        } else {
            (None, None)
        };
        let sweeper = (settings.tracking.poll_in_serve && settings.retention.enabled)
            .then(|| build_sweeper(settings, store.clone()));
        let state = web::Data::new(AppState {
            store,
            key,
            limits: settings.limits.clone(),
            verifier,
            consent: settings.consent.clone(),
            media_permits: Arc::new(tokio::sync::Semaphore::new(settings.limits.media_concurrency.max(1))),
            rate_limiter: api::rate_limit::CallerLimiter::new(&settings.rate_limit),
            platforms,
            webhook_secret,
            consent_locks: consent_locks.clone(),
            spool_budget: std::sync::Arc::new(tokio::sync::Semaphore::new(
                settings.video.max_spool_bytes.div_ceil(1 << 10).min(u64::from(u32::MAX)) as usize,
            )),
            webhook_tolerance_secs: settings.webhooks.tolerance_secs,
            video: settings.video.clone(),
            payouts: settings.payouts.clone(),
            deliveries: settings.outbound_webhooks.clone(),
        });
        let server = HttpServer::new(move || {
            App::new()
                .wrap(api::error_handlers())
                .wrap(from_fn(request_id::middleware))
                .configure(api::configure(state.clone()))
                .default_service(web::to(api::not_found))
        })
        .on_connect(api::media_work::on_connect)
        .shutdown_timeout(settings.shutdown_timeout_secs)
        // Signals are handled by `stop_on_signals`, registered before "listening" is said, so
        // a SIGTERM that arrives right after start-up still stops the server gracefully.
        .disable_signals()
        .listen(listener)
        .map_err(bind_err)?
        .run();
        Ok(Application { port, server, poller, deliverer, sweeper, consent_locks })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The consent locks the routes take around revocations and erasures; a poller in the
    /// same process must share them.
    pub fn consent_locks(&self) -> Arc<ConsentLocks> {
        self.consent_locks.clone()
    }

    /// A handle to stop the server gracefully (what SIGTERM/SIGINT do).
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Registers SIGTERM/SIGINT handlers that stop the server gracefully: requests in
    /// flight finish (within the shutdown timeout), new connections are refused.
    pub fn stop_on_signals(&self) -> std::io::Result<()> {
        let handle = self.server.handle();
        use tokio::signal::unix::{signal, SignalKind};
        // Both handlers exist before this returns: no window in which a signal kills the
        // process outright.
        let mut terminate = signal(SignalKind::terminate())?;
        let mut interrupt = signal(SignalKind::interrupt())?;
        tokio::spawn(async move {
            tokio::select! {
                _ = terminate.recv() => tracing::info!("SIGTERM: finishing requests in flight"),
                _ = interrupt.recv() => tracing::info!("SIGINT: finishing requests in flight"),
            }
            handle.stop(true).await;
        });
        Ok(())
    }

    /// Serves (and polls, when configured) until stopped; the poller finishes its round.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let delivering =
            self.deliverer.map(|d| tokio::spawn(crate::webhooks::run_deliverer(d, stopped.clone())));
        let sweeping =
            self.sweeper.map(|s| tokio::spawn(crate::consent::retention::run_sweeper(s, stopped.clone())));
        let worker = self.poller.map(|poller| tokio::spawn(tracking::run_worker(poller, stopped)));
        let served = self.server.await;
        let _ = stop.send(true);
        if let Some(worker) = worker {
            let _ = worker.await;
        }
        if let Some(delivering) = delivering {
            let _ = delivering.await;
        }
        if let Some(sweeping) = sweeping {
            let _ = sweeping.await;
        }
        served
    }
}
