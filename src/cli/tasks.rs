//! `codex-plus tasks list|show ID|tail ID|cancel ID`: the running proxy's Tasks, through
//! its own endpoints (`/api/tasks`).

use futures_util::StreamExt;
use serde_json::Value;

use super::remote::Remote;
use super::status::cost;
use super::CliError;

/// One line per task, newest first.
pub fn list(tasks: &Value) -> String {
    let rows: Vec<String> = tasks["tasks"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| {
            format!(
                "{:<22} {:<10} {:<20} {:>8} {:>9} {:>10}  {}",
                t["id"].as_str().unwrap_or("?"),
                t["status"].as_str().unwrap_or("?"),
                t["agent"].as_str().unwrap_or("?"),
                t["duration_ms"]
                    .as_u64()
                    .map_or("-".to_string(), |ms| format!("{:.1}s", ms as f64 / 1000.0)),
                tokens(t),
                cost(&t["cost_usd"]),
                t["description"].as_str().unwrap_or("")
            )
        })
        .collect();
    if rows.is_empty() {
        return "no tasks yet\n".to_string();
    }
    format!(
        "{:<22} {:<10} {:<20} {:>8} {:>9} {:>10}  description\n{}\n",
        "id",
        "status",
        "agent",
        "time",
        "tokens",
        "cost",
        rows.join("\n")
    )
}

fn tokens(t: &Value) -> u64 {
    let u = &t["usage"];
    u["input_tokens"].as_u64().unwrap_or(0) + u["output_tokens"].as_u64().unwrap_or(0)
}

/// A task and its transcript, for reading.
pub fn show(task: &Value, transcript: &Value) -> String {
    let mut out = format!(
        "⏺ Task({}): {}\n  {} · {} tool uses · {} tokens · {}\n",
        task["agent"].as_str().unwrap_or("?"),
        task["description"].as_str().unwrap_or(""),
        task["status"].as_str().unwrap_or("?"),
        task["tool_uses"].as_u64().unwrap_or(0),
        tokens(task),
        cost(&task["cost_usd"]),
    );
    if let Some(error) = task["error"].as_str() {
        out.push_str(&format!("  error: {error}\n"));
    }
    for message in transcript["messages"].as_array().into_iter().flatten() {
        let role = message["role"].as_str().unwrap_or("?");
        for block in message["content"].as_array().into_iter().flatten() {
            let line = match block["type"].as_str() {
                Some("text") => format!("{role}: {}", block["text"].as_str().unwrap_or("")),
                Some("tool_call") => format!(
                    "{role} calls {}({})",
                    block["name"].as_str().unwrap_or("?"),
                    clip(&block["input"].to_string(), 200)
                ),
                Some("tool_result") => format!(
                    "  ⎿ {}{}",
                    if block["is_error"] == true {
                        "error: "
                    } else {
                        ""
                    },
                    clip(block["content"].as_str().unwrap_or(""), 400)
                ),
                Some(other) => format!("{role}: [{other}]"),
                None => continue,
            };
            out.push_str(&format!("\n{line}\n"));
        }
    }
    out
}

/// The first `max` characters, the cut said.
fn clip(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}… ({} more bytes)", &text[..at], text.len() - at),
        None => text.to_string(),
    }
}

/// One progress line for an event of `/api/tasks/{id}/events`, and whether it was
/// the last.
pub fn event_line(kind: &str, data: &Value) -> (Option<String>, bool) {
    match kind {
        "started" => (
            Some(format!(
                "⏺ started: {}",
                data["model"].as_str().unwrap_or("")
            )),
            false,
        ),
        "tool_use" => {
            let summary = data["summary"].as_str().unwrap_or("");
            let tool = data["tool"].as_str().unwrap_or("?");
            (
                Some(crate::engine::progress::tool_line(tool, summary)),
                false,
            )
        }
        "finished" => (
            Some(format!(
                "  ⎿ {} · {} tool uses",
                data["status"].as_str().unwrap_or("?"),
                data["tool_uses"].as_u64().unwrap_or(0)
            )),
            true,
        ),
        _ => (None, false),
    }
}

/// Follows a task's events until it ends, printing a line for each.
pub async fn tail(
    remote: &Remote,
    id: &str,
    out: &mut impl std::io::Write,
) -> Result<(), CliError> {
    let resp = remote.follow(&format!("/api/tasks/{id}/events")).await?;
    let mut body = resp.bytes_stream();
    let mut buf = String::new();
    let mut kind = String::new();
    while let Some(chunk) = body.next().await {
        let chunk =
            chunk.map_err(|e| CliError::Other(format!("the event stream broke off: {e}")))?;
        buf.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buf.find('\n') {
            let line: String = buf.drain(..=end).collect();
            let line = line.trim_end();
            if let Some(k) = line.strip_prefix("event: ") {
                kind = k.to_string();
            } else if let Some(data) = line.strip_prefix("data: ") {
                let data: Value = serde_json::from_str(data).unwrap_or(Value::Null);
                let (text, last) = event_line(&kind, &data);
                if let Some(text) = text {
                    let _ = writeln!(out, "{text}");
                }
                if last {
                    return Ok(());
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn list_and_show_are_readable() {
        let tasks = json!({"tasks": [{"id": "task_1", "status": "completed", "agent": "reviewer",
            "description": "Review main", "duration_ms": 1500, "cost_usd": null,
            "usage": {"input_tokens": 10, "output_tokens": 5}}]});
        let text = list(&tasks);
        assert!(
            text.contains("task_1") && text.contains("1.5s") && text.contains("unpriced"),
            "{text}"
        );
        assert!(text.contains("Review main"));
        assert_eq!(list(&json!({"tasks": []})), "no tasks yet\n");

        let transcript = json!({"messages": [
            {"role": "user", "content": [{"type": "text", "text": "review main.rs"}]},
            {"role": "assistant", "content": [{"type": "tool_call", "id": "c1", "name": "Read", "input": {"file_path": "main.rs"}}]},
            {"role": "user", "content": [{"type": "tool_result", "call_id": "c1", "content": "x".repeat(500), "is_error": false}]},
            {"role": "assistant", "content": [{"type": "text", "text": "fine"}]}
        ]});
        let task = &tasks["tasks"][0];
        let text = show(task, &transcript);
        assert!(
            text.starts_with("⏺ Task(reviewer): Review main\n  completed"),
            "{text}"
        );
        assert!(text.contains("user: review main.rs"));
        assert!(
            text.contains("assistant calls Read({\"file_path\":\"main.rs\"})"),
            "{text}"
        );
        assert!(text.contains("(100 more bytes)"), "{text}");
        assert!(text.ends_with("assistant: fine\n"), "{text}");
    }

    #[test]
    fn events_become_progress_lines_until_the_end() {
        let (line, last) = event_line("tool_use", &json!({"tool": "Read", "summary": "main.rs"}));
        assert_eq!(line.as_deref(), Some("  ⎿ Read(main.rs)"));
        assert!(!last);
        let (line, last) = event_line("finished", &json!({"status": "completed", "tool_uses": 2}));
        assert_eq!(line.as_deref(), Some("  ⎿ completed · 2 tool uses"));
        assert!(last);
        assert_eq!(event_line("model_call", &json!({})), (None, false));
    }
}
