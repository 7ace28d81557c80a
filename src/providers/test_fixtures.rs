//! One conversation every provider's golden tests translate, so their snapshots
//! can be read side by side.

use serde_json::json;

use super::{Block, Message, ModelRequest, Role, ToolSpec};

/// A two-turn tool conversation: text, parallel tool calls (one failing), reasoning
/// state from two providers, and Gemini's thought signature on a call.
pub fn conversation() -> ModelRequest {
    ModelRequest {
        model: "test-model".into(),
        system: "You are a code reviewer.".into(),
        messages: vec![
            Message::user_text("Review src/main.rs"),
            Message {
                role: Role::Assistant,
                content: vec![
                    Block::Reasoning {
                        provider: "openai_responses:openai".into(),
                        data: json!({"id": "rs_1", "type": "reasoning", "summary": [], "encrypted_content": "enc-1"}),
                    },
                    Block::Reasoning {
                        provider: "anthropic".into(),
                        data: json!({"type": "thinking", "thinking": "Read it first.", "signature": "sig-a"}),
                    },
                    Block::Text {
                        text: "Reading the file.".into(),
                    },
                    Block::ToolCall {
                        id: "call_1".into(),
                        name: "Read".into(),
                        input: json!({"file_path": "src/main.rs"}),
                        meta: Some(json!({"thoughtSignature": "gem-sig-1"})),
                    },
                    Block::ToolCall {
                        id: "call_2".into(),
                        name: "Grep".into(),
                        input: json!({"pattern": "unwrap"}),
                        meta: None,
                    },
                ],
            },
            Message {
                role: Role::User,
                content: vec![
                    Block::ToolResult {
                        call_id: "call_1".into(),
                        content: "fn main() {}".into(),
                        is_error: false,
                    },
                    Block::ToolResult {
                        call_id: "call_2".into(),
                        content: "grep: invalid regex".into(),
                        is_error: true,
                    },
                ],
            },
        ],
        tools: vec![
            ToolSpec {
                name: "Read".into(),
                description: "Read a file".into(),
                input_schema: json!({
                    "$schema": "https://json-schema.org/draft/2020-12/schema",
                    "type": "object",
                    "properties": {
                        "file_path": {"type": "string", "description": "Absolute path"},
                        "limit": {"type": ["integer", "null"]}
                    },
                    "required": ["file_path"],
                    "additionalProperties": false
                }),
            },
            ToolSpec {
                name: "Grep".into(),
                description: "Search files".into(),
                input_schema: json!({
                    "type": "object",
                    "properties": {"pattern": {"type": "string"}},
                    "required": ["pattern"]
                }),
            },
        ],
        temperature: Some(0.2),
        max_tokens: Some(1024),
        output_schema: None,
    }
}

/// A message with text and a PNG image from `role`.
pub fn image_message(role: Role) -> Message {
    Message {
        role,
        content: vec![
            Block::Text {
                text: "What is in this picture?".into(),
            },
            Block::Image {
                media_type: "image/png".into(),
                data: "iVBORw0KGgo=".into(),
            },
        ],
    }
}
