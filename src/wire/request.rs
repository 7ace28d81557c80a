//! A `/responses` request body, parsed only as deep as the pipeline needs.
//!
//! Codex re-sends the whole history every turn, so bodies reach megabytes. The
//! members the pipeline works on are typed (`model`, `stream`, `input`, `tools`);
//! every other member, and every history item, stays raw JSON: parsing and
//! serialising them is a copy, and nothing unknown is lost. Members are written
//! back in their original order.

use std::borrow::Cow;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::scan::{self, ScanError};

/// Bytes of a message decoded to tell what it is (`<skill>`, `/command`, a prompt)
/// when its raw start cannot tell.
pub const LOOK_AHEAD: usize = 4096;

/// The body of `POST .../responses`.
#[derive(Debug, Clone, Default)]
pub struct ResponsesRequest {
    pub model: Option<String>,
    pub stream: Option<bool>,
    /// The history items.
    pub input: Vec<RawJson>,
    /// Top-level tools (classic dialect); `None` when the member is absent.
    pub tools: Option<Vec<RawJson>>,
    /// Every other member, raw, with its name.
    pub rest: Vec<(String, RawJson)>,
    order: Vec<Slot>,
    /// The body this was parsed from: what did not change is sent as slices of it.
    source: Bytes,
}

/// Where each member stood in the original body.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Slot {
    Model,
    Stream,
    Input,
    Tools,
    Rest(usize),
}

/// How the request offers tools to the model, in Codex's two dialects: classic models get a
/// top-level `tools` array; "lite" models get them inside an `additional_tools`
/// item at the start of `input`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Classic,
    Lite,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error(transparent)]
    Json(#[from] ScanError),
    #[error("invalid member {member}: {cause}")]
    Member { member: String, cause: String },
    #[error("duplicate member {0}")]
    Duplicate(String),
    #[error("request body is not UTF-8")]
    NotUtf8,
}

impl ResponsesRequest {
    /// Outlines the body; members and items are zero-copy slices of it.
    pub fn parse(body: &Bytes) -> Result<Self, ParseError> {
        let b = &body[..];
        // Every later look at the body borrows it as text; SIMD makes this check of a
        // multi-megabyte history several times cheaper than std's.
        simdutf8::basic::from_utf8(b).map_err(|_| ParseError::NotUtf8)?;
        // Codex sends a dozen members; sized once instead of grown member by member.
        let mut req = ResponsesRequest {
            source: body.clone(),
            rest: Vec::with_capacity(16),
            order: Vec::with_capacity(16),
            ..ResponsesRequest::default()
        };
        let end = scan::walk_object(b, 0, |key, value| {
            let name: Cow<str> =
                serde_json::from_slice(&b[key]).map_err(|e| ParseError::Member {
                    member: "(name)".into(),
                    cause: e.to_string(),
                })?;
            let typed = |what: &str| ParseError::Member {
                member: name.to_string(),
                cause: format!("expected {what}"),
            };
            let (slot, end) = match name.as_ref() {
                "model" => {
                    let end = scan::value_end(b, value)?;
                    req.model = Some(
                        serde_json::from_slice(&b[value..end]).map_err(|_| typed("a string"))?,
                    );
                    (Slot::Model, end)
                }
                "stream" => {
                    let end = scan::value_end(b, value)?;
                    req.stream = Some(
                        serde_json::from_slice(&b[value..end]).map_err(|_| typed("a boolean"))?,
                    );
                    (Slot::Stream, end)
                }
                "input" => {
                    let (items, end) =
                        elements(body, value).map_err(|_| typed("an array of items"))?;
                    req.input = items;
                    (Slot::Input, end)
                }
                "tools" => {
                    let (tools, end) = elements(body, value).map_err(|_| typed("an array"))?;
                    req.tools = Some(tools);
                    (Slot::Tools, end)
                }
                _ => {
                    let end = scan::value_end(b, value)?;
                    req.rest
                        .push((name.to_string(), RawJson(body.slice(value..end))));
                    (Slot::Rest(req.rest.len() - 1), end)
                }
            };
            if req.order.contains(&slot) {
                return Err(ParseError::Duplicate(name.into_owned()));
            }
            req.order.push(slot);
            Ok(end)
        })?;
        scan::expect_end(b, end)?;
        Ok(req)
    }

    /// The body as JSON, members in their original order, raw parts as they came.
    pub fn to_bytes(&self) -> Bytes {
        let chunks = self.to_chunks();
        if let [one] = chunks.as_slice() {
            return one.clone();
        }
        let mut out = Vec::with_capacity(chunks.iter().map(Bytes::len).sum());
        for chunk in &chunks {
            out.extend_from_slice(chunk);
        }
        Bytes::from(out)
    }

    /// `to_bytes` as the pieces it is made of: what the body it was parsed from
    /// holds unchanged (an unchanged history, often all of it but a few bytes) is a
    /// slice of that body, not a copy; the rest is written out.
    pub fn to_chunks(&self) -> Vec<Bytes> {
        let mut out = Chunks::new(&self.source);
        out.put(b"{");
        let mut first = true;
        let mut member = |out: &mut Chunks, name: &str| {
            if !std::mem::take(&mut first) {
                out.put(b",");
            }
            out.json(name);
            out.put(b":");
        };
        for slot in &self.order {
            match *slot {
                Slot::Model => {
                    member(&mut out, "model");
                    out.json(&self.model);
                }
                Slot::Stream => {
                    member(&mut out, "stream");
                    out.json(&self.stream);
                }
                Slot::Input => {
                    member(&mut out, "input");
                    out.array(&self.input);
                }
                Slot::Tools => {
                    member(&mut out, "tools");
                    match &self.tools {
                        Some(tools) => out.array(tools),
                        None => out.put(b"null"),
                    }
                }
                Slot::Rest(i) => {
                    let (name, value) = &self.rest[i];
                    member(&mut out, name);
                    out.raw(&value.0);
                }
            }
        }
        if !self.order.contains(&Slot::Input) && !self.input.is_empty() {
            member(&mut out, "input");
            out.array(&self.input);
        }
        out.put(b"}");
        out.finish()
    }

