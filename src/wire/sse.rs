//! Server-Sent Events codec: bytes in arbitrary chunks → whole events, and back.
//!
//! The decoder keeps each event's exact bytes (`Frame::raw`) so a relay that
//! changes nothing can forward them byte for byte, and parses the fields
//! (`event`, `data`, `id`) per the WHATWG rules: lines end in LF, CRLF or CR;
//! a blank line ends an event; `:` starts a comment; one leading space after the
//! colon is dropped; several `data:` lines join with `\n`.

use std::ops::Range;

use bytes::{Bytes, BytesMut};

/// One event as read off the wire. Its fields point into `raw` when they can
/// (one line, valid UTF-8: nearly every event), so reading an event copies nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    raw: Bytes,
    event: Option<Text>,
    data: Text,
    id: Option<Text>,
}

/// A field's value: a span of `raw`, or text the decoder had to build.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Text {
    Span(Range<usize>),
    Owned(String),
}

impl Frame {
    /// An event parsed from its bytes (one event, as `Decoder` cuts them).
    pub fn new(raw: Bytes) -> Frame {
        parse_frame(raw)
    }

    /// The exact bytes of the event, its terminating blank line included.
    pub fn raw(&self) -> &Bytes {
        &self.raw
    }

    pub fn into_raw(self) -> Bytes {
        self.raw
    }

    /// The `event:` field.
    pub fn event(&self) -> Option<&str> {
        self.event.as_ref().map(|t| self.text(t))
    }

    /// The `data:` lines joined with `\n`; empty when the event had none.
    pub fn data(&self) -> &str {
        self.text(&self.data)
    }

    /// The `id:` field.
    pub fn id(&self) -> Option<&str> {
        self.id.as_ref().map(|t| self.text(t))
    }

    /// An event with no `data` (only comments or other fields) carries nothing to parse.
    pub fn has_data(&self) -> bool {
        !self.data().is_empty()
    }

    fn text<'a>(&'a self, t: &'a Text) -> &'a str {
        match t {
            // SAFETY: spans are made only in `parse_frame`, over bytes it has just
            // checked to be UTF-8, and `raw` never changes. Checking again on every
            // read of a field cost more than parsing the line.
            Text::Span(r) => unsafe { std::str::from_utf8_unchecked(&self.raw[r.clone()]) },
            Text::Owned(s) => s,
        }
    }
}

/// Incremental decoder. Feed chunks with `push`, take events with `next_frame`.
#[derive(Debug, Default)]
pub struct Decoder {
    buf: BytesMut,
    /// Bytes of `buf` already scanned without finding an event end.
    scanned: usize,
}

impl Decoder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, chunk: &[u8]) {
        self.buf.extend_from_slice(chunk);
    }

    /// Bytes held that do not yet form a whole event.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    /// The next complete event, if the buffer holds one.
    pub fn next_frame(&mut self) -> Option<Frame> {
        match find_event_end(&self.buf, self.scanned) {
            Some(end) => {
                self.scanned = 0;
                let raw = self.buf.split_to(end).freeze();
                Some(parse_frame(raw))
            }
            None => {
                self.scanned = self.buf.len();
                None
            }
        }
    }

    /// At end of stream: whatever is left, as a final event if it has any field.
    /// A stream may end without the last blank line; the bytes still belong to the client.
    pub fn finish(&mut self) -> Option<Frame> {
        if self.buf.is_empty() {
            return None;
        }
        self.scanned = 0;
        let raw = self.buf.split().freeze();
        Some(parse_frame(raw))
    }
}

/// Offset just past the blank line that ends the first event, searching from `from`
/// (a hint: bytes before it were scanned already; we back up enough to catch a
/// terminator split across pushes).
fn find_event_end(buf: &[u8], from: usize) -> Option<usize> {
    let start = from.saturating_sub(3);
    let mut i = start;
    while let Some(pos) = memchr::memchr2(b'\n', b'\r', &buf[i..]) {
        let at = i + pos;
        // `at` ends a line; the event ends if the next line is empty.
        let next = line_break_len(buf, at)?;
        let after = at + next;
        match buf.get(after) {
            None => return None,
            Some(b'\n') => return Some(after + 1),
            Some(b'\r') => {
                return match buf.get(after + 1) {
                    Some(b'\n') => Some(after + 2),
                    Some(_) => Some(after + 1),
                    // A lone CR at the end may be the first half of CRLF: wait.
                    None => None,
                };
            }
            Some(_) => i = after,
        }
    }
    None
}

