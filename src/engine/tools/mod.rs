//! The tools a subagent can call, with Claude Code's names and input schemas.
//!
//! Each tool is one file. A tool never panics and never escapes the workspace
//! roots (Bash, by running under the OS sandbox of `sandbox.rs`): every failure is a
//! `ToolError` whose text goes back to the model as an error result, so a bad call
//! never ends the run.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;

use super::access::AccessPolicy;

pub mod bash;
pub mod dispatch;
pub mod edit;
pub mod glob;
pub mod grep;
pub mod html_text;
mod input;
mod notebook_edit;
pub mod output;
pub mod paths;
pub mod read;
pub mod sandbox;
pub mod shell_split;
pub mod todo_write;
pub mod walk;
pub mod web_fetch;
pub mod web_search;
pub mod write;

pub use dispatch::{run_tool_call, ToolOutcome, ToolStatus};

/// What a tool call may touch and how long it may take.
#[derive(Clone)]
pub struct ToolContext {
    /// The workspace directory Codex reported; relative paths resolve here.
    pub cwd: PathBuf,
    /// Directories the subagent may read and write under (cwd is always one).
    pub roots: Vec<PathBuf>,
    pub access: Arc<AccessPolicy>,
    /// Whether Bash in a restricted sandbox mode may use the network. Codex says so
    /// only in its permissions message, which does not reach the engine yet, so it
    /// stays off, as in Codex's own workspace-write default.
    pub network: bool,
    pub limits: ToolLimits,
    /// Shared by WebFetch.
    pub http: reqwest::Client,
    /// The subagent's todo list (TodoWrite replaces it whole).
    pub todos: Arc<std::sync::Mutex<Vec<Value>>>,
    /// The MCP tools it was offered (engine/mcp/).
    pub mcp: crate::engine::mcp::McpTools,
}

/// Time and size bounds on tool calls.
#[derive(Debug, Clone)]
pub struct ToolLimits {
    pub bash_default_timeout: Duration,
    pub bash_max_timeout: Duration,
    /// Bytes of output kept from Bash, Grep and WebFetch before truncation.
    pub output_cap: usize,
    /// Lines Read returns when no limit is given.
    pub read_default_lines: usize,
    /// Files larger than this are refused by Read unless offset/limit are given.
    pub read_max_bytes: u64,
    /// Characters of one line Read shows before cutting it.
    pub read_max_line_chars: usize,
    /// Bytes of numbered text one Read returns; the rest is left for a next call.
    pub read_max_output: usize,
    /// Paths Glob lists before it stops and says so.
    pub glob_max_results: usize,
    pub web_fetch_timeout: Duration,
    /// Bytes of a response body WebFetch downloads.
    pub web_fetch_max_bytes: usize,
}

impl Default for ToolLimits {
    fn default() -> Self {
        Self {
            bash_default_timeout: Duration::from_secs(120),
            bash_max_timeout: Duration::from_secs(600),
            output_cap: 30_000,
            read_default_lines: 2000,
            read_max_bytes: 10 * 1024 * 1024,
            read_max_line_chars: 2000,
            read_max_output: 100_000,
            glob_max_results: 100,
            web_fetch_timeout: Duration::from_secs(30),
            web_fetch_max_bytes: 5 * 1024 * 1024,
        }
    }
}

/// Why a tool call produced no result; its text is what the model reads.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ToolError {
    /// The input does not match the tool's schema.
    #[error("invalid input for {tool}: {reason}")]
    InvalidInput { tool: String, reason: String },
    /// Access control refused the call.
    #[error("permission denied: {0}")]
    Denied(String),
    /// The call ran and failed (missing file, non-unique edit, timeout, ...).
    #[error("{0}")]
    Failed(String),
}

impl ToolError {
    /// Shorthand for `InvalidInput`.
    pub fn invalid(tool: &str, reason: impl Into<String>) -> Self {
        Self::InvalidInput {
            tool: tool.to_string(),
            reason: reason.into(),
        }
    }
}

