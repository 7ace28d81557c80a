//! Neutral message and tool types: what a subagent says to any model provider.
//!
//! Every provider translates from and to these, so the engine never sees a
//! provider's dialect. Provider-specific state that must survive a round trip
//! (Gemini's `thoughtSignature`, OpenAI's encrypted reasoning) rides in `meta`
//! or in a `Reasoning` block and is only read back by the provider that wrote it.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One model call.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelRequest {
    /// The model id as the provider knows it (aliases are resolved before this point).
    pub model: String,
    /// System prompt.
    pub system: String,
    pub messages: Vec<Message>,
    pub tools: Vec<ToolSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// A JSON schema the final answer must follow (structured output), named. Sent
    /// where the provider takes one (Responses, Chat Completions); elsewhere the
    /// answer is read as plain text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_schema: Option<(String, Value)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Assistant,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub role: Role,
    pub content: Vec<Block>,
}

impl Message {
    pub fn user_text(text: impl Into<String>) -> Self {
        Self {
            role: Role::User,
            content: vec![Block::Text { text: text.into() }],
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Block {
    Text {
        text: String,
    },
    /// Base64 image. Providers that cannot take images refuse it with
    /// `ProviderError::Unsupported` rather than dropping it.
    Image {
        media_type: String,
        data: String,
    },
    ToolCall {
        id: String,
        name: String,
        input: Value,
        /// Provider-owned round-trip state (e.g. Gemini `thoughtSignature`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        meta: Option<Value>,
    },
    ToolResult {
        call_id: String,
        content: String,
        #[serde(default)]
        is_error: bool,
    },
    /// Opaque reasoning state replayed to the provider that produced it.
    Reasoning {
        provider: String,
        data: Value,
    },
}

/// A tool offered to the model; `input_schema` is a JSON schema object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolSpec {
    pub name: String,
    pub description: String,
    pub input_schema: Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelResponse {
    pub content: Vec<Block>,
    pub stop: StopReason,
    pub usage: Usage,
    /// Which provider and model actually answered (after fallback).
    pub provider: String,
    pub model: String,
}

impl ModelResponse {
    /// The text blocks, joined.
    pub fn text(&self) -> String {
        self.content
            .iter()
            .filter_map(|b| match b {
                Block::Text { text } => Some(text.as_str()),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join("")
    }

    pub fn tool_calls(&self) -> impl Iterator<Item = (&str, &str, &Value)> {
        self.content.iter().filter_map(|b| match b {
            Block::ToolCall {
                id, name, input, ..
            } => Some((id.as_str(), name.as_str(), input)),
            _ => None,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    EndTurn,
    ToolUse,
    MaxTokens,
    Other(String),
}

/// Tokens one call used, the same way for every provider.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Every prompt token, cache reads and writes included (Anthropic reports
    /// those apart; its collector adds them in).
    pub input_tokens: u64,
    /// Generated tokens, reasoning / thinking included.
    pub output_tokens: u64,
    /// The part of `input_tokens` read from the provider's prompt cache.
    #[serde(default)]
    pub cached_input_tokens: u64,
}

impl Usage {
    pub fn total(&self) -> u64 {
        self.input_tokens + self.output_tokens
    }

    pub fn add(&mut self, other: &Usage) {
        self.input_tokens += other.input_tokens;
        self.output_tokens += other.output_tokens;
        self.cached_input_tokens += other.cached_input_tokens;
    }
}
