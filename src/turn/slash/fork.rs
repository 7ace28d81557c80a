//! A command or skill with `context:`, typed as `/name`, runs before the turn goes
//! upstream, and the prompt becomes its report:
//! - `context: fork` (Claude Code's): a subagent of its `agent:` type. (Called by the
//!   model through the Skill tool, the resolver does the same.)
//! - `context: goal` (codex-plus's): a goal (`crate::goals`), the rendered text
//!   being the goal, in the session's workspace.
//!
//! Both work as a Task of this turn would: the session's workspace and sandbox; a
//! subagent also gets the session's upstream and credentials (`inherit`). A retry
//! of the turn reuses the result instead of running it again.

use std::sync::{Arc, Mutex, PoisonError};

use crate::claude::{CommandDef, Rendered, RunAs};
use crate::engine::{Engine, TaskRequest, TaskResult};
use crate::goals::{GoalRequest, Goals};
use crate::proxy::headers;
use crate::proxy::upstream::Backend;
use crate::store::GoalRecord;
use crate::turn::task::resolver::{call_key, Inherit};
use crate::turn::Turn;

/// Turns whose goal is remembered, so a retry finds it.
const REMEMBERED: usize = 64;

/// What running a command elsewhere needs besides the turn.
pub struct Forker {
    pub engine: Arc<Engine>,
    pub goals: Arc<Goals>,
    /// The upstream bases, API-key mode then ChatGPT mode.
    pub bases: [String; 2],
    /// The model of a turn that names none.
    pub default_model: String,
    /// The goal each recent turn started, by turn key.
    started: Mutex<Vec<(String, String)>>,
}

impl Forker {
    pub fn new(
        engine: Arc<Engine>,
        goals: Arc<Goals>,
        bases: [String; 2],
        default_model: String,
    ) -> Forker {
        Forker {
            engine,
            goals,
            bases,
            default_model,
            started: Mutex::new(Vec::new()),
        }
    }

    /// Runs `cmd`, rendered, as `run_as` says; the text the prompt becomes.
    pub async fn run(
        &self,
        turn: &Turn,
        cmd: &CommandDef,
        run_as: &RunAs,
        args: &str,
        rendered: Rendered,
    ) -> String {
        let Some(workspace) = turn.workspace() else {
            return rendered.text;
        };
        let key = [
            turn.session_id().unwrap_or(""),
            &turn.key(),
            &cmd.name,
            args,
        ];
        let key = call_key(&key);
        let base = match turn.backend {
            Backend::OpenAi => &self.bases[0],
            Backend::ChatGpt => &self.bases[1],
        };
        let upstream = Arc::new(headers::KeptHeaders::new(
            &headers::to_upstream(turn.parts.headers.clone()),
            &http::header::CONTENT_ENCODING,
        ));
        let model = turn.model_or(&self.default_model);
        let inherit = Inherit::new(base, turn.parts.uri.path(), upstream, &model).target();
        match run_as {
            RunAs::Goal => {
                let id = self.goal_of(&key).unwrap_or_else(|| {
                    let id = self.goals.start(GoalRequest {
                        goal: rendered.text,
                        workspace,
                        model: rendered.model,
                        max_parallel: None,
                        inherit: Some(inherit),
                    });
                    self.remember(key, &id);
                    id
                });
                tracing::info!(command = %cmd.name, goal = %id, "running a goal for a command");
                let goal = self.goals.wait(&id).await;
                goal_report(&cmd.name, args, &id, goal.as_ref())
            }
            RunAs::Fork { agent } => {
                let description = format!("Skill {}", cmd.name);
                let mut req =
                    TaskRequest::new(Some(agent.clone()), rendered.text, description, workspace);
                req.inherit = Some(inherit);
                req.session_id = turn.session_id().map(str::to_string);
                req.model = rendered.model;
                req.call_key = Some(key);
                tracing::info!(skill = %cmd.name, agent = %agent, "running a forked skill as a subagent");
                let result = self.engine.spawn(req).result().await;
                if !result.is_success() {
                    tracing::warn!(skill = %cmd.name, status = %result.status, "a forked skill's subagent did not complete; the model gets its report");
                }
                report(&cmd.name, args, agent, &result)
            }
        }
    }

