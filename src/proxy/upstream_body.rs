//! A request body sent upstream as the slices it is made of
//! (`ResponsesRequest::to_chunks`): hyper writes them one after another with their
//! exact total length, so a long history is never joined into a new buffer.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use http_body_util::BodyExt;

use super::client::UpstreamBody;

/// Chunks with a known total length.
#[derive(Debug)]
pub struct Chunked {
    chunks: VecDeque<Bytes>,
    remaining: u64,
}

impl Chunked {
    pub fn new(mut chunks: Vec<Bytes>) -> Chunked {
        chunks.retain(|c| !c.is_empty());
        Chunked {
            remaining: chunks.iter().map(|c| c.len() as u64).sum(),
            // Takes the vector's buffer as it is.
            chunks: VecDeque::from(chunks),
        }
    }
}

impl http_body::Body for Chunked {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let next = self.chunks.pop_front();
        if let Some(chunk) = &next {
            self.remaining -= chunk.len() as u64;
        }
        Poll::Ready(next.map(|chunk| Ok(Frame::data(chunk))))
    }

    fn is_end_stream(&self) -> bool {
        self.chunks.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

/// The body for the upstream request.
pub fn upstream_body(chunks: Vec<Bytes>) -> UpstreamBody {
    Chunked::new(chunks)
        .map_err(|never| match never {})
        .boxed_unsync()
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body::Body;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn chunks_come_out_in_order_with_their_exact_length() {
        let parts = vec![
            Bytes::from_static(b"{\"input\":"),
            Bytes::new(),
            Bytes::from_static(b"[1,2]"),
            Bytes::from_static(b"}"),
        ];
        let mut body = Chunked::new(parts);
        assert_eq!(body.size_hint().exact(), Some(15));
        let mut seen = Vec::new();
        while let Some(frame) = body.frame().await {
            let data = frame.unwrap().into_data().unwrap();
            assert!(!data.is_empty(), "no empty frames");
            seen.extend_from_slice(&data);
            assert_eq!(body.size_hint().exact(), Some(15 - seen.len() as u64));
        }
        assert_eq!(seen, b"{\"input\":[1,2]}");
        assert!(body.is_end_stream());
    }
}
