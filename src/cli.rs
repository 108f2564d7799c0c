//! The command line: `serve`, `migrate` and the watermark tools.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config::Settings;
use crate::startup::{self, Application};
use crate::telemetry;

#[derive(Debug, Parser)]
#[command(
    name = "viewmark",
    version,
    about = "Invisible watermarks and verified social views for a Creator Program",
    long_about = "viewmark embeds a secret-keyed invisible watermark in creators' outputs, \
                  verifies the social posts they register by detecting it, records view counts \
                  and answers the payout system, while enforcing consent and deletion.\n\n\
                  Configuration comes from built-in defaults, then the config file, then \
                  VIEWMARK_* environment variables (nested keys joined by '__')."
)]
pub struct Cli {
    /// Configuration file (TOML); missing is fine.
    #[arg(long, global = true, env = "VIEWMARK_CONFIG", default_value = "viewmark.toml")]
    pub config: PathBuf,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP service: applies pending migrations, creates the watermark key on first
    /// start if none is configured, then serves until SIGTERM/SIGINT.
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
}

/// Runs a parsed command; the error is one clear line for the operator.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let settings = Settings::load(&cli.config)?;
    telemetry::init(&settings.log);
    match cli.command {
        Command::Serve => serve(settings).await,
        Command::Migrate => {
            let store = startup::open_store(&settings, true).await?;
            tracing::info!(backend = store.backend().as_str(), "migrations applied");
            Ok(())
        }
    }
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let app = Application::build(settings.clone()).await?;
    app.stop_on_signals()?;
    let bound = settings.bind.rsplit_once(':').map_or(settings.bind.as_str(), |(host, _)| host).to_owned();
    tracing::info!(address = %format!("{bound}:{}", app.port()), "listening");
    app.run_until_stopped().await?;
    tracing::info!("stopped");
    Ok(())
}
