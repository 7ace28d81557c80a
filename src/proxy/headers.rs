//! Which headers cross the proxy. End-to-end headers pass both ways; hop-by-hop
//! ones (RFC 9110 §7.6.1, plus any the `Connection` header names) stay behind.

use http::header::{self, HeaderMap, HeaderName};

const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

fn is_hop_by_hop(name: &HeaderName, named_by_connection: &[String]) -> bool {
    HOP_BY_HOP.contains(&name.as_str()) || named_by_connection.iter().any(|n| n == name.as_str())
}

fn connection_tokens(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().to_ascii_lowercase())
        .filter(|t| !t.is_empty())
        .collect()
}

/// Headers to send upstream: end-to-end ones, minus `host` (set for the upstream)
/// and `content-length` (set for the body actually sent).
pub fn to_upstream(incoming: &HeaderMap) -> HeaderMap {
    let named = connection_tokens(incoming);
    let mut out = HeaderMap::with_capacity(incoming.len());
    for (name, value) in incoming {
        if is_hop_by_hop(name, &named) || name == header::HOST || name == header::CONTENT_LENGTH {
            continue;
        }
        out.append(name.clone(), value.clone());
    }
    out
}

/// Headers to send back to the client. `keep_length` is false when the proxy may
/// change the body (event streams), so the length is the server's to frame.
pub fn to_client(upstream: &HeaderMap, keep_length: bool) -> HeaderMap {
    let named = connection_tokens(upstream);
    let mut out = HeaderMap::with_capacity(upstream.len());
    for (name, value) in upstream {
        if is_hop_by_hop(name, &named) || (!keep_length && name == header::CONTENT_LENGTH) {
            continue;
        }
        out.append(name.clone(), value.clone());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn map(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn upstream_gets_end_to_end_headers_only() {
        let h = map(&[
            ("host", "127.0.0.1:10000"),
            ("authorization", "Bearer sk-x"),
            ("session-id", "s"),
            ("connection", "keep-alive, x-private"),
            ("x-private", "1"),
            ("keep-alive", "timeout=5"),
            ("transfer-encoding", "chunked"),
            ("content-length", "12"),
            ("x-codex-turn-metadata", "{}"),
            ("accept", "text/event-stream"),
        ]);
        let out = to_upstream(&h);
        let names: Vec<&str> = out.keys().map(|k| k.as_str()).collect();
        assert_eq!(
            names,
            [
                "authorization",
                "session-id",
                "x-codex-turn-metadata",
                "accept"
            ]
        );
    }

    #[test]
    fn client_gets_response_headers_and_length_only_when_kept() {
        let h = map(&[
            ("content-type", "text/event-stream"),
            ("content-length", "99"),
            ("x-codex-turn-state", "abc"),
            ("x-ratelimit-remaining-requests", "5"),
            ("transfer-encoding", "chunked"),
            ("set-cookie", "a=1"),
            ("set-cookie", "b=2"),
        ]);
        let streamed = to_client(&h, false);
        assert!(streamed.get("content-length").is_none());
        assert!(streamed.get("transfer-encoding").is_none());
        assert_eq!(streamed.get_all("set-cookie").iter().count(), 2);
        assert_eq!(streamed["x-codex-turn-state"], "abc");
        assert_eq!(to_client(&h, true)["content-length"], "99");
    }
}
