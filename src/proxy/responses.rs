//! The `/responses` pipeline: read and decode the body, parse it into a `Turn`, run
//! the turn pipeline, send it upstream and relay the events back.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use futures_util::future::BoxFuture;
use futures_util::StreamExt;
use http::{header, Uri};
use tower::util::BoxCloneSyncService;
use tower::{Service, ServiceExt};

use std::sync::Arc;

use super::client::UpstreamBody;
use super::headers;
use super::interceptor::{Interceptor, Settings};
use super::kept_request::KeptRequest;
use super::relay::{read_limited, respond};
use super::stream::{relay_events, Continuation};
use super::upstream::{no_answer, Backend};
use super::upstream_body::upstream_body;
use crate::hooks::codex_tools::claude_name;
use crate::hooks::HookEvent;
use crate::state::SharedState;
use crate::telemetry::{Parent, Span};
use crate::turn::kind::Concern;
use crate::turn::task::resolver::{Inherit, TurnResolver};
use crate::turn::{session_id, Turn};
use crate::wire::encoding::Encoding;
use crate::wire::request::ResponsesRequest;
use opentelemetry::trace::SpanKind;
use opentelemetry::KeyValue;

/// The turn pipeline with dispatch at its core.
pub type Pipeline = BoxCloneSyncService<Turn, Response, Infallible>;

/// Builds the stack once at start-up. Layers are added in `turn::pipeline::stack`.
pub fn pipeline(state: SharedState) -> Pipeline {
    crate::turn::pipeline::stack(state.clone(), Dispatch { state })
}

/// Handles `POST .../responses`.
pub async fn handle(
    state: SharedState,
    pipeline: Pipeline,
    backend: Backend,
    req: Request,
) -> Response {
    state.stats.responses_requests.inc();
    let (parts, body) = req.into_parts();
    let original = match read_limited(&state, &parts.headers, body).await {
        Ok(bytes) => bytes,
        Err(e) => return e.into_response(),
    };
    let limit = state.config.server.body_limit();
    let encoding = parts
        .headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok());
    let parsed = Encoding::from_header(encoding)
        .and_then(|enc| enc.decode(&original, limit))
        .map_err(|e| e.to_string())
        .and_then(|decoded| ResponsesRequest::parse(&decoded).map_err(|e| e.to_string()));
    match parsed {
        Ok(request) => {
            let sessions = &state.sessions;
            let turn = Turn::classified(backend, parts, original, request, |meta, headers| {
                let session = session_id(headers, meta);
                match (session, meta.turn_id.as_deref()) {
                    (Some(session), Some(turn)) => !sessions.turn_is_new(session, turn),
                    _ => false,
                }
            });
            match pipeline.oneshot(turn).await {
                Ok(resp) => resp,
                Err(never) => match never {},
            }
        }
        Err(reason) => {
            // Not ours to understand: the upstream gets it exactly as it came.
            tracing::info!(%reason, "request body is not a Responses request; relaying it unchanged");
            match state.upstreams.url(backend, &parts.uri) {
                Ok(url) => {
                    let headers = upstream_headers(parts.headers, true);
                    let request = upstream_request(&parts.method, url, vec![original], headers);
                    send(&state, backend, request, false, None).await
                }
                Err(e) => e.into_response(),
            }
        }
    }
}

/// The innermost service: sends the turn upstream and relays the answer.
#[derive(Clone)]
pub struct Dispatch {
    state: SharedState,
}

impl Dispatch {
    /// Dispatch alone, for tests that build their own stack around it.
    pub fn new(state: SharedState) -> Dispatch {
        Dispatch { state }
    }
}

impl Service<Turn> for Dispatch {
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut turn: Turn) -> Self::Future {
        let state = self.state.clone();
        Box::pin(async move {
            let url = match state.upstreams.url(turn.backend, &turn.parts.uri) {
                Ok(url) => url,
                Err(e) => return Ok(e.into_response()),
            };
            let (body, original) = turn.body_chunks();
            let streaming = turn.request().stream == Some(true);
            let post_compact = post_compact(&state, &turn);
            let spans = spans(&state, &turn, &url);
            // The client's headers are not read again: moved, not copied.
            let headers = upstream_headers(std::mem::take(&mut turn.parts.headers), original);
            let plan = plan(&state, &turn, &url, &headers, spans.turn.parent());
            // The continuation keeps the request itself: a long session's is
            // thousands of items, each a reference to count up and down again.
            let (backend, parts, request) = turn.into_parts();
            let mut spans = spans;
            let plan = plan.map(|(interceptor, mut continuation)| {
                continuation.request = Some(KeptRequest::Parsed(request));
                // Ended when the continuation replaces it, not with the whole turn.
                continuation.round = std::mem::take(&mut spans.call);
                (interceptor, continuation)
            });
            let request = upstream_request(&parts.method, url, body, headers);
            let response = send(&state, backend, request, streaming, plan).await;
            let response = spans.held_by(response);
            Ok(match post_compact {
                Some(fire) => after_body(response, fire),
                None => response,
            })
        })
    }
}

