//! The interceptor: a pure state machine over one response's stream events.
//!
//! Input: upstream events and how the upstream ended. Output: bytes for the client.
//! It owns no sockets, so every edge case is a unit test over a scripted event list.
//! Whatever happens upstream, the client's stream ends with exactly one terminal
//! event (`response.completed` or `response.failed`): Codex never waits on a stream
//! that cannot finish.

use bytes::Bytes;

use crate::wire::event::{self, EventHead};
use crate::wire::sse::Frame;

/// How the upstream stream ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    /// The body ended cleanly.
    Eof,
    /// The connection broke or the body could not be read.
    Broken(String),
    /// No bytes for the idle timeout.
    Stalled { secs: u64 },
    /// An event grew past the size the proxy holds.
    Oversized { limit: usize },
}

#[derive(Debug, Default)]
pub struct Interceptor {
    response_id: Option<String>,
    terminal: bool,
    failed_by_proxy: bool,
}

impl Interceptor {
    pub fn new() -> Interceptor {
        Interceptor::default()
    }

    /// One upstream event; returns the bytes to send on.
    pub fn on_frame(&mut self, frame: Frame) -> Bytes {
        if frame.has_data() {
            if let Some(head) = EventHead::parse(&frame.data) {
                self.observe(&head);
            }
        }
        frame.raw
    }

    fn observe(&mut self, head: &EventHead) {
        match head.kind.as_ref() {
            "response.created" | "response.in_progress" => {
                if let Some(id) = head.response.as_ref().and_then(|r| r.id.as_deref()) {
                    self.response_id = Some(id.to_string());
                }
            }
            "response.completed" | "response.failed" | "response.incomplete" | "error" => {
                self.terminal = true
            }
            _ => {}
        }
    }

    /// The upstream is done; returns a closing event if the client still needs one.
    pub fn on_end(&mut self, end: End) -> Option<Bytes> {
        if self.terminal {
            return None;
        }
        let reason = match end {
            End::Eof => "the upstream closed the stream before response.completed".to_string(),
            End::Broken(cause) => format!("the upstream stream broke: {cause}"),
            End::Stalled { secs } => {
                format!("the upstream sent nothing for {secs} s (upstream.idle_timeout_secs); the stream was cut")
            }
            End::Oversized { limit } => {
                format!("the upstream sent an event larger than {limit} bytes")
            }
        };
        self.terminal = true;
        self.failed_by_proxy = true;
        let id = self.response_id.as_deref().unwrap_or("resp_codex_plus");
        Some(event::to_sse(&event::response_failed(
            id,
            "upstream_stream_error",
            &format!("codex-plus: {reason}"),
        )))
    }

    /// True when the proxy itself had to end the stream with `response.failed`.
    pub fn failed_by_proxy(&self) -> bool {
        self.failed_by_proxy
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::sse::Decoder;

    fn frames(text: &str) -> Vec<Frame> {
        let mut d = Decoder::new();
        d.push(text.as_bytes());
        std::iter::from_fn(|| d.next_frame()).collect()
    }

    fn run(text: &str, end: End) -> (String, Interceptor) {
        let mut i = Interceptor::new();
        let mut out = Vec::new();
        for f in frames(text) {
            out.extend_from_slice(&i.on_frame(f));
        }
        if let Some(b) = i.on_end(end) {
            out.extend_from_slice(&b);
        }
        (String::from_utf8(out).unwrap(), i)
    }

    const CREATED: &str =
        "data: {\"type\":\"response.created\",\"response\":{\"id\":\"resp_7\"}}\n\n";
    const DELTA: &str = "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"delta\":\"hi\"}\n\n";
    const DONE: &str =
        "data: {\"type\":\"response.completed\",\"response\":{\"id\":\"resp_7\"}}\n\n";

    #[test]
    fn a_complete_stream_passes_byte_for_byte() {
        let text = format!("{CREATED}: comment\n\n{DELTA}data: {{\"type\":\"some.future.event\",\"x\":1}}\n\n{DONE}");
        let (out, i) = run(&text, End::Eof);
        assert_eq!(out, text);
        assert!(!i.failed_by_proxy());
    }

    #[test]
    fn eof_before_completed_ends_with_response_failed_for_that_response() {
        let (out, i) = run(&format!("{CREATED}{DELTA}"), End::Eof);
        assert!(out.starts_with(&format!("{CREATED}{DELTA}")));
        let tail = &out[CREATED.len() + DELTA.len()..];
        assert!(tail.starts_with("event: response.failed\n"), "{tail}");
        assert!(tail.contains("\"id\":\"resp_7\""));
        assert!(tail.contains("before response.completed"));
        assert!(i.failed_by_proxy());
    }

    #[test]
    fn broken_and_stalled_streams_say_why() {
        let (out, _) = run(CREATED, End::Broken("connection reset".into()));
        assert!(out.contains("broke: connection reset"));
        let (out, _) = run(CREATED, End::Stalled { secs: 3 });
        assert!(out.contains("nothing for 3 s"));
        let (out, _) = run("", End::Oversized { limit: 10 });
        assert!(out.contains("resp_codex_plus") && out.contains("larger than 10 bytes"));
    }

    #[test]
    fn upstream_failed_event_is_not_doubled() {
        let failed = "data: {\"type\":\"response.failed\",\"response\":{\"id\":\"r\",\"error\":{\"message\":\"quota\"}}}\n\n";
        let (out, i) = run(&format!("{CREATED}{failed}"), End::Broken("reset".into()));
        assert_eq!(out, format!("{CREATED}{failed}"));
        assert!(!i.failed_by_proxy());
    }

    #[test]
    fn garbage_is_relayed_and_the_stream_still_ends_cleanly() {
        let (out, _) = run("data: [not json\n\n\x01\x02 garbage\n\n", End::Eof);
        assert!(out.starts_with("data: [not json\n\n\x01\x02 garbage\n\n"));
        assert!(out.contains("response.failed"));
    }
}
