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

/// Touches summed per session since the writer last took them, and the sessions'
/// added context (`Sessions` in the hooks), kept as its net effect: each turn adds an
/// item, and a client that resends one history as new turns clears and adds again on
/// every request, which written one by one cost a transaction each.
#[derive(Debug, Default)]
pub(super) struct Touches {
    by_session: HashMap<String, Touch>,
    context: HashMap<String, PendingContext>,
}

/// What is to be written of one session's added context.
#[derive(Debug, Default)]
struct PendingContext {
    /// Its kept items go first.
    clear: bool,
    /// Then these: (seq, input position, anchor, item JSON).
    items: Vec<(i64, i64, i64, String)>,
}

impl PendingContext {
    /// The writes this is.
    fn count(&self) -> i64 {
        self.items.len() as i64 + i64::from(self.clear)
    }
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
        let was_empty = self.is_empty();
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

    fn is_empty(&self) -> bool {
        self.by_session.is_empty() && self.context.is_empty()
    }

    /// Forgets a session's added items. Returns whether nothing waited before, and
    /// by how many the waiting writes grew (less than zero when this made some moot).
    pub(super) fn clear_context(&mut self, session_id: &str) -> (bool, i64) {
        let was_empty = self.is_empty();
        let pending = self.context.entry(session_id.to_owned()).or_default();
        let before = pending.count();
        pending.items.clear();
        pending.clear = true;
        (was_empty, pending.count() - before)
    }

    /// Adds a session's `seq`-th item (seq 0 starts its list afresh). Returns as
    /// `clear_context` does.
    pub(super) fn put_context(
        &mut self,
        session_id: &str,
        seq: i64,
        position: i64,
        anchor: i64,
        item: String,
    ) -> (bool, i64) {
        let was_empty = self.is_empty();
        let pending = self.context.entry(session_id.to_owned()).or_default();
        let before = pending.count();
        if seq == 0 {
            pending.items.clear();
            pending.clear = true;
        }
        pending.items.push((seq, position, anchor, item));
        (was_empty, pending.count() - before)
    }

    /// The waiting touches as one write per session, and the context writes, leaving
    /// none behind.
    pub(super) fn take(&mut self) -> Vec<Write> {
        let mut writes: Vec<Write> = self
            .by_session
            .drain()
            .map(|(session_id, touch)| Write::TouchSession {
                session_id,
                cwd: touch.cwd,
                first_seen: touch.first,
                last_seen: touch.last,
                requests: touch.requests,
            })
            .collect();
        for (session_id, pending) in self.context.drain() {
            if pending.clear {
                writes.push(Write::ClearSessionContext {
                    session_id: session_id.clone(),
                });
            }
            for (seq, position, anchor, item) in pending.items {
                writes.push(Write::SessionContext {
                    session_id: session_id.clone(),
                    seq,
                    position,
                    anchor,
                    item,
                });
            }
        }
        writes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_writes_wait_as_their_net_effect() {
        let mut t = Touches::default();
        // seq 0: a clear and the item.
        assert_eq!(t.put_context("s", 0, 3, 0, "a".into()), (true, 2));
        assert_eq!(t.put_context("s", 1, 5, 0, "b".into()), (false, 1));
        // Resent: cleared, then added afresh; the two waiting items are moot.
        assert_eq!(t.clear_context("s"), (false, -2));
        assert_eq!(t.put_context("s", 0, 3, 0, "c".into()), (false, 1));
        let taken = t.take();
        let kinds: Vec<&str> = taken
            .iter()
            .map(|w| match w {
                Write::ClearSessionContext { .. } => "clear",
                Write::SessionContext { item, .. } => item.as_str(),
                _ => "other",
            })
            .collect();
        assert_eq!(kinds, ["clear", "c"]);
        assert!(t.take().is_empty());
    }

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
