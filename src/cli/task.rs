//! `codex-plus task`: run Task subagents in this process (no proxy needed), with live
//! progress lines, then their results.
//!
//! ```text
//! ⏺ Task(code-reviewer): Review the parser
//!   ⎿ Read(src/parser.rs)
//!   ⎿ Done · 1 tool use · 4.2s
//!
//! <the subagent's final text>
//! ```

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures_util::future::join_all;
use tokio::sync::broadcast::error::RecvError;

use super::CliError;
use crate::claude::catalog::{Catalog, DEFAULT_POLL_INTERVAL};
use crate::claude::{ClaudeCatalogs, Roots};
use crate::config::Config;
use crate::engine::access::SandboxMode;
use crate::engine::progress::{finished_line, started_line, tool_line, usage_note};
use crate::engine::request::default_description;
use crate::engine::{Engine, EngineDeps, TaskEvent, TaskRequest, TaskResult, Workspace};
use crate::providers::config::process_env;
use crate::store::Ledger;

/// One task from the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskSpec {
    /// `None`: general-purpose.
    pub agent: Option<String>,
    /// What the subagent should do.
    pub prompt: String,
}

impl TaskSpec {
    /// Reads `--task agent=prompt` (an empty agent means general-purpose).
    pub fn parse(text: &str) -> Result<Self, CliError> {
        let (agent, prompt) = text.split_once('=').ok_or_else(|| {
            CliError::Other(format!(
                "--task {text:?}: write it as agent=prompt, e.g. --task Explore=\"find the config parser\""
            ))
        })?;
        let agent = agent.trim();
        Ok(Self {
            agent: (!agent.is_empty()).then(|| agent.to_string()),
            prompt: prompt.to_string(),
        })
    }
}

/// What `codex-plus task` was asked.
#[derive(Debug, Clone)]
pub struct TaskOptions {
    /// One, or several run in parallel.
    pub tasks: Vec<TaskSpec>,
    /// For a single task; several tasks take their prompts' first words.
    pub description: Option<String>,
    /// Print only the JSON result(s).
    pub json: bool,
    /// The workspace (default: the current directory).
    pub cwd: Option<PathBuf>,
    /// Overrides the agents' models.
    pub model: Option<String>,
    /// The session's sandbox mode (workspace-write rooted at the workspace by default).
    pub sandbox: SandboxMode,
}

/// An engine in this process, over the state directory's ledger, for one run.
pub fn local_engine(config: &Config) -> Result<(Arc<Engine>, Arc<Ledger>), CliError> {
    let ledger_path = config.home.join("ledger.db");
    let ledger = Arc::new(Ledger::open(&ledger_path).map_err(|e| CliError::Other(e.to_string()))?);
    let roots = Roots::from_env();
    // One run: reading the files once is enough, no watcher needed.
    let catalogs = Arc::new(ClaudeCatalogs {
        agents: Catalog::polling(roots.clone(), DEFAULT_POLL_INTERVAL),
        commands: Catalog::polling(roots.clone(), DEFAULT_POLL_INTERVAL),
        settings: Catalog::polling(roots, DEFAULT_POLL_INTERVAL),
    });
    let deps = EngineDeps::from_config(config, Arc::clone(&ledger), catalogs, &process_env)
        .map_err(|e| CliError::Other(e.to_string()))?;
    Ok((Engine::new(deps), ledger))
}

/// Runs the tasks and prints progress and results. Ok(false) when any task failed.
pub async fn run(config: Config, options: TaskOptions) -> Result<bool, CliError> {
    let cwd = absolute_dir(options.cwd.as_deref())?;
    let (engine, ledger) = local_engine(&config)?;

    let single = options.tasks.len() == 1;
    let mut requests = Vec::new();
    for spec in &options.tasks {
        let description = match (&options.description, single) {
            (Some(d), true) => d.clone(),
            _ => default_description(&spec.prompt),
        };
        let workspace = Workspace {
            sandbox: options.sandbox,
            ..Workspace::at(cwd.clone())
        };
        let mut req = TaskRequest::new(
            spec.agent.clone(),
            spec.prompt.clone(),
            description,
            workspace,
        );
        req.model = options.model.clone();
        engine
            .check(&req)
            .map_err(|e| CliError::Other(e.to_string()))?;
        requests.push(req);
    }
    let labels = labels(&requests);
    let runs = requests.into_iter().zip(labels).map(|(req, label)| {
        let description = req.description.clone();
        let mut handle = engine.spawn(req);
        let show = !options.json;
        async move {
            if show {
                print_progress(&mut handle.events, label.as_deref(), &description).await;
            }
            handle.result().await
        }
    });
    let results: Vec<TaskResult> = join_all(runs).await;
    if let Err(e) = ledger.flush().await {
        tracing::warn!("the ledger may miss the last writes: {e}");
    }

    let mut out = std::io::stdout().lock();
    let text = if options.json {
        let value = if single {
            serde_json::to_value(&results[0])
        } else {
            serde_json::to_value(&results)
        };
        value
            .and_then(|v| serde_json::to_string_pretty(&v))
            .map_err(|e| CliError::Other(e.to_string()))?
            + "\n"
    } else {
        render_results(&results)
    };
    out.write_all(text.as_bytes())
        .map_err(|e| CliError::Other(format!("cannot write the result: {e}")))?;
    Ok(results.iter().all(TaskResult::is_success))
}

