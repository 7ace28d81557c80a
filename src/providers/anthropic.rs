//! Anthropic Messages API provider (`POST {base}/v1/messages`, streamed and collected).

use std::collections::BTreeMap;
use std::fmt;

use async_trait::async_trait;
use http::header::{HeaderName, HeaderValue};
use http::HeaderMap;
use serde_json::{json, Map, Value};

use super::convert::{
    assistant_image_refused, misplaced_tool_result, parse_arguments, temperature,
};
use super::transport::{parse_data, Collector, Flow, Transport};
use super::{
    Block, Message, ModelProvider, ModelRequest, ModelResponse, ProviderError, Role, Secret,
    StopReason, Usage,
};
use crate::wire::sse::Frame;

/// The API version every request declares.
pub const API_VERSION: &str = "2023-06-01";
/// `max_tokens` is required; this is sent when neither request nor config sets one.
pub const DEFAULT_MAX_TOKENS: u32 = 8192;
/// The tag on `Block::Reasoning` items (thinking blocks) this dialect replays.
pub const REASONING_TAG: &str = "anthropic";

/// The Messages API.
pub struct Anthropic {
    name: String,
    url: String,
    headers: HeaderMap,
    default_max_tokens: u32,
    /// Accepts image input (refused with `Unsupported` when false).
    images: bool,
    transport: Transport,
}

impl Anthropic {
    /// An endpoint at `base_url` (e.g. `https://api.anthropic.com`); `key` None for a
    /// gateway that adds its own.
    pub fn new(
        name: impl Into<String>,
        base_url: &str,
        key: Option<&Secret>,
        default_max_tokens: u32,
        transport: Transport,
    ) -> Result<Self, ProviderError> {
        let name = name.into();
        let mut headers = HeaderMap::new();
        if let Some(key) = key {
            let mut value =
                HeaderValue::from_str(key.expose()).map_err(|_| ProviderError::InvalidRequest {
                    provider: name.clone(),
                    message: "the API key contains characters not allowed in an HTTP header".into(),
                })?;
            value.set_sensitive(true);
            headers.insert(HeaderName::from_static("x-api-key"), value);
        }
        headers.insert(
            HeaderName::from_static("anthropic-version"),
            HeaderValue::from_static(API_VERSION),
        );
        Ok(Self {
            url: format!("{}/v1/messages", base_url.trim_end_matches('/')),
            name,
            headers,
            default_max_tokens,
            images: true,
            transport,
        })
    }
}

impl Anthropic {
    /// Whether this endpoint accepts image input (default true).
    pub fn with_images(mut self, images: bool) -> Self {
        self.images = images;
        self
    }
}

impl fmt::Debug for Anthropic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Anthropic")
            .field("name", &self.name)
            .field("url", &self.url)
            .field("default_max_tokens", &self.default_max_tokens)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl ModelProvider for Anthropic {
    fn name(&self) -> &str {
        &self.name
    }

    async fn complete(&self, request: &ModelRequest) -> Result<ModelResponse, ProviderError> {
        super::convert::check_images(&self.name, request, self.images)?;
        let body = request_body(&self.name, request, self.default_max_tokens)?;
        let collector = AnthropicCollector::new(&self.name, &request.model);
        self.transport
            .collect(
                &self.name,
                &self.url,
                self.headers.clone(),
                &body,
                collector,
            )
            .await
    }
}

/// The request body for `POST /v1/messages`.
pub fn request_body(
    provider: &str,
    req: &ModelRequest,
    default_max_tokens: u32,
) -> Result<Value, ProviderError> {
    let mut messages = Vec::new();
    for message in &req.messages {
        let content = match message.role {
            Role::User => user_blocks(provider, message)?,
            Role::Assistant => assistant_blocks(provider, message)?,
        };
        if !content.is_empty() {
            let role = match message.role {
                Role::User => "user",
                Role::Assistant => "assistant",
            };
            messages.push(json!({"role": role, "content": content}));
        }
    }
    let mut body = Map::new();
    body.insert("model".into(), json!(req.model));
    body.insert(
        "max_tokens".into(),
        json!(req.max_tokens.unwrap_or(default_max_tokens)),
    );
    if !req.system.is_empty() {
        body.insert("system".into(), json!(req.system));
    }
    body.insert("messages".into(), Value::Array(messages));
    if !req.tools.is_empty() {
        let tools: Vec<Value> = req
            .tools
            .iter()
            .map(|t| {
                if super::hosted::is_web_search(t) {
                    return super::hosted::anthropic_web_search();
                }
                json!({
                    "name": t.name,
                    "description": t.description,
                    "input_schema": super::schema::object_schema(&t.input_schema),
                })
            })
            .collect();
        body.insert("tools".into(), Value::Array(tools));
    }
    if let Some(t) = req.temperature {
        body.insert("temperature".into(), temperature(t));
    }
    body.insert("stream".into(), json!(true));
    Ok(Value::Object(body))
}