/// Length of the line break at `at` (1 or 2), or None if a CR ends the buffer
/// and we cannot yet tell CR from CRLF.
fn line_break_len(buf: &[u8], at: usize) -> Option<usize> {
    match (buf[at], buf.get(at + 1)) {
        (b'\r', Some(b'\n')) => Some(2),
        (b'\r', None) => None,
        _ => Some(1),
    }
}

fn parse_frame(raw: Bytes) -> Frame {
    let mut event = None;
    let mut id = None;
    let mut data: Option<Text> = None;
    let base = raw.as_ptr() as usize;
    // A value that is valid UTF-8 stays a span of `raw`; the rest is decoded lossily.
    let text = |value: &[u8]| match simdutf8::basic::from_utf8(value) {
        Ok(_) => match (value.as_ptr() as usize).checked_sub(base) {
            Some(at) if at + value.len() <= raw.len() => Text::Span(at..at + value.len()),
            // Never a slice of another buffer; stay safe if one ever is.
            _ => Text::Owned(String::from_utf8_lossy(value).into_owned()),
        },
        Err(_) => Text::Owned(String::from_utf8_lossy(value).into_owned()),
    };
    for line in lines(&raw) {
        if line.is_empty() || line[0] == b':' {
            continue;
        }
        let (name, value) = field(line);
        match name {
            b"data" => {
                data = Some(match data.take() {
                    None => text(value),
                    // Several data lines join with `\n`: only then is a copy made.
                    Some(first) => {
                        let mut joined = match first {
                            Text::Span(r) => String::from_utf8_lossy(&raw[r]).into_owned(),
                            Text::Owned(s) => s,
                        };
                        joined.push('\n');
                        joined.push_str(&String::from_utf8_lossy(value));
                        Text::Owned(joined)
                    }
                })
            }
            b"event" => event = Some(text(value)),
            b"id" => id = Some(text(value)),
            _ => {}
        }
    }
    Frame {
        event,
        data: data.unwrap_or(Text::Owned(String::new())),
        id,
        raw,
    }
}

/// A line's field name and value (its one leading space dropped). The fields read
/// here are tried as prefixes first: on lines this short, a colon search costs more.
fn field(line: &[u8]) -> (&[u8], &[u8]) {
    let known = [&b"data"[..], b"event", b"id"]
        .into_iter()
        .find(|name| line.starts_with(name) && line.get(name.len()) == Some(&b':'));
    let (name, value) = match known {
        Some(name) => (name, &line[name.len() + 1..]),
        None => match memchr::memchr(b':', line) {
            Some(colon) => (&line[..colon], &line[colon + 1..]),
            // A name alone: its value is empty, and still a span of the line (a
            // slice from elsewhere would not be one of the frame's bytes).
            None => (line, &line[line.len()..]),
        },
    };
    (name, value.strip_prefix(b" ").unwrap_or(value))
}

/// Lines of an event, without their terminators (LF, CRLF or CR).
fn lines(raw: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = raw;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        match memchr::memchr2(b'\n', b'\r', rest) {
            Some(at) => {
                let line = &rest[..at];
                let skip = if rest[at] == b'\r' && rest.get(at + 1) == Some(&b'\n') {
                    2
                } else {
                    1
                };
                rest = &rest[at + skip..];
                Some(line)
            }
            None => {
                let line = rest;
                rest = &[];
                Some(line)
            }
        }
    })
}

