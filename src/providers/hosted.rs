//! Tools a provider runs itself, in the place of the neutral spec the engine offers:
//! `WebSearch` becomes the provider's hosted web search. What the search found comes
//! back as text; its sources are listed after the answer (`sources_note`).

use serde_json::{json, Value};

use super::ToolSpec;

/// The engine's spec for web search (`engine::tools::web_search`).
pub fn is_web_search(spec: &ToolSpec) -> bool {
    spec.name == "WebSearch"
}

/// The Responses API's hosted search.
pub fn openai_web_search() -> Value {
    json!({"type": "web_search"})
}

/// Anthropic's web search server tool.
pub fn anthropic_web_search() -> Value {
    json!({"type": "web_search_20250305", "name": "web_search", "max_uses": 5})
}

/// Gemini's Google Search grounding.
pub fn gemini_google_search() -> Value {
    json!({"google_search": {}})
}

/// The sources a search cited, as a note after the answer (none: nothing).
pub fn sources_note(sources: &[(String, String)]) -> Option<String> {
    if sources.is_empty() {
        return None;
    }
    let mut seen: Vec<&str> = Vec::new();
    let mut lines = Vec::new();
    for (url, title) in sources {
        if url.is_empty() || seen.contains(&url.as_str()) {
            continue;
        }
        seen.push(url);
        lines.push(if title.is_empty() {
            format!("- {url}")
        } else {
            format!("- {title}: {url}")
        });
    }
    Some(format!("\n\nSources:\n{}", lines.join("\n")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_are_listed_once_each() {
        let note = sources_note(&[
            ("https://a.example/x".into(), "A".into()),
            ("https://a.example/x".into(), "A again".into()),
            ("https://b.example".into(), String::new()),
        ])
        .unwrap();
        assert_eq!(
            note,
            "\n\nSources:\n- A: https://a.example/x\n- https://b.example"
        );
        assert_eq!(sources_note(&[]), None);
    }
}

#[cfg(test)]
mod provider_tests {
    //! Each provider's request carries its own hosted search in place of `WebSearch`,
    //! and what the search cited comes back as the answer's sources.
    use serde_json::{json, Value};

    use crate::engine::tools::web_search::WebSearch;
    use crate::engine::tools::Tool;
    use crate::providers::test_fixtures::conversation;
    use crate::providers::transport::collect_text;
    use crate::providers::{anthropic, chat_completions, gemini, openai_responses, Block};
    use crate::providers::{ModelRequest, ToolSpec};

    fn with_search() -> ModelRequest {
        let mut req = conversation();
        let t = WebSearch;
        req.tools.push(ToolSpec {
            name: t.name().into(),
            description: t.description().into(),
            input_schema: t.input_schema(),
        });
        req
    }

    fn names(tools: &Value) -> Vec<String> {
        tools
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t["name"].as_str().or(t["function"]["name"].as_str()))
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn each_provider_gets_its_own_search_tool() {
        let openai = openai_responses::request_body("openai", &with_search(), true).unwrap();
        let tools = openai["tools"].as_array().unwrap();
        assert!(tools.contains(&json!({"type": "web_search"})), "{tools:?}");
        assert!(!names(&openai["tools"]).contains(&"WebSearch".to_string()));

        let claude = anthropic::request_body("anthropic", &with_search(), 4096).unwrap();
        let tools = claude["tools"].as_array().unwrap();
        assert!(
            tools
                .iter()
                .any(|t| t["type"] == "web_search_20250305" && t["name"] == "web_search"),
            "{tools:?}"
        );
        assert!(!names(&claude["tools"]).contains(&"WebSearch".to_string()));

        let gem = gemini::request_body("gemini", &with_search()).unwrap();
        let tools = gem["tools"].as_array().unwrap();
        assert!(tools.contains(&json!({"google_search": {}})), "{tools:?}");
        let declared: Vec<&str> = tools[0]["functionDeclarations"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|d| d["name"].as_str())
            .collect();
        assert!(!declared.contains(&"WebSearch"));

        // No hosted search: the function stays, and calling it is an error result.
        let chat = chat_completions::request_body("chat", &with_search()).unwrap();
        assert!(names(&chat["tools"]).contains(&"WebSearch".to_string()));
    }

    fn sources_of(content: &[Block]) -> String {
        content
            .iter()
            .filter_map(|b| match b {
                Block::Text { text } => Some(text.as_str()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn what_a_search_cited_is_kept_as_sources() {
        let openai = concat!(
            "data: {\"type\":\"response.output_item.done\",\"output_index\":0,\"item\":{\"type\":\"web_search_call\",\"id\":\"ws_1\",\"status\":\"completed\"}}\n\n",
            "data: {\"type\":\"response.output_item.done\",\"output_index\":1,\"item\":{\"type\":\"message\",\"role\":\"assistant\",\"content\":[{\"type\":\"output_text\",\"text\":\"Rust 1.90 is out.\",\"annotations\":[{\"type\":\"url_citation\",\"url\":\"https://blog.rust-lang.org\",\"title\":\"Rust Blog\"}]}]}}\n\n",
            "data: {\"type\":\"response.completed\",\"response\":{\"usage\":{\"input_tokens\":1,\"output_tokens\":1}}}\n\n",
        );
        let r = collect_text(
            openai_responses::ResponsesCollector::new("openai", "m"),
            openai,
        )
        .unwrap();
        assert_eq!(
            sources_of(&r.content),
            "Rust 1.90 is out.\n\nSources:\n- Rust Blog: https://blog.rust-lang.org"
        );

        let claude = concat!(
            "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"server_tool_use\",\"id\":\"srv_1\",\"name\":\"web_search\",\"input\":{\"query\":\"rust\"}}}\n\n",
            "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"web_search_tool_result\",\"tool_use_id\":\"srv_1\",\"content\":[{\"type\":\"web_search_result\",\"url\":\"https://www.rust-lang.org\",\"title\":\"Rust\"}]}}\n\n",
            "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":2,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
            "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":2,\"delta\":{\"type\":\"text_delta\",\"text\":\"Found it.\"}}\n\n",
            "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":3}}\n\n",
            "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
        );
        let r = collect_text(anthropic::AnthropicCollector::new("anthropic", "m"), claude).unwrap();
        assert!(
            !r.content
                .iter()
                .any(|b| matches!(b, Block::ToolCall { .. })),
            "a server tool is not ours to run"
        );
        assert_eq!(
            sources_of(&r.content),
            "Found it.\n\nSources:\n- Rust: https://www.rust-lang.org"
        );

        let gem = "data: {\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"Yes.\"}]},\"finishReason\":\"STOP\",\"groundingMetadata\":{\"groundingChunks\":[{\"web\":{\"uri\":\"https://g.example/r\",\"title\":\"g.example\"}}]}}],\"usageMetadata\":{\"promptTokenCount\":1,\"candidatesTokenCount\":1}}\n\n";
        let r = collect_text(gemini::GeminiCollector::new("gemini", "m"), gem).unwrap();
        assert_eq!(
            sources_of(&r.content),
            "Yes.\n\nSources:\n- g.example: https://g.example/r"
        );
    }
}
