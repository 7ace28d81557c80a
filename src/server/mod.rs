//! The listener: plain HTTP and TLS on one port, told apart by the first byte
//! (0x16 starts a TLS handshake), HTTP/1.1 and HTTP/2, served by one worker thread
//! per core; read deadlines; graceful shutdown.

pub mod deadline;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;
use tokio::sync::{oneshot, watch};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use deadline::ProgressBody;

/// A client that connects and says nothing is dropped after this long.
const FIRST_BYTE_TIMEOUT: Duration = Duration::from_secs(30);
const TLS_HANDSHAKE: u8 = 0x16;
/// What a worker's runtime waits, once its connections are done, for blocking work
/// (a hook's process, a file read) that requests left behind.
const BLOCKING_GRACE: Duration = Duration::from_secs(1);
/// Once the grace period is over and open streams are told to end, how long they
/// get to write their last event.
const LAST_WORD: Duration = Duration::from_secs(2);

/// How long a client may take to send a request.
#[derive(Debug, Clone, Copy)]
pub struct ReadDeadlines {
    /// For the request's head (and a TLS handshake).
    pub header: Duration,
    /// For each window of the body's progress (see `deadline`).
    pub body: Duration,
}

impl Default for ReadDeadlines {
    fn default() -> Self {
        ReadDeadlines {
            header: Duration::from_secs(10),
            body: Duration::from_secs(10),
        }
    }
}

