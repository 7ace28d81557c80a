//! How a task ended, and the shapes Claude Code gives that to the model in.

use std::time::Duration;

use serde::{Serialize, Serializer};
use serde_json::{json, Value};

use crate::providers::Usage;
use crate::store::{TaskRecord, Timestamp};

pub use crate::store::TaskStatus;

/// The end of one task. Partial output is kept whatever the status.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaskResult {
    /// The task id (Claude Code's `agentId`).
    pub id: String,
    /// The agent that ran (its canonical name).
    pub agent: String,
    /// What the caller said the task is.
    pub description: String,
    /// `completed`, `failed`, `cancelled` or `timed_out` (`interrupted` for a task a
    /// previous codex-plus process left unfinished).
    pub status: TaskStatus,
    /// The subagent's final text, or its latest text when it did not finish.
    pub output: String,
    /// Why it did not complete.
    pub error: Option<String>,
    /// Tool calls made (refused ones included).
    pub tool_uses: u32,
    /// Tokens over all model calls.
    pub usage: Usage,
    /// Estimated cost, when the models' prices are known.
    pub cost_usd: Option<f64>,
    /// The provider and model that answered last.
    pub provider: Option<String>,
    pub model: Option<String>,
    /// Running time, from its slot to its end.
    #[serde(rename = "duration_ms", serialize_with = "millis")]
    pub duration: Duration,
    /// Time spent waiting for a slot.
    #[serde(rename = "queued_ms", serialize_with = "millis")]
    pub queued: Duration,
    /// True when this is an earlier run's result (same `call_key`), not a new run.
    pub reused: bool,
    /// What became of the worktree an isolated subagent worked in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub worktree: Option<super::worktree::WorktreeEnd>,
    /// The agent this run continued (`SendMessage`); the agent is `id` itself when none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
}

fn millis<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(duration_ms(*d))
}

fn duration_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl TaskResult {
    /// A task that ended before doing anything, with why.
    pub fn failed(
        id: String,
        agent: String,
        description: String,
        error: impl Into<String>,
    ) -> Self {
        Self {
            id,
            agent,
            description,
            status: TaskStatus::Failed,
            output: String::new(),
            error: Some(error.into()),
            tool_uses: 0,
            usage: Usage::default(),
            cost_usd: None,
            provider: None,
            model: None,
            duration: Duration::ZERO,
            queued: Duration::ZERO,
            reused: false,
            worktree: None,
            agent_id: None,
        }
    }

    /// The agent's id, for `SendMessage`: the first run's task id.
    pub fn agent_id(&self) -> &str {
        self.agent_id.as_deref().unwrap_or(&self.id)
    }

    /// Whether the subagent finished its work.
    pub fn is_success(&self) -> bool {
        self.status == TaskStatus::Completed
    }

    /// The first line of the error without a leading `Error: `, for one-line reports.
    pub fn error_summary(&self) -> Option<String> {
        let error = self.error.as_deref()?;
        let first = error.lines().next().unwrap_or(error);
        Some(first.strip_prefix("Error: ").unwrap_or(first).to_string())
    }

    /// What the model reads as the Task tool's output, as Claude Code words it: the final text,
    /// then the `agentId` line and the `<usage>` block. A task that did not complete
    /// says so first, with the reason, and keeps its partial text.
    pub fn to_claude_text(&self) -> String {
        let mut text = String::new();
        if !self.is_success() {
            let what = match self.status {
                TaskStatus::TimedOut => "timed out",
                TaskStatus::Cancelled => "was cancelled",
                TaskStatus::Interrupted => "was interrupted",
                _ => "failed",
            };
            text.push_str(&format!("The {} subagent {what}", self.agent));
            match &self.error {
                Some(error) => text.push_str(&format!(":\n{error}\n")),
                None => text.push_str(".\n"),
            }
            if !self.output.trim().is_empty() {
                text.push_str("\nPartial output before it stopped:\n");
            }
        }
        text.push_str(&self.output);
        if !text.ends_with('\n') {
            text.push('\n');
        }
        if let Some(note) = self.worktree.as_ref().and_then(|w| w.note()) {
            text.push_str(&format!("\n{note}\n"));
        }
        text.push_str(&format!(
            "\nagentId: {} ({} agent, {})\n<usage>subagent_tokens: {}\ntool_uses: {}\nduration_ms: {}</usage>",
            self.agent_id(),
            self.agent,
            self.status,
            self.usage.total(),
            self.tool_uses,
            duration_ms(self.duration),
        ));
        text
    }

    /// Claude Code's structured tool result: `{status, agentId, agentType, content,
    /// totalToolUseCount, totalDurationMs, totalTokens, usage}` (+ `error` on failure).
    pub fn to_structured(&self) -> Value {
        let mut value = json!({
            "status": self.status.as_str(),
            "agentId": self.agent_id(),
            "agentType": self.agent,
            "content": [{"type": "text", "text": self.output}],
            "totalToolUseCount": self.tool_uses,
            "totalDurationMs": duration_ms(self.duration),
            "totalTokens": self.usage.total(),
            "usage": {
                "input_tokens": self.usage.input_tokens,
                "output_tokens": self.usage.output_tokens,
                "cache_read_input_tokens": self.usage.cached_input_tokens,
            },
        });
        if let Some(error) = &self.error {
            value["error"] = json!(error);
        }
        value
    }

    /// The result a finished ledger row records (`reused` marks it as not run now).
    pub fn from_record(record: &TaskRecord, reused: bool) -> Self {
        Self {
            id: record.id.clone(),
            agent: record.agent.clone(),
            description: record.description.clone(),
            status: record.status,
            output: record.output.clone().unwrap_or_default(),
            error: record.error.clone(),
            tool_uses: record.tool_uses,
            usage: Usage {
                input_tokens: record.input_tokens,
                output_tokens: record.output_tokens,
                cached_input_tokens: 0,
            },
            cost_usd: record.cost_usd,
            provider: record.provider.clone(),
            model: record.model.clone(),
            duration: Duration::from_millis(record.duration_ms.unwrap_or(0)),
            queued: match (record.started_at, record.created_at) {
                (Some(started), created) => Duration::from_millis(
                    u64::try_from(started.as_millis() - created.as_millis()).unwrap_or(0),
                ),
                _ => Duration::ZERO,
            },
            reused,
            worktree: None,
            agent_id: None,
        }
    }
}

