//! The hooks of a turn. Request side (here): SessionStart (the first request of a
//! session), UserPromptSubmit (once per new turn), PostToolUse (when tool results come
//! back), PreCompact (before a compaction), and added context kept in place. Stream
//! side (`stream`): PreToolUse on held calls, the Task calls' own PreToolUse /
//! PostToolUse / PostToolUseFailure, Stop; PostCompact follows a compaction's answer
//! (`proxy::responses`). Subagents' hooks are the engine's (`engine::hooks`).
//!
//! Context they add is kept for the session and put back into every later request
//! at the same place (Codex's own history does not have it).

pub mod stream;

use std::sync::Arc;

use axum::response::Response;
use serde_json::json;

use crate::hooks::codex_tools::view;
use crate::hooks::service::Hooks;
use crate::hooks::sessions::{context_item, Kept, Sessions, Visit};
use crate::hooks::HookEvent;
use crate::proxy::answer;
use crate::store::Ledger;
use crate::turn::kind::Concern;
use crate::turn::pipeline::Step;
use crate::turn::{InheritFrom, Turn};
use crate::wire::request::RawJson;

pub struct PromptHooks {
    hooks: Arc<Hooks>,
    sessions: Arc<Sessions>,
    ledger: Arc<Ledger>,
    /// Where `prompt` and `agent` hooks send their model calls.
    inherit: InheritFrom,
}

impl PromptHooks {
    pub fn new(
        hooks: Arc<Hooks>,
        sessions: Arc<Sessions>,
        ledger: Arc<Ledger>,
        inherit: InheritFrom,
    ) -> PromptHooks {
        PromptHooks {
            hooks,
            sessions,
            ledger,
            inherit,
        }
    }
}

impl Step for PromptHooks {
    fn concern(&self) -> Concern {
        Concern::RestoreContext
    }

    async fn apply(&self, mut turn: Turn) -> Result<Turn, Response> {
        let (Some(env), Some(session)) = (turn.env.clone(), turn.session_id().map(str::to_string))
        else {
            return Ok(turn);
        };
        let cwd = &env.cwd;
        let mut new_session = false;
        let new_turn = turn.new_turn_prompt().is_some();
        let visit = Visit {
            cwd,
            model: turn.request().model.as_deref(),
            user_agent: turn
                .parts
                .headers
                .get(http::header::USER_AGENT)
                .and_then(|v| v.to_str().ok()),
            new_turn,
        };
        if self.sessions.visit(&session, visit) {
            // New to this process: a restarted proxy finds what it added in the ledger,
            // and a session it already knew gets no second SessionStart.
            let (known, kept) = self.recall(&session).await;
            if !kept.is_empty() {
                self.sessions.load(&session, kept);
            }
            new_session = !known;
        }
        self.ledger.touch_session(&session, Some(cwd));
        let context = self
            .sessions
            .context_for(&session, &turn.request().input, new_turn);
        if context.forgot || context.dropped {
            self.ledger.clear_session_context(&session);
            for (seq, k) in context.kept.iter().enumerate() {
                self.ledger.add_session_context(&session, seq, k);
            }
        }
        if let Some(input) = context.restored {
            turn.request_mut().input = input;
        }

        let source = match turn.meta.history_initialization.as_deref() {
            None | Some("new") => "startup",
            Some(_) => "resume",
        };
        if new_session
            && turn.applies(Concern::SessionStart)
            && self.hooks.has(cwd, HookEvent::SessionStart, &[source])
        {
            let input = self
                .hooks
                .input(HookEvent::SessionStart, &session, cwd)
                .with("source", source)
                .inheriting(Some(turn.inherit(&self.inherit)));
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
                    .unwrap_or_else(|| crate::turn::task::resolver::body_key(
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
                    .with("prompt", text)
                    .inheriting(Some(turn.inherit(&self.inherit)));
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
                    // After the prompt and the `<skill>` items Codex sends with it:
                    // between them, the skill would no longer be the prompt's.
                    let end = turn.request().input.len();
                    self.add_context(&mut turn, &session, end, "UserPromptSubmit", &context);
                }
            }
        } else if turn.applies(Concern::PostToolUse) {
            self.post_tool_use(&mut turn, &session, cwd).await;
        }
        Ok(turn)
    }
}

impl PromptHooks {
    fn add_context(&self, turn: &mut Turn, session: &str, at: usize, event: &str, text: &str) {
        keep_item(
            &self.sessions,
            &self.ledger,
            turn,
            session,
            at,
            context_item(event, text),
        );
    }

