//! The demo's world: its pictures, its simulated social accounts, its stand-in identity
//! provider and the service settings that tie them together. Everything is compiled in, so
//! `viewmark demo` needs nothing but the binary.

use std::path::Path;

use anyhow::Context;
use image::RgbImage;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};

use crate::config::Settings;
use crate::domain::Platform;
use crate::media::image_io::{self, ImageLimits};
use crate::simulator::scenario::{SimAccount, SimMedia, SimPost};
use crate::simulator::{Scenario, SimPostState, Simulator};

/// The stand-in identity provider's key pair: it signs the demo creators' session tokens,
/// and only the demo's own service trusts its public half.
const IDENTITY_PRIVATE_PEM: &str = include_str!("../../fixtures/demo/identity-private.pem");
const IDENTITY_PUBLIC_PEM: &str = include_str!("../../fixtures/demo/identity-public.pem");
const ISSUER: &str = "https://identity.demo.viewmark.invalid";
const AUDIENCE: &str = "viewmark-demo";

/// A fixture photo, compiled in.
pub struct Picture {
    pub name: &'static str,
    bytes: &'static [u8],
}

pub const ROCKET: Picture =
    Picture { name: "rocket.jpg", bytes: include_bytes!("../../fixtures/images/rocket.jpg") };
pub const ASTRONAUT: Picture =
    Picture { name: "astronaut.png", bytes: include_bytes!("../../fixtures/images/astronaut.png") };
pub const CHELSEA: Picture =
    Picture { name: "chelsea.png", bytes: include_bytes!("../../fixtures/images/chelsea.png") };
pub const RETINA: Picture =
    Picture { name: "retina.jpg", bytes: include_bytes!("../../fixtures/images/retina.jpg") };

/// The long side of a generated picture: the photos are scaled up to what the generator
/// outputs.
const GENERATED_SIDE: u32 = 1536;

impl Picture {
    /// The picture as the generator would output it: PNG, 1536 px on the long side.
    pub fn generated(&self) -> anyhow::Result<Vec<u8>> {
        let limits = ImageLimits { max_bytes: 16 << 20, max_pixels: 1 << 24, max_dimension: 4096 };
        let (image, _) = image_io::decode(self.bytes, &limits)?;
        let scale = GENERATED_SIDE as f32 / image.width().max(image.height()) as f32;
        let (w, h) =
            ((image.width() as f32 * scale) as u32 & !1, (image.height() as f32 * scale) as u32 & !1);
        let resized: RgbImage = image::imageops::resize(&image, w, h, image::imageops::FilterType::Lanczos3);
        Ok(image_io::encode(&resized, image::ImageFormat::Png)?)
    }
}

/// The demo identity provider: a session token for `user_id`, valid for a day (long enough
/// to explore with `--keep`).
pub fn session_token(user_id: &str) -> anyhow::Result<String> {
    let _ = jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER.install_default();
    let now = chrono::Utc::now().timestamp();
    let claims = serde_json::json!({
        "sub": user_id, "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 86_400,
    });
    let key = EncodingKey::from_rsa_pem(IDENTITY_PRIVATE_PEM.as_bytes()).context("the demo identity key")?;
    Ok(encode(&Header::new(Algorithm::RS256), &claims, &key)?)
}

/// The social accounts of the demo: Ada on X and Instagram, Bob on X, and a copycat.
pub fn scenario() -> Scenario {
    let account = |platform, handle: &str, token: Option<&str>| SimAccount {
        platform,
        handle: handle.into(),
        bio: "AI pictures".into(),
        access_token: token.map(str::to_owned),
        refresh_token: None,
        token_expired: false,
        protected: false,
    };
    Scenario {
        credentials: Default::default(),
        limits: Default::default(),
        accounts: vec![
            account(Platform::X, ADA_X, None),
            account(Platform::Instagram, ADA_INSTAGRAM, Some(ADA_INSTAGRAM_TOKEN)),
            account(Platform::X, BOB_X, None),
            account(Platform::X, COPYCAT_X, None),
        ],
        posts: Vec::new(),
    }
}

pub const ADA_X: &str = "ada_makes";
pub const ADA_INSTAGRAM: &str = "ada.makes";
/// What Instagram's login gave Ada's account (the service stores it sealed).
pub const ADA_INSTAGRAM_TOKEN: &str = "IGQ.demo.ada.makes";
pub const BOB_X: &str = "bob_makes";
pub const COPYCAT_X: &str = "copycat_9000";

/// A post the creators publish, and what the demo expects of it.
pub struct Planned {
    pub label: &'static str,
    /// The picture, in a word.
    pub short: &'static str,
    pub platform: Platform,
    pub id: &'static str,
    pub account: &'static str,
    /// The creator who registers it (true: Ada).
    pub by_ada: bool,
    /// Why it must not verify, for the planted fakes.
    pub fake: Option<&'static str>,
}

