//! The Codex sessions this proxy has seen: when each started and was last active
//! (SessionStart, SessionEnd), and the context hooks added to it.
//!
//! Codex sends its own history every turn and knows nothing of what a hook added,
//! so added context is kept here with the history position it belongs to and put
//! back into every later request of the session at that same position: the model
//! keeps seeing it, and the prompt prefix stays the same for caching.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::wire::request::RawJson;

#[derive(Debug, Clone)]
struct Session {
    cwd: PathBuf,
    last_seen: Instant,
    /// (insert before this input index, the item), in the order they were added.
    injections: Vec<(usize, RawJson)>,
    /// Items in the session's latest request, as Codex sent them (with real Task
    /// calls put back): a history that grows is the same conversation going on.
    history_len: usize,
    /// Keys of things that happen once per session (a turn's prompt hook, a tool's
    /// PostToolUse), so Codex's retry of a request does not fire them again.
    fired: HashSet<String>,
}

#[derive(Debug, Default)]
pub struct Sessions {
    inner: Mutex<HashMap<String, Session>>,
    /// The last turn id each session sent: a request with another one starts a turn.
    turns: Mutex<HashMap<String, String>>,
}

/// What a request of a session gets back (`Sessions::context_for`).
#[derive(Debug, Default)]
pub struct Context {
    /// The session's kept context was forgotten (the history was resent or rewound).
    pub forgot: bool,
    /// Some of it no longer fits the history (a compaction) and was dropped.
    pub dropped: bool,
    /// (insert at this input index, the item), in order.
    pub items: Vec<(usize, RawJson)>,
}

impl Context {
    /// Puts the items into `input` at their places.
    pub fn restore(self, input: &mut Vec<RawJson>) {
        for (at, item) in self.items {
            input.insert(at.min(input.len()), item);
        }
    }
}

/// A session that ended, for its SessionEnd hooks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ended {
    pub session_id: String,
    pub cwd: PathBuf,
}

