//! Providers against in-process mock APIs with faults: retries, Retry-After,
//! broken and stalled streams, malformed events, fallback and the circuit breaker.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed assumption is a failed test

mod providers_mock;

use std::time::{Duration, Instant};

use codex_plus::providers::anthropic::Anthropic;
use codex_plus::providers::breaker::BreakerState;
use codex_plus::providers::config::ProvidersConfig;
use codex_plus::providers::router::{Completion, Outcome, ProviderRouter, SkipReason};
use codex_plus::providers::transport::{Timeouts, Transport};
use codex_plus::providers::{Message, ModelProvider, ModelRequest, ProviderError, Secret};
use providers_mock::*;

fn request() -> ModelRequest {
    ModelRequest {
        model: "replaced-by-the-candidate".into(),
        system: "Be brief.".into(),
        messages: vec![Message::user_text("hi")],
        ..Default::default()
    }
}

fn router(config: &ProvidersConfig) -> ProviderRouter {
    ProviderRouter::new(config, &all_keys()).expect("valid config")
}

async fn call(router: &ProviderRouter, spec: &str) -> Completion {
    let candidates = router.resolve(Some(spec), None).expect("resolves");
    match router.complete(&candidates, &request()).await {
        Ok(done) => done,
        Err(e) => panic!("expected an answer:\n{e}"),
    }
}

/// `pair` = anthropic first, openai second.
fn pair_config(anthropic: &Mock, openai: &Mock) -> ProvidersConfig {
    let mut config = fast_config();
    config.anthropic = at(&anthropic.url);
    config.openai = at(&format!("{}/v1", openai.url));
    config.aliases.insert(
        "pair".into(),
        vec!["anthropic:claude-x".into(), "openai:gpt-x".into()],
    );
    config
}

#[tokio::test]
async fn each_provider_speaks_its_api_over_http() {
    let anthropic = Mock::always(Reply::Sse(anthropic_answer("from claude"))).await;
    let openai = Mock::always(Reply::Sse(openai_answer("from gpt"))).await;
    let gemini = Mock::always(Reply::Sse(gemini_answer("from gemini"))).await;
    let chat = Mock::always(Reply::Sse(chat_answer("from llama"))).await;
    let mut config = fast_config();
    config.anthropic = at(&anthropic.url);
    config.openai = at(&format!("{}/v1", openai.url));
    config.gemini = at(&gemini.url);
    config.chat = at(&format!("{}/v1/", chat.url));
    let r = router(&config);

    let cases = [
        (
            "anthropic:claude-x",
            &anthropic,
            "/v1/messages",
            "x-api-key",
            "sk-ant-test",
            "from claude",
        ),
        (
            "openai:gpt-x",
            &openai,
            "/v1/responses",
            "authorization",
            "Bearer sk-openai-test",
            "from gpt",
        ),
        (
            "gemini:gemini-x",
            &gemini,
            "/v1beta/models/gemini-x:streamGenerateContent?alt=sse",
            "x-goog-api-key",
            "gem-test",
            "from gemini.",
        ),
        (
            "chat:llama-x",
            &chat,
            "/v1/chat/completions",
            "authorization",
            "Bearer chat-test",
            "from llama",
        ),
    ];
    for (spec, mock, uri, auth, key, text) in cases {
        let done = call(&r, spec).await;
        assert_eq!(done.response.text(), text, "{spec}");
        assert_eq!(done.response.usage.input_tokens, 10, "{spec}");
        let seen = mock.requests();
        assert_eq!(seen.len(), 1, "{spec}");
        assert_eq!(seen[0].uri, uri, "{spec}");
        assert_eq!(seen[0].headers[auth], key, "{spec}");
        assert_eq!(seen[0].headers["accept"], "text/event-stream", "{spec}");
        let model = spec.split_once(':').map(|(_, m)| m).unwrap_or_default();
        if spec.starts_with("gemini") {
            assert_eq!(
                seen[0].body["systemInstruction"]["parts"][0]["text"],
                "Be brief."
            );
        } else {
            assert_eq!(seen[0].body["model"], model, "{spec}");
            assert_eq!(seen[0].body["stream"], true, "{spec}");
        }
    }
    assert_eq!(
        anthropic.requests()[0].headers["anthropic-version"],
        "2023-06-01"
    );
}