pub const PLANNED: [Planned; 6] = [
    Planned {
        label: "Ada's rocket on X",
        short: "rocket",
        platform: Platform::X,
        id: "1950000000000000001",
        account: ADA_X,
        by_ada: true,
        fake: None,
    },
    Planned {
        label: "Ada's astronaut on Instagram",
        short: "astronaut",
        platform: Platform::Instagram,
        id: "DmoAstro01",
        account: ADA_INSTAGRAM,
        by_ada: true,
        fake: None,
    },
    Planned {
        label: "Bob's cat on X",
        short: "cat",
        platform: Platform::X,
        id: "1950000000000000002",
        account: BOB_X,
        by_ada: false,
        fake: None,
    },
    Planned {
        label: "an unmarked photo on Ada's X",
        short: "unmarked",
        platform: Platform::X,
        id: "1950000000000000003",
        account: ADA_X,
        by_ada: true,
        fake: Some("it carries no watermark"),
    },
    Planned {
        label: "Bob's cat re-posted on Ada's X",
        short: "cat",
        platform: Platform::X,
        id: "1950000000000000004",
        account: ADA_X,
        by_ada: true,
        fake: Some("the watermark is Bob's content, not Ada's"),
    },
    Planned {
        label: "Ada's rocket on @copycat_9000",
        short: "rocket",
        platform: Platform::X,
        id: "1950000000000000005",
        account: COPYCAT_X,
        by_ada: true,
        fake: Some("the post is on an account Ada has not proven"),
    },
];

/// Ada's rocket posted again on X, which she never registers: a scan of her account finds it.
pub const FORGOTTEN: Planned = Planned {
    label: "Ada's rocket, posted again on X",
    short: "rocket",
    platform: Platform::X,
    id: "1950000000000000006",
    account: ADA_X,
    by_ada: true,
    fake: None,
};

/// What each platform does to an upload, in words (`scenario::usual_pipeline`).
pub fn pipeline(platform: Platform) -> &'static str {
    match platform {
        Platform::Instagram => "Instagram: crop 4:5, 1080 wide, JPEG 75",
        Platform::Tiktok => "TikTok: crop 9:16, 720 wide, JPEG 80",
        Platform::Youtube => "YouTube: crop 16:9, 1280 wide, JPEG 85",
        Platform::X => "X: JPEG 85",
    }
}

/// The identity provider's user id of a demo creator ("Ada" -> "demo-ada").
pub fn user_id(name: &str) -> String {
    format!("demo-{}", name.to_lowercase())
}

/// A post the demo publishes: views grow by `per_hour` of simulated time.
pub fn post(platform: Platform, id: &str, account: &str, first: u64, per_hour: u64) -> SimPost {
    SimPost {
        platform,
        id: id.into(),
        account: account.into(),
        state: SimPostState::Live,
        views: vec![(0, first), (86_400, first + 24 * per_hour)],
        engagement: Default::default(),
        media: Some(SimMedia::uploaded()),
    }
}

/// The post's address, as the creator copies it from the platform.
pub fn post_url(platform: Platform, account: &str, id: &str) -> String {
    match platform {
        Platform::Instagram => format!("https://www.instagram.com/p/{id}/"),
        Platform::Tiktok => format!("https://www.tiktok.com/@{account}/video/{id}"),
        Platform::Youtube => format!("https://www.youtube.com/shorts/{id}"),
        Platform::X => format!("https://x.com/{account}/status/{id}"),
    }
}

/// The service's settings for the demo: a fresh SQLite database and fresh keys in `dir`
/// (as `serve` makes them on first start), the stand-in identity provider, the simulated
/// platforms, and a fast schedule.
pub fn settings(dir: &Path, simulator: &Simulator) -> Settings {
    let mut s = Settings {
        bind: "127.0.0.1:0".into(),
        data_dir: dir.to_path_buf(),
        secrets_dir: dir.join("secrets"),
        ..Settings::default()
    };
    s.auth.issuer = Some(ISSUER.into());
    s.auth.audience = Some(AUDIENCE.into());
    s.auth.public_keys_pem = vec![IDENTITY_PUBLIC_PEM.into()];
    s.platforms = simulator.platform_settings(s.platforms.clone());
    // The demo asks about its posts every quarter second.
    s.rate_limit.per_minute = 6000;
    s.rate_limit.burst = 600;
    let t = &mut s.tracking;
    t.poll_in_serve = true;
    t.jitter = 0.0;
    t.idle_ms = 200;
    t.young_interval_secs = 2;
    // The simulated clock runs an hour in a second or two: a post's pace in real time means
    // nothing here, and every post is polled on the age's interval.
    t.flat_interval_factor = 1;
    t.retry_base_secs = 1;
    t.max_verify_attempts = 1;
    // Accounts are scanned for posts nobody registered every few seconds.
    t.discovery.young_interval_secs = 3;
    // Views are final at once, and the simulated clock runs an hour in a second or two, so
    // the velocity check would flag every post.
    s.payouts.hold_secs = 0;
    s.payouts.velocity_floor_per_hour = f64::MAX;
    s
}
