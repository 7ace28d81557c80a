//! The turn: one model call (`POST .../responses`) on its way through the pipeline, and
//! each concern that adapts it, in its own folder with both its request side and its
//! stream side: `slash` (commands and skills), `hooks`, `status_line`, `task` (the
//! Task tool, its history, and the resolver that runs its calls). `kind` says which
//! concern applies to which kind of request; `pipeline` runs them in order.

pub mod hooks;
pub mod kind;
pub mod pipeline;
pub mod slash;
pub mod status_line;
pub mod task;

use std::sync::Arc;

use bytes::Bytes;
use http::request::Parts;

use crate::engine::access::SandboxMode;
use crate::engine::Workspace;
use crate::providers::router::InheritTarget;
use crate::proxy::interceptor::Answers;
use crate::proxy::upstream::Backend;
use crate::wire::environment::{network_access, Environment, TurnMetadata};
use crate::wire::request::{RawJson, ResponsesRequest};
use kind::Kind;

/// A parsed `/responses` request and what the proxy learned about it. Middleware
/// edits `request` through `request_mut`, which marks the body for re-serialising;
/// an untouched turn goes upstream as the exact bytes Codex sent.
pub struct Turn {
    pub backend: Backend,
    /// Boxed, like the environment and the metadata behind their `Arc`s: a turn is
    /// moved through every pipeline step's future, so it is kept small.
    pub parts: Box<Parts>,
    /// The body as received (still compressed if it came compressed).
    pub original: Bytes,
    request: ResponsesRequest,
    changed: bool,
    /// The workspace Codex reported in `<environment_context>`, when it did.
    pub env: Option<Arc<Environment>>,
    /// The `x-codex-turn-metadata` header, when present and valid.
    pub meta: Arc<TurnMetadata>,
    /// What Codex sent, decided before any step ran (`kind::classify`).
    pub kind: Kind,
    /// The typed prompt's item, by identity: steps insert items before and after it,
    /// and it is found again wherever they put it.
    prompt: Option<Bytes>,
    /// The tools the proxy offered, so it answers their calls itself.
    pub answers: Answers,
}

impl Turn {
    /// A turn from what Codex sent, its turn id not seen before.
    pub fn new(backend: Backend, parts: Parts, original: Bytes, request: ResponsesRequest) -> Turn {
        Turn::classified(backend, parts, original, request, |_, _| false)
    }

    /// A turn from what Codex sent; `seen` says whether an earlier request had the
    /// same session and turn id (see `kind::classify`).
    pub fn classified(
        backend: Backend,
        parts: Parts,
        original: Bytes,
        request: ResponsesRequest,
        seen: impl FnOnce(&TurnMetadata, &http::HeaderMap) -> bool,
    ) -> Turn {
        let meta = parts
            .headers
            .get("x-codex-turn-metadata")
            .and_then(|v| v.to_str().ok())
            .and_then(TurnMetadata::parse)
            .unwrap_or_default();
        let env = Environment::from_request(&request);
        let turn_seen = seen(&meta, &parts.headers);
        let (kind, prompt) = kind::classify(&meta, &request.input, turn_seen);
        let prompt = prompt.map(|i| request.input[i].bytes().clone());
        Turn {
            backend,
            parts: Box::new(parts),
            original,
            request,
            changed: false,
            env,
            meta: Arc::new(meta),
            kind,
            prompt,
            answers: Answers::default(),
        }
    }

    /// Whether `concern` applies to this request (the table in `kind`).
    pub fn applies(&self, concern: kind::Concern) -> bool {
        kind::applies(concern, self.kind)
    }

    pub fn request(&self) -> &ResponsesRequest {
        &self.request
    }

    /// The request, for editing: the body will be re-serialised.
    pub fn request_mut(&mut self) -> &mut ResponsesRequest {
        self.changed = true;
        &mut self.request
    }

    pub fn changed(&self) -> bool {
        self.changed
    }

    /// The session (thread) id: the header Codex sends, else the turn metadata's.
    pub fn session_id(&self) -> Option<&str> {
        session_id(&self.parts.headers, &self.meta)
    }