/// What the proxy answers itself in this turn's stream, when anything: Task calls it
/// offered, tool calls a PreToolUse hook must see first, a stop a Stop hook may refuse.
/// The continuation's request is left for the caller to move in. `upstream`: the
/// headers the turn goes upstream with.
fn plan(
    state: &SharedState,
    turn: &Turn,
    url: &Uri,
    upstream: &http::HeaderMap,
    trace: Parent,
) -> Option<(Interceptor, Continuation)> {
    let env = turn.env.as_ref()?;
    let cwd = &env.cwd;
    let mut settings = Settings {
        answers: turn.answers,
        max_rounds: state.config.tasks.max_rounds,
        max_stop_continuations: state.config.hooks.max_stop_continuations,
        ..Settings::default()
    };
    if turn.applies(Concern::PreToolUse) && state.hooks.has(cwd, HookEvent::PreToolUse, &[]) {
        let runner = state.hooks.runner(cwd);
        settings.hold = Some(Arc::new(move |name: &str| {
            runner.has_hooks(HookEvent::PreToolUse, &[claude_name(name), name])
        }));
    }
    settings.stop_check = turn.applies(Concern::Stop) && state.hooks.has(cwd, HookEvent::Stop, &[]);
    if !settings.answers.any() && settings.hold.is_none() && !settings.stop_check {
        return None;
    }
    let model = turn.model_or(&state.config.tasks.default_model);
    // One kept copy of the headers, for the continuation and for Tasks alike;
    // what they send is re-serialised, so never in the turn's content-encoding.
    let headers = Arc::new(headers::KeptHeaders::new(
        upstream,
        &header::CONTENT_ENCODING,
    ));
    let resolver = TurnResolver {
        engine: state.engine.clone(),
        ledger: state.ledger.clone(),
        hooks: state.hooks.clone(),
        workspace: turn.workspace()?,
        inherit: Arc::new(Inherit::new(
            state.upstreams.base(turn.backend),
            turn.parts.uri.path(),
            headers.clone(),
            &model,
        )),
        // From the upstream headers: the turn's own were moved into them.
        session_id: session_id(upstream, &turn.meta).map(str::to_string),
        turn_key: turn.key(),
        background: state.background.clone(),
        sessions: state.sessions.clone(),
        trace: trace.clone(),
        skills: turn.answers.skills.then(|| {
            (
                state.catalogs.commands.get(cwd),
                state.config.commands.shell_timeout(),
            )
        }),
    };
    let continuation = Continuation {
        resolver: Arc::new(resolver),
        request: None, // the turn's own, once it is taken apart
        url: url.clone(),
        headers,
        trace,
        round: Span::default(), // the first call's, moved in by the caller
    };
    Some((Interceptor::new(settings), continuation))
}

/// A turn's spans (telemetry): the turn, and its first upstream model call. Both
/// end with the body relayed to the client.
struct TurnSpans {
    /// The first model call: held to end with the body (before `turn`, so the child
    /// ends first), or moved into the continuation, which ends it when it goes on.
    call: Span,
    turn: Span,
}

impl TurnSpans {
    fn held_by(self, response: Response) -> Response {
        if self.turn.is_none() {
            return response;
        }
        let (parts, body) = response.into_parts();
        let stream = body.into_data_stream().map(move |chunk| {
            let _held = &self;
            chunk
        });
        Response::from_parts(parts, Body::from_stream(stream))
    }
}