thread_local! {
    static WORKER: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// The index of the worker running this thread (0 off the workers).
pub fn worker() -> usize {
    WORKER.with(std::cell::Cell::get)
}

/// The listening socket and the workers that serve it.
///
/// Each worker is a thread with its own single-threaded runtime, accepting on a
/// shared clone of the socket: a connection, its requests and their upstream
/// streams then stay on one thread. A work-stealing runtime hands each request's
/// wake-ups between threads, which cost ~25% more CPU per stream (see
/// docs/benchmarks.md).
pub struct Server {
    addr: SocketAddr,
    /// Each worker's runtime and its clone of the listening socket.
    workers: Vec<(Runtime, std::net::TcpListener)>,
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// How long open connections may take to finish after shutdown starts.
    pub grace: Duration,
    pub reads: ReadDeadlines,
    /// Cancelled when the grace period is over: open streams then end with a last
    /// event of their own instead of being cut.
    pub last_call: CancellationToken,
}

impl Server {
    /// Binds `addr` and builds `workers` runtimes (at least one).
    pub fn bind(
        addr: SocketAddr,
        workers: usize,
        tls: Option<Arc<rustls::ServerConfig>>,
        grace: Duration,
    ) -> std::io::Result<Server> {
        let listener = std::net::TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let workers = (0..workers.max(1))
            .map(|_| {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?;
                Ok((runtime, listener.try_clone()?))
            })
            .collect::<std::io::Result<_>>()?;
        Ok(Server {
            addr: listener.local_addr()?,
            workers,
            tls,
            grace,
            reads: ReadDeadlines::default(),
            last_call: CancellationToken::new(),
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves until `shutdown` resolves (or this future is dropped), then lets open
    /// connections finish for the grace period.
    pub async fn run(self, app: Router, shutdown: impl Future<Output = ()>) {
        let (stop, stopped) = watch::channel(());
        let acceptor = self.tls.map(TlsAcceptor::from);
        // Log lines from the workers go where this task's go (a test's subscriber too).
        let dispatch = tracing::dispatcher::get_default(Clone::clone);
        let mut finished = Vec::with_capacity(self.workers.len());
        for (index, (runtime, listener)) in self.workers.into_iter().enumerate() {
            let worker = Worker {
                listener,
                app: app.clone(),
                acceptor: acceptor.clone(),
                stop: stopped.clone(),
                grace: self.grace,
                reads: self.reads,
                last_call: self.last_call.clone(),
            };
            let (done, finish) = oneshot::channel::<()>();
            let dispatch = dispatch.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("codex-plus-{index}"))
                .spawn(move || {
                    WORKER.with(|w| w.set(index));
                    let _log = tracing::dispatcher::set_default(&dispatch);
                    runtime.block_on(worker.run());
                    // Cancels what requests left running, as the end of the process would.
                    runtime.shutdown_timeout(BLOCKING_GRACE);
                    drop(done);
                });
            match spawned {
                Ok(_) => finished.push(finish),
                Err(e) => {
                    tracing::error!(worker = index, error = %e, "cannot start a worker thread")
                }
            }
        }
        if finished.is_empty() {
            tracing::error!("no worker could start: not serving");
            return;
        }
        shutdown.await;
        tracing::info!("shutting down: no new connections; waiting for open streams");
        drop(stop);
        for finish in finished {
            let _ = finish.await;
        }
    }
}

/// One worker's share of the server.
struct Worker {
    listener: std::net::TcpListener,
    app: Router,
    acceptor: Option<TlsAcceptor>,
    /// Closed when the server stops.
    stop: watch::Receiver<()>,
    grace: Duration,
    reads: ReadDeadlines,
    last_call: CancellationToken,
}

impl Worker {
    async fn run(mut self) {
        let listener = match TcpListener::from_std(self.listener) {
            Ok(listener) => listener,
            Err(e) => {
                tracing::error!(error = %e, "a worker cannot accept on the listening socket");
                return;
            }
        };
        let graceful = GracefulShutdown::new();
        let mut builder = Builder::new(TokioExecutor::new());
        // A client that drips its request's head a byte at a time is cut.
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(self.reads.header);
        builder.http2().timer(TokioTimer::new());
        let builder = Arc::new(builder);
        loop {
            let (stream, peer) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(conn) => conn,
                    Err(e) => {
                        // Out of file descriptors and the like: back off, keep serving.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                _ = self.stop.changed() => break,
            };
            let _ = stream.set_nodelay(true);
            tokio::spawn(serve_connection(
                stream,
                peer,
                self.acceptor.clone(),
                self.app.clone(),
                builder.clone(),
                graceful.watcher(),
                self.reads,
            ));
        }
        drop(listener);
        let all_closed = graceful.shutdown();
        tokio::pin!(all_closed);
        tokio::select! {
            () = &mut all_closed => tracing::debug!("a worker's connections all closed"),
            () = tokio::time::sleep(self.grace) => {
                tracing::warn!(grace_secs = self.grace.as_secs(), "grace period over; ending open streams");
                self.last_call.cancel();
                if tokio::time::timeout(LAST_WORD, &mut all_closed).await.is_err() {
                    tracing::warn!("closing the connections that are still open");
                }
            }
        }
    }
}

async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    acceptor: Option<TlsAcceptor>,
    app: Router,
    builder: Arc<Builder<TokioExecutor>>,
    watcher: hyper_util::server::graceful::Watcher,
    reads: ReadDeadlines,
) {
    let window = reads.body;
    let app = app.map_request(move |req: http::Request<hyper::body::Incoming>| {
        req.map(|body| Body::new(ProgressBody::new(Body::new(body), window)))
    });
    let service = TowerToHyperService::new(app);
    let mut first = [0u8; 1];
    let is_tls = match tokio::time::timeout(FIRST_BYTE_TIMEOUT, stream.peek(&mut first)).await {
        Ok(Ok(1)) => first[0] == TLS_HANDSHAKE,
        _ => return,
    };
    let result = match (is_tls, acceptor) {
        // Boxed: a TLS connection's state is kilobytes, and the task of every plain
        // connection would otherwise be sized for it.
        (true, Some(acceptor)) => {
            let tls = serve_tls(stream, acceptor, service, &builder, watcher, reads.header);
            match Box::pin(tls).await {
                Ok(result) => result,
                Err(e) => {
                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                    return;
                }
            }
        }
        (true, None) => {
            tracing::debug!(%peer, "TLS connection refused: server.tls is off");
            return;
        }
        (false, _) => {
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
            watcher.watch(conn.into_owned()).await
        }
    };
    if let Err(e) = result {
        tracing::debug!(%peer, error = %e, "connection ended with an error");
    }
}

/// A TLS connection: the handshake (its error, if it fails or takes longer than
/// `handshake`), then HTTP over it.
async fn serve_tls<S>(
    stream: TcpStream,
    acceptor: TlsAcceptor,
    service: TowerToHyperService<S>,
    builder: &Builder<TokioExecutor>,
    watcher: hyper_util::server::graceful::Watcher,
    handshake: Duration,
) -> std::io::Result<Result<(), Box<dyn std::error::Error + Send + Sync>>>
where
    S: tower::Service<http::Request<hyper::body::Incoming>, Response = axum::response::Response>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let tls = tokio::time::timeout(handshake, acceptor.accept(stream))
        .await
        .map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::TimedOut, "TLS handshake took too long")
        })??;
    let conn = builder.serve_connection_with_upgrades(TokioIo::new(tls), service);
    Ok(watcher.watch(conn.into_owned()).await)
}

