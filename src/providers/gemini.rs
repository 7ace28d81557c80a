//! Google Gemini provider
//! (`POST {base}/v1beta/models/{model}:streamGenerateContent?alt=sse`).
//!
//! Gemini names tool results by function name, may give calls no id, and signs its
//! tool calls (`thoughtSignature`) so a multi-turn call keeps its reasoning. The
//! signature and Gemini's own call id ride in `Block::ToolCall.meta` and go back on
//! the same part.

use std::collections::HashMap;
use std::fmt;

use async_trait::async_trait;
use http::header::{HeaderName, HeaderValue};
use http::HeaderMap;
use serde_json::{json, Map, Value};

use super::convert::{assistant_image_refused, misplaced_tool_result, temperature};
use super::schema::gemini_parameters;
use super::transport::{parse_data, Collector, Flow, Transport};
use super::{
    Block, ModelProvider, ModelRequest, ModelResponse, ProviderError, Role, Secret, StopReason,
    Usage,
};
use crate::wire::sse::Frame;

/// `meta` keys on tool calls this dialect produced.
const META_SIGNATURE: &str = "thoughtSignature";
const META_ID: &str = "id";

/// The Gemini API.
pub struct Gemini {
    name: String,
    base_url: String,
    headers: HeaderMap,
    /// Accepts image input (refused with `Unsupported` when false).
    images: bool,
    transport: Transport,
}

impl Gemini {
    /// An endpoint at `base_url` (e.g. `https://generativelanguage.googleapis.com`);
    /// `key` None for a gateway that adds its own.
    pub fn new(
        name: impl Into<String>,
        base_url: &str,
        key: Option<&Secret>,
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
            headers.insert(HeaderName::from_static("x-goog-api-key"), value);
        }
        Ok(Self {
            name,
            base_url: base_url.trim_end_matches('/').to_owned(),
            headers,
            images: true,
            transport,
        })
    }

    /// The streaming URL for `model` (a bare id; `models/` prefix accepted).
    pub fn url(&self, model: &str) -> Result<String, ProviderError> {
        let model = model.strip_prefix("models/").unwrap_or(model);
        let path_safe = !model.is_empty()
            && model
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'));
        if !path_safe {
            return Err(ProviderError::InvalidRequest {
                provider: self.name.clone(),
                message: format!(
                    "`{model}` is not a Gemini model id (letters, digits, '-', '.', '_' only)"
                ),
            });
        }
        Ok(format!(
            "{}/v1beta/models/{model}:streamGenerateContent?alt=sse",
            self.base_url
        ))
    }
}

impl Gemini {
    /// Whether this endpoint accepts image input (default true).
    pub fn with_images(mut self, images: bool) -> Self {
        self.images = images;
        self
    }
}

impl fmt::Debug for Gemini {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Gemini")
            .field("name", &self.name)
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl ModelProvider for Gemini {
    fn name(&self) -> &str {
        &self.name
    }

    async fn complete(&self, request: &ModelRequest) -> Result<ModelResponse, ProviderError> {
        super::convert::check_images(&self.name, request, self.images)?;
        let url = self.url(&request.model)?;
        let body = request_body(&self.name, request)?;
        let collector = GeminiCollector::new(&self.name, &request.model);
        self.transport
            .collect(&self.name, &url, self.headers.clone(), &body, collector)
            .await
    }
}

/// What a tool result needs from the call it answers.
struct CallInfo<'a> {
    name: &'a str,
    gemini_id: Option<&'a Value>,
}

