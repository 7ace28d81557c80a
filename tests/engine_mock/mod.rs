//! A mock model API for the engine's tests and benchmark: an in-process axum server
//! on 127.0.0.1 that answers each POST with what a script decides from the request
//! (an OpenAI Responses SSE stream, an error status, or silence), after an optional
//! delay. It records every request and counts how many were in flight at once.

#![allow(dead_code)] // each test file uses a different part of it

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::response::Response;
use futures_util::stream::{self, StreamExt};
use serde_json::{json, Value};

/// One request as the mock saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub uri: String,
    pub headers: HeaderMap,
    pub body: Value,
    pub at: Instant,
}

impl Seen {
    /// The system prompt (the first `developer` message).
    pub fn system(&self) -> String {
        self.items()
            .iter()
            .find(|i| i["role"] == "developer")
            .map(text_of)
            .unwrap_or_default()
    }

    /// The first user message's text (the Task prompt).
    pub fn prompt(&self) -> String {
        self.items()
            .iter()
            .find(|i| i["type"] == "message" && i["role"] == "user")
            .map(text_of)
            .unwrap_or_default()
    }

    /// The names of the tools offered.
    pub fn tools(&self) -> Vec<String> {
        self.body["tools"]
            .as_array()
            .map(|tools| {
                tools
                    .iter()
                    .filter_map(|t| t["name"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The tool results sent back so far, as (call_id, output).
    pub fn outputs(&self) -> Vec<(String, String)> {
        self.items()
            .iter()
            .filter(|i| i["type"] == "function_call_output")
            .map(|i| {
                (
                    i["call_id"].as_str().unwrap_or("").to_string(),
                    i["output"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect()
    }

    /// How many model turns came before this one (function calls in the input).
    pub fn turn(&self) -> usize {
        self.items()
            .iter()
            .filter(|i| i["type"] == "function_call")
            .count()
    }

    pub fn model(&self) -> String {
        self.body["model"].as_str().unwrap_or("").to_string()
    }

    fn items(&self) -> Vec<Value> {
        self.body["input"].as_array().cloned().unwrap_or_default()
    }
}

fn text_of(item: &Value) -> String {
    item["content"]
        .as_array()
        .map(|parts| {
            parts
                .iter()
                .filter_map(|p| p["text"].as_str())
                .collect::<String>()
        })
        .unwrap_or_default()
}

/// What to answer.
#[derive(Clone, Debug)]
pub enum Reply {
    /// 200 with these SSE chunks.
    Sse(Vec<String>),
    /// An error status with a JSON body.
    Status(u16, String),
    /// 200 with a plain-text page (for WebFetch).
    Page(String),
    /// Never answer (the connection stays open).
    Hang,
}

/// One answer and how long to wait before giving it.
#[derive(Clone, Debug)]
pub struct Step {
    pub delay: Duration,
    pub reply: Reply,
}

impl Step {
    pub fn now(reply: Reply) -> Self {
        Self {
            delay: Duration::ZERO,
            reply,
        }
    }

    pub fn after(delay: Duration, reply: Reply) -> Self {
        Self { delay, reply }
    }
}

type Script = Arc<dyn Fn(&Seen) -> Step + Send + Sync>;

#[derive(Clone)]
struct MockState {
    script: Script,
    seen: Arc<Mutex<Vec<Seen>>>,
    /// When the answer to the request of each index started to leave (after its delay).
    replied: Arc<Mutex<Vec<Option<Instant>>>>,
    in_flight: Arc<AtomicUsize>,
    max_in_flight: Arc<AtomicUsize>,
}

/// A running mock; stops with the test's runtime.
pub struct MockModel {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    state: MockState,
}

impl MockModel {
    /// Answers every request with what `script` returns for it.
    pub async fn start(script: impl Fn(&Seen) -> Step + Send + Sync + 'static) -> Self {
        let state = MockState {
            script: Arc::new(script),
            seen: Arc::default(),
            replied: Arc::default(),
            in_flight: Arc::default(),
            max_in_flight: Arc::default(),
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

    pub fn requests(&self) -> Vec<Seen> {
        self.state.seen.lock().expect("lock").clone()
    }

    /// The `index`-th request (cloning one instead of all of them).
    pub fn request(&self, index: usize) -> Option<Seen> {
        self.state.seen.lock().expect("lock").get(index).cloned()
    }

    /// When the answer to the `index`-th request started to leave, after its delay.
    pub fn replied(&self, index: usize) -> Option<Instant> {
        self.state
            .replied
            .lock()
            .expect("lock")
            .get(index)
            .copied()
            .flatten()
    }

    pub fn count(&self) -> usize {
        self.state.seen.lock().expect("lock").len()
    }

    /// The most requests that were being answered at the same time.
    pub fn max_in_flight(&self) -> usize {
        self.state.max_in_flight.load(Ordering::SeqCst)
    }

    /// Requests being answered now.
    pub fn in_flight(&self) -> usize {
        self.state.in_flight.load(Ordering::SeqCst)
    }
}

struct InFlight(Arc<AtomicUsize>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn answer(
    State(state): State<MockState>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let at = Instant::now();
    let seen = Seen {
        uri: uri.to_string(),
        headers,
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        at,
    };
    let now = state.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    state.max_in_flight.fetch_max(now, Ordering::SeqCst);
    let _guard = InFlight(Arc::clone(&state.in_flight));
    let step = (state.script)(&seen);
    let index = {
        let mut all = state.seen.lock().expect("lock");
        all.push(seen);
        all.len() - 1
    };
    if !step.delay.is_zero() {
        tokio::time::sleep(step.delay).await;
    }
    {
        let mut replied = state.replied.lock().expect("lock");
        if replied.len() <= index {
            replied.resize(index + 1, None);
        }
        replied[index] = Some(Instant::now());
    }
    match step.reply {
        Reply::Sse(chunks) => Response::builder()
            .status(200)
            .header("content-type", "text/event-stream")
            .body(Body::from_stream(
                stream::iter(chunks.into_iter().map(Bytes::from)).map(Ok::<_, Infallible>),
            ))
            .expect("response"),
        Reply::Status(code, body) => Response::builder()
            .status(code)
            .header("content-type", "application/json")
            .body(Body::from(body))
            .expect("response"),
        Reply::Page(text) => Response::builder()
            .status(200)
            .header("content-type", "text/plain")
            .body(Body::from(text))
            .expect("response"),
        Reply::Hang => {
            std::future::pending::<()>().await;
            Response::new(Body::empty())
        }
    }
}

fn event(data: &Value) -> String {
    format!("data: {data}\n\n")
}

fn completed(usage: (u64, u64)) -> String {
    event(
        &json!({"type": "response.completed", "response": {"id": "resp_1", "usage": {"input_tokens": usage.0, "output_tokens": usage.1}}}),
    )
}

/// A final answer saying `text` (10 input, 5 output tokens).
pub fn text(text: &str) -> Reply {
    Reply::Sse(vec![
        event(
            &json!({"type": "response.output_item.done", "item": {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": text}]}}),
        ),
        completed((10, 5)),
    ])
}

/// A turn that calls tools: `(call_id, name, arguments)`, with optional text before.
pub fn calls(before: Option<&str>, calls: &[(&str, &str, Value)]) -> Reply {
    let mut chunks = Vec::new();
    if let Some(t) = before {
        chunks.push(event(&json!({"type": "response.output_item.done", "item": {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": t}]}})));
    }
    for (id, name, args) in calls {
        chunks.push(event(&json!({"type": "response.output_item.done", "item": {"type": "function_call", "call_id": id, "name": name, "arguments": args.to_string()}})));
    }
    chunks.push(completed((10, 5)));
    Reply::Sse(chunks)
}

/// One tool call.
pub fn call(id: &str, name: &str, args: Value) -> Reply {
    calls(None, &[(id, name, args)])
}

/// An engine over a temporary workspace, home and ledger, whose `inherit` (the local
/// default) calls `model_url`.
pub struct Harness {
    pub tmp: tempfile::TempDir,
    /// The workspace (canonical path).
    pub ws: std::path::PathBuf,
    pub home: std::path::PathBuf,
    pub ledger: Arc<codex_plus::store::Ledger>,
    pub engine: Arc<codex_plus::engine::Engine>,
}

/// Fast provider settings: tiny backoff, a breaker that stays out of the way.
pub fn fast_providers(config: &mut codex_plus::config::Config) {
    let p = &mut config.providers;
    p.retry.max_attempts = 2;
    p.retry.base_delay_ms = 5;
    p.retry.max_delay_ms = 10;
    p.breaker.min_requests = 1_000;
    p.timeouts.first_byte_ms = 30_000;
}

impl Harness {
    /// The default configuration with `configure` applied; no env keys.
    pub fn new(model_url: &str, configure: impl FnOnce(&mut codex_plus::config::Config)) -> Self {
        Self::with_env(model_url, &[], configure)
    }

    pub fn with_env(
        model_url: &str,
        env: &[(&str, &str)],
        configure: impl FnOnce(&mut codex_plus::config::Config),
    ) -> Self {
        Self::make(model_url, env, false, configure)
    }

    /// With catalogs that watch files as the proxy's do (instead of re-checking the
    /// directories on every lookup, which tests need after writing files).
    pub fn watching(
        model_url: &str,
        configure: impl FnOnce(&mut codex_plus::config::Config),
    ) -> Self {
        Self::make(model_url, &[], true, configure)
    }

    fn make(
        model_url: &str,
        env: &[(&str, &str)],
        watch: bool,
        configure: impl FnOnce(&mut codex_plus::config::Config),
    ) -> Self {
        use codex_plus::claude::catalog::Catalog;
        use codex_plus::claude::{ClaudeCatalogs, Roots};
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = std::fs::canonicalize(tmp.path()).expect("canonical");
        let ws = root.join("ws");
        let home = root.join("home");
        std::fs::create_dir_all(&ws).expect("ws");
        std::fs::create_dir_all(&home).expect("home");
        let mut config = codex_plus::config::Config::defaults(root.join("state"));
        config.upstream.openai = model_url.to_string();
        fast_providers(&mut config);
        configure(&mut config);
        let ledger = Arc::new(
            codex_plus::store::Ledger::open(config.home.join("ledger.db")).expect("ledger"),
        );
        let roots = Roots::with_home(&home);
        let catalogs = Arc::new(if watch {
            ClaudeCatalogs::new(roots)
        } else {
            ClaudeCatalogs {
                agents: Catalog::polling(roots.clone(), Duration::ZERO),
                commands: Catalog::polling(roots.clone(), Duration::ZERO),
                settings: Catalog::polling(roots, Duration::ZERO),
            }
        });
        let pairs: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect();
        let lookup = move |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        let mut deps = codex_plus::engine::EngineDeps::from_config(
            &config,
            Arc::clone(&ledger),
            Arc::clone(&catalogs),
            &lookup,
        )
        .expect("deps");
        // As in the proxy: the workspace's hooks fire around subagents, and the engine
        // judges their `prompt` and `agent` hooks.
        let hooks = Arc::new(codex_plus::hooks::service::Hooks::new(
            catalogs,
            Arc::clone(&ledger),
            config.hooks.enabled,
        ));
        deps.hooks = Some(Arc::clone(&hooks));
        let engine = codex_plus::engine::Engine::new(deps);
        hooks.set_judge(Arc::new(codex_plus::engine::judge::EngineJudge(
            Arc::downgrade(&engine),
        )));
        Self {
            tmp,
            ws,
            home,
            ledger,
            engine,
        }
    }

    /// Writes `.claude/agents/<name>.md` in the workspace.
    pub fn agent(&self, name: &str, frontmatter: &str, body: &str) {
        let dir = self.ws.join(".claude/agents");
        std::fs::create_dir_all(&dir).expect("agents dir");
        std::fs::write(
            dir.join(format!("{name}.md")),
            format!("---\nname: {name}\ndescription: The {name} agent\n{frontmatter}---\n{body}\n"),
        )
        .expect("agent file");
    }

    /// Writes the workspace's `.claude/settings.json`.
    pub fn settings(&self, json_text: &str) {
        let dir = self.ws.join(".claude");
        std::fs::create_dir_all(&dir).expect("settings dir");
        std::fs::write(dir.join("settings.json"), json_text).expect("settings");
    }

    /// A top-level request in the workspace.
    pub fn request(&self, agent: &str, prompt: &str) -> codex_plus::engine::TaskRequest {
        codex_plus::engine::TaskRequest::new(
            Some(agent.to_string()),
            prompt,
            format!("Test {agent}"),
            codex_plus::engine::Workspace::at(self.ws.clone()),
        )
    }
}
