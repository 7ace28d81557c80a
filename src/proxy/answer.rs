//! A turn the proxy answers itself, without the upstream: a whole Responses stream
//! with one assistant message (a prompt a hook refused, for instance). Codex shows it
//! as the turn's answer, not as an HTTP error.

use axum::body::Body;
use axum::response::Response;
use bytes::BytesMut;
use http::header;
use serde_json::json;

use crate::wire::event::to_sse;

/// The events of a response holding one assistant message with `text`.
pub fn events(text: &str) -> Vec<serde_json::Value> {
    let response_id = format!("resp_cxp_{}", uuid::Uuid::new_v4().simple());
    let item_id = format!("msg_cxp_answer_{}", uuid::Uuid::new_v4().simple());
    let item = json!({"type": "message", "id": item_id, "role": "assistant", "status": "completed",
        "content": [{"type": "output_text", "text": text, "annotations": []}]});
    vec![
        json!({"type": "response.created", "sequence_number": 0,
            "response": {"id": response_id, "object": "response", "status": "in_progress", "output": []}}),
        json!({"type": "response.output_item.added", "sequence_number": 1, "output_index": 0,
            "item": {"type": "message", "id": item_id, "role": "assistant", "status": "in_progress", "content": []}}),
        json!({"type": "response.output_text.delta", "sequence_number": 2, "output_index": 0,
            "item_id": item_id, "content_index": 0, "delta": text}),
        json!({"type": "response.output_item.done", "sequence_number": 3, "output_index": 0, "item": item}),
        json!({"type": "response.completed", "sequence_number": 4,
            "response": {"id": response_id, "object": "response", "status": "completed", "output": [item],
                "usage": {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0}}}),
    ]
}

/// A 200 event stream answering the turn with `text`.
pub fn respond(text: &str) -> Response {
    let mut body = BytesMut::new();
    for ev in events(text) {
        body.extend_from_slice(&to_sse(&ev));
    }
    let mut resp = Response::new(Body::from(body.freeze()));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/event-stream"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_message_then_completed() {
        let evs = events("Prompt blocked");
        let kinds: Vec<&str> = evs.iter().map(|e| e["type"].as_str().unwrap()).collect();
        assert_eq!(
            kinds,
            [
                "response.created",
                "response.output_item.added",
                "response.output_text.delta",
                "response.output_item.done",
                "response.completed"
            ]
        );
        assert_eq!(evs[3]["item"]["content"][0]["text"], "Prompt blocked");
        assert_eq!(evs[0]["response"]["id"], evs[4]["response"]["id"]);
    }
}
