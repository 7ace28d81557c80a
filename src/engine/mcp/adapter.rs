//! MCP tools as a subagent's model sees them: names, specs, and results. Pure.

use serde_json::Value;

use crate::engine::tools::output::cap_head;
use crate::providers::ToolSpec;

/// Providers cap function names at 64 characters of `[A-Za-z0-9_-]` (OpenAI, Gemini).
const MAX_NAME: usize = 64;
/// Bytes of base64 image data one result may carry; providers refuse larger requests.
pub const MAX_IMAGE_BYTES: usize = 5 * 1024 * 1024;

/// A name part as Claude Code writes it: anything outside `[A-Za-z0-9_-]` becomes `_`.
pub fn normalize(part: &str) -> String {
    part.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// `mcp__<server>__<tool>`.
pub fn tool_name(server: &str, tool: &str) -> String {
    format!("mcp__{}__{}", normalize(server), normalize(tool))
}

/// The server part of an `mcp__<server>` or `mcp__<server>__<tool>` entry.
pub fn server_of(entry: &str) -> Option<&str> {
    let rest = entry.strip_prefix("mcp__")?;
    let server = rest.split("__").next().unwrap_or(rest);
    (!server.is_empty() && server != "*").then_some(server)
}

/// Why a server's tool is not offered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    #[error("its name `{0}` is longer than the {MAX_NAME} characters providers accept")]
    NameTooLong(String),
    #[error(
        "its input schema is not an object schema (`type` is {0}); providers take only objects"
    )]
    NotAnObject(String),
}

/// The spec offered to the model, or why the tool cannot be offered. Keywords some
/// providers reject (Gemini) are rewritten by the providers themselves
/// (`providers/schema.rs`); a schema that is not an object at all cannot be.
pub fn spec(server: &str, tool: &rmcp::model::Tool) -> Result<ToolSpec, SpecError> {
    let name = tool_name(server, &tool.name);
    if name.len() > MAX_NAME {
        return Err(SpecError::NameTooLong(name));
    }
    let schema = Value::Object((*tool.input_schema).clone());
    match schema.get("type") {
        None => {}
        Some(Value::String(t)) if t == "object" => {}
        Some(other) => return Err(SpecError::NotAnObject(other.to_string())),
    }
    let description = tool
        .description
        .as_deref()
        .or(tool.title.as_deref())
        .unwrap_or_default();
    Ok(ToolSpec {
        name,
        description: format!(
            "{description}\n\n(MCP tool `{}` of server `{server}`)",
            tool.name
        )
        .trim_start()
        .to_string(),
        input_schema: schema,
    })
}

/// An image a tool returned, base64.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    pub media_type: String,
    pub data: String,
}

