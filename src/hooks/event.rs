//! Hook events and the JSON a hook command reads on stdin.

use std::fmt;
use std::path::Path;

use serde_json::{Map, Value};

use super::judge::JudgeScope;
use crate::providers::router::InheritTarget;

/// A moment in a session at which hooks run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HookEvent {
    /// Before a tool call runs; may deny it or change its input.
    PreToolUse,
    /// After a tool call ran; may send the model a reason.
    PostToolUse,
    /// After a tool call failed.
    PostToolUseFailure,
    /// Before a user prompt is sent; may refuse it or add context.
    UserPromptSubmit,
    /// When the main agent is about to stop; may make it continue.
    Stop,
    /// When a subagent starts.
    SubagentStart,
    /// When a subagent is about to stop; may make it continue.
    SubagentStop,
    /// When a session starts or resumes; may add context.
    SessionStart,
    /// When a session ends.
    SessionEnd,
    /// When the agent notifies the user.
    Notification,
    /// Before the conversation is compacted.
    PreCompact,
    /// After the conversation was compacted.
    PostCompact,
    /// A worktree is wanted for an isolated subagent: the hooks make it and print
    /// its absolute path, in place of `git worktree add`.
    WorktreeCreate,
    /// A worktree of an isolated subagent is being removed.
    WorktreeRemove,
}

impl HookEvent {
    /// Every event, in declaration order.
    pub const ALL: [Self; 14] = [
        Self::PreToolUse,
        Self::PostToolUse,
        Self::PostToolUseFailure,
        Self::UserPromptSubmit,
        Self::Stop,
        Self::SubagentStart,
        Self::SubagentStop,
        Self::SessionStart,
        Self::SessionEnd,
        Self::Notification,
        Self::PreCompact,
        Self::PostCompact,
        Self::WorktreeCreate,
        Self::WorktreeRemove,
    ];

    /// The name used in settings files and in `hook_event_name`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PreToolUse => "PreToolUse",
            Self::PostToolUse => "PostToolUse",
            Self::PostToolUseFailure => "PostToolUseFailure",
            Self::UserPromptSubmit => "UserPromptSubmit",
            Self::Stop => "Stop",
            Self::SubagentStart => "SubagentStart",
            Self::SubagentStop => "SubagentStop",
            Self::SessionStart => "SessionStart",
            Self::SessionEnd => "SessionEnd",
            Self::Notification => "Notification",
            Self::PreCompact => "PreCompact",
            Self::PostCompact => "PostCompact",
            Self::WorktreeCreate => "WorktreeCreate",
            Self::WorktreeRemove => "WorktreeRemove",
        }
    }

    /// The event with this exact name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.as_str() == name)
    }

    /// Whether exit code 2 or `decision: "block"` means something for this event.
    pub fn can_block(self) -> bool {
        matches!(
            self,
            Self::PreToolUse
                | Self::PostToolUse
                | Self::UserPromptSubmit
                | Self::Stop
                | Self::SubagentStop
        )
    }

    /// Whether `additionalContext` reaches the model for this event.
    pub fn takes_context(self) -> bool {
        matches!(
            self,
            Self::PreToolUse
                | Self::PostToolUse
                | Self::PostToolUseFailure
                | Self::UserPromptSubmit
                | Self::SessionStart
                | Self::SubagentStart
        )
    }

    /// Whether plain (non-JSON) stdout on exit 0 becomes context for the model.
    pub fn plain_stdout_is_context(self) -> bool {
        matches!(self, Self::UserPromptSubmit | Self::SessionStart)
    }
}

impl fmt::Display for HookEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Builds a hook's stdin JSON: the four fields every hook gets, then event-specific
/// ones; and, beside it, where a `prompt` or `agent` hook's model call goes.
#[derive(Debug, Clone)]
pub struct HookInput(Map<String, Value>, JudgeScope);

impl HookInput {
    /// `session_id`, `transcript_path`, `cwd` and `hook_event_name`.
    pub fn new(event: HookEvent, session_id: &str, transcript_path: &Path, cwd: &Path) -> Self {
        let mut map = Map::new();
        map.insert("session_id".into(), session_id.into());
        map.insert(
            "transcript_path".into(),
            transcript_path.to_string_lossy().into(),
        );
        map.insert("cwd".into(), cwd.to_string_lossy().into());
        map.insert("hook_event_name".into(), event.as_str().into());
        Self(map, JudgeScope::default())
    }

    /// A `prompt` or `agent` hook of this event judges on the session's own upstream
    /// and model.
    pub fn inheriting(mut self, target: Option<InheritTarget>) -> Self {
        self.1.inherit = target;
        self
    }

    /// The event is a running task's: an `agent` hook's subagent runs under its slot.
    pub fn of_task(mut self, task_id: &str) -> Self {
        self.1.parent_task = Some(task_id.to_string());
        self
    }

    /// The JSON and the judges' scope.
    pub fn into_parts(self) -> (Value, JudgeScope) {
        (Value::Object(self.0), self.1)
    }

    /// Adds an event-specific field such as `tool_name` or `prompt`.
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.0.insert(key.to_owned(), value.into());
        self
    }

    /// The JSON object.
    pub fn into_value(self) -> Value {
        Value::Object(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn event_names_round_trip() {
        for event in HookEvent::ALL {
            assert_eq!(HookEvent::parse(event.as_str()), Some(event));
        }
        assert_eq!(HookEvent::parse("pretooluse"), None);
        assert_eq!(
            HookEvent::parse("PostToolUseFailure"),
            Some(HookEvent::PostToolUseFailure)
        );
        assert_eq!(
            HookEvent::parse("WorktreeCreate"),
            Some(HookEvent::WorktreeCreate)
        );
        assert_eq!(HookEvent::parse("worktreecreate"), None);
    }

    #[test]
    fn the_input_has_the_common_fields_and_the_extras() {
        let input = HookInput::new(
            HookEvent::PreToolUse,
            "s1",
            Path::new("/t/x.jsonl"),
            Path::new("/w"),
        )
        .with("tool_name", "Bash")
        .with("tool_input", json!({"command": "ls"}))
        .into_value();
        assert_eq!(
            input,
            json!({
                "session_id": "s1",
                "transcript_path": "/t/x.jsonl",
                "cwd": "/w",
                "hook_event_name": "PreToolUse",
                "tool_name": "Bash",
                "tool_input": {"command": "ls"}
            })
        );
    }
}
