//! What a caller asks the engine for: one Task, and the workspace it runs in.

use std::path::{Path, PathBuf};

use crate::engine::access::SandboxMode;
use crate::providers::router::InheritTarget;

/// The agent a Task without `subagent_type` runs.
pub const DEFAULT_AGENT: &str = "general-purpose";

/// Longest `description` accepted (Claude Code asks for 3-5 words).
pub const MAX_DESCRIPTION_CHARS: usize = 200;

/// Where a task's tools may act.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workspace {
    /// The directory Codex (or the caller) works in; agents and settings resolve here.
    pub cwd: PathBuf,
    /// Directories file tools may touch; `cwd` is always one of them.
    pub roots: Vec<PathBuf>,
    /// The session's sandbox: a read-only session gets no writing tools.
    pub sandbox: SandboxMode,
    /// Whether the session allows the network (Bash in a restricted sandbox).
    pub network: bool,
}

impl Workspace {
    /// A workspace of one directory with the default sandbox (workspace-write, no
    /// network).
    pub fn at(cwd: impl Into<PathBuf>) -> Self {
        let cwd = cwd.into();
        Self {
            roots: vec![cwd.clone()],
            cwd,
            sandbox: SandboxMode::default(),
            network: false,
        }
    }

    /// The directory a Task's `cwd` names, when it may be used: an absolute path to a
    /// directory inside one of the session's roots (symlinks resolved, so none leads out).
    pub fn directory(&self, asked: &str) -> Result<PathBuf, String> {
        let path = Path::new(asked);
        if !path.is_absolute() {
            return Err(format!("cwd `{asked}` is not an absolute path"));
        }
        let real = std::fs::canonicalize(path)
            .ok()
            .filter(|p| p.is_dir())
            .ok_or_else(|| format!("cwd `{asked}` is not a directory"))?;
        let inside = self
            .roots
            .iter()
            .any(|root| std::fs::canonicalize(root).is_ok_and(|root| real.starts_with(root)));
        if !inside {
            let roots: Vec<String> = self.roots.iter().map(|r| r.display().to_string()).collect();
            return Err(format!(
                "cwd `{asked}` is outside this session's workspace ({})",
                roots.join(", ")
            ));
        }
        Ok(real)
    }
}

/// One Task, as the model (or a CLI/HTTP user) asked for it.
#[derive(Debug, Clone)]
pub struct TaskRequest {
    /// The agent to run; `None` → `general-purpose`.
    pub subagent_type: Option<String>,
    /// What the subagent should do: its first user message.
    pub prompt: String,
    /// A few words for progress lines and the ledger (the prompt's first words when empty).
    pub description: String,
    /// The Task call's `model` override.
    pub model: Option<String>,
    /// Where it runs.
    pub workspace: Workspace,
    /// The Codex session's own upstream, credentials and model (`inherit`).
    pub inherit: Option<InheritTarget>,
    /// The Codex session that asked for it.
    pub session_id: Option<String>,
    /// The Task function_call's `call_id`, when it came from the stream.
    pub call_id: Option<String>,
    /// De-duplication key: a completed task with the same key is not run again, a
    /// running one is joined.
    pub call_key: Option<String>,
    /// 0 for tasks from Codex, the CLI or HTTP; a subagent's children are one deeper.
    pub depth: u32,
    /// The task whose subagent asked for this one.
    pub parent_id: Option<String>,
    /// `worktree`: run in a fresh git worktree (the agent file's `isolation` otherwise).
    pub isolation: Option<String>,
    /// The Task call's `name`: makes the agent addressable by `SendMessage`.
    pub name: Option<String>,
    /// Continue this agent (`SendMessage`): `prompt` is the message it gets.
    pub resume: Option<super::transcript::Resume>,
    /// A JSON schema (named) the agent's final answer must follow, where the
    /// provider takes one (a goal's planner).
    pub output_schema: Option<(String, serde_json::Value)>,
    /// An agent given whole, not looked up by name: a `prompt`/`agent` hook's judge.
    /// Such a task fires no hooks itself (a judge of SubagentStop would judge itself).
    pub given_agent: Option<Box<crate::claude::AgentDef>>,
    /// The span its run nests under: the turn's, or its parent task's (telemetry).
    pub trace: crate::telemetry::Parent,
    /// Its caller goes on without waiting (`run_in_background`): shown as such.
    pub background: bool,
}

impl TaskRequest {
    /// A top-level request with everything optional left empty.
    pub fn new(
        subagent_type: Option<String>,
        prompt: impl Into<String>,
        description: impl Into<String>,
        workspace: Workspace,
    ) -> Self {
        Self {
            subagent_type,
            prompt: prompt.into(),
            description: description.into(),
            model: None,
            workspace,
            inherit: None,
            session_id: None,
            call_id: None,
            call_key: None,
            depth: 0,
            parent_id: None,
            isolation: None,
            name: None,
            resume: None,
            output_schema: None,
            given_agent: None,
            trace: crate::telemetry::Parent::default(),
            background: false,
        }
    }

