//! Responses API stream events: the head fields the proxy routes on, and builders
//! for the events it writes itself.

use std::borrow::Cow;

use bytes::Bytes;
use serde::Deserialize;
use serde_json::{json, Value};

use super::request::{borrowed, ItemHead};
use super::sse;

/// The fields of an event the proxy acts on; the rest stays in the raw frame.
#[derive(Debug, Deserialize)]
pub struct EventHead<'a> {
    #[serde(rename = "type", borrow)]
    pub kind: Cow<'a, str>,
    #[serde(default)]
    pub sequence_number: Option<u64>,
    #[serde(default)]
    pub output_index: Option<u64>,
    #[serde(borrow, default)]
    pub item: Option<ItemHead<'a>>,
    #[serde(borrow, default, deserialize_with = "borrowed")]
    pub item_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub response: Option<ResponseHead<'a>>,
}

#[derive(Debug, Deserialize)]
pub struct ResponseHead<'a> {
    #[serde(borrow, default, deserialize_with = "borrowed")]
    pub id: Option<Cow<'a, str>>,
}

impl<'a> EventHead<'a> {
    /// None for data that is not a JSON object with a string `type`.
    pub fn parse(data: &'a str) -> Option<EventHead<'a>> {
        serde_json::from_str(data).ok()
    }
}

/// Writes an event the way the upstream does (`event:` line + one `data:` line).
pub fn to_sse(event: &Value) -> Bytes {
    let kind = event.get("type").and_then(Value::as_str);
    sse::encode(kind, &event.to_string())
}

/// `response.failed`: ends a turn with a reason Codex shows the user.
pub fn response_failed(response_id: &str, code: &str, message: &str) -> Value {
    json!({
        "type": "response.failed",
        "response": {
            "id": response_id,
            "object": "response",
            "status": "failed",
            "error": { "code": code, "message": message },
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_of_an_output_item_event() {
        let data = r#"{"type":"response.output_item.done","sequence_number":7,"output_index":2,"item":{"type":"function_call","name":"Task","call_id":"c1","arguments":"{\"a\":1}"}}"#;
        let h = EventHead::parse(data).unwrap();
        assert_eq!(h.kind, "response.output_item.done");
        assert_eq!(h.sequence_number, Some(7));
        assert_eq!(h.output_index, Some(2));
        let item = h.item.unwrap();
        assert_eq!(item.name.as_deref(), Some("Task"));
        assert_eq!(item.call_id.as_deref(), Some("c1"));
    }

    #[test]
    fn head_of_created_and_garbage() {
        let h =
            EventHead::parse(r#"{"type":"response.created","response":{"id":"resp_9","x":[1]}}"#)
                .unwrap();
        assert_eq!(h.response.unwrap().id.as_deref(), Some("resp_9"));
        assert!(EventHead::parse("[DONE]").is_none());
        assert!(EventHead::parse(r#"{"no_type":1}"#).is_none());
    }

    #[test]
    fn failed_event_is_valid_sse_that_codex_reads() {
        let bytes = to_sse(&response_failed("resp_1", "upstream_error", "boom"));
        let text = std::str::from_utf8(&bytes).unwrap();
        assert!(text.starts_with("event: response.failed\ndata: {"));
        assert!(text.ends_with("\n\n"));
        let data: Value =
            serde_json::from_str(text.lines().nth(1).unwrap().trim_start_matches("data: "))
                .unwrap();
        assert_eq!(data["response"]["error"]["message"], "boom");
    }
}