/// `tool_result` blocks must open the user turn that answers the calls.
fn user_blocks(provider: &str, message: &Message) -> Result<Vec<Value>, ProviderError> {
    let mut results = Vec::new();
    let mut rest = Vec::new();
    for block in &message.content {
        match block {
            Block::ToolResult {
                call_id,
                content,
                is_error,
            } => {
                let mut r =
                    json!({"type": "tool_result", "tool_use_id": call_id, "content": content});
                if *is_error {
                    r["is_error"] = json!(true);
                }
                results.push(r);
            }
            Block::Text { text } if !text.is_empty() => {
                rest.push(json!({"type": "text", "text": text}));
            }
            Block::Text { .. } | Block::Reasoning { .. } => {}
            Block::Image { media_type, data } => rest.push(json!({
                "type": "image",
                "source": {"type": "base64", "media_type": media_type, "data": data},
            })),
            Block::ToolCall { .. } => {
                return Err(ProviderError::InvalidRequest {
                    provider: provider.to_owned(),
                    message: "a tool call is in a user message; tool calls come from the assistant"
                        .into(),
                })
            }
        }
    }
    results.extend(rest);
    Ok(results)
}

fn assistant_blocks(provider: &str, message: &Message) -> Result<Vec<Value>, ProviderError> {
    let mut out = Vec::new();
    for block in &message.content {
        match block {
            // Anthropic rejects empty text blocks.
            Block::Text { text } if text.is_empty() => {}
            Block::Text { text } => out.push(json!({"type": "text", "text": text})),
            Block::ToolCall {
                id, name, input, ..
            } => out.push(json!({"type": "tool_use", "id": id, "name": name, "input": input})),
            Block::Reasoning {
                provider: tag,
                data,
            } if tag == REASONING_TAG => out.push(data.clone()),
            Block::Reasoning { .. } => {}
            Block::Image { .. } => return Err(assistant_image_refused(provider)),
            Block::ToolResult { call_id, .. } => {
                return Err(misplaced_tool_result(provider, call_id))
            }
        }
    }
    Ok(out)
}

/// One content block being streamed.
#[derive(Debug)]
enum Slot {
    Text(String),
    ToolUse {
        id: String,
        name: String,
        start_input: Value,
        json: String,
    },
    /// Thinking blocks are replayed verbatim, signature included.
    Thinking(Value),
}

/// Collects a Messages stream.
#[derive(Debug)]
pub struct AnthropicCollector {
    provider: String,
    model: String,
    blocks: BTreeMap<u64, Slot>,
    usage: Usage,
    stop_reason: Option<String>,
    stopped: bool,
    /// Pages its web search server tool found: (url, title).
    sources: Vec<(String, String)>,
}

impl AnthropicCollector {
    /// A collector for one call to `model`.
    pub fn new(provider: &str, model: &str) -> Self {
        Self {
            provider: provider.to_owned(),
            model: model.to_owned(),
            blocks: BTreeMap::new(),
            usage: Usage::default(),
            stop_reason: None,
            stopped: false,
            sources: Vec::new(),
        }
    }

