//! Which headers cross the proxy. End-to-end headers pass both ways; hop-by-hop
//! ones (RFC 9110 §7.6.1, plus any the `Connection` header names) stay behind.

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};

/// Hop-by-hop headers by name (RFC 9110 §7.6.1, plus the legacy `keep-alive` and
/// `proxy-connection`). A `match` compares by length first, then bytes: every
/// header of every request passes here.
fn is_hop_by_hop(name: &HeaderName, named_by_connection: &[String]) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-authenticate"
            | "proxy-authorization"
            | "proxy-connection"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
    ) || named_by_connection.iter().any(|n| n == name.as_str())
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

/// Headers to send upstream: the client's end-to-end ones, minus `host` (set for
/// the upstream) and `content-length` (set for the body actually sent). Taken by
/// value and stripped in place: every request passes here, and copying each name
/// and value into a new map cost more than the rest of the headers' handling.
pub fn to_upstream(mut headers: HeaderMap) -> HeaderMap {
    strip_hop_by_hop(&mut headers);
    headers.remove(header::HOST);
    headers.remove(header::CONTENT_LENGTH);
    headers
}

/// Removes the hop-by-hop headers. Requests rarely carry any but `connection`:
/// one pass over the names finds them, and only those are looked up to remove.
fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named = connection_tokens(headers);
    let hop: Vec<HeaderName> = headers
        .keys()
        .filter(|name| is_hop_by_hop(name, &named))
        .cloned()
        .collect();
    for name in hop {
        headers.remove(name);
    }
}

/// Headers kept for the life of a stream (a continuation's, a Task's): every name
/// and value in one buffer of the proxy's own. A `HeaderMap` of Codex's dozen
/// headers, detached from the connection, is ~2 KiB in some fifteen allocations per
/// open stream; this is their text and a few words per header, put back into a map
/// only when a continuation or a Task needs one.
#[derive(Debug, Clone)]
pub struct KeptHeaders {
    text: Bytes,
    spans: Box<[Span]>,
}

/// One header in `KeptHeaders::text`: its name, then its value, up to these ends.
#[derive(Debug, Clone, Copy)]
struct Span {
    name_end: usize,
    value_end: usize,
    sensitive: bool,
}

impl KeptHeaders {
    /// `headers` less the header `without`.
    pub fn new(headers: &HeaderMap, without: &HeaderName) -> KeptHeaders {
        let kept = || headers.iter().filter(|(name, _)| *name != without);
        let len = kept().map(|(n, v)| n.as_str().len() + v.len()).sum();
        let mut text = Vec::with_capacity(len);
        let spans = kept()
            .map(|(name, value)| {
                text.extend_from_slice(name.as_str().as_bytes());
                let name_end = text.len();
                text.extend_from_slice(value.as_bytes());
                Span {
                    name_end,
                    value_end: text.len(),
                    sensitive: value.is_sensitive(),
                }
            })
            .collect();
        KeptHeaders {
            text: Bytes::from(text),
            spans,
        }
    }

    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// The headers in their order, values sharing this buffer.
    pub fn iter(&self) -> impl Iterator<Item = (HeaderName, HeaderValue)> + '_ {
        let mut start = 0;
        self.spans.iter().filter_map(move |span| {
            let name = &self.text[start..span.name_end];
            let value = self.text.slice(span.name_end..span.value_end);
            start = span.value_end;
            // Both were a valid name and value when kept, so they parse again.
            let name = HeaderName::from_bytes(name).ok()?;
            let mut value = HeaderValue::from_maybe_shared(value).ok()?;
            value.set_sensitive(span.sensitive);
            Some((name, value))
        })
    }

    /// The headers as a map again.
    pub fn to_map(&self) -> HeaderMap {
        let mut map = HeaderMap::with_capacity(self.len());
        for (name, value) in self.iter() {
            map.append(name, value);
        }
        map
    }
}

/// Headers to send back to the client. `keep_length` is false when the proxy may
/// change the body (event streams), so the length is the server's to frame.
pub fn to_client(mut headers: HeaderMap, keep_length: bool) -> HeaderMap {
    strip_hop_by_hop(&mut headers);
    if !keep_length {
        headers.remove(header::CONTENT_LENGTH);
    }
    headers
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_headers_come_back_as_they_were() {
        let read_buffer = bytes::Bytes::from(b"Bearer sk-secret and more bytes".to_vec());
        let mut secret = HeaderValue::from_maybe_shared(read_buffer.slice(0..16)).unwrap();
        secret.set_sensitive(true);
        let mut map = HeaderMap::new();
        map.insert(header::AUTHORIZATION, secret.clone());
        map.append("x-twice", HeaderValue::from_static("1"));
        map.insert(header::CONTENT_ENCODING, HeaderValue::from_static("zstd"));
        map.append("x-twice", HeaderValue::from_static("2"));
        map.insert("x-empty", HeaderValue::from_static(""));
        map.insert(
            "x-bytes",
            HeaderValue::from_bytes(b"caf\xc3\xa9\tok").unwrap(),
        );
        let kept = KeptHeaders::new(&map, &header::CONTENT_ENCODING);
        assert_eq!(kept.len(), 5);
        let back = kept.to_map();
        map.remove(header::CONTENT_ENCODING);
        assert_eq!(back, map);
        assert_eq!(
            back.get_all("x-twice").iter().collect::<Vec<_>>(),
            ["1", "2"]
        );
        assert!(back[header::AUTHORIZATION].is_sensitive());
        assert!(!back["x-empty"].is_sensitive());
        // Not the connection's read buffer: the kept map's own.
        assert_ne!(
            back[header::AUTHORIZATION].as_bytes().as_ptr(),
            secret.as_bytes().as_ptr()
        );
    }

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
        let out = to_upstream(h);
        // Order across different names carries no meaning (RFC 9110 §5.3).
        let mut names: Vec<&str> = out.keys().map(|k| k.as_str()).collect();
        names.sort_unstable();
        assert_eq!(
            names,
            [
                "accept",
                "authorization",
                "session-id",
                "x-codex-turn-metadata"
            ]
        );
        assert_eq!(out["authorization"], "Bearer sk-x");
        // Every hop-by-hop name stays behind, and only whole names do.
        let hop = map(&[
            ("proxy-authenticate", "Basic"),
            ("proxy-authorization", "Basic eA=="),
            ("proxy-connection", "keep-alive"),
            ("te", "trailers"),
            ("trailer", "x-t"),
            ("upgrade", "websocket"),
            ("tee", "kept"),
            ("upgrades", "kept"),
        ]);
        let mut names: Vec<String> = to_upstream(hop).keys().map(|k| k.to_string()).collect();
        names.sort_unstable();
        assert_eq!(names, ["tee", "upgrades"]);
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
        let streamed = to_client(h.clone(), false);
        assert!(streamed.get("content-length").is_none());
        assert!(streamed.get("transfer-encoding").is_none());
        // Values of one name keep their order.
        let cookies: Vec<_> = streamed.get_all("set-cookie").iter().collect();
        assert_eq!(cookies, ["a=1", "b=2"]);
        assert_eq!(streamed["x-codex-turn-state"], "abc");
        assert_eq!(to_client(h, true)["content-length"], "99");
    }
}
