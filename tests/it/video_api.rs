//! Videos over HTTP on both backends: enrollment returns the marked video in its own
//! container, detection finds it, and bad or oversized videos are refused with nothing
//! stored.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::on_both_backends;
use crate::support::clips::photo_clip;
use crate::support::creators::{join, upload as post};
use crate::support::{TestApp, TestDb};
use viewmark::media::video::{probe, VideoLimits};

async fn error_code(response: reqwest::Response) -> (StatusCode, String) {
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    (status, body["error"]["code"].as_str().unwrap_or_default().to_owned())
}

async fn videos_are_enrolled_returned_and_detected(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let ada = join(&app, "user-ada").await;
    let dir = tempfile::tempdir().unwrap();
    let clip = std::fs::read(photo_clip(dir.path(), "clip.mp4", "rocket.jpg", 80, 1)).unwrap();

    let response = post(&app, "/v1/contents", &ada, clip.clone(), "video/mp4").await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(response.headers()["content-type"], "video/mp4");
    let id = response.headers()["x-content-id"].to_str().unwrap().to_owned();
    let marked = response.bytes().await.unwrap().to_vec();
    let path = dir.path().join("marked.mp4");
    std::fs::write(&path, &marked).unwrap();
    let info = probe(&path, &VideoLimits::default()).unwrap();
    assert_eq!((info.width, info.height, info.codec.as_str()), (1280, 720, "h264"));
    assert_eq!(info.audio_codec.as_deref(), Some("aac"));

    let (status, content) = app.call(Method::GET, &format!("/v1/contents/{id}"), Some(&ada), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!((content["media_kind"].as_str(), content["width"].as_u64()), (Some("video"), Some(1280)));

    // The marked video, and a frame of it, are found; the original is not.
    let found: Value =
        post(&app, "/v1/detect", &ada, marked.clone(), "video/mp4").await.json().await.unwrap();
    assert_eq!(found["content"]["id"], id.as_str());
    let frame = viewmark::media::video::FrameReader::open(&path, &info).unwrap().next().unwrap().unwrap();
    let jpeg = viewmark::media::image_io::encode_jpeg(&frame, 80).unwrap();
    let found: Value = post(&app, "/v1/detect", &ada, jpeg, "image/jpeg").await.json().await.unwrap();
    assert_eq!(found["content"]["id"], id.as_str());
    let plain: Value = post(&app, "/v1/detect", &ada, clip.clone(), "video/mp4").await.json().await.unwrap();
    assert_eq!(plain, json!({"found": false}));

    // The JSON form carries the video.
    let response = app
        .client
        .post(app.url("/v1/contents"))
        .bearer_auth(&ada)
        .header("accept", "application/json")
        .body(clip)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["video"]["media_type"], "video/mp4");
    assert!(body.get("image").is_none());
    assert_eq!(body["content"]["media_kind"], "video");
}

