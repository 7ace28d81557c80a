//! What a `/responses` request is, decided once from what Codex sent, before any
//! step changes it; and which concerns apply to each kind.
//!
//! Codex sends more than users' turns: tool follow-ups, compactions, and requests of
//! its own (the TUI's thread title). Each concern asks [`applies`] instead of
//! guessing from the input, so a step's edit can never make a later step see another
//! kind. docs/architecture.md has the same table.

use crate::wire::environment::TurnMetadata;
use crate::wire::request::RawJson;

/// The kinds of `/responses` request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A user's new turn: the input ends with the typed prompt (then `<skill>` items).
    UserTurn,
    /// The same turn going on: the input ends with tool outputs (or anything that is
    /// not a new prompt).
    ToolFollowUp,
    /// The proxy's own continuation after calls it resolved (built from the turn's
    /// request on the stream side; Codex never sends one).
    Continuation,
    /// Codex asks for a summary of the history (`request_kind: "compaction"`).
    Compaction,
    /// Codex's own request (the thread title), or a kind this proxy does not know:
    /// relayed with nothing added.
    Internal,
}

impl Kind {
    /// Its name in traces and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::UserTurn => "user_turn",
            Kind::ToolFollowUp => "tool_follow_up",
            Kind::Continuation => "continuation",
            Kind::Compaction => "compaction",
            Kind::Internal => "internal",
        }
    }
}

/// What the proxy adds or answers, one concern at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Concern {
    /// Real Task calls put back where Codex has their progress message.
    History,
    /// Added context (hooks, status lines) put back at its place.
    RestoreContext,
    SessionStart,
    UserPromptSubmit,
    /// PostToolUse for the outputs of Codex's own tools.
    PostToolUse,
    /// `/name` commands and `$name` skills: expanded in a new turn's prompt; earlier
    /// expansions and the turn's `model`/`allowed-tools` kept on its follow-ups.
    Slash,
    /// A new status line (earlier ones come back with `RestoreContext`).
    StatusLine,
    /// The Task tool offered, and its calls answered by the proxy.
    TaskTool,
    /// PreToolUse on Codex's tool calls in the stream.
    PreToolUse,
    /// Stop hooks when a response ends without tool calls.
    Stop,
    /// PreCompact before, PostCompact after.
    CompactHooks,
}

impl Concern {
    /// Every concern, in pipeline order.
    pub const ALL: [Concern; 11] = [
        Concern::History,
        Concern::RestoreContext,
        Concern::SessionStart,
        Concern::UserPromptSubmit,
        Concern::PostToolUse,
        Concern::Slash,
        Concern::StatusLine,
        Concern::TaskTool,
        Concern::PreToolUse,
        Concern::Stop,
        Concern::CompactHooks,
    ];
}

/// The table: which concerns apply to which kind of request.
pub const fn applies(concern: Concern, kind: Kind) -> bool {
    use Concern::*;
    use Kind::*;
    match kind {
        UserTurn => !matches!(concern, PostToolUse | CompactHooks),
        ToolFollowUp => !matches!(
            concern,
            SessionStart | UserPromptSubmit | StatusLine | CompactHooks
        ),
        // Built from the turn's request, with everything already in place: only the
        // stream-side concerns run again.
        Continuation => matches!(concern, TaskTool | PreToolUse | Stop),
        Compaction => matches!(concern, CompactHooks),
        Internal => false,
    }
}

/// The kind of a request Codex sent, and the index of the typed prompt for a user's
/// turn. Pure: the turn metadata header, the input items, and whether an earlier
/// request of this session already had this `turn_id` (then it cannot start the
/// turn: after a mid-turn compaction, Codex's next request ends with the summary as
/// a user message; a retried first request gets what the first try got, restored).
pub fn classify(meta: &TurnMetadata, input: &[RawJson], turn_seen: bool) -> (Kind, Option<usize>) {
    match meta.request_kind.as_deref() {
        None | Some("turn") => {}
        Some("compaction" | "compact") => return (Kind::Compaction, None),
        Some(_) => return (Kind::Internal, None),
    }
    match meta.thread_source.as_deref() {
        None | Some("user") => {}
        Some(_) => return (Kind::Internal, None),
    }
    if turn_seen && meta.turn_id.is_some() {
        return (Kind::ToolFollowUp, None);
    }
    match typed_prompt(input) {
        Some(i) => (Kind::UserTurn, Some(i)),
        None => (Kind::ToolFollowUp, None),
    }
}

