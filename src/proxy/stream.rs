//! The I/O shell around the interceptor: pulls upstream chunks, cuts them into
//! events, starts the calls the proxy resolves itself, sends continuations, and
//! hands the client whatever the interceptor says as soon as it says it.
//!
//! The stream is pull-driven: the next upstream chunk is read only when the client
//! has taken the previous output, so a slow client slows the upstream read
//! (backpressure) and memory per stream stays bounded by one chunk plus one
//! partial event. Dropping the body (client gone) drops the upstream request;
//! running Tasks live in the engine and finish regardless.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use bytes::{Bytes, BytesMut};
use futures_util::future::BoxFuture;
use futures_util::stream::FuturesUnordered;
use futures_util::{Stream, StreamExt};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use serde_json::Value;
use tokio::task::JoinHandle;

use super::headers::KeptHeaders;
use super::interceptor::{
    Decision, End, HeldCall, HistoryLink, Input, Interceptor, Outcome, Output, TaskCall,
};
use super::kept_request::KeptRequest;
use super::upstream::describe;
use super::upstream_body::upstream_body;
use crate::state::{OpenStream, SharedState};
use crate::telemetry::{Parent, Span, Telemetry};
use crate::wire::request::{RawJson, ResponsesRequest};
use crate::wire::sse::Decoder;
use opentelemetry::KeyValue;

/// Kept requests up to this size are packed on the runtime thread.
const PACK_INLINE_BYTES: usize = 256 * 1024;

/// Largest single event held while waiting for its end.
pub const MAX_EVENT_BYTES: usize = 16 * 1024 * 1024;

type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, hyper::Error>> + Send>>;

/// Answers what the interceptor asks, for one turn: runs Tasks, decides held tool
/// calls (PreToolUse hooks), says whether a turn may stop (Stop hooks), and keeps
/// history links.
pub trait Resolver: Send + Sync {
    /// Starts a Task; the future yields its outcome. Dropping the future must not
    /// stop the Task (a client that goes away does not kill running subagents).
    fn start(&self, call: TaskCall) -> BoxFuture<'static, Outcome>;
    /// May Codex see this tool call?
    fn decide(&self, call: HeldCall) -> BoxFuture<'static, Decision>;
    /// The response ended without tool calls: `Some(reason)` continues the turn.
    fn stop(&self, active: bool) -> BoxFuture<'static, Option<String>>;
    /// Keeps a progress message's real items for the next turn's history.
    fn remember(&self, link: HistoryLink);
    /// Adds to the end of a continuation's `input` what must go there now
    /// (background agents that ended while the turn streamed), kept in place for the
    /// session's later requests.
    fn notices(&self, input: &mut Vec<RawJson>) {
        let _ = input;
    }
}

/// What a turn needs to continue after its calls are resolved.
pub struct Continuation {
    pub resolver: Arc<dyn Resolver>,
    /// The request as sent upstream (after the turn pipeline); None while a continuation
    /// of it is on its way.
    pub request: Option<KeptRequest>,
    pub url: http::Uri,
    /// Kept apart from the client's connection, shared with the resolver's Tasks.
    pub headers: Arc<KeptHeaders>,
    /// The turn's span, and the span of the model call now streaming (telemetry).
    pub trace: Parent,
    pub round: Span,
}

struct EventRelay {
    upstream: Option<ByteStream>,
    decoder: Decoder,
    interceptor: Interceptor,
    idle: Duration,
    keepalive: Duration,
    pending: VecDeque<Bytes>,
    /// Everything the resolver is working on, as the input it will become.
    calls: FuturesUnordered<BoxFuture<'static, Input>>,
    next_request: Option<BoxFuture<'static, Continued>>,
    continuation: Option<Continuation>,
    /// Quiet time after which the kept request is packed.
    pack_after: Option<Duration>,
    packing: Option<JoinHandle<std::io::Result<KeptRequest>>>,
    /// Quiet time already spent waiting for the current chunk (the idle timeout
    /// counts it too).
    quiet: Duration,
    /// Resolves when the proxy's shutdown grace is over.
    last_call: Pin<Box<tokio_util::sync::WaitForCancellationFutureOwned>>,
    state: SharedState,
    _open: OpenStream,
}