async fn bad_and_oversized_videos_are_refused(db: TestDb) {
    let app = TestApp::spawn_with(db, |s| {
        s.video.max_duration_secs = 0.5;
        s.video.max_bytes = 2_000_000;
    })
    .await;
    let ada = join(&app, "user-ada").await;
    let dir = tempfile::tempdir().unwrap();
    let clip = std::fs::read(photo_clip(dir.path(), "clip.mp4", "rocket.jpg", 80, 1)).unwrap();

    // A video head and then junk.
    let mut junk = clip[..64].to_vec();
    junk.extend(std::iter::repeat_n(0x5a, 4096));
    let refused = [
        (
            post(&app, "/v1/contents", &ada, junk.clone(), "video/mp4").await,
            StatusCode::BAD_REQUEST,
            "bad_video",
        ),
        (post(&app, "/v1/detect", &ada, junk, "video/mp4").await, StatusCode::BAD_REQUEST, "bad_video"),
        (
            post(&app, "/v1/contents", &ada, clip.clone(), "video/mp4").await,
            StatusCode::PAYLOAD_TOO_LARGE,
            "video_too_long",
        ),
        (
            post(&app, "/v1/contents?format=png", &ada, clip.clone(), "video/mp4").await,
            StatusCode::BAD_REQUEST,
            "bad_format",
        ),
    ];
    for (response, status, code) in refused {
        assert_eq!(error_code(response).await, (status, code.to_owned()));
    }
    // Over the byte limit: refused while reading, before ffprobe sees it.
    let mut big = clip;
    big.resize(2_000_001, 0);
    let response = post(&app, "/v1/contents", &ada, big, "video/mp4").await;
    assert_eq!(error_code(response).await, (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large".to_owned()));

    let (status, page) = app.call(Method::GET, "/v1/contents", Some(&ada), None).await;
    assert_eq!((status, page["items"].as_array().map(Vec::len)), (StatusCode::OK, Some(0)), "nothing stored");
    assert_eq!(app.call(Method::GET, "/healthz", None, None).await.0, StatusCode::OK);
}

/// Spooled videos share a bounded temporary space: an upload that would take more than is
/// left is refused (503, retry later) before it is written out, and nothing is stored.
async fn video_uploads_share_a_bounded_spool(db: TestDb) {
    let app = TestApp::spawn_with(db, |s| s.video.max_spool_bytes = 128 << 10).await;
    let ada = join(&app, "user-ada").await;
    let dir = tempfile::tempdir().unwrap();
    let big = std::fs::read(photo_clip(dir.path(), "big.mp4", "rocket.jpg", 80, 4)).unwrap();
    assert!(big.len() > 128 << 10, "the clip is {} bytes: not over the budget", big.len());
    let response = post(&app, "/v1/contents", &ada, big, "video/mp4").await;
    assert!(response.headers().contains_key("retry-after"));
    assert_eq!(
        error_code(response).await,
        (StatusCode::SERVICE_UNAVAILABLE, "upload_space_exhausted".into())
    );
    let (_, listed) = app.call(Method::GET, "/v1/contents", Some(&ada), None).await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 0, "{listed}");
    // The space was given back: a clip within the budget goes through.
    let small = std::fs::read(crate::support::clips::clip(dir.path(), "small.mp4", "libx264", 1)).unwrap();
    assert!(small.len() < 128 << 10, "the clip is {} bytes: over the budget", small.len());
    assert_eq!(post(&app, "/v1/contents", &ada, small, "video/mp4").await.status(), StatusCode::CREATED);
}

/// The processes whose command line names `dir`: the ffmpeg children working on its files.
fn processes_using(dir: &std::path::Path) -> Vec<u32> {
    let needle = dir.to_string_lossy().into_owned();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else { continue };
        if String::from_utf8_lossy(&cmdline).contains(&needle) {
            found.push(pid);
        }
    }
    found
}

/// A client that sends a video and goes away while it is being marked: its ffmpeg children
/// are killed, its spool files removed, and nothing is recorded.
#[tokio::test]
#[cfg_attr(not(viewmark_test_ffmpeg), ignore = "needs ffmpeg and ffprobe on the PATH (CI installs them)")]
async fn an_upload_abandoned_by_its_client_stops_and_records_nothing() {
    use tokio::io::AsyncWriteExt;
    let spool = tempfile::tempdir().unwrap();
    let spool_dir = spool.path().to_owned();
    let app = TestApp::spawn_with(TestDb::sqlite(), |s| s.video.spool_dir = Some(spool_dir)).await;
    let ada = join(&app, "user-ada").await;
    let dir = tempfile::tempdir().unwrap();
    let clip = std::fs::read(photo_clip(dir.path(), "long.mp4", "rocket.jpg", 40, 30)).unwrap();

    let address = app.address.trim_start_matches("http://").to_owned();
    let mut client = tokio::net::TcpStream::connect(&address).await.unwrap();
    let head = format!(
        "POST /v1/contents HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {ada}\r\n\
         Content-Type: video/mp4\r\nContent-Length: {}\r\n\r\n",
        clip.len()
    );
    client.write_all(head.as_bytes()).await.unwrap();
    client.write_all(&clip).await.unwrap();
    client.flush().await.unwrap();
    let started = std::time::Instant::now();
    while processes_using(spool.path()).is_empty() {
        assert!(started.elapsed() < std::time::Duration::from_secs(60), "the video was never processed");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    drop(client);

    let gone = std::time::Instant::now();
    loop {
        let (children, files) =
            (processes_using(spool.path()), std::fs::read_dir(spool.path()).unwrap().count());
        if children.is_empty() && files == 0 {
            break;
        }
        assert!(
            gone.elapsed() < std::time::Duration::from_secs(10),
            "after the client left: ffmpeg {children:?} still running, {files} spool files"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let (_, listed) = app.call(Method::GET, "/v1/contents", Some(&ada), None).await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 0, "{listed}");
}

on_both_backends!(ffmpeg:
    video_uploads_share_a_bounded_spool,
    videos_are_enrolled_returned_and_detected,
    bad_and_oversized_videos_are_refused
);
