//! The writer thread: owns the one writing connection and applies queued writes in batches.
//!
//! Every secret is redacted here, so the request path pays neither for SQL nor for regexes.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use rusqlite::{params, Connection};
use serde::Serialize;

use super::records::{
    GoalRecord, HistoryLink, HookRunRecord, ModelAttemptRecord, TaskOutcome, TaskRecord,
    TaskStatus, Timestamp, ToolCallRecord, TranscriptRecord,
};
use super::redact::{redact_json, redact_text};
use super::touches::{Touches, LINGER};

/// Writes taken from the queue in one go share a transaction: one fsync for many rows.
const MAX_BATCH: usize = 256;

/// Above this many queued writes the disk is not keeping up; say so once per crossing.
const HIGH_WATER: u64 = 10_000;

/// One change to the ledger.
#[derive(Debug)]
pub(super) enum Write {
    TaskCreated(Box<TaskRecord>),
    TaskStarted {
        id: String,
        at: Timestamp,
    },
    TaskFinished {
        id: String,
        outcome: TaskOutcome,
    },
    ToolCall(ToolCallRecord),
    ModelAttempt(ModelAttemptRecord),
    HookRun(HookRunRecord),
    /// `requests` requests of a session between the two times (summed in `Touches`).
    TouchSession {
        session_id: String,
        cwd: Option<String>,
        first_seen: Timestamp,
        last_seen: Timestamp,
        requests: u64,
    },
    LinkHistory(HistoryLink),
    /// An agent's transcript, replacing the one it had.
    Transcript(Box<TranscriptRecord>),
    /// A goal as it is now, replacing its row.
    Goal(Box<GoalRecord>),
    /// A task's messages so far, replacing what it had.
    TaskMessages {
        task_id: String,
        messages_json: String,
        at: Timestamp,
    },
    /// The proxy is stopping: every queued or running task ends `interrupted` now.
    InterruptOpen {
        at: Timestamp,
    },
    /// One item the proxy added to a session (seq 0 starts its list afresh).
    SessionContext {
        session_id: String,
        seq: i64,
        position: i64,
        anchor: i64,
        item: String,
    },
    /// The session's added items are forgotten.
    ClearSessionContext {
        session_id: String,
    },
}

/// Who is waiting for a flush, and how.
#[derive(Debug)]
pub(super) enum FlushAck {
    Async(tokio::sync::oneshot::Sender<()>),
    Blocking(SyncSender<()>),
}

/// What travels on the queue.
#[derive(Debug)]
pub(super) enum Message {
    Write(Write),
    /// Session touches wait in the shared `Touches`: write them one linger from now.
    TouchesWaiting,
    /// Answered once every earlier message has been committed (or has failed).
    Flush(FlushAck),
}

/// Counts shared between the ledger handle and its writer.
#[derive(Debug, Default)]
pub(super) struct Counters {
    pending: AtomicU64,
    written: AtomicU64,
    failed: AtomicU64,
    lost: AtomicU64,
}

/// A snapshot of the writer's counters, for `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct WriterStats {
    /// Writes queued and not yet applied.
    pub pending: u64,
    /// Writes applied.
    pub written: u64,
    /// Writes SQLite refused (logged with the reason).
    pub failed: u64,
    /// Writes never applied because the writer had stopped.
    pub lost: u64,
}

impl Counters {
    pub(super) fn queued(&self) {
        if self.pending.fetch_add(1, Ordering::Relaxed) + 1 == HIGH_WATER {
            tracing::warn!(
                pending = HIGH_WATER,
                "ledger writes are queueing up faster than the disk takes them"
            );
        }
    }

    /// Queued writes that became unnecessary before they were written.
    pub(super) fn unqueued(&self, n: u64) {
        self.pending.fetch_sub(n, Ordering::Relaxed);
    }