#[tokio::test]
async fn server_errors_are_retried_until_an_answer() {
    let anthropic = Mock::start(
        vec![
            Reply::status(
                500,
                r#"{"type":"error","error":{"type":"api_error","message":"Internal"}}"#,
            ),
            Reply::status(
                529,
                r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
            ),
            Reply::Sse(anthropic_answer("third time")),
        ],
        Reply::status(500, "{}"),
    )
    .await;
    let openai = Mock::always(Reply::Sse(openai_answer("unused"))).await;
    let done = call(&router(&pair_config(&anthropic, &openai)), "pair").await;
    assert_eq!(done.response.text(), "third time");
    assert_eq!(anthropic.count(), 3);
    assert_eq!(openai.count(), 0);
    assert_eq!(done.attempts.len(), 1);
    assert_eq!(done.attempts[0].retries, 2);
}

#[tokio::test]
async fn retry_after_is_honoured_in_seconds_and_milliseconds() {
    let limited = |header: &'static str, value: &str| Reply::Status {
        code: 429,
        headers: vec![(header, value.to_owned())],
        body: r#"{"error":{"message":"Rate limit reached","type":"rate_limit_error"}}"#.into(),
    };
    let anthropic = Mock::start(
        vec![
            limited("retry-after", "1"),
            Reply::Sse(anthropic_answer("ok")),
        ],
        Reply::status(500, "{}"),
    )
    .await;
    let openai = Mock::start(
        vec![
            limited("retry-after-ms", "300"),
            Reply::Sse(openai_answer("ok")),
        ],
        Reply::status(500, "{}"),
    )
    .await;
    let r = router(&pair_config(&anthropic, &openai));
    call(&r, "anthropic:claude-x").await;
    call(&r, "openai:gpt-x").await;
    let a = anthropic.requests();
    let o = openai.requests();
    assert_eq!((a.len(), o.len()), (2, 2));
    // The backoff alone would be at most 10 ms.
    assert!(
        gap(&a[0], &a[1]) >= Duration::from_secs(1),
        "{:?}",
        gap(&a[0], &a[1])
    );
    assert!(
        gap(&o[0], &o[1]) >= Duration::from_millis(300),
        "{:?}",
        gap(&o[0], &o[1])
    );
}

#[tokio::test]
async fn a_retry_after_too_long_moves_to_the_next_candidate_at_once() {
    let anthropic = Mock::always(Reply::Status {
        code: 429,
        headers: vec![("retry-after", "30".into())],
        body: "{}".into(),
    })
    .await;
    let openai = Mock::always(Reply::Sse(openai_answer("fallback"))).await;
    let started = Instant::now();
    let done = call(&router(&pair_config(&anthropic, &openai)), "pair").await;
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(
        anthropic.count(),
        1,
        "no point retrying before the provider is ready"
    );
    assert_eq!(done.response.text(), "fallback");
}

#[tokio::test]
async fn permanent_errors_are_not_retried() {
    let anthropic = Mock::always(Reply::status(
        400,
        r#"{"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: 999999 > 64000"}}"#,
    ))
    .await;
    let openai = Mock::always(Reply::Sse(openai_answer("unused"))).await;
    let r = router(&pair_config(&anthropic, &openai));
    let candidates = r
        .resolve(Some("anthropic:claude-x"), None)
        .expect("resolves");
    let err = r.complete(&candidates, &request()).await.expect_err("400");
    assert_eq!(anthropic.count(), 1);
    let text = err.to_string();
    assert!(
        text.contains("Cause: anthropic, claude-x: HTTP 400: max_tokens: 999999 > 64000"),
        "{text}"
    );
    assert!(
        text.contains("Suggestion: anthropic rejected the request"),
        "{text}"
    );
}

