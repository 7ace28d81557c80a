//! Property tests of the structural JSON scanner (`wire::scan`) and the `/responses`
//! request outline (`wire::request`): arbitrary JSON, deeply nested JSON and broken
//! JSON never panic; on valid JSON the scanner and the parser see what serde_json sees,
//! and a parsed request is written back as the same JSON.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed assumption is a failed test

use std::fmt::Write as _;

use bytes::Bytes;
use codex_plus::wire::request::{json_text, ItemHead, RawJson, ResponsesRequest};
use codex_plus::wire::scan;
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::{Map, Value};

/// `cases` per property, or `PROPTEST_CASES` when set (for a longer run).
fn config(cases: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(cases);
    ProptestConfig {
        cases,
        // A failure is recorded as an `#[ignore]`d test by hand, not as a file.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------------------------
// Generators

/// Strings with what trips JSON scanners: quotes, backslashes (runs of them), control
/// characters, non-ASCII, and lengths around the 16- and 64-byte blocks the scanner
/// reads at once.
fn json_string() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[a-z _/]{0,20}",
        2 => "[\"\\\\a\u{1}\n\té😀\u{7f}\u{2028}]{0,24}",
        1 => any::<String>(),
        1 => (prop::collection::vec(prop::sample::select(vec!["\\", "\"", "\\\\", "a", "é", "x\"y"]), 0..120))
            .prop_map(|p| p.concat()),
    ]
}

fn json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        // Finite floats only: JSON has no others.
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        json_string().prop_map(Value::String),
    ]
}

fn object_of(inner: impl Strategy<Value = Value>, size: usize) -> impl Strategy<Value = Value> {
    prop::collection::vec((json_string(), inner), 0..size)
        .prop_map(|members| Value::Object(members.into_iter().collect::<Map<_, _>>()))
}

/// Any JSON value, nested a few levels.
fn json_value() -> impl Strategy<Value = Value> {
    json_leaf().prop_recursive(6, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            object_of(inner, 6),
        ]
    })
}

/// A history item: a Codex user message, or one shaped like the ones Codex sends (and
/// some that are not): `type`,
/// `role`, `id` and `content` in any order, content parts with or without `text`.
fn item() -> impl Strategy<Value = Value> {
    prop_oneof![2 => codex_user_message(), 3 => any_item()]
}

fn any_item() -> impl Strategy<Value = Value> {
    let kind = prop_oneof![
        4 => prop::sample::select(vec!["message", "function_call", "reasoning", "additional_tools", "function_call_output"])
            .prop_map(Value::from),
        1 => json_leaf(),
    ];
    let role = prop_oneof![
        4 => prop::sample::select(vec!["user", "assistant", "developer"]).prop_map(Value::from),
        1 => json_leaf(),
    ];
    let part = (
        prop::sample::select(vec!["input_text", "output_text", "input_image"]),
        prop::option::weighted(0.8, json_string()),
        prop::option::of(json_leaf()),
    )
        .prop_map(|(kind, text, extra)| {
            let mut part = Map::new();
            if let Some(extra) = extra {
                part.insert("detail".into(), extra);
            }
            part.insert("type".into(), Value::from(kind));
            if let Some(text) = text {
                part.insert("text".into(), Value::from(text));
            }
            Value::Object(part)
        });
    let members = (
        prop::option::weighted(0.9, kind),
        prop::option::weighted(0.9, role),
        prop::option::of(prop_oneof![
            json_string().prop_map(Value::from),
            json_leaf()
        ]),
        prop::option::weighted(
            0.9,
            prop::collection::vec(part, 0..4).prop_map(Value::Array),
        ),
        prop::option::of(json_value()),
    );
    members
        .prop_flat_map(|(kind, role, id, content, extra)| {
            let mut named: Vec<(&'static str, Value)> = Vec::new();
            named.extend(kind.map(|v| ("type", v)));
            named.extend(role.map(|v| ("role", v)));
            named.extend(id.map(|v| ("id", v)));
            named.extend(content.map(|v| ("content", v)));
            named.extend(extra.map(|v| ("output", v)));
            Just(named).prop_shuffle()
        })
        .prop_map(|members| {
            Value::Object(
                members
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v))
                    .collect(),
            )
        })
}

