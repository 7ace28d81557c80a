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
    assert!(
        !secret.contains("PostToolUse hook"),
        "a call blocked by PreToolUse never ran, so no PostToolUse: {secret}"
    );
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

/// The hook records (one JSON object a line) in `file`, or none when it was never written.
fn records(file: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test]
async fn post_hooks_fire_only_for_calls_that_ran() {
    let mock = MockModel::start(|seen| match seen.turn() {
        0 => Step::now(calls(
            None,
            &[
                // Denied by the PreToolUse hook.
                (
                    "c_denied",
                    "Bash",
                    json!({"command": "echo forbidden > made.txt"}),
                ),
                // Runs and fails.
                ("c_fails", "Bash", json!({"command": "echo oops; exit 3"})),
                // Runs and succeeds.
                ("c_ok", "Bash", json!({"command": "echo hello"})),
                // Refused by the access policy: the agent has only `Bash(echo:*)`, `Bash(exit:*)`.
                ("c_policy", "Bash", json!({"command": "rm -f keep.txt"})),
                // Refused: invalid input.
                ("c_invalid", "Read", json!({})),
                // Refused: a tool the agent does not have.
                (
                    "c_write",
                    "Write",
                    json!({"file_path": "w.txt", "content": "x"}),
                ),
            ],
        )),
        _ => Step::now(text("done")),
    })
    .await;
    let h = Harness::new(&mock.url, |_| {});
    h.agent(
        "runner",
        "tools: Read, Bash(echo:*), Bash(exit:*)\n",
        "You run commands.",
    );
    std::fs::write(h.ws.join("keep.txt"), "keep me").unwrap();
    let pre = h.ws.join("pre.jsonl");
    let post = h.ws.join("post.jsonl");
    let failure = h.ws.join("failure.jsonl");
    let record = |file: &std::path::Path| json!([{"type": "command", "command": format!("{{ cat; echo; }} >> {}", file.display())}]);
    h.settings(
        &json!({"hooks": {
            "PreToolUse": [
                {"matcher": "Bash", "hooks": [{"type": "command",
                    "command": "grep -q forbidden && { echo 'no forbidden things' >&2; exit 2; }; exit 0"}]},
                {"hooks": record(&pre)}
            ],
            "PostToolUse": [{"hooks": record(&post)}],
            "PostToolUseFailure": [{"matcher": "Bash|Read|Write", "hooks": record(&failure)}]
        }})
        .to_string(),
    );
    let mut req = h.request("runner", "Run the commands");
    req.session_id = Some("sess-hooks".into());
    // Unconfined, so the test does not depend on the kernel's Landlock; the access
    // policy is what must stop `rm`.
    req.workspace.sandbox = codex_plus::engine::access::SandboxMode::DangerFullAccess;

    let result = h.engine.task(req).await;

    assert_eq!(result.output, "done", "{:?}", result.error);
    let outputs = mock.request(1).unwrap().outputs();
    let output = |id: &str| outputs.iter().find(|(c, _)| c == id).unwrap().1.clone();
    assert!(output("c_denied").contains("Blocked by hook: no forbidden things"));
    assert!(!h.ws.join("made.txt").exists());
    assert!(output("c_fails").contains("Exit code 3"));
    assert!(output("c_ok").contains("hello"));
    let policy = output("c_policy");
    assert!(policy.contains("Bash(echo:*), Bash(exit:*)"), "{policy}");
    assert_eq!(
        std::fs::read_to_string(h.ws.join("keep.txt")).unwrap(),
        "keep me"
    );

    // PreToolUse saw every call (it runs before the access check, as in Claude Code).
    let pre = records(&pre);
    assert_eq!(pre.len(), 6, "{pre:?}");

    // PostToolUse: only the call that ran and succeeded, with its response.
    let post = records(&post);
    assert_eq!(post.len(), 1, "{post:?}");
    let ok = &post[0];
    assert_eq!(ok["hook_event_name"], "PostToolUse");
    assert_eq!(ok["tool_use_id"], "c_ok");
    assert_eq!(ok["tool_name"], "Bash");
    assert_eq!(ok["tool_input"], json!({"command": "echo hello"}));
    assert!(
        ok["tool_response"]["output"]
            .as_str()
            .unwrap()
            .contains("hello"),
        "{ok}"
    );

    // PostToolUseFailure: only the call that ran and failed, with its error.
    let failure = records(&failure);
    assert_eq!(failure.len(), 1, "{failure:?}");
    let failed = &failure[0];
    assert_eq!(failed["hook_event_name"], "PostToolUseFailure");
    assert_eq!(failed["tool_use_id"], "c_fails");
    assert_eq!(
        failed["tool_input"],
        json!({"command": "echo oops; exit 3"})
    );
    let error = failed["error"].as_str().unwrap();
    assert!(
        error.contains("oops") && error.contains("Exit code 3"),
        "{error}"
    );
    assert!(failed.get("tool_response").is_none(), "{failed}");

    // Every event carries the common fields and the subagent's identity.
    for input in pre.iter().chain(&post).chain(&failure) {
        assert_eq!(input["session_id"], "sess-hooks", "{input}");
        assert!(input["transcript_path"].is_string(), "{input}");
        assert_eq!(input["cwd"], h.ws.display().to_string(), "{input}");
        assert_eq!(input["agent_id"], result.id.as_str(), "{input}");
        assert_eq!(input["agent_type"], "runner", "{input}");
        assert!(input["tool_name"].is_string(), "{input}");
        assert!(input["tool_input"].is_object(), "{input}");
        assert!(input["tool_use_id"].is_string(), "{input}");
    }
}

