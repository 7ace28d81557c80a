//! What the upstream may receive for a request body the client sent.
//!
//! The proxy forwards an untouched turn byte for byte. With its default features it
//! appends to a new turn (the status line as a last `input` item, the `Task` tool as
//! a last tool) and re-serialises the body; everything else must arrive as it was:
//! the members and the history up to the end of `input`, the tools Codex sent, and
//! every member after `tools`.

use bytes::Bytes;
use codex_plus::wire::scan;

use crate::Res;

/// How a body arrived at the mock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrived {
    Identical,
    /// Items or tools appended, nothing else changed.
    Extended,
    /// Something the client sent was lost or changed.
    Altered,
}

/// A body the client sends, with the parts that must arrive unchanged.
pub struct Registered {
    pub body: Bytes,
    /// Everything before the `]` that closes `input`.
    head: usize,
    /// The tools array without its `]` (empty when the body has no tools).
    tools: std::ops::Range<usize>,
    /// Everything after `tools` (or after `input` without tools).
    tail: usize,
}

impl Registered {
    pub fn new(body: Bytes) -> Res<Registered> {
        let members = scan::object_members(&body, 0)?;
        let value = |name: &[u8]| {
            members
                .iter()
                .find(|(key, _)| &body[key.clone()] == name)
                .map(|(_, v)| v.clone())
        };
        let input = value(b"\"input\"").ok_or("a registered body needs an input member")?;
        let tools = value(b"\"tools\"").filter(|t| t.start > input.end);
        let tail = tools.as_ref().map_or(input.end, |t| t.end);
        Ok(Registered {
            head: input.end - 1,
            tools: tools.map_or(0..0, |t| t.start..t.end - 1),
            tail,
            body,
        })
    }

    /// How `got` relates to the registered body.
    pub fn classify(&self, got: &[u8]) -> Arrived {
        if got == &self.body[..] {
            return Arrived::Identical;
        }
        let b = &self.body[..];
        let tail = &b[self.tail..];
        let kept = got.len() >= b.len()
            && got.starts_with(&b[..self.head])
            && got.ends_with(tail)
            && memchr::memmem::find(
                &got[self.head..got.len() - tail.len()],
                &b[self.tools.clone()],
            )
            .is_some();
        if kept {
            Arrived::Extended
        } else {
            Arrived::Altered
        }
    }
}
