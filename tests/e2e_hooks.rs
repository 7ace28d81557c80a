//! Claude Code hooks from the workspace's settings, end to end with the real Codex CLI.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed assumption is a failed test

mod support;

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::codex::Codex;
use support::mock::*;

/// Writes `.claude/settings.json` with these hooks into the workspace.
fn settings(codex: &Codex, hooks: Value) {
    let dir = codex.workspace().join(".claude");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("settings.json"),
        json!({"hooks": hooks}).to_string(),
    )
    .unwrap();
}

fn hook(matcher: &str, command: &str, timeout: u64) -> Value {
    json!([{"matcher": matcher, "hooks": [{"type": "command", "command": command, "timeout": timeout}]}])
}

fn outputs(req: &Recorded) -> Vec<String> {
    req.input()
        .iter()
        .filter(|i| i["type"] == "function_call_output")
        .map(|i| i["output"].to_string())
        .collect()
}

#[tokio::test]
async fn a_pre_tool_use_hook_that_denies_rm_saves_the_file_and_tells_the_model() {
    support::init_logs();
    let mock = MockUpstream::start(|req, _| {
        if let Some(out) = outputs(req).first() {
            let told = out.contains("rm is not allowed here");
            return Reply::sse(&answer(
                "resp_2",
                if told {
                    "I was not allowed to delete it."
                } else {
                    "deleted"
                },
            ));
        }
        Reply::sse(&[
            ev_created("resp_1"),
            ev_function_call("call_rm", "exec_command", &json!({"cmd": "rm victim.txt"})),
            ev_completed("resp_1"),
        ])
    })
    .await;
    let home = tempfile::tempdir().unwrap();
    let proxy = support::proxy(&mock.url(), home.path()).await;
    let codex = Codex::api_mode(proxy.addr);
    std::fs::write(codex.workspace().join("victim.txt"), "keep me").unwrap();
    settings(
        &codex,
        json!({"PreToolUse": hook("Bash", "grep -q '\"command\":\"rm ' && { echo 'rm is not allowed here' >&2; exit 2; }; exit 0", 5)}),
    );

    let run = codex.exec("delete victim.txt", &["-m", "gpt-5.5"]).await;

    assert!(run.turn_completed(), "{}", run.dump());
    assert_eq!(
        run.last_message().as_deref(),
        Some("I was not allowed to delete it."),
        "{}",
        run.dump()
    );
    assert_eq!(
        std::fs::read_to_string(codex.workspace().join("victim.txt")).unwrap(),
        "keep me"
    );
    assert!(
        run.items("command_execution").is_empty(),
        "Codex never ran the command: {}",
        run.dump()
    );
    assert!(run
        .agent_messages()
        .join("\n")
        .contains("Blocked by hook: rm is not allowed here"));
    proxy.stop().await;
    // The run is in the ledger.
    let ledger = codex_plus::store::Ledger::open(home.path().join("ledger.db")).unwrap();
    let runs = ledger.hook_runs(10).unwrap();
    assert!(
        runs.iter()
            .any(|r| r.event == "PreToolUse" && r.exit_code == Some(2)),
        "{runs:?}"
    );
}

#[tokio::test]
async fn prompt_hooks_add_context_or_block_and_sessions_start_and_end() {
    support::init_logs();
    let mock = MockUpstream::replying(answer("resp_1", "ok")).await;
    let home = tempfile::tempdir().unwrap();
    let proxy = support::proxy(&mock.url(), home.path()).await;
    let codex = Codex::api_mode(proxy.addr);
    let ended = codex.workspace().join("session-ended.json");
    settings(
        &codex,
        json!({
            "SessionStart": hook("startup", "echo 'Session rule: answer in French'", 5),
            "UserPromptSubmit": [
                {"hooks": [{"type": "command", "command": "echo 'Project codename: BLUEBIRD'"}]},
                {"hooks": [{"type": "command", "command": "grep -q secret && { echo 'prompts about secrets are blocked' >&2; exit 2; }; exit 0"}]}
            ],
            "SessionEnd": hook("*", &format!("cat > {}", ended.display()), 5),
        }),
    );

    let run = codex.exec("hello there", &[]).await;
    assert!(run.turn_completed(), "{}", run.dump());
    let req = &mock.responses_requests()[0];
    let text = req.text();
    assert!(
        text.contains("<hook_context event=\\\"SessionStart\\\">\\nSession rule: answer in French"),
        "{text}"
    );
    assert!(
        text.contains("<hook_context event=\\\"UserPromptSubmit\\\">\\nProject codename: BLUEBIRD"),
        "{text}"
    );
    let input = req.input();
    let prompt_at = input
        .iter()
        .position(|i| i.to_string().contains("hello there"))
        .unwrap();
    assert!(
        input[prompt_at + 1].to_string().contains("BLUEBIRD"),
        "the prompt's context follows it"
    );

    let before = mock.responses_requests().len();
    let run = codex.exec("tell me the secret", &[]).await;
    assert!(run.turn_completed(), "{}", run.dump());
    let answer_text = run.last_message().unwrap_or_default();
    assert!(
        answer_text
            .contains("blocked by a UserPromptSubmit hook: prompts about secrets are blocked"),
        "{}",
        run.dump()
    );
    assert_eq!(
        mock.responses_requests().len(),
        before,
        "a blocked prompt never goes upstream"
    );

    proxy.stop().await;
    let end: Value =
        serde_json::from_str(&std::fs::read_to_string(&ended).expect("SessionEnd ran at shutdown"))
            .unwrap();
    assert_eq!(end["hook_event_name"], "SessionEnd");
    assert_eq!(end["codexplus_reason"], "shutdown");
    assert!(end["session_id"].as_str().is_some_and(|s| !s.is_empty()));
}

