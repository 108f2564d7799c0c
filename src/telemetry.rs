//! Tracing subscriber set-up: human-readable logs by default, JSON by setting.
//!
//! Log lines carry ids only (request ids, creator ids, post ids): never emails, handles,
//! post URLs or tokens.

use tracing_subscriber::{fmt, EnvFilter};

/// Installs the global subscriber. Calling it again is harmless (the first one wins), so
/// tests and the binary can both call it.
pub fn init(settings: &LogSettings) {
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    init_with_writer(settings, std::io::stderr, ansi);
}

/// The same subscriber writing elsewhere (tests check every line it writes).
pub fn init_with_writer<W>(settings: &LogSettings, writer: W, ansi: bool)
where
    W: for<'w> fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_from_env("RUST_LOG")
        .or_else(|_| EnvFilter::try_new(&settings.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = fmt().with_env_filter(filter).with_writer(writer).with_ansi(ansi);
    let _ = match settings.format {
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

static METRICS: std::sync::OnceLock<Option<metrics_exporter_prometheus::PrometheusHandle>> =
    std::sync::OnceLock::new();

/// Histogram buckets in seconds: HTTP answers take a millisecond to seconds, embedding and
/// detection tens of milliseconds to minutes (videos), lease lag seconds to hours.
const BUCKETS: [f64; 17] =
    [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 3600.0];

/// The process-wide metrics recorder, installed on first use; `None` if another recorder
/// was installed first. Metric labels carry platforms and outcomes, never personal data.
pub fn metrics() -> Option<&'static metrics_exporter_prometheus::PrometheusHandle> {
    METRICS
        .get_or_init(|| {
            metrics_exporter_prometheus::PrometheusBuilder::new()
                .set_buckets(&BUCKETS)
                .ok()?
                .install_recorder()
                .ok()
        })
        .as_ref()
}

/// How the service logs: as text or JSON lines, at which levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct LogSettings {
    pub format: LogFormat,
    /// A tracing `EnvFilter` directive, e.g. `info` or `viewmark=debug,info`.
    pub level: String,
}