#[tokio::test]
async fn a_connection_reset_before_the_first_chunk_is_retried() {
    let chat = Mock::start(
        vec![
            Reply::ResetAfter(Vec::new()),
            Reply::Sse(chat_answer("after reset")),
        ],
        Reply::status(500, "{}"),
    )
    .await;
    let mut config = fast_config();
    config.chat = at(&chat.url);
    let done = call(&router(&config), "chat:llama-x").await;
    assert_eq!(done.response.text(), "after reset");
    assert_eq!(chat.count(), 2);
    assert_eq!(done.attempts[0].retries, 1);
}

#[tokio::test]
async fn a_reset_mid_stream_restarts_the_whole_call() {
    let partial: Vec<String> = anthropic_answer("partial answer")
        .into_iter()
        .take(3)
        .collect();
    let anthropic = Mock::start(
        vec![
            Reply::ResetAfter(partial),
            Reply::Sse(anthropic_answer("whole answer")),
        ],
        Reply::status(500, "{}"),
    )
    .await;
    let openai = Mock::always(Reply::Sse(openai_answer("unused"))).await;
    let done = call(&router(&pair_config(&anthropic, &openai)), "pair").await;
    assert_eq!(
        done.response.text(),
        "whole answer",
        "nothing of the broken try leaks in"
    );
    assert_eq!(anthropic.count(), 2);
}

#[tokio::test]
async fn a_stalled_stream_hits_the_idle_timeout_and_is_retried() {
    let first: Vec<String> = gemini_answer("stalled").into_iter().take(1).collect();
    let gemini = Mock::start(
        vec![Reply::Stall(first), Reply::Sse(gemini_answer("fresh"))],
        Reply::status(500, "{}"),
    )
    .await;
    let mut config = fast_config();
    config.gemini = at(&gemini.url);
    let started = Instant::now();
    let done = call(&router(&config), "gemini:gemini-x").await;
    let elapsed = started.elapsed();
    assert_eq!(done.response.text(), "fresh.");
    assert_eq!(gemini.count(), 2);
    assert!(
        elapsed >= Duration::from_millis(200),
        "idle timeout is 200 ms: {elapsed:?}"
    );
    assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
}

#[tokio::test]
async fn fault_kinds_map_to_typed_errors() {
    let answer = anthropic_answer("x");
    let mock = Mock::start(
        vec![
            Reply::Stall(Vec::new()),
            Reply::Stall(answer[..2].to_vec()),
            Reply::ResetAfter(Vec::new()),
            Reply::ResetAfter(answer[..2].to_vec()),
            Reply::Sse(vec![
                answer[0].clone(),
                event(Some("content_block_start"), "{\"type\": oops"),
            ]),
            Reply::Sse(answer[..3].to_vec()),
        ],
        Reply::status(500, "{}"),
    )
    .await;
    let timeouts = Timeouts {
        connect: Duration::from_secs(1),
        first_byte: Duration::from_millis(300),
        idle: Duration::from_millis(150),
        total: Duration::from_secs(5),
    };
    let transport = Transport::new(timeouts).expect("client");
    let key = Secret::new("k");
    let provider =
        Anthropic::new("anthropic", &mock.url, Some(&key), 1024, transport).expect("valid");
    let mut results = Vec::new();
    for _ in 0..6 {
        results.push(provider.complete(&request()).await.expect_err("a fault"));
    }
    assert!(
        matches!(&results[0], ProviderError::Timeout { phase: "the first byte", after, .. } if *after == Duration::from_millis(300)),
        "{:?}",
        results[0]
    );
    assert!(
        matches!(&results[1], ProviderError::Timeout { phase: "the next chunk", after, .. } if *after == Duration::from_millis(150)),
        "{:?}",
        results[1]
    );
    assert!(
        matches!(&results[2], ProviderError::Stream { received: 0, .. }),
        "{:?}",
        results[2]
    );
    assert!(
        matches!(&results[3], ProviderError::Stream { received, .. } if *received > 0),
        "{:?}",
        results[3]
    );
    assert!(
        matches!(&results[4], ProviderError::Decode { .. }),
        "{:?}",
        results[4]
    );
    assert!(
        matches!(&results[5], ProviderError::Stream { cause, .. } if cause.contains("before message_stop")),
        "{:?}",
        results[5]
    );
    assert!(results.iter().take(4).all(ProviderError::is_retryable));
    assert!(
        !results[4].is_retryable(),
        "a garbled stream is not retried on the same provider"
    );
}