/// A prompt: often how slash commands and skills start, after whitespace of all kinds.
fn prompt() -> impl Strategy<Value = String> {
    prop_oneof![
        json_string(),
        (
            prop::sample::select(vec!["", " ", "\n\t ", "\u{a0}", " \u{2028}", "\r"]),
            prop::sample::select(vec!["/", "/re", "/review", "<skill>", "a", "é"]),
            "[a-z /]{0,8}",
        )
            .prop_map(|(space, head, tail)| format!("{space}{head}{tail}")),
    ]
}

/// A user message as Codex writes it: `type`, `role`, maybe `id`, then `content`
/// (the order the quick readers rely on), text parts after an image or two.
fn codex_user_message() -> impl Strategy<Value = Value> {
    (
        prop::option::of("[a-z_0-9]{1,8}"),
        prop::collection::vec(Just(()), 0..2),
        prop::collection::vec(prompt(), 0..3),
        any::<bool>(),
    )
        .prop_map(|(id, images, texts, assistant)| {
            let mut item = Map::new();
            item.insert("type".into(), Value::from("message"));
            item.insert(
                "role".into(),
                Value::from(if assistant { "assistant" } else { "user" }),
            );
            if let Some(id) = id {
                item.insert("id".into(), Value::from(id));
            }
            let mut parts: Vec<Value> = images
                .iter()
                .map(|_| serde_json::json!({"type": "input_image", "image_url": "data:x"}))
                .collect();
            parts.extend(
                texts
                    .into_iter()
                    .map(|t| serde_json::json!({"type": "input_text", "text": t})),
            );
            item.insert("content".into(), Value::Array(parts));
            Value::Object(item)
        })
}

/// A `/responses` body: the typed members with their types, other members with any
/// value, in any order.
fn request_value() -> impl Strategy<Value = Value> {
    let other = ("[a-z_]{1,12}", json_value()).prop_filter("not a typed member", |(k, _)| {
        !["model", "stream", "input", "tools"].contains(&k.as_str())
    });
    (
        prop::option::weighted(0.8, json_string()),
        prop::option::of(any::<bool>()),
        prop::option::weighted(
            0.9,
            prop::collection::vec(prop_oneof![3 => item(), 1 => json_value()], 0..6),
        ),
        prop::option::of(prop::collection::vec(json_value(), 0..4)),
        prop::collection::vec(other, 0..4),
    )
        .prop_flat_map(|(model, stream, input, tools, rest)| {
            let mut members: Vec<(String, Value)> = Vec::new();
            members.extend(model.map(|m| ("model".to_string(), Value::from(m))));
            members.extend(stream.map(|s| ("stream".to_string(), Value::from(s))));
            members.extend(input.map(|i| ("input".to_string(), Value::Array(i))));
            members.extend(tools.map(|t| ("tools".to_string(), Value::Array(t))));
            for (k, v) in rest {
                if !members.iter().any(|(n, _)| *n == k) {
                    members.push((k, v));
                }
            }
            Just(members).prop_shuffle()
        })
        .prop_map(|members| Value::Object(members.into_iter().collect()))
}

/// JSON written with other choices than serde_json's: whitespace between tokens,
/// `\u` escapes for any character (surrogate pairs beyond the BMP), `\/`. `style`
/// drives the choices, cyclically; `escape_keys: false` writes keys as serde_json does.
struct Writer<'a> {
    style: &'a [u8],
    at: usize,
    escape_keys: bool,
    out: String,
}

