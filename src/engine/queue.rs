//! The tasks the engine knows in memory: running ones, and the latest finished ones
//! (so a result stays at hand after the run, even before the ledger has it on disk).
//! Each task is a `TaskEntry`: its identity, its live progress, its event channel and
//! the slot its result lands in.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::{broadcast, watch};
use tokio_util::sync::CancellationToken;

use super::events::{TaskEvent, TaskHandle, EVENT_BUFFER};
use super::feed::{preview, Feed, TaskUpdate};
use super::result::{TaskResult, TaskSnapshot, TaskStatus};
use crate::providers::Usage;
use crate::store::Timestamp;

/// Finished tasks kept in memory; older ones are found in the ledger.
pub const RECENT_FINISHED: usize = 1024;

/// Who a task is, fixed when it is accepted.
#[derive(Debug, Clone)]
pub(crate) struct Identity {
    /// `task_` and 16 hex digits.
    pub id: String,
    /// The agent a `SendMessage` run continues (its first task's id).
    pub agent_id: Option<String>,
    /// The agent's canonical name (as asked, when no such agent exists).
    pub agent: String,
    /// As given, or the prompt's first words.
    pub description: String,
    /// The Codex session that asked for it.
    pub session_id: Option<String>,
    /// The task whose subagent started this one.
    pub parent_id: Option<String>,
    /// The de-duplication key.
    pub call_key: Option<String>,
    /// As the ledger counts it: 1 for a task from Codex, the CLI or HTTP.
    pub depth: u32,
    /// Started in the background: its caller went on without waiting.
    pub background: bool,
}

/// What a task has produced so far.
#[derive(Debug, Clone, Default)]
pub(crate) struct Progress {
    /// The latest non-empty text from the model.
    pub text: String,
    /// Tool calls made.
    pub tool_uses: u32,
    /// Tokens over the model calls so far.
    pub usage: Usage,
    /// Known cost so far.
    pub cost_usd: Option<f64>,
    /// Who answered last.
    pub provider: Option<String>,
    /// Which model answered last.
    pub model: Option<String>,
}

#[derive(Debug)]
struct Live {
    status: TaskStatus,
    started: Option<(Instant, Timestamp)>,
    ended: Option<Timestamp>,
    queued: Duration,
    progress: Progress,
}

