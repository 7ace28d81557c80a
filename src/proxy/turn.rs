//! One model call (`POST .../responses`) on its way through the middleware stack.

use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use http::request::Parts;

use super::upstream::Backend;
use crate::wire::environment::{Environment, TurnMetadata};
use crate::wire::request::ResponsesRequest;

/// Bytes of a message read to tell what it is (`<skill>`, `/command`, a prompt).
pub const LOOK_AHEAD: usize = 4096;

/// A parsed `/responses` request and what the proxy learned about it. Middleware
/// edits `request` through `request_mut`, which marks the body for re-serialising;
/// an untouched turn goes upstream as the exact bytes Codex sent.
pub struct Turn {
    pub backend: Backend,
    /// Boxed, like the environment and the metadata behind their `Arc`s: a turn is
    /// moved through every middleware step's future, so it is kept small.
    pub parts: Box<Parts>,
    /// The body as received (still compressed if it came compressed).
    pub original: Bytes,
    request: ResponsesRequest,
    changed: bool,
    /// The workspace Codex reported in `<environment_context>`, when it did.
    pub env: Option<Arc<Environment>>,
    /// The `x-codex-turn-metadata` header, when present and valid.
    pub meta: Arc<TurnMetadata>,
    /// The proxy offered the Task tool, so it answers the turn's Task calls itself.
    pub intercept_tasks: bool,
    /// `new_turn_prompt`, which several steps ask for; forgotten on every edit.
    prompt: OnceLock<Option<usize>>,
}

impl Turn {
    pub fn new(backend: Backend, parts: Parts, original: Bytes, request: ResponsesRequest) -> Turn {
        let meta = parts
            .headers
            .get("x-codex-turn-metadata")
            .and_then(|v| v.to_str().ok())
            .and_then(TurnMetadata::parse)
            .unwrap_or_default();
        let env = Environment::from_request(&request);
        Turn {
            backend,
            parts: Box::new(parts),
            original,
            request,
            changed: false,
            env,
            meta: Arc::new(meta),
            intercept_tasks: false,
            prompt: OnceLock::new(),
        }
    }

    pub fn request(&self) -> &ResponsesRequest {
        &self.request
    }

    /// The request, for editing: the body will be re-serialised.
    pub fn request_mut(&mut self) -> &mut ResponsesRequest {
        self.changed = true;
        self.prompt = OnceLock::new();
        &mut self.request
    }

    pub fn changed(&self) -> bool {
        self.changed
    }

    /// The session (thread) id: the header Codex sends, else the turn metadata's.
    pub fn session_id(&self) -> Option<&str> {
        session_id(&self.parts.headers, &self.meta)
    }

    /// The index of the user's typed prompt when this request starts a new turn: the
    /// input ends with a user message (after it, Codex may put one `<skill>` item per
    /// skill the prompt mentions). Requests that follow tool outputs, compactions and
    /// the TUI's title request are not new turns.
    pub fn new_turn_prompt(&self) -> Option<usize> {
        *self.prompt.get_or_init(|| self.find_new_turn_prompt())
    }

    fn find_new_turn_prompt(&self) -> Option<usize> {
        if self
            .meta
            .request_kind
            .as_deref()
            .is_some_and(|k| k != "turn")
            || self.meta.thread_source.as_deref() == Some("thread_title")
        {
            return None;
        }
        let input = &self.request.input;
        // Skip back over `<skill>` items to the typed message; only the start of
        // each is read (a prompt can be megabytes).
        let mut i = input.len().checked_sub(1)?;
        loop {
            let text = input[i].user_text_head(LOOK_AHEAD)?;
            let text = text.trim_start();
            if text.starts_with("<skill>") {
                i = i.checked_sub(1)?;
                continue;
            }
            return (!text.starts_with("<environment_context>")).then_some(i);
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
    fn the_prompt_index_follows_edits() {
        let mut t = turn(json!([user("hi"), user("/greet Bob")]), None);
        assert_eq!(t.new_turn_prompt(), Some(1));
        let context = t.request().input[0].clone();
        t.request_mut().input.insert(0, context);
        assert_eq!(t.new_turn_prompt(), Some(2));
    }
}
