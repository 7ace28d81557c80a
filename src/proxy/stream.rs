//! The I/O shell around the interceptor: pulls upstream chunks, cuts them into
//! events, and hands the client whatever the interceptor says, as soon as it says it.
//!
//! The stream is pull-driven: the next upstream chunk is read only when the client
//! has taken the previous output, so a slow client slows the upstream read
//! (backpressure) and memory per stream stays bounded by one chunk plus one
//! partial event. Dropping the body (client gone) drops the upstream request.

use std::convert::Infallible;
use std::pin::Pin;
use std::time::Duration;

use axum::body::Body;
use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt};

use super::interceptor::{End, Interceptor};
use super::upstream::describe;
use crate::state::{OpenStream, SharedState};
use crate::wire::sse::Decoder;

/// Largest single event held while waiting for its end.
pub const MAX_EVENT_BYTES: usize = 16 * 1024 * 1024;

type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, reqwest::Error>> + Send>>;

struct EventRelay {
    upstream: ByteStream,
    decoder: Decoder,
    interceptor: Interceptor,
    idle: Duration,
    done: bool,
    state: SharedState,
    _open: OpenStream,
}

/// Relays an upstream event stream to the client through the interceptor.
pub fn relay_events(state: SharedState, upstream: reqwest::Response) -> Body {
    let relay = EventRelay {
        upstream: Box::pin(upstream.bytes_stream()),
        decoder: Decoder::new(),
        interceptor: Interceptor::new(),
        idle: state.config.upstream.idle_timeout(),
        done: false,
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
        while !self.done {
            let next = tokio::time::timeout(self.idle, self.upstream.next()).await;
            let chunk = match next {
                Ok(Some(Ok(chunk))) => chunk,
                Ok(Some(Err(e))) => return self.end(End::Broken(describe(&e))),
                Ok(None) => return self.end(End::Eof),
                Err(_) => {
                    return self.end(End::Stalled {
                        secs: self.idle.as_secs(),
                    })
                }
            };
            self.decoder.push(&chunk);
            let out = self.drain();
            if self.decoder.pending() > MAX_EVENT_BYTES {
                let mut out = out.map(BytesMut::from).unwrap_or_default();
                out.extend_from_slice(&self.end(End::Oversized {
                    limit: MAX_EVENT_BYTES,
                })?);
                return Some(out.freeze());
            }
            if out.is_some() {
                return out;
            }
        }
        None
    }

    /// Every whole event in the buffer, through the interceptor, as one write.
    fn drain(&mut self) -> Option<Bytes> {
        let first = self.interceptor.on_frame(self.decoder.next_frame()?);
        let Some(second) = self.decoder.next_frame() else {
            return Some(first);
        };
        let mut out = BytesMut::from(&first[..]);
        out.extend_from_slice(&self.interceptor.on_frame(second));
        while let Some(frame) = self.decoder.next_frame() {
            out.extend_from_slice(&self.interceptor.on_frame(frame));
        }
        Some(out.freeze())
    }

    fn end(&mut self, end: End) -> Option<Bytes> {
        self.done = true;
        if !matches!(end, End::Eof) {
            tracing::warn!(?end, "upstream stream ended abnormally");
        }
        let mut out = BytesMut::new();
        // A tail without its blank line still belongs to the client.
        if let Some(tail) = self.decoder.finish() {
            out.extend_from_slice(&self.interceptor.on_frame(tail));
        }
        if let Some(closing) = self.interceptor.on_end(end) {
            out.extend_from_slice(&closing);
        }
        if self.interceptor.failed_by_proxy() {
            self.state.stats.stream_failures.inc();
        }
        (!out.is_empty()).then(|| out.freeze())
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
