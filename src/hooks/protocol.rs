//! What a finished hook said: Claude Code's exit-code and JSON-output protocol, as a pure
//! function of (event, exit code, stdout, stderr).
//!
//! Exit 0: success; stdout may be a JSON object of decisions, and for UserPromptSubmit and
//! SessionStart plain stdout is context for the model. Exit 2: block, stderr is the reason
//! (JSON is ignored). Any other code: a non-blocking error.

use serde::Deserialize;
use serde_json::Value;

use super::event::HookEvent;
use crate::store::HookRunOutcome;

/// A PreToolUse hook's verdict on a tool call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum PermissionDecision {
    /// Run it without asking.
    Allow,
    /// Ask the user.
    Ask,
    /// Refuse it; the reason goes to the model.
    Deny,
}

impl PermissionDecision {
    fn parse(text: &str) -> Option<Self> {
        match text {
            "allow" => Some(Self::Allow),
            "ask" => Some(Self::Ask),
            "deny" => Some(Self::Deny),
            _ => None,
        }
    }
}

/// What one hook run asked for.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HookResponse {
    /// The hook blocks; the reason (meaning depends on the event: a refused tool call or
    /// prompt, feedback after a tool, an instruction to keep going after Stop).
    pub block: Option<String>,
    /// PreToolUse: the hook's verdict (`Deny` always comes with `block`).
    pub permission: Option<PermissionDecision>,
    /// Why, for `Allow` and `Ask` (shown to the user).
    pub permission_reason: Option<String>,
    /// `continue: false`: stop the whole turn; the `stopReason` (may be empty).
    pub stop: Option<String>,
    /// `suppressOutput: true`.
    pub suppress_output: bool,
    /// `systemMessage`: a note for the user.
    pub system_message: Option<String>,
    /// Context for the model.
    pub additional_context: Option<String>,
    /// PreToolUse: replacement tool input.
    pub updated_input: Option<Value>,
    /// A non-blocking problem, with the hook's command named.
    pub error: Option<String>,
    /// WorktreeCreate: the path of the worktree the hook made (its plain stdout).
    pub worktree_path: Option<String>,
}

impl HookResponse {
    /// A response that only reports a non-blocking problem.
    pub fn failed(error: String) -> Self {
        Self {
            error: Some(error),
            ..Self::default()
        }
    }

    /// The ledger's summary of this response.
    pub fn outcome(&self) -> HookRunOutcome {
        if self.block.is_some() || self.stop.is_some() {
            HookRunOutcome::Blocked
        } else if self.error.is_some() {
            HookRunOutcome::Error
        } else {
            HookRunOutcome::Success
        }
    }

    fn note_error(&mut self, message: String) {
        self.error = Some(match self.error.take() {
            Some(previous) => format!("{previous}; {message}"),
            None => message,
        });
    }
}

/// The JSON a hook may print on exit 0.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct HookOutput {
    #[serde(rename = "continue")]
    keep_going: Option<bool>,
    stop_reason: Option<String>,
    suppress_output: Option<bool>,
    system_message: Option<String>,
    decision: Option<String>,
    reason: Option<String>,
    hook_specific_output: Option<HookSpecificOutput>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct HookSpecificOutput {
    hook_event_name: Option<String>,
    permission_decision: Option<String>,
    permission_decision_reason: Option<String>,
    updated_input: Option<Value>,
    additional_context: Option<String>,
}

/// Interprets one finished hook. `command` only names the hook in messages.
pub fn interpret(
    event: HookEvent,
    command: &str,
    exit_code: i32,
    stdout: &str,
    stderr: &str,
) -> HookResponse {
    let stderr = stderr.trim();
    match exit_code {
        0 => interpret_success(event, command, stdout),
        2 if event.can_block() => {
            let reason = if stderr.is_empty() {
                format!("blocked by hook `{command}` (exit 2, no reason given)")
            } else {
                stderr.to_owned()
            };
            HookResponse {
                block: Some(reason),
                permission: (event == HookEvent::PreToolUse).then_some(PermissionDecision::Deny),
                ..HookResponse::default()
            }
        }
        2 => HookResponse::failed(format!(
            "hook `{command}` exited with code 2, but {event} cannot be blocked{}",
            detail(stderr)
        )),
        code => HookResponse::failed(format!(
            "hook `{command}` exited with code {code}{}{}",
            match code {
                126 => " (command not executable)",
                127 => " (command not found)",
                _ => "",
            },
            detail(stderr)
        )),
    }
}

fn detail(stderr: &str) -> String {
    if stderr.is_empty() {
        String::new()
    } else {
        format!(": {stderr}")
    }
}

