//! The ledger handle: queues writes for the writer thread and answers reads.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::{params, Connection};

use super::read;
use super::records::{
    GoalRecord, HistoryLink, HookRunRecord, ModelAttemptRecord, SessionRecord, TaskOutcome,
    TaskRecord, TaskStatus, Timestamp, ToolCallRecord, Totals, TranscriptRecord,
};
use super::schema;
use super::touches::Touches;
use super::writer::{self, Counters, FlushAck, Message, Write, WriterStats};
use super::StoreError;

/// How long a connection waits for another one's lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The ledger: writes are queued and applied by a dedicated thread; reads are synchronous.
///
/// Reads block on SQLite, so async callers wrap them in `spawn_blocking`. A read does not
/// see writes still in the queue; call [`Ledger::flush`] first when that matters.
#[derive(Debug)]
pub struct Ledger {
    path: PathBuf,
    /// The queue is unbounded on purpose: a full queue would have to either block the
    /// async request path or drop task rows, which the design promises never to lose.
    /// Writes are small and arrive at the pace of model and tool calls, far below what
    /// the writer commits, so the queue only grows while the disk stalls; `stats()`
    /// shows its depth and a warning is logged when it passes a high-water mark.
    tx: Option<Sender<Message>>,
    writer: Option<JoinHandle<()>>,
    /// Session touches summed here, off the queue: see `touches`.
    touches: Arc<Mutex<Touches>>,
    reader: Mutex<Connection>,
    counters: Arc<Counters>,
    interrupted_on_open: u64,
    /// Held while open: only the owning process may declare open tasks interrupted.
    _owner: Option<File>,
}

impl Ledger {
    /// The directory the ledger is in: the state directory.
    pub fn dir(&self) -> &Path {
        self.path.parent().unwrap_or(Path::new("."))
    }

