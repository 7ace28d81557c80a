//! What the slash step repeats on later requests.
//!
//! Codex keeps what the user typed (`/greet Bob`, or the synced skill's marker item)
//! in its history, not the expansion the model saw. Every later request of the
//! session gets the same expanded item back in that place: the model keeps the
//! command's instructions after its first tool call, and the prompt prefix stays
//! byte-identical, so caching keeps working. A command's model and tool narrowing
//! last for its whole turn (every request with that turn id).
//!
//! Kept in memory, bounded; after a proxy restart older expansions stay as typed.

use std::sync::{Mutex, MutexGuard, PoisonError};

use indexmap::IndexMap;

use super::allowed_tools::ToolScope;
use crate::wire::request::RawJson;

/// Sessions remembered (least recently used forgotten first).
const MAX_SESSIONS: usize = 512;
/// Expansions remembered per session.
const MAX_PER_SESSION: usize = 64;
/// Turns whose scope is remembered.
const MAX_TURNS: usize = 1024;
/// Bytes of items remembered in all.
const MAX_BYTES: usize = 64 * 1024 * 1024;

/// One item as Codex sent it and as the model got it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expansion {
    pub original: RawJson,
    pub expanded: RawJson,
}

impl Expansion {
    fn size(&self) -> usize {
        self.original.bytes().len() + self.expanded.bytes().len()
    }
}

/// What a command changes for its whole turn.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TurnScope {
    /// The model to send instead of the session's.
    pub model: Option<String>,
    /// The tools left to offer.
    pub tools: Option<ToolScope>,
}

#[derive(Default)]
pub struct SlashMemory {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    sessions: IndexMap<String, Vec<Expansion>>,
    turns: IndexMap<String, TurnScope>,
    bytes: usize,
}

impl SlashMemory {
    pub fn new() -> SlashMemory {
        SlashMemory::default()
    }

    /// Remembers an expansion made in `session`.
    pub fn remember(&self, session: &str, expansion: Expansion) {
        let mut inner = self.lock();
        let mut list = inner.sessions.shift_remove(session).unwrap_or_default();
        inner.bytes += expansion.size();
        list.push(expansion);
        if list.len() > MAX_PER_SESSION {
            let dropped = list.remove(0);
            inner.bytes -= dropped.size();
        }
        inner.sessions.insert(session.to_string(), list);
        while inner.sessions.len() > MAX_SESSIONS || inner.bytes > MAX_BYTES {
            let Some((_, oldest)) = inner.sessions.shift_remove_index(0) else {
                break;
            };
            inner.bytes -= oldest.iter().map(Expansion::size).sum::<usize>();
        }
    }

    /// The expansions made in `session`, oldest first.
    pub fn expansions(&self, session: &str) -> Vec<Expansion> {
        let mut inner = self.lock();
        let Some(index) = inner.sessions.get_index_of(session) else {
            return Vec::new();
        };
        let last = inner.sessions.len() - 1;
        inner.sessions.move_index(index, last);
        inner.sessions[last].clone()
    }

    pub fn set_scope(&self, turn_id: &str, scope: TurnScope) {
        let mut inner = self.lock();
        inner.turns.shift_remove(turn_id);
        inner.turns.insert(turn_id.to_string(), scope);
        if inner.turns.len() > MAX_TURNS {
            inner.turns.shift_remove_index(0);
        }
    }

    pub fn scope(&self, turn_id: &str) -> Option<TurnScope> {
        self.lock().turns.get(turn_id).cloned()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // The data stays consistent between statements; a panic elsewhere is no reason to stop.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Puts earlier expansions back where the items Codex sent are byte-identical to the
/// originals. Returns the indices replaced.
pub fn restore(input: &mut [RawJson], expansions: &[Expansion]) -> Vec<usize> {
    let mut replaced = Vec::new();
    for (i, item) in input.iter_mut().enumerate() {
        let found = expansions.iter().find(|e| {
            e.original.bytes().len() == item.bytes().len() && e.original.bytes() == item.bytes()
        });
        if let Some(expansion) = found {
            *item = expansion.expanded.clone();
            replaced.push(i);
        }
    }
    replaced
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn raw(text: &str) -> RawJson {
        RawJson::from_value(
            &json!({"type": "message", "role": "user", "id": text, "content": [{"type": "input_text", "text": text}]}),
        )
    }

    fn expansion(original: &str, expanded: &str) -> Expansion {
        Expansion {
            original: raw(original),
            expanded: raw(expanded),
        }
    }

    #[test]
    fn restore_replaces_only_identical_items() {
        let mut input = vec![raw("a"), raw("/greet Bob"), raw("b"), raw("/greet Bobby")];
        let replaced = restore(&mut input, &[expansion("/greet Bob", "Hello Bob")]);
        assert_eq!(replaced, [1]);
        assert_eq!(input[1], raw("Hello Bob"));
        assert_eq!(input[3], raw("/greet Bobby"));
        assert_eq!(input[0], raw("a"));
    }

    #[test]
    fn sessions_are_separate_and_bounded() {
        let memory = SlashMemory::new();
        memory.remember("s1", expansion("/a", "A"));
        memory.remember("s2", expansion("/b", "B"));
        assert_eq!(memory.expansions("s1"), [expansion("/a", "A")]);
        assert_eq!(memory.expansions("s2"), [expansion("/b", "B")]);
        assert!(memory.expansions("s3").is_empty());
        for i in 0..MAX_PER_SESSION + 3 {
            memory.remember("s1", expansion(&format!("/x{i}"), "X"));
        }
        let list = memory.expansions("s1");
        assert_eq!(list.len(), MAX_PER_SESSION);
        assert_eq!(list[0], expansion("/x3", "X"), "the oldest went first");
        for i in 0..MAX_SESSIONS {
            memory.remember(&format!("other{i}"), expansion("/c", "C"));
        }
        assert!(
            memory.expansions("s2").is_empty(),
            "the least recently used session is forgotten"
        );
        let inner = memory.lock();
        assert_eq!(inner.sessions.len(), MAX_SESSIONS);
        let counted: usize = inner.sessions.values().flatten().map(Expansion::size).sum();
        assert_eq!(inner.bytes, counted, "the byte count stays exact");
    }

    #[test]
    fn turn_scopes_are_kept_per_turn() {
        let memory = SlashMemory::new();
        let scope = TurnScope {
            model: Some("gpt-5.5".into()),
            tools: None,
        };
        memory.set_scope("t1", scope.clone());
        assert_eq!(memory.scope("t1"), Some(scope));
        assert_eq!(memory.scope("t2"), None);
        for i in 0..MAX_TURNS {
            memory.set_scope(&format!("x{i}"), TurnScope::default());
        }
        assert_eq!(memory.scope("t1"), None);
    }
}
