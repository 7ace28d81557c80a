//! The thin I/O shell every provider shares: POST a JSON body, read the SSE answer
//! with first-byte and idle timeouts, and turn HTTP failures into `ProviderError`.
//!
//! Providers hand it a `Collector` (their pure stream translation) and get the
//! collected `ModelResponse` back. Header values are never logged.

use std::time::{Duration, SystemTime};

use futures_util::StreamExt;
use http::HeaderMap;
use serde_json::Value;
use tokio::time::{timeout, Instant};

use super::{retry, ModelResponse, ProviderError};
use crate::wire::sse::{Decoder, Frame};

/// How long each phase of a model call may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// TCP + TLS connect.
    pub connect: Duration,
    /// From sending the request to the first byte of the answer body.
    pub first_byte: Duration,
    /// Silence between two chunks of the answer.
    pub idle: Duration,
    /// The whole call, per attempt (applied by the router).
    pub total: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(10),
            first_byte: Duration::from_secs(120),
            idle: Duration::from_secs(300),
            total: Duration::from_secs(1800),
        }
    }
}

/// Whether a collector wants more frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    /// The answer is complete; stop reading.
    Done,
}

/// A provider's pure stream translation: frames in, one response out.
pub trait Collector {
    /// Take one SSE frame.
    fn push(&mut self, frame: &Frame) -> Result<Flow, ProviderError>;
    /// The stream ended (or `push` returned `Done`) after `received` body bytes.
    fn finish(self, received: usize) -> Result<ModelResponse, ProviderError>;
}

/// A shared HTTP client plus the timeouts to apply to each streamed call.
#[derive(Debug, Clone)]
pub struct Transport {
    client: reqwest::Client,
    timeouts: Timeouts,
}

/// Error bodies are read up to this size; the message is in the first few hundred bytes.
const MAX_ERROR_BODY: usize = 64 * 1024;

impl Transport {
    /// Build the client (start-up only: fails if TLS cannot initialise).
    pub fn new(timeouts: Timeouts) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .connect_timeout(timeouts.connect)
            .build()?;
        Ok(Self { client, timeouts })
    }

    /// The timeouts this transport applies.
    pub fn timeouts(&self) -> Timeouts {
        self.timeouts
    }

    /// POST `body` to `url` and feed the SSE answer to `collector`.
    pub async fn collect<C: Collector>(
        &self,
        provider: &str,
        url: &str,
        headers: HeaderMap,
        body: &Value,
        mut collector: C,
    ) -> Result<ModelResponse, ProviderError> {
        let received = self
            .stream(provider, url, headers, body, &mut collector)
            .await?;
        collector.finish(received)
    }

    async fn stream<C: Collector>(
        &self,
        provider: &str,
        url: &str,
        headers: HeaderMap,
        body: &Value,
        collector: &mut C,
    ) -> Result<usize, ProviderError> {
        let started = Instant::now();
        tracing::debug!(provider, url, "model call");
        let request = self
            .client
            .post(url)
            .headers(headers)
            .header(http::header::ACCEPT, "text/event-stream")
            .json(body)
            .send();
        let response = match timeout(self.timeouts.first_byte, request).await {
            Err(_) => return Err(self.timed_out(provider, "the first byte", true)),
            Ok(Err(e)) => return Err(send_error(provider, url, e)),
            Ok(Ok(response)) => response,
        };
        if !response.status().is_success() {
            return Err(self.status_error(provider, response).await);
        }

        let mut chunks = response.bytes_stream();
        let mut decoder = Decoder::new();
        let mut received = 0usize;
        loop {
            let (wait, phase) = if received == 0 {
                let left = self.timeouts.first_byte.saturating_sub(started.elapsed());
                (left, "the first byte")
            } else {
                (self.timeouts.idle, "the next chunk")
            };
            let chunk = match timeout(wait, chunks.next()).await {
                Err(_) => return Err(self.timed_out(provider, phase, received == 0)),
                Ok(None) => break,
                Ok(Some(Err(e))) => {
                    return Err(ProviderError::Stream {
                        provider: provider.to_owned(),
                        received,
                        cause: error_chain(&e.without_url()),
                    })
                }
                Ok(Some(Ok(chunk))) => chunk,
            };
            received += chunk.len();
            decoder.push(&chunk);
            while let Some(frame) = decoder.next_frame() {
                if collector.push(&frame)? == Flow::Done {
                    return Ok(received);
                }
            }
        }
        if let Some(frame) = decoder.finish() {
            collector.push(&frame)?;
        }
        Ok(received)
    }

    fn timed_out(&self, provider: &str, phase: &'static str, first: bool) -> ProviderError {
        ProviderError::Timeout {
            provider: provider.to_owned(),
            phase,
            after: if first {
                self.timeouts.first_byte
            } else {
                self.timeouts.idle
            },
        }
    }

    async fn status_error(&self, provider: &str, response: reqwest::Response) -> ProviderError {
        let status = response.status().as_u16();
        let header_wait = retry::retry_after_from_headers(response.headers(), SystemTime::now());
        let body = read_capped(response, self.timeouts.idle).await;
        ProviderError::Status {
            provider: provider.to_owned(),
            status,
            message: error_message(&body, status),
            retry_after: header_wait.or_else(|| retry_delay_in_body(&body)),
        }
    }
}

