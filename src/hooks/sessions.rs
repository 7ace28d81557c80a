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

use serde::Serialize;
use serde_json::json;

use crate::store::Timestamp;
use crate::wire::request::RawJson;

#[derive(Debug, Clone)]
struct Session {
    cwd: PathBuf,
    /// What the dashboard shows: the model and Codex build of the latest request,
    /// when the session began here, and its turns.
    model: String,
    client: Option<Client>,
    started: Instant,
    last_turn: Option<Instant>,
    turns: u64,
    last_seen: Instant,
    /// What the proxy added, in the order it was added.
    injections: Vec<Kept>,
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

/// One item the proxy added to a session's requests.
#[derive(Debug, Clone, PartialEq)]
pub struct Kept {
    /// Its input index, counted with the items kept before it in place.
    pub at: usize,
    pub item: RawJson,
    /// The fingerprint of the item just before it (0 at the start): a history where
    /// another item stands there is another conversation.
    pub after: u64,
}

/// A cheap fingerprint of an item: its length and its first and last bytes. Stable
/// across runs, for the ledger.
pub fn fingerprint(item: &RawJson) -> u64 {
    use std::hash::BuildHasher;
    let b = item.bytes();
    let head = &b[..b.len().min(48)];
    let tail = &b[b.len().saturating_sub(48)..];
    foldhash::fast::FixedState::with_seed(0x6b65_7074).hash_one((b.len(), head, tail))
}

/// What a request of a session gets back (`Sessions::context_for`).
#[derive(Debug, Default)]
pub struct Context {
    /// The session's kept context was forgotten: the history was resent or rewound,
    /// or is another conversation.
    pub forgot: bool,
    /// Some of it no longer fits the history (a compaction) and was dropped.
    pub dropped: bool,
    /// The input with everything kept put back, when anything was.
    pub restored: Option<Vec<RawJson>>,
    /// What is kept now, in order, when some was `dropped` (for the ledger).
    pub kept: Vec<Kept>,
}

impl Session {
    fn note(&mut self, visit: &Visit<'_>, now: Instant) {
        self.last_seen = now;
        if self.cwd != visit.cwd {
            self.cwd = visit.cwd.to_path_buf();
        }
        if let Some(model) = visit.model.filter(|m| *m != self.model) {
            model.clone_into(&mut self.model);
        }
        if self.client.is_none() {
            self.client = visit.user_agent.and_then(Client::from_user_agent);
        }
        if visit.new_turn {
            self.turns += 1;
            self.last_turn = Some(now);
        }
    }
}

/// One request of a session, as `Sessions::visit` notes it.
#[derive(Debug, Clone, Copy)]
pub struct Visit<'a> {
    pub cwd: &'a Path,
    /// The model the request asks for.
    pub model: Option<&'a str>,
    /// Its `User-Agent` (Codex's names its build: `codex_exec/0.169.0 (…)`).
    pub user_agent: Option<&'a str>,
    /// It starts a turn (the user typed something).
    pub new_turn: bool,
}

/// The program behind a session and its version, from its `User-Agent`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Client {
    /// `codex_exec`, `codex_cli_rs`, …
    pub name: String,
    pub version: String,
}

impl Client {
    /// The first product token, `name/version`; `None` when there is none.
    pub fn from_user_agent(user_agent: &str) -> Option<Client> {
        let product = user_agent.split_whitespace().next()?;
        let (name, version) = product.split_once('/')?;
        (!name.is_empty() && !version.is_empty()).then(|| Client {
            name: name.to_string(),
            version: version.to_string(),
        })
    }
}

