//! An in-process mock of the model backends (OpenAI API and ChatGPT backend).
//!
//! Every request is recorded (body decoded from zstd/gzip). What it answers is up to
//! the test's script: a function from the request (and how many `/responses` calls
//! came before it) to a `Reply`. Like Codex's own test servers, SSE bodies are built
//! from small event helpers.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use bytes::Bytes;
use futures_util::stream;
use http::{HeaderMap, StatusCode};
use http_body_util::BodyExt;
use serde_json::{json, Value};

/// One request as the mock saw it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub headers: HeaderMap,
    /// The body after content-decoding.
    pub body: Bytes,
    /// The body as it came over the wire.
    pub raw_body: Bytes,
}

impl Recorded {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn is_responses(&self) -> bool {
        self.method == "POST" && self.path.ends_with("/responses")
    }

    /// All input items of a `/responses` body.
    pub fn input(&self) -> Vec<Value> {
        self.json()["input"].as_array().cloned().unwrap_or_default()
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// What the mock answers.
pub enum Reply {
    /// 200 `text/event-stream` with these chunks, `gap` apart.
    Sse { chunks: Vec<Bytes>, gap: Duration },
    /// Any status with a JSON body and extra headers.
    Json {
        status: u16,
        body: Value,
        headers: Vec<(&'static str, String)>,
    },
    /// Sends these chunks, then breaks the connection without ending the body.
    BreakAfter(Vec<Bytes>),
    /// Sends these chunks, then nothing, forever.
    StallAfter(Vec<Bytes>),
    /// Takes the request and never answers, not even a status line.
    Silent,
}

impl Reply {
    pub fn sse(events: &[Value]) -> Reply {
        Reply::Sse {
            chunks: events.iter().map(sse_event).collect(),
            gap: Duration::ZERO,
        }
    }

    pub fn json(status: u16, body: Value) -> Reply {
        Reply::Json {
            status,
            body,
            headers: vec![],
        }
    }
}

pub type Script = Arc<dyn Fn(&Recorded, usize) -> Reply + Send + Sync>;

pub struct MockUpstream {
    pub addr: SocketAddr,
    requests: Arc<Mutex<Vec<Recorded>>>,
    open: Arc<AtomicUsize>,
    _server: tokio::task::JoinHandle<()>,
}

#[derive(Clone)]
struct MockState {
    script: Script,
    requests: Arc<Mutex<Vec<Recorded>>>,
    open: Arc<AtomicUsize>,
}

impl MockUpstream {
    /// Starts a mock whose `/responses` answers come from `script(request, n)`, where
    /// n counts earlier `/responses` calls. Other paths get ChatGPT/OpenAI-shaped
    /// defaults (`{"models":[]}`, an accounts check, `{}`).
    pub async fn start(
        script: impl Fn(&Recorded, usize) -> Reply + Send + Sync + 'static,
    ) -> MockUpstream {
        let requests = Arc::new(Mutex::new(Vec::new()));
        let open = Arc::new(AtomicUsize::new(0));
        let state = MockState {
            script: Arc::new(script),
            requests: requests.clone(),
            open: open.clone(),
        };
        let app = axum::Router::new().fallback(handle).with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        MockUpstream {
            addr,
            requests,
            open,
            _server: server,
        }
    }

    /// A mock that answers every `/responses` call with the same events.
    pub async fn replying(events: Vec<Value>) -> MockUpstream {
        Self::start(move |_, _| Reply::sse(&events)).await
    }

    /// A mock whose every answer is `response.created` (id `response_id`) and one text
    /// delta, then a dropped connection: an upstream that dies mid-stream.
    pub async fn dying_mid_stream(response_id: &str, delta: &str) -> MockUpstream {
        let chunks = vec![
            sse_event(&ev_created(response_id)),
            sse_event(&ev_text_delta("msg_1", delta)),
        ];
        Self::start(move |_, _| Reply::BreakAfter(chunks.clone())).await
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }

    /// Event streams the mock is still sending, and silent answers it is still
    /// holding back (each dropped when the client goes away).
    pub fn open_streams(&self) -> usize {
        self.open.load(Ordering::SeqCst)
    }

    pub fn responses_requests(&self) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| r.is_responses())
            .collect()
    }
}

async fn handle(State(state): State<MockState>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let raw_body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let body = match parts
        .headers
        .get("content-encoding")
        .and_then(|v| v.to_str().ok())
    {
        // A body that does not decode is recorded as it came.
        Some("zstd") => zstd::decode_all(&raw_body[..]).map_or(raw_body.clone(), Bytes::from),
        Some("gzip") => {
            use std::io::Read;
            let mut out = Vec::new();
            match flate2::read::GzDecoder::new(&raw_body[..]).read_to_end(&mut out) {
                Ok(_) => Bytes::from(out),
                Err(_) => raw_body.clone(),
            }
        }
        _ => raw_body.clone(),
    };
    let recorded = Recorded {
        method: parts.method.to_string(),
        path: parts.uri.path().to_string(),
        query: parts.uri.query().map(str::to_string),
        headers: parts.headers.clone(),
        body,
        raw_body,
    };
    let reply = {
        let mut requests = state.requests.lock().unwrap();
        let n = requests.iter().filter(|r| r.is_responses()).count();
        requests.push(recorded.clone());
        if recorded.is_responses() {
            (state.script)(&recorded, n)
        } else {
            default_reply(&recorded)
        }
    };
    if let Reply::Silent = reply {
        let _held = OpenGuard::new(state.open);
        return std::future::pending().await;
    }
    render(reply, state.open)
}

/// Counts a response body as open until it is dropped.
struct OpenGuard(Arc<AtomicUsize>);

impl OpenGuard {
    fn new(open: Arc<AtomicUsize>) -> OpenGuard {
        open.fetch_add(1, Ordering::SeqCst);
        OpenGuard(open)
    }
}

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

fn default_reply(req: &Recorded) -> Reply {
    if req.path.ends_with("/models") {
        Reply::json(200, json!({"models": []}))
    } else if req.path.ends_with("/wham/accounts/check") {
        Reply::json(
            200,
            json!({"accounts": [{"id": "acct_test", "account_user_id": "user_test", "structure": "personal", "plan_type": "plus", "workspace_backend_origin": "NO_CONSTRAINT", "account_routing_override": "NO_CONSTRAINT"}], "account_ordering": ["acct_test"]}),
        )
    } else {
        Reply::json(200, json!({}))
    }
}

fn render(reply: Reply, open: Arc<AtomicUsize>) -> Response {
    let sse =
        move |stream: futures_util::stream::BoxStream<'static, Result<Bytes, std::io::Error>>| {
            let guard = OpenGuard::new(open);
            let stream = futures_util::StreamExt::map(stream, move |item| {
                let _alive = &guard;
                item
            });
            Response::builder()
                .status(200)
                .header("content-type", "text/event-stream")
                .body(Body::from_stream(stream))
                .unwrap()
        };
    match reply {
        Reply::Sse { chunks, gap } => sse(Box::pin(stream::unfold(
            (chunks.into_iter(), gap, true),
            |(mut it, gap, first)| async move {
                if !first && !gap.is_zero() {
                    tokio::time::sleep(gap).await;
                }
                let chunk = it.next()?;
                Some((Ok(chunk), (it, gap, false)))
            },
        ))),
        Reply::Json {
            status,
            body,
            headers,
        } => {
            let mut b = Response::builder()
                .status(StatusCode::from_u16(status).unwrap())
                .header("content-type", "application/json");
            for (k, v) in headers {
                b = b.header(k, v);
            }
            b.body(Body::from(body.to_string())).unwrap()
        }
        Reply::BreakAfter(chunks) => {
            // The break comes after the chunks are on the wire, as with a real reset.
            let broken = stream::once(async {
                tokio::time::sleep(Duration::from_millis(50)).await;
                Err(std::io::Error::other("mock: connection broken"))
            });
            let items = stream::iter(chunks.into_iter().map(Ok));
            sse(Box::pin(futures_util::StreamExt::chain(items, broken)))
        }
        Reply::StallAfter(chunks) => {
            let items = stream::iter(chunks.into_iter().map(Ok));
            sse(Box::pin(futures_util::StreamExt::chain(
                items,
                stream::pending(),
            )))
        }
        Reply::Silent => unreachable!("a silent reply is held in `handle`"),
    }
}

