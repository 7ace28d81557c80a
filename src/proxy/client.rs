//! The HTTP client that reaches the upstreams: hyper-util's pooled client over
//! rustls (HTTP/1.1, or HTTP/2 where the upstream offers it), through the proxy
//! the environment names (`HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`, `NO_PROXY`).
//!
//! The relay calls it once per request and stream, so it is hyper's client with
//! nothing around it: no URL re-parsing, redirect or retry layers (a proxy relays
//! redirects and retries are the client's), no body re-wrapping.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::uri::Scheme;
use http::{header, Request, Response, Uri};
use http_body_util::combinators::UnsyncBoxBody;
use hyper::body::Incoming;
use hyper::rt::{Read, ReadBufCursor, Write};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::proxy::Tunnel;
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::client::legacy::Client as Pool;
use hyper_util::client::proxy::matcher::Matcher;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::TcpStream;
use tower::Service;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A request body on its way upstream.
pub type UpstreamBody = UnsyncBoxBody<Bytes, BoxError>;

/// How long the client waits, and for what.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// For a connection, a proxy's CONNECT answer included.
    pub connect: Duration,
    /// From sending a request to the head of its answer: an upstream that takes a
    /// request and says nothing must not hold the client forever.
    pub answer: Duration,
    /// How long an unused pooled connection is kept. A burst leaves many; the pool's
    /// timer closes them without waiting for the next request.
    pub pool_idle: Duration,
}

/// Why a request got no answer.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// Connecting, sending, or reading the answer's head failed.
    #[error(transparent)]
    Http(#[from] hyper_util::client::legacy::Error),
    /// The upstream took the request and sent no answer in time.
    #[error("no answer within {} s (upstream.idle_timeout_secs)", .0.as_secs())]
    NoAnswer(Duration),
}

#[derive(Clone)]
pub struct Client {
    /// One pool per server worker. A pooled connection is driven by the runtime that
    /// opened it, so a request on another worker would hand its every read across
    /// threads.
    pools: Arc<[Pool<HttpsConnector<Connector>, UpstreamBody>]>,
    proxies: Arc<Matcher>,
    answer_timeout: Duration,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Client")
    }
}

impl Client {
    /// The client, through the proxies the environment names (or, on macOS and
    /// Windows, the system's settings), as curl and reqwest read them, with a
    /// connection pool for each of the server's `workers`.
    pub fn new(timeouts: Timeouts, workers: usize) -> Client {
        let mozilla =
            rustls::RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        Client::build(timeouts, Matcher::from_system(), mozilla, workers)
    }

    /// The client with the given proxies and trusted roots.
    #[allow(
        clippy::expect_used,
        reason = "start-up only, and ring supports every default TLS version"
    )]
    pub fn build(
        timeouts: Timeouts,
        proxies: Matcher,
        roots: rustls::RootCertStore,
        workers: usize,
    ) -> Client {
        let proxies = Arc::new(proxies);
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(timeouts.connect));
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("ring supports the default TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
        let connector = HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(Connector {
                http,
                proxies: proxies.clone(),
                timeout: timeouts.connect,
            });
        let pools = (0..workers.max(1))
            .map(|_| {
                Pool::builder(TokioExecutor::new())
                    .pool_idle_timeout(timeouts.pool_idle)
                    .pool_timer(TokioTimer::new())
                    .build(connector.clone())
            })
            .collect();
        Client {
            pools,
            proxies,
            answer_timeout: timeouts.answer,
        }
    }

    /// Sends a request with an absolute URI; the answer's body streams as it comes.
    /// Giving up on the answer drops the request, which closes its connection: the
    /// upstream sees the request cancelled.
    pub fn send(
        &self,
        mut request: Request<UpstreamBody>,
    ) -> impl Future<Output = Result<Response<Incoming>, SendError>> + Send {
        // Plain HTTP through a proxy: the proxy reads each request, so each carries
        // the credentials (HTTPS ones go in the tunnel's CONNECT instead).
        if request.uri().scheme() == Some(&Scheme::HTTP) {
            if let Some(auth) = self
                .proxies
                .intercept(request.uri())
                .and_then(|p| p.basic_auth().cloned())
            {
                request
                    .headers_mut()
                    .insert(header::PROXY_AUTHORIZATION, auth);
            }
        }
        let pool = &self.pools[crate::server::worker() % self.pools.len()];
        let answer = pool.request(request);
        let limit = self.answer_timeout;
        async move {
            match tokio::time::timeout(limit, answer).await {
                Ok(answer) => Ok(answer?),
                Err(_) => Err(SendError::NoAnswer(limit)),
            }
        }
    }
}

/// TCP to the upstream, or to the proxy the environment names for it: a CONNECT
/// tunnel for HTTPS (TLS then runs through it), a forwarding proxy for HTTP.
#[derive(Clone)]
pub struct Connector {
    http: HttpConnector,
    proxies: Arc<Matcher>,
    /// For the whole connection, a proxy's CONNECT answer included.
    timeout: Duration,
}

