//! The command line: `serve`, `migrate` and the watermark tools.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::api::auth::service_token;
use crate::config::Settings;
use crate::domain::ErasureTrigger;
use crate::keys::{self, IfMissing};
use crate::media::image_io;
use crate::media::video::Container;
use crate::media::{enroll, recognize};
use crate::simulator::{Scenario, Simulator};
use crate::startup::{self, Application};
use crate::telemetry;
use crate::watermark::{self, Key};

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
    /// Erase everything held about a creator (by the identity provider's user id), as
    /// `DELETE /v1/creators/me` does; prints the receipt, or {"erased": false} if there is none.
    Erase {
        #[arg(long = "user")]
        user_id: String,
    },
    /// Re-seal every data key in the key store under the current master key
    /// (`encryption_key`/`encryption_key_file`), opening them with the earlier keys listed in
    /// `encryption_previous_key_files`. Safe to repeat and to run beside the service; once it
    /// reports nothing left under an earlier key, remove those keys from the configuration.
    RotateMasterKey,
    /// Print, per platform, how many posts its configured budget sustains at each of the
    /// schedule's intervals (per creator token where the platform counts per token).
    Quota,
    /// Run only the poller (no HTTP server), to scale polling apart from the API; any number
    /// of workers may share one PostgreSQL database. Stops after its round on SIGTERM/SIGINT.
    Worker,
    /// Embed a 64-bit payload in an image; writes OUT (PNG, or the format of OUT's
    /// extension) at the same size. A video (MP4, MOV, WebM) is marked in every frame and
    /// written to OUT, whose extension (.mp4, .mov, .webm) names the container.
    Embed {
        #[arg(long)]
        input: PathBuf,
        #[arg(long)]
        output: PathBuf,
        /// The payload as 16 hex digits.
        #[arg(long, value_parser = parse_payload)]
        payload: u64,
        /// Key file (64 hex digits); defaults to the key `serve` uses.
        #[arg(long)]
        key_file: Option<PathBuf>,
    },
    /// Look for a watermark in an image or a video; prints
    /// `{"payload": "<16 hex digits>" | null, "score": <float>}`.
    Detect {
        #[arg(long)]
        input: PathBuf,
        /// Print one JSON object (the only output format).
        #[arg(long)]
        json: bool,
        /// Key file (64 hex digits); defaults to the key `serve` uses.
        #[arg(long)]
        key_file: Option<PathBuf>,
    },
    /// The whole loop on this machine, in about a minute: the service on a fresh SQLite
    /// database in a temporary directory, simulated platforms and the poller; two creators
    /// join, enroll, prove accounts and publish; posts verify (and planted fakes do not),
    /// views grow, one creator revokes consent, the other erases their account, and the
    /// payout system takes a statement. Leaves nothing behind.
    Demo {
        /// Keep the database and the service running afterwards, with curl commands to try.
        #[arg(long)]
        keep: bool,
    },
    /// Service tokens for the generation backend, the payout system and operators.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Serve simulated YouTube, TikTok, Instagram and X APIs from a scenario file, for demos
    /// and tests; prints the settings that point `serve` at it, then runs until interrupted.
    SimulatePlatforms {
        #[arg(long, default_value = "fixtures/platforms/scenario.json")]
        scenario: PathBuf,
        #[arg(long, default_value = "127.0.0.1:8090")]
        bind: String,
        /// Key that marks the scenario's pictures; defaults to the key `serve` uses.
        #[arg(long)]
        key_file: Option<PathBuf>,
        /// Also write the `[platforms]` settings that point `serve` here to this TOML file.
        #[arg(long)]
        write_config: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token; prints {"id", "name", "scopes", "token"} once. Only its hash is stored:
    /// the token cannot be shown again.
    Create {
        /// A label for people (which system holds it).
        #[arg(long)]
        name: String,
        /// content:write, payouts:read or admin; repeat for several.
        #[arg(long = "scope", required = true, value_parser = parse_scope)]
        scopes: Vec<String>,
    },
    /// Revoke a token by id; it stops working at once.
    Revoke {
        #[arg(long)]
        id: uuid::Uuid,
    },
}

