//! `codex-plus status [--json]`: a running proxy's `/status`, as a short summary for
//! people (or the JSON itself, for scripts).

use serde_json::Value;

/// The summary of a `/status` answer.
pub fn summary(status: &Value) -> String {
    let n = |v: &Value| v.as_u64().unwrap_or(0);
    let mut out = Vec::new();
    let uptime = n(&status["uptime_secs"]);
    out.push(format!(
        "codex-plus {} is running · up {} · pid {}",
        status["version"].as_str().unwrap_or("?"),
        duration(uptime),
        n(&status["pid"])
    ));
    let listen: Vec<&str> = status["listen"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if !listen.is_empty() {
        out.push(format!("listening   {}", listen.join(", ")));
    }
    out.push(format!(
        "upstreams   API-key mode → {} · ChatGPT-login mode → {}",
        status["upstreams"]["openai"].as_str().unwrap_or("?"),
        status["upstreams"]["chatgpt"].as_str().unwrap_or("?")
    ));
    let r = &status["requests"];
    out.push(format!(
        "requests    {} ({} model calls) · {} open streams · {} upstream errors · {} failed streams",
        n(&r["total"]),
        n(&r["responses"]),
        n(&status["open_streams"]),
        n(&r["upstream_errors"]),
        n(&r["stream_failures"])
    ));
    let t = &status["tasks"];
    let running = t["running"].as_array().cloned().unwrap_or_default();
    let by_status: Vec<String> = t["totals"]["by_status"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{} {k}", n(v)))
        .collect();
    out.push(format!(
        "tasks       {}{} running (at most {} at once){}",
        if t["enabled"] == false { "off · " } else { "" },
        running.len(),
        n(&t["max_concurrent"]),
        if by_status.is_empty() {
            String::new()
        } else {
            format!(" · {}", by_status.join(", "))
        }
    ));
    for task in &running {
        out.push(format!(
            "  ⏺ {} {}: {} · {} tool uses",
            task["id"].as_str().unwrap_or("?"),
            task["agent"].as_str().unwrap_or("?"),
            task["description"].as_str().unwrap_or(""),
            n(&task["tool_uses"])
        ));
    }
    for usage in t["totals"]["per_agent"].as_array().into_iter().flatten() {
        out.push(format!(
            "  {} · {} tasks · {} tokens · {}",
            usage["name"].as_str().unwrap_or("?"),
            n(&usage["tasks"]),
            n(&usage["input_tokens"]) + n(&usage["output_tokens"]),
            cost(&usage["cost_usd"])
        ));
    }
    let breakers: Vec<String> = status["providers"]["breakers"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(name, b)| format!("{name} {}", b["state"].as_str().unwrap_or("?")))
        .collect();
    if !breakers.is_empty() {
        out.push(format!("providers   {}", breakers.join(" · ")));
    }
    out.push(format!(
        "ledger      {}",
        status["ledger"]["path"].as_str().unwrap_or("?")
    ));
    out.join("\n") + "\n"
}

/// A cost as the CLI shows it: dollars, or "unpriced" for null.
pub fn cost(value: &Value) -> String {
    match value.as_f64() {
        Some(usd) => format!("${usd:.4}"),
        None => "unpriced".to_string(),
    }
}

/// What to say when no proxy answers at `url`.
pub fn not_running(url: &str, why: &str) -> String {
    format!(
        "no codex-plus proxy is running at {url} ({why}); start one with `./proxy.sh enable` \
         (in the background) or `codex-plus serve` (in the foreground)"
    )
}

fn duration(secs: u64) -> String {
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m {}s", s / 60, s % 60),
        s => format!("{}h {}m", s / 3600, (s % 3600) / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_summary_is_short_and_says_unpriced_for_null_cost() {
        let status = json!({
            "status": "ok", "version": "0.1.0", "uptime_secs": 3725, "pid": 42,
            "listen": ["http://127.0.0.1:10000"],
            "upstreams": {"openai": "https://api.openai.com", "chatgpt": "https://chatgpt.com"},
            "requests": {"total": 12, "responses": 9, "upstream_errors": 1, "stream_failures": 0},
            "open_streams": 2,
            "tasks": {"enabled": true, "max_concurrent": 10,
                "running": [{"id": "task_1", "agent": "reviewer", "description": "Review auth", "tool_uses": 3}],
                "totals": {"by_status": {"completed": 4},
                    "per_agent": [{"name": "reviewer", "tasks": 4, "input_tokens": 100, "output_tokens": 20, "cost_usd": null},
                                  {"name": "Explore", "tasks": 1, "input_tokens": 10, "output_tokens": 5, "cost_usd": 0.0123}]}},
            "providers": {"breakers": {"openai": {"state": "closed"}}},
            "ledger": {"path": "/h/ledger.db"}
        });
        let text = summary(&status);
        assert!(
            text.starts_with("codex-plus 0.1.0 is running · up 1h 2m · pid 42\n"),
            "{text}"
        );
        assert!(
            text.contains("requests    12 (9 model calls) · 2 open streams · 1 upstream errors"),
            "{text}"
        );
        assert!(
            text.contains("tasks       1 running (at most 10 at once) · 4 completed"),
            "{text}"
        );
        assert!(
            text.contains("⏺ task_1 reviewer: Review auth · 3 tool uses"),
            "{text}"
        );
        assert!(
            text.contains("reviewer · 4 tasks · 120 tokens · unpriced"),
            "{text}"
        );
        assert!(
            text.contains("Explore · 1 tasks · 15 tokens · $0.0123"),
            "{text}"
        );
        assert!(text.contains("providers   openai closed"), "{text}");
        assert!(text.lines().count() < 12, "short: {text}");
    }

    #[test]
    fn no_proxy_says_how_to_start_one() {
        let text = not_running("http://127.0.0.1:10000/status", "connection refused");
        assert!(text.contains(
            "no codex-plus proxy is running at http://127.0.0.1:10000/status (connection refused)"
        ));
        assert!(text.contains("./proxy.sh enable") && text.contains("codex-plus serve"));
    }
}
