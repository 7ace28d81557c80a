//! `--dashboard` (or `PROXY_BENCH_DASHBOARD=1`): the dashboard's event stream held
//! open on the proxy for the whole run and read as a browser reads it, so the figures
//! say what an open dashboard costs the turn path. The stream gets a snapshot, then a
//! `state` event each second the session's turns moved.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::Res;

/// An open dashboard stream; closed when dropped.
pub struct Dashboard {
    events: Arc<AtomicU64>,
    bytes: Arc<AtomicU64>,
    reader: tokio::task::JoinHandle<()>,
}

impl Drop for Dashboard {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// What marks an event in the stream's bytes.
const MARK: &[u8] = b"event: ";

fn count_marks(carry: &mut Vec<u8>, chunk: &[u8]) -> u64 {
    carry.extend_from_slice(chunk);
    let n = carry.windows(MARK.len()).filter(|w| *w == MARK).count() as u64;
    // Keep a mark's length less one, so a mark split across reads counts once.
    let keep = carry.len().min(MARK.len() - 1);
    carry.drain(..carry.len() - keep);
    n
}

impl Dashboard {
    /// Opens the stream and waits for its first event (the snapshot).
    pub async fn open(proxy: SocketAddr) -> Res<Dashboard> {
        let mut stream = TcpStream::connect(proxy).await?;
        let head = format!(
            "GET /api/dashboard/events HTTP/1.1\r\nhost: {proxy}\r\naccept: text/event-stream\r\n\r\n"
        );
        stream.write_all(head.as_bytes()).await?;
        let mut buf = vec![0u8; 64 * 1024];
        let mut got = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !got.windows(MARK.len()).any(|w| w == MARK) {
            let n = tokio::time::timeout_at(deadline, stream.read(&mut buf))
                .await
                .map_err(|_| "the dashboard stream sent no event within 10 s")??;
            if n == 0 {
                return Err("the proxy closed the dashboard stream".into());
            }
            got.extend_from_slice(&buf[..n]);
        }
        let text = String::from_utf8_lossy(&got);
        if !text.starts_with("HTTP/1.1 200") || !text.contains("text/event-stream") {
            return Err(format!(
                "the dashboard stream answered: {}",
                text.lines().next().unwrap_or("")
            )
            .into());
        }
        let events = Arc::new(AtomicU64::new(1));
        let bytes = Arc::new(AtomicU64::new(got.len() as u64));
        let (e, b) = (events.clone(), bytes.clone());
        let reader = tokio::spawn(async move {
            let mut carry = Vec::new();
            loop {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => {
                        b.fetch_add(n as u64, Ordering::Relaxed);
                        e.fetch_add(count_marks(&mut carry, &buf[..n]), Ordering::Relaxed);
                    }
                }
            }
        });
        Ok(Dashboard {
            events,
            bytes,
            reader,
        })
    }

    /// Events received so far (the snapshot included) and their bytes.
    pub fn received(&self) -> (u64, u64) {
        (
            self.events.load(Ordering::Relaxed),
            self.bytes.load(Ordering::Relaxed),
        )
    }

    /// Whether the stream is still open.
    pub fn open_still(&self) -> bool {
        !self.reader.is_finished()
    }
}