    /// At least the length of `to_bytes()`.
    pub fn size_hint(&self) -> usize {
        let mut from_source = 0;
        let mut len = |raw: &Bytes| {
            if offset_in(&self.source, raw).is_some() {
                from_source += raw.len();
            }
            raw.len()
        };
        let mut values = 0;
        for item in self.input.iter().chain(self.tools.iter().flatten()) {
            values += len(&item.0) + 1;
        }
        for (k, v) in &self.rest {
            values += k.len() * 6 + len(&v.0) + 4;
        }
        let model = self.model.as_ref().map_or(0, |m| m.len() * 6);
        // The source's own spacing between members and items may go out with it.
        let spacing = self.source.len().saturating_sub(from_source);
        values + spacing + model + 64
    }

    pub fn dialect(&self) -> Dialect {
        match self.input.first() {
            Some(item) if item.head().kind.as_deref() == Some("additional_tools") => Dialect::Lite,
            _ => Dialect::Classic,
        }
    }

    /// A raw member other than the typed ones.
    pub fn member(&self, key: &str) -> Option<&RawJson> {
        self.rest.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// Sets (or adds) a raw member other than the typed ones.
    pub fn set_member(&mut self, key: &str, value: RawJson) {
        match self.rest.iter_mut().find(|(k, _)| k == key) {
            Some((_, v)) => *v = value,
            None => {
                self.order.push(Slot::Rest(self.rest.len()));
                self.rest.push((key.to_string(), value));
            }
        }
    }

    /// Sets `tools`, adding the member if the body had none.
    pub fn set_tools(&mut self, tools: Vec<RawJson>) {
        if !self.order.contains(&Slot::Tools) {
            self.order.push(Slot::Tools);
        }
        self.tools = Some(tools);
    }

    pub fn set_model(&mut self, model: String) {
        if !self.order.contains(&Slot::Model) {
            self.order.push(Slot::Model);
        }
        self.model = Some(model);
    }
}

fn elements(body: &Bytes, start: usize) -> Result<(Vec<RawJson>, usize), ScanError> {
    let (spans, end) = scan::array_elements(body, start)?;
    Ok((
        spans.into_iter().map(|r| RawJson(body.slice(r))).collect(),
        end,
    ))
}

/// Raw values shorter than this that do not continue the slice before them are
/// copied: a slice of their own would cost more than the copy.
const SLICE_MIN: usize = 16 * 1024;

/// Values of the source at least this long are sent from it when what was
/// written before them can be found in it too (see `Chunks::rejoin`).
const REJOIN_MIN: usize = 256;

/// Added values at least this long go as chunks of their own, not copied.
const SHARE_MIN: usize = 1024;

/// JSON's whitespace between tokens.
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\n' | b'\r' | b'\t')
}

/// A body being written as slices of its source with the bytes written between
/// them. A slice grows over whatever is written next when the source holds
/// exactly those bytes there, so an unchanged stretch is one slice, however many
/// items and separators it was written as.
struct Chunks<'a> {
    source: &'a Bytes,
    done: Vec<Bytes>,
    /// The slice of `source` being grown (empty at the start).
    open: std::ops::Range<usize>,
    /// What was written after `open`.
    written: Vec<u8>,
}

impl<'a> Chunks<'a> {
    fn new(source: &'a Bytes) -> Chunks<'a> {
        Chunks {
            source,
            done: Vec::with_capacity(4),
            open: 0..0,
            // What a turn adds (the Task tool, the status line) and the tools copied
            // after it fit in a few KiB: room for them up front, not grown byte by byte.
            written: Vec::with_capacity(8 * 1024),
        }
    }

    fn put(&mut self, bytes: &[u8]) {
        self.written.extend_from_slice(bytes);
    }

    fn json<T: Serialize + ?Sized>(&mut self, value: &T) {
        // Strings, booleans and options of them always serialise.
        let _ = serde_json::to_writer(&mut self.written, value);
    }

    fn raw(&mut self, value: &Bytes) {
        match offset_in(self.source, value) {
            Some(start) if self.continues_at(start) => {
                self.open.end = start + value.len();
                self.written.clear();
            }
            Some(start) if value.len() >= REJOIN_MIN => {
                // What was written last (`],"tools":[` after an added item) is most
                // often the source's own bytes right before this value: the slice
                // starts there, and the values after it continue it.
                let (from, kept) = self.rejoin(start);
                if kept < self.written.len() || value.len() >= SLICE_MIN {
                    self.written.truncate(kept);
                    self.close();
                    self.open = from..start + value.len();
                } else {
                    self.written.extend_from_slice(value);
                }
            }
            // What the proxy adds (the Task tool's spec) is shared, not copied.
            None if value.len() >= SHARE_MIN => {
                self.close();
                self.done.push(value.clone());
                // What follows may go on from the source where it stopped.
                self.open = self.open.end..self.open.end;
            }
            _ => self.written.extend_from_slice(value),
        }
    }

    fn array(&mut self, items: &[RawJson]) {
        self.put(b"[");
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                self.put(b",");
            }
            self.raw(&item.0);
        }
        self.put(b"]");
    }

    /// Whether the source holds what was written since the open slice, right after
    /// it and ending at `at`.
    fn continues_at(&self, at: usize) -> bool {
        self.source_match()
            .is_some_and(|end| end <= at && self.source[end..at].iter().all(|&b| is_space(b)))
    }

    /// Where the stretch of the source right after the open slice that holds what
    /// was written since ends. Whitespace between tokens is skipped: another
    /// encoder writes `", "` where this one writes `","`, and the body goes on as
    /// the client wrote it.
    fn source_match(&self) -> Option<usize> {
        let src = self.source.get(self.open.end..)?;
        let (mut i, mut j) = (0, 0);
        let (mut in_string, mut escaped) = (false, false);
        while let Some(&want) = self.written.get(j) {
            let got = *src.get(i)?;
            if got == want {
                if escaped {
                    escaped = false;
                } else if in_string && got == b'\\' {
                    escaped = true;
                } else if got == b'"' {
                    in_string = !in_string;
                }
                j += 1;
            } else if in_string || !is_space(got) {
                return None;
            }
            i += 1;
        }
        Some(self.open.end + i)
    }

    /// The longest end of what was written that the source holds right before
    /// `at` (whitespace between tokens aside): where that stretch starts in the
    /// source, and how much of `written` comes before it.
    fn rejoin(&self, at: usize) -> (usize, usize) {
        let floor = self.open.end;
        let (mut i, mut j) = (at, self.written.len());
        let structural = |b: u8| matches!(b, b',' | b':' | b'[' | b']' | b'{' | b'}');
        let mut matched = (at, j);
        while i > floor && j > 0 {
            let (got, want) = (self.source[i - 1], self.written[j - 1]);
            if got == want {
                i -= 1;
                j -= 1;
                matched = (i, j);
            } else if is_space(got)
                && (structural(want) || self.written.get(j).copied().is_some_and(structural))
            {
                i -= 1;
            } else {
                break;
            }
        }
        matched
    }

    fn close(&mut self) {
        if !self.open.is_empty() {
            self.done.push(self.source.slice(self.open.clone()));
        }
        if !self.written.is_empty() {
            let written = std::mem::replace(&mut self.written, Vec::with_capacity(1024));
            self.done.push(Bytes::from(written));
        }
    }

    fn finish(mut self) -> Vec<Bytes> {
        if let Some(end) = self.source_match() {
            self.open.end = end;
            self.written.clear();
        }
        self.close();
        self.done
    }
}

