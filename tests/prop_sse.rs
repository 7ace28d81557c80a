//! Property tests of the SSE decoder (`wire::sse`): any bytes in any chunking never
//! panic, the events do not depend on where the stream was cut, their raw bytes are the
//! stream, and the fields are what the WHATWG line rules (as the module documents them)
//! say. Generated streams of valid events come back event for event.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed assumption is a failed test

use codex_plus::wire::sse::{encode, Decoder, Frame};
use proptest::prelude::*;
use proptest::sample::Index;

/// `cases` per property, or `PROPTEST_CASES` when set (for a longer run).
fn config(cases: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(cases);
    ProptestConfig {
        cases,
        // Input skipped for the known bug (`BARE_FIELD_BUG`) must not abort long runs.
        max_global_rejects: cases.max(1024),
        // A failure is recorded as an `#[ignore]`d test by hand, not as a file.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// The cut points, sorted, within `0..=len`.
fn cuts(len: usize, at: &[Index]) -> Vec<usize> {
    let mut cuts: Vec<usize> = at.iter().map(|i| i.index(len + 1)).collect();
    cuts.sort_unstable();
    cuts
}

/// The frames `next_frame` gives while `input` arrives in pieces cut at `cuts`, and
/// what `finish` gives at the end.
fn decode(input: &[u8], cuts: &[usize]) -> (Vec<Frame>, Option<Frame>) {
    let mut d = Decoder::new();
    let mut frames = Vec::new();
    let mut from = 0;
    for &cut in cuts.iter().chain([&input.len()]) {
        d.push(&input[from..cut]);
        from = cut;
        while let Some(f) = d.next_frame() {
            frames.push(f);
        }
        // Whatever is held is exactly what no frame took yet.
        let taken: usize = frames.iter().map(|f| f.raw().len()).sum();
        assert_eq!(d.pending(), cut - taken, "pending after a push");
    }
    let tail = d.finish();
    assert!(d.finish().is_none(), "finish twice");
    assert_eq!(d.pending(), 0);
    (frames, tail)
}

fn all(input: &[u8], cuts: &[usize]) -> Vec<Frame> {
    let (mut frames, tail) = decode(input, cuts);
    frames.extend(tail);
    frames
}

/// An event's fields: `(event, data, id)`.
type Fields = (Option<String>, String, Option<String>);

fn fields(f: &Frame) -> Fields {
    (
        f.event().map(str::to_string),
        f.data().to_string(),
        f.id().map(str::to_string),
    )
}

fn has_fields(f: &Fields) -> bool {
    f.0.is_some() || !f.1.is_empty() || f.2.is_some()
}

/// The stream read line by line as the WHATWG rules say, written without the decoder's
/// tricks: lines end in CRLF, LF or CR; an empty line ends an event; the fields of each
/// event with any field, in order. (The event type and id are the event's own, as the
/// decoder reports them, not carried over as a browser would.)
fn reference(input: &[u8]) -> Vec<Fields> {
    let mut lines: Vec<&[u8]> = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < input.len() {
        match input[i] {
            b'\n' => {
                lines.push(&input[start..i]);
                i += 1;
                start = i;
            }
            b'\r' => {
                lines.push(&input[start..i]);
                i += if input.get(i + 1) == Some(&b'\n') {
                    2
                } else {
                    1
                };
                start = i;
            }
            _ => i += 1,
        }
    }
    let unterminated = (start < input.len()).then(|| &input[start..]);

    let mut out = Vec::new();
    let (mut event, mut data, mut id): (Option<String>, Option<String>, Option<String>) =
        (None, None, None);
    let mut dispatch =
        |event: &mut Option<String>, data: &mut Option<String>, id: &mut Option<String>| {
            let f = (event.take(), data.take().unwrap_or_default(), id.take());
            if has_fields(&f) {
                out.push(f);
            }
        };
    for line in lines.into_iter().chain(unterminated) {
        if line.is_empty() {
            dispatch(&mut event, &mut data, &mut id);
            continue;
        }
        if line[0] == b':' {
            continue;
        }
        let (name, value) = match line.iter().position(|&c| c == b':') {
            Some(colon) => (&line[..colon], &line[colon + 1..]),
            None => (line, &b""[..]),
        };
        let value = value.strip_prefix(b" ").unwrap_or(value);
        let value = String::from_utf8_lossy(value).into_owned();
        match name {
            b"data" => {
                data = Some(match data.take() {
                    Some(before) => before + "\n" + &value,
                    None => value,
                })
            }
            b"event" => event = Some(value),
            b"id" => id = Some(value),
            _ => {}
        }
    }
    dispatch(&mut event, &mut data, &mut id);
    out
}

/// The decoder panics on a bare `data`, `event` or `id` line, one without a colon
/// (`bare_field_name_line_does_not_panic`). Until that is fixed the properties skip
/// input with such a line, and generated events put a bare `data` line only after
/// another data line (where the decoder does not panic). Set to `false` once fixed.
const BARE_FIELD_BUG: bool = false;

/// Whether `input` has a line the known bug panics on (see `BARE_FIELD_BUG`).
fn hits_bare_field_bug(input: &[u8]) -> bool {
    BARE_FIELD_BUG
        && input
            .split(|&c| c == b'\n' || c == b'\r')
            .any(|line| matches!(line, b"data" | b"event" | b"id"))
}

/// How a blank line can end an event.
fn ends_with_blank_line(raw: &[u8]) -> bool {
    [
        &b"\n\n"[..],
        b"\r\r",
        b"\r\n\r\n",
        b"\n\r\n",
        b"\r\r\n",
        b"\n\r",
        b"\r\n\n",
    ]
    .iter()
    .any(|end| raw.ends_with(end))
}

/// Bytes that are mostly the ones SSE cares about.
fn sse_ish_bytes() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        4 => prop::sample::select(vec![
            &b"\n"[..], b"\r", b"\r\n", b"\n\n", b":", b": ", b" ", b"data", b"data:",
            b"data: ", b"event:", b"event: ", b"id:", b"id: ", b"retry: 5", b"x", b"{}",
            "é".as_bytes(), b"\xff", b"\xe2\x82", b"\xac",
        ])
        .prop_map(<[u8]>::to_vec),
        1 => any::<u8>().prop_map(|b| vec![b]),
    ];
    prop::collection::vec(piece, 0..60).prop_map(|p| p.concat())
}

