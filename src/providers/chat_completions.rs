//! OpenAI-compatible Chat Completions provider (`POST {base}/chat/completions`):
//! Cerebras, Groq, OpenRouter, Ollama, vLLM and the like.
//!
//! Tool calls stream as deltas keyed by `index`; the collector assembles them.

use std::collections::BTreeMap;
use std::fmt;

use async_trait::async_trait;
use http::header::AUTHORIZATION;
use http::HeaderMap;
use serde_json::{json, Map, Value};

use super::convert::{
    arguments_text, assistant_image_refused, check_images, data_url, misplaced_tool_result,
    parse_arguments, temperature, tool_output,
};
use super::openai_responses::bearer;
use super::transport::{parse_data, Collector, Flow, Transport};
use super::{
    Block, Message, ModelProvider, ModelRequest, ModelResponse, ProviderError, Role, Secret,
    StopReason, Usage,
};
use crate::wire::sse::Frame;

/// A Chat Completions endpoint.
pub struct ChatCompletions {
    name: String,
    url: String,
    headers: HeaderMap,
    images: bool,
    transport: Transport,
}

impl ChatCompletions {
    /// An endpoint at `base_url`; `key` None for servers that need none (local Ollama).
    /// `images` says whether it accepts image input.
    pub fn new(
        name: impl Into<String>,
        base_url: &str,
        key: Option<&Secret>,
        images: bool,
        transport: Transport,
    ) -> Result<Self, ProviderError> {
        let name = name.into();
        let mut headers = HeaderMap::new();
        if let Some(key) = key {
            headers.insert(AUTHORIZATION, bearer(&name, key)?);
        }
        Ok(Self {
            url: format!("{}/chat/completions", base_url.trim_end_matches('/')),
            name,
            headers,
            images,
            transport,
        })
    }
}

impl fmt::Debug for ChatCompletions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChatCompletions")
            .field("name", &self.name)
            .field("url", &self.url)
            .field("has_key", &self.headers.contains_key(AUTHORIZATION))
            .field("images", &self.images)
            .finish()
    }
}

#[async_trait]
impl ModelProvider for ChatCompletions {
    fn name(&self) -> &str {
        &self.name
    }

