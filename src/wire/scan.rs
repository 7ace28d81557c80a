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
/// Most strings are keys and short values that end within 16 bytes: one SSE2
/// compare finds their closing quote in place (SSE2 is part of every x86_64, so
/// this inlines into the callers' loops). Longer strings, and quotes with a
/// backslash before them, take `string_end_far`.
#[inline]
fn string_end(b: &[u8], start: usize) -> Result<usize, ScanError> {
    #[cfg(target_arch = "x86_64")]
    if let Some(end) = sse2::near_end(b, start + 1) {
        return Ok(end);
    }
    string_end_far(b, start)
}

#[cfg(target_arch = "x86_64")]
mod sse2 {
    use std::arch::x86_64::{_mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_set1_epi8};

    const WIDTH: usize = 16;

    /// The end of the string whose first byte is at `content`, when its closing
    /// quote is among the next 16 bytes with no backslash before it (so nothing
    /// can escape it). None: look further, the long way.
    #[inline]
    pub fn near_end(b: &[u8], content: usize) -> Option<usize> {
        let window = b.get(content..content + WIDTH)?;
        // SAFETY: SSE2 is part of the x86_64 baseline; the load is unaligned and
        // all within `window`.
        let (quotes, slashes) = unsafe {
            let v = _mm_loadu_si128(window.as_ptr().cast());
            let find = |byte: u8| _mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(byte as i8)));
            (find(b'"') as u32, find(b'\\') as u32)
        };
        if quotes == 0 {
            return None;
        }
        let first = quotes.trailing_zeros();
        let before = (1u32 << first) - 1;
        (slashes & before == 0).then(|| content + first as usize + 1)
    }
}

/// `string_end` beyond the first 16 bytes, or past a backslash.
///
/// Only quotes stop the search: a quote closes the string unless an odd run of
/// backslashes precedes it. Long sessions are dense with `\n` and `\\` escapes
/// (source code, shell output, JSON inside JSON), and stopping at each of them
/// cost more than the bytes between. Escapes are therefore not checked here; like
/// control characters, a malformed escape inside a string the proxy does not
/// decode reaches the upstream as the client wrote it.
#[inline(never)]
fn string_end_far(b: &[u8], start: usize) -> Result<usize, ScanError> {
    let content = start + 1;
    let closes = |at: usize| {
        b[content..at]
            .iter()
            .rev()
            .take_while(|&&c| c == b'\\')
            .count()
            % 2
            == 0
    };
    let mut i = content;
    #[cfg(target_arch = "x86_64")]
    if b.len().saturating_sub(i) >= avx2::BLOCK && std::is_x86_feature_detected!("avx2") {
        // The first 16 bytes were looked at in place by `string_end` already.
        // SAFETY: the CPU has AVX2, checked just above.
        match unsafe { avx2::closing_quote(b, content) } {
            Ok(at) => return Ok(at + 1),
            Err(rest) => i = rest,
        }
    }
    loop {
        let Some(at) = next_quote(b, i) else {
            return err(start, "unterminated string");
        };
        if closes(at) {
            return Ok(at + 1);
        }
        i = at + 1;
    }
}

