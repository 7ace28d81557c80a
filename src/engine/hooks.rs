//! A subagent's hooks, as Claude Code fires them: SubagentStart when it begins,
//! PreToolUse before each of its tool calls, then PostToolUse after a call that ran
//! and succeeded or PostToolUseFailure after one that ran and failed (a call refused
//! before it ran fires neither), SubagentStop when it is about to finish (a blocking
//! SubagentStop sends it on with the reason).

use serde_json::{json, Value};

use super::queue::TaskEntry;
use super::request::TaskRequest;
use super::tools::{ToolOutcome, ToolStatus};
use super::Engine;
use crate::hooks::{HookEvent, HookInput, PermissionDecision};

impl Engine {
    /// The hooks a task fires: none for a hook's own judge.
    fn hooks_of(&self, req: &TaskRequest) -> Option<&std::sync::Arc<crate::hooks::service::Hooks>> {
        self.hooks.as_ref().filter(|_| req.given_agent.is_none())
    }

    fn hook_input(
        &self,
        event: HookEvent,
        entry: &TaskEntry,
        req: &TaskRequest,
    ) -> Option<HookInput> {
        let hooks = self.hooks_of(req)?;
        let session = entry.who.session_id.as_deref().unwrap_or(&entry.who.id);
        Some(
            hooks
                .input(event, session, &req.workspace.cwd)
                .with("agent_id", entry.who.id.clone())
                .with("agent_type", entry.who.agent.clone())
                .inheriting(req.inherit.clone())
                .of_task(&entry.who.id),
        )
    }

    /// SubagentStart; its added context, if any.
    pub(super) async fn subagent_start(
        &self,
        entry: &TaskEntry,
        req: &TaskRequest,
    ) -> Option<String> {
        let hooks = self.hooks_of(req)?;
        let input = self.hook_input(HookEvent::SubagentStart, entry, req)?;
        let names = [entry.who.agent.as_str()];
        let decision = hooks
            .fire_with(
                own(entry),
                &req.workspace.cwd,
                HookEvent::SubagentStart,
                input,
                &names,
            )
            .await;
        decision.additional_context.filter(|c| !c.trim().is_empty())
    }

    /// SubagentStop; the reason to go on, when a hook blocked the stop.
    pub(super) async fn subagent_stop(
        &self,
        entry: &TaskEntry,
        req: &TaskRequest,
        active: bool,
    ) -> Option<String> {
        let hooks = self.hooks_of(req)?;
        let input = self
            .hook_input(HookEvent::SubagentStop, entry, req)?
            .with("stop_hook_active", active);
        let names = [entry.who.agent.as_str()];
        let decision = hooks
            .fire_with(
                own(entry),
                &req.workspace.cwd,
                HookEvent::SubagentStop,
                input,
                &names,
            )
            .await;
        if decision.stop.is_some() {
            return None;
        }
        decision.block.filter(|r| !r.trim().is_empty())
    }

    /// PreToolUse for a subagent's call: the input to run it with, or why it may not run.
    pub(super) async fn pre_tool_use(
        &self,
        entry: &TaskEntry,
        req: &TaskRequest,
        call_id: &str,
        name: &str,
        input: Value,
    ) -> Result<Value, String> {
        let Some(hooks) = self.hooks_of(req) else {
            return Ok(input);
        };
        if !hooks.has_with(
            own(entry),
            &req.workspace.cwd,
            HookEvent::PreToolUse,
            &[name],
        ) {
            return Ok(input);
        }
        let Some(hook_input) = self.hook_input(HookEvent::PreToolUse, entry, req) else {
            return Ok(input);
        };
        let hook_input = hook_input
            .with("tool_name", name)
            .with("tool_input", input.clone())
            .with("tool_use_id", call_id);
        let decision = hooks
            .fire_with(
                own(entry),
                &req.workspace.cwd,
                HookEvent::PreToolUse,
                hook_input,
                &[name],
            )
            .await;
        if decision.block.is_some()
            || decision.stop.is_some()
            || decision.permission == Some(PermissionDecision::Deny)
        {
            return Err(decision
                .permission_reason
                .or(decision.block)
                .or(decision.stop)
                .filter(|r| !r.trim().is_empty())
                .unwrap_or_else(|| "a PreToolUse hook denied this call".into()));
        }
        Ok(decision.updated_input.unwrap_or(input))
    }

    /// After a subagent's call, as Claude Code fires it: PostToolUse (with
    /// `tool_response`) when it ran and succeeded, PostToolUseFailure (with `error`)
    /// when it ran and failed, nothing when it was refused before running. What a
    /// blocking hook or added context says goes after the result the subagent reads.
    pub(super) async fn post_tool_use(
        &self,
        entry: &TaskEntry,
        req: &TaskRequest,
        call_id: &str,
        name: &str,
        input: &Value,
        mut outcome: ToolOutcome,
    ) -> ToolOutcome {
        let Some(event) = post_event(outcome.status) else {
            return outcome;
        };
        let Some(hooks) = self.hooks_of(req) else {
            return outcome;
        };
        if !hooks.has_with(own(entry), &req.workspace.cwd, event, &[name]) {
            return outcome;
        }
        let Some(hook_input) = self.hook_input(event, entry, req) else {
            return outcome;
        };
        let hook_input = hook_input
            .with("tool_name", name)
            .with("tool_input", input.clone())
            .with("tool_use_id", call_id);
        let hook_input = match event {
            HookEvent::PostToolUseFailure => hook_input
                .with("error", outcome.output.clone())
                .with("is_interrupt", false),
            _ => hook_input.with(
                "tool_response",
                json!({"output": outcome.output, "is_error": false}),
            ),
        };
        let decision = hooks
            .fire_with(own(entry), &req.workspace.cwd, event, hook_input, &[name])
            .await;
        for note in [decision.block, decision.additional_context]
            .into_iter()
            .flatten()
        {
            if !note.trim().is_empty() {
                outcome.output.push_str(&format!("\n\n{event} hook: "));
                outcome.output.push_str(note.trim());
            }
        }
        outcome
    }
}

/// The task's own hook runner (workspace plus agent), when its agent has `hooks`.
fn own(entry: &TaskEntry) -> Option<&crate::hooks::HookRunner> {
    entry.agent_hooks.get().map(|r| r.as_ref())
}

/// The event that follows a call that ended so; `None` for a call that never ran.
fn post_event(status: ToolStatus) -> Option<HookEvent> {
    match status {
        ToolStatus::Succeeded => Some(HookEvent::PostToolUse),
        ToolStatus::Failed => Some(HookEvent::PostToolUseFailure),
        ToolStatus::Refused => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_calls_that_ran_have_a_post_event() {
        assert_eq!(
            post_event(ToolStatus::Succeeded),
            Some(HookEvent::PostToolUse)
        );
        assert_eq!(
            post_event(ToolStatus::Failed),
            Some(HookEvent::PostToolUseFailure)
        );
        assert_eq!(post_event(ToolStatus::Refused), None);
    }
}