/// Hooks in an agent's own frontmatter apply while that agent runs, beside the
/// workspace's, and its `Stop` hooks fire as SubagentStop; another agent of the same
/// workspace does not get them.
#[tokio::test]
async fn an_agents_own_hooks_apply_only_while_it_runs() {
    let mock = MockModel::start(|seen| {
        if seen.body.to_string().contains("check again") {
            return Step::now(text("final answer"));
        }
        match seen.turn() {
            0 => Step::now(call("c1", "Read", json!({"file_path": "notes.txt"}))),
            _ => Step::now(text("first answer")),
        }
    })
    .await;
    let h = Harness::new(&mock.url, |_| {});
    std::fs::write(h.ws.join("notes.txt"), "hello").unwrap();
    h.agent(
        "guarded",
        "tools: Read\nhooks:\n  PreToolUse:\n    - matcher: Read\n      hooks:\n        - type: command\n          command: \"echo 'not in this agent' >&2; exit 2\"\n  Stop:\n    - hooks:\n        - type: command\n          command: \"grep -q '\\\"stop_hook_active\\\":false' && { echo 'check again' >&2; exit 2; }; exit 0\"\n",
        "You read.",
    );
    h.agent("plain", "tools: Read\n", "You read.");

    let guarded = h.engine.task(h.request("guarded", "read the notes")).await;
    assert_eq!(guarded.output, "final answer", "{:?}", guarded.error);
    let seen = mock.requests();
    assert_eq!(
        seen.len(),
        3,
        "its Stop hook sent it on once, as SubagentStop"
    );
    let out = &seen[1].outputs()[0].1;
    assert!(out.contains("Blocked by hook: not in this agent"), "{out}");

    let before = mock.count();
    let plain = h.engine.task(h.request("plain", "read the notes")).await;
    assert_eq!(plain.output, "first answer", "no SubagentStop sent it on");
    let seen = mock.requests();
    assert_eq!(seen.len() - before, 2, "no stop hook for the other agent");
    let out = &seen[before + 1].outputs()[0].1;
    assert!(out.contains("hello"), "the other agent's Read ran: {out}");
}

/// A judge's request: the system prompt of `prompt` and `agent` hooks.
fn judging(seen: &Seen) -> bool {
    seen.system().starts_with("You are a hook")
}

