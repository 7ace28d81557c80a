//! The hooks of a turn's stream side: PreToolUse on the Codex tool calls the
//! interceptor holds, PreToolUse / PostToolUse / PostToolUseFailure around the Task
//! calls the proxy runs itself, and Stop when a response ends without tool calls.
//! The resolver (`turn::task::resolver`) calls these; what each event's stdin holds
//! is Claude Code's.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{json, Value};

use crate::hooks::codex_tools::{apply_updated_input, view};
use crate::hooks::service::Hooks;
use crate::hooks::{HookDecision, HookEvent, HookInput, PermissionDecision};
use crate::proxy::interceptor::{Decision, HeldCall, Outcome, TaskArgs, TaskCall, TASK_NAMES};
use crate::turn::task::resolver::Inherit;

/// Where a turn's hooks run: the service, the workspace, the session.
#[derive(Clone)]
pub struct TurnHooks {
    pub hooks: Arc<Hooks>,
    pub cwd: PathBuf,
    pub session: String,
    /// The turn's own upstream and model, for `prompt` and `agent` hooks (put
    /// together only when an event's input is).
    pub inherit: Arc<Inherit>,
}

impl TurnHooks {
    fn input(&self, event: HookEvent) -> HookInput {
        self.hooks
            .input(event, &self.session, &self.cwd)
            .inheriting(Some(self.inherit.target()))
    }

    /// PreToolUse on a Codex tool call held back from Codex: may Codex see it?
    pub async fn decide(&self, call: HeldCall) -> Decision {
        let v = view(&call.item);
        let input = self
            .input(HookEvent::PreToolUse)
            .with("tool_name", v.tool_name.clone())
            .with("tool_input", v.tool_input.clone())
            .with("tool_use_id", call.call_id.clone());
        let decision = self
            .hooks
            .fire(&self.cwd, HookEvent::PreToolUse, input, &v.match_names())
            .await;
        if let Some(reason) = denial(&decision) {
            return Decision::Deny { reason };
        }
        // `ask` leaves the call to Codex's own approval policy.
        let item = decision
            .updated_input
            .as_ref()
            .and_then(|updated| apply_updated_input(&call.item, updated));
        Decision::Allow { item }
    }

    /// Stop: `Some(reason)` sends the turn on.
    pub async fn stop(&self, active: bool) -> Option<String> {
        let input = self.input(HookEvent::Stop).with("stop_hook_active", active);
        let decision = self
            .hooks
            .fire(&self.cwd, HookEvent::Stop, input, &[])
            .await;
        if decision.stop.is_some() {
            // `continue: false` ends the turn, whatever else was said.
            return None;
        }
        decision.block.filter(|r| !r.trim().is_empty())
    }

    /// PreToolUse on a Task call, as for any tool: a deny is the model's result (the
    /// call never runs), an `updatedInput` is the call from then on.
    pub async fn before_task(&self, call: &mut TaskCall) -> Option<Outcome> {
        let names = task_hook_names(&call.name);
        if !self.hooks.has(&self.cwd, HookEvent::PreToolUse, &names) {
            return None;
        }
        let input = self
            .input(HookEvent::PreToolUse)
            .with("tool_name", call.name.clone())
            .with("tool_input", call.args.to_json(&call.name))
            .with("tool_use_id", call.call_id.clone());
        let decision = self
            .hooks
            .fire(&self.cwd, HookEvent::PreToolUse, input, &names)
            .await;
        if let Some(reason) = denial(&decision) {
            tracing::warn!(call_id = %call.call_id, %reason, "a PreToolUse hook denied a Task call");
            return Some(Outcome {
                ok: false,
                output: format!("{} was denied by a PreToolUse hook: {reason}", call.name),
                summary: format!("Denied: {reason}"),
            });
        }
        if let Some(updated) = decision.updated_input.as_ref() {
            match serde_json::from_value::<TaskArgs>(merged(&call.name, &call.args, updated)) {
                Ok(args) => call.args = args,
                Err(e) => tracing::warn!(
                    "a PreToolUse hook's updatedInput for a Task is not a Task input; ignored: {e}"
                ),
            }
        }
        None
    }