/// Where `part` starts in `source`, if it lies within it.
fn offset_in(source: &Bytes, part: &[u8]) -> Option<usize> {
    let start = (part.as_ptr() as usize).checked_sub(source.as_ptr() as usize)?;
    (start + part.len() <= source.len()).then_some(start)
}

/// The exact bytes of one JSON value (a history item, a tool, a member). Cheap to
/// clone; its head is parsed on demand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawJson(Bytes);

/// The fields of an item (or tool) the pipeline routes on. Everything else stays raw.
#[derive(Debug, Default)]
pub struct ItemHead<'a> {
    pub kind: Option<Cow<'a, str>>,
    pub role: Option<Cow<'a, str>>,
    pub id: Option<Cow<'a, str>>,
    pub name: Option<Cow<'a, str>>,
    pub call_id: Option<Cow<'a, str>>,
    pub namespace: Option<Cow<'a, str>>,
}

impl<'a> ItemHead<'a> {
    /// The routing fields of the object at `start`, and where the object ends. The
    /// other members are skipped by the scanner, which passes over long strings (a
    /// prompt, a tool output, encrypted reasoning) much faster than serde. A field
    /// that is not a string reads as absent.
    pub fn scan(b: &'a [u8], start: usize) -> Result<(ItemHead<'a>, usize), ScanError> {
        let mut head = ItemHead::default();
        let end = scan::walk_object(b, start, |key, value| {
            let end = scan::value_end(b, value)?;
            let field = match &b[key] {
                br#""type""# => &mut head.kind,
                br#""role""# => &mut head.role,
                br#""id""# => &mut head.id,
                br#""name""# => &mut head.name,
                br#""call_id""# => &mut head.call_id,
                br#""namespace""# => &mut head.namespace,
                _ => return Ok(end),
            };
            *field = json_text(&b[value..end]);
            Ok::<_, ScanError>(end)
        })?;
        Ok((head, end))
    }
}

/// The text of a JSON string value (quotes included), borrowed unless it has
/// escapes; None for any other value or a malformed string.
pub fn json_text(value: &[u8]) -> Option<Cow<'_, str>> {
    let inner = value.strip_prefix(b"\"")?.strip_suffix(b"\"")?;
    if memchr::memchr(b'\\', inner).is_none() {
        // Values run to kilobytes (ids, names, arguments): SIMD past the first 64 bytes.
        return simdutf8::basic::from_utf8(inner).ok().map(Cow::Borrowed);
    }
    serde_json::from_slice::<Text>(value).ok().map(|t| t.0)
}

/// How the quick look at a user message's first text ends.
enum Head {
    /// Reached `content`: where its first text starts, if it is a user message
    /// with one.
    Found(Option<usize>),
    /// Members in an order other than Codex's (type and role before content).
    Unusual,
    /// Not well-formed: nothing to read.
    Broken,
}

impl From<ScanError> for Head {
    fn from(_: ScanError) -> Head {
        Head::Broken
    }
}

/// Where the first text of a user message starts (its opening quote), reading
/// only up to there: `type` and `role` must come before `content`, as Codex
/// writes them. None: not a user message, or one without text.
fn first_user_text_start(b: &[u8]) -> Head {
    if leading_type(b).is_some_and(|t| t != b"message") {
        return Head::Found(None);
    }
    let (mut kind, mut role) = (None, None);
    let walked = scan::walk_object(b, 0, |key, value| {
        let field = match &b[key] {
            br#""content""# => {
                // Stop here: the text is what might be megabytes.
                return Err(match (kind.as_deref(), role.as_deref()) {
                    (Some("message"), Some("user")) => Head::Found(first_part_text(b, value)?),
                    (Some(_), Some(_)) => Head::Found(None),
                    _ => Head::Unusual,
                });
            }
            br#""type""# => &mut kind,
            br#""role""# => &mut role,
            _ => return Ok(scan::value_end(b, value)?),
        };
        let end = scan::value_end(b, value)?;
        *field = json_text(&b[value..end]);
        if kind.as_deref().is_some_and(|k| k != "message")
            || role.as_deref().is_some_and(|r| r != "user")
        {
            // Some other item (a tool output can be megabytes): no need to read on.
            return Err(Head::Found(None));
        }
        Ok::<_, Head>(end)
    });
    match walked {
        Err(head) => head,
        // No content: not a message with text.
        Ok(_) => Head::Found(None),
    }
}

/// The `type` of an item that starts `{"type":"…"` with no escape in it, as Codex
/// writes every item: most items are told apart by this alone, before any walk.
fn leading_type(b: &[u8]) -> Option<&[u8]> {
    let rest = b.strip_prefix(br#"{"type":""#)?;
    let end = memchr::memchr2(b'"', b'\\', rest)?;
    (rest[end] == b'"').then(|| &rest[..end])
}

/// Whether the JSON string whose opening quote is at `at` starts with `prefix`
/// after leading whitespace; None when the raw bytes cannot tell (see
/// `RawJson::user_text_starts_with`).
fn raw_text_starts_with(b: &[u8], at: usize, prefix: &str) -> Option<bool> {
    let mut i = at + 1;
    loop {
        match b.get(i..)? {
            [b' ', ..] => i += 1,
            [b'\\', b'n' | b'r' | b't', ..] => i += 2,
            _ => break,
        }
    }
    for (k, &want) in prefix.as_bytes().iter().enumerate() {
        match *b.get(i)? {
            b'\\' => return None,
            // Maybe whitespace that `trim_start` would skip.
            c if k == 0 && !c.is_ascii() => return None,
            c if c == want && c != b'"' => i += 1,
            _ => return Some(false),
        }
    }
    Some(true)
}

/// The opening quote of the first content part's `text`, parts before it skipped.
fn first_part_text(b: &[u8], start: usize) -> Result<Option<usize>, ScanError> {
    /// Ends the walk of a part at its text.
    enum Stop {
        Text(usize),
        Scan(ScanError),
    }
    impl From<ScanError> for Stop {
        fn from(e: ScanError) -> Stop {
            Stop::Scan(e)
        }
    }
    let mut i = scan::skip_ws(b, start);
    if b.get(i) != Some(&b'[') {
        return Ok(None);
    }
    i = scan::skip_ws(b, i + 1);
    while b.get(i) == Some(&b'{') {
        let walked = scan::walk_object(b, i, |key, value| {
            if &b[key] == br#""text""# && b.get(value) == Some(&b'"') {
                return Err(Stop::Text(value));
            }
            Ok(scan::value_end(b, value)?)
        });
        match walked {
            Err(Stop::Text(at)) => return Ok(Some(at)),
            Err(Stop::Scan(e)) => return Err(e),
            Ok(end) => i = scan::skip_ws(b, end),
        }
        match b.get(i) {
            Some(b',') => i = scan::skip_ws(b, i + 1),
            _ => return Ok(None),
        }
    }
    Ok(None)
}

