//! OpenAI Responses API provider (`POST {base}/responses`, streamed and collected).
//! Used for `inherit` (the session's own upstream, credentials and model) and for
//! `openai:` models with an API key.
//!
//! Calls are stateless (`store: false`): the whole conversation goes in `input`, and
//! reasoning items come back with `encrypted_content` so they can be replayed.

use std::fmt;

use async_trait::async_trait;
use http::header::{HeaderName, HeaderValue, AUTHORIZATION};
use http::HeaderMap;
use serde_json::{json, Map, Value};

use super::convert::{
    arguments_text, assistant_image_refused, data_url, misplaced_tool_result, parse_arguments,
    temperature, tool_output,
};
use super::transport::{parse_data, Collector, Flow, Transport};
use super::{
    Block, Message, ModelProvider, ModelRequest, ModelResponse, ProviderError, Role, Secret,
    StopReason, Usage,
};
use crate::wire::sse::Frame;

/// The tag on `Block::Reasoning` items a Responses endpoint produced. It names the
/// endpoint (`inherit`, `openai`): encrypted reasoning only decrypts where it was made.
pub fn reasoning_tag(provider: &str) -> String {
    format!("openai_responses:{provider}")
}

/// Headers that describe the caller's own request body or connection; ours differ.
const FRAMING_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "content-type",
    "content-encoding",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "upgrade",
    "te",
    "trailer",
    "accept",
    "accept-encoding",
    "proxy-authorization",
    "proxy-connection",
];

/// A Responses API endpoint.
pub struct OpenAiResponses {
    name: String,
    url: String,
    headers: HeaderMap,
    /// Send `temperature` / `max_output_tokens`: the ChatGPT backend refuses them.
    sampling_params: bool,
    /// Accepts image input (refused with `Unsupported` when false).
    images: bool,
    transport: Transport,
}

impl OpenAiResponses {
    /// An endpoint called with the given headers (e.g. the Codex session's own
    /// `authorization`, `chatgpt-account-id`). Body framing headers are dropped.
    pub fn new(
        name: impl Into<String>,
        base_url: &str,
        headers: &HeaderMap,
        transport: Transport,
    ) -> Self {
        let mut kept = HeaderMap::new();
        for (name, value) in headers {
            if FRAMING_HEADERS.contains(&name.as_str()) {
                continue;
            }
            let mut value = value.clone();
            value.set_sensitive(true);
            kept.append(name.clone(), value);
        }
        Self {
            name: name.into(),
            url: format!("{}/responses", base_url.trim_end_matches('/')),
            headers: kept,
            sampling_params: false,
            images: true,
            transport,
        }
    }

    /// The OpenAI API proper, with an API key (sends sampling parameters).
    pub fn with_api_key(
        name: impl Into<String>,
        base_url: &str,
        key: &Secret,
        transport: Transport,
    ) -> Result<Self, ProviderError> {
        let name = name.into();
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, bearer(&name, key)?);
        let mut provider = Self::new(name, base_url, &headers, transport);
        provider.sampling_params = true;
        Ok(provider)
    }

    /// Send `temperature` and `max_output_tokens` when the request sets them.
    pub fn with_sampling_params(mut self, on: bool) -> Self {
        self.sampling_params = on;
        self
    }
}

impl OpenAiResponses {
    /// Whether this endpoint accepts image input (default true).
    pub fn with_images(mut self, images: bool) -> Self {
        self.images = images;
        self
    }
}

impl fmt::Debug for OpenAiResponses {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.headers.keys().map(HeaderName::as_str).collect();
        f.debug_struct("OpenAiResponses")
            .field("name", &self.name)
            .field("url", &self.url)
            .field("header_names", &names)
            .finish()
    }
}

#[async_trait]
impl ModelProvider for OpenAiResponses {
    fn name(&self) -> &str {
        &self.name
    }

