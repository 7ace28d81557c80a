//! Hooks of type `prompt` and `agent`: a model (one call, or a subagent with read-only
//! tools) judges the event and answers `{"ok": true}` or `{"ok": false, "reason": …}`.
//!
//! The verdict is read as a command hook's exit: `ok` is exit 0, a refusal is exit 2
//! with the reason on stderr. So one protocol (`protocol::interpret`) decides what a
//! refusal means for each event: a denied tool call, a blocked prompt, a Stop that
//! sends the turn on. The model call itself is the engine's ([`Judge`]); this module
//! is the pure part around it.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{json, Value};

use super::config::Judged;
use crate::providers::router::InheritTarget;

/// Where a judging hook's model call goes: the session's own upstream (for the
/// session's model), and the task whose hook it is (its subagent judge runs under
/// that task's slot, as a child would).
#[derive(Debug, Clone, Default)]
pub struct JudgeScope {
    pub inherit: Option<InheritTarget>,
    pub parent_task: Option<String>,
}

/// One judgement to make.
#[derive(Debug, Clone)]
pub struct JudgeAsk {
    /// The hook's prompt with the event in it.
    pub prompt: String,
    /// The hook's `model`, else the session's.
    pub model: Option<String>,
    /// A subagent with read-only tools (`agent`), or one model call (`prompt`).
    pub agent: bool,
    /// The workspace the agent may read.
    pub cwd: PathBuf,
    pub session_id: Option<String>,
    pub timeout: Duration,
    pub scope: JudgeScope,
}

/// Makes the model calls of `prompt` and `agent` hooks: the engine.
#[async_trait::async_trait]
pub trait Judge: Send + Sync {
    /// The model's final text, or why there is none.
    async fn judge(&self, ask: JudgeAsk) -> Result<String, String>;
}

/// What the judge decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Ok,
    Refused(String),
}

/// The system prompt of every judge: the answer's shape, and that it decides only.
pub const SYSTEM: &str = "You are a hook in a coding agent's session. You are shown an \
event (a tool call, a prompt, the agent stopping, ...) as JSON and a condition to check. \
Decide whether the condition holds. Answer with JSON only: {\"ok\": true} when it holds, \
or {\"ok\": false, \"reason\": \"...\"} when it does not, where the reason tells the \
agent what is wrong and what to do.";

/// The schema the answer must follow, where the provider takes one.
pub fn schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "ok": {"type": "boolean"},
            "reason": {"type": "string"}
        },
        "required": ["ok", "reason"],
        "additionalProperties": false
    })
}

/// The hook's prompt with `$ARGUMENTS` replaced by the event's JSON; without the
/// placeholder the event follows the prompt, as in Claude Code.
pub fn render(hook: &Judged, event: &Value) -> String {
    let json = event.to_string();
    if hook.prompt.contains("$ARGUMENTS") {
        hook.prompt.replace("$ARGUMENTS", &json)
    } else {
        format!("{}\n\n{json}", hook.prompt)
    }
}

/// The verdict in the model's answer: a JSON object with a boolean `ok`, found in
/// the text even when the model wrapped it in prose or a code fence.
pub fn verdict(text: &str) -> Result<Verdict, String> {
    let object = candidates(text)
        .find_map(|slice| {
            serde_json::from_str::<Value>(slice)
                .ok()
                .filter(|v| v.get("ok").is_some())
        })
        .ok_or_else(|| {
            format!(
                "its model did not answer with {{\"ok\": …}} JSON: {:?}",
                excerpt(text)
            )
        })?;
    match object.get("ok") {
        Some(Value::Bool(true)) => Ok(Verdict::Ok),
        Some(Value::Bool(false)) => {
            let reason = object
                .get("reason")
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|r| !r.is_empty())
                .unwrap_or("the hook's condition was not met (no reason given)");
            Ok(Verdict::Refused(reason.to_string()))
        }
        other => Err(format!(
            "its model's \"ok\" must be true or false, found {}",
            other.map_or_else(String::new, Value::to_string)
        )),
    }
}

/// The whole text, then each `{…}` span from a `{` to the last `}`.
fn candidates(text: &str) -> impl Iterator<Item = &str> {
    let trimmed = text.trim();
    let end = trimmed.rfind('}');
    std::iter::once(trimmed).chain(
        trimmed
            .match_indices('{')
            .filter_map(move |(start, _)| end.filter(|e| *e > start).map(|e| &trimmed[start..=e])),
    )
}

fn excerpt(text: &str) -> String {
    let text = text.trim();
    match text.char_indices().nth(200) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hook(prompt: &str) -> Judged {
        Judged {
            prompt: prompt.into(),
            model: None,
        }
    }

    #[test]
    fn the_event_goes_where_arguments_stands_or_after_the_prompt() {
        let event = json!({"tool_name": "Bash"});
        assert_eq!(
            render(&hook("Is this safe? $ARGUMENTS Answer."), &event),
            "Is this safe? {\"tool_name\":\"Bash\"} Answer."
        );
        assert_eq!(
            render(&hook("Is this safe?"), &event),
            "Is this safe?\n\n{\"tool_name\":\"Bash\"}"
        );
    }

    #[test]
    fn verdicts_are_read_from_json_even_inside_prose() {
        assert_eq!(verdict("{\"ok\": true}"), Ok(Verdict::Ok));
        assert_eq!(
            verdict("{\"ok\": false, \"reason\": \"tests fail\"}"),
            Ok(Verdict::Refused("tests fail".into()))
        );
        assert_eq!(
            verdict("Here you go:\n```json\n{\"ok\": false, \"reason\": \"no\"}\n```"),
            Ok(Verdict::Refused("no".into()))
        );
        assert_eq!(
            verdict("{\"ok\": false}"),
            Ok(Verdict::Refused(
                "the hook's condition was not met (no reason given)".into()
            ))
        );
    }

    #[test]
    fn an_answer_without_a_verdict_is_named() {
        let e = verdict("I think it is fine").unwrap_err();
        assert!(e.contains("did not answer with {\"ok\": …} JSON"), "{e}");
        assert!(e.contains("I think it is fine"), "{e}");
        let e = verdict("{\"ok\": \"yes\"}").unwrap_err();
        assert!(e.contains("must be true or false, found \"yes\""), "{e}");
    }
}
