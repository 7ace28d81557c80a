//! The rows of the ledger as typed records.

use std::collections::BTreeMap;
use std::fmt;

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// A moment, in whole milliseconds since the Unix epoch (UTC): how the ledger stores time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// The current time.
    pub fn now() -> Self {
        Self::from(OffsetDateTime::now_utc())
    }

    /// Milliseconds since the Unix epoch.
    pub fn as_millis(self) -> i64 {
        self.0
    }
}

impl From<OffsetDateTime> for Timestamp {
    fn from(at: OffsetDateTime) -> Self {
        // i64 milliseconds cover ±292 million years; the saturation never triggers in practice.
        let millis = at.unix_timestamp_nanos() / 1_000_000;
        Self(i64::try_from(millis).unwrap_or(i64::MAX))
    }
}

impl ToSql for Timestamp {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        self.0.to_sql()
    }
}

impl FromSql for Timestamp {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        i64::column_result(value).map(Self)
    }
}

/// Declares a fieldless enum stored as text, with its spellings in one place.
macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            /// The spelling stored in the ledger and shown in the API.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),+ }
            }

            /// The value spelled `text`, if any.
            pub fn parse(text: &str) -> Option<Self> {
                match text { $($text => Some(Self::$variant),)+ _ => None }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ToSql for $name {
            fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
                Ok(ToSqlOutput::from(self.as_str()))
            }
        }

        impl FromSql for $name {
            fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
                let text = value.as_str()?;
                Self::parse(text).ok_or_else(|| {
                    FromSqlError::Other(
                        format!("unknown {} {text:?}", stringify!($name)).into(),
                    )
                })
            }
        }
    };
}

text_enum! {
    /// Where a task is in its life.
    TaskStatus {
        /// Recorded, waiting for a slot.
        Queued = "queued",
        /// Its subagent is working.
        Running = "running",
        /// Finished with a result.
        Completed = "completed",
        /// Finished with an error.
        Failed = "failed",
        /// Stopped on request.
        Cancelled = "cancelled",
        /// Was queued or running when codex-plus stopped.
        Interrupted = "interrupted",
        /// Ran past its time limit.
        TimedOut = "timed_out",
    }
}

impl TaskStatus {
    /// Whether the task can no longer change.
    pub fn is_terminal(self) -> bool {
        !matches!(self, Self::Queued | Self::Running)
    }
}

text_enum! {
    /// How a hook run ended, as the ledger summarises it.
    HookRunOutcome {
        /// Exit 0 and nothing blocked.
        Success = "success",
        /// The hook blocked or denied (exit 2, `decision: "block"`, `continue: false`, deny).
        Blocked = "blocked",
        /// A non-blocking error: other exit codes, bad output, timeouts, failure to start.
        Error = "error",
    }
}

/// A Codex session as the proxy has seen it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRecord {
    /// Codex's session id.
    pub session_id: String,
    /// The workspace of the latest request.
    pub cwd: Option<String>,
    /// The first request.
    pub first_seen: Timestamp,
    /// The latest request.
    pub last_seen: Timestamp,
    /// How many requests it has made.
    pub requests: u64,
}

/// One Task: a subagent run. Its description, prompt, output and error are redacted when written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskRecord {
    /// The task id (also the agentId shown to the model).
    pub id: String,
    /// The task that spawned this one, for nested subagents.
    pub parent_id: Option<String>,
    /// The Codex session that asked for it.
    pub session_id: Option<String>,
    /// Identifies the call across client retries, so a retry reuses the result.
    pub call_key: Option<String>,
    /// The `call_id` of the model's function call.
    pub call_id: Option<String>,
    /// The agent type (`general-purpose`, a file agent's name, ...).
    pub agent: String,
    /// The short description the model gave.
    pub description: String,
    /// The prompt given to the subagent.
    pub prompt: String,
    /// The model that ran it (or will).
    pub model: Option<String>,
    /// The provider that ran it (or will).
    pub provider: Option<String>,
    /// Where it is in its life.
    pub status: TaskStatus,
    /// The subagent's final text.
    pub output: Option<String>,
    /// Why it failed.
    pub error: Option<String>,
    /// How many tools it called.
    pub tool_uses: u32,
    /// Input tokens over all its model calls.
    pub input_tokens: u64,
    /// Output tokens over all its model calls.
    pub output_tokens: u64,
    /// Its cost, when the provider's prices are known.
    pub cost_usd: Option<f64>,
    /// Nesting depth: 1 for a task the main agent asked for.
    pub depth: u32,
    /// When it was recorded.
    pub created_at: Timestamp,
    /// When its subagent began.
    pub started_at: Option<Timestamp>,
    /// When it ended.
    pub ended_at: Option<Timestamp>,
    /// How long it ran.
    pub duration_ms: Option<u64>,
}