#[tokio::test]
async fn malformed_json_moves_to_the_next_candidate_without_retry() {
    let anthropic = Mock::always(Reply::Sse(vec![event(Some("message_start"), "{not json")])).await;
    let openai = Mock::always(Reply::Sse(openai_answer("clean"))).await;
    let done = call(&router(&pair_config(&anthropic, &openai)), "pair").await;
    assert_eq!(anthropic.count(), 1);
    assert_eq!(done.response.text(), "clean");
    assert!(matches!(
        &done.attempts[0].outcome,
        Outcome::Failed(ProviderError::Decode { .. })
    ));
}

#[tokio::test]
async fn connect_errors_are_retried_then_fall_back() {
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr")
    };
    let openai = Mock::always(Reply::Sse(openai_answer("reachable"))).await;
    let mut config = fast_config();
    config.anthropic = at(&format!("http://{closed}"));
    config.openai = at(&format!("{}/v1", openai.url));
    config.aliases.insert(
        "pair".into(),
        vec!["anthropic:claude-x".into(), "openai:gpt-x".into()],
    );
    let done = call(&router(&config), "pair").await;
    assert_eq!(done.response.text(), "reachable");
    assert_eq!(done.attempts[0].retries, 2);
    assert!(
        matches!(
            &done.attempts[0].outcome,
            Outcome::Failed(ProviderError::Connect { .. })
        ),
        "{:?}",
        done.attempts[0].outcome
    );
}

#[tokio::test]
async fn the_breaker_opens_and_a_half_open_probe_closes_it() {
    let anthropic = Mock::start(
        vec![Reply::status(503, "{}"), Reply::status(503, "{}")],
        Reply::Sse(anthropic_answer("recovered")),
    )
    .await;
    let openai = Mock::always(Reply::Sse(openai_answer("fallback"))).await;
    let mut config = pair_config(&anthropic, &openai);
    config.retry.max_attempts = 1;
    config.breaker.min_requests = 2;
    config.breaker.error_ratio = 0.5;
    config.breaker.cooldown_ms = 300;
    let r = router(&config);

    for _ in 0..2 {
        let done = call(&r, "pair").await;
        assert_eq!(done.response.text(), "fallback");
    }
    let snap = r.breaker_snapshots()["anthropic"].clone();
    assert_eq!(snap.state, BreakerState::Open);
    assert!(snap.opened_at_unix_ms.is_some());
    assert_eq!(snap.trips, 1);

    let skipped = call(&r, "pair").await;
    assert_eq!(anthropic.count(), 2, "an open breaker sends nothing");
    assert!(matches!(
        skipped.attempts[0].outcome,
        Outcome::Skipped(SkipReason::CircuitOpen { .. })
    ));

    tokio::time::sleep(Duration::from_millis(350)).await;
    let probed = call(&r, "pair").await;
    assert_eq!(probed.response.text(), "recovered");
    assert_eq!(probed.attempts.len(), 1, "the probe answered");
    assert_eq!(anthropic.count(), 3);
    assert_eq!(
        r.breaker_snapshots()["anthropic"].state,
        BreakerState::Closed
    );
}