    fn goal_of(&self, key: &str) -> Option<String> {
        let started = self.started.lock().unwrap_or_else(PoisonError::into_inner);
        started
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, id)| id.clone())
    }

    fn remember(&self, key: String, id: &str) {
        let mut started = self.started.lock().unwrap_or_else(PoisonError::into_inner);
        if started.len() == REMEMBERED {
            started.remove(0);
        }
        started.push((key, id.to_string()));
    }
}

/// The prompt a forked skill's run becomes: what the user typed, and the report.
pub fn report(name: &str, args: &str, agent: &str, result: &TaskResult) -> String {
    format!(
        "<command-name>/{name}</command-name>\n<command-args>{args}</command-args>\n\
         The skill /{name} ran in a subagent ({agent} agent). Its report:\n\n{}",
        result.to_claude_text()
    )
}

/// The prompt a goal command becomes: what the user typed, how the goal ended, and
/// its combined answer.
pub fn goal_report(name: &str, args: &str, id: &str, goal: Option<&GoalRecord>) -> String {
    let head =
        format!("<command-name>/{name}</command-name>\n<command-args>{args}</command-args>\n");
    let Some(goal) = goal else {
        return format!("{head}The goal {id} could not be found after it ran.");
    };
    let subtasks = goal
        .graph_json
        .as_deref()
        .and_then(|j| serde_json::from_str::<crate::goals::graph::Graph>(j).ok())
        .map_or(0, |g| g.nodes.len());
    let mut text = format!(
        "{head}The goal ran as {subtasks} subtask{} and ended {} (goal id {id}; GET /api/goals/{id} has its graph).",
        if subtasks == 1 { "" } else { "s" },
        goal.status
    );
    if let Some(error) = &goal.error {
        text.push_str(&format!("\nWhat went wrong: {error}"));
    }
    if let Some(answer) = &goal.answer {
        text.push_str(&format!("\nIts combined answer:\n\n{answer}"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_names_the_skill_its_arguments_and_the_agent() {
        let mut result = TaskResult::failed("task_1".into(), "Explore".into(), "d".into(), "x");
        result.status = crate::engine::TaskStatus::Completed;
        result.error = None;
        result.output = "Deployed to staging.".into();
        let text = report("deploy", "staging", "Explore", &result);
        assert!(
            text.starts_with(
                "<command-name>/deploy</command-name>\n<command-args>staging</command-args>\n"
            ),
            "{text}"
        );
        assert!(text.contains("ran in a subagent (Explore agent)"), "{text}");
        assert!(text.contains("Deployed to staging.\n"), "{text}");
        assert!(text.contains("agentId: task_1"), "{text}");
    }

    #[test]
    fn a_goal_report_says_how_it_ended_and_its_answer() {
        let goal = GoalRecord {
            id: "goal_1".into(),
            goal: "g".into(),
            cwd: "/w".into(),
            sandbox: "workspace-write".into(),
            model: None,
            max_parallel: None,
            status: "failed".into(),
            graph_json: Some(r#"{"nodes": [{"id": "a", "prompt": "p", "state": "completed", "attempts": 1}, {"id": "b", "prompt": "p", "state": "failed", "attempts": 2}]}"#.into()),
            answer: Some("Half done.".into()),
            error: Some("subtasks did not complete: `b` failed".into()),
            created_at: crate::store::Timestamp(1),
            updated_at: crate::store::Timestamp(2),
            ended_at: None,
        };
        let text = goal_report("goal", "ship it", "goal_1", Some(&goal));
        assert!(
            text.contains("<command-args>ship it</command-args>"),
            "{text}"
        );
        assert!(
            text.contains("ran as 2 subtasks and ended failed (goal id goal_1"),
            "{text}"
        );
        assert!(
            text.contains("What went wrong: subtasks did not complete: `b` failed"),
            "{text}"
        );
        assert!(
            text.ends_with("Its combined answer:\n\nHalf done."),
            "{text}"
        );
        assert!(goal_report("goal", "", "goal_x", None).contains("could not be found"));
    }
}