/// Encode one event the way the Responses API does: `event:` line, one `data:` line, blank line.
pub fn encode(event: Option<&str>, data: &str) -> Bytes {
    let mut out = String::with_capacity(data.len() + 32);
    if let Some(event) = event {
        out.push_str("event: ");
        out.push_str(event);
        out.push('\n');
    }
    for line in data.split('\n') {
        out.push_str("data: ");
        out.push_str(line);
        out.push('\n');
    }
    out.push('\n');
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(chunks: &[&[u8]]) -> Vec<Frame> {
        let mut d = Decoder::new();
        let mut out = Vec::new();
        for c in chunks {
            d.push(c);
            while let Some(f) = d.next_frame() {
                out.push(f);
            }
        }
        out.extend(d.finish());
        out
    }

    const STREAM: &[u8] = b"event: response.created\ndata: {\"type\":\"response.created\"}\n\n: keep-alive\n\ndata: {\"a\":1}\n\n";

    #[test]
    fn splits_events_and_keeps_raw_bytes() {
        let frames = decode_all(&[STREAM]);
        assert_eq!(frames.len(), 3);
        assert_eq!(frames[0].event(), Some("response.created"));
        assert_eq!(frames[0].data(), "{\"type\":\"response.created\"}");
        assert!(!frames[1].has_data(), "a comment-only event has no data");
        assert_eq!(frames[2].data(), "{\"a\":1}");
        let joined: Vec<u8> = frames.iter().flat_map(|f| f.raw.to_vec()).collect();
        assert_eq!(joined, STREAM);
    }

    #[test]
    fn every_chunk_boundary_gives_the_same_events() {
        let whole = decode_all(&[STREAM]);
        for cut in 0..=STREAM.len() {
            let (a, b) = STREAM.split_at(cut);
            assert_eq!(decode_all(&[a, b]), whole, "cut at {cut}");
        }
        let bytes: Vec<&[u8]> = STREAM.chunks(1).collect();
        assert_eq!(decode_all(&bytes), whole, "one byte at a time");
    }

    #[test]
    fn crlf_and_cr_line_endings() {
        let crlf = b"event: x\r\ndata: one\r\n\r\ndata: two\r\n\r\n";
        let frames = decode_all(&[crlf]);
        assert_eq!(frames.len(), 2);
        assert_eq!(frames[0].event(), Some("x"));
        assert_eq!(frames[0].data(), "one");
        assert_eq!(frames[1].data(), "two");

        let cr = b"data: a\r\rdata: b\r\r";
        let frames = decode_all(&[cr]);
        assert_eq!(
            frames
                .iter()
                .map(|f| f.data().to_string())
                .collect::<Vec<_>>(),
            ["a", "b"]
        );
        // CRLF split between chunks must not end the event early.
        for cut in 0..crlf.len() {
            let (a, b) = crlf.split_at(cut);
            assert_eq!(decode_all(&[a, b]), decode_all(&[crlf]), "cut at {cut}");
        }
    }

    #[test]
    fn multi_line_data_and_field_rules() {
        let f = &decode_all(&[b"data: line one\ndata:line two\ndata\nid: 7\nretry: 10\n\n"])[0];
        assert_eq!(f.data(), "line one\nline two\n");
        assert_eq!(f.id(), Some("7"));
        assert_eq!(f.event(), None);
        // Names are whole: a longer name that starts like a known one is another field.
        let f = &decode_all(&[b"datax: no
ids: no
eventual: no
event:kind
data:  two spaces

"])[0];
        assert_eq!(f.data(), " two spaces");
        assert_eq!(f.event(), Some("kind"));
        assert_eq!(f.id(), None);
    }

    #[test]
    fn finish_returns_an_unterminated_tail() {
        let mut d = Decoder::new();
        d.push(b"data: complete\n\ndata: partial");
        assert_eq!(
            d.next_frame().map(|f| f.data().to_string()),
            Some("complete".into())
        );
        assert_eq!(d.next_frame(), None);
        let tail = d.finish().expect("tail");
        assert_eq!(tail.data(), "partial");
        assert_eq!(&tail.raw()[..], b"data: partial");
        assert_eq!(d.finish(), None);
    }

    #[test]
    fn invalid_utf8_is_replaced_not_fatal() {
        let f = &decode_all(&[b"data: \xff\xfe ok\n\n"])[0];
        assert!(f.data().ends_with(" ok"));
    }

    #[test]
    fn encode_round_trips_through_decode() {
        let bytes = encode(Some("response.output_text.delta"), "{\"x\":\"a\\nb\"}");
        let f = &decode_all(&[&bytes])[0];
        assert_eq!(f.event(), Some("response.output_text.delta"));
        assert_eq!(f.data(), "{\"x\":\"a\\nb\"}");
        let multi = encode(None, "a\nb");
        assert_eq!(&multi[..], b"data: a\ndata: b\n\n");
        assert_eq!(decode_all(&[&multi])[0].data(), "a\nb");
    }
}