/// Resolves on SIGTERM or ctrl-c.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every open connection is a task this size, so 1,000 idle streams carry it
    /// 1,000 times. With the TLS state inline it was 4.3 KiB; without, 1.9 KiB.
    #[tokio::test]
    async fn a_plain_connection_task_is_not_sized_for_tls() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let _client = TcpStream::connect(addr).await.unwrap();
        let (stream, peer) = listener.accept().await.unwrap();
        let graceful = GracefulShutdown::new();
        let task = serve_connection(
            stream,
            peer,
            None,
            Router::new(),
            Arc::new(Builder::new(TokioExecutor::new())),
            graceful.watcher(),
            ReadDeadlines::default(),
        );
        let size = std::mem::size_of_val(&task);
        assert!(size <= 3072, "a connection task is {size} bytes");
    }

    /// A worker's answer: the index it knows itself by, and its thread's name.
    fn who_serves() -> Router {
        Router::new().route(
            "/",
            axum::routing::get(|| async {
                let thread = std::thread::current();
                format!("{} {}", worker(), thread.name().unwrap_or("unnamed"))
            }),
        )
    }

    async fn get(addr: SocketAddr) -> std::io::Result<String> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = TcpStream::connect(addr).await?;
        stream
            .write_all(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            .await?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await?;
        Ok(answer)
    }

    fn server(workers: usize) -> Server {
        let addr = "127.0.0.1:0".parse().unwrap();
        Server::bind(addr, workers, None, Duration::from_secs(5)).unwrap()
    }

    /// A server running until the returned sender sends (or drops).
    fn start(workers: usize) -> (SocketAddr, oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
        let server = server(workers);
        let addr = server.local_addr();
        let (stop, stopped) = oneshot::channel::<()>();
        let running = tokio::spawn(server.run(who_serves(), async {
            let _ = stopped.await;
        }));
        (addr, stop, running)
    }

    /// The upstream client picks its pool by `worker()`, so it must name the thread.
    #[tokio::test]
    async fn requests_run_on_worker_threads_that_know_their_index() {
        let (addr, stop, running) = start(3);
        for _ in 0..12 {
            let answer = get(addr).await.unwrap();
            let body = answer.rsplit("\r\n\r\n").next().unwrap();
            let (index, thread) = body.split_once(' ').unwrap();
            assert!(index.parse::<usize>().unwrap() < 3, "{body}");
            assert_eq!(thread, format!("codex-plus-{index}"), "{answer}");
        }
        assert_eq!(worker(), 0, "off the workers");
        stop.send(()).unwrap();
        running.await.unwrap();
    }

    #[tokio::test]
    async fn a_stopped_server_lets_go_of_its_port() {
        let (addr, stop, running) = start(2);
        assert!(get(addr).await.unwrap().starts_with("HTTP/1.1 200"));
        stop.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(5), running)
            .await
            .expect("every worker finished")
            .unwrap();
        let refused = TcpStream::connect(addr).await.unwrap_err();
        assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
    }

    /// A test (or an embedder) that drops the server's future must not leave worker
    /// threads accepting on the port.
    #[tokio::test]
    async fn dropping_the_server_stops_its_workers() {
        let server = server(2);
        let addr = server.local_addr();
        let running = tokio::spawn(server.run(who_serves(), std::future::pending()));
        assert!(get(addr).await.unwrap().starts_with("HTTP/1.1 200"));
        running.abort();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            match TcpStream::connect(addr).await {
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => break,
                _ if std::time::Instant::now() > deadline => panic!("the port is still open"),
                _ => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    }
}
