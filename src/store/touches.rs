//! Session touches waiting to be written. Codex touches its session on every request;
//! writing each one cost the writer thread a transaction per request (8 % of the proxy's
//! CPU under load). They are summed per session and written at most once per linger,
//! or at once when someone flushes or the ledger closes.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::records::Timestamp;
use super::writer::Write;

/// How long a touch may wait before it is written.
pub(super) const LINGER: Duration = Duration::from_secs(1);

/// Touches summed per session since the last write.
#[derive(Debug, Default)]
pub(super) struct Touches {
    by_session: HashMap<String, Touch>,
    /// When the oldest waiting touch arrived.
    since: Option<Instant>,
}

#[derive(Debug)]
struct Touch {
    cwd: Option<String>,
    first: Timestamp,
    last: Timestamp,
    requests: u64,
}

impl Touches {
    /// Adds a `Write::TouchSession`; any other write is handed back.
    pub(super) fn add(&mut self, write: Write, now: Instant) -> Option<Write> {
        let Write::TouchSession {
            session_id,
            cwd,
            first_seen,
            last_seen,
            requests,
        } = write
        else {
            return Some(write);
        };
        self.since.get_or_insert(now);
        match self.by_session.get_mut(&session_id) {
            Some(touch) => {
                // The latest known directory wins; a touch without one keeps it.
                if cwd.is_some() {
                    touch.cwd = cwd;
                }
                touch.first = touch.first.min(first_seen);
                touch.last = touch.last.max(last_seen);
                touch.requests += requests;
            }
            None => {
                self.by_session.insert(
                    session_id,
                    Touch {
                        cwd,
                        first: first_seen,
                        last: last_seen,
                        requests,
                    },
                );
            }
        }
        None
    }

    /// When the waiting touches must be written, if any wait.
    pub(super) fn deadline(&self) -> Option<Instant> {
        self.since.map(|since| since + LINGER)
    }

    /// Whether the waiting touches are due at `now`.
    pub(super) fn due(&self, now: Instant) -> bool {
        self.deadline().is_some_and(|deadline| deadline <= now)
    }

    /// The waiting touches as one write per session, leaving none behind.
    pub(super) fn take(&mut self) -> impl Iterator<Item = Write> + '_ {
        self.since = None;
        self.by_session
            .drain()
            .map(|(session_id, touch)| Write::TouchSession {
                session_id,
                cwd: touch.cwd,
                first_seen: touch.first,
                last_seen: touch.last,
                requests: touch.requests,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(session: &str, cwd: Option<&str>, at: i64) -> Write {
        Write::TouchSession {
            session_id: session.into(),
            cwd: cwd.map(str::to_string),
            first_seen: Timestamp(at),
            last_seen: Timestamp(at),
            requests: 1,
        }
    }

    fn sorted(touches: &mut Touches) -> Vec<(String, Option<String>, i64, i64, u64)> {
        let mut out: Vec<_> = touches
            .take()
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
        let now = Instant::now();
        let mut touches = Touches::default();
        assert!(touches.add(touch("s1", Some("/a"), 5), now).is_none());
        assert!(touches.add(touch("s1", None, 7), now).is_none());
        assert!(touches.add(touch("s2", Some("/x"), 6), now).is_none());
        assert!(touches.add(touch("s1", Some("/b"), 3), now).is_none());
        assert_eq!(
            sorted(&mut touches),
            [
                ("s1".into(), Some("/b".into()), 3, 7, 3),
                ("s2".into(), Some("/x".into()), 6, 6, 1),
            ]
        );
        assert_eq!(touches.take().count(), 0, "taking leaves nothing behind");
        assert_eq!(touches.deadline(), None);
    }

    #[test]
    fn touches_are_due_one_linger_after_the_oldest() {
        let start = Instant::now();
        let mut touches = Touches::default();
        assert!(!touches.due(start + LINGER * 10), "nothing waits");
        touches.add(touch("s1", None, 1), start);
        touches.add(touch("s1", None, 2), start + LINGER / 2);
        assert_eq!(touches.deadline(), Some(start + LINGER));
        assert!(!touches.due(start + LINGER / 2));
        assert!(touches.due(start + LINGER));
        touches.take().for_each(drop);
        assert!(!touches.due(start + LINGER * 2));
    }

    #[test]
    fn other_writes_are_handed_back() {
        let mut touches = Touches::default();
        let write = Write::TaskStarted {
            id: "t1".into(),
            at: Timestamp(1),
        };
        assert!(matches!(
            touches.add(write, Instant::now()),
            Some(Write::TaskStarted { .. })
        ));
        assert_eq!(touches.deadline(), None);
    }
}
