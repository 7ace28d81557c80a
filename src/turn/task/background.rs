//! Background agents (`run_in_background`, or an agent file's `background: true`):
//! the Task call returns at once, the agent runs on in the engine (past the turn and
//! the client's connection), and when it ends its session is told, the way Claude
//! Code tells it: a `<task-notification>` message, put into the session's next
//! request and kept in place after that (`turn::hooks::keep_item`).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use serde_json::json;

use crate::engine::TaskResult;
use crate::wire::request::RawJson;

/// The background agents of each session, and the notifications waiting for it.
#[derive(Debug, Default)]
pub struct Background {
    sessions: Mutex<HashMap<String, Agents>>,
    /// Counts starts, to order sessions by their latest.
    clock: std::sync::atomic::AtomicU64,
}

#[derive(Debug, Default)]
struct Agents {
    /// The background agents the session started, oldest first (the latest
    /// `MAX_AGENTS`).
    ids: Vec<String>,
    /// Notifications of finished ones, not yet delivered.
    pending: Vec<RawJson>,
    /// When the session last started one: the longest idle are forgotten first.
    last: u64,
}

/// Background agents remembered per session, and sessions remembered, so a
/// long-running proxy does not grow without end. A session forgotten loses only
/// TaskOutput/TaskStop on its old agents: their results stay in the ledger.
const MAX_AGENTS: usize = 256;
const MAX_SESSIONS: usize = 4096;

impl Background {
    pub fn new() -> Background {
        Background::default()
    }

    fn with<T>(&self, session: &str, f: impl FnOnce(&mut Agents) -> T) -> T {
        let mut sessions = self.sessions.lock().unwrap_or_else(PoisonError::into_inner);
        f(sessions.entry(session.to_string()).or_default())
    }

    /// `id` runs in the background for `session`.
    pub fn started(&self, session: &str, id: &str) {
        let now = self
            .clock
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut sessions = self.sessions.lock().unwrap_or_else(PoisonError::into_inner);
        let agents = sessions.entry(session.to_string()).or_default();
        agents.ids.push(id.to_string());
        agents.last = now;
        if agents.ids.len() > MAX_AGENTS {
            agents.ids.remove(0);
        }
        if sessions.len() > MAX_SESSIONS {
            // The idlest session with nothing waiting for it.
            let idlest = sessions
                .iter()
                .filter(|(_, a)| a.pending.is_empty())
                .min_by_key(|(_, a)| a.last)
                .map(|(s, _)| s.clone());
            if let Some(idlest) = idlest {
                sessions.remove(&idlest);
            }
        }
    }

    /// A background agent of `session` ended: its notification waits for the
    /// session's next request.
    pub fn finished(&self, session: &str, result: &TaskResult) {
        let item = notification(result);
        self.with(session, |a| a.pending.push(item));
    }

    /// The notifications not yet delivered, in the order the agents ended. Each is
    /// given out once.
    pub fn take(&self, session: &str) -> Vec<RawJson> {
        let mut sessions = self.sessions.lock().unwrap_or_else(PoisonError::into_inner);
        sessions
            .get_mut(session)
            .map(|a| std::mem::take(&mut a.pending))
            .unwrap_or_default()
    }

    /// Whether `session` started any background agent (checked on each request).
    pub fn has_agents(&self, session: &str) -> bool {
        let sessions = self.sessions.lock().unwrap_or_else(PoisonError::into_inner);
        sessions.get(session).is_some_and(|a| !a.ids.is_empty())
    }

    /// The background agents `session` started.
    pub fn ids(&self, session: &str) -> Vec<String> {
        let sessions = self.sessions.lock().unwrap_or_else(PoisonError::into_inner);
        sessions
            .get(session)
            .map(|a| a.ids.clone())
            .unwrap_or_default()
    }
}

/// The message that tells the model a background agent ended.
pub fn notification(result: &TaskResult) -> RawJson {
    let verb = if result.is_success() {
        "completed"
    } else {
        "did not complete"
    };
    let text = format!(
        "<task-notification>\n<task-id>{}</task-id>\n<status>{}</status>\n<summary>Agent \"{}\" {verb}</summary>\n<result>{}</result>\n</task-notification>",
        result.id,
        result.status,
        result.description,
        result.to_claude_text().trim_end()
    );
    RawJson::from_value(&json!({
        "type": "message",
        "role": "user",
        "content": [{"type": "input_text", "text": text}]
    }))
}

/// What a background Task call answers at once.
pub fn launched(id: &str, agent: &str, session: bool) -> String {
    let told = if session {
        "You will be told automatically when it finishes; do not wait or poll for it. \
         Meanwhile, go on with other work."
    } else {
        "This request carries no Codex session, so no notification will come."
    };
    format!(
        "Async agent launched successfully.\nagentId: {id} ({agent} agent)\nThe agent is working in the background. {told}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::TaskStatus;

    #[test]
    fn a_notification_is_given_out_once_per_session() {
        let bg = Background::new();
        bg.started("s1", "t1");
        bg.started("s1", "t2");
        assert!(bg.take("s1").is_empty());
        let mut result = TaskResult::failed("t1".into(), "Explore".into(), "Scan".into(), "boom");
        result.status = TaskStatus::Completed;
        result.error = None;
        result.output = "found 3 files".into();
        bg.finished("s1", &result);
        let items = bg.take("s1");
        assert_eq!(items.len(), 1);
        let text = items[0].user_text().unwrap().into_owned();
        assert!(
            text.starts_with(
                "<task-notification>\n<task-id>t1</task-id>\n<status>completed</status>"
            ),
            "{text}"
        );
        assert!(
            text.contains("<summary>Agent \"Scan\" completed</summary>"),
            "{text}"
        );
        assert!(text.contains("found 3 files"), "{text}");
        assert!(bg.take("s1").is_empty(), "delivered once");
        assert!(bg.take("s2").is_empty());
        assert_eq!(bg.ids("s1"), ["t1", "t2"]);
        assert!(bg.has_agents("s1") && !bg.has_agents("s2"));
    }

    #[test]
    fn a_long_running_proxy_forgets_the_oldest_agents_and_idlest_sessions() {
        let bg = Background::new();
        for i in 0..MAX_AGENTS + 3 {
            bg.started("busy", &format!("t{i}"));
        }
        let ids = bg.ids("busy");
        assert_eq!(ids.len(), MAX_AGENTS);
        assert_eq!(ids[0], "t3");
        // A session with a notification waiting is kept, whatever its age.
        bg.started("waiting", "w1");
        bg.finished(
            "waiting",
            &TaskResult::failed("w1".into(), "Explore".into(), "d".into(), "x"),
        );
        for i in 0..MAX_SESSIONS {
            bg.started(&format!("s{i}"), "t");
        }
        assert!(!bg.has_agents("busy"), "the idlest session went first");
        assert!(bg.has_agents("waiting"));
        assert_eq!(bg.take("waiting").len(), 1);
        let count = bg.sessions.lock().unwrap().len();
        assert_eq!(count, MAX_SESSIONS);
    }
}