impl ToolContext {
    /// A context whose roots are the policy's roots, so tools and access control
    /// check paths against the same list; `cwd` is added when missing.
    pub fn new(cwd: PathBuf, access: Arc<AccessPolicy>, http: reqwest::Client) -> Self {
        let mut roots = access.roots().to_vec();
        if !roots.iter().any(|r| r == &cwd) {
            roots.push(cwd.clone());
        }
        Self {
            cwd,
            roots,
            access,
            network: false,
            limits: ToolLimits::default(),
            http,
            todos: Arc::default(),
            mcp: Default::default(),
        }
    }

    /// Resolves a path from the model (absolute, or relative to `cwd`) and refuses
    /// it unless it stays inside the roots; see [`paths::resolve_within`].
    pub fn resolve_path(&self, raw: &str) -> Result<PathBuf, ToolError> {
        paths::resolve_within(raw, &self.cwd, &self.roots)
    }
}

/// A tool a subagent can call.
#[async_trait]
pub trait Tool: Send + Sync {
    /// Claude Code's name (`Read`, `Bash`, ...).
    fn name(&self) -> &'static str;
    fn description(&self) -> &'static str;
    /// JSON schema of the input, as Claude Code defines it.
    fn input_schema(&self) -> Value;
    /// Read-only tools may run concurrently and survive a read-only sandbox.
    fn read_only(&self) -> bool;
    async fn call(&self, input: Value, ctx: &ToolContext) -> Result<String, ToolError>;
}

/// Every built-in tool, in the order they are offered to a model.
pub fn all_tools() -> Vec<Arc<dyn Tool>> {
    vec![
        Arc::new(bash::Bash),
        Arc::new(glob::Glob),
        Arc::new(grep::Grep),
        Arc::new(read::Read),
        Arc::new(edit::Edit),
        Arc::new(write::Write),
        Arc::new(notebook_edit::NotebookEdit),
        Arc::new(web_fetch::WebFetch),
        Arc::new(web_search::WebSearch),
        Arc::new(todo_write::TodoWrite),
    ]
}

/// The built-in tool called `name`, if there is one.
pub fn tool_by_name(name: &str) -> Option<Arc<dyn Tool>> {
    all_tools().into_iter().find(|t| t.name() == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tool_has_an_object_schema_with_its_required_fields() {
        let expected: &[(&str, &[&str])] = &[
            ("Bash", &["command"]),
            ("Glob", &["pattern"]),
            ("Grep", &["pattern"]),
            ("Read", &["file_path"]),
            ("Edit", &["file_path", "old_string", "new_string"]),
            ("Write", &["file_path", "content"]),
            ("NotebookEdit", &["notebook_path", "new_source"]),
            ("WebFetch", &["url", "prompt"]),
            ("WebSearch", &["query"]),
            ("TodoWrite", &["todos"]),
        ];
        let tools = all_tools();
        assert_eq!(tools.len(), expected.len());
        for (name, required) in expected {
            let tool = tool_by_name(name).unwrap_or_else(|| panic!("{name} missing"));
            let schema = tool.input_schema();
            assert_eq!(schema["type"], "object", "{name}");
            let got: Vec<&str> = schema["required"]
                .as_array()
                .unwrap_or_else(|| panic!("{name}: no required list"))
                .iter()
                .filter_map(Value::as_str)
                .collect();
            assert_eq!(&got, required, "{name}");
            for field in *required {
                assert!(schema["properties"][field].is_object(), "{name}.{field}");
            }
            assert!(!tool.description().is_empty(), "{name}");
        }
        assert!(tool_by_name("Nope").is_none());
    }

    #[test]
    fn read_only_flags_match_what_the_tools_do() {
        for tool in all_tools() {
            let writes = matches!(tool.name(), "Bash" | "Edit" | "Write" | "NotebookEdit");
            assert_eq!(tool.read_only(), !writes, "{}", tool.name());
        }
    }
}
