//! The in-process mock upstream: a lean hyper HTTP/1.1 server on its own thread that
//! answers `POST …/responses` with a Responses-API event stream.
//!
//! Every request says how its stream should look in `x-mock-scenario` (see
//! `Scenario`) and names itself in `x-bench-id`; the id is written into the events,
//! so the client can check it got its own stream, byte for byte (`Template::matches`).
//! The request body is read in full (as a real upstream does) and compared with the
//! body the bench registered under `x-bench-body`, so a proxy that alters the
//! request is caught too.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::stream;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::json;

use crate::request_check::{Arrived, Registered};
use crate::Res;

/// Placeholder for the 16-character request id in the templates.
const ID_PLACEHOLDER: &[u8; 16] = b"ZQZQZQZQZQZQZQZQ";
/// Length of a request id (`Template::render`, `bench_id`).
pub const ID_LEN: usize = 16;

/// The 16-character id the bench gives request number `n`.
pub fn bench_id(n: u64) -> [u8; ID_LEN] {
    let mut id = [0u8; ID_LEN];
    id.copy_from_slice(format!("{n:016x}").as_bytes());
    id
}

/// The shape of one mocked stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Scenario {
    /// `response.output_text.delta` events.
    pub events: u32,
    /// Characters of text per delta.
    pub delta: u32,
    /// Pause between events (scheduled from the stream's start), µs.
    pub gap_us: u32,
    /// Pause before the response head (upstream think time), µs.
    pub delay_us: u32,
    /// Hold the stream open after `response.created` for this long, ms.
    pub hold_ms: u32,
    /// Record when each event was handed to the socket (`Mock::sent_times`).
    pub record: bool,
}

impl Scenario {
    pub const fn new(events: u32, delta: u32) -> Scenario {
        Scenario {
            events,
            delta,
            gap_us: 0,
            delay_us: 0,
            hold_ms: 0,
            record: false,
        }
    }

    /// The `x-mock-scenario` header value.
    pub fn header(&self) -> String {
        format!(
            "events={};delta={};gap_us={};delay_us={};hold_ms={};record={}",
            self.events, self.delta, self.gap_us, self.delay_us, self.hold_ms, self.record as u8
        )
    }

    pub fn parse(text: &str) -> Result<Scenario, String> {
        let mut sc = Scenario::new(20, 16);
        for item in text.split(';').map(str::trim).filter(|s| !s.is_empty()) {
            let (key, value) = item
                .split_once('=')
                .ok_or_else(|| format!("`{item}` is not key=value"))?;
            let n: u32 = value
                .parse()
                .map_err(|_| format!("`{item}`: the value is not a whole number"))?;
            match key {
                "events" => sc.events = n,
                "delta" => sc.delta = n,
                "gap_us" => sc.gap_us = n,
                "delay_us" => sc.delay_us = n,
                "hold_ms" => sc.hold_ms = n,
                "record" => sc.record = n != 0,
                _ => return Err(format!("unknown scenario key `{key}`")),
            }
        }
        Ok(sc)
    }

    /// The whole stream can go out in one write.
    fn is_instant(&self) -> bool {
        self.gap_us == 0 && self.delay_us == 0 && self.hold_ms == 0 && !self.record
    }
}

/// The SSE body of a scenario with a placeholder id, and where each event ends.
pub struct Template {
    text: Vec<u8>,
    id_at: Vec<usize>,
    ends: Vec<usize>,
}

