//! `TodoWrite`: the subagent's task list, replaced whole on each call.

use async_trait::async_trait;
use serde_json::{json, Value};

use super::{Tool, ToolContext, ToolError};

/// Replaces the subagent's todo list after checking every item.
pub struct TodoWrite;

const STATUSES: [&str; 3] = ["pending", "in_progress", "completed"];

#[async_trait]
impl Tool for TodoWrite {
    fn name(&self) -> &'static str {
        "TodoWrite"
    }

    fn description(&self) -> &'static str {
        "Keep a todo list for a multi-step task. Send the whole list each time (it \
         replaces the previous one). Each item has content (imperative, e.g. \"Run the \
         tests\"), activeForm (present continuous, e.g. \"Running the tests\") and status: \
         pending, in_progress or completed. Keep exactly one item in_progress while \
         working and mark items completed as soon as they are done."
    }

    fn input_schema(&self) -> Value {
        json!({
            "type": "object",
            "properties": {
                "todos": {
                    "type": "array",
                    "description": "The complete, updated todo list",
                    "items": {
                        "type": "object",
                        "properties": {
                            "content": {"type": "string", "minLength": 1},
                            "status": {"type": "string", "enum": STATUSES},
                            "activeForm": {"type": "string", "minLength": 1}
                        },
                        "required": ["content", "status", "activeForm"]
                    }
                }
            },
            "required": ["todos"],
            "additionalProperties": false
        })
    }

    fn read_only(&self) -> bool {
        // It only changes the subagent's own in-memory list.
        true
    }

    async fn call(&self, input: Value, ctx: &ToolContext) -> Result<String, ToolError> {
        let todos = validate(&input)?;
        let summary = summarize(&todos);
        let mut list = ctx
            .todos
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *list = todos;
        Ok(summary)
    }
}

/// Checks the input and returns the items, or says which item is wrong and how.
fn validate(input: &Value) -> Result<Vec<Value>, ToolError> {
    let invalid = |reason: String| ToolError::invalid("TodoWrite", reason);
    let items = input
        .get("todos")
        .ok_or_else(|| invalid("missing field `todos` (an array of items)".into()))?
        .as_array()
        .ok_or_else(|| invalid("`todos` must be an array of items".into()))?;
    for (i, item) in items.iter().enumerate() {
        let Some(obj) = item.as_object() else {
            return Err(invalid(format!("todos[{i}] must be an object")));
        };
        for field in ["content", "activeForm"] {
            match obj.get(field).and_then(Value::as_str) {
                Some(text) if !text.trim().is_empty() => {}
                Some(_) => return Err(invalid(format!("todos[{i}].{field} is empty"))),
                None => {
                    return Err(invalid(format!(
                        "todos[{i}].{field} is missing or not a string"
                    )))
                }
            }
        }
        match obj.get("status").and_then(Value::as_str) {
            Some(s) if STATUSES.contains(&s) => {}
            other => {
                return Err(invalid(format!(
                    "todos[{i}].status must be one of pending, in_progress, completed (got {})",
                    other.map_or_else(|| "nothing".to_string(), |s| format!("{s:?}"))
                )))
            }
        }
    }
    Ok(items.clone())
}

fn summarize(todos: &[Value]) -> String {
    let count = |status: &str| todos.iter().filter(|t| t["status"] == status).count();
    let (done, active, pending) = (count("completed"), count("in_progress"), count("pending"));
    let mut out = format!(
        "Todo list updated: {} items ({done} completed, {active} in progress, {pending} pending).",
        todos.len()
    );
    if active > 1 {
        out.push_str(" Note: more than one item is in progress; finish one at a time.");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(content: &str, status: &str) -> Value {
        json!({"content": content, "status": status, "activeForm": format!("Doing {content}")})
    }

    #[test]
    fn valid_lists_are_summarised() {
        let input = json!({"todos": [item("a", "completed"), item("b", "in_progress"), item("c", "pending")]});
        let todos = validate(&input).unwrap();
        assert_eq!(todos.len(), 3);
        assert_eq!(
            summarize(&todos),
            "Todo list updated: 3 items (1 completed, 1 in progress, 1 pending)."
        );
        let two_active = [item("a", "in_progress"), item("b", "in_progress")];
        assert!(summarize(&two_active).contains("more than one item is in progress"));
        assert!(validate(&json!({"todos": []})).unwrap().is_empty());
    }

    #[test]
    fn bad_items_are_named_precisely() {
        let cases = [
            (json!({}), "missing field `todos`"),
            (json!({"todos": "x"}), "must be an array"),
            (json!({"todos": [1]}), "todos[0] must be an object"),
            (
                json!({"todos": [item("a", "done")]}),
                "todos[0].status must be one of pending, in_progress, completed (got \"done\")",
            ),
            (
                json!({"todos": [item("a", "pending"), {"content": "b", "status": "pending"}]}),
                "todos[1].activeForm is missing",
            ),
            (
                json!({"todos": [{"content": " ", "status": "pending", "activeForm": "x"}]}),
                "todos[0].content is empty",
            ),
        ];
        for (input, expected) in cases {
            let err = validate(&input).unwrap_err().to_string();
            assert!(err.contains(expected), "{input}: {err}");
        }
    }
}