/// One SSE event as the Responses API writes it.
pub fn sse_event(event: &Value) -> Bytes {
    Bytes::from(format!(
        "event: {}\ndata: {}\n\n",
        event["type"].as_str().unwrap_or("message"),
        event
    ))
}

// --- event helpers, in the spirit of Codex's own test suite ---

pub fn ev_created(id: &str) -> Value {
    json!({"type": "response.created", "response": {"id": id}})
}

pub fn ev_completed(id: &str) -> Value {
    json!({"type": "response.completed", "response": {"id": id, "usage": {"input_tokens": 10, "output_tokens": 5, "total_tokens": 15}}})
}

pub fn ev_message(id: &str, text: &str) -> Value {
    json!({"type": "response.output_item.done", "item": {"type": "message", "role": "assistant", "id": id, "content": [{"type": "output_text", "text": text}]}})
}

pub fn ev_text_delta(item_id: &str, delta: &str) -> Value {
    json!({"type": "response.output_text.delta", "item_id": item_id, "output_index": 0, "content_index": 0, "delta": delta})
}

pub fn ev_function_call(call_id: &str, name: &str, arguments: &Value) -> Value {
    json!({"type": "response.output_item.done", "item": {"type": "function_call", "id": format!("fc_{call_id}"), "call_id": call_id, "name": name, "arguments": arguments.to_string()}})
}

/// A whole answer: created, one message, completed.
pub fn answer(resp_id: &str, text: &str) -> Vec<Value> {
    vec![
        ev_created(resp_id),
        ev_message(&format!("msg_{resp_id}"), text),
        ev_completed(resp_id),
    ]
}