impl TaskRecord {
    /// A queued task with the given identity and everything else empty.
    pub fn queued(id: &str, agent: &str, description: &str, prompt: &str) -> Self {
        Self {
            id: id.to_owned(),
            parent_id: None,
            session_id: None,
            call_key: None,
            call_id: None,
            agent: agent.to_owned(),
            description: description.to_owned(),
            prompt: prompt.to_owned(),
            model: None,
            provider: None,
            status: TaskStatus::Queued,
            output: None,
            error: None,
            tool_uses: 0,
            input_tokens: 0,
            output_tokens: 0,
            cost_usd: None,
            depth: 1,
            created_at: Timestamp::now(),
            started_at: None,
            ended_at: None,
            duration_ms: None,
        }
    }
}

/// How a task ended; `model`/`provider` overwrite the recorded ones only when set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskOutcome {
    /// A terminal status.
    pub status: TaskStatus,
    /// The subagent's final text.
    pub output: Option<String>,
    /// Why it failed.
    pub error: Option<String>,
    /// The model that finally answered (after fallbacks).
    pub model: Option<String>,
    /// The provider that finally answered.
    pub provider: Option<String>,
    /// How many tools it called.
    pub tool_uses: u32,
    /// Input tokens over all its model calls.
    pub input_tokens: u64,
    /// Output tokens over all its model calls.
    pub output_tokens: u64,
    /// Its cost, when known.
    pub cost_usd: Option<f64>,
    /// When it ended.
    pub ended_at: Timestamp,
    /// How long it ran.
    pub duration_ms: u64,
}

/// One tool call made by a subagent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCallRecord {
    /// The task whose subagent made it.
    pub task_id: String,
    /// Its position among the task's tool calls.
    pub seq: u32,
    /// The tool name.
    pub tool: String,
    /// The arguments (secrets are redacted before writing).
    pub input: serde_json::Value,
    /// Whether the tool reported an error.
    pub is_error: bool,
    /// Size of the tool's output.
    pub output_bytes: u64,
    /// How long the tool ran.
    pub duration_ms: u64,
    /// When it was called.
    pub at: Timestamp,
}

/// One call to a model provider on behalf of a task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelAttemptRecord {
    /// The task it served.
    pub task_id: String,
    /// The provider asked.
    pub provider: String,
    /// The model asked.
    pub model: String,
    /// Whether it answered.
    pub ok: bool,
    /// Why not.
    pub error: Option<String>,
    /// Retries before giving up or succeeding.
    pub retries: u32,
    /// How long it took.
    pub duration_ms: u64,
    /// Input tokens charged.
    pub input_tokens: u64,
    /// Output tokens charged.
    pub output_tokens: u64,
    /// When it began.
    pub at: Timestamp,
}

/// One hook command run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HookRunRecord {
    /// The session whose event fired it.
    pub session_id: Option<String>,
    /// The hook event (`PreToolUse`, ...).
    pub event: String,
    /// The matcher of the group it came from, as written.
    pub matcher: String,
    /// The command (secrets are redacted before writing).
    pub command: String,
    /// Its exit code; `None` when it was killed or never started.
    pub exit_code: Option<i32>,
    /// How it ended.
    pub outcome: HookRunOutcome,
    /// How long it ran.
    pub duration_ms: u64,
    /// Whether it was killed at its timeout.
    pub timed_out: bool,
    /// Size of its stdout.
    pub stdout_bytes: u64,
    /// The start of its stderr, or the reason it failed.
    pub stderr_excerpt: String,
    /// When it started.
    pub at: Timestamp,
}