    /// Where the turn's Tasks work: the workspace Codex reported, under the session's
    /// sandbox (and its network access).
    pub fn workspace(&self) -> Option<Workspace> {
        let env = self.env.as_ref()?;
        let sandbox = SandboxMode::from_codex(self.meta.sandbox_mode.as_deref().unwrap_or(""));
        Some(Workspace {
            cwd: env.cwd.clone(),
            roots: env.roots.clone(),
            sandbox,
            network: sandbox == SandboxMode::DangerFullAccess
                || network_access(&self.request).unwrap_or(false),
        })
    }

    /// The model the turn asks for (an `inherit` Task runs on it), else `default`.
    pub fn model_or(&self, default: &str) -> String {
        self.request
            .model
            .clone()
            .or_else(|| self.meta.model.clone())
            .unwrap_or_else(|| default.to_string())
    }

    /// Where the turn's `inherit` model calls go (Tasks, forked commands, judging
    /// hooks): the upstream its backend names, with the turn's headers and model.
    pub fn inherit(&self, from: &InheritFrom) -> InheritTarget {
        let base = match self.backend {
            Backend::OpenAi => &from.bases[0],
            Backend::ChatGpt => &from.bases[1],
        };
        let upstream = Arc::new(crate::proxy::headers::KeptHeaders::new(
            &crate::proxy::headers::to_upstream(self.parts.headers.clone()),
            &http::header::CONTENT_ENCODING,
        ));
        let model = self.model_or(&from.default_model);
        crate::turn::task::resolver::Inherit::new(base, self.parts.uri.path(), upstream, &model)
            .target()
    }

    /// Identifies this turn across Codex's retries of it: its turn id, else the
    /// body's hash.
    pub fn key(&self) -> String {
        self.meta
            .turn_id
            .clone()
            .unwrap_or_else(|| crate::turn::task::resolver::body_key(&self.original))
    }

    /// Where the user's typed prompt is now, when this request is a new turn. Fixed
    /// when the request was classified: whatever steps insert before or after it,
    /// this is still the message the user typed (or its expansion).
    pub fn new_turn_prompt(&self) -> Option<usize> {
        let mark = self.prompt.as_ref()?;
        let same = |item: &RawJson| {
            let bytes = item.bytes();
            bytes.as_ptr() == mark.as_ptr() && bytes.len() == mark.len()
        };
        self.request.input.iter().rposition(same)
    }

    /// Marks input item `i` as the prompt of this new turn (a step put the prompt's
    /// own expansion there). Only for a user's turn.
    pub fn mark_prompt(&mut self, i: usize) {
        if self.kind == Kind::UserTurn {
            if let Some(item) = self.request.input.get(i) {
                self.prompt = Some(item.bytes().clone());
            }
        }
    }

    /// Replaces input item `i`; when it was the prompt, `item` is the prompt now.
    pub fn replace_input(&mut self, i: usize, item: RawJson) {
        if self.new_turn_prompt() == Some(i) {
            self.prompt = Some(item.bytes().clone());
        }
        if let Some(slot) = self.request_mut().input.get_mut(i) {
            *slot = item;
        }
    }

    /// The turn taken apart at dispatch, so the request is kept, not copied.
    pub fn into_parts(self) -> (Backend, Parts, ResponsesRequest) {
        (self.backend, *self.parts, self.request)
    }

    /// The body to send upstream, as the slices it is made of
    /// (`ResponsesRequest::to_chunks`), and whether it is the original (still
    /// encoded) bytes.
    pub fn body_chunks(&self) -> (Vec<Bytes>, bool) {
        if self.changed {
            (self.request.to_chunks(), false)
        } else {
            (vec![self.original.clone()], true)
        }
    }
}

/// The session (thread) id: the header Codex sends, else the turn metadata's.
/// What a turn's `inherit` target is made from besides the turn.
#[derive(Debug, Clone)]
pub struct InheritFrom {
    /// The upstream bases, API-key mode then ChatGPT mode.
    pub bases: [String; 2],
    /// The model of a turn that names none.
    pub default_model: String,
}