/// A `CallToolResult` (as JSON) for the model: its text, capped at `cap` bytes with a
/// note, and its images (attached after the tool results, the one place every
/// provider takes images). Kinds a model cannot take (audio, binary resources) are
/// named in the text instead.
pub fn result(result: &Value, cap: usize) -> (String, Vec<Image>, bool) {
    let is_error = result.get("isError").and_then(Value::as_bool) == Some(true);
    let mut parts: Vec<String> = Vec::new();
    let mut images = Vec::new();
    let mut image_bytes = 0usize;
    let content = result
        .get("content")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    for block in content {
        let text = |key: &str| block.get(key).and_then(Value::as_str).unwrap_or_default();
        match text("type") {
            "text" => parts.push(text("text").to_string()),
            "image" => {
                let (media_type, data) = (text("mimeType"), text("data"));
                if image_bytes + data.len() > MAX_IMAGE_BYTES {
                    parts.push(format!(
                        "[image ({media_type}, {} bytes) not attached: the result's images passed {} MiB]",
                        data.len(),
                        MAX_IMAGE_BYTES / (1024 * 1024)
                    ));
                    continue;
                }
                image_bytes += data.len();
                images.push(Image {
                    media_type: media_type.to_string(),
                    data: data.to_string(),
                });
                parts.push(format!(
                    "[image {} ({media_type}) attached after the tool results]",
                    images.len()
                ));
            }
            "audio" => parts.push(format!(
                "[audio ({}) omitted: models here take no audio]",
                text("mimeType")
            )),
            "resource" => {
                let resource = &block["resource"];
                let uri = resource.get("uri").and_then(Value::as_str).unwrap_or("?");
                match resource.get("text").and_then(Value::as_str) {
                    Some(body) => parts.push(format!("[resource {uri}]\n{body}")),
                    None => parts.push(format!("[binary resource {uri} omitted]")),
                }
            }
            "resource_link" => parts.push(format!("[resource link: {}]", text("uri"))),
            other => parts.push(format!("[content of type `{other}` omitted]")),
        }
    }
    if parts.is_empty() {
        // Structured output only: the model reads the JSON.
        if let Some(structured) = result.get("structuredContent").filter(|v| !v.is_null()) {
            parts.push(structured.to_string());
        }
    }
    (cap_head(&parts.join("\n"), cap), images, is_error)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tool(name: &str, schema: Value) -> rmcp::model::Tool {
        let schema = match schema {
            Value::Object(map) => map,
            _ => Default::default(),
        };
        rmcp::model::Tool::new(name.to_string(), "Echoes", std::sync::Arc::new(schema))
    }

    #[test]
    fn names_are_normalised_like_claude_code() {
        assert_eq!(tool_name("demo", "echo"), "mcp__demo__echo");
        assert_eq!(
            tool_name("my.server", "get file"),
            "mcp__my_server__get_file"
        );
        assert_eq!(server_of("mcp__demo__echo"), Some("demo"));
        assert_eq!(server_of("mcp__demo"), Some("demo"));
        assert_eq!(server_of("mcp__*"), None);
        assert_eq!(server_of("Read"), None);
    }

    #[test]
    fn specs_keep_object_schemas_and_name_what_they_drop() {
        let ok = spec(
            "demo",
            &tool(
                "echo",
                json!({"type": "object", "properties": {"text": {"type": "string"}}}),
            ),
        );
        let ok = ok.map_err(|e| e.to_string());
        assert_eq!(ok.as_ref().map(|s| s.name.as_str()), Ok("mcp__demo__echo"));
        assert!(ok
            .as_ref()
            .is_ok_and(|s| s.description.starts_with("Echoes")));
        let not_object = spec("demo", &tool("s", json!({"type": "string"})));
        assert_eq!(
            not_object.map_err(|e| e.to_string()),
            Err("its input schema is not an object schema (`type` is \"string\"); providers take only objects".into())
        );
        let long = spec("demo", &tool(&"x".repeat(70), json!({"type": "object"})));
        assert!(matches!(long, Err(SpecError::NameTooLong(_))));
    }

    /// The engine puts an MCP result's images after the turn's tool results; each
    /// provider must send them there, in its own shape, after every result.
    #[test]
    fn every_provider_sends_images_after_the_tool_results() {
        use crate::providers::test_fixtures::conversation;
        use crate::providers::{anthropic, chat_completions, gemini, openai_responses, Block};
        let mut req = conversation();
        let last = req.messages.len() - 1;
        req.messages[last].content.push(Block::Image {
            media_type: "image/png".into(),
            data: "iVBORw0KGgo=".into(),
        });
        let data_url = "data:image/png;base64,iVBORw0KGgo=";

        let body = openai_responses::request_body("openai", &req, true).unwrap();
        let input = body["input"].as_array().unwrap();
        let n = input.len();
        assert_eq!(input[n - 2]["type"], "function_call_output");
        assert_eq!(input[n - 1]["content"][0]["image_url"], data_url);

        let body = chat_completions::request_body("chat", &req).unwrap();
        let messages = body["messages"].as_array().unwrap();
        let n = messages.len();
        assert_eq!(messages[n - 2]["role"], "tool");
        assert_eq!(messages[n - 1]["role"], "user");
        assert_eq!(messages[n - 1]["content"][0]["image_url"]["url"], data_url);

        let body = anthropic::request_body("anthropic", &req, 1024).unwrap();
        let content = body["messages"][last]["content"].as_array().unwrap();
        let kinds: Vec<&str> = content.iter().filter_map(|b| b["type"].as_str()).collect();
        assert_eq!(kinds, ["tool_result", "tool_result", "image"]);

        let body = gemini::request_body("gemini", &req).unwrap();
        let contents = body["contents"].as_array().unwrap();
        let parts = contents[contents.len() - 1]["parts"].as_array().unwrap();
        assert!(parts[0].get("functionResponse").is_some());
        assert!(parts[1].get("functionResponse").is_some());
        assert_eq!(parts[2]["inlineData"]["data"], "iVBORw0KGgo=");
    }

    #[test]
    fn results_keep_text_and_images_and_are_capped() {
        let r = json!({"content": [
            {"type": "text", "text": "hello"},
            {"type": "image", "mimeType": "image/png", "data": "iVBORw0KGgo="},
            {"type": "audio", "mimeType": "audio/wav", "data": "AAAA"},
            {"type": "resource", "resource": {"uri": "file:///a.txt", "text": "body"}},
        ]});
        let (text, images, is_error) = result(&r, 1000);
        assert!(!is_error);
        assert_eq!(
            text,
            "hello\n[image 1 (image/png) attached after the tool results]\n[audio (audio/wav) omitted: models here take no audio]\n[resource file:///a.txt]\nbody"
        );
        assert_eq!(
            images,
            [Image {
                media_type: "image/png".into(),
                data: "iVBORw0KGgo=".into()
            }]
        );
        let big = json!({"content": [{"type": "text", "text": "x".repeat(100)}], "isError": true});
        let (text, _, is_error) = result(&big, 10);
        assert!(is_error);
        assert!(
            text.starts_with("xxxxxxxxxx\n\n[output truncated: 90 of 100 bytes not shown]"),
            "{text}"
        );
        let structured = json!({"content": [], "structuredContent": {"n": 1}});
        assert_eq!(result(&structured, 100).0, "{\"n\":1}");
    }
}
