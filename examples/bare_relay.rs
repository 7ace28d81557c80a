//! The floor of the proxy's stack: hyper's server and an HTTP client relaying bodies
//! both ways and doing nothing else (no parsing, no middleware, no ledger).
//!
//! `scripts/bench-floor.sh` runs the proxy benchmark against it, so each figure of
//! codex-plus can be read against what the libraries it stands on cost by
//! themselves. It takes the same arguments as the part of `codex-plus serve` that
//! the benchmark uses (`serve --listen ADDR --openai-upstream URL`) and answers
//! `GET /health`. `BARE_RELAY_CLIENT=hyper` sends upstream through hyper-util's
//! client (the one codex-plus uses) instead of reqwest, to tell the two apart.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed assumption is a failed test

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{header, HeaderMap, Request, Response, StatusCode, Uri};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;

// The allocator codex-plus runs with, so memory figures compare like with like.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

type Body = BoxBody<Bytes, Box<dyn std::error::Error + Send + Sync>>;

enum Upstream {
    Reqwest(reqwest::Client),
    Hyper(Box<HyperClient<HttpConnector, Incoming>>),
}

struct Relay {
    base: String,
    client: Upstream,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let listen: SocketAddr = value("--listen")
        .unwrap_or_else(|| "127.0.0.1:10001".into())
        .parse()
        .expect("--listen takes ADDR:PORT");
    let base = value("--openai-upstream")
        .expect("--openai-upstream URL is required")
        .trim_end_matches('/')
        .to_string();
    let client = match std::env::var("BARE_RELAY_CLIENT").as_deref() {
        Ok("hyper") => {
            let mut connector = HttpConnector::new();
            connector.set_nodelay(true);
            Upstream::Hyper(Box::new(
                HyperClient::builder(TokioExecutor::new()).build(connector),
            ))
        }
        _ => Upstream::Reqwest(
            reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .tcp_nodelay(true)
                .build()
                .expect("the HTTP client builds"),
        ),
    };
    let relay = Arc::new(Relay { base, client });
    // Two workers, like codex-plus on this machine (one per core).
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("the runtime starts")
        .block_on(serve(listen, relay));
}

async fn serve(listen: SocketAddr, relay: Arc<Relay>) {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .expect("the listen address is free");
    let builder = Arc::new(Builder::new(TokioExecutor::new()));
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let (relay, builder) = (relay.clone(), builder.clone());
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let relay = relay.clone();
                async move { Ok::<_, Infallible>(relay.handle(req).await) }
            });
            let _ = builder
                .serve_connection_with_upgrades(TokioIo::new(stream), service)
                .await;
        });
    }
}

impl Relay {
    async fn handle(&self, req: Request<Incoming>) -> Response<Body> {
        if req.uri().path() == "/health" {
            return respond(StatusCode::OK, r#"{"status":"ok"}"#);
        }
        let (mut parts, body) = req.into_parts();
        let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let url = format!("{}{path}", self.base);
        strip_hop_by_hop(&mut parts.headers);
        parts.headers.remove(header::HOST);
        let answer = match &self.client {
            Upstream::Reqwest(client) => client
                .request(parts.method, url)
                .headers(parts.headers)
                .body(reqwest::Body::wrap(body))
                .send()
                .await
                .map(|r| {
                    http::Response::<reqwest::Body>::from(r).map(|b| b.map_err(Into::into).boxed())
                })
                .map_err(|e| e.to_string()),
            Upstream::Hyper(client) => match url.parse::<Uri>() {
                Ok(uri) => {
                    parts.uri = uri;
                    client
                        .request(Request::from_parts(parts, body))
                        .await
                        .map(|r| r.map(|b| b.map_err(Into::into).boxed()))
                        .map_err(|e| e.to_string())
                }
                Err(e) => Err(e.to_string()),
            },
        };
        match answer {
            Ok(mut resp) => {
                strip_hop_by_hop(resp.headers_mut());
                resp
            }
            Err(e) => respond(StatusCode::BAD_GATEWAY, &e),
        }
    }
}

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    for name in [header::CONNECTION, header::TRANSFER_ENCODING, header::TE] {
        headers.remove(name);
    }
    headers.remove("keep-alive");
}

fn respond(status: StatusCode, text: &str) -> Response<Body> {
    let body = Full::new(Bytes::from(text.to_string()))
        .map_err(|never| match never {})
        .boxed();
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    resp
}