impl Writer<'_> {
    fn next(&mut self) -> u8 {
        if self.style.is_empty() {
            return 0;
        }
        let b = self.style[self.at % self.style.len()];
        self.at += 1;
        b
    }

    fn ws(&mut self) {
        let n = self.next();
        for k in 0..(n % 4) {
            self.out
                .push([' ', '\n', '\t', '\r'][usize::from((n >> (2 + k)) % 4)]);
        }
    }

    fn string(&mut self, s: &str, escape: bool) {
        if !escape {
            self.out.push_str(&Value::from(s).to_string());
            return;
        }
        self.out.push('"');
        for c in s.chars() {
            let choice = self.next() % 4;
            match c {
                '"' => self.out.push_str("\\\""),
                '\\' => self.out.push_str("\\\\"),
                '/' if choice == 0 => self.out.push_str("\\/"),
                '\n' if choice < 2 => self.out.push_str("\\n"),
                c if (c as u32) < 0x20 || choice == 3 => {
                    let mut units = [0u16; 2];
                    for unit in c.encode_utf16(&mut units) {
                        let _ = write!(self.out, "\\u{unit:04x}");
                    }
                }
                c => self.out.push(c),
            }
        }
        self.out.push('"');
    }

    fn value(&mut self, v: &Value) {
        match v {
            Value::String(s) => self.string(s, true),
            Value::Array(items) => {
                self.out.push('[');
                self.ws();
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        self.out.push(',');
                        self.ws();
                    }
                    self.value(item);
                    self.ws();
                }
                self.out.push(']');
            }
            Value::Object(map) => {
                self.out.push('{');
                self.ws();
                for (i, (k, item)) in map.iter().enumerate() {
                    if i > 0 {
                        self.out.push(',');
                        self.ws();
                    }
                    self.string(k, self.escape_keys);
                    self.ws();
                    self.out.push(':');
                    self.ws();
                    self.value(item);
                    self.ws();
                }
                self.out.push('}');
            }
            other => self.out.push_str(&other.to_string()),
        }
    }
}

fn write_styled(v: &Value, style: &[u8], escape_keys: bool) -> String {
    let mut w = Writer {
        style,
        at: 0,
        escape_keys,
        out: String::new(),
    };
    w.ws();
    w.value(v);
    w.ws();
    w.out
}

/// A value's text in one of the ways it can be written.
fn written(v: &Value, how: u8, style: &[u8]) -> String {
    match how % 4 {
        0 => v.to_string(),
        1 => serde_json::to_string_pretty(v).unwrap(),
        2 => write_styled(v, style, false),
        _ => write_styled(v, style, true),
    }
}

/// Bytes a little off valid JSON: some bytes replaced, inserted or removed, or the
/// text cut short.
fn mutate(text: &str, edits: &[(Index, u8, u8)]) -> Vec<u8> {
    const NEAR: &[u8] = b"\"\\{}[]:,tfn0-1e.+ \n\xff\xc3\x80";
    let mut b = text.as_bytes().to_vec();
    for (at, what, byte) in edits {
        let pick = NEAR[usize::from(*byte) % NEAR.len()];
        match what % 4 {
            0 if !b.is_empty() => {
                let i = at.index(b.len());
                b[i] = pick;
            }
            1 => {
                let i = at.index(b.len() + 1);
                b.insert(i, pick);
            }
            2 if !b.is_empty() => {
                let i = at.index(b.len());
                b.remove(i);
            }
            _ => {
                let i = at.index(b.len() + 1);
                b.truncate(i);
            }
        }
    }
    b
}

// ---------------------------------------------------------------------------------
// What serde_json says, to compare with

fn serde_view(b: &[u8]) -> Option<Value> {
    serde_json::from_slice(b).ok()
}

/// Whether serde_json reads `v` as a request the parser must accept: an object whose
/// typed members have their types.
fn shape_ok(v: &Value) -> bool {
    let Some(map) = v.as_object() else {
        return false;
    };
    map.get("model").is_none_or(Value::is_string)
        && map.get("stream").is_none_or(Value::is_boolean)
        && map.get("input").is_none_or(Value::is_array)
        && map.get("tools").is_none_or(Value::is_array)
}

fn str_field<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// Every reader of a raw item, on any bytes: none may panic.
fn poke_item(raw: &RawJson) {
    let _ = raw.head();
    let _ = raw.message_id("assistant");
    let _ = raw.message_id("user");
    let _ = raw.user_text();
    for max in [0, 1, 3, 7, 16, 100] {
        let _ = raw.user_text_head(max);
    }
    let _ = raw.user_text_starts_with("/");
    let _ = raw.user_text_starts_with("<skill>");
    let _ = raw.first_text();
    let _ = raw.message_text();
    let _ = raw.to_value();
    let _ = raw.as_str();
    let _ = raw.contains("message");
    let _ = json_text(raw.bytes());
    let _ = ItemHead::scan(raw.bytes(), 0);
}

