//! The cases where features meet, end to end with the real Codex CLI: a Task call
//! that fails its checks, a prompt hook beside a command and the status line, a hook
//! that denies a Task, a compaction in the middle of a turn, and subagent Bash under
//! the session's sandbox.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed assumption is a failed test

mod support;

use serde_json::{json, Value};
use support::codex::Codex;
use support::mock::*;

const AGENT_PROMPT: &str = "You are the kinds e2e agent";

fn with_agent(codex: &Codex, tools: &str) {
    let dir = codex.workspace().join(".claude/agents");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("e2e-agent.md"),
        format!("---\nname: e2e-agent\ndescription: For the e2e kinds tests\ntools: {tools}\n---\n{AGENT_PROMPT}.\n"),
    )
    .unwrap();
}

fn settings(codex: &Codex, settings: Value) {
    let dir = codex.workspace().join(".claude");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("settings.json"), settings.to_string()).unwrap();
}

fn meta(req: &Recorded) -> Value {
    req.header("x-codex-turn-metadata")
        .and_then(|m| serde_json::from_str(m).ok())
        .unwrap_or(Value::Null)
}

fn is_subagent(req: &Recorded) -> bool {
    req.text().contains(AGENT_PROMPT)
}

fn has_output(req: &Recorded) -> bool {
    req.input()
        .iter()
        .any(|i| i["type"] == "function_call_output")
}

fn texts_of(req: &Recorded) -> Vec<String> {
    req.input()
        .iter()
        .map(|i| {
            let t = i["content"][0]["text"]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| i["type"].to_string());
            t.chars().take(80).collect()
        })
        .collect()
}

