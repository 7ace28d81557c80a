//! The `/responses` pipeline: read and decode the body, parse it into a `Turn`, run
//! the middleware stack, send it upstream and relay the events back.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::header;
use tower::util::BoxCloneSyncService;
use tower::{Service, ServiceExt};

use super::headers;
use super::interceptor::Interceptor;
use super::relay::{read_limited, respond};
use super::stream::relay_events;
use super::turn::Turn;
use super::upstream::{describe, Backend};
use crate::state::SharedState;
use crate::wire::encoding::Encoding;
use crate::wire::request::ResponsesRequest;

/// The middleware stack with dispatch at its core.
pub type Pipeline = BoxCloneSyncService<Turn, Response, Infallible>;

/// Builds the stack once at start-up. Layers are added in `middleware::stack`.
pub fn pipeline(state: SharedState) -> Pipeline {
    crate::middleware::stack(state.clone(), Dispatch { state })
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
        .and_then(|enc| match enc {
            // Most bodies come uncompressed: outline them where they lie, no copy.
            Encoding::Identity => Ok(original.clone()),
            enc => enc.decode(&original, limit).map(Bytes::from),
        })
        .map_err(|e| e.to_string())
        .and_then(|decoded| ResponsesRequest::parse(&decoded).map_err(|e| e.to_string()));
    match parsed {
        Ok(request) => {
            let turn = Turn::new(backend, parts, original, request);
            match pipeline.oneshot(turn).await {
                Ok(resp) => resp,
                Err(never) => match never {},
            }
        }
        Err(reason) => {
            // Not ours to understand: the upstream gets it exactly as it came.
            tracing::info!(%reason, "request body is not a Responses request; relaying it unchanged");
            send(&state, backend, &parts, original, true, false).await
        }
    }
}

/// The innermost service: sends the turn upstream and relays the answer.
#[derive(Clone)]
pub struct Dispatch {
    state: SharedState,
}

impl Service<Turn> for Dispatch {
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, turn: Turn) -> Self::Future {
        let state = self.state.clone();
        Box::pin(async move {
            let (body, original) = turn.body();
            let streaming = turn.request().stream == Some(true);
            Ok(send(&state, turn.backend, &turn.parts, body, original, streaming).await)
        })
    }
}

async fn send(
    state: &SharedState,
    backend: Backend,
    parts: &http::request::Parts,
    body: bytes::Bytes,
    original_encoding: bool,
    streaming: bool,
) -> Response {
    let mut upstream_headers = headers::to_upstream(&parts.headers);
    // The proxy reads the events, so they must come uncompressed.
    upstream_headers.remove(header::ACCEPT_ENCODING);
    if !original_encoding {
        upstream_headers.remove(header::CONTENT_ENCODING);
    }
    let result = state
        .upstreams
        .client
        .request(
            parts.method.clone(),
            state.upstreams.url(backend, &parts.uri),
        )
        .headers(upstream_headers)
        .body(body)
        .send()
        .await;
    match result {
        Ok(resp)
            if resp.status().is_success() && (streaming || is_event_stream(resp.headers())) =>
        {
            let mut out = Response::new(Body::empty());
            *out.status_mut() = resp.status();
            *out.headers_mut() = headers::to_client(resp.headers(), false);
            *out.body_mut() = relay_events(state.clone(), resp, Interceptor::passthrough(), None);
            out
        }
        Ok(resp) => respond(state, resp, true),
        Err(e) => {
            state.stats.upstream_errors.inc();
            tracing::warn!(upstream = backend.name(), error = %describe(&e), "upstream unreachable");
            state.upstreams.unreachable(backend, &e).into_response()
        }
    }
}

fn is_event_stream(headers: &http::HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"))
}
