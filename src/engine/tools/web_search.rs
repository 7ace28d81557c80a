//! `WebSearch`: searching the web is done by the model's provider, where it hosts a
//! search tool. Each provider's translation puts its own in the place of this spec
//! (`providers::hosted`): the Responses API's `web_search`, Anthropic's `web_search`
//! server tool, Gemini's `google_search`. Only a provider without one (Chat
//! Completions) offers this function, and a call of it gets an error result that
//! says why.

use async_trait::async_trait;
use serde_json::{json, Value};

use super::{Tool, ToolContext, ToolError};

pub struct WebSearch;

/// The tool's name, as agents list it.
pub const WEB_SEARCH: &str = "WebSearch";

#[async_trait]
impl Tool for WebSearch {
    fn name(&self) -> &'static str {
        WEB_SEARCH
    }

    fn description(&self) -> &'static str {
        "Search the web and get results with their sources."
    }

    fn input_schema(&self) -> Value {
        json!({
            "type": "object",
            "properties": {
                "query": {"type": "string", "description": "What to search for"}
            },
            "required": ["query"],
            "additionalProperties": false
        })
    }

    fn read_only(&self) -> bool {
        true
    }

    async fn call(&self, _input: Value, _ctx: &ToolContext) -> Result<String, ToolError> {
        Err(ToolError::Failed(
            "WebSearch is not available with this model's provider: it speaks the Chat \
             Completions API, which has no hosted search. Use WebFetch on a URL you know, \
             or give the agent a model on OpenAI, Anthropic or Gemini"
                .into(),
        ))
    }
}