/// The request body for `streamGenerateContent`.
pub fn request_body(provider: &str, req: &ModelRequest) -> Result<Value, ProviderError> {
    let calls: HashMap<&str, CallInfo> = req
        .messages
        .iter()
        .flat_map(|m| &m.content)
        .filter_map(|b| match b {
            Block::ToolCall { id, name, meta, .. } => Some((
                id.as_str(),
                CallInfo {
                    name,
                    gemini_id: meta.as_ref().and_then(|m| m.get(META_ID)),
                },
            )),
            _ => None,
        })
        .collect();

    let mut contents = Vec::new();
    for message in &req.messages {
        let parts = match message.role {
            Role::User => user_parts(provider, &message.content, &calls)?,
            Role::Assistant => model_parts(provider, &message.content)?,
        };
        if !parts.is_empty() {
            let role = match message.role {
                Role::User => "user",
                Role::Assistant => "model",
            };
            contents.push(json!({"role": role, "parts": parts}));
        }
    }

    let mut body = Map::new();
    if !req.system.is_empty() {
        body.insert(
            "systemInstruction".into(),
            json!({"parts": [{"text": req.system}]}),
        );
    }
    body.insert("contents".into(), Value::Array(contents));
    if !req.tools.is_empty() {
        let declarations: Vec<Value> = req
            .tools
            .iter()
            .filter(|t| !super::hosted::is_web_search(t))
            .map(|t| {
                let mut d = json!({"name": t.name, "description": t.description});
                if let Some(parameters) = gemini_parameters(&t.input_schema) {
                    d["parameters"] = parameters;
                }
                d
            })
            .collect();
        let mut tools = Vec::new();
        if !declarations.is_empty() {
            tools.push(json!({"functionDeclarations": declarations}));
        }
        if req.tools.iter().any(super::hosted::is_web_search) {
            tools.push(super::hosted::gemini_google_search());
        }
        body.insert("tools".into(), Value::Array(tools));
    }
    let mut generation = Map::new();
    if let Some(t) = req.temperature {
        generation.insert("temperature".into(), temperature(t));
    }
    if let Some(m) = req.max_tokens {
        generation.insert("maxOutputTokens".into(), json!(m));
    }
    if !generation.is_empty() {
        body.insert("generationConfig".into(), Value::Object(generation));
    }
    Ok(Value::Object(body))
}

/// Function responses first (they answer the model's calls), then text and images.
fn user_parts(
    provider: &str,
    blocks: &[Block],
    calls: &HashMap<&str, CallInfo>,
) -> Result<Vec<Value>, ProviderError> {
    let mut responses = Vec::new();
    let mut rest = Vec::new();
    for block in blocks {
        match block {
            Block::ToolResult {
                call_id,
                content,
                is_error,
            } => {
                let call = calls.get(call_id.as_str()).ok_or_else(|| ProviderError::InvalidRequest {
                    provider: provider.to_owned(),
                    message: format!(
                        "tool result for call `{call_id}` answers no tool call in this conversation; Gemini needs the function's name"
                    ),
                })?;
                let key = if *is_error { "error" } else { "output" };
                let mut response = json!({"name": call.name, "response": {key: content}});
                if let Some(id) = call.gemini_id {
                    response["id"] = id.clone();
                }
                responses.push(json!({"functionResponse": response}));
            }
            Block::Text { text } if !text.is_empty() => rest.push(json!({"text": text})),
            Block::Text { .. } | Block::Reasoning { .. } => {}
            Block::Image { media_type, data } => {
                rest.push(json!({"inlineData": {"mimeType": media_type, "data": data}}))
            }
            Block::ToolCall { .. } => {
                return Err(ProviderError::InvalidRequest {
                    provider: provider.to_owned(),
                    message: "a tool call is in a user message; tool calls come from the assistant"
                        .into(),
                })
            }
        }
    }
    responses.extend(rest);
    Ok(responses)
}