/// A session as the dashboard shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SessionView {
    pub id: String,
    /// The workspace of its latest request.
    pub cwd: PathBuf,
    /// The model its latest request asked for (empty when none said).
    pub model: String,
    pub client: Option<Client>,
    /// Unix milliseconds: its first request to this process, its latest turn (if any
    /// was seen start), its latest request.
    pub started_at: Timestamp,
    pub last_turn_at: Option<Timestamp>,
    pub last_seen_at: Timestamp,
    /// Turns started while this process watched it.
    pub turns: u64,
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
        self.visit(
            session_id,
            Visit {
                cwd,
                model: None,
                user_agent: None,
                new_turn: false,
            },
        )
    }

    /// Records a request of the session with what the dashboard shows of it; true
    /// when the proxy had not seen the session yet. On every request: fields are
    /// copied only when they changed.
    pub fn visit(&self, session_id: &str, visit: Visit<'_>) -> bool {
        let now = Instant::now();
        let mut sessions = self.lock();
        match sessions.get_mut(session_id) {
            Some(s) => {
                s.note(&visit, now);
                false
            }
            None => {
                let mut s = Session {
                    cwd: visit.cwd.to_path_buf(),
                    model: String::new(),
                    client: None,
                    started: now,
                    last_turn: None,
                    turns: 0,
                    last_seen: now,
                    injections: Vec::new(),
                    history_len: 0,
                    fired: HashSet::new(),
                };
                s.note(&visit, now);
                sessions.insert(session_id.to_string(), s);
                true
            }
        }
    }

    /// Every session, the latest active first.
    pub fn list(&self) -> Vec<SessionView> {
        let (now, wall) = (Instant::now(), Timestamp::now().as_millis());
        let at = |then: Instant| {
            let ago = i64::try_from(now.duration_since(then).as_millis()).unwrap_or(i64::MAX);
            Timestamp(wall.saturating_sub(ago))
        };
        let mut views: Vec<SessionView> = self
            .lock()
            .iter()
            .map(|(id, s)| SessionView {
                id: id.clone(),
                cwd: s.cwd.clone(),
                model: s.model.clone(),
                client: s.client.clone(),
                started_at: at(s.started),
                last_turn_at: s.last_turn.map(at),
                last_seen_at: at(s.last_seen),
                turns: s.turns,
            })
            .collect();
        views.sort_by(|a, b| b.last_seen_at.cmp(&a.last_seen_at).then(a.id.cmp(&b.id)));
        views
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

    /// Notes a request's history and gives back the history with what the proxy
    /// added put back, in one step (a session's requests may overlap). What was added
    /// stays only while the history is the same conversation going on: a new turn
    /// whose history is no longer than the last one's (resent or rewound), or one where
    /// another item stands before a kept one, forgets all of it (`forgot`). Positions
    /// past the end (a compacted history) are dropped for good (`dropped`).
    pub fn context_for(&self, session_id: &str, input: &[RawJson], new_turn: bool) -> Context {
        let mut sessions = self.lock();
        let Some(s) = sessions.get_mut(session_id) else {
            return Context::default();
        };
        let rewound = new_turn && s.history_len > 0 && input.len() <= s.history_len;
        s.history_len = input.len();
        if s.injections.is_empty() {
            return Context::default();
        }
        if rewound {
            s.injections.clear();
            return Context {
                forgot: true,
                ..Context::default()
            };
        }
        // One pass: Codex's items are copied up to each kept item's place (each place
        // was recorded with the earlier kept items already in), checked, and the kept
        // item put there.
        let mut out = Vec::with_capacity(input.len() + s.injections.len());
        let mut rest = input.iter();
        let (mut foreign, mut dropped) = (false, false);
        s.injections.retain(|k| {
            if foreign {
                return true;
            }
            while out.len() < k.at {
                match rest.next() {
                    Some(item) => out.push(item.clone()),
                    None => break,
                }
            }
            if out.len() < k.at {
                dropped = true;
                return false;
            }
            let before = k.at.checked_sub(1).map_or(0, |i| fingerprint(&out[i]));
            if before != k.after {
                foreign = true;
                return true;
            }
            // A place behind the copied items (not in recorded order) shifts the rest.
            out.insert(k.at, k.item.clone());
            true
        });
        if foreign {
            s.injections.clear();
            return Context {
                forgot: true,
                ..Context::default()
            };
        }
        out.extend(rest.cloned());
        Context {
            forgot: false,
            dropped,
            restored: Some(out),
            // The ledger needs the list only when it changed.
            kept: if dropped {
                s.injections.clone()
            } else {
                Vec::new()
            },
        }
    }

    /// Keeps `item` at input index `at` of `input` (where it is being inserted) for the
    /// rest of the session; its place in the session's list, when the session is known.
    pub fn add_item(
        &self,
        session_id: &str,
        input: &[RawJson],
        at: usize,
        item: RawJson,
    ) -> Option<(usize, Kept)> {
        let after = at
            .checked_sub(1)
            .and_then(|i| input.get(i))
            .map_or(0, fingerprint);
        let mut sessions = self.lock();
        let s = sessions.get_mut(session_id)?;
        let kept = Kept { at, item, after };
        s.injections.push(kept.clone());
        Some((s.injections.len() - 1, kept))
    }

    /// How many items the session keeps.
    pub fn kept_count(&self, session_id: &str) -> usize {
        self.lock()
            .get(session_id)
            .map_or(0, |s| s.injections.len())
    }

    /// Gives a session the added items an earlier run of the proxy kept for it.
    pub fn load(&self, session_id: &str, injections: Vec<Kept>) {
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
        self.kept_count(session_id) > 0
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
    fn a_visit_keeps_what_the_dashboard_shows() {
        let s = Sessions::new();
        let visit = |model, ua, new_turn| Visit {
            cwd: Path::new("/w"),
            model,
            user_agent: ua,
            new_turn,
        };
        assert!(s.visit(
            "a",
            visit(
                Some("gpt-5"),
                Some("codex_exec/0.169.0 (Debian 12; x86_64) xterm"),
                true
            )
        ));
        // A follow-up of the same turn, then a new turn on another model.
        assert!(!s.visit("a", visit(Some("gpt-5"), None, false)));
        assert!(!s.visit("a", visit(Some("gpt-5-mini"), Some("other/9"), true)));
        let list = s.list();
        assert_eq!(list.len(), 1);
        let a = &list[0];
        assert_eq!(a.model, "gpt-5-mini");
        assert_eq!(
            a.client,
            Some(Client {
                name: "codex_exec".into(),
                version: "0.169.0".into()
            }),
            "the first User-Agent names the build"
        );
        assert_eq!(a.turns, 2);
        assert!(a.last_turn_at.is_some());
        assert!(a.started_at <= a.last_seen_at);
        let now = Timestamp::now().as_millis();
        assert!((now - a.last_seen_at.as_millis()).abs() < 5_000);
        // A session seen only through `touch` has no turn yet.
        s.touch("b", Path::new("/v"));
        let b = s.list().into_iter().find(|v| v.id == "b").unwrap();
        assert_eq!((b.turns, b.last_turn_at, b.model.as_str()), (0, None, ""));
        assert_eq!(Client::from_user_agent("curl"), None);
        assert_eq!(Client::from_user_agent(""), None);
    }

    #[test]
    fn touch_says_when_a_session_is_new() {
        let s = Sessions::new();
        assert!(s.touch("a", Path::new("/w")));
        assert!(!s.touch("a", Path::new("/w")));
        assert!(s.touch("b", Path::new("/w")));
        assert_eq!(s.len(), 2);
    }

    /// Adds `text` at `at` of `input` as the hooks do, and inserts it there.
    fn add(s: &Sessions, input: &mut Vec<RawJson>, at: usize, text: &str) {
        let item = context_item("Test", text);
        s.add_item("a", input, at, item.clone());
        input.insert(at, item);
    }

    #[test]
    fn added_context_comes_back_at_its_place_in_every_later_request() {
        let s = Sessions::new();
        s.touch("a", Path::new("/w"));
        // First request: 3 items; context before the prompt (index 2), then after it.
        let mut first = items(3);
        assert!(s.context_for("a", &first, true).restored.is_none());
        add(&s, &mut first, 2, "project uses pnpm");
        add(&s, &mut first, 4, "ticket ABC-1");
        // A later request: Codex's history grew to 6 items, without our context.
        let later = s.context_for("a", &items(6), true).restored.unwrap();
        let t = texts(&later);
        assert_eq!(t.len(), 8);
        assert_eq!(&t[..2], ["0", "1"]);
        assert!(t[2].contains("pnpm"));
        assert_eq!(t[3], "2");
        assert!(t[4].contains("ABC-1"));
        assert_eq!(&t[5..], ["3", "4", "5"]);
        // A compacted history too short for a position drops that context.
        let compacted = s.context_for("a", &items(2), false);
        assert!(compacted.dropped);
        assert_eq!(texts(&compacted.restored.unwrap()).len(), 3);
        assert_eq!(s.kept_count("a"), 1);
    }

    #[test]
    fn a_history_that_is_not_the_same_conversation_forgets_what_was_added() {
        let s = Sessions::new();
        s.touch("a", Path::new("/w"));
        let mut first = items(3);
        s.context_for("a", &first, true);
        add(&s, &mut first, 3, "status");
        // Its follow-up and the next turn: the history grew, the same items before.
        assert!(s.context_for("a", &items(5), false).restored.is_some());
        assert!(s.context_for("a", &items(7), true).restored.is_some());
        // A new turn on a history no longer than the last: resent or rewound.
        let rewound = s.context_for("a", &items(7), true);
        assert!(rewound.forgot && rewound.restored.is_none());
        assert!(!s.has_context("a"));
        // A longer history with another item where the kept one's neighbour stood.
        let mut again = items(3);
        add(&s, &mut again, 3, "status");
        let mut other = items(9);
        other[2] = RawJson::from_value(&json!({"other": true}));
        let other = s.context_for("a", &other, true);
        assert!(other.forgot && other.restored.is_none());
        assert!(!s.has_context("a"));
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