/// Whole blocks of 64 bytes, compared 32 bytes at once. Which quotes are escaped
/// is worked out for the whole block from its backslashes (`escaped`), so `\"`,
/// dense in JSON inside JSON, costs nothing extra; a byte-wise search would stop
/// and start over at each one.
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::{
        __m256i, _mm256_cmpeq_epi8, _mm256_loadu_si256, _mm256_movemask_epi8, _mm256_set1_epi8,
    };

    pub const BLOCK: usize = 64;

    /// The first unescaped quote of the string whose first byte is at `content`,
    /// looked for in whole blocks. Err: where the blocks ran out without one.
    ///
    /// # Safety
    /// The CPU must support AVX2.
    #[target_feature(enable = "avx2")]
    pub unsafe fn closing_quote(b: &[u8], content: usize) -> Result<usize, usize> {
        let quote = _mm256_set1_epi8(b'"' as i8);
        let backslash = _mm256_set1_epi8(b'\\' as i8);
        // The first byte follows the opening quote: nothing escapes it.
        let mut carry = 0;
        let mut i = content;
        while let Some(block) = b.get(i..i + BLOCK) {
            let p = block.as_ptr().cast::<__m256i>();
            // Unaligned loads of 2 x 32 bytes, both within `block`.
            let (lo, hi) = (_mm256_loadu_si256(p), _mm256_loadu_si256(p.add(1)));
            let quotes = positions(lo, hi, quote);
            let closing = quotes & !super::escaped(positions(lo, hi, backslash), &mut carry);
            if closing != 0 {
                return Ok(i + closing.trailing_zeros() as usize);
            }
            i += BLOCK;
        }
        Err(i)
    }

    /// Bit k set: byte k of the 64 bytes (`lo`, then `hi`) is `needle`'s byte.
    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn positions(lo: __m256i, hi: __m256i, needle: __m256i) -> u64 {
        let lo = _mm256_movemask_epi8(_mm256_cmpeq_epi8(lo, needle)) as u32;
        let hi = _mm256_movemask_epi8(_mm256_cmpeq_epi8(hi, needle)) as u32;
        u64::from(lo) | u64::from(hi) << 32
    }
}

const ODD_BITS: u64 = 0xAAAA_AAAA_AAAA_AAAA;

/// The escaped bytes of a 64-byte block (bit k: byte k), from its backslashes:
/// a byte is escaped when an odd run of backslashes ends right before it.
/// `carry` says whether the block's first byte is escaped by the block before,
/// and is set for the next one. Only the bits of non-backslash bytes are meant.
///
/// Runs are told odd or even by where they start and end: subtracting the run
/// starts from alternating bits carries through each run, which flips the parity
/// of the bit after the run exactly when the run's length is odd (the method of
/// simdjson's escape scanner).
fn escaped(backslash: u64, carry: &mut u64) -> u64 {
    // An escaped backslash escapes nothing.
    let starts_escape = backslash & !*carry;
    let codes = ((starts_escape << 1 | ODD_BITS).wrapping_sub(starts_escape)) ^ ODD_BITS;
    let escaped = codes ^ (backslash | *carry);
    *carry = (codes & backslash) >> 63;
    escaped
}

/// Words looked at in place before handing the search to `memchr`.
const NEAR_WORDS: usize = 2;

/// The first `"` at or after `from`. Keys and short values end within a few
/// bytes, where a `memchr` call costs more than the bytes: the next 16 bytes are
/// checked in place (`near_quote`), and only a longer run goes to `memchr`.
fn next_quote(b: &[u8], from: usize) -> Option<usize> {
    near_quote(b, from).or_else(|| {
        let i = (from + NEAR_WORDS * 8).min(b.len());
        memchr::memchr(b'"', b.get(i..)?).map(|off| i + off)
    })
}

