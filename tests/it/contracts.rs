//! The adapters against the platforms' answers as their public references document them
//! (`fixtures/platforms/contracts/`), and the simulated platforms held to the same shapes: a
//! field the simulator answers is one the documented answer has.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{web, App, HttpResponse, HttpServer};
use serde_json::Value;
use viewmark::domain::Platform;
use viewmark::platforms::start_gate::Ungated;
use viewmark::platforms::{Platforms, PostState};
use viewmark::secret::Secret;

use crate::support::fixture_path;
use crate::support::platforms::{quick_settings, world, TW};

const PHOTO_TWEET: &str = "1460323737035677698";
const VIDEO_TWEET: &str = "1519781379172495360";
const NOT_FOUND: &str = "1000000000000000001";
const NOT_AUTHORISED: &str = "1000000000000000002";

/// A documented answer: `{"status", "headers", "body"}`.
fn contract(name: &str) -> Value {
    let path = fixture_path(&format!("platforms/contracts/{name}"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A server that answers every request with the documented answer set last.
struct Documented {
    answer: Arc<Mutex<Value>>,
    base: String,
}

impl Documented {
    async fn start() -> Documented {
        let answer = Arc::new(Mutex::new(Value::Null));
        let shared = answer.clone();
        let server = HttpServer::new(move || {
            let shared = shared.clone();
            App::new().default_service(web::to(move || {
                let fixture = shared.lock().unwrap().clone();
                async move { respond(&fixture) }
            }))
        })
        .workers(1)
        .bind("127.0.0.1:0")
        .unwrap();
        let base = format!("http://127.0.0.1:{}", server.addrs()[0].port());
        tokio::spawn(server.run());
        Documented { answer, base }
    }

    fn answer_with(&self, name: &str) {
        *self.answer.lock().unwrap() = contract(name);
    }
}

fn respond(fixture: &Value) -> HttpResponse {
    let status = fixture["status"].as_u64().and_then(|s| u16::try_from(s).ok()).unwrap_or(500);
    let mut answer = HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap());
    for (name, value) in fixture["headers"].as_object().into_iter().flatten() {
        let value = match value.as_str().unwrap_or_default() {
            // A reset time relative to now: the fixture cannot hold an absolute one.
            "RESET_IN_120_S" => (chrono::Utc::now().timestamp() + 120).to_string(),
            other => other.to_owned(),
        };
        answer.insert_header((name.as_str(), value));
    }
    answer.json(&fixture["body"])
}

fn x_against(documented: &Documented) -> Platforms {
    let mut settings = quick_settings();
    settings.x.base_url = documented.base.clone();
    settings.x.bearer_token = Some(Secret::new("AAAAAAAAAAAAAAAAAAAAAcontract"));
    Platforms::new(&settings).unwrap()
}

#[tokio::test]
async fn the_x_adapter_reads_the_documented_answers() {
    let documented = Documented::start().await;
    let platforms = x_against(&documented);
    let x = platforms.adapter(Platform::X);

    documented.answer_with("x/tweets_lookup.json");
    let ids: Vec<String> =
        [PHOTO_TWEET, VIDEO_TWEET, NOT_FOUND, NOT_AUTHORISED, "1999999999999999999"].map(String::from).into();
    let seen = x.observe(&Ungated, &ids, None).await.unwrap();
    let states: Vec<PostState> = seen.iter().map(|o| o.state).collect();
    assert_eq!(
        states,
        [PostState::Live, PostState::Live, PostState::Removed, PostState::Private, PostState::Removed]
    );
    assert_eq!((seen[0].views, seen[1].views), (Some(48_512), Some(12_804)));
    assert_eq!(seen[0].author_handle.as_deref(), Some("xdevelopers"));
    let urls = |i: usize| seen[i].media_urls.iter().map(|u| u.as_str().to_owned()).collect::<Vec<_>>();
    assert_eq!(urls(0), ["https://pbs.twimg.com/media/FEYW7vJWYAEv5Vq.jpg"]);
    let video = urls(1);
    assert!(video[0].contains("ext_tw_video_thumb"), "the preview first: {video:?}");
    assert!(video[1].contains("720x1280"), "then the best MP4: {video:?}");

    documented.answer_with("x/user_by_username.json");
    let profile = x.profile(&Ungated, "XDevelopers", None).await.unwrap().unwrap();
    assert_eq!(profile.handle, "xdevelopers");
    assert!(profile.bio.contains("X Developer Platform"));

    documented.answer_with("x/too_many_requests.json");
    let throttled = x.observe(&Ungated, &ids, None).await.unwrap_err();
    let wait = throttled.retry_after().unwrap();
    assert!(wait > Duration::from_secs(100) && wait <= Duration::from_secs(121), "{throttled:?}");

    documented.answer_with("x/unauthorized.json");
    let fresh = x_against(&documented);
    let refused = fresh.adapter(Platform::X).observe(&Ungated, &ids, None).await.unwrap_err();
    assert_eq!(refused.kind(), "unauthorized");
}

/// Every path to a value in a JSON document (`a.b`, `a[].c`): its shape, without its values.
fn shape(value: &Value, at: &str, paths: &mut BTreeSet<String>) {
    match value {
        Value::Object(fields) => {
            for (name, field) in fields {
                let path = if at.is_empty() { name.clone() } else { format!("{at}.{name}") };
                paths.insert(path.clone());
                shape(field, &path, paths);
            }
        }
        Value::Array(items) => items.iter().for_each(|item| shape(item, &format!("{at}[]"), paths)),
        _ => {}
    }
}

fn shape_of(value: &Value) -> BTreeSet<String> {
    let mut paths = BTreeSet::new();
    shape(value, "", &mut paths);
    paths
}

#[tokio::test]
async fn the_simulated_x_answers_in_the_documented_shapes() {
    let w = world().await;
    let bearer = w.settings.x.bearer_token.clone().unwrap();
    let asked = async |path: &str, query: &[(&str, &str)]| -> Value {
        let url = format!("{}{path}", w.settings.x.base_url);
        let answer =
            reqwest::Client::new().get(url).query(query).bearer_auth(bearer.expose()).send().await.unwrap();
        answer.json().await.unwrap()
    };
    let ids = format!("{TW},1800000000000000002,1800000000000000009");
    let lookup = asked(
        "/2/tweets",
        &[
            ("ids", ids.as_str()),
            ("tweet.fields", "public_metrics,author_id"),
            ("expansions", "attachments.media_keys,author_id"),
            ("media.fields", "url,preview_image_url,variants"),
            ("user.fields", "username"),
        ],
    )
    .await;
    let documented = shape_of(&contract("x/tweets_lookup.json")["body"]);
    let invented: Vec<_> = shape_of(&lookup).difference(&documented).cloned().collect();
    assert!(invented.is_empty(), "the simulator answers fields X does not document: {invented:?}\n{lookup}");
    for read in [
        "data[].public_metrics.impression_count",
        "includes.media[].url",
        "includes.users[].username",
        "errors[].type",
    ] {
        assert!(shape_of(&lookup).contains(read), "the simulator leaves out {read}: {lookup}");
    }

    let user = asked("/2/users/by/username/ana_creates", &[("user.fields", "description")]).await;
    let documented = shape_of(&contract("x/user_by_username.json")["body"]);
    let invented: Vec<_> = shape_of(&user).difference(&documented).cloned().collect();
    assert!(invented.is_empty(), "the simulator answers fields X does not document: {invented:?}\n{user}");
}
