//! The simulated platforms and the adapters built against them, with fast retries and short
//! timeouts so that fault tests finish quickly.

use viewmark::platforms::fetcher::MediaFetcher;
use viewmark::platforms::{PlatformSettings, Platforms, UserCredential, UserToken};
use viewmark::simulator::{Scenario, Simulator};

use super::{fixture_path, test_key};

pub const YT: &str = "vmkDemoYT01";
pub const TT: &str = "7300000000000000001";
pub const IG: &str = "CvmkDemo01";
pub const TW: &str = "1800000000000000001";

pub struct World {
    pub sim: Simulator,
    pub platforms: Platforms,
    pub fetcher: MediaFetcher,
    pub settings: PlatformSettings,
}

/// Fast retries and short timeouts, so fault tests finish quickly.
pub fn quick_settings() -> PlatformSettings {
    let mut settings = PlatformSettings {
        request_timeout_ms: 700,
        max_retries: 2,
        backoff_base_ms: 5,
        backoff_max_ms: 20,
        ..PlatformSettings::default()
    };
    settings.media.timeout_ms = 1500;
    settings
}

pub async fn world_with(adjust: impl FnOnce(&mut Scenario)) -> World {
    let (mut scenario, dir) = Scenario::load(&fixture_path("platforms/scenario.json")).unwrap();
    adjust(&mut scenario);
    let sim = Simulator::start(scenario, &dir, Some(test_key()), "127.0.0.1:0").await.unwrap();
    let settings = sim.platform_settings(quick_settings());
    let platforms = Platforms::new(&settings).unwrap();
    let fetcher = MediaFetcher::new(&settings.media).unwrap();
    World { sim, platforms, fetcher, settings }
}

pub async fn world() -> World {
    world_with(|_| {}).await
}

pub fn creator(token: &str, refresh: Option<&str>) -> UserCredential {
    UserCredential::new(
        viewmark::domain::AccountId::random(),
        UserToken {
            access_token: viewmark::secret::Secret::new(token),
            refresh_token: refresh.map(viewmark::secret::Secret::new),
            expires_at: None,
        },
    )
}

pub fn tiktok_creator() -> UserCredential {
    creator("act.ana.creates.0", Some("rft.ana.creates.0"))
}

pub fn instagram_creator() -> UserCredential {
    creator("IGQ.ana.creates.0", None)
}