/// The decoded start of the JSON string whose opening quote begins `b`: the whole
/// string when it ends within `max` bytes, else cut before `max` at an escape and
/// character boundary.
fn string_head(b: &[u8], max: usize) -> Cow<'_, str> {
    let window = &b[..b.len().min(max + 1)];
    let mut i = 1;
    let mut cut = None;
    while i < window.len() {
        match window[i] {
            b'"' => return json_text(&b[..=i]).unwrap_or_default(),
            b'\\' => {
                // A \u escape of a surrogate pair is 12 bytes; any other escape 2 or 6.
                let len = match window.get(i + 1) {
                    Some(b'u')
                        if matches!(window.get(i + 2), Some(b'd' | b'D'))
                            && matches!(
                                window.get(i + 3),
                                Some(b'8'..=b'9' | b'a'..=b'b' | b'A'..=b'B')
                            ) =>
                    {
                        12
                    }
                    Some(b'u') => 6,
                    _ => 2,
                };
                if i + len > window.len() {
                    cut = Some(i);
                    break;
                }
                i += len;
            }
            _ => i += 1,
        }
    }
    let mut cut = cut.unwrap_or(window.len());
    // Not inside a UTF-8 sequence.
    while cut > 1 && b.get(cut).is_some_and(|c| c & 0xC0 == 0x80) {
        cut -= 1;
    }
    let mut quoted = Vec::with_capacity(cut + 1);
    quoted.extend_from_slice(&b[..cut]);
    quoted.push(b'"');
    json_text(&quoted)
        .map(|t| Cow::Owned(t.into_owned()))
        .unwrap_or_default()
}

/// A JSON string, borrowed from the input unless it has escapes.
#[derive(Deserialize)]
struct Text<'a>(#[serde(borrow)] Cow<'a, str>);

/// An optional string that borrows from the input unless it has escapes. serde's
/// derive borrows a bare `Cow<str>` field but copies one inside an `Option`.
pub fn borrowed<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Cow<'de, str>>, D::Error> {
    Ok(Option::<Text<'de>>::deserialize(d)?.map(|t| t.0))
}

impl RawJson {
    pub fn from_value(value: &Value) -> RawJson {
        RawJson(Bytes::from(value.to_string()))
    }

    /// Bytes the caller knows to be one JSON value (for example a scanned span).
    pub fn from_bytes_unchecked(bytes: Bytes) -> RawJson {
        RawJson(bytes)
    }

    pub fn bytes(&self) -> &Bytes {
        &self.0
    }

    pub fn as_str(&self) -> &str {
        // Parsed bodies are checked UTF-8 and built values are Strings.
        simdutf8::basic::from_utf8(&self.0).unwrap_or("null")
    }