/// One line of a generated event, and what it contributes.
#[derive(Debug, Clone)]
enum Line {
    Data {
        value: String,
        space: bool,
        colon: bool,
    },
    Event {
        value: String,
        space: bool,
    },
    Id {
        value: String,
    },
    Comment(String),
    /// A field the decoder does not read (`retry`, anything else).
    Other {
        name: String,
        value: String,
    },
}

/// Text of a field value: no line break in it; spaces, colons, non-ASCII welcome.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        "[ -~]{0,12}",
        "[ :a-z\"{}é😀\u{0}\t]{0,12}",
        "\\PC{0,8}".prop_map(|s: String| s.replace(['\r', '\n'], "")),
    ]
}

fn line() -> impl Strategy<Value = Line> {
    prop_oneof![
        4 => (value(), any::<bool>(), prop::bool::weighted(0.9)).prop_map(|(value, space, colon)| Line::Data {
            // `data` without a colon is a data line with an empty value.
            value: if colon { value } else { String::new() },
            space,
            colon,
        }),
        2 => (value(), any::<bool>()).prop_map(|(value, space)| Line::Event { value, space }),
        1 => value().prop_map(|value| Line::Id { value }),
        1 => value().prop_map(Line::Comment),
        1 => ("[a-z]{1,6}", value())
            .prop_filter("a field the decoder reads", |(n, _)| !["data", "event", "id"].contains(&n.as_str()))
            .prop_map(|(name, value)| Line::Other { name, value }),
    ]
}

impl Line {
    fn text(&self) -> String {
        let sp = |space: bool| if space { " " } else { "" };
        match self {
            Line::Data { colon: false, .. } => "data".to_string(),
            Line::Data { value, space, .. } => format!("data:{}{value}", sp(*space)),
            Line::Event { value, space } => format!("event:{}{value}", sp(*space)),
            Line::Id { value } => format!("id: {value}"),
            Line::Comment(text) => format!(":{text}"),
            Line::Other { name, value } => format!("{name}: {value}"),
        }
    }