/// A task as it is now: running (from memory) or finished (memory or ledger).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaskSnapshot {
    /// The task id.
    pub id: String,
    /// The task whose subagent started this one.
    pub parent_id: Option<String>,
    /// The Codex session that asked for it.
    pub session_id: Option<String>,
    /// The agent's name.
    pub agent: String,
    /// What the caller said the task is.
    pub description: String,
    /// Where it is in its life (`queued`, `running`, or how it ended).
    pub status: TaskStatus,
    /// The final text, or the latest text while it runs.
    pub output: String,
    /// Why it did not complete.
    pub error: Option<String>,
    /// Tool calls so far.
    pub tool_uses: u32,
    /// Tokens so far.
    pub usage: Usage,
    /// Estimated cost so far.
    pub cost_usd: Option<f64>,
    /// The provider that answered last.
    pub provider: Option<String>,
    /// The model that answered last.
    pub model: Option<String>,
    /// 1 for a task Codex (or a user) asked for, 2 for its subagents' tasks, ...
    pub depth: u32,
    /// Started in the background (known while this process remembers the task).
    pub background: bool,
    /// When it was accepted.
    pub created_at: Timestamp,
    /// When it got a slot.
    pub started_at: Option<Timestamp>,
    /// When it ended.
    pub ended_at: Option<Timestamp>,
    /// How long it ran, once ended.
    pub duration_ms: Option<u64>,
}

