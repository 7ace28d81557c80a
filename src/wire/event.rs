//! Responses API stream events: the head fields the proxy routes on, and builders
//! for the events it writes itself.

use std::borrow::Cow;

use bytes::Bytes;
use serde_json::{json, Value};

use super::request::{json_text, ItemHead};
use super::scan::{self, ScanError};
use super::sse;

/// The fields of an event the proxy acts on; the rest stays in the raw frame.
#[derive(Debug)]
pub struct EventHead<'a> {
    pub kind: Cow<'a, str>,
    pub sequence_number: Option<u64>,
    pub output_index: Option<u64>,
    pub item: Option<ItemHead<'a>>,
    pub item_id: Option<Cow<'a, str>>,
    pub response: Option<ResponseHead<'a>>,
}

#[derive(Debug)]
pub struct ResponseHead<'a> {
    pub id: Option<Cow<'a, str>>,
}

impl<'a> EventHead<'a> {
    /// None for data that is not a JSON object with a string `type`. Read with the
    /// scanner: `response.completed` carries the whole response (every output item
    /// and its text), and only the id of it is wanted.
    pub fn parse(data: &'a str) -> Option<EventHead<'a>> {
        let b = data.as_bytes();
        let mut kind = None;
        let mut head = EventHead {
            kind: Cow::Borrowed(""),
            sequence_number: None,
            output_index: None,
            item: None,
            item_id: None,
            response: None,
        };
        let end = scan::walk_object(b, 0, |key, value| {
            let field = &b[key];
            // `get`: a cut-off event ends right after the colon.
            let end = match (field, b.get(value)) {
                (br#""item""#, Some(b'{')) => {
                    let (item, end) = ItemHead::scan(b, value)?;
                    head.item = Some(item);
                    return Ok(end);
                }
                (br#""response""#, Some(b'{')) => {
                    let (response, end) = ItemHead::scan(b, value)?;
                    head.response = Some(ResponseHead { id: response.id });
                    return Ok(end);
                }
                _ => scan::value_end(b, value)?,
            };
            let v = &b[value..end];
            match field {
                br#""type""# => kind = json_text(v),
                br#""sequence_number""# => head.sequence_number = count(v, value)?,
                br#""output_index""# => head.output_index = count(v, value)?,
                br#""item_id""# => head.item_id = json_text(v),
                _ => {}
            }
            Ok::<_, ScanError>(end)
        })
        .ok()?;
        scan::expect_end(b, end).ok()?;
        head.kind = kind?;
        Some(head)
    }
}

/// A count field: a non-negative integer, or null (absent).
fn count(v: &[u8], at: usize) -> Result<Option<u64>, ScanError> {
    if v == b"null" {
        return Ok(None);
    }
    std::str::from_utf8(v)
        .ok()
        .and_then(|n| n.parse().ok())
        .map(Some)
        .ok_or(ScanError {
            at,
            what: "expected a count",
        })
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
    fn head_fields_of_every_kind() {
        let h = EventHead::parse(
            r#" {"item_id":"it\"1","type":"response.output_text.delta","output_index":null,
                "sequence_number":3,"delta":"a \"quoted\" }{ text","item":null} "#,
        )
        .unwrap();
        assert_eq!(h.kind, "response.output_text.delta");
        assert_eq!(h.item_id.as_deref(), Some("it\"1"));
        assert_eq!((h.sequence_number, h.output_index), (Some(3), None));
        assert!(h.item.is_none() && h.response.is_none());

        // Only the id of a whole response is read; its output is skipped.
        let completed = r#"{"type":"response.completed","response":{"output":[{"id":"x","content":[{"text":"}\\"}]}],"id":"resp_2"}}"#;
        let h = EventHead::parse(completed).unwrap();
        assert_eq!(h.response.unwrap().id.as_deref(), Some("resp_2"));
    }

    #[test]
    fn events_without_a_usable_head() {
        for data in [
            r#"{"type":1}"#,
            r#"{"type":"x","sequence_number":-1}"#,
            r#"{"type":"x","output_index":"2"}"#,
            r#"{"type":"x"} trailing"#,
            r#"{"type":"x""#,
            r#"{"type":"x","item":"#,
            r#"{"type":"x","response":"#,
            "",
        ] {
            assert!(EventHead::parse(data).is_none(), "{data}");
        }
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
