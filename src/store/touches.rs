//! Session touches waiting to be written. Codex touches its session on every request;
//! queueing each one cost a wake-up of the writer thread and a transaction per request
//! (8 % of the proxy's CPU under load). The ledger handle sums them per session here, the
//! writer hears of them once per batch, and writes them one linger later, or at once when
//! someone flushes or the ledger closes.

use std::collections::HashMap;
use std::time::Duration;

use super::records::Timestamp;
use super::writer::Write;

/// How long a touch may wait before it is written.
pub(super) const LINGER: Duration = Duration::from_secs(1);

/// Touches summed per session since the writer last took them.
#[derive(Debug, Default)]
pub(super) struct Touches {
    by_session: HashMap<String, Touch>,
}

#[derive(Debug)]
struct Touch {
    cwd: Option<String>,
    first: Timestamp,
    last: Timestamp,
    requests: u64,
}

impl Touches {
    /// Counts one request of `session_id`. True when nothing was waiting before, so the
    /// writer must be told that touches wait.
    pub(super) fn add(&mut self, session_id: &str, cwd: Option<String>, at: Timestamp) -> bool {
        let was_empty = self.by_session.is_empty();
        match self.by_session.get_mut(session_id) {
            Some(touch) => {
                // The latest known directory wins; a touch without one keeps it.
                if cwd.is_some() {
                    touch.cwd = cwd;
                }
                touch.first = touch.first.min(at);
                touch.last = touch.last.max(at);
                touch.requests += 1;
            }
            None => {
                let touch = Touch {
                    cwd,
                    first: at,
                    last: at,
                    requests: 1,
                };
                self.by_session.insert(session_id.to_owned(), touch);
            }
        }
        was_empty
    }

    /// The waiting touches as one write per session, leaving none behind.
    pub(super) fn take(&mut self) -> Vec<Write> {
        self.by_session
            .drain()
            .map(|(session_id, touch)| Write::TouchSession {
                session_id,
                cwd: touch.cwd,
                first_seen: touch.first,
                last_seen: touch.last,
                requests: touch.requests,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(touches: &mut Touches) -> Vec<(String, Option<String>, i64, i64, u64)> {
        let mut out: Vec<_> = touches
            .take()
            .into_iter()
            .map(|w| match w {
                Write::TouchSession {
                    session_id,
                    cwd,
                    first_seen,
                    last_seen,
                    requests,
                } => (session_id, cwd, first_seen.0, last_seen.0, requests),
                other => panic!("not a touch: {other:?}"),
            })
            .collect();
        out.sort();
        out
    }

    #[test]
    fn touches_of_one_session_become_one_write_with_their_count() {
        let mut touches = Touches::default();
        assert!(touches.add("s1", Some("/a".into()), Timestamp(5)));
        assert!(!touches.add("s1", None, Timestamp(7)));
        assert!(!touches.add("s2", Some("/x".into()), Timestamp(6)));
        assert!(!touches.add("s1", Some("/b".into()), Timestamp(3)));
        assert_eq!(
            rows(&mut touches),
            [
                ("s1".into(), Some("/b".into()), 3, 7, 3),
                ("s2".into(), Some("/x".into()), 6, 6, 1),
            ]
        );
        assert!(touches.take().is_empty(), "taking leaves nothing behind");
        assert!(
            touches.add("s1", None, Timestamp(8)),
            "after a take, the next touch must wake the writer again"
        );
    }
}
