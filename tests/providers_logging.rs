//! What the router logs: one warning per provider without a key, failures with
//! their cause, and never a credential. Its own test binary, because tracing's
//! per-callsite interest is process-wide and parallel tests would race on it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed assumption is a failed test

mod providers_mock;
mod support;

use codex_plus::providers::router::{Outcome, ProviderRouter, SkipReason};
use codex_plus::providers::{Message, ModelRequest};
use providers_mock::*;
use support::logs::Captured;

fn request() -> ModelRequest {
    ModelRequest {
        system: "You review code.".into(),
        messages: vec![Message::user_text("Review main.rs")],
        ..Default::default()
    }
}

#[tokio::test]
async fn a_provider_without_a_key_is_skipped_with_one_warning_and_keys_are_never_logged() {
    let (logs, _guard) = Captured::start(tracing::Level::DEBUG);

    let openai = Mock::always(Reply::status(
        401,
        r#"{"error":{"message":"Incorrect API key provided","type":"invalid_request_error"}}"#,
    ))
    .await;
    let mut config = fast_config();
    config.openai = at(&format!("{}/v1", openai.url));
    let router = ProviderRouter::new(&config, &env(&[("OPENAI_API_KEY", "sk-must-not-leak")]))
        .expect("valid");

    let candidates = router.resolve(Some("sonnet"), None).expect("resolves");
    for _ in 0..3 {
        let err = router
            .complete(&candidates, &request())
            .await
            .expect_err("no key for anthropic, 401 from openai");
        assert!(matches!(
            &err.attempts[0].outcome,
            Outcome::Skipped(SkipReason::Unavailable(u)) if u.fix == "set ANTHROPIC_API_KEY"
        ));
    }
    assert_eq!(openai.count(), 3, "a 401 is not retried");

    let text = logs.text();
    assert_eq!(
        text.matches("model provider skipped").count(),
        1,
        "one warning per provider, not one per call:\n{text}"
    );
    assert!(text.contains("no API key; set ANTHROPIC_API_KEY"), "{text}");
    assert!(
        text.contains("model call failed"),
        "failures are logged:\n{text}"
    );
    assert!(
        !text.contains("sk-must-not-leak"),
        "a key reached the logs:\n{text}"
    );
}
