//! The `Agent` tool (Claude Code's `Task`): how a subagent starts a subagent. The
//! engine runs it itself, so it has a spec here and no `Tool` implementation.

use serde_json::{json, Value};

use crate::claude::{AgentDef, AgentSet};
use crate::providers::ToolSpec;

/// The tool's name (`Task` is accepted as an alias).
pub const AGENT_TOOL: &str = "Agent";

/// The input schema: `description`, `prompt`, optional `subagent_type`, `model`,
/// `cwd` and `isolation`. No `run_in_background`: a subagent waits for its children,
/// whose reports are part of its own.
pub fn input_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "description": {
                "type": "string",
                "description": "A short (3-5 word) description of the task"
            },
            "prompt": {
                "type": "string",
                "description": "The task for the agent to perform, with everything it needs to know"
            },
            "subagent_type": {
                "type": "string",
                "description": "Which agent to run (default: general-purpose)"
            },
            "model": {
                "type": "string",
                "description": "Optional model for this agent: sonnet, opus, haiku, or a model id"
            },
            "cwd": {
                "type": "string",
                "description": "Optional working directory: an absolute path inside your own workspace"
            },
            "isolation": {
                "type": "string",
                "enum": ["worktree"],
                "description": "\"worktree\": the agent works in a fresh git worktree on its own branch. Not with cwd"
            }
        },
        "required": ["description", "prompt"]
    })
}

/// The spec offered to a subagent, listing the agents it may start
/// (`allowed`: the types from `Agent(a, b)`, `None` for all).
pub fn spec(agents: &AgentSet, allowed: Option<&[String]>) -> ToolSpec {
    let listed: Vec<&AgentDef> = agents
        .agents()
        .iter()
        .filter(|a| allowed.is_none_or(|types| types.iter().any(|t| t == &a.name)))
        .collect();
    let lines: Vec<String> = listed
        .iter()
        .map(|a| {
            format!(
                "- {}: {} (Tools: {})",
                a.name,
                a.description,
                a.tools_summary()
            )
        })
        .collect();
    ToolSpec {
        name: AGENT_TOOL.to_string(),
        description: format!(
            "Start a subagent that works on a task on its own, with its own context and \
             tools, and returns one final report. Use it for searches or multi-step work \
             whose details you do not need to see. Give it a complete prompt: it knows \
             nothing of this conversation. Several calls in one message run in parallel.\n\n\
             Available agent types and their tools:\n{}",
            lines.join("\n")
        ),
        input_schema: input_schema(),
    }
}

/// What an Agent call asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentCall {
    /// `None`: general-purpose.
    pub subagent_type: Option<String>,
    /// The child's task.
    pub prompt: String,
    /// As given, or the prompt's first words.
    pub description: String,
    /// The call's model override.
    pub model: Option<String>,
    /// Where the child works (checked against the parent's workspace).
    pub cwd: Option<String>,
    /// `worktree`: a fresh git worktree.
    pub isolation: Option<String>,
}

impl AgentCall {
    /// Reads the call's input; the error goes back to the model.
    pub fn parse(input: &Value) -> Result<Self, String> {
        let text = |field: &str| {
            input
                .get(field)
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        let prompt =
            text("prompt").ok_or("invalid input for Agent: `prompt` must be a non-empty string")?;
        Ok(Self {
            subagent_type: text("subagent_type"),
            description: text("description")
                .unwrap_or_else(|| super::request::default_description(&prompt)),
            prompt,
            model: text("model"),
            cwd: text("cwd"),
            isolation: text("isolation"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_lists_only_the_allowed_agents() {
        let set = AgentSet::from_agents(vec![]);
        let all = spec(&set, None);
        assert_eq!(all.name, "Agent");
        assert!(all.description.contains("- general-purpose: "));
        assert!(all.description.contains("- Explore: "));
        let limited = spec(&set, Some(&["Explore".to_string()]));
        assert!(limited.description.contains("- Explore: "));
        assert!(!limited.description.contains("- general-purpose: "));
        assert_eq!(
            all.input_schema["required"],
            json!(["description", "prompt"])
        );
    }

    #[test]
    fn calls_need_a_prompt_and_default_the_rest() {
        let call =
            AgentCall::parse(&json!({"prompt": "find the parser", "subagent_type": "Explore"}))
                .unwrap();
        assert_eq!(call.subagent_type.as_deref(), Some("Explore"));
        assert_eq!(call.description, "find the parser");
        assert_eq!((call.cwd, call.isolation), (None, None));
        let isolated =
            AgentCall::parse(&json!({"prompt": "p", "cwd": "/w/sub", "isolation": "worktree"}))
                .unwrap();
        assert_eq!(isolated.cwd.as_deref(), Some("/w/sub"));
        assert_eq!(isolated.isolation.as_deref(), Some("worktree"));
        assert!(AgentCall::parse(&json!({"description": "x"}))
            .unwrap_err()
            .contains("`prompt`"));
    }
}