fn parse_scope(text: &str) -> Result<String, String> {
    if service_token::SCOPES.contains(&text) {
        Ok(text.to_owned())
    } else {
        Err(format!("unknown scope (expected one of {})", service_token::SCOPES.join(", ")))
    }
}

fn parse_payload(text: &str) -> Result<u64, String> {
    if text.len() != 16 || !text.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err("expected exactly 16 hex digits".into());
    }
    u64::from_str_radix(text, 16).map_err(|e| e.to_string())
}

/// Runs a parsed command; the error is one clear line for the operator.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let mut settings = Settings::load(&cli.config)?;
    if matches!(cli.command, Command::Demo { .. }) {
        // The demo tells its own story; the service's logs (even the warnings about keys
        // created in its temporary directory) would drown it.
        settings.log.level = "error".into();
    }
    telemetry::init(&settings.log);
    match cli.command {
        Command::Serve => serve(settings).await,
        Command::Migrate => {
            let store = startup::open_store(&settings, true).await?;
            tracing::info!(backend = store.backend().as_str(), "migrations applied");
            Ok(())
        }
        Command::Embed { input, output, payload, key_file } => {
            let key = command_key(&settings, key_file.as_deref(), IfMissing::Create)?;
            if is_video(&input)? {
                let marked = enroll::mark_video(&input, &output, &settings.video, &key, payload)?;
                tracing::debug!(frames = marked.frames, "video marked");
                return Ok(());
            }
            let image = read_image(&settings, &input)?;
            let marked = watermark::embed(&image, &key, payload);
            let bytes = image_io::encode(&marked, image_io::format_for_path(&output))?;
            std::fs::write(&output, bytes).with_context(|| format!("cannot write {}", output.display()))?;
            Ok(())
        }
        Command::Detect { input, json: _, key_file } => {
            let key = command_key(&settings, key_file.as_deref(), IfMissing::Fail)?;
            let marks: Vec<watermark::Detection> = if is_video(&input)? {
                recognize::detect_in_video(&input, &settings.video, &key)?
                    .into_iter()
                    .map(|f| f.detection)
                    .collect()
            } else {
                watermark::detect_all(&read_image(&settings, &input)?, &key)
            };
            let mark = |d: &watermark::Detection| serde_json::json!({"payload": format!("{:016x}", d.payload), "score": d.score});
            // The best mark, and beside it every mark found (a collage carries several).
            let best = marks.first();
            let answer = serde_json::json!({
                "payload": best.map(|d| format!("{:016x}", d.payload)),
                "score": best.map_or(0.0, |d| d.score),
                "marks": marks.iter().map(mark).collect::<Vec<_>>(),
            });
            println!("{answer}");
            Ok(())
        }
        Command::Token(command) => token(&settings, command).await,
        Command::Demo { keep } => {
            let options = crate::demo::DemoOptions { keep };
            crate::demo::run(options, &mut crate::demo::Narrator::stdout()).await.map(|_| ())
        }
        Command::Worker => worker(settings).await,
        Command::Erase { user_id } => erase(&settings, &user_id).await,
        Command::RotateMasterKey => rotate_master_key(&settings).await,
        Command::Quota => {
            let plan = settings.tracking.quota_plan(&settings.platforms);
            println!("{}", serde_json::to_string_pretty(&plan).unwrap_or_default());
            Ok(())
        }
        Command::SimulatePlatforms { scenario, bind, key_file, write_config } => {
            simulate_platforms(&settings, &scenario, &bind, key_file.as_deref(), write_config.as_deref())
                .await
        }
    }
}

async fn simulate_platforms(
    settings: &Settings,
    path: &Path,
    bind: &str,
    key_file: Option<&Path>,
    write_config: Option<&Path>,
) -> anyhow::Result<()> {
    let (scenario, dir) = Scenario::load(path)?;
    let key = command_key(settings, key_file, IfMissing::Create)?;
    let simulator = Simulator::start(scenario, &dir, Some(key), bind).await?;
    let toml = simulator_config(&simulator.platform_settings(settings.platforms.clone()));
    if let Some(out) = write_config {
        std::fs::write(out, &toml).with_context(|| format!("cannot write {}", out.display()))?;
    }
    println!("{}", serde_json::json!({"simulator": simulator.base_url(), "config": write_config}));
    tracing::info!(address = simulator.base_url(), "simulated platforms serving");
    tokio::signal::ctrl_c().await?;
    Ok(())
}