    fn block_start(&mut self, index: u64, block: &Value) {
        let field = |k: &str| {
            block
                .get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let slot = match block.get("type").and_then(Value::as_str) {
            Some("text") => Slot::Text(field("text")),
            Some("tool_use") => Slot::ToolUse {
                id: field("id"),
                name: field("name"),
                start_input: block.get("input").cloned().unwrap_or_else(|| json!({})),
                json: String::new(),
            },
            Some("thinking" | "redacted_thinking") => Slot::Thinking(block.clone()),
            // The server tool's results arrive whole: kept as the answer's sources.
            Some("web_search_tool_result") => {
                for r in block["content"].as_array().into_iter().flatten() {
                    let s = |k: &str| r[k].as_str().unwrap_or_default().to_string();
                    self.sources.push((s("url"), s("title")));
                }
                return;
            }
            other => {
                tracing::debug!(provider = %self.provider, kind = ?other, "ignored content block");
                return;
            }
        };
        self.blocks.insert(index, slot);
    }

    fn block_delta(&mut self, index: u64, delta: &Value) {
        let Some(slot) = self.blocks.get_mut(&index) else {
            return;
        };
        let text = |k: &str| delta.get(k).and_then(Value::as_str).unwrap_or_default();
        match (slot, delta.get("type").and_then(Value::as_str)) {
            (Slot::Text(t), Some("text_delta")) => t.push_str(text("text")),
            (Slot::ToolUse { json, .. }, Some("input_json_delta")) => {
                json.push_str(text("partial_json"))
            }
            (Slot::Thinking(block), Some("thinking_delta")) => {
                let so_far = block
                    .get("thinking")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                block["thinking"] = json!(format!("{so_far}{}", text("thinking")));
            }
            (Slot::Thinking(block), Some("signature_delta")) => {
                block["signature"] = json!(text("signature"));
            }
            _ => {}
        }
    }

    fn read_usage(&mut self, usage: &Value) {
        let n = |k: &str| usage.get(k).and_then(Value::as_u64);
        let cache_read = n("cache_read_input_tokens").unwrap_or(0);
        if let Some(input) = n("input_tokens") {
            // Anthropic counts cache reads and writes apart from `input_tokens`.
            let cache_write = n("cache_creation_input_tokens").unwrap_or(0);
            self.usage.input_tokens = input + cache_read + cache_write;
            self.usage.cached_input_tokens = cache_read;
        }
        if let Some(output) = n("output_tokens") {
            self.usage.output_tokens = output;
        }
    }
}

impl Collector for AnthropicCollector {
    fn push(&mut self, frame: &Frame) -> Result<Flow, ProviderError> {
        if !frame.has_data() {
            return Ok(Flow::Continue);
        }
        let event = parse_data(&self.provider, frame)?;
        let index = event.get("index").and_then(Value::as_u64).unwrap_or(0);
        match event.get("type").and_then(Value::as_str).or(frame.event()) {
            Some("message_start") => {
                if let Some(usage) = event.pointer("/message/usage") {
                    self.read_usage(usage);
                }
            }
            Some("content_block_start") => {
                if let Some(block) = event.get("content_block") {
                    self.block_start(index, block);
                }
            }
            Some("content_block_delta") => {
                if let Some(delta) = event.get("delta") {
                    self.block_delta(index, delta);
                }
            }
            Some("message_delta") => {
                if let Some(reason) = event.pointer("/delta/stop_reason").and_then(Value::as_str) {
                    self.stop_reason = Some(reason.to_owned());
                }
                if let Some(usage) = event.get("usage") {
                    self.read_usage(usage);
                }
            }
            Some("message_stop") => {
                self.stopped = true;
                return Ok(Flow::Done);
            }
            Some("error") => {
                let error = event.get("error").unwrap_or(&event);
                let kind = error.get("type").and_then(Value::as_str).map(str::to_owned);
                let retryable = kind.as_deref().is_some_and(|k| {
                    matches!(
                        k,
                        "overloaded_error" | "api_error" | "rate_limit_error" | "timeout_error"
                    )
                });
                return Err(ProviderError::Api {
                    provider: self.provider.clone(),
                    code: kind,
                    message: error
                        .get("message")
                        .and_then(Value::as_str)
                        .unwrap_or("error event without a message")
                        .to_owned(),
                    retryable,
                });
            }
            // ping, content_block_stop and future event types carry nothing we keep.
            _ => {}
        }
        Ok(Flow::Continue)
    }