    /// The routing fields; a value that is not an object has an empty head. The
    /// other members are skipped by the scanner, which passes over long strings
    /// (a prompt, a tool output, encrypted reasoning) much faster than serde.
    pub fn head(&self) -> ItemHead<'_> {
        ItemHead::scan(&self.0, 0)
            .map(|(head, _)| head)
            .unwrap_or_default()
    }

    /// The `id` of a message item from `role`, read only as far as needed: any other
    /// item is known by its `type` or `role`, which Codex writes first, so its
    /// content (a tool output can be megabytes) is not scanned. Members in another
    /// order give the same answer, read the long way.
    pub fn message_id(&self, role: &str) -> Option<Cow<'_, str>> {
        /// Ends the walk: some other item, or not well-formed.
        struct NotIt;
        impl From<ScanError> for NotIt {
            fn from(_: ScanError) -> NotIt {
                NotIt
            }
        }
        let b = &self.0[..];
        if leading_type(b).is_some_and(|t| t != b"message") {
            return None;
        }
        let (mut kind, mut from, mut id) = (None, None, None);
        scan::walk_object(b, 0, |key, value| {
            let end = scan::value_end(b, value)?;
            let field = match &b[key] {
                br#""type""# => &mut kind,
                br#""role""# => &mut from,
                br#""id""# => &mut id,
                _ => return Ok(end),
            };
            *field = json_text(&b[value..end]);
            if kind.as_deref().is_some_and(|k| k != "message")
                || from.as_deref().is_some_and(|r| r != role)
            {
                return Err(NotIt);
            }
            Ok(end)
        })
        .ok()?;
        match (kind.as_deref(), from.as_deref()) {
            (Some("message"), Some(r)) if r == role => id,
            _ => None,
        }
    }

    pub fn to_value(&self) -> Value {
        serde_json::from_slice(&self.0).unwrap_or(Value::Null)
    }

    /// The text of a message item: its `input_text`/`output_text` parts joined.
    pub fn message_text(&self) -> Option<String> {
        Some(self.text_parts()?.concat())
    }

    /// The first text part of a message item, borrowed when it has no escapes: a
    /// prompt can be megabytes, and most callers only look at how it starts.
    pub fn first_text(&self) -> Option<Cow<'_, str>> {
        self.text_parts()?.into_iter().next()
    }

    /// The first text of a user message (empty when it has none); None for any
    /// other item.
    pub fn user_text(&self) -> Option<Cow<'_, str>> {
        let head = self.head();
        if head.kind.as_deref() != Some("message") || head.role.as_deref() != Some("user") {
            return None;
        }
        Some(self.first_text().unwrap_or_default())
    }

    /// The start of `user_text`: at most about `max` bytes of it, without reading
    /// the rest. Deciding what a prompt is (a slash command, a skill, a typed
    /// message) needs its first characters; the prompt itself can be megabytes.
    pub fn user_text_head(&self, max: usize) -> Option<Cow<'_, str>> {
        let b = &self.0[..];
        match first_user_text_start(b) {
            Head::Found(Some(at)) => Some(string_head(&b[at..], max)),
            Head::Found(None) | Head::Broken => None,
            // Not the order Codex writes: read it the long way.
            Head::Unusual => {
                let text = self.user_text()?;
                let mut cut = max.min(text.len());
                while !text.is_char_boundary(cut) {
                    cut -= 1;
                }
                Some(match text {
                    Cow::Borrowed(t) => Cow::Borrowed(&t[..cut]),
                    Cow::Owned(mut t) => {
                        t.truncate(cut);
                        Cow::Owned(t)
                    }
                })
            }
        }
    }

    /// Whether the first text of a user message starts with `prefix` (ASCII, after
    /// leading whitespace), read in the raw JSON: decoding even the head of each
    /// message costs more than the answer. None when the raw bytes cannot tell (an
    /// escape other than `\n`, `\r`, `\t` before the prefix ends, a non-ASCII
    /// first character, members out of Codex's order): `user_text_head` can.
    pub fn user_text_starts_with(&self, prefix: &str) -> Option<bool> {
        match first_user_text_start(&self.0) {
            Head::Found(Some(at)) => raw_text_starts_with(&self.0, at, prefix),
            Head::Found(None) | Head::Broken => Some(false),
            Head::Unusual => None,
        }
    }

    /// Whether this is a user message with text, and if so whether that text
    /// starts with `prefix` (ASCII, after leading whitespace). Exact, and on the
    /// request path cheap: the raw bytes decide, and only when they cannot is the
    /// text's head decoded.
    pub fn user_text_begins(&self, prefix: &str) -> Option<bool> {
        let raw = match first_user_text_start(&self.0) {
            Head::Found(Some(at)) => raw_text_starts_with(&self.0, at, prefix),
            Head::Found(None) | Head::Broken => return None,
            Head::Unusual => None,
        };
        raw.or_else(|| {
            let head = self.user_text_head(LOOK_AHEAD)?;
            Some(head.trim_start().starts_with(prefix))
        })
    }

    /// The `text` of each content part that has one, borrowed where unescaped;
    /// None when the value is not an object with a content list.
    fn text_parts(&self) -> Option<Vec<Cow<'_, str>>> {
        #[derive(Deserialize)]
        struct Msg<'a> {
            #[serde(borrow, default)]
            content: Vec<Part<'a>>,
        }
        #[derive(Deserialize)]
        struct Part<'a> {
            #[serde(borrow, default, deserialize_with = "borrowed")]
            text: Option<Cow<'a, str>>,
        }
        let msg: Msg = serde_json::from_slice(&self.0).ok()?;
        Some(msg.content.into_iter().filter_map(|p| p.text).collect())
    }

    pub fn contains(&self, needle: &str) -> bool {
        memchr::memmem::find(&self.0, needle.as_bytes()).is_some()
    }
}

impl Serialize for RawJson {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let raw = serde_json::value::RawValue::from_string(self.as_str().to_string())
            .map_err(serde::ser::Error::custom)?;
        raw.serialize(serializer)
    }
}