/// Up to `MAX_ERROR_BODY` bytes of an error body; whatever arrived if it stalls or breaks.
async fn read_capped(response: reqwest::Response, idle: Duration) -> Vec<u8> {
    let mut body = Vec::new();
    let mut chunks = response.bytes_stream();
    while body.len() < MAX_ERROR_BODY {
        match timeout(idle, chunks.next()).await {
            Ok(Some(Ok(chunk))) => body.extend_from_slice(&chunk),
            _ => break,
        }
    }
    body.truncate(MAX_ERROR_BODY);
    body
}

fn send_error(provider: &str, url: &str, e: reqwest::Error) -> ProviderError {
    let connect = e.is_connect();
    let cause = error_chain(&e.without_url());
    if connect {
        ProviderError::Connect {
            provider: provider.to_owned(),
            url: url.to_owned(),
            cause,
        }
    } else {
        // Sent, but the connection died before any answer (e.g. reset by the peer).
        ProviderError::Stream {
            provider: provider.to_owned(),
            received: 0,
            cause,
        }
    }
}

/// An error and its sources, one sentence: reqwest's own message alone is too vague.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

/// The human message in an error body, whatever the provider's shape:
/// `{"error":{"message"}}` (OpenAI, Anthropic, Gemini), `[{"error":...}]` (Gemini
/// streaming), `{"error":"..."}` / `{"message"}` / `{"detail"}` (compatible servers),
/// else the body text itself.
pub fn error_message(body: &[u8], status: u16) -> String {
    const MAX: usize = 500;
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return format!("empty body ({})", status_reason(status));
    }
    let parsed = serde_json::from_str::<Value>(text).ok();
    let message = parsed.as_ref().and_then(json_error_message);
    let mut message = message.unwrap_or_else(|| text.to_owned());
    if message.len() > MAX {
        let cut = (0..=MAX).rev().find(|i| message.is_char_boundary(*i));
        message.truncate(cut.unwrap_or(0));
        message.push('…');
    }
    message
}

fn json_error_message(v: &Value) -> Option<String> {
    let v = v.as_array().and_then(|a| a.first()).unwrap_or(v);
    let err = v.get("error").unwrap_or(v);
    if let Some(s) = err.as_str() {
        return Some(s.to_owned());
    }
    let message = err
        .get("message")
        .or_else(|| err.get("detail"))
        .and_then(Value::as_str)?;
    let kind = err
        .get("type")
        .or_else(|| err.get("status"))
        .or_else(|| err.get("code"))
        .and_then(Value::as_str);
    Some(match kind {
        Some(kind) if !message.contains(kind) => format!("{message} ({kind})"),
        _ => message.to_owned(),
    })
}