    /// Opens (creating if needed) the ledger at `path`, migrates it, and starts its writer.
    ///
    /// If no other process has the ledger open, tasks left queued or running by a crash
    /// are marked interrupted; [`Ledger::interrupted_on_open`] says how many.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref().to_owned();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            private_dir(dir).map_err(|source| StoreError::CreateDir {
                path: dir.to_owned(),
                source,
            })?;
        }
        // Prompts, outputs and transcripts are the user's: 0600 before SQLite opens
        // it, so its WAL and shared-memory files are created with the same mode.
        private_file(&path).map_err(|source| StoreError::Private {
            path: path.clone(),
            source,
        })?;
        let open_err = |source| StoreError::Open {
            path: path.clone(),
            source,
        };

        let mut conn = Connection::open(&path).map_err(open_err)?;
        configure(&conn).map_err(open_err)?;
        schema::migrate(&mut conn, &path)?;

        let (is_owner, owner) = claim_owner(&path);
        let interrupted_on_open = if is_owner {
            recover_interrupted(&conn).map_err(open_err)?
        } else {
            tracing::info!(path = %path.display(), "ledger is open in another process; leaving its open tasks alone");
            0
        };

        let reader = Connection::open(&path).map_err(open_err)?;
        reader.busy_timeout(BUSY_TIMEOUT).map_err(open_err)?;
        reader
            .pragma_update(None, "query_only", true)
            .map_err(open_err)?;

        let counters = Arc::new(Counters::default());
        let touches = Arc::new(Mutex::new(Touches::default()));
        let (tx, rx) = mpsc::channel();
        let writer = std::thread::Builder::new()
            .name("ledger-writer".into())
            .spawn({
                let counters = Arc::clone(&counters);
                let touches = Arc::clone(&touches);
                move || writer::run(conn, rx, touches, counters)
            })
            .map_err(StoreError::SpawnWriter)?;

        Ok(Self {
            path,
            tx: Some(tx),
            writer: Some(writer),
            touches,
            reader: Mutex::new(reader),
            counters,
            interrupted_on_open,
            _owner: owner,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How many tasks a previous crash left open and this open marked interrupted.
    pub fn interrupted_on_open(&self) -> u64 {
        self.interrupted_on_open
    }

    /// The writer's counters: queue depth, rows written, failed and lost.
    pub fn stats(&self) -> WriterStats {
        self.counters.snapshot()
    }

    // ---- writes: queued, applied off the request path ----

    /// Records a task before it starts.
    pub fn task_created(&self, task: &TaskRecord) {
        self.send(Write::TaskCreated(Box::new(task.clone())));
    }

    /// Marks a queued task as running.
    pub fn task_started(&self, id: &str, at: Timestamp) {
        self.send(Write::TaskStarted {
            id: id.to_owned(),
            at,
        });
    }

    /// Records how a task ended.
    pub fn task_finished(&self, id: &str, outcome: &TaskOutcome) {
        self.send(Write::TaskFinished {
            id: id.to_owned(),
            outcome: outcome.clone(),
        });
    }

    /// Records one tool call of a subagent.
    pub fn tool_call(&self, call: &ToolCallRecord) {
        self.send(Write::ToolCall(call.clone()));
    }

    /// Records one call to a model provider.
    pub fn model_attempt(&self, attempt: &ModelAttemptRecord) {
        self.send(Write::ModelAttempt(attempt.clone()));
    }

    /// The proxy is stopping: queued and running tasks end as `interrupted` with an
    /// `ended_at`, after every write queued before this one.
    pub fn interrupt_open(&self) {
        self.send(Write::InterruptOpen {
            at: Timestamp::now(),
        });
    }

    /// Keeps one item the proxy added to a session, its `seq`-th (0 starts the
    /// session's list afresh). Written within a second (`touches::LINGER`), coalesced
    /// with the session's other context writes.
    pub fn add_session_context(
        &self,
        session_id: &str,
        seq: usize,
        kept: &crate::hooks::sessions::Kept,
    ) {
        let waiting = self
            .touches
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .put_context(
                session_id,
                i64::try_from(seq).unwrap_or(i64::MAX),
                i64::try_from(kept.at).unwrap_or(i64::MAX),
                // Stored as its bits: SQLite integers are signed.
                kept.after as i64,
                kept.item.as_str().to_string(),
            );
        self.context_waiting(waiting);
    }

    /// Forgets what the proxy added to a session (written as `add_session_context`).
    pub fn clear_session_context(&self, session_id: &str) {
        let waiting = self
            .touches
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear_context(session_id);
        self.context_waiting(waiting);
    }

    /// The waiting context writes grew by `grew` (less than zero: some became moot);
    /// the writer is told when the first waits.
    fn context_waiting(&self, (first, grew): (bool, i64)) {
        for _ in 0..grew {
            self.counters.queued();
        }
        self.counters.unqueued(grew.min(0).unsigned_abs());
        if first && self.send_message(Message::TouchesWaiting).is_err() {
            self.counters.lost();
            tracing::error!("ledger writer has stopped; a session's context was lost");
        }
    }

    /// Records one hook command run.
    pub fn hook_run(&self, run: &HookRunRecord) {
        self.send(Write::HookRun(run.clone()));
    }

    /// Counts a request of `session_id`, remembering its workspace when known. Touches are
    /// summed per session and written within a second (`touches::LINGER`), or by the next
    /// flush; only the first touch after a write wakes the writer.
    pub fn touch_session(&self, session_id: &str, cwd: Option<&Path>) {
        let cwd = cwd.map(|p| p.to_string_lossy().into_owned());
        self.counters.queued();
        let first = self
            .touches
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .add(session_id, cwd, Timestamp::now());
        if first && self.send_message(Message::TouchesWaiting).is_err() {
            self.counters.lost();
            tracing::error!("ledger writer has stopped; a session touch was lost");
        }
    }

    /// Remembers which real items a synthesized progress message stands for.
    pub fn link_history(&self, link: &HistoryLink) {
        self.send(Write::LinkHistory(link.clone()));
    }

    /// Keeps a goal as it is now (replacing its row).
    pub fn save_goal(&self, goal: GoalRecord) {
        self.send(Write::Goal(Box::new(goal)));
    }

    /// Keeps a task's messages so far (a JSON array of `providers::Message`).
    pub fn save_task_messages(&self, task_id: &str, messages_json: String) {
        self.send(Write::TaskMessages {
            task_id: task_id.to_string(),
            messages_json,
            at: Timestamp::now(),
        });
    }

    /// Keeps an agent's transcript (replacing its earlier one), for `SendMessage`.
    pub fn save_transcript(&self, transcript: TranscriptRecord) {
        self.send(Write::Transcript(Box::new(transcript)));
    }

    /// Waits until every write queued before this call has been applied.
    pub async fn flush(&self) -> Result<(), StoreError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.send_message(Message::Flush(FlushAck::Async(tx)))?;
        rx.await.map_err(|_| StoreError::WriterGone)
    }

    /// Like [`Ledger::flush`], for code outside an async context.
    pub fn flush_blocking(&self) -> Result<(), StoreError> {
        let (tx, rx) = mpsc::sync_channel(1);
        self.send_message(Message::Flush(FlushAck::Blocking(tx)))?;
        rx.recv().map_err(|_| StoreError::WriterGone)
    }

    fn send(&self, write: Write) {
        self.counters.queued();
        if self.send_message(Message::Write(write)).is_err() {
            self.counters.lost();
            tracing::error!("ledger writer has stopped; a write was lost");
        }
    }

    fn send_message(&self, message: Message) -> Result<(), StoreError> {
        self.tx
            .as_ref()
            .ok_or(StoreError::WriterGone)?
            .send(message)
            .map_err(|_| StoreError::WriterGone)
    }

    // ---- reads: synchronous; wrap in spawn_blocking from async code ----

    fn reader(&self) -> MutexGuard<'_, Connection> {
        // A panic elsewhere while holding the lock leaves the connection itself intact.
        self.reader.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The task with this id.
    pub fn task(&self, id: &str) -> Result<Option<TaskRecord>, StoreError> {
        Ok(read::task(&self.reader(), id)?)
    }

    /// Tasks, newest first.
    pub fn tasks(&self, limit: usize, offset: usize) -> Result<Vec<TaskRecord>, StoreError> {
        Ok(read::tasks(&self.reader(), limit, offset)?)
    }

    /// The latest completed task for this call key, so a retried request can reuse it.
    pub fn task_by_call_key(&self, call_key: &str) -> Result<Option<TaskRecord>, StoreError> {
        Ok(read::task_by_call_key(&self.reader(), call_key)?)
    }

    /// A task's tool calls in order.
    pub fn tool_calls(&self, task_id: &str) -> Result<Vec<ToolCallRecord>, StoreError> {
        Ok(read::tool_calls(&self.reader(), task_id)?)
    }

    /// A task's model attempts in order.
    pub fn model_attempts(&self, task_id: &str) -> Result<Vec<ModelAttemptRecord>, StoreError> {
        Ok(read::model_attempts(&self.reader(), task_id)?)
    }

    /// The latest hook runs, newest first.
    pub fn hook_runs(&self, limit: usize) -> Result<Vec<HookRunRecord>, StoreError> {
        Ok(read::hook_runs(&self.reader(), limit)?)
    }

    /// A session as seen so far.
    pub fn session(&self, session_id: &str) -> Result<Option<SessionRecord>, StoreError> {
        Ok(read::session(&self.reader(), session_id)?)
    }

    /// The context the proxy added to a session, as (input position, fingerprint of
    /// the item before it, item JSON), in the order it was added.
    pub fn session_context(
        &self,
        session_id: &str,
    ) -> Result<Vec<(usize, u64, String)>, StoreError> {
        Ok(read::session_context(&self.reader(), session_id)?)
    }

    /// The real items behind a synthesized progress message.
    pub fn history_link(&self, message_id: &str) -> Result<Option<HistoryLink>, StoreError> {
        Ok(read::history_link(&self.reader(), message_id)?)
    }

    /// One goal.
    pub fn goal(&self, id: &str) -> Result<Option<GoalRecord>, StoreError> {
        Ok(read::goal(&self.reader(), id)?)
    }

    /// Goals, newest first.
    pub fn goals(&self, limit: usize) -> Result<Vec<GoalRecord>, StoreError> {
        Ok(read::goals(&self.reader(), limit)?)
    }

    /// A task's messages, as kept at its start and end.
    pub fn task_messages(&self, task_id: &str) -> Result<Option<String>, StoreError> {
        Ok(read::task_messages(&self.reader(), task_id)?)
    }

    /// The transcript of the agent `to` (its id or name) of `session`.
    pub fn transcript(
        &self,
        session_id: Option<&str>,
        to: &str,
    ) -> Result<Option<TranscriptRecord>, StoreError> {
        Ok(read::transcript(&self.reader(), session_id, to)?)
    }

    /// The agents `session` may continue, newest first: (agent id, name, agent type).
    pub fn transcripts(
        &self,
        session_id: Option<&str>,
    ) -> Result<Vec<(String, Option<String>, String)>, StoreError> {
        Ok(read::transcripts(&self.reader(), session_id)?)
    }

    /// Aggregates for `/status`.
    pub fn totals(&self) -> Result<Totals, StoreError> {
        Ok(read::totals(&self.reader())?)
    }
}