impl Sessions {
    pub fn new() -> Sessions {
        Sessions::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        // A poisoned map still holds valid sessions; keep serving.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records a request of the session; true when the proxy had not seen it yet.
    pub fn touch(&self, session_id: &str, cwd: &Path) -> bool {
        let mut sessions = self.lock();
        match sessions.get_mut(session_id) {
            Some(s) => {
                s.last_seen = Instant::now();
                s.cwd = cwd.to_path_buf();
                false
            }
            None => {
                sessions.insert(
                    session_id.to_string(),
                    Session {
                        cwd: cwd.to_path_buf(),
                        last_seen: Instant::now(),
                        injections: Vec::new(),
                        history_len: 0,
                        fired: HashSet::new(),
                    },
                );
                true
            }
        }
    }

    /// True when `turn_id` is not the turn this session's last request was part of;
    /// it is from now on.
    pub fn turn_is_new(&self, session_id: &str, turn_id: &str) -> bool {
        let mut turns = self.turns.lock().unwrap_or_else(|e| e.into_inner());
        match turns.get_mut(session_id) {
            Some(last) if last == turn_id => false,
            Some(last) => {
                turn_id.clone_into(last);
                true
            }
            None => {
                turns.insert(session_id.to_string(), turn_id.to_string());
                true
            }
        }
    }

    /// Notes a request's history length and gives back what to put into it, in one
    /// step (a session's requests may overlap). A new turn whose history is no longer
    /// than the last one's is not the same conversation going on (a client that resent
    /// or rewound it): what was added at positions in the old one no longer belongs
    /// anywhere and is forgotten (`forgot`). Positions past the end (a compacted
    /// history) are dropped for good.
    pub fn context_for(&self, session_id: &str, len: usize, new_turn: bool) -> Context {
        let mut sessions = self.lock();
        let Some(s) = sessions.get_mut(session_id) else {
            return Context::default();
        };
        let rewound = new_turn && s.history_len > 0 && len <= s.history_len;
        s.history_len = len;
        let forgot = rewound && !s.injections.is_empty();
        if rewound {
            s.injections.clear();
        }
        // Each position was recorded with the earlier injections already in place.
        let mut grown = len;
        let before = s.injections.len();
        s.injections.retain(|(at, _)| {
            let fits = *at <= grown;
            grown += usize::from(fits);
            fits
        });
        Context {
            forgot,
            dropped: s.injections.len() < before,
            items: s.injections.clone(),
        }
    }

    /// Keeps `text` as a developer message at input index `at` for the rest of the session.
    pub fn add_context(&self, session_id: &str, at: usize, event: &str, text: &str) {
        self.add_item(session_id, at, context_item(event, text));
    }

    /// Keeps `item` at input index `at` for the rest of the session; its place in the
    /// session's list, when the session is known.
    pub fn add_item(&self, session_id: &str, at: usize, item: RawJson) -> Option<usize> {
        let mut sessions = self.lock();
        let s = sessions.get_mut(session_id)?;
        s.injections.push((at, item));
        Some(s.injections.len() - 1)
    }

    /// The session's added items with their positions, in the order they were added
    /// (what the ledger keeps, so a restarted proxy puts them back in place).
    pub fn injections(&self, session_id: &str) -> Vec<(usize, RawJson)> {
        self.lock()
            .get(session_id)
            .map(|s| s.injections.clone())
            .unwrap_or_default()
    }

    /// Gives a session the added items an earlier run of the proxy kept for it.
    pub fn load(&self, session_id: &str, injections: Vec<(usize, RawJson)>) {
        if let Some(s) = self.lock().get_mut(session_id) {
            s.injections = injections;
        }
    }

    /// True the first time `key` is seen in this session.
    pub fn first(&self, session_id: &str, key: &str) -> bool {
        self.lock()
            .get_mut(session_id)
            .is_some_and(|s| s.fired.insert(key.to_string()))
    }

    /// Whether the session has context to put back.
    pub fn has_context(&self, session_id: &str) -> bool {
        self.lock()
            .get(session_id)
            .is_some_and(|s| !s.injections.is_empty())
    }

    /// Puts the session's added context back into `input`. Positions past the end
    /// (a compacted history) are dropped for good.
    pub fn restore(&self, session_id: &str, input: &mut Vec<RawJson>) {
        let mut sessions = self.lock();
        let Some(s) = sessions.get_mut(session_id) else {
            return;
        };
        // Each position was recorded with the earlier injections already in place.
        let mut kept = Vec::with_capacity(s.injections.len());
        for (at, item) in s.injections.drain(..) {
            if at <= input.len() {
                input.insert(at, item.clone());
                kept.push((at, item));
            }
        }
        s.injections = kept;
    }

    /// Sessions idle for longer than `idle`; they are forgotten.
    pub fn take_idle(&self, idle: Duration) -> Vec<Ended> {
        let now = Instant::now();
        let mut sessions = self.lock();
        let gone: Vec<String> = sessions
            .iter()
            .filter(|(_, s)| now.duration_since(s.last_seen) >= idle)
            .map(|(id, _)| id.clone())
            .collect();
        let mut turns = self.turns.lock().unwrap_or_else(|e| e.into_inner());
        for id in &gone {
            turns.remove(id);
        }
        drop(turns);
        gone.into_iter()
            .filter_map(|id| {
                sessions.remove(&id).map(|s| Ended {
                    session_id: id,
                    cwd: s.cwd,
                })
            })
            .collect()
    }

    /// Every session, for SessionEnd at shutdown; they are forgotten.
    pub fn take_all(&self) -> Vec<Ended> {
        self.turns.lock().unwrap_or_else(|e| e.into_inner()).clear();
        self.lock()
            .drain()
            .map(|(session_id, s)| Ended {
                session_id,
                cwd: s.cwd,
            })
            .collect()
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Hook context as the model sees it: a developer message naming its source.
pub fn context_item(event: &str, text: &str) -> RawJson {
    RawJson::from_value(&json!({
        "type": "message",
        "role": "developer",
        "content": [{"type": "input_text", "text": format!("<hook_context event=\"{event}\">\n{}\n</hook_context>", text.trim())}],
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(n: usize) -> Vec<RawJson> {
        (0..n)
            .map(|i| RawJson::from_value(&json!({"n": i})))
            .collect()
    }

    fn texts(input: &[RawJson]) -> Vec<String> {
        input
            .iter()
            .map(|i| match i.to_value().get("n") {
                Some(n) => n.to_string(),
                None => i.message_text().unwrap_or_default(),
            })
            .collect()
    }

    #[test]
    fn touch_says_when_a_session_is_new() {
        let s = Sessions::new();
        assert!(s.touch("a", Path::new("/w")));
        assert!(!s.touch("a", Path::new("/w")));
        assert!(s.touch("b", Path::new("/w")));
        assert_eq!(s.len(), 2);
    }

    #[test]
    fn added_context_comes_back_at_its_place_in_every_later_request() {
        let s = Sessions::new();
        s.touch("a", Path::new("/w"));
        // First request: 3 items; SessionStart context before the prompt (index 2).
        let mut first = items(3);
        s.add_context("a", 2, "SessionStart", "project uses pnpm");
        s.restore("a", &mut first);
        assert_eq!(
            texts(&first)[2],
            "<hook_context event=\"SessionStart\">\nproject uses pnpm\n</hook_context>"
        );
        // The prompt hook's context goes after the prompt, counted with the first in place.
        s.add_context("a", 4, "UserPromptSubmit", "ticket ABC-1");
        // A later request: Codex's history grew to 6 items, without our context.
        let mut later = items(6);
        s.restore("a", &mut later);
        let t = texts(&later);
        assert_eq!(t.len(), 8);
        assert_eq!(&t[..2], ["0", "1"]);
        assert!(t[2].contains("pnpm"));
        assert_eq!(t[3], "2");
        assert!(t[4].contains("ABC-1"));
        assert_eq!(&t[5..], ["3", "4", "5"]);
        // A compacted history too short for a position drops that context.
        let mut compacted = items(1);
        s.restore("a", &mut compacted);
        assert_eq!(compacted.len(), 1);
        assert!(s.lock()["a"].injections.is_empty());
    }

    #[test]
    fn a_new_turn_that_does_not_extend_the_history_forgets_what_was_added() {
        let s = Sessions::new();
        s.touch("a", Path::new("/w"));
        assert!(s.context_for("a", 3, true).items.is_empty());
        s.add_context("a", 3, "StatusLine", "one");
        // Its follow-up, and the next turn: the history grew.
        assert_eq!(s.context_for("a", 5, false).items.len(), 1);
        assert_eq!(s.context_for("a", 7, true).items.len(), 1);
        // A retry or a follow-up of the same length keeps it.
        assert!(!s.context_for("a", 7, false).forgot);
        // A new turn on a history no longer than the last: resent or rewound.
        let rewound = s.context_for("a", 7, true);
        assert!(rewound.forgot && rewound.items.is_empty());
        assert!(!s.has_context("a"));
        assert!(
            !s.context_for("a", 2, true).forgot,
            "nothing left to forget"
        );
    }

    #[test]
    fn a_turn_is_new_once_until_another_comes() {
        let s = Sessions::new();
        assert!(s.turn_is_new("a", "t1"));
        assert!(!s.turn_is_new("a", "t1"), "a follow-up of the same turn");
        assert!(s.turn_is_new("b", "t1"), "each session has its own");
        assert!(s.turn_is_new("a", "t2"));
        assert!(!s.turn_is_new("a", "t2"));
    }

    #[test]
    fn first_is_true_once_per_key_and_session() {
        let s = Sessions::new();
        assert!(!s.first("a", "k"), "unknown session");
        s.touch("a", Path::new("/w"));
        assert!(s.first("a", "k"));
        assert!(!s.first("a", "k"));
        assert!(s.first("a", "other"));
    }

    #[test]
    fn idle_and_shutdown_end_sessions_once() {
        let s = Sessions::new();
        s.touch("a", Path::new("/w1"));
        s.touch("b", Path::new("/w2"));
        assert!(s.take_idle(Duration::from_secs(3600)).is_empty());
        let ended = s.take_idle(Duration::ZERO);
        assert_eq!(ended.len(), 2);
        assert!(s.is_empty());
        s.touch("c", Path::new("/w3"));
        assert_eq!(
            s.take_all(),
            vec![Ended {
                session_id: "c".into(),
                cwd: "/w3".into()
            }]
        );
        assert!(s.take_all().is_empty());
    }
}
