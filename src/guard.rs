//! The trust boundary: only local callers reach the proxy.
//!
//! The proxy holds the user's keys and runs subagents with Bash, so a web page the
//! user visits must not be able to drive it. Browsers reach a loopback port in two
//! ways, and each check closes one:
//! - a cross-site request (CSRF) carries the page's `Origin`: any Origin but the
//!   proxy's own is refused, and the own endpoints take POST bodies only as
//!   `application/json`, which a browser cannot send cross-site without a preflight;
//! - DNS rebinding points a name the attacker owns at 127.0.0.1, so the request
//!   carries that name in `Host`: only loopback names (and the listen address, and
//!   names the user allows in `server.allowed_hosts`) are served.
//!
//! A path with `.` or `..` segments is refused before it can be relayed: upstreams
//! and intermediaries normalise such paths in different ways. Codex sends none.
//!
//! Relayed paths (`/v1/…`, `/backend-api/…`) get the Host, Origin and path checks
//! and keep working for Codex as before: it sends the host of its `base_url`, and no
//! Origin.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{header, HeaderMap, Method, StatusCode};
use serde_json::json;

use crate::proxy::upstream::Backend;

/// Why a request was refused; the text says what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the Host `{0}` is not this proxy's: codex-plus answers only local callers (localhost, 127.0.0.1, [::1]); add other names to server.allowed_hosts")]
    ForeignHost(String),
    #[error("cross-origin requests are refused: Origin `{0}` is not this proxy's own")]
    ForeignOrigin(String),
    #[error("POST bodies must be JSON: send `Content-Type: application/json`")]
    NotJson,
    #[error("the path has `.` or `..` segments; codex-plus refuses to relay such paths")]
    DotSegments,
}

impl Refusal {
    fn status(&self) -> StatusCode {
        match self {
            Refusal::DotSegments => StatusCode::BAD_REQUEST,
            _ => StatusCode::FORBIDDEN,
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Refusal::ForeignHost(_) => "forbidden_host",
            Refusal::ForeignOrigin(_) => "forbidden_origin",
            Refusal::NotJson => "unsupported_content_type",
            Refusal::DotSegments => "invalid_path",
        }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let body = json!({"error": {"type": self.kind(), "message": self.to_string()}});
        (self.status(), axum::Json(body)).into_response()
    }
}

/// Who may call: the names a local caller uses, and the port the proxy listens on.
#[derive(Debug, Clone)]
pub struct Guard {
    /// Lower-case host names without port or brackets.
    names: Vec<String>,
    /// The bound port; `None` accepts any: an app built without a listener (tests),
    /// or one on a wildcard address, reached through a published port that may be
    /// another (a container's `-p 127.0.0.1:18000:10000`).
    port: Option<u16>,
}

impl Guard {
    /// Loopback names, the listen address's own IP, and `allowed` (from the config).
    pub fn new(listen: Option<SocketAddr>, allowed: &[String]) -> Guard {
        let mut names: Vec<String> = ["localhost", "127.0.0.1", "::1"]
            .into_iter()
            .map(str::to_string)
            .collect();
        if let Some(ip) = listen.map(|a| a.ip()).filter(|ip| !ip.is_unspecified()) {
            names.push(ip.to_string());
        }
        for name in allowed {
            let (host, _) = split_host_port(name.trim());
            if !host.is_empty() {
                names.push(host.to_ascii_lowercase());
            }
        }
        names.sort();
        names.dedup();
        Guard {
            names,
            port: listen
                .filter(|a| !a.ip().is_unspecified())
                .map(|a| a.port()),
        }
    }

    /// Checks one request. Pure: the method, path, headers and the URI's authority
    /// (HTTP/2 puts the host there instead of in `Host`).
    pub fn check(
        &self,
        method: &Method,
        path: &str,
        authority: Option<&str>,
        headers: &HeaderMap,
    ) -> Result<(), Refusal> {
        // Browsers always send a Host; a request without one comes from a local
        // program, which can reach the proxy anyway.
        let host = headers
            .get(header::HOST)
            .map(|v| v.to_str().unwrap_or("\u{fffd}"))
            .or(authority);
        if let Some(host) = host.filter(|h| !self.is_own_authority(h)) {
            return Err(Refusal::ForeignHost(host.chars().take(200).collect()));
        }
        if let Some(origin) = headers.get(header::ORIGIN) {
            let origin = origin.to_str().unwrap_or("");
            if !self.is_own_origin(origin) {
                return Err(Refusal::ForeignOrigin(origin.chars().take(200).collect()));
            }
        }
        if has_dot_segments(path) {
            return Err(Refusal::DotSegments);
        }
        let own_endpoint = Backend::for_path(path).is_none();
        if own_endpoint && method == Method::POST && !is_json(headers) {
            return Err(Refusal::NotJson);
        }
        Ok(())
    }

