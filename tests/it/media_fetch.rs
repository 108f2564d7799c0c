//! The media fetcher: hostile URLs and redirects refused before any connection to an
//! internal address, and every broken-CDN fault a typed outcome.

use url::Url;
use viewmark::domain::Platform;
use viewmark::media::image_io::{decode, ImageLimits, MediaError};
use viewmark::platforms::fetcher::{FetchError, MediaFetcher};
use viewmark::platforms::start_gate::Ungated;
use viewmark::platforms::PlatformSettings;
use viewmark::simulator::{Fault, FaultKind, FaultTarget};

use crate::support::platforms::{world, TW};

fn url(text: &str) -> Url {
    Url::parse(text).unwrap()
}

/// A fetcher that allows every hostile host by name, so what refuses them is the address
/// check, not the allow list.
fn strict_fetcher(extra_hosts: &[&str]) -> MediaFetcher {
    let mut media = PlatformSettings::default().media;
    media.x_hosts = extra_hosts.iter().map(|h| (*h).to_owned()).collect();
    media.allow_http = true;
    media.allow_loopback = false;
    media.timeout_ms = 2000;
    MediaFetcher::new(&media).unwrap()
}

#[tokio::test]
async fn internal_addresses_are_refused_in_every_spelling() {
    let hostile = [
        "http://127.0.0.1/x.jpg",
        "http://localhost/x.jpg",
        "http://2130706433/x.jpg",
        "http://0x7f.1/x.jpg",
        "http://[::1]/x.jpg",
        "http://[::ffff:127.0.0.1]/x.jpg",
        "http://[::ffff:a9fe:a9fe]/latest/meta-data/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/latest/meta-data/",
        "http://10.0.0.1/x.jpg",
        "http://172.16.5.4/x.jpg",
        "http://192.168.0.1/x.jpg",
        "http://100.100.100.200/latest/meta-data/",
        "http://0.0.0.0/x.jpg",
        "http://[fe80::1]/x.jpg",
    ];
    let names: Vec<String> = hostile.iter().map(|u| url(u).host_str().unwrap().to_owned()).collect();
    let fetcher = strict_fetcher(&names.iter().map(String::as_str).collect::<Vec<_>>());
    for target in hostile {
        let err = fetcher.fetch(&Ungated, Platform::X, &url(target)).await.unwrap_err();
        assert!(matches!(err, FetchError::ForbiddenAddress(_)), "{target}: {err:?}");
    }
}

#[tokio::test]
async fn hosts_schemes_and_plain_http_are_checked_before_connecting() {
    let fetcher = MediaFetcher::new(&PlatformSettings::default().media).unwrap();
    let cases = [
        ("https://evil.example/x.jpg", FetchError::HostNotAllowed("x")),
        ("https://pbs.twimg.com.evil.example/x.jpg", FetchError::HostNotAllowed("x")),
        ("https://i.ytimg.com/vi/x/hq.jpg", FetchError::HostNotAllowed("x")), // another platform's CDN
        ("http://pbs.twimg.com/media/x.jpg", FetchError::Scheme),             // https only
        ("file:///etc/passwd", FetchError::Scheme),
        ("ftp://pbs.twimg.com/x.jpg", FetchError::Scheme),
    ];
    for (target, expected) in cases {
        assert_eq!(
            fetcher.fetch(&Ungated, Platform::X, &url(target)).await.unwrap_err(),
            expected,
            "{target}"
        );
    }
}

