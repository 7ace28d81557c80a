//! Hooks around subagents: SubagentStart, PreToolUse/PostToolUse on their tool calls,
//! and a SubagentStop that sends the subagent on.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed assumption is a failed test

mod engine_mock;

use engine_mock::*;
use serde_json::{json, Value};

#[tokio::test]
async fn subagent_hooks_fire_in_process() {
    let mock = MockModel::start(|seen| match seen.turn() {
        0 => Step::now(calls(
            None,
            &[
                ("c_secret", "Read", json!({"file_path": "secret.txt"})),
                ("c_notes", "Read", json!({"file_path": "notes.txt"})),
            ],
        )),
        1 => Step::now(text("first answer")),
        _ => Step::now(text("final answer")),
    })
    .await;
    let h = Harness::new(&mock.url, |_| {});
    h.agent("reader", "tools: Read\n", "You read files.");
    std::fs::write(h.ws.join("secret.txt"), "the password").unwrap();
    std::fs::write(h.ws.join("notes.txt"), "hello from the notes").unwrap();
    let started = h.ws.join("started.json");
    h.settings(
        &json!({"hooks": {
            "SubagentStart": [{"matcher": "reader", "hooks": [{"type": "command", "command": format!("cat > {}", started.display())}]}],
            "PreToolUse": [{"matcher": "Read", "hooks": [{"type": "command",
                "command": "grep -q secret && { echo 'secrets stay secret' >&2; exit 2; }; exit 0"}]}],
            "PostToolUse": [{"matcher": "Read", "hooks": [{"type": "command",
                "command": "echo '{\"hookSpecificOutput\":{\"hookEventName\":\"PostToolUse\",\"additionalContext\":\"read was audited\"}}'"}]}],
            "SubagentStop": [{"hooks": [{"type": "command",
                "command": "grep -q '\"stop_hook_active\":false' && { echo 'double-check your answer' >&2; exit 2; }; exit 0"}]}]
        }})
        .to_string(),
    );

    let result = h.engine.task(h.request("reader", "Read the files")).await;

    assert_eq!(result.output, "final answer", "{:?}", result.error);
    let seen = mock.requests();
    assert_eq!(seen.len(), 3, "the stop hook sent it on once");
    let outputs = seen[1].outputs();
    let secret = &outputs.iter().find(|(id, _)| id == "c_secret").unwrap().1;
    assert!(
        secret.contains("Blocked by hook: secrets stay secret"),
        "{secret}"
    );
    assert!(!secret.contains("the password"));
    let notes = &outputs.iter().find(|(id, _)| id == "c_notes").unwrap().1;
    assert!(
        notes.contains("hello from the notes")
            && notes.contains("PostToolUse hook: read was audited"),
        "{notes}"
    );
    let third = &seen[2].body;
    assert!(
        third
            .to_string()
            .contains("SubagentStop hook feedback:\\ndouble-check your answer"),
        "{third}"
    );
    let start: Value = serde_json::from_str(&std::fs::read_to_string(&started).unwrap()).unwrap();
    assert_eq!(start["hook_event_name"], "SubagentStart");
    assert_eq!(start["agent_type"], "reader");
    assert_eq!(start["agent_id"], result.id.as_str());
    h.ledger.flush().await.unwrap();
    let runs = h.ledger.hook_runs(20).unwrap();
    for event in ["SubagentStart", "PreToolUse", "PostToolUse", "SubagentStop"] {
        assert!(
            runs.iter().any(|r| r.event == event),
            "{event} recorded: {runs:?}"
        );
    }
}
