//! One call for the engine: find the tool, check access, run it, and turn any
//! failure into an error result for the model.

use std::sync::Arc;

use serde_json::Value;

use super::{Tool, ToolContext, ToolError};
use crate::engine::access::canonical_tool_name;

/// How a tool call ended, as the hooks see it: Claude Code fires PostToolUse only for
/// calls that ran and succeeded, PostToolUseFailure for calls that ran and failed, and
/// neither for calls refused before they ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToolStatus {
    /// It ran and succeeded.
    Succeeded,
    /// It ran and failed (a non-zero exit, a missing file, a timeout, a crash).
    Failed,
    /// It never ran: an unknown tool, invalid input, or refused by a hook, the
    /// access policy or the sandbox.
    Refused,
}

/// What goes back to the model for one tool call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolOutcome {
    pub output: String,
    pub status: ToolStatus,
}

impl ToolOutcome {
    /// A call that ran and succeeded.
    pub fn ok(output: String) -> Self {
        Self {
            output,
            status: ToolStatus::Succeeded,
        }
    }

    /// A call that ran and failed.
    pub fn failed(output: String) -> Self {
        Self {
            output,
            status: ToolStatus::Failed,
        }
    }

    /// A call that was refused before it ran.
    pub fn refused(output: String) -> Self {
        Self {
            output,
            status: ToolStatus::Refused,
        }
    }

    /// The outcome of a tool's error: refusals (access, invalid input) never ran.
    pub fn from_error(error: &ToolError) -> Self {
        match error {
            ToolError::InvalidInput { .. } | ToolError::Denied(_) => {
                Self::refused(error.to_string())
            }
            ToolError::Failed(_) => Self::failed(error.to_string()),
        }
    }

    /// True when the call was refused or failed (the model sees an error result).
    pub fn is_error(&self) -> bool {
        self.status != ToolStatus::Succeeded
    }
}

/// Runs the call `name(input)` with one of `tools`, after `ctx.access` allows it.
/// Never fails: unknown tools, refusals, tool errors and even a panicking tool all
/// come back as an error outcome.
pub async fn run_tool_call(
    tools: &[Arc<dyn Tool>],
    name: &str,
    input: Value,
    ctx: &ToolContext,
) -> ToolOutcome {
    let wanted = canonical_tool_name(name);
    let Some(tool) = tools
        .iter()
        .find(|t| canonical_tool_name(t.name()) == wanted)
        .cloned()
    else {
        let names: Vec<&str> = tools.iter().map(|t| t.name()).collect();
        return ToolOutcome::refused(format!(
            "No tool named {name:?}. Available tools: {}.",
            names.join(", ")
        ));
    };
    if let Err(e) = ctx.access.check(tool.as_ref(), &input, &ctx.cwd) {
        return ToolOutcome::from_error(&e);
    }
    // Its own task, so a panic inside a tool is contained; aborted if this call is
    // dropped, so a cancelled run does not leave a tool working.
    let ctx = ctx.clone();
    let task = tokio::spawn(async move { tool.call(input, &ctx).await });
    let _abort = AbortOnDrop(task.abort_handle());
    match task.await {
        Ok(Ok(output)) => ToolOutcome::ok(output),
        Ok(Err(e)) => ToolOutcome::from_error(&e),
        Err(e) => ToolOutcome::failed(format!("the {name} tool stopped unexpectedly: {e}")),
    }
}

struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::access::{AccessPolicy, PermissionRules, SandboxMode};
    use crate::engine::tools::all_tools;
    use serde_json::json;

    fn ctx(dir: &std::path::Path, tools: &[&str]) -> ToolContext {
        let tools: Vec<String> = tools.iter().map(|t| t.to_string()).collect();
        let policy = AccessPolicy::new(
            &tools,
            PermissionRules::with_home(None),
            SandboxMode::DangerFullAccess,
            vec![dir.to_path_buf()],
        );
        ToolContext::new(dir.to_path_buf(), Arc::new(policy), reqwest::Client::new())
    }

    #[tokio::test]
    async fn the_status_says_whether_the_call_ran() -> std::io::Result<()> {
        let tmp = tempfile::tempdir()?;
        let dir = std::fs::canonicalize(tmp.path())?;
        let ctx = ctx(&dir, &["Read", "Bash(echo:*)", "Bash(exit:*)"]);
        let tools = all_tools();
        let run = |name: &'static str, input: Value| {
            let ctx = ctx.clone();
            let tools = tools.clone();
            async move { run_tool_call(&tools, name, input, &ctx).await }
        };
        let ok = run("Bash", json!({"command": "echo hi"})).await;
        assert_eq!(ok.status, ToolStatus::Succeeded, "{ok:?}");
        assert!(!ok.is_error());
        let failed = run("Bash", json!({"command": "exit 3"})).await;
        assert_eq!(failed.status, ToolStatus::Failed, "{failed:?}");
        assert!(failed.is_error() && failed.output.contains("Exit code 3"));
        let missing = run("Read", json!({"file_path": "nope.txt"})).await;
        assert_eq!(missing.status, ToolStatus::Failed, "{missing:?}");
        for (name, input) in [
            ("Bash", json!({"command": "rm -rf x"})),
            ("Bash", json!({"command": 5})),
            ("Write", json!({"file_path": "a", "content": ""})),
            ("Nope", json!({})),
            ("Read", json!({"file_path": "/etc/passwd"})),
        ] {
            let refused = run(name, input.clone()).await;
            assert_eq!(
                refused.status,
                ToolStatus::Refused,
                "{name} {input}: {refused:?}"
            );
            assert!(refused.is_error());
        }
        Ok(())
    }

    #[tokio::test]
    async fn web_search_called_as_a_function_says_the_provider_has_none() -> std::io::Result<()> {
        let tmp = tempfile::tempdir()?;
        let ctx = ctx(tmp.path(), &["WebSearch"]);
        let out = run_tool_call(&all_tools(), "WebSearch", json!({"query": "rust"}), &ctx).await;
        assert_eq!(out.status, ToolStatus::Failed, "{out:?}");
        assert!(
            out.output
                .contains("Chat Completions API, which has no hosted search"),
            "{}",
            out.output
        );
        Ok(())
    }

    #[tokio::test]
    async fn notebook_edit_changes_a_cell_on_disk_and_keeps_to_the_roots() -> std::io::Result<()> {
        let tmp = tempfile::tempdir()?;
        let dir = std::fs::canonicalize(tmp.path())?;
        let nb = dir.join("n.ipynb");
        std::fs::write(
            &nb,
            json!({"cells": [{"cell_type": "code", "id": "a", "metadata": {}, "source": "x = 1", "outputs": [], "execution_count": 1}],
                   "metadata": {}, "nbformat": 4, "nbformat_minor": 5})
            .to_string(),
        )?;
        let ctx = ctx(&dir, &["NotebookEdit"]);
        let tools = all_tools();
        let done = run_tool_call(
            &tools,
            "NotebookEdit",
            json!({"notebook_path": nb.display().to_string(), "cell_id": "a", "new_source": "x = 2"}),
            &ctx,
        )
        .await;
        assert_eq!(done.status, ToolStatus::Succeeded, "{done:?}");
        assert!(
            done.output.starts_with("Replaced cell 0 in "),
            "{}",
            done.output
        );
        let written: Value = serde_json::from_str(&std::fs::read_to_string(&nb)?)?;
        assert_eq!(written["cells"][0]["source"], "x = 2");
        let outside = run_tool_call(
            &tools,
            "NotebookEdit",
            json!({"notebook_path": "/etc/n.ipynb", "new_source": "x"}),
            &ctx,
        )
        .await;
        assert_eq!(outside.status, ToolStatus::Refused, "{outside:?}");
        Ok(())
    }
}