/// Gemini says how long to wait in the body: `details[].retryDelay: "30s"`.
fn retry_delay_in_body(body: &[u8]) -> Option<Duration> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let v = v.as_array().and_then(|a| a.first()).unwrap_or(&v);
    let details = v.get("error")?.get("details")?.as_array()?;
    details.iter().find_map(|d| {
        let secs = d.get("retryDelay")?.as_str()?.strip_suffix('s')?;
        let secs: f64 = secs.parse().ok()?;
        (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs))
    })
}

fn status_reason(status: u16) -> &'static str {
    http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or(if status == 529 {
            "Overloaded"
        } else {
            "unknown status"
        })
}

/// Parse one frame's data as JSON, naming the provider and a bit of the bad text.
pub fn parse_data(provider: &str, frame: &Frame) -> Result<Value, ProviderError> {
    serde_json::from_str(frame.data()).map_err(|e| {
        let mut snippet: String = frame.data().chars().take(120).collect();
        if snippet.len() < frame.data().len() {
            snippet.push('…');
        }
        ProviderError::Decode {
            provider: provider.to_owned(),
            cause: format!("malformed JSON in stream event ({e}): {snippet}"),
        }
    })
}

/// Drive a collector over a whole recorded SSE text (tests and offline replays).
pub fn collect_text<C: Collector>(
    mut collector: C,
    sse: &str,
) -> Result<ModelResponse, ProviderError> {
    let mut decoder = Decoder::new();
    decoder.push(sse.as_bytes());
    while let Some(frame) = decoder.next_frame() {
        if collector.push(&frame)? == Flow::Done {
            return collector.finish(sse.len());
        }
    }
    if let Some(frame) = decoder.finish() {
        collector.push(&frame)?;
    }
    collector.finish(sse.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_messages_from_each_provider_shape() {
        let cases: &[(&str, u16)] = &[
            (
                r#"{"error":{"message":"Incorrect API key provided","type":"invalid_request_error","code":"invalid_api_key"}}"#,
                401,
            ),
            (
                r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
                529,
            ),
            (
                r#"[{"error":{"code":429,"message":"Resource has been exhausted","status":"RESOURCE_EXHAUSTED"}}]"#,
                429,
            ),
            (r#"{"error":"model 'llama9' not found"}"#, 404),
            (r#"{"detail":"Not Found"}"#, 404),
            ("<html>Bad Gateway</html>", 502),
            ("", 503),
            ("", 529),
        ];
        let rendered: Vec<String> = cases
            .iter()
            .map(|(body, status)| format!("{status}: {}", error_message(body.as_bytes(), *status)))
            .collect();
        insta::assert_yaml_snapshot!(rendered);
    }

    #[test]
    fn long_bodies_are_cut_on_a_char_boundary() {
        let body = "é".repeat(400);
        let m = error_message(body.as_bytes(), 500);
        assert!(m.ends_with('…'));
        assert!(m.len() <= 503);
    }

    #[test]
    fn gemini_retry_delay_in_body() {
        let body = br#"{"error":{"code":429,"details":[{"@type":"type.googleapis.com/google.rpc.QuotaFailure"},{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"1.5s"}]}}"#;
        assert_eq!(retry_delay_in_body(body), Some(Duration::from_millis(1500)));
        assert_eq!(retry_delay_in_body(b"{}"), None);
    }

    #[test]
    fn malformed_data_names_the_provider_and_the_text() {
        let frame = Frame::new("data: {\"type\": oops\n\n".into());
        let e = parse_data("chat", &frame).unwrap_err();
        let text = e.to_string();
        assert!(
            text.starts_with("chat: could not read the answer: malformed JSON"),
            "{text}"
        );
        assert!(text.contains("{\"type\": oops"), "{text}");
    }
}
