//! Combining what several hooks of one event said into one decision.

use serde_json::Value;

use super::protocol::{HookResponse, PermissionDecision};
use crate::store::HookRunRecord;

/// What all the hooks of one event decided together.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HookDecision {
    /// Some hook blocked; every blocking reason, one per line. For PreToolUse the call is
    /// refused and this goes to the model; UserPromptSubmit: the prompt is refused;
    /// Stop/SubagentStop: the agent must continue, told this; PostToolUse: the model is told.
    pub block: Option<String>,
    /// PreToolUse: the strictest verdict given (deny over ask over allow).
    pub permission: Option<PermissionDecision>,
    /// The reasons given with that verdict, one per line.
    pub permission_reason: Option<String>,
    /// Replacement tool input from the last hook that gave one; `None` when blocked.
    pub updated_input: Option<Value>,
    /// Every hook's context for the model, in configuration order, one per line.
    pub additional_context: Option<String>,
    /// Notes for the user.
    pub system_messages: Vec<String>,
    /// Some hook said `continue: false`: end the turn. Its stop reasons, one per line
    /// (empty when none was given). Takes precedence over `block`.
    pub stop: Option<String>,
    /// Some hook asked to keep its output out of the transcript.
    pub suppress_output: bool,
    /// Non-blocking problems (failed, timed-out or misbehaving hooks), for the log.
    pub errors: Vec<String>,
    /// One record per hook run, for the ledger.
    pub runs: Vec<HookRunRecord>,
    /// WorktreeCreate: the path the last hook that made one printed.
    pub worktree_path: Option<String>,
}

impl HookDecision {
    /// Whether the action must not go ahead as asked (blocked or stopped).
    pub fn is_blocked(&self) -> bool {
        self.block.is_some() || self.stop.is_some()
    }
}

/// Combines responses given in configuration order; `runs` are attached as they are.
pub fn combine(responses: Vec<HookResponse>, runs: Vec<HookRunRecord>) -> HookDecision {
    let permission = responses.iter().filter_map(|r| r.permission).max();
    let permission_reason = join(
        responses
            .iter()
            .filter(|r| r.permission.is_some() && r.permission == permission)
            .filter_map(|r| r.block.as_deref().or(r.permission_reason.as_deref())),
    );
    let block = join(responses.iter().filter_map(|r| r.block.as_deref()));
    let updated_input = if block.is_some() {
        None
    } else {
        responses.iter().rev().find_map(|r| r.updated_input.clone())
    };
    let stops: Vec<&str> = responses.iter().filter_map(|r| r.stop.as_deref()).collect();
    let stop = (!stops.is_empty()).then(|| join(stops.iter().copied()).unwrap_or_default());
    HookDecision {
        permission,
        permission_reason,
        updated_input,
        additional_context: join(
            responses
                .iter()
                .filter_map(|r| r.additional_context.as_deref()),
        ),
        system_messages: responses
            .iter()
            .filter_map(|r| r.system_message.clone())
            .collect(),
        stop,
        suppress_output: responses.iter().any(|r| r.suppress_output),
        errors: responses.iter().filter_map(|r| r.error.clone()).collect(),
        worktree_path: responses.iter().rev().find_map(|r| r.worktree_path.clone()),
        block,
        runs,
    }
}

/// Non-empty texts, one per line; `None` when there are none.
fn join<'a>(texts: impl Iterator<Item = &'a str>) -> Option<String> {
    let texts: Vec<&str> = texts.filter(|t| !t.is_empty()).collect();
    (!texts.is_empty()).then(|| texts.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn allow_with(input: Value) -> HookResponse {
        HookResponse {
            permission: Some(PermissionDecision::Allow),
            permission_reason: Some("ok".into()),
            updated_input: Some(input),
            ..HookResponse::default()
        }
    }

    fn deny(reason: &str) -> HookResponse {
        HookResponse {
            permission: Some(PermissionDecision::Deny),
            block: Some(reason.into()),
            ..HookResponse::default()
        }
    }

    #[test]
    fn nothing_said_is_nothing_decided() {
        assert_eq!(combine(vec![], vec![]), HookDecision::default());
        let d = combine(vec![HookResponse::default(); 3], vec![]);
        assert!(!d.is_blocked());
        assert_eq!(d.permission, None);
    }

    #[test]
    fn deny_wins_and_all_reasons_are_kept() {
        let d = combine(
            vec![
                allow_with(json!({"a": 1})),
                deny("no network"),
                HookResponse {
                    permission: Some(PermissionDecision::Ask),
                    ..HookResponse::default()
                },
                deny("no sudo"),
            ],
            vec![],
        );
        assert_eq!(d.permission, Some(PermissionDecision::Deny));
        assert_eq!(d.block.as_deref(), Some("no network\nno sudo"));
        assert_eq!(d.permission_reason.as_deref(), Some("no network\nno sudo"));
        assert_eq!(d.updated_input, None, "a denied call keeps no new input");
        assert!(d.is_blocked());
    }

    #[test]
    fn ask_beats_allow() {
        let ask = HookResponse {
            permission: Some(PermissionDecision::Ask),
            permission_reason: Some("touches prod".into()),
            ..HookResponse::default()
        };
        let d = combine(vec![allow_with(json!({})), ask], vec![]);
        assert_eq!(d.permission, Some(PermissionDecision::Ask));
        assert_eq!(d.permission_reason.as_deref(), Some("touches prod"));
        assert!(!d.is_blocked());
    }

    #[test]
    fn the_last_updated_input_wins() {
        let d = combine(
            vec![allow_with(json!({"v": 1})), allow_with(json!({"v": 2}))],
            vec![],
        );
        assert_eq!(d.updated_input, Some(json!({"v": 2})));
        assert_eq!(d.permission_reason.as_deref(), Some("ok\nok"));
    }

    #[test]
    fn contexts_messages_and_errors_are_collected_in_order() {
        let with =
            |context: Option<&str>, message: Option<&str>, error: Option<&str>| HookResponse {
                additional_context: context.map(str::to_owned),
                system_message: message.map(str::to_owned),
                error: error.map(str::to_owned),
                ..HookResponse::default()
            };
        let d = combine(
            vec![
                with(Some("first"), None, Some("hook `a` exited with code 1")),
                with(None, Some("note"), None),
                with(Some("second"), Some("note 2"), None),
            ],
            vec![],
        );
        assert_eq!(d.additional_context.as_deref(), Some("first\nsecond"));
        assert_eq!(d.system_messages, ["note", "note 2"]);
        assert_eq!(d.errors, ["hook `a` exited with code 1"]);
        assert!(!d.is_blocked());
    }

    #[test]
    fn any_continue_false_stops_with_the_reasons_given() {
        let stop = |reason: &str| HookResponse {
            stop: Some(reason.into()),
            ..HookResponse::default()
        };
        let d = combine(
            vec![stop(""), HookResponse::default(), stop("budget")],
            vec![],
        );
        assert_eq!(d.stop.as_deref(), Some("budget"));
        assert!(d.is_blocked());
        let silent = combine(vec![stop("")], vec![]);
        assert_eq!(silent.stop.as_deref(), Some(""));
        let suppressed = combine(
            vec![HookResponse {
                suppress_output: true,
                ..HookResponse::default()
            }],
            vec![],
        );
        assert!(suppressed.suppress_output);
    }
}