    pub(super) fn lost(&self) {
        self.lost.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn snapshot(&self) -> WriterStats {
        WriterStats {
            pending: self.pending.load(Ordering::Relaxed),
            written: self.written.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            lost: self.lost.load(Ordering::Relaxed),
        }
    }
}

/// Applies messages until every sender is gone, then returns (draining what is queued).
/// Session touches are taken from `touches` one linger after the writer hears of them,
/// at a flush, or at the end.
pub(super) fn run(
    mut conn: Connection,
    rx: Receiver<Message>,
    touches: Arc<Mutex<Touches>>,
    counters: Arc<Counters>,
) {
    let take_touches = || {
        touches
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    };
    let mut touches_due: Option<Instant> = None;
    loop {
        let first = match touches_due {
            None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
            Some(due) => rx.recv_timeout(due.saturating_duration_since(Instant::now())),
        };
        let first = match first {
            Ok(first) => first,
            Err(RecvTimeoutError::Timeout) => {
                touches_due = None;
                apply_batch(&mut conn, &counters, &take_touches(), Vec::new());
                continue;
            }
            Err(RecvTimeoutError::Disconnected) => break,
        };
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let now = Instant::now();
        let mut writes = Vec::with_capacity(batch.len());
        let mut acks = Vec::new();
        for message in batch {
            match message {
                Message::Write(write) => writes.push(write),
                Message::TouchesWaiting => {
                    touches_due.get_or_insert(now + LINGER);
                }
                Message::Flush(ack) => acks.push(ack),
            }
        }
        if !acks.is_empty() || touches_due.is_some_and(|due| due <= now) {
            touches_due = None;
            writes.extend(take_touches());
        }
        apply_batch(&mut conn, &counters, &writes, acks);
    }
    apply_batch(&mut conn, &counters, &take_touches(), Vec::new());
}

/// Commits `writes`, counts them, then answers the flushes that waited on them.
fn apply_batch(conn: &mut Connection, counters: &Counters, writes: &[Write], acks: Vec<FlushAck>) {
    let (written, failed) = commit(conn, writes);
    counters.written.fetch_add(written, Ordering::Relaxed);
    counters.failed.fetch_add(failed, Ordering::Relaxed);
    counters
        .pending
        .fetch_sub(written + failed, Ordering::Relaxed);
    for ack in acks {
        // A waiter that gave up is no concern of the writer.
        let _ = match ack {
            FlushAck::Async(tx) => tx.send(()),
            FlushAck::Blocking(tx) => tx.send(()).map_err(drop),
        };
    }
}

/// Applies `writes` in one transaction; returns how many queued messages were applied
/// and how many failed (a summed touch counts every request in it).
fn commit(conn: &mut Connection, writes: &[Write]) -> (u64, u64) {
    let total: u64 = writes.iter().map(Write::messages).sum();
    if total == 0 {
        return (0, 0);
    }
    let tx = match conn.transaction() {
        Ok(tx) => tx,
        Err(err) => {
            tracing::error!(%err, lost = total, "cannot begin a ledger transaction");
            return (0, total);
        }
    };
    let mut failed = 0;
    for write in writes {
        if let Err(err) = apply(&tx, write) {
            failed += write.messages();
            tracing::error!(%err, write = write.kind(), "ledger write failed");
        }
    }
    match tx.commit() {
        Ok(()) => (total - failed, failed),
        Err(err) => {
            tracing::error!(%err, lost = total, "cannot commit ledger writes");
            (0, total)
        }
    }
}

impl Write {
    /// How many queued messages this write stands for.
    fn messages(&self) -> u64 {
        match self {
            Self::TouchSession { requests, .. } => *requests,
            _ => 1,
        }
    }

