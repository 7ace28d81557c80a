//! The plain relay: any method, path and query, body streamed both ways.

use axum::body::Body;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use futures_util::TryStreamExt;
use http::header;
use http_body_util::{BodyExt, Limited};

use super::headers;
use super::stream::idle_limited;
use super::upstream::{describe, Backend};
use crate::error::ProxyError;
use crate::state::SharedState;

/// Relays a request as it is, streaming its body up and the answer down.
pub async fn relay(state: SharedState, backend: Backend, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let limit = state.config.server.body_limit();
    let length = declared_length(&parts.headers);
    if length.is_some_and(|n| n > limit as u64) {
        state.stats.rejected_bodies.inc();
        return ProxyError::BodyTooLarge { limit }.into_response();
    }
    let mut upstream_headers = headers::to_upstream(&parts.headers);
    let has_body =
        length.is_some_and(|n| n > 0) || parts.headers.contains_key(header::TRANSFER_ENCODING);
    let mut request = state.upstreams.client.request(
        parts.method.clone(),
        state.upstreams.url(backend, &parts.uri),
    );
    if has_body {
        if let Some(n) = length {
            // Same bytes, same framing: the upstream sees the client's length.
            upstream_headers.insert(header::CONTENT_LENGTH, n.into());
        }
        let limited = Limited::new(body, limit).into_data_stream();
        request = request.body(reqwest::Body::wrap_stream(limited));
    }
    match request.headers(upstream_headers).send().await {
        Ok(resp) => respond(&state, resp, true),
        Err(e) if is_length_limit(&e) => {
            state.stats.rejected_bodies.inc();
            ProxyError::BodyTooLarge { limit }.into_response()
        }
        Err(e) => {
            state.stats.upstream_errors.inc();
            tracing::warn!(upstream = backend.name(), error = %describe(&e), "upstream unreachable");
            state.upstreams.unreachable(backend, &e).into_response()
        }
    }
}

/// The upstream's answer as the client's: status, end-to-end headers, body streamed.
pub fn respond(state: &SharedState, resp: reqwest::Response, keep_length: bool) -> Response {
    let status = resp.status();
    let headers = headers::to_client(resp.headers(), keep_length);
    let idle = state.config.upstream.idle_timeout();
    let body = Body::from_stream(idle_limited(
        resp.bytes_stream().map_err(std::io::Error::other),
        idle,
    ));
    let mut out = Response::new(body);
    *out.status_mut() = status;
    *out.headers_mut() = headers;
    out
}

fn declared_length(headers: &http::HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

fn is_length_limit(err: &reqwest::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = source {
        if e.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = e.source();
    }
    false
}

/// Reads a whole request body, refusing more than `limit` bytes.
pub async fn read_limited(
    state: &SharedState,
    headers: &http::HeaderMap,
    body: Body,
) -> Result<bytes::Bytes, ProxyError> {
    let limit = state.config.server.body_limit();
    if declared_length(headers).is_some_and(|n| n > limit as u64) {
        state.stats.rejected_bodies.inc();
        return Err(ProxyError::BodyTooLarge { limit });
    }
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            state.stats.rejected_bodies.inc();
            Err(ProxyError::BodyTooLarge { limit })
        }
        Err(e) => Err(ProxyError::BodyRead(e.to_string())),
    }
}