type Connecting = Pin<Box<dyn Future<Output = Result<Conn, BoxError>> + Send>>;

impl Service<Uri> for Connector {
    type Response = Conn;
    type Error = BoxError;
    type Future = Connecting;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Service::<Uri>::poll_ready(&mut self.http, cx).map_err(Into::into)
    }

    fn call(&mut self, dst: Uri) -> Connecting {
        let mut http = self.http.clone();
        let timeout = self.timeout;
        let proxy = self.proxies.intercept(&dst);
        Box::pin(async move {
            let connecting = async move {
                let Some(proxy) = proxy else {
                    return Ok(Conn {
                        io: http.call(dst).await?,
                        proxied: false,
                    });
                };
                if dst.scheme() == Some(&Scheme::HTTPS) {
                    let mut tunnel = Tunnel::new(proxy.uri().clone(), http);
                    if let Some(auth) = proxy.basic_auth() {
                        tunnel = tunnel.with_auth(auth.clone());
                    }
                    Ok(Conn {
                        io: tunnel.call(dst).await?,
                        proxied: false,
                    })
                } else {
                    Ok(Conn {
                        io: http.call(proxy.uri().clone()).await?,
                        proxied: true,
                    })
                }
            };
            match tokio::time::timeout(timeout, connecting).await {
                Ok(conn) => conn,
                Err(_) => Err(format!("no connection within {} s", timeout.as_secs()).into()),
            }
        })
    }
}

/// A connection, and whether it goes to a forwarding proxy (requests on it then
/// name their target in full).
pub struct Conn {
    io: TokioIo<TcpStream>,
    proxied: bool,
}

impl Connection for Conn {
    fn connected(&self) -> Connected {
        self.io.connected().proxy(self.proxied)
    }
}