/// Relays an upstream event stream to the client through the interceptor.
pub fn relay_events(
    state: SharedState,
    upstream: http::Response<Incoming>,
    interceptor: Interceptor,
    continuation: Option<Continuation>,
) -> Body {
    let relay = EventRelay {
        upstream: Some(data_stream(upstream)),
        decoder: Decoder::new(),
        interceptor,
        idle: state.config.upstream.idle_timeout(),
        keepalive: state.config.server.stream_keepalive(),
        pending: VecDeque::new(),
        calls: FuturesUnordered::new(),
        next_request: None,
        continuation,
        pack_after: state.config.server.pack_request_after(),
        packing: None,
        quiet: Duration::ZERO,
        last_call: Box::pin(state.last_call.clone().cancelled_owned()),
        _open: OpenStream::new(&state.stats.open_streams),
        state,
    };
    Body::from_stream(futures_util::stream::unfold(
        relay,
        |mut relay| async move {
            let out = relay.next_output().await?;
            Some((Ok::<_, Infallible>(out), relay))
        },
    ))
}

impl EventRelay {
    /// The next bytes for the client, or None when the stream is over.
    async fn next_output(&mut self) -> Option<Bytes> {
        loop {
            if let Some(out) = self.take_pending() {
                return Some(out);
            }
            if self.interceptor.is_finished() {
                return None;
            }
            let input = self.next_input().await?;
            self.feed(input);
        }
    }

    /// Whatever happens next: an upstream chunk, a resolved call, a continuation's answer.
    async fn next_input(&mut self) -> Option<Vec<Input>> {
        let idle = self.idle.saturating_sub(self.quiet);
        // Until the request is packed, wait for the next chunk only that long first.
        let pack_after = self
            .pack_after
            .filter(|after| *after < idle && self.packing.is_none() && self.kept_is_parsed());
        let waiting = self.interceptor.is_waiting();
        tokio::select! {
            () = &mut self.last_call => {
                self.upstream = None;
                Some(vec![Input::End(End::Shutdown)])
            }
            () = tokio::time::sleep(self.keepalive), if waiting => Some(vec![Input::Tick]),
            Some(input) = self.calls.next(), if !self.calls.is_empty() => {
                tracing::debug!("resolved a call");
                Some(vec![input])
            }
            next = next_chunk(self.upstream.as_mut(), pack_after.unwrap_or(idle)), if self.upstream.is_some() => {
                match (next, pack_after) {
                    (Err(()), Some(after)) => {
                        self.quiet += after;
                        self.start_packing();
                        Some(Vec::new())
                    }
                    (next, _) => {
                        self.quiet = Duration::ZERO;
                        Some(self.on_chunk(next))
                    }
                }
            }
            packed = join(self.packing.as_mut()), if self.packing.is_some() => {
                self.packing = None;
                self.store_packed(packed.map_err(std::io::Error::other).and_then(|r| r));
                Some(Vec::new())
            }
            continued = next_request(self.next_request.as_mut()), if self.next_request.is_some() => {
                self.next_request = None;
                let Continued { response, request, span } = continued;
                if let Some(c) = &mut self.continuation {
                    c.round = span;
                    if let Some(request) = request {
                        c.request = Some(KeptRequest::Parsed(request));
                    }
                }
                match response {
                    Ok(resp) => {
                        self.upstream = Some(data_stream(resp));
                        self.decoder = Decoder::new();
                        Some(Vec::new())
                    }
                    Err(cause) => Some(vec![Input::End(End::Refused(cause))]),
                }
            }
            else => {
                // Nothing left could ever produce input: end the turn rather than hang.
                Some(vec![Input::End(End::Broken("the turn has nothing left to wait for".into()))])
            }
        }
    }

    fn kept_is_parsed(&self) -> bool {
        self.continuation
            .as_ref()
            .and_then(|c| c.request.as_ref())
            .is_some_and(|r| !r.is_packed())
    }

    /// Packs and spills the kept request: a small one at once (tens of
    /// microseconds), a large one on a blocking thread, where it stays as it is
    /// until the packed form is ready, so a continuation needed meanwhile loses
    /// nothing.
    fn start_packing(&mut self) {
        let Some(c) = &mut self.continuation else {
            return;
        };
        let Some(KeptRequest::Parsed(request)) = &c.request else {
            return;
        };
        let spill = self.state.spill.clone();
        if request.size_hint() <= PACK_INLINE_BYTES {
            let packed = KeptRequest::put_away(request, spill.as_ref());
            self.store_packed(packed);
            return;
        }
        let request = request.clone();
        self.packing = Some(tokio::task::spawn_blocking(move || {
            KeptRequest::put_away(&request, spill.as_ref())
        }));
    }