fn model_parts(provider: &str, blocks: &[Block]) -> Result<Vec<Value>, ProviderError> {
    let mut parts = Vec::new();
    for block in blocks {
        match block {
            Block::Text { text } if !text.is_empty() => parts.push(json!({"text": text})),
            Block::Text { .. } | Block::Reasoning { .. } => {}
            Block::ToolCall {
                name, input, meta, ..
            } => {
                // Gemini takes only an object; arguments that were not JSON stay visible.
                let args = match input {
                    Value::Object(_) => input.clone(),
                    other => json!({"input": other}),
                };
                let mut call = json!({"name": name, "args": args});
                let meta = meta.as_ref();
                if let Some(id) = meta.and_then(|m| m.get(META_ID)) {
                    call["id"] = id.clone();
                }
                let mut part = json!({"functionCall": call});
                if let Some(sig) = meta.and_then(|m| m.get(META_SIGNATURE)) {
                    part[META_SIGNATURE] = sig.clone();
                }
                parts.push(part);
            }
            Block::Image { .. } => return Err(assistant_image_refused(provider)),
            Block::ToolResult { call_id, .. } => {
                return Err(misplaced_tool_result(provider, call_id))
            }
        }
    }
    Ok(parts)
}

/// Collects a `streamGenerateContent` SSE stream; each event is a partial response.
#[derive(Debug)]
pub struct GeminiCollector {
    provider: String,
    model: String,
    content: Vec<Block>,
    finish_reason: Option<String>,
    usage: Usage,
    /// Pages Google Search grounding cited: (url, title).
    sources: Vec<(String, String)>,
}

impl GeminiCollector {
    /// A collector for one call to `model`.
    pub fn new(provider: &str, model: &str) -> Self {
        Self {
            provider: provider.to_owned(),
            model: model.to_owned(),
            content: Vec::new(),
            finish_reason: None,
            usage: Usage::default(),
            sources: Vec::new(),
        }
    }

    fn part(&mut self, part: &Value) {
        // Thought summaries are not the answer.
        if part.get("thought").and_then(Value::as_bool) == Some(true) {
            return;
        }
        if let Some(text) = part.get("text").and_then(Value::as_str) {
            match self.content.last_mut() {
                Some(Block::Text { text: so_far }) => so_far.push_str(text),
                _ => self.content.push(Block::Text {
                    text: text.to_owned(),
                }),
            }
        } else if let Some(call) = part.get("functionCall") {
            let given_id = call
                .get("id")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty());
            let mut meta = Map::new();
            if let Some(id) = given_id {
                meta.insert(META_ID.into(), json!(id));
            }
            if let Some(sig) = part.get(META_SIGNATURE) {
                meta.insert(META_SIGNATURE.into(), sig.clone());
            }
            self.content.push(Block::ToolCall {
                id: given_id.map_or_else(
                    || format!("call_{}", uuid::Uuid::new_v4().simple()),
                    str::to_owned,
                ),
                name: call
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                input: call.get("args").cloned().unwrap_or_else(|| json!({})),
                meta: (!meta.is_empty()).then_some(Value::Object(meta)),
            });
        }
    }

    fn error(&self, error: &Value) -> ProviderError {
        let status = error
            .get("status")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let code = error.get("code").and_then(Value::as_u64);
        let retryable = matches!(
            status.as_deref(),
            Some("RESOURCE_EXHAUSTED" | "UNAVAILABLE" | "INTERNAL" | "DEADLINE_EXCEEDED")
        ) || code.is_some_and(|c| c == 429 || c >= 500);
        ProviderError::Api {
            provider: self.provider.clone(),
            code: status.or_else(|| code.map(|c| c.to_string())),
            message: error
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("error without a message")
                .to_owned(),
            retryable,
        }
    }
}

