//! A fast structural JSON scanner: where each value starts and ends, without
//! building it.
//!
//! Codex request bodies reach megabytes and the proxy needs only their outline
//! (top-level members, history item boundaries). serde_json validates every byte
//! on the way (~1 GB/s); this scanner jumps from quote to quote with `memchr`
//! (most of a history is strings) and checks the structure: balanced brackets,
//! closed strings, literal and number characters. What it does not check (escapes
//! and control characters inside strings, number grammar) reaches the upstream
//! exactly as the client wrote it, so the upstream judges it as before; strings the
//! proxy reads are decoded by serde_json, which checks them.

use std::ops::Range;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid JSON at byte {at}: {what}")]
pub struct ScanError {
    pub at: usize,
    pub what: &'static str,
}

fn err<T>(at: usize, what: &'static str) -> Result<T, ScanError> {
    Err(ScanError { at, what })
}

pub fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && matches!(b[i], b' ' | b'\n' | b'\r' | b'\t') {
        i += 1;
    }
    i
}

/// End (exclusive) of the string whose opening quote is at `start`.
///
/// Only quotes stop the search: a quote closes the string unless an odd run of
/// backslashes precedes it. Long sessions are dense with `\n` and `\\` escapes
/// (source code, shell output, JSON inside JSON), and stopping at each of them
/// cost more than the bytes between. Escapes are therefore not checked here; like
/// control characters, a malformed escape inside a string the proxy does not
/// decode reaches the upstream as the client wrote it.
fn string_end(b: &[u8], start: usize) -> Result<usize, ScanError> {
    let mut i = start + 1;
    loop {
        let Some(at) = next_quote(b, i) else {
            return err(start, "unterminated string");
        };
        let backslashes = b[start + 1..at]
            .iter()
            .rev()
            .take_while(|&&c| c == b'\\')
            .count();
        if backslashes % 2 == 0 {
            return Ok(at + 1);
        }
        i = at + 1;
    }
}

/// Words looked at in place before handing the search to `memchr`.
const NEAR_WORDS: usize = 2;