    async fn complete(&self, request: &ModelRequest) -> Result<ModelResponse, ProviderError> {
        check_images(&self.name, request, self.images)?;
        let body = request_body(&self.name, request)?;
        let collector = ChatCollector::new(&self.name, &request.model);
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

/// The request body for `POST /chat/completions`.
pub fn request_body(provider: &str, req: &ModelRequest) -> Result<Value, ProviderError> {
    let mut messages = Vec::new();
    if !req.system.is_empty() {
        messages.push(json!({"role": "system", "content": req.system}));
    }
    for message in &req.messages {
        match message.role {
            Role::User => user_messages(provider, message, &mut messages)?,
            Role::Assistant => assistant_message(provider, message, &mut messages)?,
        }
    }
    let mut body = Map::new();
    body.insert("model".into(), json!(req.model));
    body.insert("messages".into(), Value::Array(messages));
    if !req.tools.is_empty() {
        let tools: Vec<Value> = req
            .tools
            .iter()
            .map(|t| {
                json!({
                    "type": "function",
                    "function": {
                        "name": t.name,
                        "description": t.description,
                        "parameters": super::schema::object_schema(&t.input_schema),
                    },
                })
            })
            .collect();
        body.insert("tools".into(), Value::Array(tools));
    }
    if let Some(t) = req.temperature {
        body.insert("temperature".into(), temperature(t));
    }
    if let Some(m) = req.max_tokens {
        body.insert("max_tokens".into(), json!(m));
    }
    if let Some((name, schema)) = &req.output_schema {
        body.insert(
            "response_format".into(),
            json!({"type": "json_schema", "json_schema": {"name": name, "schema": schema}}),
        );
    }
    body.insert("stream".into(), json!(true));
    body.insert("stream_options".into(), json!({"include_usage": true}));
    Ok(Value::Object(body))
}

/// `tool` messages first (they must follow the assistant's calls), then the user's words.
fn user_messages(
    provider: &str,
    message: &Message,
    out: &mut Vec<Value>,
) -> Result<(), ProviderError> {
    let mut parts = Vec::new();
    for block in &message.content {
        match block {
            Block::ToolResult {
                call_id,
                content,
                is_error,
            } => out.push(json!({
                "role": "tool",
                "tool_call_id": call_id,
                "content": tool_output(content, *is_error),
            })),
            Block::Text { text } => parts.push(json!({"type": "text", "text": text})),
            Block::Image { media_type, data } => parts.push(
                json!({"type": "image_url", "image_url": {"url": data_url(media_type, data)}}),
            ),
            Block::ToolCall { .. } => {
                return Err(ProviderError::InvalidRequest {
                    provider: provider.to_owned(),
                    message: "a tool call is in a user message; tool calls come from the assistant"
                        .into(),
                })
            }
            Block::Reasoning { .. } => {}
        }
    }
    // Plain text stays a string: the most widely accepted form.
    let content = match parts.as_slice() {
        [] => return Ok(()),
        [only] if only["type"] == "text" => only["text"].clone(),
        _ => Value::Array(parts),
    };
    out.push(json!({"role": "user", "content": content}));
    Ok(())
}

fn assistant_message(
    provider: &str,
    message: &Message,
    out: &mut Vec<Value>,
) -> Result<(), ProviderError> {
    let mut text = Vec::new();
    let mut calls = Vec::new();
    for block in &message.content {
        match block {
            Block::Text { text: t } => text.push(t.as_str()),
            Block::ToolCall {
                id, name, input, ..
            } => calls.push(json!({
                "id": id,
                "type": "function",
                "function": {"name": name, "arguments": arguments_text(input)},
            })),
            Block::Reasoning { .. } => {}
            Block::Image { .. } => return Err(assistant_image_refused(provider)),
            Block::ToolResult { call_id, .. } => {
                return Err(misplaced_tool_result(provider, call_id))
            }
        }
    }
    if text.is_empty() && calls.is_empty() {
        return Ok(());
    }
    let mut msg = Map::new();
    msg.insert("role".into(), json!("assistant"));
    msg.insert(
        "content".into(),
        if text.is_empty() {
            Value::Null
        } else {
            json!(text.join("\n"))
        },
    );
    if !calls.is_empty() {
        msg.insert("tool_calls".into(), Value::Array(calls));
    }
    out.push(Value::Object(msg));
    Ok(())
}

/// A tool call being assembled from deltas.
#[derive(Debug, Default)]
struct PartialCall {
    id: String,
    name: String,
    arguments: String,
}

/// Collects a Chat Completions stream.
#[derive(Debug)]
pub struct ChatCollector {
    provider: String,
    model: String,
    text: String,
    calls: BTreeMap<u64, PartialCall>,
    finish_reason: Option<String>,
    usage: Usage,
    done: bool,
}

impl ChatCollector {
    /// A collector for one call to `model`.
    pub fn new(provider: &str, model: &str) -> Self {
        Self {
            provider: provider.to_owned(),
            model: model.to_owned(),
            text: String::new(),
            calls: BTreeMap::new(),
            finish_reason: None,
            usage: Usage::default(),
            done: false,
        }
    }

    fn chunk(&mut self, chunk: &Value) -> Result<(), ProviderError> {
        if let Some(error) = chunk.get("error") {
            return Err(stream_error(&self.provider, error));
        }
        for choice in chunk
            .get("choices")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(delta) = choice.get("delta") {
                if let Some(t) = delta.get("content").and_then(Value::as_str) {
                    self.text.push_str(t);
                }
                let calls = delta.get("tool_calls").and_then(Value::as_array);
                for (position, call) in calls.into_iter().flatten().enumerate() {
                    let index = call
                        .get("index")
                        .and_then(Value::as_u64)
                        .unwrap_or(position as u64);
                    let partial = self.calls.entry(index).or_default();
                    if let Some(id) = call.get("id").and_then(Value::as_str) {
                        partial.id = id.to_owned();
                    }
                    if let Some(f) = call.get("function") {
                        if let Some(n) = f.get("name").and_then(Value::as_str) {
                            partial.name.push_str(n);
                        }
                        if let Some(a) = f.get("arguments").and_then(Value::as_str) {
                            partial.arguments.push_str(a);
                        }
                    }
                }
            }
            if let Some(reason) = choice.get("finish_reason").and_then(Value::as_str) {
                self.finish_reason = Some(reason.to_owned());
            }
        }
        if let Some(usage) = chunk.get("usage").filter(|u| u.is_object()) {
            let n = |p: &str| usage.pointer(p).and_then(Value::as_u64).unwrap_or(0);
            self.usage = Usage {
                input_tokens: n("/prompt_tokens"),
                output_tokens: n("/completion_tokens"),
                cached_input_tokens: n("/prompt_tokens_details/cached_tokens"),
            };
        }
        Ok(())
    }
}

/// An `{"error": ...}` chunk some servers send mid-stream.
fn stream_error(provider: &str, error: &Value) -> ProviderError {
    let code = error
        .get("code")
        .or_else(|| error.get("type"))
        .map(|c| c.as_str().map_or_else(|| c.to_string(), str::to_owned));
    let retryable = code.as_deref().is_some_and(|c| {
        c.parse::<u16>()
            .map(|n| n == 429 || n >= 500)
            .unwrap_or_else(|_| {
                c.contains("rate_limit") || c.contains("server") || c.contains("overloaded")
            })
    });
    ProviderError::Api {
        provider: provider.to_owned(),
        code,
        message: error
            .get("message")
            .and_then(Value::as_str)
            .or_else(|| error.as_str())
            .unwrap_or("error without a message")
            .to_owned(),
        retryable,
    }
}

impl Collector for ChatCollector {
    fn push(&mut self, frame: &Frame) -> Result<Flow, ProviderError> {
        if !frame.has_data() {
            return Ok(Flow::Continue);
        }
        if frame.data().trim() == "[DONE]" {
            self.done = true;
            return Ok(Flow::Done);
        }
        let chunk = parse_data(&self.provider, frame)?;
        self.chunk(&chunk)?;
        Ok(Flow::Continue)
    }

