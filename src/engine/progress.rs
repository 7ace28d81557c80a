//! Progress lines as Claude Code shows them (`⏺ Task(agent): ...`, `  ⎿ Read(a.rs)`,
//! `  ⎿ Done · 3 tool uses · 12.3s`), for the CLI and the stream's progress message.

use std::path::Path;

use serde_json::Value;

use super::result::{TaskResult, TaskStatus};

/// Characters of a tool argument shown in a progress line.
const SUMMARY_CHARS: usize = 80;

/// The line shown when a task starts.
pub fn started_line(agent: &str, description: &str) -> String {
    format!("⏺ Task({agent}): {description}")
}

/// The line shown for one tool call.
pub fn tool_line(tool: &str, summary: &str) -> String {
    if summary.is_empty() {
        format!("  ⎿ {tool}")
    } else {
        format!("  ⎿ {tool}({summary})")
    }
}

/// The line shown when a task ends.
pub fn finished_line(result: &TaskResult) -> String {
    format!("  ⎿ {}", finished_summary(result))
}

/// How a task ended, in a few words: `Done · 3 tool uses · 12.3s`, `Failed: why`.
pub fn finished_summary(result: &TaskResult) -> String {
    let uses = match result.tool_uses {
        1 => "1 tool use".to_string(),
        n => format!("{n} tool uses"),
    };
    let secs = result.duration.as_secs_f64();
    let reason = || result.error_summary().unwrap_or_default();
    match result.status {
        TaskStatus::Completed if result.reused => format!("Done (earlier run) · {uses}"),
        TaskStatus::Completed => format!("Done · {uses} · {secs:.1}s"),
        TaskStatus::Cancelled => format!("Cancelled · {uses} · {secs:.1}s"),
        TaskStatus::TimedOut => format!("Timed out: {}", reason()),
        _ => format!("Failed: {}", reason()),
    }
}

/// What a task used: tokens, the model that answered, and the cost when the price
/// table knows it. `12,345 tokens · anthropic:claude-sonnet-4-5 · $0.0421`.
pub fn usage_note(result: &TaskResult) -> Option<String> {
    let tokens = result.usage.total();
    if tokens == 0 {
        return None;
    }
    let mut note = format!("{} tokens", group_thousands(tokens));
    if let (Some(p), Some(m)) = (&result.provider, &result.model) {
        note.push_str(&format!(" · {p}:{m}"));
    }
    if let Some(cost) = result.cost_usd {
        note.push_str(&format!(" · ${cost:.4}"));
    }
    Some(note)
}

fn group_thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The main argument of a tool call, short: a path relative to `cwd`, a command, a
/// pattern, a URL.
pub fn tool_summary(tool: &str, input: &Value, cwd: &Path) -> String {
    let field = |name: &str| input.get(name).and_then(Value::as_str).unwrap_or("");
    let path = |name: &str| {
        let raw = field(name);
        Path::new(raw)
            .strip_prefix(cwd)
            .ok()
            .filter(|p| !p.as_os_str().is_empty())
            .map_or_else(|| raw.to_string(), |p| p.display().to_string())
    };
    let text = match tool {
        "Read" | "Write" | "Edit" | "MultiEdit" => path("file_path"),
        "Glob" | "Grep" => {
            let within = path("path");
            if within.is_empty() {
                field("pattern").to_string()
            } else {
                format!("{} in {within}", field("pattern"))
            }
        }
        "Bash" => field("command").lines().next().unwrap_or("").to_string(),
        "WebFetch" => field("url").to_string(),
        "TodoWrite" => match input.get("todos").and_then(Value::as_array).map(Vec::len) {
            Some(1) => "1 item".to_string(),
            Some(n) => format!("{n} items"),
            None => String::new(),
        },
        "Agent" | "Task" => {
            let agent = input
                .get("subagent_type")
                .and_then(Value::as_str)
                .unwrap_or(super::request::DEFAULT_AGENT);
            format!("{agent}: {}", field("description"))
        }
        _ => input.to_string(),
    };
    shorten(&text)
}

fn shorten(text: &str) -> String {
    if text.chars().count() <= SUMMARY_CHARS {
        return text.to_string();
    }
    let mut short: String = text.chars().take(SUMMARY_CHARS - 1).collect();
    short.push('…');
    short
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::Usage;
    use serde_json::json;
    use std::time::Duration;

    fn result(status: TaskStatus, tool_uses: u32, error: Option<&str>) -> TaskResult {
        TaskResult {
            id: "t".into(),
            agent: "a".into(),
            description: "d".into(),
            status,
            output: String::new(),
            error: error.map(str::to_string),
            tool_uses,
            usage: Usage::default(),
            cost_usd: None,
            provider: None,
            model: None,
            duration: Duration::from_millis(12_340),
            queued: Duration::ZERO,
            reused: false,
            worktree: None,
            agent_id: None,
        }
    }

    #[test]
    fn lines_follow_claude_codes_look() {
        assert_eq!(
            started_line("code-reviewer", "Review the parser"),
            "⏺ Task(code-reviewer): Review the parser"
        );
        assert_eq!(tool_line("Read", "src/a.rs"), "  ⎿ Read(src/a.rs)");
        assert_eq!(
            finished_line(&result(TaskStatus::Completed, 3, None)),
            "  ⎿ Done · 3 tool uses · 12.3s"
        );
        let mut r = result(TaskStatus::Completed, 3, None);
        assert_eq!(usage_note(&r), None, "nothing used, nothing said");
        r.usage.input_tokens = 12_000;
        r.usage.output_tokens = 345;
        r.provider = Some("anthropic".into());
        r.model = Some("claude-sonnet-4-5".into());
        r.cost_usd = Some(0.04213);
        assert_eq!(
            usage_note(&r).as_deref(),
            Some("12,345 tokens · anthropic:claude-sonnet-4-5 · $0.0421")
        );
        assert_eq!(
            finished_line(&result(TaskStatus::Completed, 1, None)),
            "  ⎿ Done · 1 tool use · 12.3s"
        );
        assert_eq!(
            finished_line(&result(
                TaskStatus::Failed,
                0,
                Some("Error: no model provider could answer\nCause: x")
            )),
            "  ⎿ Failed: no model provider could answer"
        );
        assert_eq!(
            finished_line(&result(TaskStatus::TimedOut, 0, Some("ran past 10 s"))),
            "  ⎿ Timed out: ran past 10 s"
        );
    }

    #[test]
    fn summaries_pick_the_main_argument() {
        let cwd = Path::new("/w");
        assert_eq!(
            tool_summary("Read", &json!({"file_path": "/w/src/a.rs"}), cwd),
            "src/a.rs"
        );
        assert_eq!(
            tool_summary("Read", &json!({"file_path": "/etc/hosts"}), cwd),
            "/etc/hosts"
        );
        assert_eq!(
            tool_summary("Grep", &json!({"pattern": "TODO", "path": "/w/src"}), cwd),
            "TODO in src"
        );
        assert_eq!(
            tool_summary("Bash", &json!({"command": "cargo test\necho done"}), cwd),
            "cargo test"
        );
        assert_eq!(
            tool_summary(
                "Agent",
                &json!({"subagent_type": "Explore", "description": "Find it"}),
                cwd
            ),
            "Explore: Find it"
        );
        assert_eq!(
            tool_summary("TodoWrite", &json!({"todos": [{}, {}]}), cwd),
            "2 items"
        );
        let long = tool_summary("Bash", &json!({"command": "x".repeat(200)}), cwd);
        assert_eq!(long.chars().count(), SUMMARY_CHARS);
    }
}
