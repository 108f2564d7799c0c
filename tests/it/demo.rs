//! The demo's scenario in the suite: every step `viewmark demo` shows must happen as it
//! says (its timing is not tested).

use viewmark::demo::{self, DemoOptions, Narrator};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_plays_the_whole_loop_and_leaves_nothing_behind() {
    let mut say = Narrator::to(Box::new(std::io::sink()), false);
    let report = demo::run(DemoOptions::default(), &mut say).await.unwrap();
    let story = &say.transcript;

    // Genuine posts verify; each planted fake is refused with its reason.
    assert_eq!(report.posts.len(), 6, "{story}");
    for post in &report.posts {
        let expected = if post.fake { "unverified" } else { "verified" };
        assert_eq!(post.status, expected, "{}: {story}", post.label);
    }
    let reasons: Vec<&str> =
        report.posts.iter().filter(|p| p.fake).filter_map(|p| p.reason.as_deref()).collect();
    assert_eq!(reasons.len(), 3, "{story}");
    for expected in ["no watermark", "another creator", "account other than"] {
        assert!(
            reasons.iter().any(|r| r.contains(expected)),
            "no fake refused for '{expected}': {reasons:?}"
        );
    }

    // Views grow on every verified post, hour after hour.
    assert_eq!(report.views.len(), 4);
    for pair in report.views.windows(2) {
        assert_eq!(pair[0].len(), 3);
        for (before, after) in pair[0].iter().zip(&pair[1]) {
            assert!(after > before, "views did not grow: {:?}", report.views);
        }
    }

    // Ada's Instagram account was linked by OAuth, proven by the platform; a post she never
    // registered was found by its watermark and verified.
    assert_eq!(report.linked_by_oauth["proven"], true, "{story}");
    assert_eq!(report.linked_by_oauth["oauth_tokens_held"], true, "{story}");
    assert_eq!(report.linked_by_oauth["proof"], serde_json::Value::Null, "no bio code needed");
    assert_eq!(report.discovered["source"], "discovered", "{story}");
    assert_eq!(report.discovered["status"], "verified", "{story}");
    // Unlinking an account stops every request to its platform.
    assert_eq!(report.instagram_requests_after_unlink, 0, "{story}");

    // Revocation stops tracking while the poller goes on for others; erasure forgets.
    assert_eq!(report.ada_lookups_after_revoke, 0, "{story}");
    assert!(report.bob_lookups_after_revoke > 0, "the poller was not running: {story}");
    assert!(report.detected_before_erasure && !report.detected_after_erasure, "{story}");
    assert!(report.receipt["receipt_id"].is_string(), "{}", report.receipt);
    assert_eq!(report.receipt["row_counts"]["creators"], 1, "{}", report.receipt);

    // The first statement paid both; after Bob's erasure his line is a tombstone's, with the
    // same total.
    let lines = |s: &serde_json::Value| {
        let mut lines: Vec<(String, i64)> = s["lines"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| (l["payee_id"].as_str().unwrap().to_owned(), l["views"].as_i64().unwrap()))
            .collect();
        lines.sort_by_key(|(_, views)| *views);
        lines
    };
    let (before, after) = (lines(&report.first_statement), lines(&report.first_statement_after_erasure));
    assert_eq!(before.len(), 2, "{}", report.first_statement);
    assert!(before.iter().all(|(payee, views)| *views > 0 && !payee.starts_with("tombstone-")), "{before:?}");
    let views = |lines: &[(String, i64)]| lines.iter().map(|(_, v)| *v).collect::<Vec<_>>();
    assert_eq!(views(&before), views(&after), "totals changed: {before:?} -> {after:?}");
    assert_eq!(after.iter().filter(|(payee, _)| payee.starts_with("tombstone-")).count(), 1, "{after:?}");
    assert_eq!(report.receipt["row_counts"]["statement_lines (tombstoned)"], 1, "{}", report.receipt);
    // After the first statement only Ada can have gained (a poll landing before her
    // revocation); Bob's later views went with his account.
    let rest = lines(&report.rest_statement);
    let ada = &before.iter().find(|(payee, _)| after.iter().any(|(p, _)| p == payee)).unwrap().0;
    assert!(rest.iter().all(|(payee, _)| payee == ada), "{}", report.rest_statement);

    for step in [
        "Two creators join",
        "enrolls",
        "prove",
        "linked by OAuth",
        "publish",
        "found on @ada_makes by its watermark",
        "verified",
        "planted fake",
        "Views grow",
        "revokes",
        "erases",
        "detects as unknown",
        "freezes the period",
        "tombstone",
        "directory removed",
    ] {
        assert!(story.contains(step), "the story never says '{step}':\n{story}");
    }
    assert!(!report.dir.exists(), "{} was left behind", report.dir.display());

    // What the loop recorded for operators.
    for expected in [
        r#"viewmark_http_request_duration_seconds_bucket{method="GET",route="/v1/posts/{id}",status="200""#,
        r#"viewmark_embed_seconds_count{kind="image"}"#,
        r#"viewmark_consent_events_total{event="joined",via="api"}"#,
        r#"viewmark_consent_events_total{event="revoked",via="api"}"#,
        r#"viewmark_consent_events_total{event="erased",via="api"}"#,
        r#"viewmark_polls_total{platform="x",outcome="verified"}"#,
        r#"viewmark_polls_total{platform="instagram",outcome="verified"}"#,
        "viewmark_poll_lag_seconds_bucket",
        "viewmark_detection_seconds_count",
    ] {
        assert!(report.metrics.contains(expected), "{expected} missing from:\n{}", report.metrics);
    }
}