/// A goal: the request, its plan as it runs (the graph, as JSON), and its end.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GoalRecord {
    pub id: String,
    pub goal: String,
    pub cwd: String,
    /// The sandbox its subtasks run under (`workspace-write`, ...).
    pub sandbox: String,
    pub model: Option<String>,
    pub max_parallel: Option<u64>,
    /// `planning`, `running`, `completed`, `failed`, `cancelled` or `interrupted`.
    pub status: String,
    /// The graph (`goals::graph::Graph`), once planned.
    pub graph_json: Option<String>,
    /// The combined answer.
    pub answer: Option<String>,
    pub error: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub ended_at: Option<Timestamp>,
}

/// A subagent `SendMessage` can continue (after a restart too): who it is, and its
/// latest run, whose messages are its transcript. One row per agent: each run that
/// continues it replaces it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TranscriptRecord {
    /// The agent's id: its first task's.
    pub agent_id: String,
    /// The session that started it; only that session may continue it.
    pub session_id: Option<String>,
    /// The `name` the Task call gave it, so it can be addressed by name.
    pub name: Option<String>,
    /// The agent type (`subagent_type`) and the call's model override.
    pub agent: String,
    pub model: Option<String>,
    /// Where it worked, and the worktree it kept, if it ran in one.
    pub cwd: String,
    pub worktree: Option<String>,
    /// The latest run: while it has not ended, the agent cannot take a message. Its
    /// messages (`task_messages`) are the agent's whole transcript.
    pub last_task_id: String,
    pub updated_at: Timestamp,
}

/// Where a synthesized progress message came from: the real items it stands for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryLink {
    /// The id of the synthesized assistant message.
    pub message_id: String,
    /// The session it was shown in.
    pub session_id: Option<String>,
    /// The real calls the message stands for, as a JSON array of
    /// `{"item": <function_call>, "after": <id>, "before": <id>}`, the ids of the items
    /// the model wrote around the call, so it goes back where it was made.
    pub call_item_json: String,
    /// Their `function_call_output` items, as a JSON array.
    pub output_item_json: String,
    /// When it was recorded.
    pub created_at: Timestamp,
}

/// Token and cost totals for one agent or provider.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UsageTotals {
    /// The agent or provider name (`unknown` for tasks that never reached a provider).
    pub name: String,
    /// How many tasks.
    pub tasks: u64,
    /// Their input tokens.
    pub input_tokens: u64,
    /// Their output tokens.
    pub output_tokens: u64,
    /// Their known cost; `None` when none of them was priced (shown as "unpriced").
    pub cost_usd: Option<f64>,
}

/// Aggregates for `/status`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Totals {
    /// Task counts by status (statuses without tasks are absent).
    pub tasks_by_status: BTreeMap<TaskStatus, u64>,
    /// Usage per agent, most tokens first.
    pub per_agent: Vec<UsageTotals>,
    /// Usage per provider, most tokens first.
    pub per_provider: Vec<UsageTotals>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn timestamps_are_whole_milliseconds() {
        let at = datetime!(2025-01-02 03:04:05.678_9 UTC);
        assert_eq!(Timestamp::from(at).as_millis(), 1_735_787_045_678);
    }

    #[test]
    fn statuses_round_trip_through_their_spelling() {
        for status in TaskStatus::ALL {
            assert_eq!(TaskStatus::parse(status.as_str()), Some(*status));
            assert_eq!(
                serde_json::to_value(status).ok(),
                Some(serde_json::Value::from(status.as_str()))
            );
        }
        assert_eq!(TaskStatus::parse("done"), None);
        assert_eq!(TaskStatus::TimedOut.as_str(), "timed_out");
    }

    #[test]
    fn only_queued_and_running_are_open() {
        let open: Vec<_> = TaskStatus::ALL
            .iter()
            .filter(|s| !s.is_terminal())
            .collect();
        assert_eq!(open, [&TaskStatus::Queued, &TaskStatus::Running]);
    }
}
