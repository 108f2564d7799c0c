//! Content enrollment, listing and detection over HTTP on both backends, including every
//! kind of bad upload (the service stays up and nothing stored changes).

use base64::Engine;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use viewmark::media::fingerprint::Fingerprint;
use viewmark::media::kept::Kept;

use crate::on_both_backends;
use crate::support::creators::{join, upload};
use crate::support::tokens::service;
use crate::support::{fixture_path, TestApp, TestDb};

fn photo() -> Vec<u8> {
    std::fs::read(fixture_path("images/chelsea.png")).unwrap()
}

/// The photo at twice its size (902 x 600), as a generator outputs pictures. Detection on a
/// 451 x 300 original depends on the payload (about one in a few dozen is missed: see
/// docs/watermark.md); this test is about who may see what, not about robustness.
fn creator_photo() -> Vec<u8> {
    let image = image::load_from_memory(&photo()).unwrap().to_rgb8();
    let big = image::imageops::resize(&image, 902, 600, image::imageops::FilterType::Lanczos3);
    viewmark::media::image_io::encode(&big, image::ImageFormat::Png).unwrap()
}

async fn detect_as(app: &TestApp, token: &str, image: Vec<u8>) -> Value {
    let response = upload(app, "/v1/detect", token, image, "application/octet-stream").await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

async fn contents_of(app: &TestApp, token: &str) -> Vec<Value> {
    let (status, body) = app.call(Method::GET, "/v1/contents?limit=200", Some(token), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["items"].as_array().unwrap().clone()
}

async fn enrolled_images_carry_their_content(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let ada = join(&app, "user-ada").await;
    let bob = join(&app, "user-bob").await;

    let response = upload(&app, "/v1/contents", &ada, creator_photo(), "image/png").await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(response.headers()["content-type"], "image/png");
    let id = response.headers()["x-content-id"].to_str().unwrap().to_owned();
    assert_eq!(response.headers()["location"].to_str().unwrap(), format!("/v1/contents/{id}"));
    let marked = response.bytes().await.unwrap().to_vec();
    let decoded = image::load_from_memory(&marked).unwrap();
    assert_eq!((decoded.width(), decoded.height()), (902, 600));

    // The owner finds it; another creator learns nothing; an operator sees it.
    let mine = detect_as(&app, &ada, marked.clone()).await;
    assert_eq!((mine["found"].as_bool(), mine["content"]["id"].as_str()), (Some(true), Some(id.as_str())));
    assert_eq!(detect_as(&app, &bob, marked.clone()).await, json!({"found": false}));
    let (admin, _) = service(app.store.as_ref(), &["admin"]).await;
    assert_eq!(detect_as(&app, &admin, marked.clone()).await["content"]["id"], id.as_str());
    // The original photograph carries nothing.
    assert_eq!(detect_as(&app, &ada, creator_photo()).await, json!({"found": false}));

    // What is kept to recognise it by holds the picture's fingerprint, which the marked
    // output matches too (the second binding, for media whose mark was filtered away).
    let content = app.store.content(id.parse().unwrap()).await.unwrap().unwrap();
    let sealed = app.store.content_references(&content).await.unwrap().unwrap();
    let kept = Kept::from_bytes(&sealed).expect("kept bytes");
    let original = image::load_from_memory(&creator_photo()).unwrap().to_rgb8();
    for picture in [original, image::load_from_memory(&marked).unwrap().to_rgb8()] {
        let fingerprint = Fingerprint::of(&picture).unwrap();
        assert!(fingerprint.nearest_match(&kept.fingerprints).is_some(), "{:?}", kept.fingerprints);
    }

    let (status, one) = app.call(Method::GET, &format!("/v1/contents/{id}"), Some(&ada), None).await;
    assert_eq!((status, one["width"].as_u64()), (StatusCode::OK, Some(902)));
    assert!(one.get("payload").is_none(), "the payload is never shown");
    assert_eq!(
        app.call(Method::GET, &format!("/v1/contents/{id}"), Some(&bob), None).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.call(Method::GET, &format!("/v1/contents/{id}"), Some(&admin), None).await.0,
        StatusCode::OK
    );
}

async fn enrollment_speaks_json_multipart_and_formats(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let ada = join(&app, "user-ada").await;
    let response = app
        .client
        .post(app.url("/v1/contents?format=jpeg"))
        .bearer_auth(&ada)
        .header("accept", "application/json")
        .multipart(
            reqwest::multipart::Form::new()
                .part("image", reqwest::multipart::Part::bytes(photo()).file_name("cat.png")),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["image"]["media_type"], "image/jpeg");
    let bytes =
        base64::engine::general_purpose::STANDARD.decode(body["image"]["base64"].as_str().unwrap()).unwrap();
    assert_eq!(image::guess_format(&bytes).unwrap(), image::ImageFormat::Jpeg);
    assert_eq!(detect_as(&app, &ada, bytes).await["content"]["id"], body["content"]["id"]);

    let response = upload(&app, "/v1/contents?format=tiff", &ada, photo(), "image/png").await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(contents_of(&app, &ada).await.len(), 1);
}

async fn services_enroll_for_a_named_creator(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let ada = join(&app, "user-ada").await;
    let (backend, _) = service(app.store.as_ref(), &["content:write"]).await;
    let response = upload(&app, "/v1/contents?user_id=user-ada", &backend, photo(), "image/png").await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let missing = upload(&app, "/v1/contents", &backend, photo(), "image/png").await;
    assert_eq!(missing.status(), StatusCode::BAD_REQUEST);
    let unknown = upload(&app, "/v1/contents?user_id=user-nobody", &backend, photo(), "image/png").await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    // A creator cannot enroll for someone else.
    let bob = join(&app, "user-bob").await;
    let response = upload(&app, "/v1/contents?user_id=user-ada", &bob, photo(), "image/png").await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(contents_of(&app, &ada).await.len(), 1);
    assert_eq!(contents_of(&app, &bob).await.len(), 0);
}

async fn enrollment_stops_while_consent_is_revoked(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let ada = join(&app, "user-ada").await;
    app.call(Method::POST, "/v1/creators/me/consent", Some(&ada), Some(json!({"tracking": false}))).await;
    let response = upload(&app, "/v1/contents", &ada, photo(), "image/png").await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "consent_revoked");
    let (backend, _) = service(app.store.as_ref(), &["content:write"]).await;
    let response = upload(&app, "/v1/contents?user_id=user-ada", &backend, photo(), "image/png").await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(contents_of(&app, &ada).await.is_empty());
    app.call(Method::POST, "/v1/creators/me/consent", Some(&ada), Some(json!({"tracking": true}))).await;
    assert_eq!(upload(&app, "/v1/contents", &ada, photo(), "image/png").await.status(), StatusCode::CREATED);
}

/// Malformed, truncated, bomb and oversized uploads: each a clear 4xx with a JSON error,
/// the service stays up, and what was stored before is untouched.
async fn bad_uploads_are_refused_and_change_nothing(db: TestDb) {
    let limit = 300_000;
    let app = TestApp::spawn_with(db, |s| {
        s.limits.body_bytes = limit;
        s.limits.max_pixels = 4_000_000;
    })
    .await;
    let ada = join(&app, "user-ada").await;
    assert_eq!(upload(&app, "/v1/contents", &ada, photo(), "image/png").await.status(), StatusCode::CREATED);
    let before = contents_of(&app, &ada).await;

    // 48 MB of pixels in a few tens of kilobytes: refused at the header, never decoded.
    let bomb = viewmark::media::image_io::encode(&image::RgbImage::new(4000, 4000), image::ImageFormat::Png)
        .unwrap();
    assert!(bomb.len() < limit, "the bomb is small on the wire ({} bytes)", bomb.len());
    let mut truncated = photo();
    truncated.truncate(truncated.len() / 2);
    let cases: [(&str, Vec<u8>, StatusCode, &str); 5] = [
        (
            "garbage",
            b"definitely not an image".to_vec(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_image_format",
        ),
        ("truncated", truncated, StatusCode::BAD_REQUEST, "bad_image"),
        ("bomb", bomb, StatusCode::PAYLOAD_TOO_LARGE, "image_too_large"),
        ("oversized body", vec![0u8; limit + 1], StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
        ("empty", Vec::new(), StatusCode::BAD_REQUEST, "empty_upload"),
    ];
    for (label, bytes, status, code) in cases {
        for path in ["/v1/contents", "/v1/detect"] {
            let response = upload(&app, path, &ada, bytes.clone(), "image/png").await;
            assert_eq!(response.status(), status, "{label} to {path}");
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["error"]["code"], code, "{label} to {path}");
        }
    }
    assert_eq!(contents_of(&app, &ada).await, before);

    // Too small to carry a mark that can be detected: refused at enrolment (detection
    // simply finds nothing in it).
    let too_small = |width, height| {
        let image =
            image::RgbImage::from_fn(width, height, |x, y| image::Rgb([(x * 5) as u8, (y * 3) as u8, 90]));
        viewmark::media::image_io::encode(&image, image::ImageFormat::Png).unwrap()
    };
    for (width, height) in [(255, 400), (1200, 200)] {
        let response = upload(&app, "/v1/contents", &ada, too_small(width, height), "image/png").await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "{width}x{height}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "image_too_small", "{width}x{height}");
    }
    let response = upload(&app, "/v1/contents", &ada, too_small(256, 256), "image/png").await;
    assert_eq!(response.status(), StatusCode::CREATED, "the smallest picture marked");
    let after: Vec<Value> = contents_of(&app, &ada).await;
    assert_eq!(after.len(), before.len() + 1, "only the 256 x 256 picture was added");
    assert!(before.iter().all(|c| after.contains(c)), "what was stored before is kept");
    assert_eq!(app.call(Method::GET, "/healthz", None, None).await.0, StatusCode::OK);
}

async fn contents_page_with_cursors(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let ada = join(&app, "user-ada").await;
    let small = viewmark::media::image_io::encode(
        &image::RgbImage::from_fn(256, 256, |x, y| image::Rgb([(x ^ y) as u8, x as u8, y as u8])),
        image::ImageFormat::Png,
    )
    .unwrap();
    for _ in 0..3 {
        assert_eq!(
            upload(&app, "/v1/contents", &ada, small.clone(), "image/png").await.status(),
            StatusCode::CREATED
        );
    }
    let mut seen = Vec::new();
    let mut path = "/v1/contents?limit=2".to_owned();
    loop {
        let (status, page) = app.call(Method::GET, &path, Some(&ada), None).await;
        assert_eq!(status, StatusCode::OK);
        seen.extend(page["items"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap().to_owned()));
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/v1/contents?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen.len(), 3);
    seen.dedup();
    assert_eq!(seen.len(), 3);
    for bad in [
        "/v1/contents?cursor=%%%",
        "/v1/contents?cursor=bm9wZQ",
        "/v1/contents?limit=0",
        "/v1/contents?limit=5000",
    ] {
        assert_eq!(app.call(Method::GET, bad, Some(&ada), None).await.0, StatusCode::BAD_REQUEST, "{bad}");
    }
}

on_both_backends!(
    enrolled_images_carry_their_content,
    enrollment_speaks_json_multipart_and_formats,
    services_enroll_for_a_named_creator,
    enrollment_stops_while_consent_is_revoked,
    bad_uploads_are_refused_and_change_nothing,
    contents_page_with_cursors,
);
