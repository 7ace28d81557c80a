//! The hooks that fire on a request: SessionStart (the first request of a session),
//! UserPromptSubmit (once per new turn), PostToolUse (when tool results come back).
//! Context they add is kept for the session and put back into every later request
//! at the same place (Codex's own history does not have it). The stream-side hooks
//! (PreToolUse, Stop) fire in the interceptor; subagent hooks in the engine.

use std::sync::Arc;

use axum::response::Response;
use serde_json::json;

use super::Step;
use crate::hooks::codex_tools::view;
use crate::hooks::service::Hooks;
use crate::hooks::sessions::{context_item, Sessions};
use crate::hooks::HookEvent;
use crate::proxy::answer;
use crate::proxy::turn::Turn;
use crate::store::Ledger;
use crate::wire::request::RawJson;

pub struct PromptHooks {
    hooks: Arc<Hooks>,
    sessions: Arc<Sessions>,
    ledger: Arc<Ledger>,
}

impl PromptHooks {
    pub fn new(hooks: Arc<Hooks>, sessions: Arc<Sessions>, ledger: Arc<Ledger>) -> PromptHooks {
        PromptHooks {
            hooks,
            sessions,
            ledger,
        }
    }
}

impl Step for PromptHooks {
    async fn apply(&self, mut turn: Turn) -> Result<Turn, Response> {
        let (Some(env), Some(session)) = (turn.env.clone(), turn.session_id().map(str::to_string))
        else {
            return Ok(turn);
        };
        let cwd = &env.cwd;
        let new_session = self.sessions.touch(&session, cwd);
        self.ledger.touch_session(&session, Some(cwd));
        if self.sessions.has_context(&session) {
            let mut input = turn.request().input.clone();
            self.sessions.restore(&session, &mut input);
            turn.request_mut().input = input;
        }

        if new_session {
            let source = match turn.meta.history_initialization.as_deref() {
                None | Some("new") => "startup",
                Some(_) => "resume",
            };
            let input = self
                .hooks
                .input(HookEvent::SessionStart, &session, cwd)
                .with("source", source);
            let decision = self
                .hooks
                .fire(cwd, HookEvent::SessionStart, input, &[source])
                .await;
            if let Some(context) = decision.additional_context {
                let at = turn.new_turn_prompt().unwrap_or(turn.request().input.len());
                self.add_context(&mut turn, &session, at, "SessionStart", &context);
            }
        }

        if let Some(prompt) = turn.new_turn_prompt() {
            if !self.hooks.has(cwd, HookEvent::UserPromptSubmit, &[]) {
                // Nothing to run: spare the prompt's text (it can be megabytes).
                return Ok(turn);
            }
            let key = format!(
                "prompt:{}",
                turn.meta
                    .turn_id
                    .clone()
                    .unwrap_or_else(|| crate::proxy::resolver::body_key(
                        turn.request().input[prompt].as_str().as_bytes()
                    ))
            );
            if self.sessions.first(&session, &key) {
                let text = turn.request().input[prompt]
                    .message_text()
                    .unwrap_or_default();
                let input = self
                    .hooks
                    .input(HookEvent::UserPromptSubmit, &session, cwd)
                    .with("prompt", text);
                let decision = self
                    .hooks
                    .fire(cwd, HookEvent::UserPromptSubmit, input, &[])
                    .await;
                if let Some(reason) = decision.stop.clone().or(decision.block.clone()) {
                    let reason = if reason.trim().is_empty() {
                        "no reason given".to_string()
                    } else {
                        reason
                    };
                    return Err(answer::respond(&format!(
                        "This prompt was blocked by a UserPromptSubmit hook: {}",
                        reason.trim()
                    )));
                }
                if let Some(context) = decision.additional_context {
                    self.add_context(
                        &mut turn,
                        &session,
                        prompt + 1,
                        "UserPromptSubmit",
                        &context,
                    );
                }
            }
        } else {
            self.post_tool_use(&mut turn, &session, cwd).await;
        }
        Ok(turn)
    }
}

impl PromptHooks {
    fn add_context(&self, turn: &mut Turn, session: &str, at: usize, event: &str, text: &str) {
        self.sessions.add_context(session, at, event, text);
        let input = &mut turn.request_mut().input;
        input.insert(at.min(input.len()), context_item(event, text));
    }

    /// PostToolUse for the tool results at the end of the history (what Codex just
    /// ran); a blocking hook's reason, or added context, follows the result.
    async fn post_tool_use(&self, turn: &mut Turn, session: &str, cwd: &std::path::Path) {
        if !self.hooks.has(cwd, HookEvent::PostToolUse, &[]) {
            return;
        }
        let input = &turn.request().input;
        let outputs: Vec<usize> = (0..input.len())
            .rev()
            .take_while(|&i| is_output(&input[i]))
            .collect();
        let mut notes: Vec<(usize, String)> = Vec::new();
        for i in outputs.into_iter().rev() {
            let output = input[i].to_value();
            let call_id = output["call_id"].as_str().unwrap_or_default().to_string();
            if !self.sessions.first(session, &format!("post:{call_id}")) {
                continue;
            }
            let Some(call) = input[..i]
                .iter()
                .rev()
                .map(RawJson::to_value)
                .find(|c| c["call_id"] == call_id.as_str() && c["type"] != output["type"])
            else {
                continue;
            };
            let v = view(&call);
            let hook_input = self
                .hooks
                .input(HookEvent::PostToolUse, session, cwd)
                .with("tool_name", v.tool_name.clone())
                .with("tool_input", v.tool_input.clone())
                .with("tool_use_id", call_id.clone())
                .with("tool_response", json!({"output": output["output"]}));
            let decision = self
                .hooks
                .fire(cwd, HookEvent::PostToolUse, hook_input, &v.match_names())
                .await;
            let note = [decision.block, decision.additional_context]
                .into_iter()
                .flatten()
                .filter(|t| !t.trim().is_empty())
                .collect::<Vec<_>>()
                .join("\n");
            if !note.is_empty() {
                notes.push((i + 1, note));
            }
        }
        // From the back, so earlier positions stay valid; recorded front to back.
        for (at, note) in notes.iter().rev() {
            let input = &mut turn.request_mut().input;
            input.insert(*at, context_item("PostToolUse", note));
        }
        for (shift, (at, note)) in notes.into_iter().enumerate() {
            self.sessions
                .add_context(session, at + shift, "PostToolUse", &note);
        }
    }
}

fn is_output(item: &RawJson) -> bool {
    matches!(
        item.head().kind.as_deref(),
        Some("function_call_output" | "custom_tool_call_output")
    )
}