    /// The agent name asked for, `general-purpose` when none.
    pub fn agent_name(&self) -> &str {
        self.subagent_type
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .unwrap_or(DEFAULT_AGENT)
    }

    /// Checks what can be checked without the workspace's agents. Pure.
    pub fn validate(&self) -> Result<(), RequestError> {
        if self.prompt.trim().is_empty() {
            return Err(RequestError::EmptyPrompt);
        }
        let chars = self.description.chars().count();
        if chars > MAX_DESCRIPTION_CHARS {
            return Err(RequestError::DescriptionTooLong { chars });
        }
        if self.model.as_deref().is_some_and(|m| m.trim().is_empty()) {
            return Err(RequestError::EmptyModel);
        }
        Ok(())
    }
}

/// A description for a request that gave none: the prompt's first words.
pub fn default_description(prompt: &str) -> String {
    let words: Vec<&str> = prompt.split_whitespace().take(5).collect();
    let mut text = words.join(" ");
    if text.chars().count() > 60 {
        text = text.chars().take(59).collect::<String>() + "…";
    }
    text
}

/// Why a request cannot run, in words that say what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("the prompt is empty; say what the subagent should do")]
    EmptyPrompt,
    #[error("the description has {chars} characters; keep it under {MAX_DESCRIPTION_CHARS} (3-5 words is the convention)")]
    DescriptionTooLong { chars: usize },
    #[error("`model` is empty; leave it out to use the agent's model, or give one such as sonnet or gpt-5")]
    EmptyModel,
    #[error("unknown agent `{name}`; available agents: {}", available.join(", "))]
    UnknownAgent {
        name: String,
        available: Vec<String>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(prompt: &str, description: &str) -> TaskRequest {
        TaskRequest::new(None, prompt, description, Workspace::at("/w"))
    }

    #[test]
    fn validation_names_what_to_change() {
        assert_eq!(request("do it", "Do it").validate(), Ok(()));
        assert_eq!(
            request("  \n", "x").validate(),
            Err(RequestError::EmptyPrompt)
        );
        let long = "d".repeat(MAX_DESCRIPTION_CHARS + 1);
        let err = request("p", &long).validate().unwrap_err();
        assert_eq!(err, RequestError::DescriptionTooLong { chars: 201 });
        assert!(err.to_string().contains("under 200"), "{err}");
        let mut r = request("p", "d");
        r.model = Some(" ".into());
        assert_eq!(r.validate(), Err(RequestError::EmptyModel));
        let unknown = RequestError::UnknownAgent {
            name: "revieww".into(),
            available: vec!["Explore".into(), "reviewer".into()],
        };
        assert_eq!(
            unknown.to_string(),
            "unknown agent `revieww`; available agents: Explore, reviewer"
        );
    }

    #[test]
    fn a_tasks_cwd_must_be_an_absolute_directory_inside_the_roots() {
        let tmp = tempfile::tempdir().unwrap();
        let ws = tmp.path().join("ws");
        let outside = tmp.path().join("outside");
        std::fs::create_dir_all(ws.join("crates/core")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::os::unix::fs::symlink(&outside, ws.join("escape")).unwrap();
        let workspace = Workspace::at(&ws);
        let real_ws = std::fs::canonicalize(&ws).unwrap();

        let sub = ws.join("crates/core");
        assert_eq!(
            workspace.directory(sub.to_str().unwrap()),
            Ok(real_ws.join("crates/core"))
        );
        assert_eq!(
            workspace.directory(ws.to_str().unwrap()),
            Ok(real_ws.clone())
        );
        let refused = |asked: &str, why: &str| {
            let e = workspace.directory(asked).unwrap_err();
            assert!(e.contains(why), "{asked}: {e}");
        };
        refused("crates/core", "is not an absolute path");
        refused(ws.join("missing").to_str().unwrap(), "is not a directory");
        refused(
            outside.to_str().unwrap(),
            "is outside this session's workspace",
        );
        refused(ws.join("escape").to_str().unwrap(), "is outside");
        refused(
            ws.join("crates/../../outside").to_str().unwrap(),
            "is outside",
        );
    }

    #[test]
    fn agent_name_defaults_to_general_purpose() {
        let mut r = request("p", "d");
        assert_eq!(r.agent_name(), "general-purpose");
        r.subagent_type = Some("  ".into());
        assert_eq!(r.agent_name(), "general-purpose");
        r.subagent_type = Some("Explore".into());
        assert_eq!(r.agent_name(), "Explore");
    }

    #[test]
    fn default_description_is_the_first_words_of_the_prompt() {
        assert_eq!(
            default_description("Find every   caller of parse_config in src and report"),
            "Find every caller of parse_config"
        );
        let long = default_description(&"abcdefghijklmnopqrstuvwxyz ".repeat(5));
        assert_eq!(long.chars().count(), 60);
        assert!(long.ends_with('…'));
    }
}
