//! A skill with `context: fork`, typed as `/name`: it runs as a subagent of its
//! `agent:` type before the turn goes upstream, and the prompt becomes its report.
//! (Called by the model through the Skill tool, the resolver does the same.)
//!
//! The subagent works as a Task of this turn would: the session's workspace,
//! sandbox, upstream and credentials (`inherit`). A retry of the turn reuses the
//! result instead of running the agent again.

use std::sync::Arc;

use crate::claude::{CommandDef, Rendered};
use crate::engine::{Engine, TaskRequest, TaskResult};
use crate::proxy::headers;
use crate::proxy::upstream::Backend;
use crate::turn::task::resolver::{body_key, Inherit};
use crate::turn::Turn;

/// What running a forked skill needs besides the turn.
pub struct Forker {
    pub engine: Arc<Engine>,
    /// The upstream bases, API-key mode then ChatGPT mode.
    pub bases: [String; 2],
    /// The model of a turn that names none.
    pub default_model: String,
}

impl Forker {
    /// Runs `cmd`, rendered, as a subagent of type `agent`; the text the prompt becomes.
    pub async fn run(
        &self,
        turn: &Turn,
        cmd: &CommandDef,
        agent: &str,
        args: &str,
        rendered: Rendered,
    ) -> String {
        let Some(workspace) = turn.workspace() else {
            return rendered.text;
        };
        let base = match turn.backend {
            Backend::OpenAi => &self.bases[0],
            Backend::ChatGpt => &self.bases[1],
        };
        let upstream = Arc::new(headers::to_upstream(turn.parts.headers.clone()));
        let model = turn.model_or(&self.default_model);
        let inherit = Inherit::new(base, turn.parts.uri.path(), upstream, &model);
        let description = format!("Skill {}", cmd.name);
        let mut req = TaskRequest::new(
            Some(agent.to_string()),
            rendered.text,
            description,
            workspace,
        );
        req.inherit = Some(inherit.target());
        req.session_id = turn.session_id().map(str::to_string);
        req.model = rendered.model;
        let key = [
            req.session_id.as_deref().unwrap_or(""),
            &turn.key(),
            &cmd.name,
            args,
        ];
        req.call_key = Some(body_key(key.join("\0").as_bytes()));
        tracing::info!(skill = %cmd.name, agent = %agent, "running a forked skill as a subagent");
        let result = self.engine.spawn(req).result().await;
        if !result.is_success() {
            tracing::warn!(skill = %cmd.name, status = %result.status, "a forked skill's subagent did not complete; the model gets its report");
        }
        report(&cmd.name, args, agent, &result)
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
}
