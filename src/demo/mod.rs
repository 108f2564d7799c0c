//! `viewmark demo`: the whole loop on one machine. It starts the service on a fresh SQLite
//! database in a temporary directory, the simulated platforms and the poller on a fast
//! schedule, then plays two creators, the generation backend and the payout system through
//! the real HTTP API, and says what happens. Without `--keep` it stops and removes
//! everything; with it, the service stays up for exploring.

mod accounts;
mod client;
mod narrate;
mod story;
mod world;

use serde_json::Value;

use crate::api::auth::service_token;
use crate::keys::{self, IfMissing};
use crate::simulator::Simulator;
use crate::startup::{self, Application};
use crate::store::Store;
pub use narrate::Narrator;

#[derive(Debug, Clone, Default)]
pub struct DemoOptions {
    /// Keep the database and the service running when the story ends.
    pub keep: bool,
}

/// What happened, for the test that runs the demo's scenario.
#[derive(Debug)]
pub struct DemoReport {
    pub posts: Vec<PostOutcome>,
    /// The verified posts' latest views, after each simulated hour.
    pub views: Vec<Vec<u64>>,
    /// Ada's Instagram account as linked by OAuth (proven, tokens held).
    pub linked_by_oauth: Value,
    /// The post a scan of Ada's X account found, never registered, once checked.
    pub discovered: Value,
    /// Requests to Instagram in the hour after Ada unlinked her Instagram account.
    pub instagram_requests_after_unlink: u32,
    /// Requests about Ada's posts to the platforms after she revoked consent.
    pub ada_lookups_after_revoke: u32,
    /// Requests about Bob's post in the same time (the poller was running).
    pub bob_lookups_after_revoke: u32,
    pub detected_before_erasure: bool,
    pub detected_after_erasure: bool,
    pub receipt: Value,
    /// The statement frozen before the revocation and the erasure...
    pub first_statement: Value,
    /// ...the same statement read after them...
    pub first_statement_after_erasure: Value,
    /// ...and the statement for the rest of the period.
    pub rest_statement: Value,
    /// `/metrics` at the end.
    pub metrics: String,
    /// The temporary directory the service ran in (gone unless kept).
    pub dir: std::path::PathBuf,
}

#[derive(Debug)]
pub struct PostOutcome {
    pub label: &'static str,
    /// A planted fake, which must not verify.
    pub fake: bool,
    pub status: String,
    pub reason: Option<String>,
}

/// Runs the demo, telling it to `say`. With `keep`, waits for Ctrl-C before stopping.
pub async fn run(options: DemoOptions, say: &mut Narrator) -> anyhow::Result<DemoReport> {
    let dir = tempfile::Builder::new().prefix("viewmark-demo-").tempdir()?;
    let sim = Simulator::start(world::scenario(), dir.path(), None, "127.0.0.1:0").await?;
    let settings = world::settings(dir.path(), &sim);
    let store = startup::open_store(&settings, true).await?;
    let key = keys::load_configured_key(&settings, IfMissing::Create)?;
    let app = Application::build_with(&settings, store.clone(), key)?;
    let api = client::ApiClient::new(format!("http://127.0.0.1:{}", app.port()));
    let server = app.handle();
    let running = tokio::spawn(app.run_until_stopped());
    say.line("viewmark demo: the whole loop on this machine");
    say.line(&format!("database   {} (SQLite, fresh)", dir.path().join("viewmark.db").display()));
    say.line(&format!("service    {}", api.base()));
    say.line(&format!("platforms  {} (simulated YouTube, TikTok, Instagram and X)", sim.base_url()));

    let who = story::Credentials {
        ada: world::session_token(&world::user_id("Ada"))?,
        bob: world::session_token(&world::user_id("Bob"))?,
        generator: service(store.as_ref(), "generation backend", "content:write").await?,
        payouts: service(store.as_ref(), "payout system", "payouts:read").await?,
        admin: service(store.as_ref(), "operator", "admin").await?,
    };
    let told = story::tell(&api, &sim, &who, say)
        .await
        .map(|report| DemoReport { dir: dir.path().into(), ..report });

    let kept = options.keep && told.is_ok();
    let to_remove = if kept {
        keep_running(&api, &who, &dir.keep(), say);
        tokio::signal::ctrl_c().await?;
        None
    } else {
        Some(dir)
    };
    server.stop(true).await;
    let _ = running.await;
    // The pool closes before the directory holding the database goes.
    store.close().await;
    drop(to_remove);
    match (&told, kept) {
        (Ok(_), false) => {
            let done =
                format!("done in {:.0} s; the service is stopped and its directory removed", say.seconds());
            say.line("");
            say.line(&done);
        }
        (Ok(_), true) => say.line("stopped; the data directory stays"),
        (Err(_), _) => {
            say.line("the demo stopped on an error; the service is stopped and its directory removed")
        }
    }
    told
}

/// Prints what to try against the kept service.
fn keep_running(
    api: &client::ApiClient,
    who: &story::Credentials,
    dir: &std::path::Path,
    say: &mut Narrator,
) {
    let base = api.base();
    say.step("Still running (--keep): try it, then press Ctrl-C to stop");
    say.line(&format!("data directory (kept): {}", dir.display()));
    say.line(&format!("ADA={}", who.ada));
    say.line(&format!("ADMIN={}", who.admin));
    say.line(&format!("PAYOUTS={}", who.payouts));
    say.line(&format!("curl -H \"Authorization: Bearer $ADA\" {base}/v1/posts"));
    say.line(&format!("curl -H \"Authorization: Bearer $ADA\" {base}/v1/creators/me/export"));
    say.line(&format!(
        "curl -H \"Authorization: Bearer $PAYOUTS\" '{base}/v1/payouts/verified-views?from=2026-01-01T00:00:00Z&to=2100-01-01T00:00:00Z'"
    ));
    say.line(&format!(
        "curl -H \"Authorization: Bearer $ADMIN\" --data-binary @picture.png {base}/v1/detect"
    ));
    say.line(&format!("curl -H \"Authorization: Bearer $ADMIN\" {base}/metrics"));
    say.line(&format!("open {base}/docs for the API"));
    say.line(&format!(
        "later, without the simulated platforms: VIEWMARK_DATA_DIR={} cargo run --release -- serve (service tokens keep working)",
        dir.display()
    ));
}

/// A service token, as `viewmark token create` makes one.
async fn service(store: &dyn Store, name: &str, scope: &str) -> anyhow::Result<String> {
    Ok(service_token::issue(store, name.into(), vec![scope.into()]).await?.0)
}