/// The first `"` among the `NEAR_WORDS` words from `from`, eight bytes at a time.
fn near_quote(b: &[u8], from: usize) -> Option<usize> {
    let near = b.get(from..)?;
    let near = &near[..near.len().min(NEAR_WORDS * 8)];
    let mut words = near.chunks_exact(8);
    for (k, word) in words.by_ref().enumerate() {
        let word: [u8; 8] = word.try_into().ok()?;
        let hits = quote_bits(u64::from_le_bytes(word));
        if hits != 0 {
            return Some(from + k * 8 + (hits.trailing_zeros() / 8) as usize);
        }
    }
    let tail = words.remainder();
    let done = near.len() - tail.len();
    tail.iter()
        .position(|&c| c == b'"')
        .map(|p| from + done + p)
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

/// The closing brackets a container still owes, innermost last. The first 64 levels
/// are bits of a word (1 for `}`), so a history item's scan allocates nothing;
/// deeper ones go to a vector.
#[derive(Default)]
struct Owed {
    bits: u64,
    depth: usize,
    deeper: Vec<u8>,
}

impl Owed {
    fn push(&mut self, close: u8) {
        if self.depth < 64 {
            self.bits = (self.bits << 1) | u64::from(close == b'}');
        } else {
            self.deeper.push(close);
        }
        self.depth += 1;
    }

    fn pop(&mut self) -> Option<u8> {
        self.depth = self.depth.checked_sub(1)?;
        if self.depth >= 64 {
            return self.deeper.pop();
        }
        let close = if self.bits & 1 == 1 { b'}' } else { b']' };
        self.bits >>= 1;
        Some(close)
    }

    fn is_empty(&self) -> bool {
        self.depth == 0
    }
}

/// Brackets balanced, strings skipped, stray characters refused.
fn container_end(b: &[u8], start: usize) -> Result<usize, ScanError> {
    let mut stack = Owed::default();
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
    fn brackets_balance_at_any_depth() {
        for depth in [1, 63, 64, 65, 150] {
            let open: String = (0..depth)
                .map(|d| if d % 3 == 0 { "[" } else { "{\"k\":" })
                .collect();
            let close: String = (0..depth)
                .rev()
                .map(|d| if d % 3 == 0 { "]" } else { "}" })
                .collect();
            let json = format!("{open}1{close}, 2");
            if depth < 128 {
                // serde_json's own limit; the scanner has none.
                assert!(serde_json::from_str::<serde_json::Value>(&json[..json.len() - 3]).is_ok());
            }
            assert_eq!(
                value_end(json.as_bytes(), 0),
                Ok(json.len() - 3),
                "depth {depth}"
            );
            // Each closing bracket swapped for the other kind is refused, deep or shallow.
            for at in [open.len() + 1, open.len() + close.len()] {
                let mut bad = json.clone().into_bytes();
                bad[at] = if bad[at] == b']' { b'}' } else { b']' };
                assert!(value_end(&bad, 0).is_err(), "depth {depth}, byte {at}");
            }
        }
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
    fn strings_end_where_a_byte_by_byte_reading_says() {
        // The block search and the scalar one must agree with the plain rule on
        // strings dense with escapes, of every length around the block size and
        // ending anywhere relative to the buffer's end.
        fn reference(b: &[u8], start: usize) -> Option<usize> {
            let mut i = start + 1;
            while i < b.len() {
                match b[i] {
                    b'\\' => i += 2,
                    b'"' => return Some(i + 1),
                    _ => i += 1,
                }
            }
            None
        }
        let mut rng = fastrand::Rng::with_seed(5);
        let alphabet = [b'"', b'\\', b'\\', b'a', b'n', b' ', 0xc3, 0xa9];
        for _ in 0..4000 {
            let len = rng.usize(0..300);
            let mut b = vec![b'"'];
            b.extend((0..len).map(|_| alphabet[rng.usize(..alphabet.len())]));
            for start in [0, rng.usize(0..b.len())] {
                if b[start] != b'"' {
                    continue;
                }
                let want = reference(&b, start);
                assert_eq!(
                    string_end(&b, start).ok(),
                    want,
                    "{:?} from {start}",
                    String::from_utf8_lossy(&b)
                );
            }
        }
        // A long run of escaped quotes, the closing one far beyond a block.
        let mut long = b"\"".to_vec();
        long.extend(b"\\\"".repeat(300));
        long.extend(b"\\\\\" tail");
        assert_eq!(string_end(&long, 0), Ok(long.len() - 5));
    }

    #[test]
    fn escaped_bytes_of_a_block_match_a_byte_by_byte_reading() {
        // Blocks of backslashes and other bytes, chained, against the plain rule.
        let mut rng = fastrand::Rng::with_seed(3);
        for _ in 0..20_000 {
            let blocks: Vec<u64> = (0..3)
                .map(|_| match rng.u8(..4) {
                    0 => u64::MAX,
                    1 => rng.u64(..) | rng.u64(..),
                    _ => rng.u64(..),
                })
                .collect();
            let first_escaped = rng.bool();
            let (mut carry, mut odd_run) = (u64::from(first_escaped), first_escaped);
            for &slashes in &blocks {
                let got = escaped(slashes, &mut carry);
                for k in 0..64 {
                    let is_slash = slashes >> k & 1 == 1;
                    if !is_slash {
                        assert_eq!(got >> k & 1 == 1, odd_run, "{blocks:x?} bit {k}");
                    }
                    // A backslash escaped by an odd run ends the run; any other starts or extends one.
                    odd_run = is_slash && !odd_run;
                }
                assert_eq!(carry == 1, odd_run, "{blocks:x?}: carry");
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