impl TaskSnapshot {
    /// The snapshot of a ledger row.
    pub fn from_record(r: &TaskRecord) -> Self {
        Self {
            id: r.id.clone(),
            parent_id: r.parent_id.clone(),
            session_id: r.session_id.clone(),
            agent: r.agent.clone(),
            description: r.description.clone(),
            status: r.status,
            output: r.output.clone().unwrap_or_default(),
            error: r.error.clone(),
            tool_uses: r.tool_uses,
            usage: Usage {
                input_tokens: r.input_tokens,
                output_tokens: r.output_tokens,
                cached_input_tokens: 0,
            },
            cost_usd: r.cost_usd,
            provider: r.provider.clone(),
            model: r.model.clone(),
            depth: r.depth,
            background: false,
            created_at: r.created_at,
            started_at: r.started_at,
            ended_at: r.ended_at,
            duration_ms: r.duration_ms,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(status: TaskStatus, output: &str, error: Option<&str>) -> TaskResult {
        TaskResult {
            id: "task_1".into(),
            agent: "code-reviewer".into(),
            description: "Review the parser".into(),
            status,
            output: output.into(),
            error: error.map(str::to_string),
            tool_uses: 3,
            usage: Usage {
                input_tokens: 1200,
                output_tokens: 34,
                cached_input_tokens: 200,
            },
            cost_usd: Some(0.01),
            provider: Some("openai".into()),
            model: Some("gpt-5".into()),
            duration: Duration::from_millis(12_345),
            queued: Duration::from_millis(5),
            reused: false,
            worktree: None,
            agent_id: None,
        }
    }

    #[test]
    fn claude_text_is_the_output_then_the_usage_trailer() {
        let text = result(TaskStatus::Completed, "All good.", None).to_claude_text();
        assert_eq!(
            text,
            "All good.\n\nagentId: task_1 (code-reviewer agent, completed)\n<usage>subagent_tokens: 1234\ntool_uses: 3\nduration_ms: 12345</usage>"
        );
    }

    #[test]
    fn a_failed_task_says_so_with_the_reason_and_keeps_partial_text() {
        let text = result(
            TaskStatus::Failed,
            "Looked at a.rs",
            Some("reached maxTurns (5)"),
        )
        .to_claude_text();
        assert!(
            text.starts_with("The code-reviewer subagent failed:\nreached maxTurns (5)\n"),
            "{text}"
        );
        assert!(text.contains("Partial output before it stopped:\nLooked at a.rs\n"));
        assert!(text.ends_with("duration_ms: 12345</usage>"));
        let timed_out = result(TaskStatus::TimedOut, "", Some("ran for 600 s")).to_claude_text();
        assert!(timed_out.starts_with("The code-reviewer subagent timed out:\nran for 600 s\n"));
        assert!(!timed_out.contains("Partial output"));
    }

    #[test]
    fn structured_form_has_claude_codes_keys() {
        let v = result(TaskStatus::Completed, "done", None).to_structured();
        assert_eq!(v["status"], "completed");
        assert_eq!(v["agentId"], "task_1");
        assert_eq!(v["agentType"], "code-reviewer");
        assert_eq!(v["content"], json!([{"type": "text", "text": "done"}]));
        assert_eq!(v["totalToolUseCount"], 3);
        assert_eq!(v["totalDurationMs"], 12345);
        assert_eq!(v["totalTokens"], 1234);
        assert_eq!(v["usage"]["cache_read_input_tokens"], 200);
        assert!(v.get("error").is_none());
        let failed = result(TaskStatus::Failed, "", Some("boom")).to_structured();
        assert_eq!(failed["error"], "boom");
    }

    #[test]
    fn json_form_uses_milliseconds_and_status_spelling() {
        let v = serde_json::to_value(result(TaskStatus::TimedOut, "x", None)).unwrap();
        assert_eq!(v["status"], "timed_out");
        assert_eq!(v["duration_ms"], 12345);
        assert_eq!(v["queued_ms"], 5);
        assert_eq!(v["usage"]["input_tokens"], 1200);
    }

    #[test]
    fn error_summary_is_the_first_line_without_the_error_prefix() {
        let r = result(
            TaskStatus::Failed,
            "",
            Some("Error: no model provider could answer (2 candidates)\nCause: x"),
        );
        assert_eq!(
            r.error_summary().as_deref(),
            Some("no model provider could answer (2 candidates)")
        );
    }

    #[test]
    fn a_ledger_row_becomes_a_result() {
        let mut record = TaskRecord::queued("task_9", "Explore", "Find it", "prompt");
        record.status = TaskStatus::Completed;
        record.output = Some("found".into());
        record.tool_uses = 2;
        record.input_tokens = 10;
        record.output_tokens = 5;
        record.created_at = Timestamp(1_000);
        record.started_at = Some(Timestamp(1_250));
        record.duration_ms = Some(700);
        let r = TaskResult::from_record(&record, true);
        assert_eq!(r.output, "found");
        assert_eq!(r.usage.total(), 15);
        assert_eq!(r.queued, Duration::from_millis(250));
        assert_eq!(r.duration, Duration::from_millis(700));
        assert!(r.reused);
        let s = TaskSnapshot::from_record(&record);
        assert_eq!((s.status, s.tool_uses), (TaskStatus::Completed, 2));
    }
}