impl Collector for GeminiCollector {
    fn push(&mut self, frame: &Frame) -> Result<Flow, ProviderError> {
        if !frame.has_data() {
            return Ok(Flow::Continue);
        }
        let chunk = parse_data(&self.provider, frame)?;
        if let Some(error) = chunk.get("error") {
            return Err(self.error(error));
        }
        if let Some(reason) = chunk
            .pointer("/promptFeedback/blockReason")
            .and_then(Value::as_str)
        {
            return Err(ProviderError::Api {
                provider: self.provider.clone(),
                code: Some(reason.to_owned()),
                message: "Gemini blocked the prompt".into(),
                retryable: false,
            });
        }
        if let Some(chunks) = chunk
            .pointer("/candidates/0/groundingMetadata/groundingChunks")
            .and_then(Value::as_array)
        {
            for web in chunks.iter().filter_map(|c| c.get("web")) {
                let s = |k: &str| web[k].as_str().unwrap_or_default().to_string();
                self.sources.push((s("uri"), s("title")));
            }
        }
        if let Some(candidate) = chunk.pointer("/candidates/0") {
            let parts = candidate
                .pointer("/content/parts")
                .and_then(Value::as_array);
            for part in parts.into_iter().flatten() {
                self.part(part);
            }
            if let Some(reason) = candidate.get("finishReason").and_then(Value::as_str) {
                self.finish_reason = Some(reason.to_owned());
            }
        }
        if let Some(usage) = chunk.get("usageMetadata") {
            let n = |k: &str| usage.get(k).and_then(Value::as_u64).unwrap_or(0);
            self.usage = Usage {
                input_tokens: n("promptTokenCount"),
                // Thinking is billed as output.
                output_tokens: n("candidatesTokenCount") + n("thoughtsTokenCount"),
                cached_input_tokens: n("cachedContentTokenCount"),
            };
        }
        Ok(Flow::Continue)
    }

