//! One call for the engine: find the tool, check access, run it, and turn any
//! failure into an error result for the model.

use std::sync::Arc;

use serde_json::Value;

use super::{Tool, ToolContext};
use crate::engine::access::canonical_tool_name;

/// What goes back to the model for one tool call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolOutcome {
    pub output: String,
    /// True when the call was refused or failed.
    pub is_error: bool,
}

impl ToolOutcome {
    fn ok(output: String) -> Self {
        Self {
            output,
            is_error: false,
        }
    }

    fn error(output: String) -> Self {
        Self {
            output,
            is_error: true,
        }
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
        return ToolOutcome::error(format!(
            "No tool named {name:?}. Available tools: {}.",
            names.join(", ")
        ));
    };
    if let Err(e) = ctx.access.check(tool.as_ref(), &input, &ctx.cwd) {
        return ToolOutcome::error(e.to_string());
    }
    // Its own task, so a panic inside a tool is contained; aborted if this call is
    // dropped, so a cancelled run does not leave a tool working.
    let ctx = ctx.clone();
    let task = tokio::spawn(async move { tool.call(input, &ctx).await });
    let _abort = AbortOnDrop(task.abort_handle());
    match task.await {
        Ok(Ok(output)) => ToolOutcome::ok(output),
        Ok(Err(e)) => ToolOutcome::error(e.to_string()),
        Err(e) => ToolOutcome::error(format!("the {name} tool stopped unexpectedly: {e}")),
    }
}

struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