fn interpret_success(event: HookEvent, command: &str, stdout: &str) -> HookResponse {
    let text = stdout.trim();
    if text.is_empty() {
        return HookResponse::default();
    }
    if !text.starts_with(['{', '[']) {
        if event == HookEvent::WorktreeCreate {
            // Claude Code's contract: the worktree's path, alone on stdout.
            return HookResponse {
                worktree_path: text.lines().last().map(|l| l.trim().to_owned()),
                ..HookResponse::default()
            };
        }
        // Plain output is context for the model on these events and a log line elsewhere.
        return HookResponse {
            additional_context: event.plain_stdout_is_context().then(|| text.to_owned()),
            ..HookResponse::default()
        };
    }
    match serde_json::from_str::<HookOutput>(text) {
        Ok(output) => apply_output(event, command, output),
        Err(err) => HookResponse::failed(format!(
            "hook `{command}` printed output that is not valid hook JSON ({err}); it was ignored"
        )),
    }
}

fn apply_output(event: HookEvent, command: &str, output: HookOutput) -> HookResponse {
    let HookOutput {
        keep_going,
        stop_reason,
        suppress_output,
        system_message,
        decision,
        reason,
        hook_specific_output,
    } = output;
    let mut response = HookResponse {
        stop: (keep_going == Some(false)).then(|| stop_reason.unwrap_or_default()),
        suppress_output: suppress_output.unwrap_or(false),
        system_message,
        ..HookResponse::default()
    };

    let mut specific = hook_specific_output.unwrap_or_default();
    if let Some(name) = specific
        .hook_event_name
        .as_deref()
        .filter(|name| *name != event.as_str())
    {
        response.note_error(format!(
            "hook `{command}` answered with hookSpecificOutput for {name} during {event}; it was ignored"
        ));
        specific = HookSpecificOutput::default();
    }

    if event == HookEvent::PreToolUse {
        match verdict(command, decision.as_deref(), reason, &mut specific) {
            Ok(Some((PermissionDecision::Deny, reason))) => {
                response.permission = Some(PermissionDecision::Deny);
                response.block =
                    Some(reason.unwrap_or_else(|| {
                        format!("denied by hook `{command}` (no reason given)")
                    }));
            }
            Ok(Some((decision, reason))) => {
                response.permission = Some(decision);
                response.permission_reason = reason;
            }
            Ok(None) => {}
            Err(message) => response.note_error(message),
        }
        match specific.updated_input.take() {
            Some(input @ Value::Object(_)) => response.updated_input = Some(input),
            Some(other) => response.note_error(format!(
                "hook `{command}` gave an updatedInput that is not an object ({other}); it was ignored"
            )),
            None => {}
        }
    } else {
        match decision.as_deref() {
            None => {}
            Some("block") if event.can_block() => {
                response.block =
                    Some(reason.unwrap_or_else(|| {
                        format!("blocked by hook `{command}` (no reason given)")
                    }));
            }
            Some(other) => response.note_error(format!(
                "hook `{command}` gave decision {other:?}, which has no effect on {event}"
            )),
        }
    }

    if let Some(context) = specific.additional_context.filter(|c| !c.is_empty()) {
        if event.takes_context() {
            response.additional_context = Some(context);
        } else {
            response.note_error(format!(
                "hook `{command}` gave additionalContext, which {event} does not use"
            ));
        }
    }
    response
}