#[tokio::test]
async fn a_stop_hook_forces_one_continuation() {
    support::init_logs();
    let mock = MockUpstream::start(|req, _| {
        if req.text().contains("run the tests first") {
            Reply::sse(&answer("resp_2", "Tests ran and passed."))
        } else {
            Reply::sse(&answer("resp_1", "All done."))
        }
    })
    .await;
    let home = tempfile::tempdir().unwrap();
    let proxy = support::proxy(&mock.url(), home.path()).await;
    let codex = Codex::api_mode(proxy.addr);
    settings(
        &codex,
        json!({"Stop": [{"hooks": [{"type": "command",
            "command": "grep -q '\"stop_hook_active\":false' && { echo 'run the tests first' >&2; exit 2; }; exit 0"}]}]}),
    );

    let run = codex.exec("finish the work", &[]).await;

    assert!(run.turn_completed(), "{}", run.dump());
    assert_eq!(
        run.last_message().as_deref(),
        Some("Tests ran and passed."),
        "{}",
        run.dump()
    );
    assert_eq!(
        mock.responses_requests().len(),
        2,
        "one continuation, then the hook let it stop"
    );
    proxy.stop().await;
}

/// A `prompt` hook on Stop: a model call on the session's own upstream, model and
/// credentials judges whether the turn may end; its refusal sends the turn on once.
#[tokio::test]
async fn a_prompt_hook_on_stop_judges_with_the_sessions_model_and_sends_the_turn_on() {
    support::init_logs();
    let mock = MockUpstream::start(|req, _| {
        let text = req.text();
        if text.contains("hook_verdict") {
            // The judge: the first stop is refused, the next allowed.
            return Reply::sse(&answer(
                "resp_judge",
                if text.contains(r#"\"stop_hook_active\":false"#) {
                    r#"{"ok": false, "reason": "run the tests first"}"#
                } else {
                    r#"{"ok": true, "reason": ""}"#
                },
            ));
        }
        if text.contains("run the tests first") {
            Reply::sse(&answer("resp_2", "Tests ran and passed."))
        } else {
            Reply::sse(&answer("resp_1", "All done."))
        }
    })
    .await;
    let home = tempfile::tempdir().unwrap();
    let proxy = support::proxy(&mock.url(), home.path()).await;
    let codex = Codex::api_mode(proxy.addr);
    settings(
        &codex,
        json!({"Stop": [{"hooks": [{"type": "prompt",
            "prompt": "Did the agent run the tests? $ARGUMENTS"}]}]}),
    );

    let run = codex.exec("finish the work", &[]).await;

    assert!(run.turn_completed(), "{}", run.dump());
    assert_eq!(
        run.last_message().as_deref(),
        Some("Tests ran and passed."),
        "{}",
        run.dump()
    );
    let requests = mock.responses_requests();
    let (judges, turns): (Vec<_>, Vec<_>) = requests
        .iter()
        .partition(|r| r.text().contains("hook_verdict"));
    assert_eq!(
        turns.len(),
        2,
        "one continuation, then the judge let it stop"
    );
    assert_eq!(judges.len(), 2, "one judgement per stop");
    let turn_model = turns[0].json()["model"].clone();
    for judge in &judges {
        assert_eq!(judge.json()["model"], turn_model, "the session's model");
        assert_eq!(
            judge.header("authorization"),
            turns[0].header("authorization"),
            "the session's credentials"
        );
        let prompt = judge
            .input()
            .iter()
            .find(|i| i["role"] == "user")
            .and_then(|i| i["content"][0]["text"].as_str())
            .unwrap_or_default()
            .to_string();
        assert!(
            prompt.starts_with("Did the agent run the tests? {")
                && prompt.contains(r#""hook_event_name":"Stop""#),
            "{prompt}"
        );
    }
    proxy.stop().await;
}

#[tokio::test]
async fn a_hook_that_hangs_delays_the_request_by_no_more_than_its_timeout() {
    support::init_logs();
    let mock = MockUpstream::replying(answer("resp_1", "still answered")).await;
    let home = tempfile::tempdir().unwrap();
    let proxy = support::proxy(&mock.url(), home.path()).await;
    let codex = Codex::api_mode(proxy.addr);
    settings(
        &codex,
        json!({"UserPromptSubmit": [{"hooks": [{"type": "command", "command": "sleep 30", "timeout": 1}]}]}),
    );

    let started = Instant::now();
    let run = codex.exec("hello", &[]).await;
    let took = started.elapsed();

    assert!(run.turn_completed(), "{}", run.dump());
    assert_eq!(run.last_message().as_deref(), Some("still answered"));
    assert!(
        took < Duration::from_secs(8),
        "the 30 s hook was cut at its 1 s timeout: {took:?}"
    );

    // Measured at the proxy alone: one request waits for the timeout, not the sleep.
    let body = json!({"model": "m", "stream": true, "input": [
        {"type": "message", "role": "user", "content": [{"type": "input_text",
            "text": format!("<environment_context><cwd>{}</cwd></environment_context>", codex.workspace().display())}]},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "again"}]}]});
    let started = Instant::now();
    let resp = reqwest::Client::new()
        .post(format!("http://{}/v1/responses", proxy.addr))
        .header("session-id", "timing-session")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let waited = started.elapsed();
    assert_eq!(resp.status(), 200);
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_millis(2500),
        "{waited:?}"
    );
    proxy.stop().await;
}