    async fn complete(&self, request: &ModelRequest) -> Result<ModelResponse, ProviderError> {
        super::convert::check_images(&self.name, request, self.images)?;
        let body = request_body(&self.name, request, self.sampling_params)?;
        let collector = ResponsesCollector::new(&self.name, &request.model);
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

/// `Authorization: Bearer <key>`, marked sensitive.
pub(crate) fn bearer(provider: &str, key: &Secret) -> Result<HeaderValue, ProviderError> {
    let mut value = HeaderValue::from_str(&format!("Bearer {}", key.expose())).map_err(|_| {
        ProviderError::InvalidRequest {
            provider: provider.to_owned(),
            message: "the API key contains characters not allowed in an HTTP header".into(),
        }
    })?;
    value.set_sensitive(true);
    Ok(value)
}

/// The request body for `POST /responses`.
pub fn request_body(
    provider: &str,
    req: &ModelRequest,
    sampling_params: bool,
) -> Result<Value, ProviderError> {
    let mut input = Vec::new();
    if !req.system.is_empty() {
        input.push(json!({
            "type": "message",
            "role": "developer",
            "content": [{"type": "input_text", "text": req.system}],
        }));
    }
    for message in &req.messages {
        match message.role {
            Role::User => user_items(provider, message, &mut input)?,
            Role::Assistant => assistant_items(provider, message, &mut input)?,
        }
    }
    let mut body = Map::new();
    body.insert("model".into(), json!(req.model));
    body.insert("input".into(), Value::Array(input));
    if !req.tools.is_empty() {
        let tools: Vec<Value> = req
            .tools
            .iter()
            .map(|t| {
                if super::hosted::is_web_search(t) {
                    return super::hosted::openai_web_search();
                }
                json!({
                    "type": "function",
                    "name": t.name,
                    "description": t.description,
                    "parameters": super::schema::object_schema(&t.input_schema),
                    "strict": false,
                })
            })
            .collect();
        body.insert("tools".into(), Value::Array(tools));
        body.insert("tool_choice".into(), json!("auto"));
        body.insert("parallel_tool_calls".into(), json!(true));
    }
    if let Some((name, schema)) = &req.output_schema {
        body.insert(
            "text".into(),
            json!({"format": {"type": "json_schema", "name": name, "schema": schema, "strict": false}}),
        );
    }
    body.insert("stream".into(), json!(true));
    body.insert("store".into(), json!(false));
    body.insert("include".into(), json!(["reasoning.encrypted_content"]));
    if sampling_params {
        if let Some(t) = req.temperature {
            body.insert("temperature".into(), temperature(t));
        }
        if let Some(m) = req.max_tokens {
            body.insert("max_output_tokens".into(), json!(m));
        }
    }
    Ok(Value::Object(body))
}

/// Tool results first (they answer the previous turn's calls), then the message.
fn user_items(
    provider: &str,
    message: &Message,
    input: &mut Vec<Value>,
) -> Result<(), ProviderError> {
    let mut parts = Vec::new();
    for block in &message.content {
        match block {
            Block::ToolResult {
                call_id,
                content,
                is_error,
            } => input.push(json!({
                "type": "function_call_output",
                "call_id": call_id,
                "output": tool_output(content, *is_error),
            })),
            Block::Text { text } => parts.push(json!({"type": "input_text", "text": text})),
            Block::Image { media_type, data } => parts.push(json!({
                "type": "input_image",
                "image_url": data_url(media_type, data),
            })),
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
    if !parts.is_empty() {
        input.push(json!({"type": "message", "role": "user", "content": parts}));
    }
    Ok(())
}

fn assistant_items(
    provider: &str,
    message: &Message,
    input: &mut Vec<Value>,
) -> Result<(), ProviderError> {
    let mut text = Vec::new();
    let flush = |text: &mut Vec<Value>, input: &mut Vec<Value>| {
        if !text.is_empty() {
            input.push(json!({
                "type": "message",
                "role": "assistant",
                "content": std::mem::take(text),
            }));
        }
    };
    for block in &message.content {
        match block {
            Block::Text { text: t } => text.push(json!({"type": "output_text", "text": t})),
            Block::ToolCall {
                id,
                name,
                input: args,
                ..
            } => {
                flush(&mut text, input);
                input.push(json!({
                    "type": "function_call",
                    "call_id": id,
                    "name": name,
                    "arguments": arguments_text(args),
                }));
            }
            Block::Reasoning {
                provider: tag,
                data,
            } if *tag == reasoning_tag(provider) => {
                flush(&mut text, input);
                input.push(replayable_reasoning(data));
            }
            // Another provider's opaque state means nothing here.
            Block::Reasoning { .. } => {}
            Block::Image { .. } => return Err(assistant_image_refused(provider)),
            Block::ToolResult { call_id, .. } => {
                return Err(misplaced_tool_result(provider, call_id))
            }
        }
    }
    flush(&mut text, input);
    Ok(())
}

/// A reasoning item as it may be sent back with `store: false`: its server id refers
/// to nothing stored, so it goes; the encrypted content carries the state.
fn replayable_reasoning(item: &Value) -> Value {
    let mut item = item.clone();
    if let Some(obj) = item.as_object_mut() {
        obj.remove("id");
        obj.remove("status");
    }
    item
}

/// Collects a Responses stream: finished output items and the final usage.
#[derive(Debug)]
pub struct ResponsesCollector {
    provider: String,
    model: String,
    content: Vec<Block>,
    usage: Usage,
    stop: Option<StopReason>,
    /// Pages a hosted web search cited: (url, title).
    sources: Vec<(String, String)>,
}

impl ResponsesCollector {
    /// A collector for one call to `model`.
    pub fn new(provider: &str, model: &str) -> Self {
        Self {
            provider: provider.to_owned(),
            model: model.to_owned(),
            content: Vec::new(),
            usage: Usage::default(),
            stop: None,
            sources: Vec::new(),
        }
    }

    fn item_done(&mut self, item: &Value) {
        match item.get("type").and_then(Value::as_str) {
            Some("message") => {
                let parts = item.get("content").and_then(Value::as_array);
                for note in parts
                    .into_iter()
                    .flatten()
                    .filter_map(|p| p.get("annotations").and_then(Value::as_array))
                    .flatten()
                    .filter(|a| a["type"] == "url_citation")
                {
                    let s = |k: &str| note[k].as_str().unwrap_or_default().to_string();
                    self.sources.push((s("url"), s("title")));
                }
                let text: String = parts
                    .into_iter()
                    .flatten()
                    .filter_map(|p| p.get("text").or_else(|| p.get("refusal")))
                    .filter_map(Value::as_str)
                    .collect();
                if !text.is_empty() {
                    self.content.push(Block::Text { text });
                }
            }
            Some("function_call") => {
                let field = |k: &str| item.get(k).and_then(Value::as_str).unwrap_or_default();
                self.content.push(Block::ToolCall {
                    id: field("call_id").to_owned(),
                    name: field("name").to_owned(),
                    input: parse_arguments(field("arguments")),
                    meta: None,
                });
            }
            Some("reasoning") => self.content.push(Block::Reasoning {
                provider: reasoning_tag(&self.provider),
                data: item.clone(),
            }),
            other => {
                tracing::debug!(provider = %self.provider, kind = ?other, "ignored output item")
            }
        }
    }

    fn finished(&mut self, response: Option<&Value>, stop: Option<StopReason>) {
        if let Some(usage) = response.and_then(|r| r.get("usage")) {
            let n = |v: Option<&Value>| v.and_then(Value::as_u64).unwrap_or(0);
            self.usage = Usage {
                input_tokens: n(usage.get("input_tokens")),
                output_tokens: n(usage.get("output_tokens")),
                cached_input_tokens: n(usage.pointer("/input_tokens_details/cached_tokens")),
            };
        }
        let has_calls = self
            .content
            .iter()
            .any(|b| matches!(b, Block::ToolCall { .. }));
        self.stop = Some(stop.unwrap_or(if has_calls {
            StopReason::ToolUse
        } else {
            StopReason::EndTurn
        }));
    }

    fn failure(&self, error: Option<&Value>) -> ProviderError {
        let field = |k: &str| error.and_then(|e| e.get(k)).and_then(Value::as_str);
        let code = field("code").or_else(|| field("type")).map(str::to_owned);
        let retryable = code.as_deref().is_some_and(|c| {
            matches!(
                c,
                "server_error" | "rate_limit_exceeded" | "server_is_overloaded" | "slow_down"
            )
        });
        ProviderError::Api {
            provider: self.provider.clone(),
            code,
            message: field("message")
                .unwrap_or("the response failed without a message")
                .to_owned(),
            retryable,
        }
    }
}

impl Collector for ResponsesCollector {
    fn push(&mut self, frame: &Frame) -> Result<Flow, ProviderError> {
        if !frame.has_data() {
            return Ok(Flow::Continue);
        }
        let event = parse_data(&self.provider, frame)?;
        let kind = event
            .get("type")
            .and_then(Value::as_str)
            .or(frame.event())
            .unwrap_or_default();
        match kind {
            "response.output_item.done" => {
                if let Some(item) = event.get("item") {
                    self.item_done(item);
                }
            }
            "response.completed" => {
                self.finished(event.get("response"), None);
                return Ok(Flow::Done);
            }
            "response.incomplete" => {
                let response = event.get("response");
                let reason = response
                    .and_then(|r| r.pointer("/incomplete_details/reason"))
                    .and_then(Value::as_str)
                    .unwrap_or("incomplete");
                let stop = match reason {
                    "max_output_tokens" => StopReason::MaxTokens,
                    other => StopReason::Other(other.to_owned()),
                };
                self.finished(response, Some(stop));
                return Ok(Flow::Done);
            }
            "response.failed" => {
                return Err(self.failure(event.pointer("/response/error")));
            }
            "error" => {
                let error = event.get("error").unwrap_or(&event);
                return Err(self.failure(Some(error)));
            }
            _ => {}
        }
        Ok(Flow::Continue)
    }

    fn finish(mut self, received: usize) -> Result<ModelResponse, ProviderError> {
        if let Some(note) = super::hosted::sources_note(&self.sources) {
            self.content.push(Block::Text { text: note });
        }
        let Some(stop) = self.stop else {
            return Err(ProviderError::Stream {
                provider: self.provider,
                received,
                cause: "stream closed before response.completed".into(),
            });
        };
        Ok(ModelResponse {
            content: self.content,
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
        let body = request_body("openai", &conversation(), true).expect("translates");
        insta::assert_json_snapshot!(body);
    }

    #[test]
    fn an_output_schema_is_sent_as_the_text_format() {
        let mut req = conversation();
        let schema = json!({"type": "object", "properties": {"subtasks": {"type": "array"}}});
        req.output_schema = Some(("plan".into(), schema.clone()));
        let body = request_body("inherit", &req, false).expect("translates");
        assert_eq!(body["text"]["format"]["type"], "json_schema");
        assert_eq!(body["text"]["format"]["name"], "plan");
        assert_eq!(body["text"]["format"]["schema"], schema);
        let plain = request_body("inherit", &conversation(), false).expect("translates");
        assert!(plain.get("text").is_none());
    }

    #[test]
    fn sampling_params_only_when_allowed() {
        let body = request_body("inherit", &conversation(), false).expect("translates");
        assert!(body.get("temperature").is_none());
        assert!(body.get("max_output_tokens").is_none());
    }

    #[test]
    fn user_images_are_sent_assistant_images_refused() {
        let mut req = conversation();
        req.messages = vec![image_message(Role::User)];
        let body = request_body("openai", &req, true).expect("user image is fine");
        assert_eq!(
            body.pointer("/input/1/content/1/image_url"),
            Some(&json!("data:image/png;base64,iVBORw0KGgo="))
        );
        req.messages = vec![image_message(Role::Assistant)];
        let err = request_body("openai", &req, true).unwrap_err();
        insta::assert_snapshot!(err.to_string());
    }

    const STREAM: &str = r#"event: response.created
data: {"type":"response.created","response":{"id":"resp_1","status":"in_progress"}}

event: response.output_item.done
data: {"type":"response.output_item.done","output_index":0,"item":{"id":"rs_1","type":"reasoning","summary":[{"type":"summary_text","text":"Looking at files"}],"encrypted_content":"gAAAAB-opaque"}}

event: response.output_text.delta
data: {"type":"response.output_text.delta","delta":"Let me "}

event: response.output_item.done
data: {"type":"response.output_item.done","output_index":1,"item":{"id":"msg_1","type":"message","role":"assistant","status":"completed","content":[{"type":"output_text","text":"Let me look.","annotations":[]}]}}

event: response.output_item.done
data: {"type":"response.output_item.done","output_index":2,"item":{"id":"fc_1","type":"function_call","status":"completed","call_id":"call_A","name":"Read","arguments":"{\"file_path\":\"src/main.rs\"}"}}

event: response.completed
data: {"type":"response.completed","response":{"id":"resp_1","status":"completed","usage":{"input_tokens":1200,"input_tokens_details":{"cached_tokens":1000},"output_tokens":80,"output_tokens_details":{"reasoning_tokens":50},"total_tokens":1280}}}

"#;

    #[test]
    fn stream_translation() {
        let response =
            collect_text(ResponsesCollector::new("openai", "gpt-5"), STREAM).expect("collects");
        insta::assert_json_snapshot!(response);
    }

    #[test]
    fn reasoning_round_trips_without_its_server_id() {
        let response =
            collect_text(ResponsesCollector::new("openai", "gpt-5"), STREAM).expect("collects");
        let mut req = conversation();
        req.messages = vec![
            Message::user_text("look"),
            Message {
                role: Role::Assistant,
                content: response.content.clone(),
            },
        ];
        let body = request_body("openai", &req, true).expect("translates");
        let reasoning = body["input"]
            .as_array()
            .and_then(|items| items.iter().find(|i| i["type"] == "reasoning"))
            .expect("reasoning replayed");
        assert_eq!(reasoning["encrypted_content"], "gAAAAB-opaque");
        assert!(
            reasoning.get("id").is_none(),
            "ids refer to nothing with store:false"
        );
    }

    #[test]
    fn reasoning_from_another_endpoint_is_not_replayed() {
        let response =
            collect_text(ResponsesCollector::new("inherit", "gpt-5"), STREAM).expect("collects");
        let mut req = conversation();
        req.messages = vec![
            Message::user_text("look"),
            Message {
                role: Role::Assistant,
                content: response.content,
            },
        ];
        let body = request_body("openai", &req, true).expect("translates");
        let kinds: Vec<&str> = body["input"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|i| i["type"].as_str())
            .collect();
        assert_eq!(kinds, ["message", "message", "message", "function_call"]);
    }

    #[test]
    fn incomplete_and_failed_streams() {
        let incomplete = "data: {\"type\":\"response.incomplete\",\"response\":{\"incomplete_details\":{\"reason\":\"max_output_tokens\"}}}\n\n";
        let r = collect_text(ResponsesCollector::new("openai", "gpt-5"), incomplete).expect("ok");
        assert_eq!(r.stop, StopReason::MaxTokens);

        let failed = "data: {\"type\":\"response.failed\",\"response\":{\"error\":{\"code\":\"server_error\",\"message\":\"The server had an error\"}}}\n\n";
        let err = collect_text(ResponsesCollector::new("openai", "gpt-5"), failed).unwrap_err();
        assert!(err.is_retryable());
        let invalid = "data: {\"type\":\"response.failed\",\"response\":{\"error\":{\"code\":\"invalid_prompt\",\"message\":\"Invalid prompt\"}}}\n\n";
        let err2 = collect_text(ResponsesCollector::new("openai", "gpt-5"), invalid).unwrap_err();
        assert!(!err2.is_retryable());
        let cut = "data: {\"type\":\"response.created\",\"response\":{}}\n\n";
        let err3 = collect_text(ResponsesCollector::new("openai", "gpt-5"), cut).unwrap_err();
        insta::assert_snapshot!(format!("{err}\n{err2}\n{err3}"));
    }

    #[test]
    fn debug_shows_header_names_not_values() {
        let transport = Transport::new(Default::default()).expect("client");
        let p = OpenAiResponses::with_api_key(
            "openai",
            "https://api.openai.com/v1/",
            &Secret::new("sk-secret-value"),
            transport,
        )
        .expect("valid key");
        let debug = format!("{p:?}");
        assert!(debug.contains("authorization"), "{debug}");
        assert!(!debug.contains("sk-secret-value"), "{debug}");
        assert!(
            debug.contains("https://api.openai.com/v1/responses"),
            "{debug}"
        );
    }
}