pub fn session_id<'a>(headers: &'a http::HeaderMap, meta: &'a TurnMetadata) -> Option<&'a str> {
    headers
        .get("session-id")
        .or_else(|| headers.get("session_id"))
        .and_then(|v| v.to_str().ok())
        .or(meta.session_id.as_deref())
}

#[cfg(test)]
impl Turn {
    /// `body_chunks` joined.
    pub fn body(&self) -> (Bytes, bool) {
        let (chunks, original) = self.body_chunks();
        (Bytes::from(chunks.concat()), original)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn turn(input: serde_json::Value, meta: Option<&str>) -> Turn {
        let mut req = http::Request::builder().uri("/v1/responses");
        if let Some(m) = meta {
            req = req.header("x-codex-turn-metadata", m);
        }
        let (parts, ()) = req.body(()).unwrap().into_parts();
        let body = Bytes::from(json!({"input": input}).to_string());
        let request = ResponsesRequest::parse(&body).unwrap();
        Turn::new(Backend::OpenAi, parts, body, request)
    }

    fn user(text: &str) -> serde_json::Value {
        json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]})
    }

    #[test]
    fn a_user_prompt_last_is_a_new_turn() {
        let t = turn(
            json!([
                user("<environment_context><cwd>/w</cwd></environment_context>"),
                user("/greet Bob")
            ]),
            None,
        );
        assert_eq!(t.new_turn_prompt(), Some(1));
        assert_eq!(t.env.as_ref().unwrap().cwd, std::path::PathBuf::from("/w"));
    }

    #[test]
    fn skill_items_after_the_prompt_are_skipped() {
        let t = turn(
            json!([
                user("hi"),
                user("$greet Bob"),
                user("<skill>\n<name>greet</name>\n</skill>")
            ]),
            None,
        );
        assert_eq!(t.new_turn_prompt(), Some(1));
        let only_skills = turn(json!([user("<skill>a</skill>")]), None);
        assert_eq!(only_skills.new_turn_prompt(), None);
    }

    #[test]
    fn tool_follow_ups_environment_blocks_and_compactions_are_not() {
        let follow_up = turn(
            json!([user("hi"), {"type": "function_call", "call_id": "c", "name": "exec_command", "arguments": "{}"},
                   {"type": "function_call_output", "call_id": "c", "output": "ok"}]),
            None,
        );
        assert_eq!(follow_up.new_turn_prompt(), None);
        let env_last = turn(
            json!([
                user("hi"),
                user("<environment_context><cwd>/w</cwd></environment_context>")
            ]),
            None,
        );
        assert_eq!(env_last.new_turn_prompt(), None);
        let compact = turn(json!([user("hi")]), Some(r#"{"request_kind":"compact"}"#));
        assert_eq!(compact.new_turn_prompt(), None);
        let title = turn(
            json!([user("Generate a title")]),
            Some(r#"{"request_kind":"turn","thread_source":"thread_title"}"#),
        );
        assert_eq!(title.new_turn_prompt(), None);
        assert_eq!(turn(json!([]), None).new_turn_prompt(), None);
    }

    #[test]
    fn the_prompt_is_found_again_wherever_steps_put_it() {
        let mut t = turn(json!([user("hi"), user("/greet Bob")]), None);
        assert_eq!(t.new_turn_prompt(), Some(1));
        let context = t.request().input[0].clone();
        t.request_mut().input.insert(0, context);
        assert_eq!(t.new_turn_prompt(), Some(2));
        // Context added after the prompt (a UserPromptSubmit hook's) does not hide it,
        // even when it is a user message too.
        let after = RawJson::from_value(&user("more context"));
        t.request_mut().input.push(after);
        assert_eq!(t.new_turn_prompt(), Some(2));
        // An expansion replaces the prompt, and is the prompt from then on.
        t.replace_input(2, RawJson::from_value(&user("Say hello to Bob")));
        assert_eq!(t.new_turn_prompt(), Some(2));
        assert_eq!(
            t.request().input[2].message_text().as_deref(),
            Some("Say hello to Bob")
        );
        t.replace_input(0, RawJson::from_value(&user("other")));
        assert_eq!(t.new_turn_prompt(), Some(2));
    }
}
