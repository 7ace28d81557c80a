//! `codex-plus goal "..."`: plans and runs a goal in this process (no proxy needed),
//! printing each subtask as it starts and ends, then the combined answer. Recorded in
//! the ledger like goals the proxy runs.
//!
//! ```text
//! ⏺ Planned 3 subtasks
//!   ⎿ scan: running
//!   ⎿ scan: completed
//!
//! <the combined answer>
//! ```

use std::io::Write;
use std::path::PathBuf;

use tokio::sync::broadcast::error::RecvError;

use super::task::{absolute_dir, local_engine};
use super::CliError;
use crate::config::Config;
use crate::engine::access::SandboxMode;
use crate::engine::Workspace;
use crate::goals::{GoalEvent, GoalRequest, Goals};

/// What `codex-plus goal` was asked.
#[derive(Debug, Clone)]
pub struct GoalOptions {
    pub goal: String,
    pub cwd: Option<PathBuf>,
    pub model: Option<String>,
    pub max_parallel: Option<usize>,
    pub sandbox: SandboxMode,
    /// Print only the goal as JSON.
    pub json: bool,
}

/// Runs the goal; Ok(false) when it did not complete.
pub async fn run(config: Config, options: GoalOptions) -> Result<bool, CliError> {
    let cwd = absolute_dir(options.cwd.as_deref())?;
    let (engine, ledger) = local_engine(&config)?;
    let goals = Goals::new(engine, ledger.clone(), config.goals.clone());
    let id = goals.start(GoalRequest {
        goal: options.goal,
        workspace: Workspace {
            sandbox: options.sandbox,
            ..Workspace::at(cwd)
        },
        model: options.model,
        max_parallel: options.max_parallel,
        inherit: None,
    });
    if !options.json {
        if let Some(mut events) = goals.subscribe(&id) {
            let mut out = std::io::stderr();
            loop {
                let line = match events.recv().await {
                    Ok(GoalEvent::Planned { subtasks }) => {
                        format!(
                            "⏺ Planned {subtasks} subtask{}",
                            if subtasks == 1 { "" } else { "s" }
                        )
                    }
                    Ok(GoalEvent::Subtask { id, state, .. }) => {
                        format!(
                            "  ⎿ {id}: {}",
                            serde_json::to_value(state)
                                .unwrap_or_default()
                                .as_str()
                                .unwrap_or_default()
                        )
                    }
                    Ok(GoalEvent::Finished { status }) => {
                        let _ = writeln!(out, "⏺ Goal {status}\n");
                        break;
                    }
                    Err(RecvError::Lagged(_)) => continue,
                    Err(RecvError::Closed) => break,
                };
                let _ = writeln!(out, "{line}");
            }
        }
    }
    let goal = goals
        .wait(&id)
        .await
        .ok_or_else(|| CliError::Other(format!("goal {id} was lost")))?;
    if let Err(e) = ledger.flush().await {
        tracing::warn!("the ledger may miss the last writes: {e}");
    }
    let text = if options.json {
        serde_json::to_string_pretty(&goal).map_err(|e| CliError::Other(e.to_string()))? + "\n"
    } else {
        let mut text = String::new();
        if let Some(error) = &goal.error {
            text.push_str(&format!("Goal {} {}: {error}\n\n", goal.id, goal.status));
        }
        text.push_str(goal.answer.as_deref().unwrap_or("(no answer)"));
        text.push('\n');
        text
    };
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
    Ok(goal.status == "completed")
}
