//! The engine as the judge of `prompt` and `agent` hooks (`hooks::judge`): one model
//! call on the hook's model (else the session's), or a subagent with Read, Grep and
//! Glob in a read-only sandbox, answering in the verdict's schema.

use std::sync::{Arc, Weak};

use crate::claude::agents::AgentDef;
use crate::claude::builtin_agents::hook_judge;
use crate::hooks::judge::{self, Judge, JudgeAsk};
use crate::providers::types::{Message, ModelRequest};

use super::access::SandboxMode;
use super::{Engine, TaskRequest, Workspace};

/// Claude Code's limit on an agent hook's turns.
const AGENT_MAX_TURNS: u32 = 50;

/// A prompt hook's answer is one small JSON object.
const PROMPT_MAX_TOKENS: u32 = 2048;

/// Holds the engine weakly: the engine holds the hooks, which hold this.
pub struct EngineJudge(pub Weak<Engine>);

#[async_trait::async_trait]
impl Judge for EngineJudge {
    async fn judge(&self, ask: JudgeAsk) -> Result<String, String> {
        let engine = self
            .0
            .upgrade()
            .ok_or_else(|| "the engine has shut down".to_string())?;
        if ask.agent {
            engine.judge_by_agent(ask).await
        } else {
            engine.judge_by_prompt(ask).await
        }
    }
}

impl Engine {
    async fn judge_by_prompt(&self, ask: JudgeAsk) -> Result<String, String> {
        let inherit = ask.scope.inherit.as_ref().or(self.local_inherit.as_ref());
        let candidates = self
            .router
            .resolve(ask.model.as_deref(), inherit)
            .map_err(|e| e.to_string())?;
        let request = ModelRequest {
            model: String::new(),
            system: judge::SYSTEM.to_string(),
            messages: vec![Message::user_text(ask.prompt)],
            tools: Vec::new(),
            temperature: None,
            max_tokens: Some(PROMPT_MAX_TOKENS),
            output_schema: Some(("hook_verdict".into(), judge::schema())),
        };
        let completion = self
            .router
            .complete(&candidates, &request)
            .await
            .map_err(|e| e.to_string().trim().replace('\n', "; "))?;
        Ok(completion.response.text())
    }

    async fn judge_by_agent(self: &Arc<Self>, ask: JudgeAsk) -> Result<String, String> {
        // Reading only, whatever the session may do.
        let mut workspace = Workspace::at(ask.cwd.clone());
        workspace.sandbox = SandboxMode::ReadOnly;
        let mut agent: AgentDef = hook_judge();
        agent.max_turns = Some(AGENT_MAX_TURNS);
        agent.timeout = Some(ask.timeout);
        let mut req = TaskRequest::new(None, ask.prompt, "Judge a hook's event", workspace);
        req.model = ask.model;
        req.inherit = ask.scope.inherit;
        // Under the slot of the task whose event it judges, as its child would: a
        // SubagentStop judge waiting for a slot its own agent holds would never start.
        req.parent_id = ask.scope.parent_task;
        req.output_schema = Some(("hook_verdict".into(), judge::schema()));
        req.given_agent = Some(Box::new(agent));
        let result = self.task(req).await;
        if result.is_success() {
            Ok(result.output)
        } else {
            Err(format!(
                "its agent did not finish ({}): {}",
                result.status,
                result.error_summary().unwrap_or_default()
            ))
        }
    }
}