impl Read for Conn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl Write for Conn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::upstream_body::upstream_body;
    use http_body_util::BodyExt;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    fn get(uri: &str) -> Request<UpstreamBody> {
        let mut req = Request::new(upstream_body(Vec::new()));
        *req.uri_mut() = uri.parse().unwrap();
        req
    }

    /// The proxy was asked `first_line`, with the credentials `through` gives it.
    fn assert_asked_with_credentials(head: &str, first_line: &str) {
        assert!(head.starts_with(first_line), "{head}");
        assert!(
            head.contains("proxy-authorization: basic dxnlcjpzzwnyzxq="),
            "{head}"
        );
    }

    /// A proxy that reads one request head, hands it over, and answers `answer`.
    async fn one_shot_proxy(answer: &'static [u8]) -> (Uri, tokio::task::JoinHandle<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let uri = format!("http://{}", listener.local_addr().unwrap())
            .parse()
            .unwrap();
        let seen = tokio::spawn(async move {
            let (mut sock, _) = listener.accept().await.unwrap();
            let mut head = Vec::new();
            let mut buf = [0u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = sock.read(&mut buf).await.unwrap();
                assert!(n > 0, "the client closed before its request head ended");
                head.extend_from_slice(&buf[..n]);
            }
            sock.write_all(answer).await.unwrap();
            String::from_utf8(head).unwrap()
        });
        (uri, seen)
    }

    fn through(proxy: &Uri, no_proxy: &str) -> Client {
        let with_auth = proxy.to_string().replace("http://", "http://user:secret@");
        let matcher = Matcher::builder()
            .all(with_auth)
            .no(no_proxy.to_string())
            .build();
        Client::build(
            within(Duration::from_secs(5)),
            matcher,
            rustls::RootCertStore::empty(),
            1,
        )
    }

    /// Connecting within `connect`; answers are waited for long enough for any test.
    fn within(connect: Duration) -> Timeouts {
        Timeouts {
            connect,
            answer: Duration::from_secs(30),
            pool_idle: Duration::from_secs(90),
        }
    }

    #[tokio::test]
    async fn plain_http_goes_through_a_forwarding_proxy_with_its_credentials() {
        let (proxy, seen) = one_shot_proxy(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nhi").await;
        let client = through(&proxy, "");
        let resp = client
            .send(get("http://upstream.test/v1/models?x=1"))
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&body[..], b"hi");
        let head = seen.await.unwrap().to_ascii_lowercase();
        assert_asked_with_credentials(&head, "get http://upstream.test/v1/models?x=1 http/1.1\r\n");
    }

    #[tokio::test]
    async fn https_goes_through_a_connect_tunnel() {
        // The proxy refuses the tunnel; what it was asked is what counts here.
        let (proxy, seen) = one_shot_proxy(b"HTTP/1.1 403 Forbidden\r\n\r\n").await;
        let client = through(&proxy, "");
        let err = client
            .send(get("https://upstream.test/v1/responses"))
            .await
            .unwrap_err();
        let head = seen.await.unwrap().to_ascii_lowercase();
        assert_asked_with_credentials(&head, "connect upstream.test:443 http/1.1\r\n");
        assert!(
            crate::proxy::upstream::describe(&err).contains("tunnel"),
            "{}",
            crate::proxy::upstream::describe(&err)
        );
    }

    #[tokio::test]
    async fn a_proxy_that_never_answers_connect_times_out() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy: Uri = format!("http://{}", listener.local_addr().unwrap())
            .parse()
            .unwrap();
        let held = tokio::spawn(async move { listener.accept().await });
        let matcher = Matcher::builder().all(proxy.to_string()).build();
        let client = Client::build(
            within(Duration::from_millis(300)),
            matcher,
            rustls::RootCertStore::empty(),
            1,
        );
        let started = std::time::Instant::now();
        let err = tokio::time::timeout(
            Duration::from_secs(10),
            client.send(get("https://upstream.test/v1/responses")),
        )
        .await
        .expect("the connect timeout should end the request")
        .unwrap_err();
        let text = crate::proxy::upstream::describe(&err);
        assert!(text.contains("no connection within"), "{text}");
        assert!(started.elapsed() < Duration::from_secs(5));
        drop(held);
    }

    #[tokio::test]
    async fn an_upstream_that_takes_the_request_and_never_answers_is_given_up_on() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        // Reads whatever comes, answers nothing, and reports when the client hangs up.
        let hung_up = tokio::spawn(async move {
            let (mut sock, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 4096];
            while sock.read(&mut buf).await.unwrap_or(0) > 0 {}
        });
        let limit = Duration::from_millis(300);
        let client = Client::build(
            Timeouts {
                connect: Duration::from_secs(5),
                answer: limit,
                pool_idle: Duration::from_secs(90),
            },
            Matcher::builder().build(),
            rustls::RootCertStore::empty(),
            1,
        );
        let started = std::time::Instant::now();
        let err = tokio::time::timeout(
            Duration::from_secs(5),
            client.send(get(&format!("http://{addr}/v1/responses"))),
        )
        .await
        .expect("the client gives up at its limit")
        .unwrap_err();
        assert!(matches!(err, SendError::NoAnswer(l) if l == limit), "{err}");
        assert!(started.elapsed() >= limit);
        assert!(
            err.to_string().contains("upstream.idle_timeout_secs"),
            "{err}"
        );
        tokio::time::timeout(Duration::from_secs(5), hung_up)
            .await
            .expect("giving up on the answer closes the connection")
            .unwrap();
    }

    /// The upstreams that matter (api.openai.com, chatgpt.com) are TLS and offer
    /// HTTP/2; here an upstream signed by a local CA does the same.
    #[tokio::test]
    async fn https_upstreams_are_spoken_to_in_http2_when_they_offer_it() {
        use hyper_util::server::conn::auto::Builder;
        let home = tempfile::tempdir().unwrap();
        let acceptor =
            tokio_rustls::TlsAcceptor::from(crate::ca::server_config(home.path()).unwrap());
        let ca = std::fs::read(crate::ca::ensure(home.path()).unwrap().cert).unwrap();
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls_pemfile::certs(&mut &ca[..]) {
            roots.add(cert.unwrap()).unwrap();
        }
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let tls = acceptor.accept(tcp).await.unwrap();
            let answer = hyper::service::service_fn(|req: Request<Incoming>| async move {
                let version = format!("{:?}", req.version());
                Ok::<_, std::convert::Infallible>(Response::new(http_body_util::Full::new(
                    Bytes::from(version),
                )))
            });
            Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(tls), answer)
                .await
                .unwrap();
        });
        let client = Client::build(
            within(Duration::from_secs(5)),
            Matcher::builder().build(),
            roots,
            1,
        );
        let resp = client
            .send(get(&format!("https://localhost:{port}/v1/models")))
            .await
            .unwrap();
        assert_eq!(resp.version(), http::Version::HTTP_2);
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&body[..], b"HTTP/2.0");
    }

    #[tokio::test]
    async fn no_proxy_hosts_are_reached_directly() {
        let (direct, seen) = one_shot_proxy(b"HTTP/1.1 204 No Content\r\n\r\n").await;
        // The named proxy does not exist: only a direct connection can succeed.
        let client = through(&"http://127.0.0.1:9".parse().unwrap(), "127.0.0.1");
        let resp = client
            .send(get(&format!(
                "http://{}/v1/models",
                direct.authority().unwrap()
            )))
            .await
            .unwrap();
        assert_eq!(resp.status(), 204);
        let head = seen.await.unwrap().to_ascii_lowercase();
        assert!(head.starts_with("get /v1/models http/1.1\r\n"), "{head}");
        assert!(!head.contains("proxy-authorization"), "{head}");
    }
}