/// The prefix of each task's progress lines when several run: its agent, numbered
/// when the same agent runs more than once.
fn labels(requests: &[TaskRequest]) -> Vec<Option<String>> {
    if requests.len() < 2 {
        return vec![None; requests.len()];
    }
    let mut seen = std::collections::HashMap::<&str, usize>::new();
    requests
        .iter()
        .map(|r| {
            let name = r.agent_name();
            let total = requests.iter().filter(|o| o.agent_name() == name).count();
            let n = seen.entry(name).or_insert(0);
            *n += 1;
            Some(if total > 1 {
                format!("[{name}#{n}]")
            } else {
                format!("[{name}]")
            })
        })
        .collect()
}

async fn print_progress(
    events: &mut tokio::sync::broadcast::Receiver<TaskEvent>,
    label: Option<&str>,
    description: &str,
) {
    let prefix = label.map(|l| format!("{l} ")).unwrap_or_default();
    let mut started = false;
    loop {
        let line = match events.recv().await {
            Ok(TaskEvent::Started { agent, .. }) => {
                started = true;
                Some(started_line(&agent, description))
            }
            Ok(TaskEvent::ToolUse { tool, summary }) => Some(tool_line(&tool, &summary)),
            Ok(TaskEvent::Finished(result)) => {
                if !started {
                    println!("{prefix}{}", started_line(&result.agent, description));
                }
                match usage_note(&result) {
                    Some(note) => println!("{prefix}{} · {note}", finished_line(&result)),
                    None => println!("{prefix}{}", finished_line(&result)),
                }
                return;
            }
            Ok(_) | Err(RecvError::Lagged(_)) => None,
            Err(RecvError::Closed) => return,
        };
        if let Some(line) = line {
            println!("{prefix}{line}");
        }
    }
}

/// The results as text: each one's final output, or why it failed (a provider
/// failure as its Error / Cause / Suggestion / Fallback block).
pub fn render_results(results: &[TaskResult]) -> String {
    let mut out = String::new();
    for result in results {
        out.push('\n');
        if results.len() > 1 {
            out.push_str(&format!(
                "── {} ──\n",
                started_line(&result.agent, &result.description)
            ));
        }
        if let Some(error) = &result.error {
            if error.starts_with("Error: ") {
                out.push_str(error);
            } else {
                out.push_str(&format!("Error: {error}"));
            }
            out.push('\n');
            if !result.output.trim().is_empty() {
                out.push_str("\nPartial output:\n");
            }
        }
        out.push_str(&result.output);
        if !out.ends_with('\n') {
            out.push('\n');
        }
    }
    out
}

/// `--cwd` made absolute (default: the current directory), checked to be a directory.
pub fn absolute_dir(cwd: Option<&Path>) -> Result<PathBuf, CliError> {
    let here = std::env::current_dir()
        .map_err(|e| CliError::Other(format!("cannot read the current directory: {e}")))?;
    let dir = match cwd {
        Some(dir) => here.join(dir),
        None => here,
    };
    let dir = crate::claude::discovery::normalize(&dir);
    if !dir.is_dir() {
        return Err(CliError::Other(format!(
            "--cwd {}: no such directory",
            dir.display()
        )));
    }
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::TaskStatus;

    #[test]
    fn task_specs_split_at_the_first_equals_sign() {
        assert_eq!(
            TaskSpec::parse("Explore=find a=b").unwrap(),
            TaskSpec {
                agent: Some("Explore".into()),
                prompt: "find a=b".into()
            }
        );
        assert_eq!(TaskSpec::parse("=just do it").unwrap().agent, None);
        let err = TaskSpec::parse("Explore").unwrap_err().to_string();
        assert!(err.contains("agent=prompt"), "{err}");
    }

    #[test]
    fn labels_number_repeated_agents() {
        let req = |agent: &str| TaskRequest::new(Some(agent.into()), "p", "d", Workspace::at("/w"));
        assert_eq!(labels(&[req("a")]), [None]);
        let got = labels(&[req("a"), req("b"), req("a")]);
        assert_eq!(
            got,
            [
                Some("[a#1]".into()),
                Some("[b]".into()),
                Some("[a#2]".into())
            ]
        );
    }

    fn result(error: Option<&str>, output: &str) -> TaskResult {
        let mut r = TaskResult::failed("t".into(), "Explore".into(), "Find it".into(), "");
        r.error = error.map(str::to_string);
        if r.error.is_none() {
            r.status = TaskStatus::Completed;
        }
        r.output = output.into();
        r
    }

    #[test]
    fn results_show_the_output_or_the_error_block() {
        assert_eq!(render_results(&[result(None, "found it")]), "\nfound it\n");
        let block = "Error: no model provider could answer (1 candidate)\nCause: x\nSuggestion: y\nFallback: tried z";
        let text = render_results(&[result(Some(block), "")]);
        assert_eq!(text, format!("\n{block}\n"));
        let text = render_results(&[result(Some("reached maxTurns"), "half")]);
        assert_eq!(text, "\nError: reached maxTurns\n\nPartial output:\nhalf\n");
        let two = render_results(&[result(None, "a"), result(None, "b")]);
        assert!(two.contains("── ⏺ Task(Explore): Find it ──\na\n"), "{two}");
    }
}