#[tokio::test]
async fn every_redirect_hop_is_checked_again() {
    let w = world().await;
    let seen = w.platforms.adapter(Platform::X).observe(&Ungated, &[TW.to_owned()], None).await.unwrap();
    let picture = seen[0].media_urls[0].clone();
    let redirect = |location: &str| Fault {
        target: FaultTarget::Media,
        kind: FaultKind::RedirectTo { location: location.into() },
        times: 1,
    };

    // To a host off the allow list.
    w.sim.inject(redirect("http://169.254.169.254/latest/meta-data/iam/"));
    assert_eq!(
        w.fetcher.fetch(&Ungated, Platform::X, &picture).await.unwrap_err(),
        FetchError::HostNotAllowed("x")
    );

    // To an allowed name on a forbidden address: the strict fetcher allows the simulator's
    // host by name but not loopback, so the first hop already stops.
    let strict = strict_fetcher(&["127.0.0.1", "169.254.169.254"]);
    let err = strict.fetch(&Ungated, Platform::X, &picture).await.unwrap_err();
    assert!(matches!(err, FetchError::ForbiddenAddress(_)), "{err:?}");

    // A fetcher that may reach the simulator (loopback) but is redirected to the metadata
    // address, which it also allows by name: refused at the second hop, by address.
    let mut media = w.settings.media.clone();
    media.x_hosts.push("169.254.169.254".into());
    let lenient = MediaFetcher::new(&media).unwrap();
    w.sim.inject(redirect("http://169.254.169.254/latest/meta-data/"));
    let err = lenient.fetch(&Ungated, Platform::X, &picture).await.unwrap_err();
    assert!(
        matches!(err, FetchError::ForbiddenAddress(ip) if ip.to_string() == "169.254.169.254"),
        "{err:?}"
    );

    // Endless redirects stop at the limit.
    w.sim.inject(Fault { target: FaultTarget::Media, kind: FaultKind::RedirectLoop, times: 1 });
    assert_eq!(
        w.fetcher.fetch(&Ungated, Platform::X, &picture).await.unwrap_err(),
        FetchError::TooManyRedirects(3)
    );

    // After all that, the picture itself still comes through.
    assert!(w.fetcher.fetch(&Ungated, Platform::X, &picture).await.is_ok());
}

#[tokio::test]
async fn every_media_fault_maps_to_a_typed_outcome() {
    let w = world().await;
    let seen = w.platforms.adapter(Platform::X).observe(&Ungated, &[TW.to_owned()], None).await.unwrap();
    let picture = seen[0].media_urls[0].clone();
    let limits = ImageLimits { max_bytes: 1 << 24, max_pixels: 8192 * 8192, max_dimension: 16384 };
    let fault = |kind| Fault { target: FaultTarget::Media, kind, times: 1 };

    w.sim.inject(fault(FaultKind::CorruptImage));
    let bytes = w.fetcher.fetch(&Ungated, Platform::X, &picture).await.unwrap().bytes;
    assert!(matches!(decode(&bytes, &limits), Err(MediaError::Corrupt(_))));

    w.sim.inject(fault(FaultKind::Truncated));
    let err = w.fetcher.fetch(&Ungated, Platform::X, &picture).await.unwrap_err();
    assert!(matches!(err, FetchError::Network(_)), "a transfer cut short: {err:?}");

    w.sim.inject(fault(FaultKind::HugeImage));
    let bytes = w.fetcher.fetch(&Ungated, Platform::X, &picture).await.unwrap().bytes;
    assert!(bytes.len() < 1024);
    assert!(
        matches!(decode(&bytes, &limits), Err(MediaError::TooLarge(50_000, 50_000))),
        "stopped at the header"
    );

    w.sim.inject(fault(FaultKind::OversizedBody));
    let max = w.settings.media.max_bytes;
    assert_eq!(
        w.fetcher.fetch(&Ungated, Platform::X, &picture).await.unwrap_err(),
        FetchError::TooLarge(max)
    );

    w.sim.inject(fault(FaultKind::WrongContentType));
    let err = w.fetcher.fetch(&Ungated, Platform::X, &picture).await.unwrap_err();
    assert_eq!(err, FetchError::ContentType("text/html".into()));

    w.sim.inject(fault(FaultKind::ServerError { status: 502 }));
    assert_eq!(w.fetcher.fetch(&Ungated, Platform::X, &picture).await.unwrap_err(), FetchError::Status(502));

    w.sim.inject(fault(FaultKind::Hang));
    let timeout = w.settings.media.timeout_ms;
    assert_eq!(
        w.fetcher.fetch(&Ungated, Platform::X, &picture).await.unwrap_err(),
        FetchError::Timeout(timeout)
    );

    let missing = picture.join("/media/nothing.jpg").unwrap();
    assert_eq!(w.fetcher.fetch(&Ungated, Platform::X, &missing).await.unwrap_err(), FetchError::Status(404));
}