impl Template {
    pub fn new(sc: &Scenario) -> Template {
        let id = std::str::from_utf8(ID_PLACEHOLDER).unwrap_or_default();
        let rid = format!("resp_{id}");
        let mid = format!("msg_{id}");
        let parts: Vec<String> = (0..sc.events).map(|k| delta_text(k, sc.delta)).collect();
        let full: String = parts.concat();
        let response = |status: &str, output: serde_json::Value, usage: serde_json::Value| {
            json!({
                "id": rid, "object": "response", "created_at": 1_763_726_400, "status": status,
                "background": false, "error": null, "incomplete_details": null,
                "model": "gpt-5-codex", "output": output, "parallel_tool_calls": false,
                "reasoning": {"effort": "medium", "summary": "auto"}, "store": false,
                "text": {"format": {"type": "text"}, "verbosity": "medium"},
                "tool_choice": "auto", "truncation": "disabled", "usage": usage,
            })
        };
        let item_done = json!({
            "id": mid, "type": "message", "status": "completed", "role": "assistant",
            "content": [{"type": "output_text", "annotations": [], "logprobs": [], "text": full}],
        });
        let mut events = vec![
            json!({"type": "response.created", "sequence_number": 0,
                   "response": response("in_progress", json!([]), json!(null))}),
            json!({"type": "response.output_item.added", "sequence_number": 1, "output_index": 0,
                   "item": {"id": mid, "type": "message", "status": "in_progress",
                            "content": [], "role": "assistant"}}),
        ];
        for (k, part) in parts.iter().enumerate() {
            events.push(
                json!({"type": "response.output_text.delta", "sequence_number": k + 2,
                "item_id": mid, "output_index": 0, "content_index": 0, "delta": part,
                "logprobs": []}),
            );
        }
        let n = sc.events as usize;
        events.push(
            json!({"type": "response.output_item.done", "sequence_number": n + 2,
                           "output_index": 0, "item": item_done}),
        );
        let usage = json!({"input_tokens": 4_000, "input_tokens_details": {"cached_tokens": 3_584},
            "output_tokens": n, "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": 4_000 + n});
        events.push(
            json!({"type": "response.completed", "sequence_number": n + 3,
                           "response": response("completed", json!([item_done]), usage)}),
        );
        let mut text = Vec::new();
        let mut ends = Vec::new();
        for ev in &events {
            let kind = ev["type"].as_str().unwrap_or_default();
            text.extend_from_slice(format!("event: {kind}\ndata: {ev}\n\n").as_bytes());
            ends.push(text.len());
        }
        let id_at = memchr::memmem::find_iter(&text, ID_PLACEHOLDER).collect();
        Template { text, id_at, ends }
    }

    /// Bytes of the whole stream.
    pub fn len(&self) -> usize {
        self.text.len()
    }

    /// Events in the stream (the deltas plus four).
    pub fn event_count(&self) -> usize {
        self.ends.len()
    }

    /// The exact body the mock sends for request `id`.
    pub fn render(&self, id: &[u8; ID_LEN]) -> Bytes {
        let mut out = self.text.clone();
        for &at in &self.id_at {
            out[at..at + ID_LEN].copy_from_slice(id);
        }
        Bytes::from(out)
    }

    /// `body` is exactly what `render(id)` gives (checked without building it).
    pub fn matches(&self, body: &[u8], id: &[u8; ID_LEN]) -> bool {
        if body.len() != self.text.len() {
            return false;
        }
        let mut from = 0;
        for &at in &self.id_at {
            if body[from..at] != self.text[from..at] || body[at..at + ID_LEN] != id[..] {
                return false;
            }
            from = at + ID_LEN;
        }
        body[from..] == self.text[from..]
    }

    /// The rendered body cut into its events.
    fn events(&self, id: &[u8; ID_LEN]) -> Vec<Bytes> {
        let body = self.render(id);
        let mut start = 0;
        self.ends
            .iter()
            .map(|&end| {
                let ev = body.slice(start..end);
                start = end;
                ev
            })
            .collect()
    }
}

/// Model-like text: words, code in backticks, a line break now and then.
fn delta_text(k: u32, len: u32) -> String {
    const TEXT: &str = "The failing test expects `parse_header` to keep the \"quoted\" value; \
        the fix trims only whitespace.\nRun `cargo test -p parser` again to confirm. ";
    let start = (k as usize * 7) % TEXT.len();
    TEXT.chars()
        .cycle()
        .skip(start)
        .take(len as usize)
        .collect()
}

/// What the mock counts and records.
#[derive(Default)]
pub struct Counters {
    pub responses: AtomicU64,
    /// Request bodies that arrived exactly as registered.
    pub request_identical: AtomicU64,
    /// Request bodies the proxy extended (appended items or tools), nothing lost.
    pub request_extended: AtomicU64,
    /// Request bodies with something of the registered body lost or changed.
    pub request_mismatches: AtomicU64,
    /// Extended bodies that offer the workspace's agents and carry a status line:
    /// the whole pipeline ran.
    pub request_whole_pipeline: AtomicU64,
    /// Requests per `x-bench-tag` value.
    tags: Mutex<HashMap<String, u64>>,
    /// Streams whose body is alive now.
    pub open_streams: AtomicU64,
    sent: Mutex<HashMap<[u8; ID_LEN], Vec<Instant>>>,
}

impl Counters {
    pub fn tag_count(&self, tag: &str) -> u64 {
        self.tags
            .lock()
            .map(|t| t.get(tag).copied().unwrap_or(0))
            .unwrap_or(0)
    }
}