impl Drop for Ledger {
    /// Lets the writer drain the queue, so nothing accepted is lost on shutdown.
    fn drop(&mut self) {
        drop(self.tx.take());
        if let Some(writer) = self.writer.take() {
            if writer.join().is_err() {
                tracing::error!("the ledger writer thread panicked");
            }
        }
    }
}

fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    let mode: String =
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        tracing::warn!(%mode, "ledger could not switch to WAL; reads may wait for writes");
    }
    // WAL + NORMAL: a power cut may lose the last commits, never corrupt the file.
    conn.pragma_update(None, "synchronous", "NORMAL")
}

fn recover_interrupted(conn: &Connection) -> rusqlite::Result<u64> {
    let changed = interrupt_open(conn, Timestamp::now(), "codex-plus stopped")?;
    if changed > 0 {
        tracing::warn!(
            tasks = changed,
            "marked tasks left open by a previous run as interrupted"
        );
    }
    Ok(changed)
}

/// Ends every queued or running task as `interrupted` at `at`, saying what it was
/// doing. Returns how many.
pub(super) fn interrupt_open(conn: &Connection, at: Timestamp, why: &str) -> rusqlite::Result<u64> {
    let changed = conn.execute(
        "UPDATE tasks SET status = ?1,
            error = COALESCE(error, ?4 || ' while the task was ' || status),
            ended_at = COALESCE(ended_at, ?5),
            duration_ms = COALESCE(duration_ms, MAX(0, ?5 - COALESCE(started_at, created_at)))
         WHERE status IN (?2, ?3)",
        params![
            TaskStatus::Interrupted,
            TaskStatus::Queued,
            TaskStatus::Running,
            why,
            at,
        ],
    )?;
    // Goals that were planning or running stop with them; `resume` goes on.
    conn.execute(
        "UPDATE goals SET status = 'interrupted', updated_at = ?1,
            error = COALESCE(error, ?2 || ' while the goal was ' || status)
         WHERE status IN ('planning', 'running')",
        params![at, why],
    )?;
    Ok(changed as u64)
}