async fn token(settings: &Settings, command: TokenCommand) -> anyhow::Result<()> {
    let store = startup::open_store(settings, true).await?;
    match command {
        TokenCommand::Create { name, mut scopes } => {
            scopes.sort();
            scopes.dedup();
            let (token, created) = service_token::issue(store.as_ref(), name, scopes).await?;
            tracing::info!(token_id = %created.id, "service token created");
            let shown = serde_json::json!({
                "id": created.id,
                "name": created.name,
                "scopes": created.scopes,
                "token": token,
            });
            println!("{shown}");
        }
        TokenCommand::Revoke { id } => {
            if !store.revoke_service_token(id).await? {
                anyhow::bail!("no live service token with id {id}");
            }
            tracing::info!(token_id = %id, "service token revoked");
        }
    }
    Ok(())
}

fn command_key(settings: &Settings, key_file: Option<&Path>, if_missing: IfMissing) -> anyhow::Result<Key> {
    Ok(match key_file {
        Some(path) => keys::read_key_file(path)?,
        None => keys::load_configured_key(settings, if_missing)?,
    })
}

/// Whether the file at `path` is a video (MP4, MOV or WebM), from its first bytes.
fn is_video(path: &Path) -> anyhow::Result<bool> {
    use std::io::Read;
    let mut head = Vec::with_capacity(12);
    std::fs::File::open(path)
        .with_context(|| format!("cannot read {}", path.display()))?
        .take(12)
        .read_to_end(&mut head)?;
    Ok(Container::sniff(&head).is_some())
}

fn read_image(settings: &Settings, path: &Path) -> anyhow::Result<image::RgbImage> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let (image, _format) = image_io::decode(&bytes, &(&settings.limits).into())?;
    Ok(image)
}

async fn erase(settings: &Settings, user_id: &str) -> anyhow::Result<()> {
    let _sole = claim_database(settings)?;
    let store = startup::open_store(settings, true).await?;
    // This process polls nothing: its own consent locks have no reader to wait for.
    let locks = crate::consent::locks::ConsentLocks::default();
    let trigger = ErasureTrigger::Operator;
    let receipt =
        crate::consent::changes::erase_user(store.as_ref(), &locks, user_id, trigger, chrono::Utc::now())
            .await?;
    match receipt {
        Some(receipt) => {
            println!("{}", serde_json::json!({"erased": true, "receipt": receipt}));
        }
        None => println!("{}", serde_json::json!({"erased": false})),
    }
    Ok(())
}

async fn rotate_master_key(settings: &Settings) -> anyhow::Result<()> {
    let options = startup::connect_options(settings, false)?;
    let keys = crate::store::KeyStore::open(
        &options.keystore_url,
        options.master_keys.clone(),
        options.connect_timeout,
    )
    .await?;
    let resealed = keys.rewrap_all().await?;
    let remaining = keys.keys_per_master().await?;
    keys.close().await;
    let current = options.master_keys.current.id();
    tracing::info!(resealed, master_key_id = current, "key store re-sealed under the current master key");
    println!(
        "{}",
        serde_json::json!({"resealed": resealed, "master_key_id": current, "keys_per_master_key": remaining})
    );
    Ok(())
}

async fn worker(settings: Settings) -> anyhow::Result<()> {
    let _sole = claim_database(&settings)?;
    let _ = crate::telemetry::metrics();
    let store = startup::open_store(&settings, true).await?;
    startup::adopt_policy(store.as_ref(), &settings.consent).await?;
    // The key must be the one `serve` marks with: a worker never makes its own.
    let key = keys::load_configured_key(&settings, IfMissing::Fail)?;
    let platforms = startup::build_platforms(&settings)?;
    let poller_store = store.clone();
    let poller =
        std::sync::Arc::new(startup::build_poller(&settings, store, key, platforms, Default::default())?);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    use tokio::signal::unix::{signal, SignalKind};
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    tokio::spawn(async move {
        tokio::select! {
            _ = terminate.recv() => {}
            _ = interrupt.recv() => {}
        }
        let _ = stop.send(true);
    });
    let sweeping = settings.retention.enabled.then(|| {
        let sweeper = startup::build_sweeper(&settings, poller_store.clone());
        tokio::spawn(crate::consent::retention::run_sweeper(sweeper, stopped.clone()))
    });
    let deliverer = std::sync::Arc::new(startup::build_deliverer(&settings, poller_store)?);
    let delivering = tokio::spawn(crate::webhooks::run_deliverer(deliverer, stopped.clone()));
    tracing::info!(worker = poller.worker_id(), "worker polling and delivering webhooks");
    crate::tracking::run_worker(poller, stopped).await;
    let _ = delivering.await;
    if let Some(sweeping) = sweeping {
        let _ = sweeping.await;
    }
    Ok(())
}