/// The first `"` at or after `from`. Keys and short values end within a few
/// bytes, where a `memchr` call costs more than the bytes: the next 16 bytes are
/// checked in place, eight at a time, and only a longer run goes to `memchr`.
fn next_quote(b: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    for _ in 0..NEAR_WORDS {
        let Some(word) = b.get(i..i + 8).and_then(|w| <[u8; 8]>::try_from(w).ok()) else {
            break;
        };
        let hits = quote_bits(u64::from_le_bytes(word));
        if hits != 0 {
            return Some(i + (hits.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    memchr::memchr(b'"', b.get(i..)?).map(|off| i + off)
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH_BITS: u64 = 0x8080_8080_8080_8080;

/// A word whose lowest set bit is the high bit of its first `"` byte
/// (little-endian), or 0. Bits above that one may be wrong; only it is used.
fn quote_bits(w: u64) -> u64 {
    let q = w ^ (ONES * u64::from(b'"'));
    q.wrapping_sub(ONES) & !q & HIGH_BITS
}

/// End (exclusive) of the value starting at `start` (no leading whitespace).
pub fn value_end(b: &[u8], start: usize) -> Result<usize, ScanError> {
    match b.get(start) {
        None => err(start, "expected a value"),
        Some(b'"') => string_end(b, start),
        Some(b'{' | b'[') => container_end(b, start),
        Some(b't') => literal(b, start, b"true"),
        Some(b'f') => literal(b, start, b"false"),
        Some(b'n') => literal(b, start, b"null"),
        Some(b'-' | b'0'..=b'9') => {
            let mut i = start + 1;
            while i < b.len() && matches!(b[i], b'0'..=b'9' | b'.' | b'e' | b'E' | b'+' | b'-') {
                i += 1;
            }
            Ok(i)
        }
        Some(_) => err(start, "unexpected character"),
    }
}

fn literal(b: &[u8], start: usize, word: &'static [u8]) -> Result<usize, ScanError> {
    if b[start..].starts_with(word) {
        Ok(start + word.len())
    } else {
        err(start, "bad literal")
    }
}

/// Brackets balanced, strings skipped, stray characters refused.
fn container_end(b: &[u8], start: usize) -> Result<usize, ScanError> {
    let mut stack: Vec<u8> = Vec::with_capacity(16);
    let mut i = start;
    while i < b.len() {
        match b[i] {
            b'"' => {
                i = string_end(b, i)?;
                continue;
            }
            b'{' => stack.push(b'}'),
            b'[' => stack.push(b']'),
            c @ (b'}' | b']') => {
                if stack.pop() != Some(c) {
                    return err(i, "mismatched bracket");
                }
                if stack.is_empty() {
                    return Ok(i + 1);
                }
            }
            b' ' | b'\n' | b'\r' | b'\t' | b',' | b':' => {}
            b't' | b'f' | b'n' | b'-' | b'0'..=b'9' => {
                i = value_end(b, i)?;
                continue;
            }
            _ => return err(i, "unexpected character"),
        }
        i += 1;
    }
    err(start, "unterminated container")
}

/// Walks the object starting at `start`, calling `value(name, value_start)` for each
/// member; the callback scans the value however it likes and returns where it ends.
/// Returns the end of the object. One pass over the bytes, whatever the callback does.
pub fn walk_object<E: From<ScanError>>(
    b: &[u8],
    start: usize,
    mut value: impl FnMut(Range<usize>, usize) -> Result<usize, E>,
) -> Result<usize, E> {
    let mut i = skip_ws(b, start);
    if b.get(i) != Some(&b'{') {
        return Err(ScanError {
            at: i,
            what: "expected an object",
        }
        .into());
    }
    i = skip_ws(b, i + 1);
    if b.get(i) == Some(&b'}') {
        return Ok(i + 1);
    }
    loop {
        if b.get(i) != Some(&b'"') {
            return Err(ScanError {
                at: i,
                what: "expected a member name",
            }
            .into());
        }
        let key_end = string_end(b, i)?;
        let key = i..key_end;
        i = skip_ws(b, key_end);
        if b.get(i) != Some(&b':') {
            return Err(ScanError {
                at: i,
                what: "expected ':'",
            }
            .into());
        }
        let v_end = value(key, skip_ws(b, i + 1))?;
        i = skip_ws(b, v_end);
        match b.get(i) {
            Some(b',') => i = skip_ws(b, i + 1),
            Some(b'}') => return Ok(i + 1),
            _ => {
                return Err(ScanError {
                    at: i,
                    what: "expected ',' or '}'",
                }
                .into())
            }
        }
    }
}

/// A member's name (with its quotes) and value, as byte ranges.
pub type Member = (Range<usize>, Range<usize>);

/// The members of the object starting at `start`.
pub fn object_members(b: &[u8], start: usize) -> Result<Vec<Member>, ScanError> {
    let mut out = Vec::new();
    walk_object(b, start, |key, v| {
        let end = value_end(b, v)?;
        out.push((key, v..end));
        Ok::<_, ScanError>(end)
    })?;
    Ok(out)
}

/// The elements of the array starting at `start`, and where the array ends.
pub fn array_elements(b: &[u8], start: usize) -> Result<(Vec<Range<usize>>, usize), ScanError> {
    let mut out = Vec::new();
    let mut i = skip_ws(b, start);
    if b.get(i) != Some(&b'[') {
        return err(i, "expected an array");
    }
    i = skip_ws(b, i + 1);
    if b.get(i) == Some(&b']') {
        return Ok((out, i + 1));
    }
    loop {
        let end = value_end(b, i)?;
        out.push(i..end);
        i = skip_ws(b, end);
        match b.get(i) {
            Some(b',') => i = skip_ws(b, i + 1),
            Some(b']') => return Ok((out, i + 1)),
            _ => return err(i, "expected ',' or ']'"),
        }
    }
}

/// Nothing but whitespace from `end` on.
pub fn expect_end(b: &[u8], end: usize) -> Result<(), ScanError> {
    if skip_ws(b, end) == b.len() {
        Ok(())
    } else {
        err(end, "trailing characters")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ends(s: &str) -> Result<usize, ScanError> {
        value_end(s.as_bytes(), 0)
    }

    #[test]
    fn values_end_where_serde_json_says() {
        for doc in [
            r#""plain""#,
            r#""esc \" \\ \/ \n \u00e9 end""#,
            r#"{"a":[1,-2.5e+3,true,false,null,{"b":"}]"}],"c":{}}"#,
            r#"[[[]],{},"]",""]"#,
            "123",
            "-0.5E-2",
        ] {
            assert_eq!(ends(doc), Ok(doc.len()), "{doc}");
            let _: serde_json::Value = serde_json::from_str(doc).unwrap();
        }
    }

    #[test]
    fn broken_structure_is_refused() {
        for bad in [
            r#""open"#,
            r#""ends escaped\""#,
            r#"{"a":1"#,
            r#"{"a":[1}"#,
            r#"[1,2]]"#.trim_end_matches(']'),
            r#"{"a":tru}"#,
            r#"{"a":nul}"#,
            r#"{"a":@}"#,
        ] {
            assert!(ends(bad).is_err(), "{bad} should fail");
        }
    }

    #[test]
    fn members_and_elements() {
        let doc = br#" { "k" : [ 1 , "x" , {"y":[]} ] , "z":null } "#;
        let members = object_members(doc, 0).unwrap();
        let text = |r: &Range<usize>| std::str::from_utf8(&doc[r.clone()]).unwrap();
        assert_eq!(members.len(), 2);
        assert_eq!(text(&members[0].0), "\"k\"");
        assert_eq!(text(&members[1].1), "null");
        let (elems, end) = array_elements(doc, members[0].1.start).unwrap();
        assert_eq!(end, members[0].1.end);
        assert_eq!(
            elems.iter().map(text).collect::<Vec<_>>(),
            ["1", "\"x\"", "{\"y\":[]}"]
        );
    }

    #[test]
    fn member_grammar_is_checked() {
        for bad in [
            &br#"{"a" 1}"#[..],
            br#"{"a":1 "b":2}"#,
            br#"{a:1}"#,
            br#"{"a":1,}"#,
            br#"{"a":1} x"#,
            br#"[1]"#,
        ] {
            let whole =
                walk_object(bad, 0, |_, v| value_end(bad, v)).and_then(|end| expect_end(bad, end));
            assert!(whole.is_err(), "{}", String::from_utf8_lossy(bad));
        }
        assert!(array_elements(b"[1,]", 0).is_err());
    }

    #[test]
    fn escapes_are_left_to_the_upstream_but_never_end_a_string_early() {
        // Quotes after odd and even runs of backslashes.
        for (doc, len) in [
            (r#""a\\" x"#, 5),
            (r#""a\\\"b" x"#, 8),
            (r#""\\\\" x"#, 6),
            (r#""bad \x escape" x"#, 15),
        ] {
            assert_eq!(ends(doc), Ok(len), "{doc}");
        }
    }

    #[test]
    fn finds_the_first_quote_like_a_plain_search() {
        let mut rng = fastrand::Rng::with_seed(11);
        // Bytes one bit or one step away from the targets, and high bytes, are
        // where word-at-a-time tricks go wrong.
        let near = [
            b'"', b'\\', b'!', b'#', b'[', b']', 0xa2, 0xdc, 0x00, 0xff, 0x80,
        ];
        for _ in 0..3000 {
            let len = rng.usize(0..40);
            let b: Vec<u8> = (0..len)
                .map(|_| match rng.u8(..3) {
                    0 => near[rng.usize(..near.len())],
                    _ => rng.u8(..),
                })
                .collect();
            for from in 0..=len {
                let want = b[from..].iter().position(|&c| c == b'"').map(|p| from + p);
                assert_eq!(next_quote(&b, from), want, "{b:?} from {from}");
            }
        }
    }

    #[test]
    fn agrees_with_serde_json_on_generated_documents() {
        // Random structures with awkward strings: the scanner's spans must be
        // exactly the values serde_json sees.
        let mut rng = fastrand::Rng::with_seed(7);
        for _ in 0..300 {
            let v = random_value(&mut rng, 3);
            let text = v.to_string();
            assert_eq!(ends(&text), Ok(text.len()), "{text}");
        }
    }

    fn random_value(rng: &mut fastrand::Rng, depth: u32) -> serde_json::Value {
        use serde_json::json;
        match if depth == 0 {
            rng.u8(0..4)
        } else {
            rng.u8(0..6)
        } {
            0 => json!(rng.i64(..)),
            1 => json!(rng.f64() * 1e6),
            2 => json!(["\"]}{[\\", "é\u{1F600}\n\t", "", "\u{0001}", "\\\\\"\\"][rng.usize(0..5)]),
            3 => [json!(null), json!(true), json!(false)][rng.usize(0..3)].clone(),
            4 => (0..rng.usize(0..4))
                .map(|_| random_value(rng, depth - 1))
                .collect(),
            _ => (0..rng.usize(0..4))
                .map(|i| (format!("k{i}\"}}"), random_value(rng, depth - 1)))
                .collect::<serde_json::Map<_, _>>()
                .into(),
        }
    }
}