/// The text of every function output in a request.
fn outputs(req: &Recorded) -> String {
    req.input()
        .iter()
        .filter(|i| i["type"] == "function_call_output")
        .map(|i| i["output"].to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn a_task_call_that_fails_its_checks_gets_an_error_result_and_the_turn_completes() {
    support::init_logs();
    let mock = MockUpstream::start(|req, _| {
        if has_output(req) {
            return Reply::sse(&answer("resp_2", "I will use another agent."));
        }
        Reply::sse(&[
            ev_created("resp_1"),
            ev_function_call(
                "call_bad",
                "Task",
                &json!({"description": "Review", "prompt": "review it", "subagent_type": "no-such-agent"}),
            ),
            ev_completed("resp_1"),
        ])
    })
    .await;
    let home = tempfile::tempdir().unwrap();
    let proxy = support::proxy(&mock.url(), home.path()).await;
    let codex = Codex::api_mode(proxy.addr);
    with_agent(&codex, "Read");

    let run = codex.exec("review the code", &["-m", "gpt-5.5"]).await;

    assert!(run.success && run.turn_completed(), "{}", run.dump());
    assert_eq!(
        run.last_message().as_deref(),
        Some("I will use another agent.")
    );
    let continuations: Vec<_> = mock
        .responses_requests()
        .into_iter()
        .filter(has_output)
        .collect();
    assert_eq!(continuations.len(), 1, "one continuation, sent once");
    let out = outputs(&continuations[0]);
    assert!(
        out.contains("no-such-agent") && out.contains("e2e-agent"),
        "the model is told the agent is unknown and which exist: {out}"
    );
    proxy.stop().await;
}

#[tokio::test]
async fn a_prompt_hook_a_command_and_the_status_line_meet_in_one_turn() {
    support::init_logs();
    let mock = MockUpstream::replying(answer("resp_1", "Hello, Bob!")).await;
    let home = tempfile::tempdir().unwrap();
    let proxy = support::proxy(&mock.url(), home.path()).await;
    let codex = Codex::api_mode(proxy.addr);
    let commands = codex.workspace().join(".claude/commands");
    std::fs::create_dir_all(&commands).unwrap();
    std::fs::write(commands.join("greet.md"), "Say hello to $ARGUMENTS.\n").unwrap();
    settings(
        &codex,
        json!({
            "statusLine": {"type": "command", "command": "echo E2E-STATUS"},
            "hooks": {"UserPromptSubmit": [{"hooks": [{"type": "command", "command": "echo E2E-PROMPT-CONTEXT"}]}]}
        }),
    );

    let run = codex.exec("/greet Bob", &[]).await;

    assert!(run.turn_completed(), "{}", run.dump());
    let sent = mock.responses_requests()[0].text();
    assert!(sent.contains("Say hello to Bob."), "expanded: {sent}");
    assert!(
        !sent.contains("/greet Bob"),
        "the raw command did not go upstream"
    );
    assert!(sent.contains("E2E-PROMPT-CONTEXT"), "the hook's context");
    assert!(sent.contains("E2E-STATUS"), "the status line");
    assert!(sent.contains("\"name\":\"Task\""), "the Task tool");
    proxy.stop().await;
}

#[tokio::test]
async fn a_pre_tool_use_hook_denies_a_task_and_the_subagent_never_runs() {
    support::init_logs();
    let mock = MockUpstream::start(|req, _| {
        if is_subagent(req) {
            return Reply::sse(&answer("resp_sub", "I ran"));
        }
        if has_output(req) {
            return Reply::sse(&answer("resp_2", "The Task was denied."));
        }
        Reply::sse(&[
            ev_created("resp_1"),
            ev_function_call(
                "call_t",
                "Task",
                &json!({"description": "Review", "prompt": "review it", "subagent_type": "e2e-agent"}),
            ),
            ev_completed("resp_1"),
        ])
    })
    .await;
    let home = tempfile::tempdir().unwrap();
    let proxy = support::proxy(&mock.url(), home.path()).await;
    let codex = Codex::api_mode(proxy.addr);
    with_agent(&codex, "Read");
    let deny = r#"echo '{"hookSpecificOutput":{"hookEventName":"PreToolUse","permissionDecision":"deny","permissionDecisionReason":"no subagents today"}}'"#;
    settings(
        &codex,
        json!({"hooks": {"PreToolUse": [{"matcher": "Task|Agent", "hooks": [{"type": "command", "command": deny}]}]}}),
    );

    let run = codex.exec("review the code", &["-m", "gpt-5.5"]).await;

    assert!(run.success && run.turn_completed(), "{}", run.dump());
    assert!(
        !mock.responses_requests().iter().any(is_subagent),
        "the subagent never ran"
    );
    let cont = mock
        .responses_requests()
        .into_iter()
        .find(has_output)
        .unwrap();
    assert!(
        outputs(&cont).contains("no subagents today"),
        "{}",
        outputs(&cont)
    );
    proxy.stop().await;
}

#[tokio::test]
async fn a_compaction_mid_turn_is_relayed_untouched_and_the_turn_goes_on() {
    support::init_logs();
    let mock = MockUpstream::start(|req, n| {
        if meta(req)["request_kind"] == "compaction" {
            return Reply::sse(&answer("resp_c", "SUMMARY: the user asked to run echo."));
        }
        if n == 0 {
            // Enough tokens to make Codex compact before its next request.
            let mut done = ev_completed("resp_1");
            done["response"]["usage"] =
                json!({"input_tokens": 90000, "output_tokens": 10, "total_tokens": 90010});
            return Reply::sse(&[
                ev_created("resp_1"),
                ev_function_call("call_echo", "exec_command", &json!({"cmd": "echo hi"})),
                done,
            ]);
        }
        Reply::sse(&answer("resp_2", "done"))
    })
    .await;
    let home = tempfile::tempdir().unwrap();
    let proxy = support::proxy(&mock.url(), home.path()).await;
    let codex = Codex::api_mode(proxy.addr);
    let log = codex.workspace().join("hooks.log");
    let record = format!("(cat; echo) >> {}", log.display());
    settings(
        &codex,
        json!({
            "statusLine": {"type": "command", "command": "echo E2E-STATUS"},
            "hooks": {
                "UserPromptSubmit": [{"hooks": [{"type": "command", "command": record}]}],
                "PreCompact": [{"hooks": [{"type": "command", "command": record}]}],
                "Stop": [{"hooks": [{"type": "command", "command": record}]}]
            }
        }),
    );

    let run = codex
        .exec(
            "run echo",
            &["-m", "gpt-5.5", "-c", "model_auto_compact_token_limit=1000"],
        )
        .await;

    assert!(run.turn_completed(), "{}", run.dump());
    let requests = mock.responses_requests();
    let compaction = requests
        .iter()
        .find(|r| meta(r)["request_kind"] == "compaction")
        .unwrap_or_else(|| panic!("Codex compacted: {}", run.dump()));
    let text = compaction.text();
    assert!(
        !text.contains("E2E-STATUS") && !text.contains("\"name\":\"Task\""),
        "nothing added to the compaction: {text}"
    );
    let events: Vec<Value> = std::fs::read_to_string(&log)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let count = |name: &str| {
        events
            .iter()
            .filter(|e| e["hook_event_name"] == name)
            .count()
    };
    assert_eq!(count("PreCompact"), 1, "{events:?}");
    assert_eq!(
        count("UserPromptSubmit"),
        1,
        "the summary after the compaction is not a new prompt: {events:?}"
    );
    assert_eq!(
        count("Stop"),
        1,
        "Stop fired for the turn, not for the compaction: {events:?}"
    );
    // After the compaction, the same turn goes on: no new status line, no new prompt.
    let last = texts_of(requests.last().unwrap());
    let prompt = last.iter().position(|t| t == "run echo").unwrap();
    assert!(
        last[prompt + 1].contains("E2E-STATUS"),
        "the status line where it was: {last:?}"
    );
    assert_eq!(
        last.iter().filter(|t| t.contains("E2E-STATUS")).count(),
        1,
        "{last:?}"
    );
    assert!(
        last.last().unwrap().starts_with("Another language model"),
        "{last:?}"
    );
    proxy.stop().await;
}

#[tokio::test]
async fn subagent_bash_in_a_workspace_write_session_cannot_write_outside() {
    support::init_logs();
    // Outside the workspace and outside every temp directory the sandbox allows.
    let outside = support::outside_temp_dirs();
    let target = outside.path().join("pwned.txt");
    let command = format!("echo pwned > {} && echo wrote-it", target.display());
    let mock = MockUpstream::start(subagent_runs_bash(command)).await;
    let home = tempfile::tempdir().unwrap();
    let proxy = support::proxy(&mock.url(), home.path()).await;
    let codex = Codex::api_mode(proxy.addr);
    with_agent(&codex, "Bash, Read");

    let run = codex
        .exec_sandboxed("write it", "workspace-write", &["-m", "gpt-5.5"])
        .await;

    assert!(run.turn_completed(), "{}", run.dump());
    assert!(
        !target.exists(),
        "nothing was written outside the workspace"
    );
    let said = mock
        .responses_requests()
        .into_iter()
        .filter(|r| is_subagent(r) && has_output(r))
        .map(|r| outputs(&r))
        .collect::<String>();
    let supported = codex_plus::engine::tools::sandbox::support().is_ok();
    if supported {
        assert!(said.contains("Permission denied"), "{said}");
    } else {
        assert!(
            said.contains("sandbox"),
            "Bash was refused, with the reason: {said}"
        );
    }
    assert!(!said.contains("wrote-it"), "{said}");
    proxy.stop().await;
}

/// A main answer that calls Task for `e2e-agent`, and a subagent that calls Bash with
/// `command` and then reports what Bash said.
fn subagent_runs_bash(command: impl Into<String>) -> impl Fn(&Recorded, usize) -> Reply {
    let command = command.into();
    move |req, _| {
        if is_subagent(req) {
            if has_output(req) {
                return Reply::sse(&answer(
                    "resp_sub2",
                    &format!("Bash said: {}", outputs(req)),
                ));
            }
            return Reply::sse(&[
                ev_created("resp_sub1"),
                ev_function_call("call_bash", "Bash", &json!({"command": command})),
                ev_completed("resp_sub1"),
            ]);
        }
        if has_output(req) {
            return Reply::sse(&answer("resp_2", "checked"));
        }
        Reply::sse(&[
            ev_created("resp_1"),
            ev_function_call(
                "call_t",
                "Task",
                &json!({"description": "Clean", "prompt": "clean up", "subagent_type": "e2e-agent"}),
            ),
            ev_completed("resp_1"),
        ])
    }
}

/// What the subagent's Bash call came back with.
fn bash_result(mock: &MockUpstream) -> String {
    mock.responses_requests()
        .into_iter()
        .filter(|r| is_subagent(r) && has_output(r))
        .map(|r| outputs(&r))
        .collect()
}

#[tokio::test]
async fn an_agents_bash_pattern_is_a_limit_not_full_bash() {
    support::init_logs();
    let mock = MockUpstream::start(subagent_runs_bash("rm -f victim.txt")).await;
    let home = tempfile::tempdir().unwrap();
    let proxy = support::proxy(&mock.url(), home.path()).await;
    let codex = Codex::api_mode(proxy.addr);
    with_agent(&codex, "Read, Bash(git diff:*)");
    std::fs::write(codex.workspace().join("victim.txt"), "keep me").unwrap();

    let run = codex.exec("clean up", &["-m", "gpt-5.5"]).await;

    assert!(run.turn_completed(), "{}", run.dump());
    assert!(
        codex.workspace().join("victim.txt").exists(),
        "rm never ran"
    );
    let said = bash_result(&mock);
    assert!(
        said.contains("Bash(git diff:*)"),
        "the refusal names the pattern: {said}"
    );
    proxy.stop().await;
}

#[tokio::test]
async fn a_subagent_call_a_hook_denied_fires_no_post_tool_use() {
    support::init_logs();
    let mock = MockUpstream::start(subagent_runs_bash("echo ran > ran.txt")).await;
    let home = tempfile::tempdir().unwrap();
    let proxy = support::proxy(&mock.url(), home.path()).await;
    let codex = Codex::api_mode(proxy.addr);
    with_agent(&codex, "Bash");
    let log = codex.workspace().join("hooks.log");
    let record = format!("(cat; echo) >> {}", log.display());
    let deny = format!(
        "{record}; echo '{{\"hookSpecificOutput\":{{\"hookEventName\":\"PreToolUse\",\"permissionDecision\":\"deny\",\"permissionDecisionReason\":\"no shell for agents\"}}}}'"
    );
    settings(
        &codex,
        json!({"hooks": {
            "PreToolUse": [{"matcher": "Bash", "hooks": [{"type": "command", "command": deny}]}],
            "PostToolUse": [{"matcher": "Bash", "hooks": [{"type": "command", "command": record}]}],
            "PostToolUseFailure": [{"matcher": "Bash", "hooks": [{"type": "command", "command": record}]}]
        }}),
    );

    let run = codex.exec("clean up", &["-m", "gpt-5.5"]).await;

    assert!(run.turn_completed(), "{}", run.dump());
    assert!(
        !codex.workspace().join("ran.txt").exists(),
        "the call never ran"
    );
    assert!(bash_result(&mock).contains("no shell for agents"));
    let events: Vec<Value> = std::fs::read_to_string(&log)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let pre: Vec<_> = events
        .iter()
        .filter(|e| e["hook_event_name"] == "PreToolUse")
        .collect();
    assert_eq!(pre.len(), 1, "{events:?}");
    assert_eq!(pre[0]["agent_type"], "e2e-agent");
    assert_eq!(pre[0]["tool_input"]["command"], "echo ran > ran.txt");
    assert!(
        events.iter().all(|e| e["hook_event_name"] == "PreToolUse"),
        "no PostToolUse or PostToolUseFailure for a call that did not run: {events:?}"
    );
    proxy.stop().await;
}

#[tokio::test]
async fn added_context_keeps_its_place_across_a_proxy_restart() {
    support::init_logs();
    let mock = MockUpstream::replying(answer("resp", "ok")).await;
    let home = tempfile::tempdir().unwrap();
    let proxy = support::proxy(&mock.url(), home.path()).await;
    let addr = proxy.addr;
    let codex = Codex::api_mode(addr);
    let log = codex.workspace().join("starts.log");
    settings(
        &codex,
        json!({
            "statusLine": {"type": "command", "command": "echo RESTART-STATUS"},
            "hooks": {"SessionStart": [{"hooks": [{"type": "command",
                "command": format!("echo started >> {}; echo RESTART-SESSION-CONTEXT", log.display())}]}]}
        }),
    );
    let run = codex.exec("first question", &["-m", "gpt-5.5"]).await;
    assert!(run.turn_completed(), "{}", run.dump());
    proxy.stop().await;

    // The same state directory, the same port: Codex does not notice the restart.
    let proxy = support::proxy_with(&mock.url(), home.path(), |c| c.server.listen = addr).await;
    let run = codex
        .exec_resume_last("second question", &["-m", "gpt-5.5"])
        .await;
    assert!(run.turn_completed(), "{}", run.dump());

    let second = texts_of(
        &mock
            .responses_requests()
            .into_iter()
            .rfind(|r| r.text().contains("second question"))
            .unwrap(),
    );
    let first = second.iter().position(|t| t == "first question").unwrap();
    assert!(
        second[first - 1].contains("RESTART-SESSION-CONTEXT"),
        "SessionStart's context still just before the first prompt: {second:?}"
    );
    assert!(
        second[first + 1].contains("RESTART-STATUS"),
        "the first turn's status line still just after it: {second:?}"
    );
    assert_eq!(
        std::fs::read_to_string(&log).unwrap().lines().count(),
        1,
        "the session started once"
    );
    proxy.stop().await;
}
