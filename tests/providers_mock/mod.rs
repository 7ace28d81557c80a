//! An in-process mock model API for the provider tests: answers each POST from a
//! script (SSE bodies, error statuses, connections that break or stall) and
//! records every request it gets.

#![allow(dead_code)] // each test file uses a different part of it

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use futures_util::stream::{self, StreamExt};
use serde_json::Value;

use codex_plus::providers::config::{
    BreakerSettings, ProviderSettings, ProvidersConfig, RetrySettings, TimeoutSettings,
};

/// One scripted answer.
#[derive(Clone, Debug)]
pub enum Reply {
    /// 200 `text/event-stream` with these chunks.
    Sse(Vec<String>),
    /// An error status with headers and a body.
    Status {
        code: u16,
        headers: Vec<(&'static str, String)>,
        body: String,
    },
    /// 200, these chunks, then the connection breaks.
    ResetAfter(Vec<String>),
    /// 200, these chunks, then silence forever.
    Stall(Vec<String>),
}

impl Reply {
    pub fn status(code: u16, body: &str) -> Self {
        Self::Status {
            code,
            headers: Vec::new(),
            body: body.to_owned(),
        }
    }
}

/// One request as the mock saw it.
#[derive(Clone, Debug)]
pub struct Recorded {
    /// Path and query.
    pub uri: String,
    pub headers: HeaderMap,
    pub body: Value,
    pub at: Instant,
}

struct Script {
    queue: VecDeque<Reply>,
    /// Answers every request once the queue is empty.
    then: Reply,
}

#[derive(Clone)]
struct MockState {
    script: Arc<Mutex<Script>>,
    seen: Arc<Mutex<Vec<Recorded>>>,
}

/// A running mock on 127.0.0.1; stops when the test's runtime ends.
pub struct Mock {
    pub url: String,
    state: MockState,
}

impl Mock {
    /// Answer with `script` in order, then with `then` forever.
    pub async fn start(script: Vec<Reply>, then: Reply) -> Self {
        let state = MockState {
            script: Arc::new(Mutex::new(Script {
                queue: script.into(),
                then,
            })),
            seen: Arc::new(Mutex::new(Vec::new())),
        };
        let app = axum::Router::new()
            .fallback(answer)
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            url: format!("http://{addr}"),
            state,
        }
    }

    /// Answer every request the same way.
    pub async fn always(reply: Reply) -> Self {
        Self::start(Vec::new(), reply).await
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.state.seen.lock().expect("lock").clone()
    }

    pub fn count(&self) -> usize {
        self.state.seen.lock().expect("lock").len()
    }
}

async fn answer(
    State(state): State<MockState>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    state.seen.lock().expect("lock").push(Recorded {
        uri: uri.to_string(),
        headers,
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        at: Instant::now(),
    });
    let reply = {
        let mut script = state.script.lock().expect("lock");
        script
            .queue
            .pop_front()
            .unwrap_or_else(|| script.then.clone())
    };
    let sse = |body: Body| {
        Response::builder()
            .status(200)
            .header("content-type", "text/event-stream")
            .body(body)
            .expect("response")
    };
    let chunks = |chunks: Vec<String>| stream::iter(chunks.into_iter().map(Bytes::from));
    match reply {
        Reply::Sse(c) => sse(Body::from_stream(chunks(c).map(Ok::<_, Infallible>))),
        Reply::Status {
            code,
            headers,
            body,
        } => {
            let mut r = Response::builder()
                .status(StatusCode::from_u16(code).expect("status"))
                .header("content-type", "application/json");
            for (k, v) in headers {
                r = r.header(k, v);
            }
            r.body(Body::from(body)).expect("response")
        }
        Reply::ResetAfter(c) => {
            // Wait so the chunks are on the wire before the connection dies.
            let broken = stream::once(async {
                tokio::time::sleep(Duration::from_millis(50)).await;
                Err(std::io::Error::new(
                    std::io::ErrorKind::ConnectionReset,
                    "mock reset",
                ))
            });
            sse(Body::from_stream(chunks(c).map(Ok).chain(broken)))
        }
        Reply::Stall(c) => {
            let silence = stream::pending::<Result<Bytes, Infallible>>();
            sse(Body::from_stream(chunks(c).map(Ok).chain(silence)))
        }
    }
}