    /// Keeps the packed form in place of the request; on failure the request stays.
    fn store_packed(&mut self, packed: std::io::Result<KeptRequest>) {
        match packed {
            Ok(packed) => {
                if let Some(c) = &mut self.continuation {
                    c.request = Some(packed);
                    self.state.stats.packed_requests.inc();
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not pack the kept request; keeping it as it is")
            }
        }
    }

    fn on_chunk(&mut self, next: Result<Option<Result<Bytes, hyper::Error>>, ()>) -> Vec<Input> {
        // A chunk holds a few events; sized once instead of grown event by event.
        let mut inputs = Vec::with_capacity(8);
        let end = match next {
            Ok(Some(Ok(chunk))) => {
                self.decoder.push(&chunk);
                while let Some(frame) = self.decoder.next_frame() {
                    inputs.push(Input::Frame(frame));
                }
                if self.decoder.pending() <= MAX_EVENT_BYTES {
                    return inputs;
                }
                End::Oversized {
                    limit: MAX_EVENT_BYTES,
                }
            }
            Ok(Some(Err(e))) => End::Broken(describe(&e)),
            Ok(None) => End::Eof,
            Err(()) => End::Stalled {
                secs: self.idle.as_secs(),
            },
        };
        self.upstream = None;
        if !matches!(end, End::Eof) {
            tracing::warn!(?end, "upstream stream ended abnormally");
        }
        // A tail without its blank line still belongs to the client.
        if let Some(tail) = self.decoder.finish() {
            inputs.push(Input::Frame(tail));
        }
        inputs.push(Input::End(end));
        inputs
    }

    fn feed(&mut self, inputs: Vec<Input>) {
        let mut out = Vec::with_capacity(inputs.len());
        for input in inputs {
            self.interceptor.push(input, &mut out);
        }
        self.pending.reserve(out.len());
        for o in out {
            match o {
                Output::Emit(bytes) => self.pending.push_back(bytes),
                Output::Start(call) => self.start(*call),
                Output::Decide(call) => {
                    if let Some(c) = &self.continuation {
                        let call_id = call.call_id.clone();
                        let deciding = c.resolver.decide(call);
                        self.calls.push(Box::pin(async move {
                            Input::Decided {
                                call_id,
                                decision: deciding.await,
                            }
                        }));
                    }
                }
                Output::StopCheck { active } => {
                    if let Some(c) = &self.continuation {
                        let checking = c.resolver.stop(active);
                        self.calls
                            .push(Box::pin(async move { Input::StopDecided(checking.await) }));
                    }
                }
                Output::Continue(items) => self.send_continuation(items),
                Output::Link(link) => {
                    if let Some(c) = &self.continuation {
                        c.resolver.remember(link);
                    }
                }
            }
        }
        if self.interceptor.is_finished() && self.interceptor.failed_by_proxy() {
            // Once: a finished interceptor is never fed again.
            self.state.stats.stream_failures.inc();
        }
    }

    fn start(&mut self, call: TaskCall) {
        let Some(c) = &self.continuation else {
            return;
        };
        let call_id = call.call_id.clone();
        let running = c.resolver.start(call);
        self.calls.push(Box::pin(async move {
            Input::Resolved {
                call_id,
                outcome: running.await,
            }
        }));
    }

    fn send_continuation(&mut self, items: Vec<Value>) {
        let Some(c) = &mut self.continuation else {
            return;
        };
        // A packing job still running is for a request about to grow: drop it.
        self.packing = None;
        // The finished round's body belongs to no one now: its end (or its break)
        // must not be read as the continuation's. Drained apart, so its connection
        // can go back to the pool.
        if let Some(old) = self.upstream.take() {
            tokio::spawn(drain(old, RETIRED_BODY_DRAIN));
        }
        // The round that ended is one model call; the continuation is the next.
        c.round.end();
        let telemetry = self
            .state
            .telemetry
            .is_on()
            .then(|| (self.state.telemetry.clone(), c.trace.clone()));
        let kept = c.request.take();
        let resolver = c.resolver.clone();
        let client = self.state.upstreams.client.clone();
        let url = c.url.clone();
        let headers = c.headers.to_map();
        tracing::debug!(items = items.len(), "sending the continuation");
        self.next_request = Some(Box::pin(async move {
            let request = match kept {
                Some(KeptRequest::Parsed(request)) => Ok(request),
                Some(packed) => tokio::task::spawn_blocking(move || packed.into_request())
                    .await
                    .map_err(|e| e.to_string())
                    .and_then(|r| r.map_err(|e| e.to_string())),
                None => Err("the turn's request is already on its way".to_string()),
            };
            let mut request = match request {
                Ok(request) => request,
                Err(cause) => {
                    return Continued {
                        response: Err(cause),
                        request: None,
                        span: Span::default(),
                    }
                }
            };
            request.input.extend(items.iter().map(RawJson::from_value));
            resolver.notices(&mut request.input);
            let span = match &telemetry {
                Some((telemetry, parent)) => round_span(telemetry, parent, &request),
                None => Span::default(),
            };
            let mut sent = http::Request::new(upstream_body(request.to_chunks()));
            *sent.method_mut() = http::Method::POST;
            *sent.uri_mut() = url;
            *sent.headers_mut() = headers;
            let response = match client.send(sent).await {
                Ok(resp) if resp.status().is_success() => Ok(resp),
                Ok(resp) => {
                    let status = resp.status();
                    let text = match resp.into_body().collect().await {
                        Ok(body) => String::from_utf8_lossy(&body.to_bytes()).into_owned(),
                        Err(e) => format!("(the answer's body broke off: {e})"),
                    };
                    Err(format!(
                        "HTTP {status}: {}",
                        text.chars().take(300).collect::<String>()
                    ))
                }
                Err(e) => Err(describe(&e)),
            };
            Continued {
                response,
                request: Some(request),
                span,
            }
        }));
    }

    /// Everything queued for the client, as one write.
    fn take_pending(&mut self) -> Option<Bytes> {
        let first = self.pending.pop_front()?;
        if self.pending.is_empty() {
            return Some(first);
        }
        let len = first.len() + self.pending.iter().map(Bytes::len).sum::<usize>();
        let mut out = BytesMut::with_capacity(len);
        out.extend_from_slice(&first);
        while let Some(b) = self.pending.pop_front() {
            out.extend_from_slice(&b);
        }
        Some(out.freeze())
    }
}

/// How long a finished round's body may take to end before its connection is dropped.
const RETIRED_BODY_DRAIN: Duration = Duration::from_secs(5);

/// Reads what is left of a finished round's body, and drops it.
async fn drain(mut body: ByteStream, limit: Duration) {
    let rest = async { while let Some(Ok(_)) = body.next().await {} };
    let _ = tokio::time::timeout(limit, rest).await;
}

/// An upstream answer's body as the bytes of its data frames.
fn data_stream(response: http::Response<Incoming>) -> ByteStream {
    Box::pin(response.into_body().into_data_stream())
}

async fn next_chunk(
    upstream: Option<&mut ByteStream>,
    idle: Duration,
) -> Result<Option<Result<Bytes, hyper::Error>>, ()> {
    match upstream {
        Some(s) => tokio::time::timeout(idle, s.next()).await.map_err(|_| ()),
        None => std::future::pending().await,
    }
}

/// A continuation's answer, and its request back for the next round.
struct Continued {
    response: Result<http::Response<Incoming>, String>,
    request: Option<ResponsesRequest>,
    span: Span,
}

/// A continuation's model call, under the turn's span.
fn round_span(telemetry: &Telemetry, turn: &Parent, request: &ResponsesRequest) -> Span {
    let model = request.model.as_deref().unwrap_or_default();
    telemetry.chat(turn, "openai", model, || {
        vec![KeyValue::new("codex_plus.request.kind", "continuation")]
    })
}

async fn next_request(pending: Option<&mut BoxFuture<'static, Continued>>) -> Continued {
    match pending {
        Some(f) => f.await,
        None => std::future::pending().await,
    }
}

async fn join<T>(job: Option<&mut JoinHandle<T>>) -> Result<T, tokio::task::JoinError> {
    match job {
        Some(job) => job.await,
        None => std::future::pending().await,
    }
}

/// A body stream that fails if the upstream sends nothing for `idle`.
pub fn idle_limited<S>(
    stream: S,
    idle: Duration,
) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send
where
    S: Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static,
{
    futures_util::stream::unfold(Some(Box::pin(stream)), move |stream| async move {
        let mut stream = stream?;
        match tokio::time::timeout(idle, stream.next()).await {
            Ok(Some(item)) => Some((item, Some(stream))),
            Ok(None) => None,
            Err(_) => Some((
                Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("upstream sent nothing for {} s", idle.as_secs()),
                )),
                None,
            )),
        }
    })
}