/// On SQLite, makes this the one process that polls, revokes and erases on the database.
fn claim_database(settings: &Settings) -> anyhow::Result<Option<crate::store::SoleProcess>> {
    crate::store::claim_sole_process(settings.database_url().expose()).map_err(anyhow::Error::msg)
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let _sole = claim_database(&settings)?;
    let app = Application::build(settings.clone()).await?;
    if let Some(file) = crate::keys::master_key_in_data_dir(&settings) {
        tracing::warn!(
            path = %file.display(),
            "SECURITY: the master key is inside the data directory: one copy of that directory \
             opens every creator's data, erased creators' included if the copy predates their \
             erasure. Move it out (secrets_dir or encryption_key_file on another volume) or \
             pass it as VIEWMARK_ENCRYPTION_KEY"
        );
    }
    app.stop_on_signals()?;
    let bound = settings.bind.rsplit_once(':').map_or(settings.bind.as_str(), |(host, _)| host).to_owned();
    tracing::info!(address = %format!("{bound}:{}", app.port()), "listening");
    app.run_until_stopped().await?;
    tracing::info!("stopped");
    Ok(())
}

/// The `[platforms]` TOML that points the adapters at a simulator.
fn simulator_config(p: &crate::platforms::PlatformSettings) -> String {
    let secret =
        |s: &Option<crate::secret::Secret>| s.as_ref().map(|s| s.expose().to_owned()).unwrap_or_default();
    let hosts = |h: &[String]| h.iter().map(|h| format!("{h:?}")).collect::<Vec<_>>().join(", ");
    format!(
        "[platforms.youtube]\nbase_url = {:?}\napi_key = {:?}\n\n\
         [platforms.tiktok]\nbase_url = {:?}\n\n\
         [platforms.instagram]\nbase_url = {:?}\n\n\
         [platforms.x]\nbase_url = {:?}\nbearer_token = {:?}\n\n\
         [platforms.media]\nallow_loopback = true\nallow_http = true\nyoutube_hosts = [{}]\n\
         tiktok_hosts = [{}]\ninstagram_hosts = [{}]\nx_hosts = [{}]\n",
        p.youtube.base_url,
        secret(&p.youtube.api_key),
        p.tiktok.base_url,
        p.instagram.base_url,
        p.x.base_url,
        secret(&p.x.bearer_token),
        hosts(&p.media.youtube_hosts),
        hosts(&p.media.tiktok_hosts),
        hosts(&p.media.instagram_hosts),
        hosts(&p.media.x_hosts),
    ) + &oauth_config(p)
}

/// The `[platforms.oauth.*]` TOML for a simulator's authorization servers.
fn oauth_config(p: &crate::platforms::PlatformSettings) -> String {
    let apps = [
        ("youtube", &p.oauth.youtube),
        ("tiktok", &p.oauth.tiktok),
        ("instagram", &p.oauth.instagram),
        ("x", &p.oauth.x),
    ];
    apps.iter()
        .map(|(name, app)| {
            let revoke = app.revoke_url.as_ref().map(|url| format!("revoke_url = {url:?}\n")).unwrap_or_default();
            format!(
                "\n[platforms.oauth.{name}]\nclient_id = {:?}\nclient_secret = {:?}\nauthorize_url = {:?}\ntoken_url = {:?}\n{revoke}",
                app.client_id.clone().unwrap_or_default(),
                app.client_secret.as_ref().map(|s| s.expose().to_owned()).unwrap_or_default(),
                app.authorize_url,
                app.token_url,
            )
        })
        .collect()
}