/// Creates `dir` (and its parents) and makes it private (0700): the state directory
/// holds the ledger, the CA key and logs.
fn private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
}

/// Creates `path` if missing, and makes it readable by its owner only (0600); a file
/// an older version left 0644 is mended. SQLite's side files (`-wal`, `-shm`) that
/// already exist are mended too.
fn private_file(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    // Something that is not a file (a directory) is SQLite's to refuse, by name.
    if std::fs::metadata(path).is_ok_and(|m| !m.is_file()) {
        return Ok(());
    }
    File::options()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    for side in ["-wal", "-shm", ".lock"] {
        let mut name = path.as_os_str().to_owned();
        name.push(side);
        match std::fs::set_permissions(&name, std::fs::Permissions::from_mode(0o600)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    Ok(())
}

/// Takes an exclusive advisory lock beside the database. Returns whether this process owns
/// the ledger, and the lock to hold while it does. The kernel drops the lock when its holder
/// dies, so a crash never leaves it stale.
fn claim_owner(db: &Path) -> (bool, Option<File>) {
    use std::os::unix::fs::OpenOptionsExt;
    let mut name = db.as_os_str().to_owned();
    name.push(".lock");
    let file = match File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(&name)
    {
        Ok(file) => file,
        Err(err) => {
            // Cannot tell; a lone proxy is the common case, so recover.
            tracing::warn!(%err, "cannot create the ledger lock file; assuming sole ownership");
            return (true, None);
        }
    };
    // SAFETY: flock only reads the descriptor, which `file` keeps open for the call.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc == 0 {
        return (true, Some(file));
    }
    let err = std::io::Error::last_os_error();
    if err.kind() == std::io::ErrorKind::WouldBlock {
        (false, None)
    } else {
        tracing::warn!(%err, "cannot lock the ledger lock file; assuming sole ownership");
        (true, None)
    }
}