    fn finish(self, received: usize) -> Result<ModelResponse, ProviderError> {
        let Some(reason) = self.finish_reason else {
            return Err(ProviderError::Stream {
                provider: self.provider,
                received,
                cause: "stream closed before a finishReason".into(),
            });
        };
        let has_calls = self
            .content
            .iter()
            .any(|b| matches!(b, Block::ToolCall { .. }));
        let stop = match reason.as_str() {
            _ if has_calls => StopReason::ToolUse,
            "STOP" => StopReason::EndTurn,
            "MAX_TOKENS" => StopReason::MaxTokens,
            other => StopReason::Other(other.to_ascii_lowercase()),
        };
        let mut content = self.content;
        if let Some(text) = super::hosted::sources_note(&self.sources) {
            content.push(Block::Text { text });
        }
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
    use crate::providers::Message;

    #[test]
    fn request_translation() {
        let body = request_body("gemini", &conversation()).expect("translates");
        insta::assert_json_snapshot!(body);
    }

    #[test]
    fn user_images_are_inline_data() {
        let mut req = conversation();
        req.messages = vec![image_message(Role::User)];
        let body = request_body("gemini", &req).expect("ok");
        assert_eq!(
            body.pointer("/contents/0/parts/1/inlineData"),
            Some(&json!({"mimeType": "image/png", "data": "iVBORw0KGgo="}))
        );
    }

    #[test]
    fn a_result_for_an_unknown_call_is_refused_clearly() {
        let mut req = conversation();
        req.messages = vec![Message {
            role: Role::User,
            content: vec![Block::ToolResult {
                call_id: "call_zz".into(),
                content: "x".into(),
                is_error: false,
            }],
        }];
        let err = request_body("gemini", &req).unwrap_err();
        insta::assert_snapshot!(err.to_string());
    }

    #[test]
    fn model_ids_are_checked_before_they_reach_the_url() {
        let transport = Transport::new(Default::default()).expect("client");
        let g = Gemini::new(
            "gemini",
            "https://g.example/",
            Some(&Secret::new("k")),
            transport,
        )
        .expect("valid");
        assert_eq!(
            g.url("models/gemini-2.5-pro").expect("ok"),
            "https://g.example/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse"
        );
        assert!(g.url("../../admin?x").is_err());
        assert!(!format!("{g:?}").contains("\"k\""));
    }

    const STREAM: &str = concat!(
        "data: {\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"thinking about it\",\"thought\":true}]}}]}\n\n",
        "data: {\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"Let me \"}]}}]}\n\n",
        "data: {\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"check.\"}]}}]}\n\n",
        "data: {\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"functionCall\":{\"name\":\"Read\",\"args\":{\"file_path\":\"a.rs\"}},\"thoughtSignature\":\"CiQBVKhc7-sig\"},{\"functionCall\":{\"id\":\"gem-7\",\"name\":\"Glob\",\"args\":{\"pattern\":\"*.rs\"}}}]},\"finishReason\":\"STOP\"}],",
        "\"usageMetadata\":{\"promptTokenCount\":400,\"candidatesTokenCount\":30,\"thoughtsTokenCount\":20,\"cachedContentTokenCount\":100,\"totalTokenCount\":450},\"modelVersion\":\"gemini-2.5-pro\"}\n\n",
    );

    /// Generated ids are random: check their form, then pin them for the snapshot.
    fn pin_generated_ids(r: &mut ModelResponse) {
        for block in &mut r.content {
            if let Block::ToolCall { id, meta, .. } = block {
                if meta.as_ref().and_then(|m| m.get(META_ID)).is_none() {
                    assert!(id.starts_with("call_") && id.len() == 37, "{id}");
                    *id = "call_<generated>".into();
                }
            }
        }
    }

    #[test]
    fn stream_translation() {
        let mut r = collect_text(GeminiCollector::new("gemini", "gemini-2.5-pro"), STREAM)
            .expect("collects");
        pin_generated_ids(&mut r);
        insta::assert_json_snapshot!(r);
    }

    #[test]
    fn thought_signature_and_ids_round_trip() {
        let r = collect_text(GeminiCollector::new("gemini", "m"), STREAM).expect("ok");
        let ids: Vec<String> = r.tool_calls().map(|(id, _, _)| id.to_owned()).collect();
        let mut req = conversation();
        req.messages = vec![
            Message::user_text("go"),
            Message {
                role: Role::Assistant,
                content: r.content.clone(),
            },
            Message {
                role: Role::User,
                content: ids
                    .iter()
                    .map(|id| Block::ToolResult {
                        call_id: id.clone(),
                        content: "done".into(),
                        is_error: false,
                    })
                    .collect(),
            },
        ];
        let body = request_body("gemini", &req).expect("ok");
        let model = &body["contents"][1]["parts"];
        assert_eq!(model[1]["thoughtSignature"], json!("CiQBVKhc7-sig"));
        assert!(
            model[1]["functionCall"].get("id").is_none(),
            "a generated id is ours, not Gemini's"
        );
        assert_eq!(model[2]["functionCall"]["id"], json!("gem-7"));
        let answers = &body["contents"][2]["parts"];
        assert_eq!(answers[0]["functionResponse"]["name"], json!("Read"));
        assert_eq!(answers[1]["functionResponse"]["name"], json!("Glob"));
        assert_eq!(answers[1]["functionResponse"]["id"], json!("gem-7"));
    }

    #[test]
    fn errors_blocks_and_cut_streams() {
        let quota = "data: {\"error\":{\"code\":429,\"message\":\"Resource has been exhausted\",\"status\":\"RESOURCE_EXHAUSTED\"}}\n\n";
        let e1 = collect_text(GeminiCollector::new("gemini", "m"), quota).unwrap_err();
        assert!(e1.is_retryable());
        let blocked = "data: {\"promptFeedback\":{\"blockReason\":\"SAFETY\"}}\n\n";
        let e2 = collect_text(GeminiCollector::new("gemini", "m"), blocked).unwrap_err();
        assert!(!e2.is_retryable());
        let cut = "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"half\"}]}}]}\n\n";
        let e3 = collect_text(GeminiCollector::new("gemini", "m"), cut).unwrap_err();
        assert!(e3.is_retryable());
        insta::assert_snapshot!(format!("{e1}\n{e2}\n{e3}"));
    }
}