/// One task in memory.
pub(crate) struct TaskEntry {
    /// Who it is.
    pub who: Identity,
    /// When it was accepted.
    pub created_at: Timestamp,
    accepted: Instant,
    /// Cancels this task and the subagents it started.
    pub cancel: CancellationToken,
    events: broadcast::Sender<TaskEvent>,
    done: watch::Sender<Option<Arc<TaskResult>>>,
    live: Mutex<Live>,
    /// The workspace's hooks plus its agent's own, when the agent file has `hooks`.
    pub agent_hooks: std::sync::OnceLock<Arc<crate::hooks::HookRunner>>,
    /// Its run's span, under which its model and tool calls nest (telemetry).
    pub trace: std::sync::OnceLock<crate::telemetry::Parent>,
    /// The engine-wide feed every change is also published on.
    feed: Feed,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Plain data: a panic elsewhere while holding the lock leaves it usable.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl TaskEntry {
    /// A queued task, publishing its changes on `feed` too.
    pub fn new(who: Identity, cancel: CancellationToken, feed: Feed) -> Self {
        let (events, _) = broadcast::channel(EVENT_BUFFER);
        let (done, _) = watch::channel(None);
        Self {
            who,
            created_at: Timestamp::now(),
            accepted: Instant::now(),
            cancel,
            events,
            done,
            trace: std::sync::OnceLock::new(),
            live: Mutex::new(Live {
                status: TaskStatus::Queued,
                started: None,
                ended: None,
                queued: Duration::ZERO,
                progress: Progress::default(),
            }),
            agent_hooks: std::sync::OnceLock::new(),
            feed,
        }
    }

    /// Sends a progress event to whoever listens.
    pub fn emit(&self, event: TaskEvent) {
        self.feed.publish(|| {
            let detail = match &event {
                TaskEvent::ToolUse { tool, summary } if summary.is_empty() => Some(tool.clone()),
                TaskEvent::ToolUse { tool, summary } => Some(format!("{tool}({summary})")),
                TaskEvent::ModelCall { provider, model } => Some(format!("{provider}:{model}")),
                _ => None,
            };
            self.update_for(event.kind(), detail)
        });
        // No receivers is fine: nobody is watching this task.
        let _ = self.events.send(event);
    }

    /// Tells the feed (only) that the counts moved: a tool call ended.
    pub fn progressed(&self) {
        self.feed
            .publish(|| self.update_for(super::feed::PROGRESS, None));
    }

    fn update_for(&self, event: &'static str, detail: Option<String>) -> TaskUpdate {
        let mut task = self.snapshot();
        task.output = preview(&task.output);
        TaskUpdate {
            event,
            detail,
            task,
        }
    }

    /// Marks the task running; returns when that was.
    pub fn start(&self) -> Timestamp {
        let at = Timestamp::now();
        let mut live = lock(&self.live);
        live.status = TaskStatus::Running;
        live.queued = self.accepted.elapsed();
        live.started = Some((Instant::now(), at));
        at
    }

    /// Updates the progress.
    pub fn update(&self, f: impl FnOnce(&mut Progress)) {
        f(&mut lock(&self.live).progress);
    }

    /// The result this task has now, ended with `status`.
    pub fn result(&self, status: TaskStatus, error: Option<String>) -> TaskResult {
        let live = lock(&self.live);
        let p = &live.progress;
        TaskResult {
            id: self.who.id.clone(),
            agent: self.who.agent.clone(),
            description: self.who.description.clone(),
            status,
            output: p.text.clone(),
            error,
            tool_uses: p.tool_uses,
            usage: p.usage,
            cost_usd: p.cost_usd,
            provider: p.provider.clone(),
            model: p.model.clone(),
            duration: live.started.map_or(Duration::ZERO, |(at, _)| at.elapsed()),
            queued: if live.started.is_some() {
                live.queued
            } else {
                self.accepted.elapsed()
            },
            reused: false,
            worktree: None,
            agent_id: self.who.agent_id.clone(),
        }
    }

    /// Stores the result and sends the last event. Later calls are ignored.
    pub fn finish(&self, result: TaskResult) -> bool {
        let mut live = lock(&self.live);
        if self.done.borrow().is_some() {
            return false;
        }
        live.status = result.status;
        live.ended = Some(Timestamp::now());
        let result = Arc::new(result);
        self.done.send_replace(Some(Arc::clone(&result)));
        // Under the lock, so a subscriber either sees this event or the stored result.
        let _ = self
            .events
            .send(TaskEvent::Finished(Box::new((*result).clone())));
        drop(live);
        self.feed.publish(|| self.update_for("finished", None));
        true
    }

    /// The stored result, once finished.
    pub fn finished(&self) -> Option<Arc<TaskResult>> {
        self.done.borrow().clone()
    }

    /// A receiver of the coming events; for a finished task, one holding its Finished event.
    pub fn subscribe(&self) -> broadcast::Receiver<TaskEvent> {
        let _live = lock(&self.live);
        match self.finished() {
            Some(result) => finished_receiver(&result),
            None => self.events.subscribe(),
        }
    }

    /// A handle on this task (`joined`: for a later request with the same call_key).
    pub fn handle(&self, joined: bool) -> TaskHandle {
        TaskHandle {
            id: self.who.id.clone(),
            events: self.subscribe(),
            result: self.done.subscribe(),
            joined,
            agent: self.who.agent.clone(),
            description: self.who.description.clone(),
        }
    }

    /// The task as it is now.
    pub fn snapshot(&self) -> TaskSnapshot {
        let live = lock(&self.live);
        let finished = self.finished();
        let p = &live.progress;
        TaskSnapshot {
            id: self.who.id.clone(),
            parent_id: self.who.parent_id.clone(),
            session_id: self.who.session_id.clone(),
            agent: self.who.agent.clone(),
            description: self.who.description.clone(),
            status: live.status,
            output: finished
                .as_ref()
                .map_or_else(|| p.text.clone(), |r| r.output.clone()),
            error: finished.as_ref().and_then(|r| r.error.clone()),
            tool_uses: p.tool_uses,
            usage: p.usage,
            cost_usd: p.cost_usd,
            provider: p.provider.clone(),
            model: p.model.clone(),
            depth: self.who.depth,
            background: self.who.background,
            created_at: self.created_at,
            started_at: live.started.map(|(_, at)| at),
            ended_at: live.ended,
            duration_ms: finished
                .as_ref()
                .map(|r| u64::try_from(r.duration.as_millis()).unwrap_or(u64::MAX)),
        }
    }
}

/// A receiver that yields one Finished event.
pub(crate) fn finished_receiver(result: &TaskResult) -> broadcast::Receiver<TaskEvent> {
    let (tx, rx) = broadcast::channel(1);
    let _ = tx.send(TaskEvent::Finished(Box::new(result.clone())));
    rx
}

/// A handle on a result that is already known (a reused earlier run).
pub(crate) fn finished_handle(result: TaskResult) -> TaskHandle {
    TaskHandle {
        id: result.id.clone(),
        agent: result.agent.clone(),
        description: result.description.clone(),
        events: finished_receiver(&result),
        result: watch::channel(Some(Arc::new(result))).1,
        joined: false,
    }
}

#[derive(Default)]
struct Tables {
    by_id: HashMap<String, Arc<TaskEntry>>,
    by_call_key: HashMap<String, String>,
    /// Finished ids, oldest first.
    finished: VecDeque<String>,
}

/// Every task in memory.
#[derive(Default)]
pub(crate) struct Registry {
    tables: Mutex<Tables>,
}

impl Registry {
    /// The task with this id, running or recently finished.
    pub fn get(&self, id: &str) -> Option<Arc<TaskEntry>> {
        lock(&self.tables).by_id.get(id).cloned()
    }

