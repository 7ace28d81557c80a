//! One model call (`POST .../responses`) on its way through the middleware stack.

use bytes::Bytes;
use http::request::Parts;

use super::upstream::Backend;
use crate::wire::environment::{Environment, TurnMetadata};
use crate::wire::request::ResponsesRequest;

/// A parsed `/responses` request and what the proxy learned about it. Middleware
/// edits `request` through `request_mut`, which marks the body for re-serialising;
/// an untouched turn goes upstream as the exact bytes Codex sent.
pub struct Turn {
    pub backend: Backend,
    pub parts: Parts,
    /// The body as received (still compressed if it came compressed).
    pub original: Bytes,
    request: ResponsesRequest,
    changed: bool,
    /// The workspace Codex reported in `<environment_context>`, when it did.
    pub env: Option<Environment>,
    /// The `x-codex-turn-metadata` header, when present and valid.
    pub meta: TurnMetadata,
    /// The proxy offered the Task tool, so it answers the turn's Task calls itself.
    pub intercept_tasks: bool,
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
            parts,
            original,
            request,
            changed: false,
            env,
            meta,
            intercept_tasks: false,
        }
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
        self.parts
            .headers
            .get("session-id")
            .or_else(|| self.parts.headers.get("session_id"))
            .and_then(|v| v.to_str().ok())
            .or(self.meta.session_id.as_deref())
    }

    /// The body to send upstream and whether it is the original (still encoded) bytes.
    pub fn body(&self) -> (Bytes, bool) {
        if self.changed {
            (self.request.to_bytes(), false)
        } else {
            (self.original.clone(), true)
        }
    }
}