    /// A name for logs that carries no recorded content.
    fn kind(&self) -> &'static str {
        match self {
            Self::TaskCreated(_) => "task_created",
            Self::TaskStarted { .. } => "task_started",
            Self::TaskFinished { .. } => "task_finished",
            Self::ToolCall(_) => "tool_call",
            Self::ModelAttempt(_) => "model_attempt",
            Self::HookRun(_) => "hook_run",
            Self::TouchSession { .. } => "touch_session",
            Self::LinkHistory(_) => "link_history",
            Self::Transcript(_) => "transcript",
            Self::Goal(_) => "goal",
            Self::TaskMessages { .. } => "task_messages",
            Self::InterruptOpen { .. } => "interrupt_open",
            Self::SessionContext { .. } => "session_context",
            Self::ClearSessionContext { .. } => "clear_session_context",
        }
    }
}

fn redact_opt(text: &Option<String>) -> Option<String> {
    text.as_deref().map(|t| redact_text(t).into_owned())
}

fn apply(conn: &Connection, write: &Write) -> rusqlite::Result<()> {
    match write {
        Write::TaskCreated(t) => {
            conn.prepare_cached(
                "INSERT INTO tasks (id, parent_id, session_id, call_key, call_id, agent,
                    description, prompt, model, provider, status, output, error, tool_uses,
                    input_tokens, output_tokens, cost_usd, depth, created_at, started_at,
                    ended_at, duration_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15,
                    ?16, ?17, ?18, ?19, ?20, ?21, ?22)",
            )?
            .execute(params![
                t.id,
                t.parent_id,
                t.session_id,
                t.call_key,
                t.call_id,
                t.agent,
                redact_text(&t.description),
                redact_text(&t.prompt),
                t.model,
                t.provider,
                t.status,
                redact_opt(&t.output),
                redact_opt(&t.error),
                t.tool_uses,
                t.input_tokens,
                t.output_tokens,
                t.cost_usd,
                t.depth,
                t.created_at,
                t.started_at,
                t.ended_at,
                t.duration_ms,
            ])?;
        }
        Write::TaskStarted { id, at } => {
            // A task cancelled before it started stays cancelled.
            conn.prepare_cached(
                "UPDATE tasks SET status = ?1, started_at = ?2 WHERE id = ?3 AND status = ?4",
            )?
            .execute(params![TaskStatus::Running, at, id, TaskStatus::Queued])?;
        }
        Write::TaskFinished { id, outcome: o } => {
            let changed = conn
                .prepare_cached(
                    "UPDATE tasks SET status = ?1, output = ?2, error = ?3,
                        model = COALESCE(?4, model), provider = COALESCE(?5, provider),
                        tool_uses = ?6, input_tokens = ?7, output_tokens = ?8, cost_usd = ?9,
                        ended_at = ?10, duration_ms = ?11
                     WHERE id = ?12",
                )?
                .execute(params![
                    o.status,
                    redact_opt(&o.output),
                    redact_opt(&o.error),
                    o.model,
                    o.provider,
                    o.tool_uses,
                    o.input_tokens,
                    o.output_tokens,
                    o.cost_usd,
                    o.ended_at,
                    o.duration_ms,
                    id,
                ])?;
            if changed == 0 {
                tracing::warn!(task_id = %id, "ledger: a task finished that was never recorded");
            }
        }
        Write::SessionContext {
            session_id,
            seq,
            position,
            anchor,
            item,
        } => {
            // Kept exact, like history links: the items go back to the model verbatim.
            if *seq == 0 {
                conn.prepare_cached("DELETE FROM session_context WHERE session_id = ?1")?
                    .execute(params![session_id])?;
            }
            conn.prepare_cached(
                "INSERT OR REPLACE INTO session_context (session_id, seq, position, anchor, item_json)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![session_id, seq, position, anchor, item])?;
        }
        Write::ClearSessionContext { session_id } => {
            conn.prepare_cached("DELETE FROM session_context WHERE session_id = ?1")?
                .execute(params![session_id])?;
        }
        Write::InterruptOpen { at } => {
            let changed = super::ledger::interrupt_open(conn, *at, "codex-plus was shut down")?;
            if changed > 0 {
                tracing::warn!(
                    tasks = changed,
                    "shutting down: running tasks marked interrupted"
                );
            }
        }
        Write::ToolCall(c) => {
            conn.prepare_cached(
                "INSERT INTO tool_calls (task_id, seq, tool, input_json, is_error, output_bytes,
                    duration_ms, at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![
                c.task_id,
                c.seq,
                c.tool,
                redact_json(&c.input).to_string(),
                c.is_error,
                c.output_bytes,
                c.duration_ms,
                c.at,
            ])?;
        }
        Write::ModelAttempt(a) => {
            conn.prepare_cached(
                "INSERT INTO model_attempts (task_id, provider, model, ok, error, retries,
                    duration_ms, input_tokens, output_tokens, at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )?
            .execute(params![
                a.task_id,
                a.provider,
                a.model,
                a.ok,
                redact_opt(&a.error),
                a.retries,
                a.duration_ms,
                a.input_tokens,
                a.output_tokens,
                a.at,
            ])?;
        }
        Write::HookRun(h) => {
            conn.prepare_cached(
                "INSERT INTO hook_runs (session_id, event, matcher, command, exit_code, outcome,
                    duration_ms, timed_out, stdout_bytes, stderr_excerpt, at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            )?
            .execute(params![
                h.session_id,
                h.event,
                h.matcher,
                redact_text(&h.command),
                h.exit_code,
                h.outcome,
                h.duration_ms,
                h.timed_out,
                h.stdout_bytes,
                redact_text(&h.stderr_excerpt),
                h.at,
            ])?;
        }
        Write::TouchSession {
            session_id,
            cwd,
            first_seen,
            last_seen,
            requests,
        } => {
            conn.prepare_cached(
                "INSERT INTO sessions (session_id, cwd, first_seen, last_seen, requests)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (session_id) DO UPDATE SET
                    cwd = COALESCE(excluded.cwd, cwd),
                    last_seen = MAX(last_seen, excluded.last_seen),
                    requests = requests + excluded.requests",
            )?
            .execute(params![session_id, cwd, first_seen, last_seen, requests])?;
        }
        Write::TaskMessages {
            task_id,
            messages_json,
            at,
        } => {
            // Kept exact, like history links: they go back to the model verbatim.
            conn.prepare_cached(
                "INSERT OR REPLACE INTO task_messages (task_id, messages_json, updated_at)
                 VALUES (?1, ?2, ?3)",
            )?
            .execute(params![task_id, messages_json, at])?;
        }
        Write::Goal(g) => {
            conn.prepare_cached(
                "INSERT OR REPLACE INTO goals (id, goal, cwd, sandbox, model, max_parallel,
                    status, graph_json, answer, error, created_at, updated_at, ended_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
            )?
            .execute(params![
                g.id,
                g.goal,
                g.cwd,
                g.sandbox,
                g.model,
                g.max_parallel,
                g.status,
                g.graph_json,
                g.answer,
                g.error,
                g.created_at,
                g.updated_at,
                g.ended_at,
            ])?;
        }
        Write::Transcript(t) => {
            conn.prepare_cached(
                "INSERT OR REPLACE INTO agent_transcripts (agent_id, session_id, name, agent,
                    model, cwd, worktree, last_task_id, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?
            .execute(params![
                t.agent_id,
                t.session_id,
                t.name,
                t.agent,
                t.model,
                t.cwd,
                t.worktree,
                t.last_task_id,
                t.updated_at,
            ])?;
        }
        Write::LinkHistory(l) => {
            // Kept exact, not redacted: these items go back to the model verbatim, and
            // Codex already keeps the same items in its own session files.
            conn.prepare_cached(
                "INSERT OR REPLACE INTO history_links (message_id, session_id, call_item_json,
                    output_item_json, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![
                l.message_id,
                l.session_id,
                l.call_item_json,
                l.output_item_json,
                l.created_at,
            ])?;
        }
    }
    Ok(())
}