/// A PreToolUse verdict and its reason: `permissionDecision` wins over the legacy
/// `decision: "approve" | "block"`.
fn verdict(
    command: &str,
    legacy: Option<&str>,
    legacy_reason: Option<String>,
    specific: &mut HookSpecificOutput,
) -> Result<Option<(PermissionDecision, Option<String>)>, String> {
    if let Some(decision) = specific.permission_decision.take() {
        return match PermissionDecision::parse(&decision) {
            Some(parsed) => Ok(Some((parsed, specific.permission_decision_reason.take()))),
            None => Err(format!(
                "hook `{command}` gave permissionDecision {decision:?}; expected \"allow\", \"deny\" or \"ask\""
            )),
        };
    }
    match legacy {
        None => Ok(None),
        Some("approve") => Ok(Some((PermissionDecision::Allow, legacy_reason))),
        Some("block") => Ok(Some((PermissionDecision::Deny, legacy_reason))),
        Some(other) => Err(format!(
            "hook `{command}` gave decision {other:?}; expected \"approve\" or \"block\""
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use HookEvent::*;

    fn run(event: HookEvent, code: i32, stdout: &str, stderr: &str) -> HookResponse {
        interpret(event, "./h.sh", code, stdout, stderr)
    }

    fn json_out(event: HookEvent, value: Value) -> HookResponse {
        run(event, 0, &value.to_string(), "")
    }

    #[test]
    fn a_worktree_create_hook_prints_the_path() {
        let r = run(
            HookEvent::WorktreeCreate,
            0,
            "creating...\n/tmp/wt/agent-1\n",
            "",
        );
        assert_eq!(r.worktree_path.as_deref(), Some("/tmp/wt/agent-1"));
        assert_eq!(r.error, None);
        let other = run(HookEvent::WorktreeRemove, 0, "/tmp/wt/agent-1\n", "");
        assert_eq!(other.worktree_path, None);
    }

    #[test]
    fn exit_0_without_output_is_a_plain_success_for_every_event() {
        for event in HookEvent::ALL {
            let r = run(event, 0, "  \n", "some log on stderr");
            assert_eq!(r, HookResponse::default(), "{event}");
            assert_eq!(r.outcome(), HookRunOutcome::Success);
        }
    }

    #[test]
    fn plain_stdout_is_context_only_for_prompt_submit_and_session_start() {
        for event in HookEvent::ALL {
            let r = run(event, 0, "Today is Monday.\n", "");
            let expected = matches!(event, UserPromptSubmit | SessionStart)
                .then(|| "Today is Monday.".to_owned());
            assert_eq!(r.additional_context, expected, "{event}");
            assert_eq!(r.error, None, "{event}");
        }
    }

    #[test]
    fn exit_2_blocks_with_stderr_on_blocking_events() {
        for event in [
            PreToolUse,
            PostToolUse,
            UserPromptSubmit,
            Stop,
            SubagentStop,
        ] {
            let r = run(event, 2, r#"{"decision":"approve"}"#, "  no rm -rf\n");
            assert_eq!(r.block.as_deref(), Some("no rm -rf"), "{event}");
            assert_eq!(r.outcome(), HookRunOutcome::Blocked);
            // JSON is only read on exit 0.
            let permission = (event == PreToolUse).then_some(PermissionDecision::Deny);
            assert_eq!(r.permission, permission, "{event}");
        }
        let r = run(Stop, 2, "", "");
        assert_eq!(
            r.block.as_deref(),
            Some("blocked by hook `./h.sh` (exit 2, no reason given)")
        );
    }

    #[test]
    fn exit_2_on_events_that_cannot_block_is_a_non_blocking_error() {
        for event in [
            SubagentStart,
            SessionStart,
            SessionEnd,
            Notification,
            PreCompact,
        ] {
            let r = run(event, 2, "", "nope");
            assert_eq!(r.block, None, "{event}");
            assert_eq!(
                r.error,
                Some(format!(
                    "hook `./h.sh` exited with code 2, but {event} cannot be blocked: nope"
                ))
            );
            assert_eq!(r.outcome(), HookRunOutcome::Error);
        }
    }

    #[test]
    fn other_exit_codes_are_non_blocking_errors_naming_the_command() {
        for event in HookEvent::ALL {
            let r = run(event, 1, r#"{"decision":"block","reason":"x"}"#, "boom\n");
            assert_eq!(r.block, None, "{event}");
            assert_eq!(
                r.error.as_deref(),
                Some("hook `./h.sh` exited with code 1: boom")
            );
        }
        assert_eq!(
            run(Stop, 127, "", "sh: 1: nope: not found")
                .error
                .as_deref(),
            Some("hook `./h.sh` exited with code 127 (command not found): sh: 1: nope: not found")
        );
        assert_eq!(
            run(Stop, 3, "", "").error.as_deref(),
            Some("hook `./h.sh` exited with code 3")
        );
    }

    #[test]
    fn garbage_json_is_a_non_blocking_error() {
        for event in HookEvent::ALL {
            let r = run(event, 0, "{not json", "");
            assert!(
                r.error
                    .as_deref()
                    .is_some_and(|e| e
                        .starts_with("hook `./h.sh` printed output that is not valid hook JSON")),
                "{event}: {r:?}"
            );
            assert_eq!(r.additional_context, None);
        }
        let wrong_type = json_out(Stop, json!({"continue": "no"}));
        assert!(wrong_type.error.is_some_and(|e| e.contains("invalid type")));
        assert!(run(Stop, 0, "[1, 2]", "").error.is_some());
    }

    #[test]
    fn common_fields_apply_to_every_event() {
        for event in HookEvent::ALL {
            let r = json_out(
                event,
                json!({"continue": false, "stopReason": "budget spent", "suppressOutput": true,
                       "systemMessage": "heads up"}),
            );
            assert_eq!(r.stop.as_deref(), Some("budget spent"), "{event}");
            assert!(r.suppress_output);
            assert_eq!(r.system_message.as_deref(), Some("heads up"));
            assert_eq!(r.outcome(), HookRunOutcome::Blocked);
        }
        assert_eq!(
            json_out(Stop, json!({"continue": false})).stop.as_deref(),
            Some("")
        );
        assert_eq!(json_out(Stop, json!({"continue": true})).stop, None);
    }

    #[test]
    fn decision_block_blocks_where_the_event_allows_it() {
        for event in [PostToolUse, UserPromptSubmit, Stop, SubagentStop] {
            let r = json_out(
                event,
                json!({"decision": "block", "reason": "run the tests first"}),
            );
            assert_eq!(r.block.as_deref(), Some("run the tests first"), "{event}");
            assert_eq!(r.permission, None);
        }
        for event in [
            SubagentStart,
            SessionStart,
            SessionEnd,
            Notification,
            PreCompact,
        ] {
            let r = json_out(event, json!({"decision": "block", "reason": "x"}));
            assert_eq!(r.block, None, "{event}");
            assert!(r.error.is_some_and(|e| e.contains("has no effect")));
        }
        let no_reason = json_out(Stop, json!({"decision": "block"}));
        assert_eq!(
            no_reason.block.as_deref(),
            Some("blocked by hook `./h.sh` (no reason given)")
        );
    }

    #[test]
    fn pre_tool_use_permission_decisions() {
        let specific = |decision: &str| {
            json_out(
                PreToolUse,
                json!({"hookSpecificOutput": {"hookEventName": "PreToolUse",
                    "permissionDecision": decision, "permissionDecisionReason": "because"}}),
            )
        };
        let deny = specific("deny");
        assert_eq!(deny.permission, Some(PermissionDecision::Deny));
        assert_eq!(deny.block.as_deref(), Some("because"));
        let allow = specific("allow");
        assert_eq!(allow.permission, Some(PermissionDecision::Allow));
        assert_eq!(allow.permission_reason.as_deref(), Some("because"));
        assert_eq!(allow.block, None);
        let ask = specific("ask");
        assert_eq!(ask.permission, Some(PermissionDecision::Ask));
        assert_eq!(ask.outcome(), HookRunOutcome::Success);
        let bad = specific("maybe");
        assert_eq!(bad.permission, None);
        assert!(bad.error.is_some_and(|e| e.contains("\"maybe\"")));
    }

    #[test]
    fn pre_tool_use_legacy_decisions_map_to_allow_and_deny() {
        let approve = json_out(PreToolUse, json!({"decision": "approve", "reason": "fine"}));
        assert_eq!(approve.permission, Some(PermissionDecision::Allow));
        assert_eq!(approve.permission_reason.as_deref(), Some("fine"));
        let block = json_out(PreToolUse, json!({"decision": "block", "reason": "no"}));
        assert_eq!(block.permission, Some(PermissionDecision::Deny));
        assert_eq!(block.block.as_deref(), Some("no"));
        // The current field wins over the legacy one.
        let both = json_out(
            PreToolUse,
            json!({"decision": "block", "reason": "old",
                   "hookSpecificOutput": {"permissionDecision": "allow"}}),
        );
        assert_eq!(both.permission, Some(PermissionDecision::Allow));
        assert_eq!(both.block, None);
    }

    #[test]
    fn pre_tool_use_updated_input_must_be_an_object() {
        let r = json_out(
            PreToolUse,
            json!({"hookSpecificOutput": {"permissionDecision": "allow",
                   "updatedInput": {"command": "ls -la"}}}),
        );
        assert_eq!(r.updated_input, Some(json!({"command": "ls -la"})));
        let bad = json_out(
            PreToolUse,
            json!({"hookSpecificOutput": {"updatedInput": "ls"}}),
        );
        assert_eq!(bad.updated_input, None);
        assert!(bad.error.is_some_and(|e| e.contains("not an object")));
        // updatedInput on other events means nothing.
        let post = json_out(
            PostToolUse,
            json!({"hookSpecificOutput": {"updatedInput": {"a": 1}}}),
        );
        assert_eq!(post.updated_input, None);
    }

    #[test]
    fn additional_context_reaches_events_that_take_it() {
        for event in HookEvent::ALL {
            let r = json_out(
                event,
                json!({"hookSpecificOutput": {"hookEventName": event.as_str(),
                       "additionalContext": "remember X"}}),
            );
            if event.takes_context() {
                assert_eq!(
                    r.additional_context.as_deref(),
                    Some("remember X"),
                    "{event}"
                );
                assert_eq!(r.error, None);
            } else {
                assert_eq!(r.additional_context, None, "{event}");
                assert!(r.error.is_some(), "{event}");
            }
        }
    }

    #[test]
    fn hook_specific_output_for_another_event_is_ignored() {
        let r = json_out(
            PreToolUse,
            json!({"systemMessage": "kept",
                   "hookSpecificOutput": {"hookEventName": "PostToolUse",
                       "permissionDecision": "deny"}}),
        );
        assert_eq!(r.permission, None);
        assert_eq!(r.block, None);
        assert_eq!(r.system_message.as_deref(), Some("kept"));
        assert!(r
            .error
            .is_some_and(|e| e.contains("for PostToolUse during PreToolUse")));
    }
}
