//! Puts back what really happened: Codex's history holds the synthesized progress
//! message where Task calls ran; the ledger holds the real `function_call` and
//! `function_call_output` items. This step swaps them so the model sees its own
//! calls and their results. Without a ledger entry the message stays: it carries
//! the summary.

use std::sync::Arc;

use axum::response::Response;
use serde_json::Value;

use super::Step;
use crate::proxy::turn::Turn;
use crate::store::Ledger;
use crate::wire::request::RawJson;

/// Ids the interceptor gives its progress messages.
pub const PROGRESS_ID_PREFIX: &str = "msg_cxp_";

pub struct History {
    ledger: Arc<Ledger>,
}

impl History {
    pub fn new(ledger: Arc<Ledger>) -> History {
        History { ledger }
    }
}

impl Step for History {
    async fn apply(&self, mut turn: Turn) -> Result<Turn, Response> {
        // Cheap test first: most turns have no progress message at all.
        let marked: Vec<(usize, String)> = turn
            .request()
            .input
            .iter()
            .enumerate()
            .filter(|(_, item)| item.contains(PROGRESS_ID_PREFIX))
            .filter_map(|(i, item)| progress_id(item).map(|id| (i, id)))
            .collect();
        if marked.is_empty() {
            return Ok(turn);
        }
        let ledger = self.ledger.clone();
        let ids: Vec<String> = marked.iter().map(|(_, id)| id.clone()).collect();
        let links = tokio::task::spawn_blocking(move || {
            ids.iter()
                .map(|id| ledger.history_link(id).ok().flatten())
                .collect::<Vec<_>>()
        })
        .await
        .unwrap_or_default();
        let replacements: Vec<(usize, Vec<RawJson>)> = marked
            .iter()
            .zip(links)
            .filter_map(|((i, _), link)| {
                let link = link?;
                Some((
                    *i,
                    real_items(&link.call_item_json, &link.output_item_json)?,
                ))
            })
            .collect();
        if replacements.is_empty() {
            return Ok(turn);
        }
        let input = &mut turn.request_mut().input;
        // From the back, so earlier indices stay valid.
        for (i, items) in replacements.into_iter().rev() {
            input.splice(i..=i, items);
        }
        Ok(turn)
    }
}

/// The id of a synthesized progress message, if this item is one.
fn progress_id(item: &RawJson) -> Option<String> {
    let head = item.head();
    if head.kind.as_deref() != Some("message") || head.role.as_deref() != Some("assistant") {
        return None;
    }
    head.id
        .filter(|id| id.starts_with(PROGRESS_ID_PREFIX))
        .map(|id| id.into_owned())
}

/// The calls, then their outputs, in the order they were made.
fn real_items(calls: &str, outputs: &str) -> Option<Vec<RawJson>> {
    let calls: Vec<Value> = serde_json::from_str(calls).ok()?;
    let outputs: Vec<Value> = serde_json::from_str(outputs).ok()?;
    Some(
        calls
            .iter()
            .chain(&outputs)
            .map(RawJson::from_value)
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn recognises_only_assistant_progress_messages() {
        let msg = |role: &str, id: &str| {
            RawJson::from_value(&json!({"type": "message", "role": role, "id": id, "content": []}))
        };
        assert_eq!(
            progress_id(&msg("assistant", "msg_cxp_1")).as_deref(),
            Some("msg_cxp_1")
        );
        assert_eq!(progress_id(&msg("user", "msg_cxp_1")), None);
        assert_eq!(progress_id(&msg("assistant", "msg_other")), None);
    }

    #[test]
    fn real_items_are_calls_then_outputs() {
        let items = real_items(
            r#"[{"type":"function_call","call_id":"a"},{"type":"function_call","call_id":"b"}]"#,
            r#"[{"type":"function_call_output","call_id":"a"},{"type":"function_call_output","call_id":"b"}]"#,
        )
        .unwrap();
        let kinds: Vec<String> = items
            .iter()
            .map(|i| {
                format!(
                    "{}:{}",
                    i.to_value()["type"].as_str().unwrap(),
                    i.to_value()["call_id"].as_str().unwrap()
                )
            })
            .collect();
        assert_eq!(
            kinds,
            [
                "function_call:a",
                "function_call:b",
                "function_call_output:a",
                "function_call_output:b"
            ]
        );
        assert!(real_items("not json", "[]").is_none());
    }
}