    /// The value as read: one leading space after the colon dropped.
    fn read(value: &str, space: bool) -> String {
        if space {
            value.to_string()
        } else {
            value.strip_prefix(' ').unwrap_or(value).to_string()
        }
    }
}

const EOLS: [&str; 3] = ["\n", "\r\n", "\r"];

/// A generated event: its lines with their line ends, and how its blank line ends.
#[derive(Debug, Clone)]
struct Event {
    lines: Vec<(Line, usize)>,
    blank: usize,
}

impl Event {
    /// The bytes; `terminated: false` leaves the blank line (and maybe the last line
    /// end) off, as a stream cut short at its end does.
    fn bytes(&self, terminated: bool, last_eol: bool) -> String {
        let mut out = String::new();
        let n = self.lines.len();
        for (k, (line, eol)) in self.lines.iter().enumerate() {
            out.push_str(&line.text());
            if terminated || last_eol || k + 1 < n {
                out.push_str(EOLS[*eol]);
            }
        }
        if terminated {
            // A CR line end followed by a LF blank line would read as one CRLF.
            let blank = match (self.lines.last().map(|l| l.1), self.blank) {
                (Some(2), 0) => 2,
                (_, b) => b,
            };
            out.push_str(EOLS[blank]);
        }
        out
    }

    fn expected(&self) -> Fields {
        let (mut event, mut data, mut id) = (None, None::<String>, None);
        for (line, _) in &self.lines {
            match line {
                Line::Data { value, space, .. } => {
                    let v = Line::read(value, *space);
                    data = Some(match data {
                        Some(d) => d + "\n" + &v,
                        None => v,
                    });
                }
                Line::Event { value, space } => event = Some(Line::read(value, *space)),
                Line::Id { value } => id = Some(value.clone()),
                Line::Comment(_) | Line::Other { .. } => {}
            }
        }
        (event, data.unwrap_or_default(), id)
    }
}

fn event() -> impl Strategy<Value = Event> {
    (prop::collection::vec((line(), 0..3usize), 1..6), 0..3usize).prop_map(|(mut lines, blank)| {
        if BARE_FIELD_BUG {
            if let Some((Line::Data { colon, .. }, _)) = lines
                .iter_mut()
                .find(|(l, _)| matches!(l, Line::Data { .. }))
            {
                *colon = true;
            }
        }
        Event { lines, blank }
    })
}

/// Events, each ended by a blank line, and maybe a last one the stream ends in
/// (with or without its last line end).
fn stream() -> impl Strategy<Value = (Vec<Event>, Option<(Event, bool)>)> {
    (
        prop::collection::vec(event(), 0..8),
        prop::option::weighted(0.4, (event(), any::<bool>())),
    )
}