/// Handle to the running mock.
pub struct Mock {
    pub addr: SocketAddr,
    pub counters: Arc<Counters>,
    bodies: Arc<Vec<Registered>>,
}

struct Shared {
    counters: Arc<Counters>,
    bodies: Arc<Vec<Registered>>,
    templates: Mutex<HashMap<Scenario, Arc<Template>>>,
}

impl Mock {
    /// Starts the mock on a thread of its own. `bodies` are the request bodies
    /// clients may send, by index (`x-bench-body`).
    pub fn start(bodies: Vec<Bytes>) -> Res<Mock> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let counters = Arc::new(Counters::default());
        let bodies = Arc::new(
            bodies
                .into_iter()
                .map(Registered::new)
                .collect::<Res<Vec<_>>>()?,
        );
        let shared = Arc::new(Shared {
            counters: counters.clone(),
            bodies: bodies.clone(),
            templates: Mutex::new(HashMap::new()),
        });
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        std::thread::Builder::new()
            .name("mock-upstream".into())
            .spawn(move || rt.block_on(serve(listener, shared)))?;
        Ok(Mock {
            addr,
            counters,
            bodies,
        })
    }

    pub fn body(&self, index: usize) -> &Bytes {
        &self.bodies[index].body
    }

    /// How `got` relates to registered body `index`.
    pub fn classify(&self, index: usize, got: &[u8]) -> Option<Arrived> {
        Some(self.bodies.get(index)?.classify(got))
    }

    /// When each event of stream `id` was handed to the socket (record=1 scenarios).
    pub fn sent_times(&self, id: &[u8; ID_LEN]) -> Option<Vec<Instant>> {
        self.counters.sent.lock().ok()?.remove(id)
    }
}

async fn serve(listener: std::net::TcpListener, shared: Arc<Shared>) {
    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
        eprintln!("mock: cannot register the listener");
        return;
    };
    let mut http = hyper::server::conn::http1::Builder::new();
    http.keep_alive(true);
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(_) => {
                // Out of descriptors: the client will time out and say so.
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        let conn = http.serve_connection(
            TokioIo::new(stream),
            hyper::service::service_fn(move |req| respond(shared.clone(), req)),
        );
        tokio::spawn(async move {
            let _ = conn.await;
        });
    }
}

type MockBody = http_body_util::combinators::BoxBody<Bytes, Infallible>;

async fn respond(
    shared: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<MockBody>, Infallible> {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    if req.method() != hyper::Method::POST || !req.uri().path().ends_with("/responses") {
        return Ok(plain(404, "only POST …/responses is mocked"));
    }
    let scenario = match Scenario::parse(&header("x-mock-scenario")) {
        Ok(sc) => sc,
        Err(e) => return Ok(plain(400, &format!("bad x-mock-scenario: {e}"))),
    };
    let mut id = [b'0'; ID_LEN];
    let given = header("x-bench-id");
    let given = given.as_bytes();
    id[ID_LEN - given.len().min(ID_LEN)..].copy_from_slice(&given[..given.len().min(ID_LEN)]);
    let expected_body = header("x-bench-body").parse::<usize>().ok();
    let tag = header("x-bench-tag");
    let c = &shared.counters;
    c.responses.fetch_add(1, Ordering::Relaxed);
    if let Ok(mut tags) = c.tags.lock() {
        *tags.entry(tag).or_default() += 1;
    }
    // Read the whole request, as a real upstream does before it answers.
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => return Ok(plain(400, &format!("request body: {e}"))),
    };
    let arrived = expected_body
        .and_then(|i| shared.bodies.get(i))
        .map_or(Arrived::Altered, |b| b.classify(&body));
    let tally = match arrived {
        Arrived::Identical => &c.request_identical,
        Arrived::Extended => &c.request_extended,
        Arrived::Altered => &c.request_mismatches,
    };
    tally.fetch_add(1, Ordering::Relaxed);
    if arrived == Arrived::Extended {
        let has = |s: &[u8]| memchr::memmem::find(&body, s).is_some();
        if has(b"code-reviewer") && has(b"<status_line>") {
            c.request_whole_pipeline.fetch_add(1, Ordering::Relaxed);
        }
    }
    let template = {
        let mut cache = match shared.templates.lock() {
            Ok(cache) => cache,
            Err(_) => return Ok(plain(500, "template cache poisoned")),
        };
        cache
            .entry(scenario)
            .or_insert_with(|| Arc::new(Template::new(&scenario)))
            .clone()
    };
    if scenario.delay_us > 0 {
        tokio::time::sleep(Duration::from_micros(scenario.delay_us.into())).await;
    }
    let body: MockBody = if scenario.is_instant() {
        // The whole stream in one chunk: what a fast upstream's socket delivers.
        let frames = stream::iter([Ok::<_, Infallible>(Frame::data(template.render(&id)))]);
        BodyExt::boxed(StreamBody::new(frames))
    } else {
        BodyExt::boxed(StreamBody::new(paced(
            shared.clone(),
            scenario,
            &template,
            id,
        )))
    };
    let resp = Response::builder()
        .header("content-type", "text/event-stream; charset=utf-8")
        .header("cache-control", "no-cache")
        .header("x-request-id", "req_mock")
        .header("openai-processing-ms", "120")
        .body(body);
    Ok(resp.unwrap_or_else(|_| plain(500, "response build failed")))
}