#[tokio::test]
async fn prompt_and_agent_hooks_judge_a_subagent_under_its_own_slot() {
    let mock = MockModel::start(|seen| {
        let prompt = seen.prompt();
        if judging(seen) && seen.tools().is_empty() {
            // The prompt hook on Read: secrets are refused.
            return Step::now(text(if prompt.contains("secret.txt") {
                r#"{"ok": false, "reason": "secrets stay secret"}"#
            } else {
                r#"{"ok": true, "reason": ""}"#
            }));
        }
        if judging(seen) {
            // The agent hook on SubagentStop reads the notes, then judges.
            return match seen.turn() {
                0 => Step::now(call("j1", "Read", json!({"file_path": "notes.txt"}))),
                _ if prompt.contains(r#""stop_hook_active":false"#) => Step::now(text(
                    "```json\n{\"ok\": false, \"reason\": \"quote the notes in your answer\"}\n```",
                )),
                _ => Step::now(text(r#"{"ok": true, "reason": ""}"#)),
            };
        }
        match seen.turn() {
            0 => Step::now(calls(
                None,
                &[
                    ("c_secret", "Read", json!({"file_path": "secret.txt"})),
                    ("c_notes", "Read", json!({"file_path": "notes.txt"})),
                ],
            )),
            _ if seen.body.to_string().contains("quote the notes") => {
                Step::now(text("final answer: hello from the notes"))
            }
            _ => Step::now(text("first answer")),
        }
    })
    .await;
    // One slot: the stop's judge must run under the reader's, or it never starts.
    let h = Harness::new(&mock.url, |c| c.tasks.max_concurrent = 1);
    h.agent("reader", "tools: Read\n", "You read files.");
    std::fs::write(h.ws.join("secret.txt"), "the password").unwrap();
    std::fs::write(h.ws.join("notes.txt"), "hello from the notes").unwrap();
    h.settings(
        &json!({"hooks": {
            "PreToolUse": [{"matcher": "Read", "hooks": [{"type": "prompt",
                "prompt": "Refuse reading secrets. The call: $ARGUMENTS"}]}],
            "SubagentStop": [{"hooks": [{"type": "agent",
                "prompt": "Check that the answer quotes notes.txt.", "timeout": 20}]}]
        }})
        .to_string(),
    );

    let result = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        h.engine.task(h.request("reader", "Read the files")),
    )
    .await
    .expect("no deadlock on the one slot");

    assert_eq!(
        result.output, "final answer: hello from the notes",
        "{:?}",
        result.error
    );
    let seen = mock.requests();
    let judge = |tools: bool| {
        seen.iter()
            .filter(|s| judging(s) && s.tools().is_empty() != tools)
            .cloned()
            .collect::<Vec<_>>()
    };
    // The prompt hook: one call per Read, the event in place of $ARGUMENTS, the
    // verdict's schema asked for.
    let prompts = judge(false);
    assert_eq!(prompts.len(), 2, "one judgement per Read call");
    assert!(prompts.iter().all(|p| p
        .prompt()
        .starts_with("Refuse reading secrets. The call: {")
        && p.prompt().contains(r#""hook_event_name":"PreToolUse""#)));
    assert_eq!(prompts[0].body["text"]["format"]["name"], "hook_verdict");
    // The agent hook: a read-only subagent with Claude Code's three tools.
    let agents = judge(true);
    let mut tools = agents[0].tools();
    tools.sort();
    assert_eq!(tools, ["Glob", "Grep", "Read"]);
    assert!(agents[1]
        .outputs()
        .iter()
        .any(|(id, out)| id == "j1" && out.contains("hello from the notes")));
    // What the reader got: the refusal as its tool result, and the stop's reason.
    let reader: Vec<_> = seen.iter().filter(|s| !judging(s)).collect();
    assert_eq!(reader.len(), 3, "the agent hook sent it on once");
    let outputs = reader[1].outputs();
    let secret = &outputs.iter().find(|(id, _)| id == "c_secret").unwrap().1;
    assert!(secret.contains("secrets stay secret"), "{secret}");
    assert!(!secret.contains("the password"));
    assert!(reader[2]
        .body
        .to_string()
        .contains("quote the notes in your answer"));
    h.ledger.flush().await.unwrap();
    let runs = h.ledger.hook_runs(20).unwrap();
    assert!(
        runs.iter()
            .any(|r| r.event == "PreToolUse" && r.exit_code == Some(2)),
        "the refusal is recorded as a block: {runs:?}"
    );
}
