//! Progress of a running task, and the handle a caller holds on it.

use std::sync::Arc;

use serde::Serialize;
use tokio::sync::{broadcast, watch};

use super::result::TaskResult;

/// Events buffered per subscriber; a slower one skips ahead (the result is never lost:
/// it also comes through [`TaskHandle::result`]).
pub const EVENT_BUFFER: usize = 256;

/// One step of a task, in the order they happen.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TaskEvent {
    /// Accepted; waiting for a slot.
    Queued,
    /// The subagent began; `model` is the first candidate (`provider:model`).
    Started { agent: String, model: String },
    /// A tool call began; `summary` is its main argument (`src/main.rs`, a command).
    ToolUse { tool: String, summary: String },
    /// A model call answered, from this provider and model (after any fallback).
    ModelCall { provider: String, model: String },
    /// The end; always the last event.
    Finished(Box<TaskResult>),
}

impl TaskEvent {
    /// The `type` tag: `queued`, `started`, `tool_use`, `model_call`, `finished`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Started { .. } => "started",
            Self::ToolUse { .. } => "tool_use",
            Self::ModelCall { .. } => "model_call",
            Self::Finished(_) => "finished",
        }
    }
}

/// A running (or finished) task: its progress events and, at the end, its result.
/// Dropping the handle does not stop the task.
pub struct TaskHandle {
    /// The task id (a joined or reused task keeps its first run's id).
    pub id: String,
    /// Progress from now on (a finished task's receiver holds its Finished event).
    pub events: broadcast::Receiver<TaskEvent>,
    pub(crate) result: watch::Receiver<Option<Arc<TaskResult>>>,
    /// This handle joined a run started for an earlier request with the same call_key.
    pub(crate) joined: bool,
    pub(crate) agent: String,
    pub(crate) description: String,
}

impl TaskHandle {
    /// The agent it runs.
    pub fn agent(&self) -> &str {
        &self.agent
    }

    /// Waits for the task to end.
    pub async fn result(mut self) -> TaskResult {
        let waited = self.result.wait_for(Option::is_some).await;
        let found = waited.ok().and_then(|r| r.as_deref().cloned());
        match found {
            Some(mut result) => {
                result.reused |= self.joined;
                result
            }
            None => TaskResult::failed(
                self.id,
                self.agent,
                self.description,
                "the engine stopped before the task finished",
            ),
        }
    }

    /// The result, if the task has ended.
    pub fn try_result(&self) -> Option<TaskResult> {
        let mut result = self.result.borrow().as_deref().cloned()?;
        result.reused |= self.joined;
        Some(result)
    }
}

impl std::fmt::Debug for TaskHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskHandle")
            .field("id", &self.id)
            .field("agent", &self.agent)
            .field("joined", &self.joined)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_serialize_with_a_type_tag() {
        let v = serde_json::to_value(TaskEvent::ToolUse {
            tool: "Read".into(),
            summary: "a.rs".into(),
        })
        .unwrap();
        assert_eq!(
            v,
            serde_json::json!({"type": "tool_use", "tool": "Read", "summary": "a.rs"})
        );
        assert_eq!(
            serde_json::to_value(TaskEvent::Queued).unwrap(),
            serde_json::json!({"type": "queued"})
        );
        assert_eq!(TaskEvent::Queued.kind(), "queued");
    }
}