/// One SSE event.
pub fn event(name: Option<&str>, data: &str) -> String {
    match name {
        Some(n) => format!("event: {n}\ndata: {data}\n\n"),
        None => format!("data: {data}\n\n"),
    }
}

/// A whole Anthropic answer saying `text`, split into events.
pub fn anthropic_answer(text: &str) -> Vec<String> {
    vec![
        event(Some("message_start"), r#"{"type":"message_start","message":{"id":"msg_1","usage":{"input_tokens":10,"output_tokens":1}}}"#),
        event(Some("content_block_start"), r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#),
        event(Some("content_block_delta"), &serde_json::json!({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":text}}).to_string()),
        event(Some("content_block_stop"), r#"{"type":"content_block_stop","index":0}"#),
        event(Some("message_delta"), r#"{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":5}}"#),
        event(Some("message_stop"), r#"{"type":"message_stop"}"#),
    ]
}

/// A whole Responses API answer saying `text`.
pub fn openai_answer(text: &str) -> Vec<String> {
    let item = serde_json::json!({"type":"response.output_item.done","item":{"type":"message","role":"assistant","content":[{"type":"output_text","text":text}]}});
    vec![
        event(
            Some("response.created"),
            r#"{"type":"response.created","response":{"id":"resp_1"}}"#,
        ),
        event(Some("response.output_item.done"), &item.to_string()),
        event(
            Some("response.completed"),
            r#"{"type":"response.completed","response":{"id":"resp_1","usage":{"input_tokens":10,"output_tokens":5}}}"#,
        ),
    ]
}

/// A whole Chat Completions answer saying `text`.
pub fn chat_answer(text: &str) -> Vec<String> {
    vec![
        event(
            None,
            &serde_json::json!({"choices":[{"index":0,"delta":{"content":text}}]}).to_string(),
        ),
        event(
            None,
            r#"{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":{"prompt_tokens":10,"completion_tokens":5}}"#,
        ),
        event(None, "[DONE]"),
    ]
}

/// A whole Gemini answer saying `text`.
pub fn gemini_answer(text: &str) -> Vec<String> {
    vec![
        event(None, &serde_json::json!({"candidates":[{"content":{"role":"model","parts":[{"text":text}]}}]}).to_string()),
        event(None, r#"{"candidates":[{"content":{"role":"model","parts":[{"text":"."}]},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":10,"candidatesTokenCount":5}}"#),
    ]
}

/// Fast settings: tiny backoff, short timeouts, a breaker that stays out of the way.
pub fn fast_config() -> ProvidersConfig {
    ProvidersConfig {
        retry: RetrySettings {
            max_attempts: 3,
            base_delay_ms: 5,
            max_delay_ms: 10,
            max_retry_after_ms: 2_000,
        },
        breaker: BreakerSettings {
            window_ms: 60_000,
            min_requests: 1_000,
            error_ratio: 1.0,
            cooldown_ms: 60_000,
        },
        timeouts: TimeoutSettings {
            connect_ms: 1_000,
            first_byte_ms: 1_000,
            idle_ms: 200,
            total_ms: 10_000,
        },
        ..Default::default()
    }
}

/// A provider section pointing at a mock.
pub fn at(url: &str) -> ProviderSettings {
    ProviderSettings {
        base_url: Some(url.to_owned()),
        ..Default::default()
    }
}

/// An env lookup over fixed pairs (never the process env).
pub fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    move |k| map.get(k).cloned()
}

/// Every key set, so every provider is callable.
pub fn all_keys() -> impl Fn(&str) -> Option<String> {
    env(&[
        ("OPENAI_API_KEY", "sk-openai-test"),
        ("ANTHROPIC_API_KEY", "sk-ant-test"),
        ("GEMINI_API_KEY", "gem-test"),
        ("CODEX_PLUS_CHAT_API_KEY", "chat-test"),
    ])
}

/// Shorthand for the gap between two recorded requests.
pub fn gap(a: &Recorded, b: &Recorded) -> Duration {
    b.at.duration_since(a.at)
}
