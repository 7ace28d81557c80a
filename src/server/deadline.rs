//! Read deadlines for request bodies: a client that drips its body a byte at a time
//! would otherwise hold a connection, and a file descriptor, for as long as it likes.
//!
//! The rule is progress, not a total time: each window of `window` must bring the
//! body's end or at least `BODY_PROGRESS_BYTES` of it. A drip of a byte every few
//! seconds fails its first window; a real upload of any size never waits that long
//! for 16 KiB on loopback.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use tokio::time::{Instant, Sleep};

/// What each window must bring, unless the body ends.
pub const BODY_PROGRESS_BYTES: u64 = 16 * 1024;

/// The body fell below the progress rule.
#[derive(Debug, thiserror::Error)]
#[error("the request body stalled: less than {} KiB arrived in {} s (server.body_progress_timeout_secs)", BODY_PROGRESS_BYTES / 1024, .window.as_secs())]
pub struct BodyStalled {
    pub window: Duration,
}

pin_project_lite::pin_project! {
    /// A request body held to the progress rule.
    pub struct ProgressBody {
        #[pin]
        inner: Body,
        #[pin]
        deadline: Sleep,
        window: Duration,
        // Bytes seen in the current window.
        seen: u64,
        failed: bool,
    }
}

impl ProgressBody {
    pub fn new(inner: Body, window: Duration) -> ProgressBody {
        ProgressBody {
            inner,
            deadline: tokio::time::sleep(window),
            window,
            seen: 0,
            failed: false,
        }
    }
}

impl HttpBody for ProgressBody {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let mut this = self.project();
        if *this.failed {
            return Poll::Ready(None);
        }
        match this.inner.as_mut().poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    *this.seen += data.len() as u64;
                    if *this.seen >= BODY_PROGRESS_BYTES {
                        // A new window starts with each 16 KiB that arrives in time.
                        *this.seen = 0;
                        let next = Instant::now() + *this.window;
                        this.deadline.as_mut().reset(next);
                    }
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e.into()))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => match this.deadline.poll(cx) {
                Poll::Ready(()) => {
                    *this.failed = true;
                    Poll::Ready(Some(Err(Box::new(BodyStalled {
                        window: *this.window,
                    }))))
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.failed || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// True when `err`, or one of its causes, is a stalled body.
pub fn is_stalled(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = Some(err);
    while let Some(e) = source {
        if e.is::<BodyStalled>() {
            return true;
        }
        source = e.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;
    use http_body_util::BodyExt;

    /// A body that sends `chunk` every `every`, `count` times.
    fn drip(chunk: &'static [u8], every: Duration, count: usize) -> Body {
        let stream = futures_util::stream::iter(0..count).then(move |_| async move {
            tokio::time::sleep(every).await;
            Ok::<_, std::io::Error>(Bytes::from_static(chunk))
        });
        Body::from_stream(stream)
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_drip_is_cut_after_one_window() {
        let body = ProgressBody::new(
            drip(b"x", Duration::from_secs(2), 100),
            Duration::from_secs(10),
        );
        let start = Instant::now();
        let err = body.collect().await.unwrap_err();
        assert!(is_stalled(err.as_ref()), "{err}");
        assert!(
            err.to_string().contains("less than 16 KiB arrived in 10 s"),
            "{err}"
        );
        assert_eq!(start.elapsed().as_secs(), 10);
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_that_keeps_up_may_take_longer_than_a_window() {
        // 64 KiB a second for 30 s: three windows' worth, and never stalled.
        const CHUNK: &[u8] = &[b'a'; 64 * 1024];
        let body = ProgressBody::new(
            drip(CHUNK, Duration::from_secs(1), 30),
            Duration::from_secs(10),
        );
        let bytes = body.collect().await.unwrap().to_bytes();
        assert_eq!(bytes.len(), 30 * 64 * 1024);
    }

    #[tokio::test(start_paused = true)]
    async fn a_small_body_that_ends_in_time_is_whole() {
        let body = ProgressBody::new(
            drip(b"{}", Duration::from_secs(9), 1),
            Duration::from_secs(10),
        );
        assert_eq!(
            body.collect().await.unwrap().to_bytes(),
            Bytes::from_static(b"{}")
        );
    }
}