/// Every entry point of the scanner and the parser, on any bytes: none may panic.
fn poke_all(b: &[u8]) {
    let start = scan::skip_ws(b, 0);
    let _ = scan::value_end(b, start);
    let _ = scan::object_members(b, start);
    let _ = scan::array_elements(b, start);
    let _ = scan::walk_object(b, start, |_, v| scan::value_end(b, v));
    for i in [0, b.len() / 2, b.len()] {
        let _ = scan::value_end(b, i);
        let _ = scan::expect_end(b, i);
    }
    let body = Bytes::copy_from_slice(b);
    if let Ok(req) = ResponsesRequest::parse(&body) {
        let _ = req.to_bytes();
        let _ = req.dialect();
        for item in &req.input {
            poke_item(item);
        }
    }
    poke_item(&RawJson::from_bytes_unchecked(body));
}

// ---------------------------------------------------------------------------------
// Properties

proptest! {
    #![proptest_config(config(256))]

    /// Any JSON value, however written: the scanner ends it where it ends, and its
    /// members and elements are the spans serde_json reads as them.
    #[test]
    fn scanner_spans_agree_with_serde_json(
        v in json_value(),
        how in any::<u8>(),
        style in prop::collection::vec(any::<u8>(), 0..16),
    ) {
        let text = written(&v, how, &style);
        let b = text.as_bytes();
        let start = scan::skip_ws(b, 0);
        let value_len = text.trim_end_matches([' ', '\n', '\t', '\r']).len();
        let end = scan::value_end(b, start);
        prop_assert_eq!(end.clone(), Ok(value_len), "{}", text);
        let end = end.unwrap();
        prop_assert_eq!(scan::expect_end(b, end), Ok(()));
        // Compared with serde_json's reading of the same text, not with `v`: without
        // its `float_roundtrip` feature a float may read back one ulp off.
        let seen = serde_view(b).unwrap();
        prop_assert_eq!(serde_view(&b[start..end]), Some(seen.clone()));

        // Something after the value does not change where it ends.
        let mut more = b[..end].to_vec();
        more.extend_from_slice(b", 1]");
        prop_assert_eq!(scan::value_end(&more, start), Ok(end));
        prop_assert!(scan::expect_end(&more, end).is_err());

        match &seen {
            Value::Object(map) => {
                let members = scan::object_members(b, start).unwrap();
                prop_assert_eq!(members.len(), map.len());
                for ((key, value), (name, expected)) in members.iter().zip(map) {
                    prop_assert_eq!(serde_view(&b[key.clone()]), Some(Value::from(name.as_str())));
                    prop_assert_eq!(serde_view(&b[value.clone()]), Some(expected.clone()));
                }
                prop_assert!(scan::array_elements(b, start).is_err());
            }
            Value::Array(items) => {
                let (spans, array_end) = scan::array_elements(b, start).unwrap();
                prop_assert_eq!(array_end, end);
                prop_assert_eq!(spans.len(), items.len());
                for (span, expected) in spans.iter().zip(items) {
                    prop_assert_eq!(serde_view(&b[span.clone()]), Some(expected.clone()));
                }
                prop_assert!(scan::object_members(b, start).is_err());
            }
            Value::String(s) => {
                let text = json_text(&b[start..end]).map(|t| t.into_owned());
                prop_assert_eq!(text.as_deref(), Some(s.as_str()));
            }
            _ => {}
        }
    }

    /// A container or string cut short anywhere is refused, never read as complete.
    #[test]
    fn a_cut_container_or_string_is_refused(
        v in json_value().prop_filter("container or string", |v| v.is_array() || v.is_object() || v.is_string()),
        how in any::<u8>(),
        style in prop::collection::vec(any::<u8>(), 0..16),
        cuts in prop::collection::vec(any::<Index>(), 1..6),
    ) {
        let text = written(&v, how, &style);
        let b = text.trim_matches([' ', '\n', '\t', '\r']).as_bytes();
        for cut in cuts {
            let cut = 1 + cut.index(b.len() - 1);
            prop_assert!(scan::value_end(&b[..cut], 0).is_err(), "{:?}", String::from_utf8_lossy(&b[..cut]));
        }
    }

    /// Broken JSON never panics, and whatever serde_json accepts the scanner accepts
    /// too, ending the value at the same place; a request serde_json reads with the
    /// right member types is parsed.
    #[test]
    fn near_json_never_panics_and_serde_valid_is_scanned(
        v in prop_oneof![json_value(), request_value(), item()],
        how in any::<u8>(),
        style in prop::collection::vec(any::<u8>(), 0..16),
        edits in prop::collection::vec((any::<Index>(), any::<u8>(), any::<u8>()), 1..4),
    ) {
        let text = written(&v, how, &style);
        let b = mutate(&text, &edits);
        poke_all(&b);
        if let Some(seen) = serde_view(&b) {
            let start = scan::skip_ws(&b, 0);
            let end = scan::value_end(&b, start);
            prop_assert!(end.is_ok(), "serde_json reads {:?}, the scanner refuses: {:?}", String::from_utf8_lossy(&b), end);
            prop_assert_eq!(scan::expect_end(&b, end.unwrap()), Ok(()));
            let parsed = ResponsesRequest::parse(&Bytes::from(b.clone()));
            if shape_ok(&seen) && !has_duplicate_typed_member(&b) {
                prop_assert!(parsed.is_ok(), "{:?}: {:?}", String::from_utf8_lossy(&b), parsed.err());
            }
            if parsed.is_ok() {
                prop_assert!(seen.is_object());
            }
        }
    }

    /// Arbitrary bytes (and arbitrary text) never panic anywhere.
    #[test]
    fn arbitrary_bytes_never_panic(b in prop_oneof![
        prop::collection::vec(any::<u8>(), 0..200),
        "\\PC{0,60}".prop_map(String::into_bytes),
        prop::collection::vec(prop::sample::select(b"{}[]\":,\\ tfnule0123456789.-+E".to_vec()), 0..200),
    ]) {
        poke_all(&b);
    }

    /// A valid request: `model`, `stream`, the items and tools, and the other members
    /// are what serde_json reads; the body written back is the same JSON, and the
    /// very same bytes when it came compact from serde_json.
    #[test]
    fn requests_agree_with_serde_json_and_round_trip(
        v in request_value(),
        how in any::<u8>(),
        style in prop::collection::vec(any::<u8>(), 0..16),
    ) {
        let text = written(&v, how, &style);
        let body = Bytes::from(text.clone());
        let req = ResponsesRequest::parse(&body);
        prop_assert!(req.is_ok(), "{}: {:?}", text, req.err());
        let req = req.unwrap();
        let seen: Value = serde_json::from_slice(&body).unwrap();

        prop_assert_eq!(req.model.as_deref(), str_field(&seen, "model"));
        prop_assert_eq!(req.stream, seen.get("stream").and_then(Value::as_bool));
        let items = seen.get("input").and_then(Value::as_array).cloned().unwrap_or_default();
        prop_assert_eq!(req.input.len(), items.len());
        let written_items = v.get("input").and_then(Value::as_array).cloned().unwrap_or_default();
        for ((raw, expected), item) in req.input.iter().zip(&items).zip(&written_items) {
            prop_assert_eq!(&raw.to_value(), expected);
            if how % 4 == 0 {
                // Each item is the exact bytes serde_json wrote for it.
                prop_assert_eq!(raw.as_str(), item.to_string());
            }
        }
        match seen.get("tools") {
            Some(Value::Array(tools)) => {
                let got: Vec<Value> = req.tools.as_ref().unwrap().iter().map(RawJson::to_value).collect();
                prop_assert_eq!(&got, tools);
            }
            _ => prop_assert!(req.tools.is_none()),
        }
        let rest: Vec<(String, Value)> = seen
            .as_object()
            .unwrap()
            .iter()
            .filter(|(k, _)| !["model", "stream", "input", "tools"].contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let got: Vec<(String, Value)> = req.rest.iter().map(|(k, v)| (k.clone(), v.to_value())).collect();
        prop_assert_eq!(got, rest);

        let again = req.to_bytes();
        let chunks: Vec<u8> = req.to_chunks().concat();
        prop_assert_eq!(&chunks[..], &again[..]);
        prop_assert!(again.len() <= req.size_hint());
        prop_assert_eq!(serde_view(&again), Some(seen.clone()));
        if how % 4 == 0 {
            prop_assert_eq!(&again[..], text.as_bytes(), "compact serde_json comes back byte for byte");
        }
        // And again: writing what was written changes nothing.
        let twice = ResponsesRequest::parse(&again).unwrap().to_bytes();
        prop_assert_eq!(twice, again);

        // A turn's edits in any spacing: an item and a long tool appended, the
        // rest sent from the body. The same JSON with them added.
        let mut edited = req.clone();
        let item = RawJson::from_value(&serde_json::json!({"type": "message", "role": "developer", "content": []}));
        edited.input.push(item.clone());
        let spec = RawJson::from_value(&serde_json::json!({"type": "function", "name": "Task", "description": "d".repeat(1500)}));
        let mut tools = edited.tools.clone().unwrap_or_default();
        tools.push(spec.clone());
        edited.set_tools(tools);
        let mut want = seen.clone();
        let mut items = items.clone();
        items.push(item.to_value());
        want["input"] = Value::Array(items);
        let mut tools = seen.get("tools").and_then(Value::as_array).cloned().unwrap_or_default();
        tools.push(spec.to_value());
        want["tools"] = Value::Array(tools);
        let out = edited.to_bytes();
        prop_assert_eq!(serde_view(&out), Some(want), "{}", text);
        prop_assert!(out.len() <= edited.size_hint());
    }

    /// Any JSON object: parsed exactly when its typed members have their types.
    #[test]
    fn parse_accepts_exactly_the_right_member_types(
        v in prop_oneof![
            request_value(),
            object_of(json_value(), 6),
            (object_of(json_value(), 4), prop::sample::select(vec!["model", "stream", "input", "tools"]), json_value())
                .prop_map(|(mut o, k, x)| { o.as_object_mut().unwrap().insert(k.into(), x); o }),
            json_value(),
        ],
        how in any::<u8>(),
        style in prop::collection::vec(any::<u8>(), 0..16),
    ) {
        let text = written(&v, how, &style);
        let parsed = ResponsesRequest::parse(&Bytes::from(text.clone()));
        prop_assert_eq!(parsed.is_ok(), shape_ok(&v), "{}: {:?}", text, parsed.err());
    }

    /// An item's head (`type`, `role`, `id`, ...) and message id are its top-level
    /// string members, as serde_json reads them; the head of a user text is the start
    /// of that text, and the whole of it when `max` covers the item.
    #[test]
    fn item_readers_agree_with_serde_json(
        v in item(),
        how in 0u8..3, // keys as Codex writes them: the readers match raw key bytes
        style in prop::collection::vec(any::<u8>(), 0..16),
        max in 0usize..64,
    ) {
        let text = written(&v, how, &style);
        let text = text.trim_matches([' ', '\n', '\t', '\r']).to_string();
        let raw = RawJson::from_bytes_unchecked(Bytes::from(text.clone()));
        let head = raw.head();
        prop_assert_eq!(head.kind.as_deref(), str_field(&v, "type"));
        prop_assert_eq!(head.role.as_deref(), str_field(&v, "role"));
        prop_assert_eq!(head.id.as_deref(), str_field(&v, "id"));
        prop_assert_eq!(head.name.as_deref(), None);

        let message_from = |role: &str| {
            (str_field(&v, "type") == Some("message") && str_field(&v, "role") == Some(role))
                .then(|| str_field(&v, "id"))
                .flatten()
        };
        for role in ["assistant", "user"] {
            let id = raw.message_id(role).map(|t| t.into_owned());
            prop_assert_eq!(id.as_deref(), message_from(role));
        }

        let is_user = str_field(&v, "type") == Some("message") && str_field(&v, "role") == Some("user");
        let first_text = v
            .get("content")
            .and_then(Value::as_array)
            .and_then(|parts| parts.iter().find_map(|p| p.get("text").and_then(Value::as_str)));
        let whole = raw.user_text();
        prop_assert_eq!(whole.as_deref(), is_user.then(|| first_text.unwrap_or("")));
        if let Some(head) = raw.user_text_head(max) {
            let whole = whole.as_deref();
            prop_assert!(whole.is_some_and(|w| w.starts_with(&*head)), "{:?} of {:?}", head, whole);
            // At most `max` bytes of it, and not much less unless that is all of it
            // (`max` counts JSON bytes; an escape is at most 6 of them per byte).
            prop_assert!(head.len() <= max, "{} bytes for max {}", head.len(), max);
            prop_assert!(Some(&*head) == whole || head.len() * 6 + 12 >= max, "{:?} for max {}", head, max);
        } else {
            prop_assert!(first_text.is_none() || !is_user, "a user text has a head: {}", text);
        }
        if is_user && first_text.is_some() {
            let head = raw.user_text_head(text.len()).map(|t| t.into_owned());
            prop_assert_eq!(head.as_deref(), first_text);
        }
        for prefix in ["/", "/re", "<skill>", "a"] {
            if let Some(starts) = raw.user_text_starts_with(prefix) {
                let expected = is_user && first_text.is_some_and(|t| t.trim_start().starts_with(prefix));
                prop_assert_eq!(starts, expected, "{:?} in {}", prefix, text);
            }
            // The exact form always answers as decoding the text's head would.
            let whole = raw.user_text_head(text.len() + 64).map(|t| t.trim_start().starts_with(prefix));
            prop_assert_eq!(raw.user_text_begins(prefix), whole, "{:?} in {}", prefix, text);
        }
    }
}

/// Whether the body repeats a typed member (serde_json keeps the last; the parser
/// refuses the body, which is right).
fn has_duplicate_typed_member(b: &[u8]) -> bool {
    let mut seen = Vec::new();
    let mut dup = false;
    let _ = scan::walk_object(b, scan::skip_ws(b, 0), |key, value| {
        if let Ok(name) = serde_json::from_slice::<String>(&b[key]) {
            if ["model", "stream", "input", "tools"].contains(&name.as_str()) {
                dup |= seen.contains(&name);
                seen.push(name);
            }
        }
        scan::value_end(b, value)
    });
    dup
}

/// Deep nesting: the scanner has no depth limit and no recursion; serde_json's limit
/// (128) is only used to check the answer when it can.
#[test]
fn deep_nesting_is_scanned_without_recursion() {
    proptest!(config(64), |(kinds in prop::collection::vec(any::<bool>(), 1..3000), cut in any::<Index>())| {
        let open: String = kinds.iter().map(|&o| if o { "{\"k\":" } else { "[" }).collect();
        let close: String = kinds.iter().rev().map(|&o| if o { "}" } else { "]" }).collect();
        let text = format!("{open}\"x\"{close}");
        let b = text.as_bytes();
        prop_assert_eq!(scan::value_end(b, 0), Ok(b.len()));
        if kinds.len() < 120 {
            prop_assert!(serde_view(b).is_some());
        }
        let cut = cut.index(b.len());
        prop_assert!(scan::value_end(&b[..cut], 0).is_err());
        let body = format!("{{\"input\":[{text}],\"model\":\"m\",\"x\":{text}}}");
        let req = ResponsesRequest::parse(&Bytes::from(body.clone())).unwrap();
        prop_assert_eq!(req.input.len(), 1);
        prop_assert_eq!(req.to_bytes(), Bytes::from(body));
        poke_item(&req.input[0]);
        // A bracket of the wrong kind anywhere is refused.
        let mut bad = b.to_vec();
        let at = open.len() + 3 + cut % close.len();
        bad[at] = if bad[at] == b']' { b'}' } else { b']' };
        prop_assert!(scan::value_end(&bad, 0).is_err());
    });
}
