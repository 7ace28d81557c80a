//! Puts back what really happened: Codex's history holds the synthesized progress
//! message where Task calls ran; the ledger holds the real `function_call` and
//! `function_call_output` items. This step swaps them so the model sees its own
//! calls and their results. Without a ledger entry the message stays: it carries
//! the summary.

use std::sync::Arc;

use axum::response::Response;
use serde_json::Value;

use crate::store::Ledger;
use crate::turn::pipeline::Step;
use crate::turn::Turn;
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
    fn concern(&self) -> crate::turn::kind::Concern {
        crate::turn::kind::Concern::History
    }

    async fn apply(&self, mut turn: Turn) -> Result<Turn, Response> {
        let marked: Vec<(usize, String)> = turn
            .request()
            .input
            .iter()
            .enumerate()
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
        let replacements: Vec<(usize, Restored)> = marked
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
        for (at, restored) in replacements.into_iter().rev() {
            restore(input, at, restored);
        }
        Ok(turn)
    }
}

/// The id of a synthesized progress message, if this item is one.
///
/// Only an assistant message's members are read in full; any other item is passed
/// at its type or role, which is what keeps this cheap on a long history.
fn progress_id(item: &RawJson) -> Option<String> {
    item.message_id("assistant")
        .filter(|id| id.starts_with(PROGRESS_ID_PREFIX))
        .map(|id| id.into_owned())
}

/// What a progress message stands for: the calls (each with the id of the item the
/// model wrote before it) and their outputs.
struct Restored {
    calls: Vec<(RawJson, Anchor)>,
    outputs: Vec<RawJson>,
}

/// The ids of the items around a call when the model made it.
#[derive(Default)]
struct Anchor {
    after: Option<String>,
    before: Option<String>,
}

fn real_items(calls: &str, outputs: &str) -> Option<Restored> {
    let calls: Vec<Value> = serde_json::from_str(calls).ok()?;
    let outputs: Vec<Value> = serde_json::from_str(outputs).ok()?;
    Some(Restored {
        calls: calls
            .iter()
            .map(|c| match c.get("item") {
                Some(item) => (
                    RawJson::from_value(item),
                    Anchor {
                        after: c["after"].as_str().map(str::to_string),
                        before: c["before"].as_str().map(str::to_string),
                    },
                ),
                None => (RawJson::from_value(c), Anchor::default()),
            })
            .collect(),
        outputs: outputs.iter().map(RawJson::from_value).collect(),
    })
}

/// Replaces the progress message at `at`: the outputs take its place, and each call
/// goes back where the model made it: right after the item before it, or right
/// before the item after it, or (neither in this history) just before the outputs.
fn restore(input: &mut Vec<RawJson>, at: usize, restored: Restored) {
    input.splice(at..=at, restored.outputs);
    // `end`: where the outputs start, moving on as calls go in before them.
    for (end, (call, anchor)) in (at..).zip(restored.calls) {
        let find = |id: &Option<String>| {
            id.as_ref()
                .and_then(|id| input[..end].iter().rposition(|item| refers_to(item, id)))
        };
        let position = find(&anchor.after)
            .map(|j| j + 1)
            .or_else(|| find(&anchor.before))
            .unwrap_or(end);
        input.insert(position, call);
    }
}

fn refers_to(item: &RawJson, id: &str) -> bool {
    let head = item.head();
    head.id.as_deref() == Some(id) || head.call_id.as_deref() == Some(id)
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

    fn labels(input: &[RawJson]) -> Vec<String> {
        input
            .iter()
            .map(|i| {
                let v = i.to_value();
                let kind = v["type"].as_str().unwrap_or("?").to_string();
                let id = v["call_id"]
                    .as_str()
                    .or(v["id"].as_str())
                    .unwrap_or("")
                    .to_string();
                format!("{kind}:{id}")
            })
            .collect()
    }

    fn item(kind: &str, id: &str) -> RawJson {
        let key = if kind == "message" || kind == "reasoning" {
            "id"
        } else {
            "call_id"
        };
        RawJson::from_value(&json!({"type": kind, key: id}))
    }

    #[test]
    fn calls_go_back_where_the_model_made_them_and_outputs_where_the_message_was() {
        // The model wrote: reasoning, Task, exec_command. Codex saw exec_command, then the
        // progress message, and appended exec_command's output.
        let mut input = vec![
            item("message", "user_prompt"),
            item("reasoning", "rs_1"),
            item("function_call", "c_exec"),
            item("message", "msg_cxp_1"),
            item("function_call_output", "c_exec"),
        ];
        let restored = real_items(
            &json!([{"item": {"type": "function_call", "call_id": "c_task"}, "after": "rs_1", "before": "c_exec"}]).to_string(),
            &json!([{"type": "function_call_output", "call_id": "c_task"}]).to_string(),
        )
        .unwrap();
        restore(&mut input, 3, restored);
        assert_eq!(
            labels(&input),
            [
                "message:user_prompt",
                "reasoning:rs_1",
                "function_call:c_task",
                "function_call:c_exec",
                "function_call_output:c_task",
                "function_call_output:c_exec"
            ]
        );
    }

    #[test]
    fn a_call_that_came_first_goes_before_the_item_after_it() {
        let mut input = vec![
            item("message", "user_prompt"),
            item("function_call", "c_exec"),
            item("message", "msg_cxp_1"),
            item("function_call_output", "c_exec"),
        ];
        let restored = real_items(
            &json!([{"item": {"type": "function_call", "call_id": "c_task"}, "after": null, "before": "c_exec"}]).to_string(),
            &json!([{"type": "function_call_output", "call_id": "c_task"}]).to_string(),
        )
        .unwrap();
        restore(&mut input, 2, restored);
        assert_eq!(
            labels(&input),
            [
                "message:user_prompt",
                "function_call:c_task",
                "function_call:c_exec",
                "function_call_output:c_task",
                "function_call_output:c_exec"
            ]
        );
    }

    #[test]
    fn chained_and_unanchored_calls() {
        let mut input = vec![item("message", "m"), item("message", "msg_cxp_1")];
        let restored = real_items(
            &json!([
                {"item": {"type": "function_call", "call_id": "a"}, "after": null},
                {"item": {"type": "function_call", "call_id": "b"}, "after": "a"},
                {"item": {"type": "function_call", "call_id": "c"}, "after": "gone_from_history"}
            ])
            .to_string(),
            &json!([{"type": "function_call_output", "call_id": "a"}, {"type": "function_call_output", "call_id": "b"},
                    {"type": "function_call_output", "call_id": "c"}])
            .to_string(),
        )
        .unwrap();
        restore(&mut input, 1, restored);
        assert_eq!(
            labels(&input),
            [
                "message:m",
                "function_call:a",
                "function_call:b",
                "function_call:c",
                "function_call_output:a",
                "function_call_output:b",
                "function_call_output:c"
            ]
        );
        assert!(real_items("not json", "[]").is_none());
    }
}