proptest! {
    #![proptest_config(config(512))]

    /// Any bytes, cut anywhere: no panic; the same events as one push and as a
    /// byte-by-byte feed; the raw bytes are the stream; the fields follow the line rules.
    #[test]
    fn any_bytes_in_any_chunks(
        input in prop_oneof![sse_ish_bytes(), prop::collection::vec(any::<u8>(), 0..256)],
        at in prop::collection::vec(any::<Index>(), 0..8),
    ) {
        prop_assume!(!hits_bare_field_bug(&input));
        let cuts = cuts(input.len(), &at);
        let whole = all(&input, &[]);
        let chunked = all(&input, &cuts);
        prop_assert_eq!(&chunked, &whole);
        let bytewise: Vec<usize> = (0..input.len()).collect();
        prop_assert_eq!(&all(&input, &bytewise), &whole);

        let joined: Vec<u8> = whole.iter().flat_map(|f| f.raw().to_vec()).collect();
        prop_assert_eq!(&joined, &input, "the raw bytes are the stream");

        let (frames, tail) = decode(&input, &cuts);
        for f in &frames {
            prop_assert!(ends_with_blank_line(f.raw()), "{:?}", f.raw());
            // Parsing an event's bytes again gives the same event, and they hold one event.
            prop_assert_eq!(&Frame::new(f.raw().clone()), f);
            prop_assert_eq!(&all(f.raw(), &[]), &vec![f.clone()]);
        }
        if let Some(tail) = &tail {
            prop_assert!(!tail.raw().is_empty());
            prop_assert_eq!(&Frame::new(tail.raw().clone()), tail);
        }

        let got: Vec<Fields> = whole.iter().map(fields).filter(has_fields).collect();
        prop_assert_eq!(got, reference(&input));
        for f in &whole {
            prop_assert_eq!(f.has_data(), !f.data().is_empty());
        }
    }

    /// Generated events (`event:`/`data:`/`id:` lines, comments, other fields,
    /// multi-line data, LF, CRLF and CR line ends) come back one frame per event with
    /// the event's exact bytes and fields, wherever the stream is cut.
    #[test]
    fn generated_events_round_trip(
        (events, tail) in stream(),
        at in prop::collection::vec(any::<Index>(), 0..10),
    ) {
        let mut input = String::new();
        let mut expected_raw = Vec::new();
        let mut expected = Vec::new();
        for e in &events {
            let bytes = e.bytes(true, true);
            input.push_str(&bytes);
            expected_raw.push(bytes);
            expected.push(e.expected());
        }
        if let Some((e, last_eol)) = &tail {
            let bytes = e.bytes(false, *last_eol);
            input.push_str(&bytes);
            expected_raw.push(bytes);
            expected.push(e.expected());
        }
        let input = input.into_bytes();
        prop_assume!(!hits_bare_field_bug(&input));
        let cuts = cuts(input.len(), &at);
        let (mut frames, end) = decode(&input, &cuts);
        // Every complete event is out before the end of the stream, except one whose
        // blank line is a lone CR (it could still be the first half of a CRLF).
        let waits_for_crlf = input.ends_with(b"\r");
        let complete = events.len() - usize::from(tail.is_none() && waits_for_crlf && !events.is_empty());
        prop_assert_eq!(frames.len(), complete);
        frames.extend(end);
        let raw: Vec<String> = frames
            .iter()
            .map(|f| String::from_utf8(f.raw().to_vec()).unwrap())
            .collect();
        prop_assert_eq!(raw, expected_raw);
        let got: Vec<Fields> = frames.iter().map(fields).collect();
        prop_assert_eq!(got, expected);
    }

    /// `encode` writes what the decoder reads back, in one event.
    #[test]
    fn encode_round_trips(
        event in prop::option::of("[^\r\n]{0,16}"),
        data in "[^\r]{0,40}",
        at in prop::collection::vec(any::<Index>(), 0..6),
    ) {
        let bytes = encode(event.as_deref(), &data);
        let frames = all(&bytes, &cuts(bytes.len(), &at));
        prop_assert_eq!(frames.len(), 1);
        let f = &frames[0];
        prop_assert_eq!(f.raw(), &bytes);
        prop_assert_eq!(f.event(), event.as_deref());
        prop_assert_eq!(f.data(), data.as_str());
        prop_assert_eq!(f.id(), None);
    }
}

#[test]
fn reference_model_matches_known_streams() {
    // The model itself, against the module's own examples.
    assert_eq!(
        reference(b"data: line one\ndata:line two\ndata\nid: 7\nretry: 10\n\n"),
        [(None, "line one\nline two\n".into(), Some("7".into()))]
    );
    assert_eq!(
        reference(b"data: a\r\rdata: b\r\r"),
        [(None, "a".into(), None), (None, "b".into(), None)]
    );
}

/// BUG (src/wire/sse.rs, `parse_frame`, the `text` closure): a field line without a
/// colon (`data`, `event` or `id` alone, which the WHATWG rules read as the field with
/// an empty value) panics. `field` returns the value as the static `&b""[..]`, not a
/// slice of `raw`, so `value.as_ptr() as usize - base` underflows: "attempt to subtract
/// with overflow" in a debug build; in release the wrapped span makes `data()`,
/// `event()` or `id()` panic on an out-of-range slice instead. An upstream can send this.
#[test]
fn bare_field_name_line_does_not_panic() {
    for input in [&b"data\n\n"[..], b"event\n\n", b"id\n\n", b"data"] {
        let frames = all(input, &[]);
        assert_eq!(frames.len(), 1);
        assert_eq!(frames[0].data(), "");
        assert_eq!(frames[0].event(), (input == b"event\n\n").then_some(""));
        assert_eq!(frames[0].id(), (input == b"id\n\n").then_some(""));
    }
}