/// Decrements the open-stream count when the stream's body is dropped.
struct OpenGuard(Arc<Shared>);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.counters.open_streams.fetch_sub(1, Ordering::Relaxed);
    }
}

struct Paced {
    events: std::vec::IntoIter<Bytes>,
    index: u32,
    start: tokio::time::Instant,
    sc: Scenario,
    id: [u8; ID_LEN],
    sent: Vec<Instant>,
    /// Gap ticks from a pacer thread (paced streams without a hold).
    ticks: Option<tokio::sync::mpsc::Receiver<()>>,
    guard: OpenGuard,
}

/// One event at a time: event k at start + k·gap, a hold after the first.
fn paced(
    shared: Arc<Shared>,
    sc: Scenario,
    template: &Template,
    id: [u8; ID_LEN],
) -> impl futures_util::Stream<Item = Result<Frame<Bytes>, Infallible>> + Send {
    shared.counters.open_streams.fetch_add(1, Ordering::Relaxed);
    let ticks = (sc.gap_us > 0 && sc.hold_ms == 0).then(|| {
        pacer(
            Duration::from_micros(sc.gap_us.into()),
            template.event_count().saturating_sub(1),
        )
    });
    let state = Paced {
        events: template.events(&id).into_iter(),
        index: 0,
        start: tokio::time::Instant::now(),
        sc,
        id,
        sent: Vec::new(),
        ticks,
        guard: OpenGuard(shared),
    };
    stream::unfold(state, |mut s| async move {
        let ev = s.events.next()?;
        let k = s.index;
        s.index += 1;
        if k == 1 && s.sc.hold_ms > 0 {
            tokio::time::sleep(Duration::from_millis(s.sc.hold_ms.into())).await;
            s.start = tokio::time::Instant::now() - Duration::from_micros(u64::from(s.sc.gap_us));
        }
        if k > 0 && s.sc.gap_us > 0 {
            match &mut s.ticks {
                // A pacer that could not start ends its channel: events then go at once.
                Some(ticks) => {
                    let _ = ticks.recv().await;
                }
                None => {
                    let at = s.start + Duration::from_micros(u64::from(s.sc.gap_us) * u64::from(k));
                    tokio::time::sleep_until(at).await;
                }
            }
        }
        if s.sc.record {
            s.sent.push(Instant::now());
            if s.events.len() == 0 {
                // Stored before the last event leaves, so the client finds it when done.
                if let Ok(mut sent) = s.guard.0.counters.sent.lock() {
                    sent.insert(s.id, std::mem::take(&mut s.sent));
                }
            }
        }
        Some((Ok(Frame::data(ev)), s))
    })
}

/// Ticks at start + k·gap for k = 1..=n from a thread of its own: a thread's sleep
/// wakes within tens of µs, tokio's timer rounds up to whole milliseconds.
fn pacer(gap: Duration, n: usize) -> tokio::sync::mpsc::Receiver<()> {
    let (tx, rx) = tokio::sync::mpsc::channel(n.max(1));
    let start = Instant::now();
    let _ = std::thread::Builder::new()
        .name("mock-pacer".into())
        .spawn(move || {
            for k in 1..=n {
                let at = start + gap * k as u32;
                if let Some(wait) = at.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
                if tx.blocking_send(()).is_err() {
                    return; // the stream is gone
                }
            }
        });
    rx
}

fn plain(status: u16, text: &str) -> Response<MockBody> {
    let mut resp = Response::new(BodyExt::boxed(Full::new(Bytes::from(text.to_string()))));
    *resp.status_mut() =
        hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    resp
}