    fn finish(self, received: usize) -> Result<ModelResponse, ProviderError> {
        // Some servers omit `[DONE]`; a finish reason shows the answer is whole.
        if !self.done && self.finish_reason.is_none() {
            return Err(ProviderError::Stream {
                provider: self.provider,
                received,
                cause: "stream closed before [DONE]".into(),
            });
        }
        let mut content = Vec::new();
        if !self.text.is_empty() {
            content.push(Block::Text { text: self.text });
        }
        for call in self.calls.into_values() {
            let id = if call.id.is_empty() {
                format!("call_{}", uuid::Uuid::new_v4().simple())
            } else {
                call.id
            };
            content.push(Block::ToolCall {
                id,
                name: call.name,
                input: parse_arguments(&call.arguments),
                meta: None,
            });
        }
        let has_calls = content.iter().any(|b| matches!(b, Block::ToolCall { .. }));
        let stop = match self.finish_reason.as_deref() {
            _ if has_calls => StopReason::ToolUse,
            Some("stop") | None => StopReason::EndTurn,
            Some("length") => StopReason::MaxTokens,
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
        let body = request_body("chat", &conversation()).expect("translates");
        insta::assert_json_snapshot!(body);
    }

    #[test]
    fn an_output_schema_is_sent_as_the_response_format() {
        let mut req = conversation();
        req.output_schema = Some(("plan".into(), json!({"type": "object"})));
        let body = request_body("chat", &req).expect("translates");
        assert_eq!(
            body["response_format"],
            json!({"type": "json_schema", "json_schema": {"name": "plan", "schema": {"type": "object"}}})
        );
        assert!(request_body("chat", &conversation())
            .unwrap()
            .get("response_format")
            .is_none());
    }

    #[test]
    fn images_only_where_enabled() {
        let mut req = conversation();
        req.messages = vec![image_message(Role::User)];
        let err = check_images("chat", &req, false).unwrap_err();
        assert!(matches!(err, ProviderError::Unsupported { .. }));
        insta::assert_snapshot!(err.to_string());
        check_images("chat", &req, true).expect("enabled");
        let body = request_body("chat", &req).expect("enabled");
        assert_eq!(
            body.pointer("/messages/1/content/1/image_url/url"),
            Some(&json!("data:image/png;base64,iVBORw0KGgo="))
        );
    }

    const STREAM: &str = concat!(
        "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n",
        "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Checking \"}}]}\n\n",
        "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"both.\"}}]}\n\n",
        "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"call_a\",\"type\":\"function\",\"function\":{\"name\":\"Read\",\"arguments\":\"\"}}]}}]}\n\n",
        "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":1,\"id\":\"call_b\",\"type\":\"function\",\"function\":{\"name\":\"Grep\",\"arguments\":\"{\\\"pattern\\\":\"}}]}}]}\n\n",
        "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{\\\"file_path\\\":\"}}]}}]}\n\n",
        "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"\\\"a.rs\\\"}\"}}]}}]}\n\n",
        "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":1,\"function\":{\"arguments\":\"\\\"todo\\\"}\"}}]}}]}\n\n",
        "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\n",
        "data: {\"id\":\"c1\",\"choices\":[],\"usage\":{\"prompt_tokens\":300,\"completion_tokens\":40,\"prompt_tokens_details\":{\"cached_tokens\":100}}}\n\n",
        "data: [DONE]\n\n",
    );

    #[test]
    fn stream_translation() {
        let r =
            collect_text(ChatCollector::new("chat", "llama-3.3-70b"), STREAM).expect("collects");
        insta::assert_json_snapshot!(r);
    }

    #[test]
    fn missing_call_ids_are_generated() {
        let stream = concat!(
            "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"function\":{\"name\":\"Glob\",\"arguments\":\"{}\"}}]},\"finish_reason\":\"stop\"}]}\n\n",
            "data: [DONE]\n\n"
        );
        let r = collect_text(ChatCollector::new("chat", "m"), stream).expect("collects");
        let (id, name, _) = r.tool_calls().next().expect("one call");
        assert!(id.starts_with("call_") && id.len() > 10, "{id}");
        assert_eq!(name, "Glob");
        assert_eq!(
            r.stop,
            StopReason::ToolUse,
            "a call means tool use whatever the server says"
        );
    }

    #[test]
    fn error_chunks_and_cut_streams() {
        let overloaded = "data: {\"error\":{\"message\":\"model overloaded\",\"code\":503}}\n\n";
        let e1 = collect_text(ChatCollector::new("chat", "m"), overloaded).unwrap_err();
        assert!(e1.is_retryable());
        let bad = "data: {\"error\":{\"message\":\"context too long\",\"type\":\"invalid_request_error\"}}\n\n";
        let e2 = collect_text(ChatCollector::new("chat", "m"), bad).unwrap_err();
        assert!(!e2.is_retryable());
        let cut = "data: {\"choices\":[{\"delta\":{\"content\":\"half\"}}]}\n\n";
        let e3 = collect_text(ChatCollector::new("chat", "m"), cut).unwrap_err();
        assert!(e3.is_retryable());
        let garbled = "data: {\"choices\":[{\"delta\"\n\n";
        let e4 = collect_text(ChatCollector::new("chat", "m"), garbled).unwrap_err();
        insta::assert_snapshot!(format!("{e1}\n{e2}\n{e3}\n{e4}"));
    }

    #[test]
    fn a_finish_reason_without_done_is_complete() {
        let s = "data: {\"choices\":[{\"delta\":{\"content\":\"hi\"},\"finish_reason\":\"length\"}]}\n\n";
        let r = collect_text(ChatCollector::new("chat", "m"), s).expect("complete");
        assert_eq!(r.stop, StopReason::MaxTokens);
        assert_eq!(r.text(), "hi");
    }
}