fn spans(state: &SharedState, turn: &Turn, url: &Uri) -> TurnSpans {
    let telemetry = &state.telemetry;
    if !telemetry.is_on() {
        return TurnSpans {
            call: Span::default(),
            turn: Span::default(),
        };
    }
    let model = turn.model_or(&state.config.tasks.default_model);
    let session = turn.session_id().map(str::to_string);
    let turn_span = telemetry.span(
        &Parent::default(),
        SpanKind::Server,
        || "turn".to_string(),
        || {
            let mut attributes = vec![
                KeyValue::new("codex_plus.request.kind", turn.kind.as_str()),
                KeyValue::new("gen_ai.request.model", model.clone()),
            ];
            if let Some(session) = &session {
                attributes.push(KeyValue::new("gen_ai.conversation.id", session.clone()));
            }
            if let Some(env) = &turn.env {
                attributes.push(KeyValue::new(
                    "codex_plus.workspace",
                    env.cwd.display().to_string(),
                ));
            }
            attributes
        },
    );
    let call = telemetry.chat(&turn_span.parent(), "openai", &model, || {
        vec![KeyValue::new(
            "server.address",
            url.host().unwrap_or_default().to_string(),
        )]
    });
    TurnSpans {
        call,
        turn: turn_span,
    }
}

/// PostCompact, for a compaction whose workspace has such hooks: fired once the
/// answer has been relayed whole.
fn post_compact(state: &SharedState, turn: &Turn) -> Option<BoxFuture<'static, ()>> {
    if !turn.applies(Concern::CompactHooks) {
        return None;
    }
    let env = turn.env.clone()?;
    let session = turn.session_id()?.to_string();
    let trigger = crate::turn::hooks::compaction_trigger(turn);
    if !state
        .hooks
        .has(&env.cwd, HookEvent::PostCompact, &[trigger])
    {
        return None;
    }
    let hooks = state.hooks.clone();
    Some(Box::pin(async move {
        let input = hooks
            .input(HookEvent::PostCompact, &session, &env.cwd)
            .with("trigger", trigger);
        hooks
            .fire(&env.cwd, HookEvent::PostCompact, input, &[trigger])
            .await;
    }))
}

/// The response with `fire` run (apart, so the client is not kept waiting) when its
/// body has been relayed to the end.
fn after_body(response: Response, fire: BoxFuture<'static, ()>) -> Response {
    let (parts, body) = response.into_parts();
    let mut fire = Some(fire);
    let stream = body
        .into_data_stream()
        .chain(futures_util::stream::poll_fn(move |_| {
            if let Some(fire) = fire.take() {
                tokio::spawn(fire);
            }
            std::task::Poll::Ready(None)
        }));
    Response::from_parts(parts, Body::from_stream(stream))
}

/// The client's end-to-end headers, for the upstream. `original_encoding`: the body
/// goes as it came, still in its `content-encoding`.
fn upstream_headers(incoming: http::HeaderMap, original_encoding: bool) -> http::HeaderMap {
    let mut headers = headers::to_upstream(incoming);
    // The proxy reads the events, so they must come uncompressed.
    headers.remove(header::ACCEPT_ENCODING);
    if !original_encoding {
        headers.remove(header::CONTENT_ENCODING);
    }
    headers
}

/// The request for the upstream: `method`, `url`, `headers`, and the body as `chunks`.
fn upstream_request(
    method: &http::Method,
    url: Uri,
    chunks: Vec<bytes::Bytes>,
    headers: http::HeaderMap,
) -> http::Request<UpstreamBody> {
    let mut request = http::Request::new(upstream_body(chunks));
    *request.method_mut() = method.clone();
    *request.uri_mut() = url;
    *request.headers_mut() = headers;
    request
}

async fn send(
    state: &SharedState,
    backend: Backend,
    request: http::Request<UpstreamBody>,
    streaming: bool,
    plan: Option<(Interceptor, Continuation)>,
) -> Response {
    match state.upstreams.client.send(request).await {
        Ok(mut resp)
            if resp.status().is_success() && (streaming || is_event_stream(resp.headers())) =>
        {
            let mut out = Response::new(Body::empty());
            *out.status_mut() = resp.status();
            *out.headers_mut() = headers::to_client(std::mem::take(resp.headers_mut()), false);
            let (interceptor, continuation) = match plan {
                Some((i, c)) => (i, Some(c)),
                None => (Interceptor::passthrough(), None),
            };
            *out.body_mut() = relay_events(state.clone(), resp, interceptor, continuation);
            out
        }
        Ok(resp) => respond(state, resp, true),
        Err(e) => no_answer(state, backend, &e),
    }
}

fn is_event_stream(headers: &http::HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"))
}