    /// The task `call_key` should reuse: a running one, or a completed one.
    pub fn reusable(&self, call_key: &str) -> Option<Arc<TaskEntry>> {
        let tables = lock(&self.tables);
        reusable(&tables, call_key)
    }

    /// Adds a task, unless its call_key already has a reusable one (returned instead).
    pub fn insert(&self, entry: Arc<TaskEntry>) -> Result<(), Arc<TaskEntry>> {
        let mut tables = lock(&self.tables);
        if let Some(key) = &entry.who.call_key {
            if let Some(existing) = reusable(&tables, key) {
                return Err(existing);
            }
            tables.by_call_key.insert(key.clone(), entry.who.id.clone());
        }
        tables.by_id.insert(entry.who.id.clone(), entry);
        Ok(())
    }

    /// Moves a task to the finished list, forgetting the oldest beyond the limit.
    pub fn finished(&self, id: &str) {
        let mut tables = lock(&self.tables);
        tables.finished.push_back(id.to_string());
        while tables.finished.len() > RECENT_FINISHED {
            let Some(old) = tables.finished.pop_front() else {
                break;
            };
            if let Some(entry) = tables.by_id.remove(&old) {
                if let Some(key) = &entry.who.call_key {
                    if tables.by_call_key.get(key) == Some(&old) {
                        tables.by_call_key.remove(key);
                    }
                }
            }
        }
    }

