//! The router end to end: aliases resolved to real providers behind mock APIs,
//! fallback across providers, `inherit`, missing keys, and the error report.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed assumption is a failed test

mod providers_mock;

use codex_plus::providers::router::{InheritTarget, Outcome, ProviderRouter};
use codex_plus::providers::{Message, ModelRequest, ProviderError};
use http::HeaderMap;
use providers_mock::*;

fn request() -> ModelRequest {
    ModelRequest {
        model: String::new(),
        system: "You review code.".into(),
        messages: vec![Message::user_text("Review main.rs")],
        temperature: Some(0.5),
        ..Default::default()
    }
}

#[tokio::test]
async fn sonnet_falls_back_from_an_overloaded_anthropic_to_openai() {
    let anthropic = Mock::always(Reply::status(
        529,
        r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
    ))
    .await;
    let openai = Mock::always(Reply::Sse(openai_answer("reviewed by gpt"))).await;
    let mut config = fast_config();
    config.anthropic = at(&anthropic.url);
    config.openai = at(&format!("{}/v1", openai.url));
    config.aliases.insert(
        "sonnet".into(),
        vec!["anthropic:claude-sonnet-4-5".into(), "openai:gpt-5".into()],
    );
    let router = ProviderRouter::new(&config, &all_keys()).expect("valid");

    let candidates = router.resolve(Some("sonnet"), None).expect("resolves");
    let labels: Vec<String> = candidates.iter().map(|c| c.label()).collect();
    assert_eq!(labels, ["anthropic:claude-sonnet-4-5", "openai:gpt-5"]);

    let done = router
        .complete(&candidates, &request())
        .await
        .expect("openai answers");
    assert_eq!(done.response.text(), "reviewed by gpt");
    assert_eq!(
        (
            done.response.provider.as_str(),
            done.response.model.as_str()
        ),
        ("openai", "gpt-5")
    );
    assert_eq!(anthropic.count(), 3, "max_attempts tries on anthropic");
    assert_eq!(openai.count(), 1);

    let [first, second] = &done.attempts[..] else {
        panic!("two attempts expected: {:?}", done.attempts);
    };
    assert_eq!(
        (first.provider.as_str(), first.model.as_str()),
        ("anthropic", "claude-sonnet-4-5")
    );
    assert_eq!(first.retries, 2);
    assert!(
        matches!(
            &first.outcome,
            Outcome::Failed(ProviderError::Status { status: 529, .. })
        ),
        "{:?}",
        first.outcome
    );
    assert_eq!(
        first.outcome_text(),
        "anthropic: HTTP 529: Overloaded (overloaded_error)"
    );
    assert_eq!(
        (second.provider.as_str(), second.model.as_str()),
        ("openai", "gpt-5")
    );
    assert!(matches!(second.outcome, Outcome::Ok));

    let sent = &openai.requests()[0];
    assert_eq!(sent.body["model"], "gpt-5");
    assert_eq!(sent.headers["authorization"], "Bearer sk-openai-test");
    assert!(done.cost_usd.is_some(), "gpt-5 has a built-in price");
}

#[tokio::test]
async fn inherit_calls_the_session_upstream_with_its_own_headers() {
    let upstream = Mock::always(Reply::Sse(openai_answer("same model"))).await;
    let router = ProviderRouter::new(&fast_config(), &env(&[])).expect("valid");
    let mut headers = HeaderMap::new();
    headers.insert("authorization", "Bearer chatgpt-session".parse().unwrap());
    headers.insert("chatgpt-account-id", "acct-1".parse().unwrap());
    headers.insert("content-encoding", "zstd".parse().unwrap());
    headers.insert("content-length", "12345".parse().unwrap());
    let inherit = InheritTarget {
        base_url: format!("{}/backend-api/codex", upstream.url),
        headers,
        model: "gpt-5.5".into(),
    };

    let candidates = router.resolve(None, Some(&inherit)).expect("resolves");
    let done = router
        .complete(&candidates, &request())
        .await
        .expect("answers");
    assert_eq!(done.response.text(), "same model");
    assert_eq!(done.response.provider, "inherit");

    let sent = &upstream.requests()[0];
    assert_eq!(sent.uri, "/backend-api/codex/responses");
    assert_eq!(sent.headers["authorization"], "Bearer chatgpt-session");
    assert_eq!(sent.headers["chatgpt-account-id"], "acct-1");
    assert!(
        sent.headers.get("content-encoding").is_none(),
        "our body is plain JSON"
    );
    assert_eq!(sent.body["model"], "gpt-5.5");
    assert_eq!(sent.body["store"], false);
    assert!(
        sent.body.get("temperature").is_none(),
        "the ChatGPT backend refuses sampling params"
    );
}

#[tokio::test]
async fn the_exhausted_report_says_what_failed_and_what_to_change() {
    let anthropic = Mock::always(Reply::status(
        401,
        r#"{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}"#,
    ))
    .await;
    let mut config = fast_config();
    config.anthropic = at(&anthropic.url);
    let router = ProviderRouter::new(&config, &env(&[("ANTHROPIC_API_KEY", "sk-ant-wrong")]))
        .expect("valid");
    let candidates = router.resolve(Some("opus"), None).expect("resolves");
    let err = router
        .complete(&candidates, &request())
        .await
        .expect_err("nothing answers");
    insta::assert_snapshot!(err.to_string());
}

#[tokio::test]
async fn a_refused_inherit_call_says_where_its_credentials_come_from() {
    let upstream = Mock::always(Reply::status(
        401,
        r#"{"error":{"message":"Missing bearer authentication in header","type":"invalid_request_error"}}"#,
    ))
    .await;
    let router = ProviderRouter::new(&fast_config(), &env(&[])).expect("valid");
    let inherit = InheritTarget {
        base_url: format!("{}/v1", upstream.url),
        headers: http::HeaderMap::new(),
        model: "gpt-5.5".into(),
    };
    let candidates = router.resolve(None, Some(&inherit)).expect("resolves");
    let err = router
        .complete(&candidates, &request())
        .await
        .expect_err("refused")
        .to_string();
    assert!(err.contains("OPENAI_API_KEY, else CODEX_API_KEY"), "{err}");
    assert!(!err.contains("check the API key for inherit"), "{err}");
}