/// A request body Codex 0.169.0 really sent (`tests/fixtures/codex-0.169.0/<name>`).
#[cfg(test)]
pub fn fixture(name: &str) -> ResponsesRequest {
    let path = format!(
        "{}/tests/fixtures/codex-0.169.0/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let body = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    ResponsesRequest::parse(&Bytes::from(body)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_items_leading_type_is_read_raw_only_when_plain() {
        assert_eq!(
            leading_type(br#"{"type":"reasoning","summary":[]}"#),
            Some(&b"reasoning"[..])
        );
        // Escaped, spaced or later: the walk decides.
        assert_eq!(leading_type(br#"{"type":"mess\u0061ge"}"#), None);
        assert_eq!(leading_type(br#"{ "type":"message"}"#), None);
        assert_eq!(leading_type(br#"{"role":"user","type":"message"}"#), None);
        let item =
            |raw: &'static str| RawJson::from_bytes_unchecked(Bytes::from_static(raw.as_bytes()));
        let escaped = item(
            r#"{"type":"mess\u0061ge","role":"user","id":"m1","content":[{"type":"input_text","text":"<skill>x"}]}"#,
        );
        assert_eq!(escaped.message_id("user").as_deref(), Some("m1"));
        assert_eq!(escaped.user_text_starts_with("<skill>"), Some(true));
        let other = item(r#"{"type":"function_call_output","call_id":"c","output":"<skill>"}"#);
        assert_eq!(other.message_id("user"), None);
        assert_eq!(other.user_text_starts_with("<skill>"), Some(false));
    }

    #[test]
    fn a_raw_prefix_check_agrees_with_the_decoded_text() {
        // What `user_text_head` decodes decides; the raw check may only decline.
        let decoded = |item: &RawJson, prefix: &str| {
            item.user_text_head(prefix.len() + 256)
                .is_some_and(|head| head.trim_start().starts_with(prefix))
        };
        let pieces = [
            "",
            " ",
            "\n",
            "\t",
            "\r\n  ",
            "\u{a0}",
            "<environment_context>",
            "<environment",
            "<skill>",
            "é",
            "\"",
            "\\",
            "x",
            "<",
            "\u{1}",
        ];
        let mut rng = fastrand::Rng::with_seed(17);
        let mut answered = 0;
        for _ in 0..4000 {
            let text: String = (0..rng.usize(0..4))
                .map(|_| pieces[rng.usize(..pieces.len())])
                .collect();
            let part = json!({"type": "input_text", "text": text});
            let parts = match rng.u8(..4) {
                0 => json!([{"type": "input_image", "image_url": "data:"}, part]),
                _ => json!([part]),
            };
            let role = ["user", "user", "developer", "assistant"][rng.usize(..4)];
            let mut raw = match rng.u8(..6) {
                0 => json!({"content": parts, "role": role, "type": "message"}).to_string(),
                1 => json!({"type": "function_call_output", "call_id": "c", "output": text})
                    .to_string(),
                _ => json!({"type": "message", "role": role, "content": parts}).to_string(),
            };
            if rng.u8(..5) == 0 {
                // Another encoder's escapes: the same text.
                raw = raw.replace('<', "\\u003c");
            }
            let item = RawJson::from_bytes_unchecked(Bytes::from(raw));
            for prefix in ["<environment_context>", "<skill>"] {
                let want = decoded(&item, prefix);
                if let Some(got) = item.user_text_starts_with(prefix) {
                    assert_eq!(got, want, "{} with {prefix}", item.as_str());
                    answered += 1;
                }
                assert_eq!(
                    item.user_text_begins(prefix),
                    item.user_text_head(LOOK_AHEAD)
                        .map(|t| t.trim_start().starts_with(prefix)),
                    "{} with {prefix}",
                    item.as_str()
                );
            }
        }
        // Of 8,000 checks, about a third are items out of Codex's order or with
        // another encoder's escapes, which it must leave to the decoder.
        assert!(
            answered > 5000,
            "the raw check answers most items: {answered}"
        );
        let codex = RawJson::from_bytes_unchecked(Bytes::from_static(
            br#"{"type":"message","role":"user","content":[{"type":"input_text","text":"\n <environment_context>\n  <cwd>/w</cwd>"}]}"#,
        ));
        assert_eq!(
            codex.user_text_starts_with("<environment_context>"),
            Some(true)
        );
    }

    fn round_trip(v: &Value) -> Value {
        let req = ResponsesRequest::parse(&Bytes::from(v.to_string())).unwrap();
        serde_json::from_slice(&req.to_bytes()).unwrap()
    }

    #[test]
    fn round_trip_keeps_every_member_and_order() {
        let body = json!({
            "model": "gpt-5.5", "stream": true,
            "input": [{"type":"message","role":"user","content":[{"type":"input_text","text":"hi"}],"x_future":{"a":[1,2]}}],
            "tools": [{"type":"function","name":"exec_command","parameters":{}}],
            "tool_choice": "auto", "reasoning": null, "unknown_member": {"deep": [true, 1.5e3]}
        });
        assert_eq!(round_trip(&body), body);
        let text = String::from_utf8(
            ResponsesRequest::parse(&Bytes::from(body.to_string()))
                .unwrap()
                .to_bytes()
                .to_vec(),
        )
        .unwrap();
        let keys: Vec<&str> = [
            "\"model\"",
            "\"stream\"",
            "\"input\"",
            "\"tools\"",
            "\"tool_choice\"",
            "\"reasoning\"",
            "\"unknown_member\"",
        ]
        .to_vec();
        let positions: Vec<usize> = keys.iter().map(|k| text.find(k).unwrap()).collect();
        assert!(
            positions.windows(2).all(|w| w[0] < w[1]),
            "order kept: {text}"
        );
    }

    #[test]
    fn the_head_of_a_user_text_is_a_prefix_of_the_whole_text() {
        let mut rng = fastrand::Rng::with_seed(5);
        let pieces = [
            "plain ", "é", "😀", "\"", "\\", "\n", "\u{1}", "/cmd ", "<skill>",
        ];
        for round in 0..400 {
            let text: String = (0..rng.usize(0..40))
                .map(|_| pieces[rng.usize(..pieces.len())])
                .collect();
            let mut item = json!({"type": "message", "role": "user",
                                  "content": [{"type": "input_image", "image_url": "x"},
                                              {"type": "input_text", "text": text}]})
            .to_string();
            if round % 2 == 0 {
                // As a client that escapes everything outside ASCII writes it.
                item = item.replace('é', "\\u00e9").replace('😀', "\\ud83d\\ude00");
            }
            let raw = RawJson(Bytes::from(item));
            let whole = raw.user_text().unwrap();
            for max in [0, 1, 5, 13, 40, 1000] {
                let head = raw.user_text_head(max).unwrap();
                assert!(whole.starts_with(&*head), "{head:?} of {whole:?}");
                // `max` counts JSON bytes; an escape is at most 6 of them per byte.
                assert!(
                    head.len() == whole.len() || head.len() * 6 + 12 >= max,
                    "{max}: {head:?} of {whole:?}"
                );
            }
        }
    }

    #[test]
    fn the_head_needs_a_user_message_in_any_member_order() {
        let head = |v: Value| {
            RawJson::from_value(&v)
                .user_text_head(5)
                .map(|t| t.into_owned())
        };
        let text = json!([{"type": "input_text", "text": "hello world"}]);
        assert_eq!(
            head(json!({"type": "message", "role": "user", "content": text})).as_deref(),
            Some("hello")
        );
        // serde_json writes members sorted: content comes first.
        assert_eq!(
            head(json!({"content": text, "role": "user", "type": "message"})).as_deref(),
            Some("hello")
        );
        assert_eq!(
            head(json!({"type": "message", "role": "assistant", "content": text})),
            None
        );
        assert_eq!(
            head(json!({"type": "function_call_output", "output": "x"})),
            None
        );
        assert_eq!(
            head(json!({"type": "message", "role": "user", "content": []})).as_deref(),
            None
        );
    }

    #[test]
    fn real_codex_bodies_round_trip_byte_for_byte() {
        for name in ["lite-request.json", "classic-request.json"] {
            let path = format!(
                "{}/tests/fixtures/codex-0.169.0/{name}",
                env!("CARGO_MANIFEST_DIR")
            );
            let body = Bytes::from(std::fs::read(&path).unwrap());
            let req = ResponsesRequest::parse(&body).unwrap();
            assert!(req.input.len() > 3, "{name}: items outlined");
            let again = req.to_bytes();
            assert_eq!(
                serde_json::from_slice::<Value>(&again).unwrap(),
                serde_json::from_slice::<Value>(&body).unwrap(),
                "{name}: same JSON"
            );
            assert!(
                again == body,
                "{name}: Codex writes compact JSON, so the bytes match too"
            );
            assert!(
                again.len() <= req.size_hint(),
                "{name}: written in one buffer"
            );
            let mut edited = req.clone();
            edited.set_model("a \"quoted\" model \u{1}".into());
            edited.set_member("tool_choice", RawJson::from_value(&json!({"type": "x"})));
            edited
                .input
                .push(RawJson::from_value(&json!({"type": "message"})));
            assert!(
                edited.to_bytes().len() <= edited.size_hint(),
                "{name}: edited"
            );
        }
        let lite = Bytes::from(
            std::fs::read(format!(
                "{}/tests/fixtures/codex-0.169.0/lite-request.json",
                env!("CARGO_MANIFEST_DIR")
            ))
            .unwrap(),
        );
        assert_eq!(
            ResponsesRequest::parse(&lite).unwrap().dialect(),
            Dialect::Lite
        );
    }

    fn concat(chunks: &[Bytes]) -> Vec<u8> {
        chunks.iter().flat_map(|c| c.iter().copied()).collect()
    }

    /// Whether `part` is a view of `body`'s memory rather than a copy.
    fn is_slice_of(part: &Bytes, body: &Bytes) -> bool {
        offset_in(body, part).is_some()
    }

    #[test]
    fn an_unchanged_body_is_sent_as_itself() {
        for name in ["lite-request.json", "classic-request.json"] {
            let body = Bytes::from(
                std::fs::read(format!(
                    "{}/tests/fixtures/codex-0.169.0/{name}",
                    env!("CARGO_MANIFEST_DIR")
                ))
                .unwrap(),
            );
            let req = ResponsesRequest::parse(&body).unwrap();
            let chunks = req.to_chunks();
            assert_eq!(chunks.len(), 1, "{name}");
            assert_eq!(chunks[0], body, "{name}");
            assert!(is_slice_of(&chunks[0], &body), "{name}: not copied");

            // A tool added at the end: everything before it is still one slice.
            let mut edited = req.clone();
            let mut tools = edited.tools.clone().unwrap_or_default();
            tools.push(RawJson::from_value(
                &json!({"type": "function", "name": "Task"}),
            ));
            edited.set_tools(tools);
            let chunks = edited.to_chunks();
            assert_eq!(&concat(&chunks)[..], &edited.to_bytes()[..], "{name}");
            assert!(is_slice_of(&chunks[0], &body), "{name}");
            let copied: usize = chunks
                .iter()
                .filter(|c| !is_slice_of(c, &body))
                .map(Bytes::len)
                .sum();
            // The new tool, and the small members after it (the classic dialect
            // has a few), are written; the history is not. A long member after
            // it is sent from the body again.
            assert!(copied < 4096, "{name}: {copied} B copied");
            assert!(chunks.len() <= 3, "{name}: {} chunks", chunks.len());
            let value: Value = serde_json::from_slice(&concat(&chunks)).unwrap();
            let names: Vec<&str> = value["tools"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|t| t["name"].as_str())
                .collect();
            assert_eq!(names.last(), Some(&"Task"), "{name}");
        }
    }

    #[test]
    fn chunks_are_the_body_whatever_was_edited() {
        let big = |tag: &str| {
            json!({"type": "message", "role": "user", "content": [
            {"type": "input_text", "text": tag.repeat(SLICE_MIN / tag.len() + 1)}]})
        };
        let small = json!({"type": "reasoning", "summary": []});
        let compact = json!({"model": "m", "input": [big("a"), small, big("b"), big("c")],
            "tools": [], "stream": true})
        .to_string();
        let pretty =
            serde_json::to_string_pretty(&serde_json::from_str::<Value>(&compact).unwrap())
                .unwrap();
        for text in [compact, pretty] {
            let body = Bytes::from(text);
            let parsed = ResponsesRequest::parse(&body).unwrap();
            let edits: [fn(&mut ResponsesRequest); 5] = [
                |_| {},
                |r| r.set_model("other".into()),
                |r| drop(r.input.remove(1)),
                |r| r.input.swap(0, 3),
                |r| {
                    r.input
                        .insert(2, RawJson::from_value(&json!({"type": "x"})))
                },
            ];
            for (i, edit) in edits.iter().enumerate() {
                let mut req = parsed.clone();
                edit(&mut req);
                let chunks = req.to_chunks();
                let whole = concat(&chunks);
                let expected: Value = {
                    let mut v: Value = serde_json::from_slice(&body).unwrap();
                    let edited: Value = serde_json::from_slice(&whole).unwrap();
                    if i == 0 {
                        assert_eq!(edited, v, "edit {i}");
                    }
                    v["input"] = edited["input"].clone();
                    v["model"] = edited["model"].clone();
                    v
                };
                assert_eq!(serde_json::from_slice::<Value>(&whole).unwrap(), expected);
                assert!(chunks.iter().all(|c| !c.is_empty()), "edit {i}");
                assert!(chunks.len() <= 8, "edit {i}: {} chunks", chunks.len());
                // Each big item is sent from the body, never copied.
                let sliced: usize = chunks
                    .iter()
                    .filter(|c| is_slice_of(c, &body))
                    .map(Bytes::len)
                    .sum();
                assert!(sliced >= 3 * SLICE_MIN, "edit {i}: {sliced} B sliced");
            }
        }
    }

    #[test]
    fn a_spaced_body_appended_to_goes_out_as_its_own_bytes() {
        // Python's `json.dumps` spacing; nothing reaches SLICE_MIN.
        // A tool long enough to be sent from the body (REJOIN_MIN).
        let body = Bytes::from(
            r#"{"model": "m", "instructions": "be \"brief\"",
 "input": [{"type": "message", "role": "user", "content": []}, {"type": "x"}],
 "tools": [{"type": "function", "name": "a", "description": "DESC"}], "stream": true}
"#
            .replace("DESC", &"d".repeat(REJOIN_MIN)),
        );
        let mut req = ResponsesRequest::parse(&body).unwrap();
        let status = RawJson::from_value(&json!({"type": "message", "role": "developer"}));
        req.input.push(status.clone());
        let spec =
            RawJson::from_value(&json!({"name": "Task", "description": "d".repeat(SHARE_MIN)}));
        let mut tools = req.tools.take().unwrap();
        tools.push(spec.clone());
        req.set_tools(tools);
        let chunks = req.to_chunks();
        let whole = concat(&chunks);
        let mut expected: Value = serde_json::from_slice(&body).unwrap();
        expected["input"]
            .as_array_mut()
            .unwrap()
            .push(status.to_value());
        expected["tools"]
            .as_array_mut()
            .unwrap()
            .push(spec.to_value());
        assert_eq!(serde_json::from_slice::<Value>(&whole).unwrap(), expected);
        // Only what was added is written; the rest is the body's own bytes.
        let own: usize = chunks
            .iter()
            .filter(|c| is_slice_of(c, &body))
            .map(Bytes::len)
            .sum();
        let shared = chunks.iter().any(|c| c.as_ptr() == spec.bytes().as_ptr());
        assert!(shared, "the added spec is sent as it is, not copied");
        assert!(
            own + status.bytes().len() + spec.bytes().len() + 8 >= whole.len(),
            "{own} of {}",
            whole.len()
        );
        let at = body.iter().position(|&b| b == b'}').unwrap();
        assert_eq!(&whole[..at], &body[..at], "the spacing is kept");
    }

    #[test]
    fn unchanged_items_keep_their_exact_bytes() {
        let body = r#"{"input":[{"b": 1,  "a":"\u00e9"}],"model":"m"}"#;
        let req = ResponsesRequest::parse(&Bytes::from(body)).unwrap();
        assert_eq!(req.input[0].as_str(), r#"{"b": 1,  "a":"\u00e9"}"#);
        assert_eq!(
            String::from_utf8(req.to_bytes().to_vec()).unwrap(),
            r#"{"input":[{"b": 1,  "a":"\u00e9"}],"model":"m"}"#
        );
    }

    #[test]
    fn the_head_is_read_from_top_level_members_only() {
        let raw = |s: &str| RawJson::from_bytes_unchecked(Bytes::from(s.to_string()));
        let item = raw(
            r#"{"content":[{"type":"input_text","text":"x"}],"type":"message","role":"us\u0065r","id":7}"#,
        );
        let head = item.head();
        assert_eq!(head.kind.as_deref(), Some("message"), "not the nested type");
        assert_eq!(head.role.as_deref(), Some("user"), "escapes decoded");
        assert_eq!(head.id, None, "a number is not an id");
        assert!(matches!(head.kind, Some(Cow::Borrowed(_))));
        assert!(raw(r#"{"type":"message""#).head().kind.is_none(), "cut off");
        assert!(raw(r#"["type","message"]"#).head().kind.is_none());
        let user = raw(r#"{"type":"message","role":"user","content":[{"type":"input_image"}]}"#);
        assert_eq!(user.user_text().as_deref(), Some(""));
        assert_eq!(
            raw(r#"{"type":"message","role":"assistant","content":[]}"#).user_text(),
            None
        );
    }

    #[test]
    fn item_head_and_text() {
        let item = RawJson::from_value(&json!({"type":"message","role":"user","id":"m1",
            "content":[{"type":"input_text","text":"a"},{"type":"input_text","text":"b"}]}));
        let head = item.head();
        assert_eq!(head.kind.as_deref(), Some("message"));
        assert_eq!(head.role.as_deref(), Some("user"));
        assert_eq!(head.id.as_deref(), Some("m1"));
        assert_eq!(item.message_text().as_deref(), Some("ab"));
        assert_eq!(item.first_text().as_deref(), Some("a"));
        let escaped =
            RawJson::from_value(&json!({"content": [{"type": "input_text", "text": "a\n\"b\""}]}));
        assert_eq!(escaped.first_text().as_deref(), Some("a\n\"b\""));
        assert!(matches!(item.first_text(), Some(Cow::Borrowed(_))));
        let call = RawJson::from_value(
            &json!({"type":"function_call","name":"Task","namespace":"functions","call_id":"c1","arguments":"{}"}),
        );
        assert_eq!(call.head().name.as_deref(), Some("Task"));
        assert_eq!(call.head().namespace.as_deref(), Some("functions"));
        assert!(RawJson::from_value(&json!(42)).head().kind.is_none());
    }

    #[test]
    fn message_ids_by_role_in_any_member_order() {
        let raw = |s: &'static str| RawJson::from_bytes_unchecked(Bytes::from_static(s.as_bytes()));
        // Codex's order, id before or after the content.
        let early = raw(r#"{"type":"message","id":"msg_1","role":"assistant","content":[]}"#);
        let late = raw(
            r#"{"type":"message","role":"assistant","content":[{"text":"}"}],"id":"m\u005f2"}"#,
        );
        assert_eq!(early.message_id("assistant").as_deref(), Some("msg_1"));
        assert_eq!(late.message_id("assistant").as_deref(), Some("m_2"));
        assert_eq!(early.message_id("user"), None);
        // Sorted keys: role and type come last.
        let sorted = RawJson::from_value(&json!({"type":"message","role":"assistant","id":"s"}));
        assert_eq!(sorted.message_id("assistant").as_deref(), Some("s"));
        for other in [
            r#"{"type":"function_call_output","call_id":"c","output":"x","id":"o"}"#,
            r#"{"type":"message","role":"user","id":"u","content":[]}"#,
            r#"{"type":"message","role":"assistant","content":[]}"#,
            r#"{"type":"message","id":"n","content":[]}"#,
            r#"{"type":"message","role":"assistant","id":"b","content":["#,
            r#"42"#,
        ] {
            assert_eq!(raw(other).message_id("assistant"), None, "{other}");
        }
    }

    #[test]
    fn dialect_follows_the_first_item() {
        let lite = json!({"input":[{"type":"additional_tools","role":"developer","tools":[]}]});
        let classic = json!({"input":[{"type":"message","role":"user","content":[]}],"tools":[]});
        let p = |v: &Value| ResponsesRequest::parse(&Bytes::from(v.to_string())).unwrap();
        assert_eq!(p(&lite).dialect(), Dialect::Lite);
        assert_eq!(p(&classic).dialect(), Dialect::Classic);
    }

    #[test]
    fn edits_are_written_back_in_place() {
        let mut req =
            ResponsesRequest::parse(&Bytes::from_static(br#"{"model":"a","input":[],"x":1}"#))
                .unwrap();
        req.set_model("b".into());
        req.set_tools(vec![RawJson::from_value(&json!({"name":"Task"}))]);
        req.set_member("x", RawJson::from_value(&json!(2)));
        req.input
            .push(RawJson::from_value(&json!({"type":"message"})));
        assert_eq!(
            String::from_utf8(req.to_bytes().to_vec()).unwrap(),
            r#"{"model":"b","input":[{"type":"message"}],"x":2,"tools":[{"name":"Task"}]}"#
        );
    }

    #[test]
    fn not_a_request_is_an_error() {
        for bad in [
            &b"not json"[..],
            b"[1,2]",
            br#"{"model":"a","model":"b"}"#,
            br#"{"input":"text"}"#,
            br#"{"model":7}"#,
            b"{\"model\":\"\xff\"}",
            br#"{"input":[1,2}"#,
        ] {
            assert!(
                ResponsesRequest::parse(&Bytes::copy_from_slice(bad)).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