    /// The tasks not finished yet, oldest first.
    pub fn running(&self) -> Vec<Arc<TaskEntry>> {
        let tables = lock(&self.tables);
        let mut running: Vec<Arc<TaskEntry>> = tables
            .by_id
            .values()
            .filter(|e| e.finished().is_none())
            .cloned()
            .collect();
        running.sort_by_key(|e| e.accepted);
        running
    }
}

fn reusable(tables: &Tables, call_key: &str) -> Option<Arc<TaskEntry>> {
    let id = tables.by_call_key.get(call_key)?;
    let entry = tables.by_id.get(id)?;
    match entry.finished() {
        None => Some(Arc::clone(entry)),
        Some(r) if r.status == TaskStatus::Completed => Some(Arc::clone(entry)),
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str, call_key: Option<&str>) -> Arc<TaskEntry> {
        Arc::new(TaskEntry::new(
            Identity {
                id: id.into(),
                agent_id: None,
                agent: "Explore".into(),
                description: "d".into(),
                session_id: None,
                parent_id: None,
                call_key: call_key.map(str::to_string),
                depth: 1,
                background: false,
            },
            CancellationToken::new(),
            Feed::default(),
        ))
    }

    #[test]
    fn a_running_or_completed_task_is_reused_by_call_key_a_failed_one_is_not() {
        let registry = Registry::default();
        let first = entry("t1", Some("k"));
        assert!(registry.insert(Arc::clone(&first)).is_ok());
        let clash = registry.insert(entry("t2", Some("k"))).unwrap_err();
        assert_eq!(clash.who.id, "t1");
        assert_eq!(
            registry.reusable("k").map(|e| e.who.id.clone()).as_deref(),
            Some("t1")
        );

        first.finish(first.result(TaskStatus::Failed, Some("x".into())));
        registry.finished("t1");
        assert!(registry.reusable("k").is_none());
        let retry = entry("t3", Some("k"));
        assert!(registry.insert(Arc::clone(&retry)).is_ok());
        retry.finish(retry.result(TaskStatus::Completed, None));
        registry.finished("t3");
        assert_eq!(
            registry.reusable("k").map(|e| e.who.id.clone()).as_deref(),
            Some("t3")
        );
        assert!(registry.running().is_empty());
    }

    #[test]
    fn finished_tasks_beyond_the_limit_are_forgotten() {
        let registry = Registry::default();
        for i in 0..=RECENT_FINISHED {
            let e = entry(&format!("t{i}"), Some(&format!("k{i}")));
            assert!(registry.insert(Arc::clone(&e)).is_ok());
            e.finish(e.result(TaskStatus::Completed, None));
            registry.finished(&e.who.id);
        }
        assert!(registry.get("t0").is_none());
        assert!(registry.reusable("k0").is_none());
        assert!(registry.get("t1").is_some());
    }

    #[tokio::test]
    async fn the_feed_gets_every_change_with_the_task_then() {
        let feed = Feed::default();
        let mut watching = feed.subscribe();
        let e = Arc::new(TaskEntry::new(
            Identity {
                id: "t".into(),
                agent_id: None,
                agent: "Explore".into(),
                description: "d".into(),
                session_id: Some("s".into()),
                parent_id: None,
                call_key: None,
                depth: 1,
                background: true,
            },
            CancellationToken::new(),
            feed,
        ));
        e.emit(TaskEvent::Queued);
        e.start();
        e.emit(TaskEvent::ToolUse {
            tool: "Read".into(),
            summary: "a.rs".into(),
        });
        e.update(|p| {
            p.tool_uses += 1;
            p.text = "y".repeat(super::super::feed::PREVIEW_CHARS * 2);
        });
        e.progressed();
        assert!(e.finish(e.result(TaskStatus::Completed, None)));
        let mut got = Vec::new();
        while let Ok(update) = watching.try_recv() {
            got.push(update);
        }
        let kinds: Vec<&str> = got.iter().map(|u| u.event).collect();
        assert_eq!(kinds, ["queued", "tool_use", "progress", "finished"]);
        assert_eq!(got[0].task.status, TaskStatus::Queued);
        assert_eq!(got[1].task.status, TaskStatus::Running);
        assert_eq!(got[1].detail.as_deref(), Some("Read(a.rs)"));
        assert_eq!((got[1].task.tool_uses, got[2].task.tool_uses), (0, 1));
        assert!(got.iter().all(|u| u.task.background));
        let last = &got[3].task;
        assert_eq!(last.status, TaskStatus::Completed);
        assert!(last.duration_ms.is_some());
        // The output is a preview; the task's own result keeps it whole.
        assert_eq!(
            last.output.chars().count(),
            super::super::feed::PREVIEW_CHARS + 1
        );
        assert_eq!(
            e.finished().map(|r| r.output.len()),
            Some(super::super::feed::PREVIEW_CHARS * 2)
        );
    }

    #[tokio::test]
    async fn subscribers_get_the_finished_event_even_after_the_end() {
        let e = entry("t", None);
        let mut early = e.subscribe();
        e.emit(TaskEvent::Queued);
        assert!(e.finish(e.result(TaskStatus::Completed, None)));
        assert!(
            !e.finish(e.result(TaskStatus::Failed, None)),
            "only the first end counts"
        );
        assert_eq!(early.recv().await.ok(), Some(TaskEvent::Queued));
        assert!(matches!(early.recv().await, Ok(TaskEvent::Finished(_))));
        let mut late = e.subscribe();
        match late.recv().await {
            Ok(TaskEvent::Finished(r)) => assert_eq!(r.status, TaskStatus::Completed),
            other => panic!("{other:?}"),
        }
        let handle = e.handle(true);
        let result = handle.result().await;
        assert!(result.reused, "a joined handle marks the result as reused");
        let snapshot = e.snapshot();
        assert_eq!(snapshot.status, TaskStatus::Completed);
        assert!(snapshot.ended_at.is_some());
    }
}
