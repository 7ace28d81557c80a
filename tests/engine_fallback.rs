//! Issue 6 end to end: an agent with `model: sonnet` whose first candidate
//! (Anthropic) is overloaded completes on the next one (OpenAI), and the ledger
//! shows both tries.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed assumption is a failed test

mod engine_mock;

use codex_plus::engine::TaskStatus;
use codex_plus::providers::config::ProviderSettings;
use engine_mock::*;

#[tokio::test]
async fn sonnet_falls_back_from_an_overloaded_anthropic_to_openai() {
    let anthropic = MockModel::start(|_| {
        Step::now(Reply::Status(
            529,
            r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#.into(),
        ))
    })
    .await;
    let openai = MockModel::start(|_| Step::now(text("reviewed on the fallback"))).await;
    let at = |url: String| ProviderSettings {
        base_url: Some(url),
        ..Default::default()
    };
    let h = Harness::with_env(
        &openai.url,
        &[
            ("ANTHROPIC_API_KEY", "sk-ant-test"),
            ("OPENAI_API_KEY", "sk-openai-test"),
        ],
        |c| {
            c.providers.anthropic = at(anthropic.url.clone());
            c.providers.openai = at(format!("{}/v1", openai.url));
        },
    );
    h.agent(
        "code-reviewer",
        "model: sonnet\ntools: Read\n",
        "You review code.",
    );

    let result = h
        .engine
        .task(h.request("code-reviewer", "Review main.rs"))
        .await;

    assert_eq!(result.status, TaskStatus::Completed, "{:?}", result.error);
    assert_eq!(result.output, "reviewed on the fallback");
    assert_eq!(
        (result.provider.as_deref(), result.model.as_deref()),
        (Some("openai"), Some("gpt-5"))
    );
    assert!(result.cost_usd.is_some(), "gpt-5 has a built-in price");
    assert_eq!(
        anthropic.count(),
        2,
        "max_attempts = 2 on the first candidate"
    );
    assert!(anthropic.requests()[0].uri.ends_with("/v1/messages"));
    let sent = &openai.requests()[0];
    assert_eq!(sent.model(), "gpt-5");
    assert_eq!(sent.headers["authorization"], "Bearer sk-openai-test");
    assert!(sent.system().starts_with("You review code."));

    h.ledger.flush().await.unwrap();
    let attempts = h.ledger.model_attempts(&result.id).unwrap();
    let tries: Vec<(&str, &str, bool, u32)> = attempts
        .iter()
        .map(|a| (a.provider.as_str(), a.model.as_str(), a.ok, a.retries))
        .collect();
    assert_eq!(
        tries,
        [
            ("anthropic", "claude-sonnet-4-5", false, 1),
            ("openai", "gpt-5", true, 0)
        ]
    );
    let error = attempts[0].error.clone().unwrap_or_default();
    assert!(
        error.contains("529") && error.contains("Overloaded"),
        "{error}"
    );
    assert_eq!(
        (attempts[1].input_tokens, attempts[1].output_tokens),
        (10, 5)
    );
    assert!(attempts[0].at <= attempts[1].at);
    let row = h.ledger.task(&result.id).unwrap().unwrap();
    assert_eq!(row.provider.as_deref(), Some("openai"));
    assert!(row.cost_usd.is_some());
}