    /// PostToolUse for a Task that ran to its end, PostToolUseFailure for one that
    /// failed; what they say is added to the model's result.
    pub async fn after_task(&self, call: &TaskCall, outcome: &mut Outcome) {
        let names = task_hook_names(&call.name);
        let event = if outcome.ok {
            HookEvent::PostToolUse
        } else {
            HookEvent::PostToolUseFailure
        };
        if !self.hooks.has(&self.cwd, event, &names) {
            return;
        }
        let input = self
            .input(event)
            .with("tool_name", call.name.clone())
            .with("tool_input", call.args.to_json(&call.name))
            .with("tool_use_id", call.call_id.clone());
        let input = if outcome.ok {
            input.with(
                "tool_response",
                json!({"content": [{"type": "text", "text": outcome.output}]}),
            )
        } else {
            input.with("error", outcome.summary.clone())
        };
        let decision = self.hooks.fire(&self.cwd, event, input, &names).await;
        let notes: Vec<String> = [decision.block, decision.additional_context]
            .into_iter()
            .flatten()
            .filter(|t| !t.trim().is_empty())
            .collect();
        if !notes.is_empty() {
            outcome.output = format!("{}\n\n{event} hook: {}", outcome.output, notes.join("\n"));
        }
    }

    pub fn cwd(&self) -> &Path {
        &self.cwd
    }
}

/// The reason a PreToolUse decision refuses the call, if it does.
fn denial(decision: &HookDecision) -> Option<String> {
    let denied = decision.is_blocked() || decision.permission == Some(PermissionDecision::Deny);
    denied.then(|| {
        [&decision.permission_reason, &decision.block, &decision.stop]
            .into_iter()
            .flatten()
            .find(|r| !r.trim().is_empty())
            .cloned()
            .unwrap_or_else(|| "a PreToolUse hook denied this call".to_string())
    })
}

/// The names a Task call's hooks match: as called, and under both of the tool's
/// names (Claude Code's matchers say `Task` or `Agent` for the same tool).
fn task_hook_names(called: &str) -> Vec<&str> {
    let mut names = vec![called];
    if TASK_NAMES.contains(&called) {
        names.extend(TASK_NAMES.into_iter().filter(|n| *n != called));
    }
    names
}

/// `updated` over `args`: a hook's `updatedInput` may give only the fields it changes.
fn merged(tool: &str, args: &TaskArgs, updated: &Value) -> Value {
    let mut v = args.to_json(tool);
    if let (Some(base), Some(over)) = (v.as_object_mut(), updated.as_object()) {
        for (k, val) in over {
            base.insert(k.clone(), val.clone());
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_hooks_match_both_names_of_the_tool() {
        assert_eq!(task_hook_names("Agent"), ["Agent", "Task"]);
        assert_eq!(task_hook_names("Task"), ["Task", "Agent"]);
        // A `Task|Agent` matcher is not a Skill matcher.
        assert_eq!(task_hook_names("Skill"), ["Skill"]);
    }

    #[test]
    fn an_updated_input_changes_only_what_it_names() {
        let args = TaskArgs {
            description: "d".into(),
            prompt: "p".into(),
            subagent_type: Some("a".into()),
            ..TaskArgs::default()
        };
        let v = merged("Task", &args, &json!({"prompt": "q"}));
        assert_eq!(
            v,
            json!({"description": "d", "prompt": "q", "subagent_type": "a"})
        );
    }

    #[test]
    fn a_denial_says_why_with_the_first_reason_given() {
        let mut d = HookDecision {
            permission: Some(PermissionDecision::Deny),
            ..HookDecision::default()
        };
        assert_eq!(
            denial(&d).as_deref(),
            Some("a PreToolUse hook denied this call")
        );
        d.block = Some("no".into());
        assert_eq!(denial(&d).as_deref(), Some("no"));
        d.permission_reason = Some("policy".into());
        assert_eq!(denial(&d).as_deref(), Some("policy"));
        assert_eq!(denial(&HookDecision::default()), None);
    }
}