    /// Whether the ledger knows the session, and the context kept for it.
    async fn recall(&self, session: &str) -> (bool, Vec<Kept>) {
        let ledger = self.ledger.clone();
        let id = session.to_string();
        let read = tokio::task::spawn_blocking(move || {
            let known = ledger.session(&id).ok().flatten().is_some();
            let kept = ledger.session_context(&id).unwrap_or_else(|e| {
                tracing::warn!(session = %id, "cannot read the session's context from the ledger: {e}");
                Vec::new()
            });
            (known, kept)
        })
        .await
        .unwrap_or_default();
        let (known, kept) = read;
        let kept = kept
            .into_iter()
            .filter_map(|(at, after, json)| {
                let value = serde_json::from_str::<serde_json::Value>(&json).ok()?;
                Some(Kept {
                    at,
                    item: RawJson::from_value(&value),
                    after,
                })
            })
            .collect();
        (known, kept)
    }

    /// PostToolUse for the tool results at the end of the history (what Codex just
    /// ran); a blocking hook's reason, or added context, follows the result.
    async fn post_tool_use(&self, turn: &mut Turn, session: &str, cwd: &std::path::Path) {
        if !self.hooks.has(cwd, HookEvent::PostToolUse, &[]) {
            return;
        }
        let inherit = turn.inherit(&self.inherit);
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
                .with("tool_response", json!({"output": output["output"]}))
                .inheriting(Some(inherit.clone()));
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
        // Front to back, each position counted with the earlier notes in place.
        for (shift, (at, note)) in notes.into_iter().enumerate() {
            self.add_context(turn, session, at + shift, "PostToolUse", &note);
        }
    }
}

/// Inserts `item` at `at` in this request, and keeps it there in every later request
/// of the session: in memory, and in the ledger for a restarted proxy. What the
/// proxy adds then stays where it was, and the prompt-cache prefix with it.
pub fn keep_item(
    sessions: &Sessions,
    ledger: &Ledger,
    turn: &mut Turn,
    session: &str,
    at: usize,
    item: RawJson,
) {
    keep_in(
        sessions,
        ledger,
        &mut turn.request_mut().input,
        session,
        at,
        item,
    );
}

/// `keep_item` on a request's input (a continuation's, as it is built).
pub fn keep_in(
    sessions: &Sessions,
    ledger: &Ledger,
    input: &mut Vec<RawJson>,
    session: &str,
    at: usize,
    item: RawJson,
) {
    let at = at.min(input.len());
    if let Some((seq, kept)) = sessions.add_item(session, input, at, item.clone()) {
        ledger.add_session_context(session, seq, &kept);
    }
    input.insert(at, item);
}

/// PreCompact before Codex's compaction request goes upstream (PostCompact follows
/// its answer, in `proxy::responses`).
pub struct CompactHooks {
    hooks: Arc<Hooks>,
    inherit: InheritFrom,
}

impl CompactHooks {
    pub fn new(hooks: Arc<Hooks>, inherit: InheritFrom) -> CompactHooks {
        CompactHooks { hooks, inherit }
    }
}

/// `auto` or `manual`, as Claude Code says it; Codex's metadata carries the trigger.
pub fn compaction_trigger(turn: &Turn) -> &'static str {
    match turn.meta.compaction_trigger() {
        Some(t) if t.eq_ignore_ascii_case("manual") => "manual",
        _ => "auto",
    }
}

impl Step for CompactHooks {
    fn concern(&self) -> Concern {
        Concern::CompactHooks
    }

    async fn apply(&self, turn: Turn) -> Result<Turn, Response> {
        let (Some(env), Some(session)) = (turn.env.clone(), turn.session_id()) else {
            return Ok(turn);
        };
        let trigger = compaction_trigger(&turn);
        if self.hooks.has(&env.cwd, HookEvent::PreCompact, &[trigger]) {
            let input = self
                .hooks
                .input(HookEvent::PreCompact, session, &env.cwd)
                .with("trigger", trigger)
                .with("custom_instructions", "")
                .inheriting(Some(turn.inherit(&self.inherit)));
            // Claude Code's PreCompact cannot stop a compaction; its output is shown
            // to the user, who is not in this loop.
            self.hooks
                .fire(&env.cwd, HookEvent::PreCompact, input, &[trigger])
                .await;
        }
        Ok(turn)
    }
}

fn is_output(item: &RawJson) -> bool {
    matches!(
        item.head().kind.as_deref(),
        Some("function_call_output" | "custom_tool_call_output")
    )
}