    fn finish(self, received: usize) -> Result<ModelResponse, ProviderError> {
        if !self.stopped {
            return Err(ProviderError::Stream {
                provider: self.provider,
                received,
                cause: "stream closed before message_stop".into(),
            });
        }
        let note = super::hosted::sources_note(&self.sources);
        let mut content: Vec<Block> = self
            .blocks
            .into_values()
            .filter_map(|slot| match slot {
                Slot::Text(text) if text.is_empty() => None,
                Slot::Text(text) => Some(Block::Text { text }),
                Slot::ToolUse {
                    id,
                    name,
                    start_input,
                    json,
                } => Some(Block::ToolCall {
                    id,
                    name,
                    input: if json.trim().is_empty() {
                        start_input
                    } else {
                        parse_arguments(&json)
                    },
                    meta: None,
                }),
                Slot::Thinking(data) => Some(Block::Reasoning {
                    provider: REASONING_TAG.to_owned(),
                    data,
                }),
            })
            .collect();
        if let Some(text) = note {
            content.push(Block::Text { text });
        }
        let stop = match self.stop_reason.as_deref() {
            Some("end_turn") | None => StopReason::EndTurn,
            Some("tool_use") => StopReason::ToolUse,
            Some("max_tokens") => StopReason::MaxTokens,
            Some(other) => StopReason::Other(other.to_owned()),
        };
        Ok(ModelResponse {
            content,
            stop,
            usage: self.usage,
            provider: self.provider,
            model: self.model,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::test_fixtures::{conversation, image_message};
    use crate::providers::transport::collect_text;

    #[test]
    fn request_translation() {
        let body = request_body("anthropic", &conversation(), DEFAULT_MAX_TOKENS).expect("ok");
        insta::assert_json_snapshot!(body);
    }

    #[test]
    fn max_tokens_is_always_sent() {
        let mut req = conversation();
        req.max_tokens = None;
        let body = request_body("anthropic", &req, DEFAULT_MAX_TOKENS).expect("ok");
        assert_eq!(body["max_tokens"], json!(8192));
    }

    #[test]
    fn images_in_user_messages_become_base64_sources() {
        let mut req = conversation();
        req.messages = vec![image_message(Role::User)];
        let body = request_body("anthropic", &req, DEFAULT_MAX_TOKENS).expect("ok");
        assert_eq!(
            body.pointer("/messages/0/content/1/source"),
            Some(&json!({"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}))
        );
        req.messages = vec![image_message(Role::Assistant)];
        let err = request_body("anthropic", &req, DEFAULT_MAX_TOKENS).unwrap_err();
        assert!(matches!(err, ProviderError::Unsupported { .. }), "{err}");
    }

    const STREAM: &str = r#"event: message_start
data: {"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[],"stop_reason":null,"usage":{"input_tokens":50,"cache_read_input_tokens":900,"cache_creation_input_tokens":10,"output_tokens":1}}}

event: content_block_start
data: {"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"","signature":""}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"Need the file."}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"EqQBCgIYAhIM"}}

event: content_block_stop
data: {"type":"content_block_stop","index":0}

event: ping
data: {"type": "ping"}

event: content_block_start
data: {"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"I'll read "}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"it."}}

event: content_block_stop
data: {"type":"content_block_stop","index":1}

event: content_block_start
data: {"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"toolu_01","name":"Read","input":{}}}

event: content_block_delta
data: {"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":""}}

event: content_block_delta
data: {"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"{\"file_path\": \"src/"}}

event: content_block_delta
data: {"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"main.rs\"}"}}

event: content_block_stop
data: {"type":"content_block_stop","index":2}

event: content_block_start
data: {"type":"content_block_start","index":3,"content_block":{"type":"tool_use","id":"toolu_02","name":"Glob","input":{}}}

event: content_block_stop
data: {"type":"content_block_stop","index":3}

event: message_delta
data: {"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":91}}

event: message_stop
data: {"type":"message_stop"}

"#;

    #[test]
    fn stream_translation() {
        let r = collect_text(
            AnthropicCollector::new("anthropic", "claude-sonnet-4-5"),
            STREAM,
        )
        .expect("collects");
        insta::assert_json_snapshot!(r);
    }

    #[test]
    fn thinking_round_trips_with_its_signature() {
        let r = collect_text(AnthropicCollector::new("anthropic", "m"), STREAM).expect("ok");
        let mut req = conversation();
        req.messages = vec![
            Message::user_text("go"),
            Message {
                role: Role::Assistant,
                content: r.content,
            },
        ];
        let body = request_body("anthropic", &req, DEFAULT_MAX_TOKENS).expect("ok");
        assert_eq!(
            body.pointer("/messages/1/content/0"),
            Some(
                &json!({"type":"thinking","thinking":"Need the file.","signature":"EqQBCgIYAhIM"})
            )
        );
    }

    #[test]
    fn error_events_and_cut_streams() {
        let overloaded = "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n";
        let e1 = collect_text(AnthropicCollector::new("anthropic", "m"), overloaded).unwrap_err();
        assert!(e1.is_retryable());
        let invalid = "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"invalid_request_error\",\"message\":\"prompt is too long\"}}\n\n";
        let e2 = collect_text(AnthropicCollector::new("anthropic", "m"), invalid).unwrap_err();
        assert!(!e2.is_retryable());
        let cut = STREAM
            .split("event: message_delta")
            .next()
            .unwrap_or_default();
        let e3 = collect_text(AnthropicCollector::new("anthropic", "m"), cut).unwrap_err();
        assert!(e3.is_retryable());
        insta::assert_snapshot!(format!("{e1}\n{e2}\n{e3}"));
    }
}
