//! The plain relay: any method, path and query, body streamed both ways.

use axum::body::Body;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use bytes::{Bytes, BytesMut};
use futures_util::TryStreamExt;
use http::header;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;

use super::client::SendError;
use super::headers;
use super::stream::idle_limited;
use super::upstream::{no_answer, Backend};
use super::upstream_body::upstream_body;
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
    let url = match state.upstreams.url(backend, &parts.uri) {
        Ok(url) => url,
        Err(e) => return e.into_response(),
    };
    let has_body =
        length.is_some_and(|n| n > 0) || parts.headers.contains_key(header::TRANSFER_ENCODING);
    let mut upstream_headers = headers::to_upstream(parts.headers);
    let body = if has_body {
        if let Some(n) = length {
            // Same bytes, same framing: the upstream sees the client's length.
            upstream_headers.insert(header::CONTENT_LENGTH, n.into());
        }
        Limited::new(body, limit).boxed_unsync()
    } else {
        upstream_body(Vec::new())
    };
    let mut request = http::Request::new(body);
    *request.method_mut() = parts.method;
    *request.uri_mut() = url;
    *request.headers_mut() = upstream_headers;
    match state.upstreams.client.send(request).await {
        Ok(resp) => respond(&state, resp, true),
        Err(SendError::Http(e)) if is_length_limit(&e) => {
            state.stats.rejected_bodies.inc();
            ProxyError::BodyTooLarge { limit }.into_response()
        }
        Err(e) => no_answer(&state, backend, &e),
    }
}

/// The upstream's answer as the client's: status, end-to-end headers, body streamed.
pub fn respond(state: &SharedState, resp: http::Response<Incoming>, keep_length: bool) -> Response {
    let (parts, body) = resp.into_parts();
    let headers = headers::to_client(parts.headers, keep_length);
    let idle = state.config.upstream.idle_timeout();
    let body = Body::from_stream(idle_limited(
        body.into_data_stream().map_err(std::io::Error::other),
        idle,
    ));
    let mut out = Response::new(body);
    *out.status_mut() = parts.status;
    *out.headers_mut() = headers;
    out
}

/// The body as one buffer. A body that comes in one chunk is kept as it is; else
/// each chunk is copied as it arrives into a buffer sized for the whole body
/// (`expected`), so the body is ready when its last byte is, with no second copy.
async fn gather<B>(mut body: B, expected: usize) -> Result<Bytes, B::Error>
where
    B: http_body::Body<Data = Bytes> + Unpin,
{
    let mut single: Option<Bytes> = None;
    let mut whole = BytesMut::new();
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame?.into_data() else {
            continue; // trailers
        };
        match single.take() {
            None if whole.is_empty() => single = Some(data),
            first => {
                if let Some(first) = first {
                    whole.reserve(expected.max(first.len() + data.len()));
                    whole.extend_from_slice(&first);
                }
                whole.extend_from_slice(&data);
            }
        }
    }
    Ok(single.unwrap_or_else(|| whole.freeze()))
}

fn declared_length(headers: &http::HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

fn is_length_limit(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = Some(err);
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
) -> Result<Bytes, ProxyError> {
    let limit = state.config.server.body_limit();
    let declared = declared_length(headers);
    if declared.is_some_and(|n| n > limit as u64) {
        state.stats.rejected_bodies.inc();
        return Err(ProxyError::BodyTooLarge { limit });
    }
    let expected = declared.map_or(0, |n| n as usize);
    match gather(Limited::new(body, limit), expected).await {
        Ok(bytes) => Ok(bytes),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            state.stats.rejected_bodies.inc();
            Err(ProxyError::BodyTooLarge { limit })
        }
        Err(e) if crate::server::deadline::is_stalled(e.as_ref()) => {
            Err(ProxyError::BodyStalled(e.to_string()))
        }
        Err(e) => Err(ProxyError::BodyRead(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body::Frame;
    use http_body_util::StreamBody;

    fn chunked(
        chunks: &[&'static [u8]],
    ) -> StreamBody<impl futures_util::Stream<Item = Result<Frame<Bytes>, std::io::Error>>> {
        let frames: Vec<_> = chunks
            .iter()
            .map(|c| Ok(Frame::data(Bytes::from_static(c))))
            .collect();
        StreamBody::new(futures_util::stream::iter(frames))
    }

    #[tokio::test]
    async fn gathers_chunks_in_order_whatever_the_declared_length() {
        for expected in [0, 3, 11, 1000] {
            let body = gather(chunked(&[b"ab", b"", b"cde", b"fghijk"]), expected)
                .await
                .unwrap();
            assert_eq!(&body[..], b"abcdefghijk", "expected {expected}");
        }
        assert!(gather(chunked(&[]), 0).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_body_in_one_chunk_is_not_copied() {
        static ONE: &[u8] = b"{\"input\":[]}";
        let body = gather(chunked(&[ONE]), ONE.len()).await.unwrap();
        assert_eq!(body.as_ptr(), ONE.as_ptr());
    }

    #[tokio::test]
    async fn the_limit_still_applies() {
        let err = gather(Limited::new(chunked(&[b"0123", b"4567"]), 6), 8)
            .await
            .unwrap_err();
        assert!(err.is::<http_body_util::LengthLimitError>(), "{err}");
    }
}