/// The typed prompt when the input ends with one: a user message, followed only by
/// the `<skill>` items Codex adds for the skills it mentions. Only the start of each
/// message is read (a prompt can be megabytes).
fn typed_prompt(input: &[RawJson]) -> Option<usize> {
    let mut i = input.len().checked_sub(1)?;
    loop {
        if input[i].user_text_begins("<skill>")? {
            i = i.checked_sub(1)?;
            continue;
        }
        return (!input[i].user_text_begins("<environment_context>")?).then_some(i);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn meta(header: &str) -> TurnMetadata {
        TurnMetadata::parse(header).unwrap_or_default()
    }

    fn user(text: &str) -> RawJson {
        RawJson::from_value(
            &json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}),
        )
    }

    fn item(v: serde_json::Value) -> RawJson {
        RawJson::from_value(&v)
    }

    const EXEC: &str = r#"{"session_id":"s","turn_id":"t","request_kind":"turn","thread_source":"user","turn_trigger":"exec"}"#;

    #[test]
    fn a_typed_prompt_last_is_a_user_turn() {
        let input = [
            user("<environment_context><cwd>/w</cwd></environment_context>"),
            user("/greet Bob"),
        ];
        assert_eq!(
            classify(&meta(EXEC), &input, false),
            (Kind::UserTurn, Some(1))
        );
        // Older Codex sends no metadata at all.
        assert_eq!(
            classify(&TurnMetadata::default(), &input, false),
            (Kind::UserTurn, Some(1))
        );
        let skills = [
            user("hi"),
            user("$greet Bob"),
            user("<skill>\n<name>greet</name>\n</skill>"),
        ];
        assert_eq!(
            classify(&meta(EXEC), &skills, false),
            (Kind::UserTurn, Some(1))
        );
    }

    #[test]
    fn tool_outputs_last_are_a_follow_up() {
        let input = [
            user("hi"),
            item(
                json!({"type": "function_call", "call_id": "c", "name": "exec_command", "arguments": "{}"}),
            ),
            item(json!({"type": "function_call_output", "call_id": "c", "output": "ok"})),
        ];
        assert_eq!(
            classify(&meta(EXEC), &input, false),
            (Kind::ToolFollowUp, None)
        );
        let env_last = [
            user("hi"),
            user("<environment_context><cwd>/w</cwd></environment_context>"),
        ];
        assert_eq!(
            classify(&meta(EXEC), &env_last, false).0,
            Kind::ToolFollowUp
        );
        assert_eq!(
            classify(&meta(EXEC), &[user("<skill>a</skill>")], false).0,
            Kind::ToolFollowUp
        );
        assert_eq!(classify(&meta(EXEC), &[], false).0, Kind::ToolFollowUp);
    }

    #[test]
    fn a_turn_seen_before_is_not_new_again() {
        // Codex's request after a mid-turn compaction: the same turn, ending with the
        // summary as a user message.
        let input = [
            user("<environment_context><cwd>/w</cwd></environment_context>"),
            user("run echo"),
            user("Another language model started to solve this problem and produced a summary"),
        ];
        assert_eq!(
            classify(&meta(EXEC), &input, true),
            (Kind::ToolFollowUp, None)
        );
        assert_eq!(classify(&meta(EXEC), &input, false).0, Kind::UserTurn);
        // Without a turn id there is nothing to have seen.
        assert_eq!(
            classify(&TurnMetadata::default(), &input, true).0,
            Kind::UserTurn
        );
    }

    #[test]
    fn compaction_title_and_unknown_kinds_are_told_apart() {
        let prompt = [user("Write a handoff summary")];
        let compaction = r#"{"request_kind":"compaction","compaction":{"trigger":"auto"}}"#;
        assert_eq!(
            classify(&meta(compaction), &prompt, false),
            (Kind::Compaction, None)
        );
        let title =
            r#"{"session_id":"other","request_kind":"turn","thread_source":"thread_title"}"#;
        assert_eq!(
            classify(&meta(title), &prompt, false),
            (Kind::Internal, None)
        );
        for unknown in [
            r#"{"request_kind":"memory_consolidation"}"#,
            r#"{"request_kind":"turn","thread_source":"subagent"}"#,
        ] {
            assert_eq!(
                classify(&meta(unknown), &prompt, false),
                (Kind::Internal, None),
                "{unknown}"
            );
        }
    }

    #[test]
    fn the_table_adds_nothing_to_internal_requests_and_only_hooks_to_compactions() {
        use Concern::*;
        let all = Concern::ALL;
        assert!(all.iter().all(|c| !applies(*c, Kind::Internal)));
        let compaction: Vec<_> = all
            .iter()
            .filter(|c| applies(**c, Kind::Compaction))
            .collect();
        assert_eq!(compaction, [&CompactHooks]);
        // New-turn concerns only on a new turn; what keeps the prefix on follow-ups too.
        for c in [SessionStart, UserPromptSubmit, StatusLine] {
            assert!(
                applies(c, Kind::UserTurn) && !applies(c, Kind::ToolFollowUp),
                "{c:?}"
            );
        }
        for c in [History, RestoreContext, Slash, TaskTool, PreToolUse, Stop] {
            assert!(
                applies(c, Kind::UserTurn) && applies(c, Kind::ToolFollowUp),
                "{c:?}"
            );
        }
        assert!(applies(PostToolUse, Kind::ToolFollowUp) && !applies(PostToolUse, Kind::UserTurn));
    }
}