    /// `host[:port]` names this proxy.
    fn is_own_authority(&self, authority: &str) -> bool {
        let (host, port) = split_host_port(authority);
        let port_ok = match (port, self.port) {
            (Some(p), Some(own)) => p.parse::<u16>() == Ok(own),
            (Some(p), None) => p.parse::<u16>().is_ok(),
            (None, _) => true,
        };
        port_ok && self.names.iter().any(|n| n.eq_ignore_ascii_case(host))
    }

    /// `scheme://host:port` is the proxy's own (HTTP and TLS share the port).
    fn is_own_origin(&self, origin: &str) -> bool {
        let rest = origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"));
        rest.is_some_and(|authority| !authority.contains('/') && self.is_own_authority(authority))
    }
}

/// Splits `host:port`, `[v6]:port`, `host` or `[v6]`; the port is `None` when absent.
fn split_host_port(authority: &str) -> (&str, Option<&str>) {
    if let Some(rest) = authority.strip_prefix('[') {
        return match rest.split_once(']') {
            Some((host, "")) => (host, None),
            Some((host, tail)) => (host, Some(tail.strip_prefix(':').unwrap_or(tail))),
            None => (authority, None),
        };
    }
    match authority.rsplit_once(':') {
        // A bare IPv6 address has several colons and no port.
        Some((host, port)) if !host.contains(':') => (host, Some(port)),
        _ => (authority, None),
    }
}

/// `application/json`, with or without parameters (`; charset=utf-8`).
fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"))
}

/// A `.` or `..` segment, literal or with its dots percent-encoded.
pub fn has_dot_segments(path: &str) -> bool {
    if !path.contains('.') && !path.contains('%') {
        return false;
    }
    path.split('/').any(|segment| {
        let mut dots = 0usize;
        let mut rest = segment.as_bytes();
        while !rest.is_empty() {
            match rest {
                [b'.', tail @ ..] => rest = tail,
                [b'%', b'2', b'e' | b'E', tail @ ..] => rest = tail,
                _ => return false,
            }
            dots += 1;
        }
        dots == 1 || dots == 2
    })
}

