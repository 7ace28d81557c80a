//! Shaping tool output for a model: numbered lines and size caps that say what was cut.

use std::collections::VecDeque;

/// One line as `cat -n` prints it: the number right-aligned in six columns, a tab, the text.
pub fn numbered_line(number: usize, text: &str) -> String {
    format!("{number:>6}\t{text}")
}

/// The longest prefix of `text` that is at most `max_bytes` long and ends on a char boundary.
pub fn prefix_at_boundary(text: &str, max_bytes: usize) -> &str {
    if text.len() <= max_bytes {
        return text;
    }
    let mut end = max_bytes;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Keeps the first `cap` bytes of `text` and says how much was dropped.
pub fn cap_head(text: &str, cap: usize) -> String {
    if text.len() <= cap {
        return text.to_string();
    }
    let head = prefix_at_boundary(text, cap);
    format!(
        "{head}\n\n[output truncated: {} of {} bytes not shown]",
        text.len() - head.len(),
        text.len()
    )
}

/// Collects a stream of bytes while holding at most `cap` of them: the first half and
/// the last half. The end of a command's output (errors, summaries) matters as much as
/// its start, and memory stays bounded however much the command prints.
#[derive(Debug)]
pub struct HeadTail {
    head_cap: usize,
    tail_cap: usize,
    head: Vec<u8>,
    tail: VecDeque<u8>,
    total: usize,
}

impl HeadTail {
    /// A buffer keeping at most `cap` bytes.
    pub fn new(cap: usize) -> Self {
        let head_cap = cap / 2;
        Self {
            head_cap,
            tail_cap: cap - head_cap,
            head: Vec::new(),
            tail: VecDeque::new(),
            total: 0,
        }
    }

    /// Appends bytes, dropping the middle once over the cap.
    pub fn push(&mut self, mut bytes: &[u8]) {
        self.total += bytes.len();
        let room = self.head_cap - self.head.len();
        if room > 0 {
            let take = room.min(bytes.len());
            self.head.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
        }
        if bytes.len() >= self.tail_cap {
            self.tail.clear();
            self.tail.extend(&bytes[bytes.len() - self.tail_cap..]);
            return;
        }
        let overflow = (self.tail.len() + bytes.len()).saturating_sub(self.tail_cap);
        self.tail.drain(..overflow);
        self.tail.extend(bytes);
    }

    /// Bytes pushed so far, kept or not.
    pub fn total(&self) -> usize {
        self.total
    }

    /// The kept text, with a marker where bytes were dropped. Invalid UTF-8 is replaced.
    pub fn finish(self) -> String {
        let dropped = self.total - self.head.len() - self.tail.len();
        let head = String::from_utf8_lossy(&self.head);
        let tail: Vec<u8> = self.tail.into_iter().collect();
        let tail = String::from_utf8_lossy(&tail);
        if dropped == 0 {
            return format!("{head}{tail}");
        }
        format!(
            "{head}\n\n[... {dropped} bytes of output truncated ({} in total); \
             only the start and the end are shown ...]\n\n{tail}",
            self.total
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbered_lines_look_like_cat_n() {
        assert_eq!(numbered_line(1, "a"), "     1\ta");
        assert_eq!(numbered_line(1234567, ""), "1234567\t");
    }

    #[test]
    fn prefix_never_splits_a_character() {
        assert_eq!(prefix_at_boundary("héllo", 2), "h");
        assert_eq!(prefix_at_boundary("héllo", 3), "hé");
        assert_eq!(prefix_at_boundary("hi", 10), "hi");
    }

    #[test]
    fn cap_head_reports_the_cut() {
        assert_eq!(cap_head("short", 10), "short");
        let out = cap_head("0123456789", 4);
        assert!(out.starts_with("0123\n"), "{out}");
        assert!(out.contains("6 of 10 bytes not shown"), "{out}");
    }

    #[test]
    fn head_tail_keeps_everything_under_the_cap() {
        let mut buf = HeadTail::new(10);
        buf.push(b"abc");
        buf.push(b"def");
        assert_eq!(buf.total(), 6);
        assert_eq!(buf.finish(), "abcdef");
    }

    #[test]
    fn head_tail_keeps_start_and_end_over_the_cap() {
        let mut buf = HeadTail::new(8);
        for chunk in [&b"0123"[..], b"4567", b"89ab", b"cdef"] {
            buf.push(chunk);
        }
        assert_eq!(buf.total(), 16);
        let out = buf.finish();
        assert!(out.starts_with("0123\n"), "{out}");
        assert!(out.ends_with("\ncdef"), "{out}");
        assert!(
            out.contains("8 bytes of output truncated (16 in total)"),
            "{out}"
        );
    }

    #[test]
    fn head_tail_handles_one_huge_chunk() {
        let mut buf = HeadTail::new(4);
        buf.push(b"abcdefghij");
        let out = buf.finish();
        assert!(out.starts_with("ab\n") && out.ends_with("\nij"), "{out}");
        assert!(out.contains("6 bytes"), "{out}");
    }
}
