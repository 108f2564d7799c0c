//! Every log line the suite's scenarios write goes through the service's own subscriber
//! (JSON, `viewmark=debug,info`) into a checker: a line holding an email, a handle, a post
//! URL or a token used anywhere in the suite stops the whole test run on the spot. So the
//! full run of every scenario (erasure, export, tracking, webhooks, bad input...) is the test
//! that nothing personal reaches the logs.

use std::sync::Once;

use viewmark::telemetry::{LogFormat, LogSettings};

/// Personal data the suite's scenarios use: emails (every creator token carries one), user ids, the
/// handles, post and profile URLs of every platform, platform and session tokens, service
/// tokens and the webhook secret.
const PERSONAL: [&str; 24] = [
    "@example.com",
    "user-ada", // identity-provider user ids
    "user-bob",
    "ada_makes",
    "bob_makes",
    "ada.makes",
    "ada.lovelace",
    "Ada Lovelace",
    "stranger",
    "x.com/",
    "twitter.com/",
    "tiktok.com/",
    "instagram.com/",
    "youtube.com/",
    "youtu.be/",
    "/status/",
    "/media/",
    "SECRET",
    "eyJ", // a JWT (session tokens, and their signed parts)
    "vmk_",
    "whsec_",
    "Bearer ",
    "access_token",
    "refresh_token",
];

/// The personal datum a log line holds, if any.
pub fn personal_data_in(line: &str) -> Option<&'static str> {
    PERSONAL.iter().copied().find(|needle| line.contains(needle))
}

struct Checked;

impl std::io::Write for Checked {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let line = String::from_utf8_lossy(buf);
        if let Some(found) = personal_data_in(&line) {
            // Wherever it was logged from (a server thread, a spawned task), stop the run.
            eprintln!("\nPERSONAL DATA IN THE LOGS ({found}): {line}");
            std::process::abort();
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs the checking subscriber for the whole test process (once).
pub fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let settings = LogSettings { format: LogFormat::Json, level: "viewmark=debug,info".into() };
        viewmark::telemetry::init_with_writer(&settings, || Checked, false);
    });
}

#[test]
fn the_checker_knows_each_kind_of_personal_data() {
    assert_eq!(personal_data_in(r#"{"msg":"joined","email":"ada@example.com"}"#), Some("@example.com"));
    assert_eq!(personal_data_in(r#"{"handle":"ada_makes"}"#), Some("ada_makes"));
    assert_eq!(personal_data_in("GET https://x.com/i/status/1900000000000000001"), Some("x.com/"));
    assert_eq!(personal_data_in("token act.SECRET-ACCESS-4242"), Some("SECRET"));
    assert_eq!(personal_data_in("authorization: Bearer eyJhbGciOi"), Some("eyJ"));
    assert_eq!(
        personal_data_in(r#"{"msg":"post verified","post_id":"6f1c2a9e-0000-4000-8000-000000000000"}"#),
        None
    );
}
