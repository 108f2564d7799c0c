//! The four adapters against the simulated platforms: normal answers, removed and private
//! posts, profiles, token refresh, and every API fault mapped to a typed outcome.

use std::time::{Duration, Instant};

use viewmark::domain::{Engagement, Platform};
use viewmark::media::image_io::{decode, ImageLimits};
use viewmark::platforms::start_gate::Ungated;
use viewmark::platforms::{PlatformError, Platforms, PostState, UserCredential};
use viewmark::simulator::{Fault, FaultKind, FaultTarget, SimPostState, Simulator};

use crate::support::platforms::*;
use crate::support::test_key;

fn ids(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

#[tokio::test]
async fn every_adapter_reads_views_author_and_a_detectable_picture() {
    let w = world().await;
    let cases = [
        (Platform::Youtube, YT, "ana-creates", None, 120, 0xa1),
        (Platform::Tiktok, TT, "ana.creates", Some(tiktok_creator()), 500, 0xa2),
        (Platform::Instagram, IG, "ana.creates", Some(instagram_creator()), 80, 0xa3),
        (Platform::X, TW, "ana_creates", None, 1000, 0xa4),
    ];
    for (platform, id, handle, user, min_views, payload) in cases {
        let adapter = w.platforms.adapter(platform);
        let fetched = adapter.observe(&Ungated, &ids(&[id]), user.as_ref()).await.unwrap();
        assert!(user.as_ref().is_none_or(|u| u.refreshed.take().is_none()));
        let seen = &fetched[0];
        assert_eq!(seen.post_id, id);
        assert_eq!(seen.state, PostState::Live, "{platform:?}");
        assert_eq!(seen.author_handle.as_deref(), Some(handle), "{platform:?}");
        let views = seen.views.unwrap();
        assert!(views >= min_views && views < min_views + 100, "{platform:?}: {views}");
        // The simulator's default rates (40 likes, 3 comments and 2 shares per 1,000 views),
        // as far as each platform's answer carries them: YouTube has no share count, and
        // Instagram's shares are an insight not asked for.
        let per = |rate: u64| Some(views * rate / 1000);
        let shares = match platform {
            Platform::Youtube | Platform::Instagram => None,
            Platform::Tiktok | Platform::X => per(2),
        };
        let expected = Engagement { likes: per(40), comments: per(3), shares };
        assert_eq!(seen.engagement, expected, "{platform:?}");
        assert_eq!(seen.media_urls.len(), 1, "{platform:?}");
        let media = w.fetcher.fetch(&Ungated, platform, &seen.media_urls[0]).await.unwrap();
        assert_eq!(media.content_type, "image/jpeg");
        let limits = ImageLimits { max_bytes: 1 << 24, max_pixels: 1 << 26, max_dimension: 8192 };
        let (image, _) = decode(&media.bytes, &limits).unwrap();
        let found = viewmark::watermark::detect(&image, &test_key());
        assert_eq!(
            found.map(|d| d.payload),
            Some(payload),
            "{platform:?}: the platform's copy keeps the mark"
        );
    }
}

#[tokio::test]
async fn views_follow_the_curve_as_time_passes() {
    let w = world().await;
    let x = w.platforms.adapter(Platform::X);
    let before = x.observe(&Ungated, &ids(&[TW]), None).await.unwrap()[0].views.unwrap();
    w.sim.advance(43_200);
    let after = x.observe(&Ungated, &ids(&[TW]), None).await.unwrap()[0].views.unwrap();
    assert!(before < 1100 && (12_900..=13_100).contains(&after), "{before} -> {after}");
}

#[tokio::test]
async fn removed_and_private_posts_are_reported_as_such() {
    let w = world().await;
    let yt = w
        .platforms
        .adapter(Platform::Youtube)
        .observe(&Ungated, &ids(&[YT, "vmkDemoYT02", "nonexistent"]), None)
        .await;
    let states: Vec<_> = yt.unwrap().iter().map(|o| o.state).collect();
    assert_eq!(
        states,
        [PostState::Live, PostState::Removed, PostState::Removed],
        "YouTube hides private videos"
    );

    let tt = w.platforms.adapter(Platform::Tiktok);
    let seen =
        tt.observe(&Ungated, &ids(&[TT, "7300000000000000002"]), Some(&tiktok_creator())).await.unwrap();
    assert_eq!(seen[1].state, PostState::Removed);
    assert!(seen[1].views.is_none() && seen[1].media_urls.is_empty());

    let x = w.platforms.adapter(Platform::X);
    let seen =
        x.observe(&Ungated, &ids(&[TW, "1800000000000000002", "1800000000000000009"]), None).await.unwrap();
    let states: Vec<_> = seen.iter().map(|o| o.state).collect();
    assert_eq!(states, [PostState::Live, PostState::Private, PostState::Removed]);

    w.sim.set_post_state(Platform::X, TW, SimPostState::Removed);
    w.sim.set_post_state(Platform::Instagram, IG, SimPostState::Removed);
    assert_eq!(x.observe(&Ungated, &ids(&[TW]), None).await.unwrap()[0].state, PostState::Removed);
    let ig = w.platforms.adapter(Platform::Instagram);
    let seen = ig.observe(&Ungated, &ids(&[IG, "CvmkDemo02"]), Some(&instagram_creator())).await.unwrap();
    assert_eq!(seen[0].state, PostState::Removed);
    assert_eq!(seen[1].state, PostState::Live, "a reel without media_url still has its thumbnail");
    assert_eq!(seen[1].media_urls.len(), 1);
}

#[tokio::test]
async fn profiles_carry_the_bio() {
    let w = world().await;
    let cases = [
        (Platform::Youtube, "ana-creates", None),
        (Platform::Tiktok, "ana.creates", Some(tiktok_creator())),
        (Platform::Instagram, "ana.creates", Some(instagram_creator())),
        (Platform::X, "ana_creates", None),
    ];
    for (platform, handle, user) in cases {
        let profile =
            w.platforms.adapter(platform).profile(&Ungated, handle, user.as_ref()).await.unwrap().unwrap();
        assert_eq!(profile.handle, handle);
        assert_eq!(profile.bio, "AI pictures every day");
    }
    let nobody = w.platforms.adapter(Platform::X).profile(&Ungated, "nobody_here", None).await.unwrap();
    assert!(nobody.is_none());
    let nobody = w.platforms.adapter(Platform::Youtube).profile(&Ungated, "nobody-here", None).await.unwrap();
    assert!(nobody.is_none());
}

#[tokio::test]
async fn an_expired_tiktok_token_is_refreshed_once_and_handed_back() {
    let w = world().await;
    w.sim.expire_token(Platform::Tiktok, "ana.creates");
    let tt = w.platforms.adapter(Platform::Tiktok);
    let user = tiktok_creator();
    let fetched = tt.observe(&Ungated, &ids(&[TT]), Some(&user)).await.unwrap();
    assert_eq!(fetched[0].state, PostState::Live);
    let fresh = user.refreshed.take().expect("new tokens to store");
    assert_eq!(
        Some(fresh.access_token.expose().to_owned()),
        w.sim.access_token(Platform::Tiktok, "ana.creates")
    );
    assert!(fresh.expires_at.is_some());
    // The old refresh token was rotated: a second refresh with it is refused.
    w.sim.expire_token(Platform::Tiktok, "ana.creates");
    let err = tt.observe(&Ungated, &ids(&[TT]), Some(&tiktok_creator())).await.unwrap_err();
    assert_eq!(err.kind(), "unauthorized");
}

/// TikTok rotates refresh tokens: once a refresh has succeeded the old ones are dead, so the
/// new ones are handed back even when the call they were fetched for then fails.
#[tokio::test]
async fn a_refreshed_tiktok_token_is_handed_back_when_the_call_then_fails() {
    let w = world().await;
    w.sim.expire_token(Platform::Tiktok, "ana.creates");
    let tt = w.platforms.adapter(Platform::Tiktok);
    // The refused query and the refresh go through; every query after them fails.
    let pass = FaultKind::Slow { delay_ms: 0 };
    w.sim.inject(Fault { target: FaultTarget::Tiktok, kind: pass, times: 2 });
    let down = FaultKind::ServerError { status: 503 };
    w.sim.inject(Fault { target: FaultTarget::Tiktok, kind: down, times: 50 });
    let user = tiktok_creator();
    assert!(tt.observe(&Ungated, &ids(&[TT]), Some(&user)).await.is_err());
    w.sim.clear_faults();
    let fresh = user.refreshed.take().expect("the refreshed tokens, although the call failed");
    let now_valid = w.sim.access_token(Platform::Tiktok, "ana.creates");
    assert_eq!(Some(fresh.access_token.expose().to_owned()), now_valid);
    // With them the account still works; with the old ones it would not.
    let renewed = UserCredential::new(user.account_id, fresh);
    assert_eq!(tt.observe(&Ungated, &ids(&[TT]), Some(&renewed)).await.unwrap()[0].state, PostState::Live);
}

#[tokio::test]
async fn instagram_tokens_are_extended_before_expiry_and_an_expired_one_is_unauthorized() {
    let w = world().await;
    let ig = w.platforms.adapter(Platform::Instagram);
    let mut soon = instagram_creator();
    soon.token.expires_at = Some(chrono::Utc::now() + chrono::Duration::days(2));
    ig.observe(&Ungated, &ids(&[IG]), Some(&soon)).await.unwrap();
    let fresh = soon.refreshed.take().expect("extended token");
    assert_eq!(
        Some(fresh.access_token.expose().to_owned()),
        w.sim.access_token(Platform::Instagram, "ana.creates")
    );
    let with_fresh = creator(fresh.access_token.expose(), None);
    ig.observe(&Ungated, &ids(&[IG]), Some(&with_fresh)).await.unwrap();
    assert!(with_fresh.refreshed.take().is_none(), "not due: not extended");

    w.sim.expire_token(Platform::Instagram, "ana.creates");
    let err = ig.observe(&Ungated, &ids(&[IG]), Some(&with_fresh)).await.unwrap_err();
    assert!(matches!(err, PlatformError::Unauthorized { .. }), "{err:?}");
    let err = ig.observe(&Ungated, &ids(&[IG]), None).await.unwrap_err();
    assert_eq!(err.kind(), "not_configured", "no token held");
}

#[tokio::test]
async fn wrong_app_credentials_are_unauthorized() {
    let w = world().await;
    let mut settings = w.settings.clone();
    settings.youtube.api_key = Some(viewmark::secret::Secret::new("wrong"));
    settings.x.bearer_token = Some(viewmark::secret::Secret::new("wrong"));
    let platforms = Platforms::new(&settings).unwrap();
    for platform in [Platform::Youtube, Platform::X] {
        let err = platforms.adapter(platform).observe(&Ungated, &ids(&["a"]), None).await.unwrap_err();
        assert_eq!(err.kind(), "unauthorized", "{platform:?}: {err:?}");
    }
    settings.youtube.api_key = None;
    let err = Platforms::new(&settings)
        .unwrap()
        .adapter(Platform::Youtube)
        .observe(&Ungated, &ids(&[YT]), None)
        .await;
    assert_eq!(err.unwrap_err().kind(), "not_configured");
}

fn inject(sim: &Simulator, target: FaultTarget, kind: FaultKind, times: u32) {
    sim.inject(Fault { target, kind, times });
}

fn user_for(platform: Platform) -> Option<UserCredential> {
    match platform {
        Platform::Tiktok => Some(tiktok_creator()),
        Platform::Instagram => Some(instagram_creator()),
        _ => None,
    }
}

fn post_for(platform: Platform) -> Vec<String> {
    ids(&[match platform {
        Platform::Youtube => YT,
        Platform::Tiktok => TT,
        Platform::Instagram => IG,
        Platform::X => TW,
    }])
}

#[tokio::test]
async fn every_api_fault_maps_to_a_typed_outcome_on_every_platform() {
    for platform in Platform::ALL {
        let w = world().await;
        let (adapter, user, posts, target) = (
            w.platforms.adapter(platform),
            user_for(platform),
            post_for(platform),
            FaultTarget::from(platform),
        );
        let observe = || adapter.observe(&Ungated, &posts, user.as_ref());

        // One 5xx, one slow answer: retried or waited out, then fine.
        inject(&w.sim, target, FaultKind::ServerError { status: 503 }, 1);
        assert!(observe().await.is_ok(), "{platform:?}: one 503 is retried");
        inject(&w.sim, target, FaultKind::Slow { delay_ms: 200 }, 1);
        assert!(observe().await.is_ok(), "{platform:?}: slow but within the timeout");

        // 5xx that persist, and a hang: bounded retries, then Unavailable.
        inject(&w.sim, target, FaultKind::ServerError { status: 500 }, 10);
        let err = observe().await.unwrap_err();
        assert!(matches!(err, PlatformError::Unavailable { attempts: 3, .. }), "{platform:?}: {err:?}");
        w.sim.clear_faults();
        inject(&w.sim, target, FaultKind::Hang, 10);
        let started = Instant::now();
        let err = observe().await.unwrap_err();
        assert!(
            matches!(&err, PlatformError::Unavailable { reason, .. } if reason == "timed out"),
            "{platform:?}: {err:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(10));
        w.sim.clear_faults();

        // A body cut in half.
        inject(&w.sim, target, FaultKind::Truncated, 1);
        assert_eq!(observe().await.unwrap_err().kind(), "bad_response", "{platform:?}");

        // The platform's rate-limit answer pauses it: the next call makes no request.
        inject(&w.sim, target, FaultKind::RateLimit { retry_after_secs: 120 }, 1);
        let err = observe().await.unwrap_err();
        assert_eq!(err.kind(), "rate_limited", "{platform:?}: {err:?}");
        assert!(err.retry_after().unwrap() >= Duration::from_secs(50), "{platform:?}: {err:?}");
        let requests = w.sim.requests(target);
        assert_eq!(observe().await.unwrap_err().kind(), "rate_limited");
        assert_eq!(w.sim.requests(target), requests, "{platform:?}: paused means no request");
        assert!(adapter.paused_for().is_some());
    }
}

#[tokio::test]
async fn instagram_pauses_as_long_as_metas_usage_header_says() {
    let w = world().await;
    inject(&w.sim, FaultTarget::Instagram, FaultKind::RateLimit { retry_after_secs: 600 }, 1);
    let ig = w.platforms.adapter(Platform::Instagram);
    let err =
        ig.observe(&Ungated, &post_for(Platform::Instagram), Some(&instagram_creator())).await.unwrap_err();
    assert_eq!(err.retry_after(), Some(Duration::from_secs(600)), "{err:?}");
    let paused = ig.paused_for().unwrap();
    assert!(paused > Duration::from_secs(590) && paused <= Duration::from_secs(600), "{paused:?}");
}

#[tokio::test]
async fn one_instagram_media_without_insights_keeps_the_others_views() {
    let w = world().await;
    w.sim.set_post_state(Platform::Instagram, IG, SimPostState::FewViewers);
    let ig = w.platforms.adapter(Platform::Instagram);
    let seen = ig.observe(&Ungated, &ids(&[IG, "CvmkDemo02"]), Some(&instagram_creator())).await.unwrap();
    assert_eq!(seen[0].state, PostState::Live);
    assert_eq!(seen[0].views, None);
    assert!(seen[0].views_withheld.as_deref().is_some_and(|r| r.contains("code 10")), "{:?}", seen[0]);
    assert_eq!(seen[0].media_urls.len(), 1, "its picture is still read");
    assert!(seen[1].views.is_some() && seen[1].views_withheld.is_none(), "{:?}", seen[1]);
}

#[tokio::test]
async fn youtube_quota_exhaustion_pauses_until_the_daily_reset() {
    let w = world().await;
    inject(&w.sim, FaultTarget::Youtube, FaultKind::QuotaExceeded, 1);
    let err = w
        .platforms
        .adapter(Platform::Youtube)
        .observe(&Ungated, &post_for(Platform::Youtube), None)
        .await
        .unwrap_err();
    assert!(matches!(err, PlatformError::QuotaExhausted { .. }), "{err:?}");
    assert!(err.retry_after().unwrap() <= Duration::from_secs(24 * 3600));
}

#[tokio::test]
async fn the_platforms_own_limits_are_enforced_and_honoured() {
    // The simulated X allows 3 lookups per window; the adapter's budget is larger, so the
    // 4th request meets X's 429 and its reset header pauses X.
    let w = world_with(|s| s.limits.x_per_15_min = 3).await;
    let x = w.platforms.adapter(Platform::X);
    let mut outcomes = vec![];
    for _ in 0..5 {
        outcomes
            .push(x.observe(&Ungated, &post_for(Platform::X), None).await.map(|_| ()).map_err(|e| e.kind()));
    }
    // X reports "0 remaining" on the third answer, so the adapter pauses before a 429.
    assert_eq!(outcomes, [Ok(()), Ok(()), Ok(()), Err("rate_limited"), Err("rate_limited")]);
    assert_eq!(w.sim.requests(FaultTarget::X), 3);

    // Our own budget: two requests per window, the third is refused before leaving.
    let mut settings = w.settings.clone();
    settings.youtube.daily_quota_units = 2;
    let platforms = Platforms::new(&settings).unwrap();
    let yt = platforms.adapter(Platform::Youtube);
    assert!(yt.observe(&Ungated, &ids(&["nothing0001"]), None).await.is_ok(), "no videos: one call");
    let before = w.sim.requests(FaultTarget::Youtube);
    assert!(yt.observe(&Ungated, &ids(&[YT]), None).await.is_err(), "videos and channels need two units");
    assert_eq!(w.sim.requests(FaultTarget::Youtube), before + 1);
}

#[tokio::test]
async fn one_throttled_or_hanging_platform_does_not_slow_the_others() {
    let w = world().await;
    inject(&w.sim, FaultTarget::X, FaultKind::RateLimit { retry_after_secs: 900 }, 1);
    inject(&w.sim, FaultTarget::Tiktok, FaultKind::Hang, 10);
    let x = w.platforms.adapter(Platform::X);
    assert_eq!(x.observe(&Ungated, &post_for(Platform::X), None).await.unwrap_err().kind(), "rate_limited");

    let creator = tiktok_creator();
    let started = Instant::now();
    let tiktok = async {
        let outcome = w
            .platforms
            .adapter(Platform::Tiktok)
            .observe(&Ungated, &post_for(Platform::Tiktok), Some(&creator))
            .await;
        (outcome, started.elapsed())
    };
    let others = async {
        for platform in [Platform::Youtube, Platform::Instagram] {
            let user = user_for(platform);
            let seen = w
                .platforms
                .adapter(platform)
                .observe(&Ungated, &post_for(platform), user.as_ref())
                .await
                .unwrap();
            assert_eq!(seen[0].state, PostState::Live);
        }
        let x_again = x.observe(&Ungated, &post_for(Platform::X), None).await.unwrap_err();
        (started.elapsed(), x_again.kind())
    };
    let ((tiktok, tiktok_took), (others_took, x_again)) = tokio::join!(tiktok, others);
    assert_eq!(tiktok.unwrap_err().kind(), "unavailable", "TikTok hung and timed out");
    assert_eq!(x_again, "rate_limited");
    // Order, not wall-clock figures: the others were done while TikTok still waited.
    assert!(others_took < tiktok_took, "others took {others_took:?}, TikTok {tiktok_took:?}");
    assert_eq!(w.sim.requests(FaultTarget::X), 1, "X stayed paused");
}