/// The layer: refuses what `Guard::check` refuses, before any handler runs.
pub async fn enforce(guard: Arc<Guard>, req: Request, next: Next) -> Response {
    let authority = req.uri().authority().map(|a| a.as_str());
    match guard.check(req.method(), req.uri().path(), authority, req.headers()) {
        Ok(()) => next.run(req).await,
        Err(refusal) => {
            tracing::warn!(path = %req.uri().path(), reason = %refusal, "request refused");
            refusal.into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard() -> Guard {
        Guard::new(Some("127.0.0.1:10000".parse().unwrap()), &[])
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    fn check(method: Method, path: &str, pairs: &[(&'static str, &str)]) -> Result<(), Refusal> {
        guard().check(&method, path, None, &headers(pairs))
    }

    #[test]
    fn the_csrf_request_of_the_report_is_refused() {
        let got = check(
            Method::POST,
            "/api/tasks",
            &[
                ("host", "evil.example:10000"),
                ("origin", "https://evil.example"),
                ("content-type", "text/plain;charset=UTF-8"),
            ],
        );
        assert_eq!(got, Err(Refusal::ForeignHost("evil.example:10000".into())));
        // With a local Host, the Origin still gives it away.
        let got = check(
            Method::POST,
            "/api/tasks",
            &[
                ("host", "127.0.0.1:10000"),
                ("origin", "https://evil.example"),
                ("content-type", "application/json"),
            ],
        );
        assert_eq!(
            got,
            Err(Refusal::ForeignOrigin("https://evil.example".into()))
        );
        // And without any Origin (a form from a sandboxed frame sends `null`), the body type.
        let got = check(
            Method::POST,
            "/api/tasks",
            &[("host", "localhost:10000"), ("content-type", "text/plain")],
        );
        assert_eq!(got, Err(Refusal::NotJson));
        let null_origin = check(
            Method::POST,
            "/api/tasks",
            &[("host", "localhost:10000"), ("origin", "null")],
        );
        assert_eq!(null_origin, Err(Refusal::ForeignOrigin("null".into())));
    }

    #[test]
    fn local_callers_are_served() {
        for host in [
            "127.0.0.1:10000",
            "localhost:10000",
            "LOCALHOST",
            "[::1]:10000",
            "127.0.0.1",
        ] {
            assert_eq!(
                check(Method::GET, "/status", &[("host", host)]),
                Ok(()),
                "{host}"
            );
        }
        let json_post = [
            ("host", "127.0.0.1:10000"),
            ("content-type", "application/json; charset=utf-8"),
        ];
        assert_eq!(check(Method::POST, "/api/tasks", &json_post), Ok(()));
        let own_origin = [
            ("host", "127.0.0.1:10000"),
            ("origin", "http://127.0.0.1:10000"),
            ("content-type", "application/json"),
        ];
        assert_eq!(
            check(Method::POST, "/api/tasks/x/cancel", &own_origin),
            Ok(())
        );
    }

    #[test]
    fn rebinding_names_wrong_ports_and_lookalikes_are_refused() {
        for host in [
            "evil.example:10000",
            "127.0.0.1:10001",
            "localhost.evil.example:10000",
            "127.0.0.1.nip.io:10000",
            "[::2]:10000",
            "localhost:notaport",
        ] {
            assert!(
                matches!(
                    check(Method::GET, "/status", &[("host", host)]),
                    Err(Refusal::ForeignHost(_))
                ),
                "{host}"
            );
        }
        // No Host at all: not a browser.
        assert_eq!(check(Method::GET, "/status", &[]), Ok(()));
        for origin in [
            "http://127.0.0.1:10001",
            "http://evil.example",
            "http://localhost:10000/path",
            "file://",
        ] {
            let got = check(
                Method::GET,
                "/api/tasks",
                &[("host", "localhost:10000"), ("origin", origin)],
            );
            assert!(matches!(got, Err(Refusal::ForeignOrigin(_))), "{origin}");
        }
    }

    #[test]
    fn relayed_paths_keep_working_for_codex() {
        // Codex: its base_url's host, no Origin, zstd or JSON bodies, any content type.
        let codex = [
            ("host", "127.0.0.1:10000"),
            ("content-type", "application/json"),
            ("content-encoding", "zstd"),
        ];
        assert_eq!(check(Method::POST, "/v1/responses", &codex), Ok(()));
        let analytics = [("host", "127.0.0.1:10000"), ("content-type", "text/plain")];
        assert_eq!(
            check(
                Method::POST,
                "/backend-api/codex/analytics-events/events",
                &analytics
            ),
            Ok(())
        );
        // A rebinding page reaching the relay is refused too: its model call could
        // start subagents.
        let rebound = [
            ("host", "evil.example:10000"),
            ("content-type", "text/plain"),
        ];
        assert!(check(Method::POST, "/v1/responses", &rebound).is_err());
    }

    #[test]
    fn http2_authority_stands_in_for_a_missing_host() {
        let g = guard();
        assert_eq!(
            g.check(
                &Method::GET,
                "/health",
                Some("127.0.0.1:10000"),
                &HeaderMap::new()
            ),
            Ok(())
        );
        assert!(g
            .check(
                &Method::GET,
                "/health",
                Some("evil.example:10000"),
                &HeaderMap::new()
            )
            .is_err());
    }

    #[test]
    fn allowed_hosts_and_the_listen_address_extend_the_names() {
        let g = Guard::new(
            Some("192.168.5.7:9000".parse().unwrap()),
            &["codex-plus.internal".into(), "devbox:9000".into()],
        );
        let ok = |host: &str| g.check(&Method::GET, "/status", None, &headers(&[("host", host)]));
        assert_eq!(ok("192.168.5.7:9000"), Ok(()));
        assert_eq!(ok("codex-plus.internal:9000"), Ok(()));
        assert_eq!(ok("devbox:9000"), Ok(()));
        assert!(ok("devbox:9001").is_err());
        // A wildcard listen address adds no name: 0.0.0.0 is no one's Host.
        let any = Guard::new(Some("0.0.0.0:9000".parse().unwrap()), &[]);
        assert!(any
            .check(
                &Method::GET,
                "/status",
                None,
                &headers(&[("host", "0.0.0.0:9000")])
            )
            .is_err());
        // Behind it, a published port may be another: the name still decides.
        let published = headers(&[("host", "127.0.0.1:18000")]);
        assert_eq!(any.check(&Method::GET, "/status", None, &published), Ok(()));
        let rebound = headers(&[("host", "evil.example:18000")]);
        assert!(any.check(&Method::GET, "/status", None, &rebound).is_err());
    }

    #[test]
    fn dot_segments_are_found_literal_or_encoded() {
        for path in [
            "/v1/../../etc/passwd",
            "/v1/./responses",
            "/v1/%2e%2e/x",
            "/v1/%2E./x",
            "/backend-api/..",
            "/v1/.%2e",
        ] {
            assert!(has_dot_segments(path), "{path}");
            assert_eq!(
                check(Method::GET, path, &[("host", "localhost:10000")]),
                Err(Refusal::DotSegments),
                "{path}"
            );
        }
        for path in [
            "/v1/responses",
            "/v1/files/a.b",
            "/v1/...",
            "/v1/.well-known",
            "/v1/x%2ey",
            "/",
        ] {
            assert!(!has_dot_segments(path), "{path}");
        }
    }

    #[test]
    fn refusals_answer_json_with_a_reason() {
        let resp = Refusal::ForeignOrigin("https://evil.example".into()).into_response();
        assert_eq!(resp.status(), StatusCode::FORBIDDEN);
        assert_eq!(
            Refusal::DotSegments.into_response().status(),
            StatusCode::BAD_REQUEST
        );
    }
}
