//! The adapters against the platforms' answers as their public references document them
//! (`fixtures/platforms/contracts/`), and the simulated platforms held to the same shapes: a
//! field the simulator answers is one the documented answer has. One module per platform.

mod instagram;
mod tiktok;
mod x;
mod youtube;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use serde_json::Value;

use crate::support::fixture_path;

/// A documented answer: `{"status", "headers", "body"}`.
fn contract(name: &str) -> Value {
    let path = fixture_path(&format!("platforms/contracts/{name}"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A server that answers each request with the documented answer set for its path: the
/// first whose key the path contains (the key `""` answers every path).
struct Documented {
    answers: Arc<Mutex<Vec<(String, Value)>>>,
    base: String,
}

impl Documented {
    async fn start() -> Documented {
        let answers = Arc::new(Mutex::new(Vec::<(String, Value)>::new()));
        let shared = answers.clone();
        let server = HttpServer::new(move || {
            let shared = shared.clone();
            App::new().default_service(web::to(move |request: HttpRequest| {
                let path = request.path().to_owned();
                let fixture = shared
                    .lock()
                    .unwrap()
                    .iter()
                    .find(|(key, _)| path.contains(key.as_str()))
                    .map(|(_, fixture)| fixture.clone())
                    .unwrap_or(Value::Null);
                async move { respond(&fixture) }
            }))
        })
        .workers(1)
        .bind("127.0.0.1:0")
        .unwrap();
        let base = format!("http://127.0.0.1:{}", server.addrs()[0].port());
        tokio::spawn(server.run());
        Documented { answers, base }
    }

    /// Every path answered with one documented answer.
    fn answer_with(&self, name: &str) {
        self.answer_paths(&[("", name)]);
    }

    /// Each path containing a key answered with its documented answer.
    fn answer_paths(&self, answers: &[(&str, &str)]) {
        *self.answers.lock().unwrap() =
            answers.iter().map(|(key, name)| ((*key).to_owned(), contract(name))).collect();
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

pub(super) fn shape_of(value: &Value) -> BTreeSet<String> {
    let mut paths = BTreeSet::new();
    shape(value, "", &mut paths);
    paths
}

/// Fails on any field `answer` has that the documented answer lacks, and on any of `read`
/// (fields the adapter reads) that `answer` lacks.
fn holds_to(answer: &Value, fixture: &str, read: &[&str]) {
    let documented = shape_of(&contract(fixture)["body"]);
    let answered = shape_of(answer);
    let invented: Vec<_> = answered.difference(&documented).cloned().collect();
    assert!(
        invented.is_empty(),
        "the simulator answers fields {fixture} does not document: {invented:?}\n{answer}"
    );
    for field in read {
        assert!(answered.contains(*field), "the simulator leaves out {field}: {answer}");
    }
}
