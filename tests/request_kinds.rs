//! Every kind of `/responses` request Codex sends, with a whole Claude Code setup on
//! at once (agents, a command, hooks for every event, a status line), against the
//! mock upstream: what each kind gets added, and what it must be left without.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed assumption is a failed test

mod support;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::mock::*;

const AGENT_PROMPT: &str = "You are the kinds test agent";

/// A workspace with an agent, `/greet`, a status line, and a hook for each event
/// that appends its stdin to `hooks.log` (the UserPromptSubmit and SessionStart ones
/// also add context; the PreToolUse one denies Task calls whose prompt says "deny").
struct Setup {
    _dir: tempfile::TempDir,
    ws: PathBuf,
}

impl Setup {
    fn new() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let ws = std::fs::canonicalize(dir.path()).unwrap();
        let claude = ws.join(".claude");
        std::fs::create_dir_all(claude.join("agents")).unwrap();
        std::fs::create_dir_all(claude.join("commands")).unwrap();
        std::fs::write(
            claude.join("agents/kinds-agent.md"),
            format!("---\nname: kinds-agent\ndescription: For the kinds test\ntools: Read\n---\n{AGENT_PROMPT}.\n"),
        )
        .unwrap();
        std::fs::write(
            claude.join("commands/greet.md"),
            "Say hello to $ARGUMENTS.\n",
        )
        .unwrap();
        let log = ws.join("hooks.log");
        let record = format!("(cat; echo) >> {}", log.display());
        let hook = |matcher: &str, command: &str| json!([{"matcher": matcher, "hooks": [{"type": "command", "command": command, "timeout": 10}]}]);
        let deny_task = format!(
            "input=$(cat); echo \"$input\" >> {}; case \"$input\" in *'deny this one'*) echo '{{\"hookSpecificOutput\":{{\"hookEventName\":\"PreToolUse\",\"permissionDecision\":\"deny\",\"permissionDecisionReason\":\"no Tasks that deny\"}}}}';; esac; exit 0",
            log.display()
        );
        let settings = json!({
            "statusLine": {"type": "command", "command": "echo STATUS-LINE-MARK"},
            "hooks": {
                "SessionStart": hook("*", &format!("{record}; echo SESSION-START-CONTEXT")),
                "UserPromptSubmit": hook("*", &format!("{record}; echo PROMPT-HOOK-CONTEXT")),
                "PreToolUse": hook("Task|Agent", &deny_task),
                "PostToolUse": hook("Task|Agent", &record),
                "PostToolUseFailure": hook("*", &record),
                "Stop": hook("*", &record),
                "PreCompact": hook("*", &record),
                "PostCompact": hook("*", &record),
            }
        });
        std::fs::write(claude.join("settings.json"), settings.to_string()).unwrap();
        Setup { _dir: dir, ws }
    }

    fn env_item(&self) -> Value {
        user(&format!(
            "<environment_context>\n  <cwd>{}</cwd>\n</environment_context>",
            self.ws.display()
        ))
    }

    /// The events the hooks saw, in order.
    fn events(&self) -> Vec<Value> {
        std::fs::read_to_string(self.ws.join("hooks.log"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    fn fired(&self, event: &str) -> Vec<Value> {
        self.events()
            .into_iter()
            .filter(|e| e["hook_event_name"] == event)
            .collect()
    }
}

fn user(text: &str) -> Value {
    json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]})
}

fn developer(text: &str) -> Value {
    json!({"type": "message", "role": "developer", "content": [{"type": "input_text", "text": text}]})
}

async fn post(addr: std::net::SocketAddr, meta: Value, body: &Value) -> String {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .post(format!("http://{addr}/v1/responses"))
        .header("content-type", "application/json")
        .header(
            "session-id",
            meta["session_id"].as_str().unwrap_or("s-kinds"),
        )
        .header("x-codex-turn-metadata", meta.to_string())
        .body(body.to_string())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

fn turn_meta(session: &str, turn: &str) -> Value {
    json!({"session_id": session, "thread_id": session, "turn_id": turn,
           "request_kind": "turn", "thread_source": "user", "history_initialization": "new"})
}

/// Waits for hooks that fire after the answer (PostCompact runs apart).
async fn eventually(what: &str, check: impl Fn() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < Duration::from_secs(10), "{what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn texts(input: &[Value]) -> Vec<String> {
    input
        .iter()
        .map(|i| {
            i["content"][0]["text"]
                .as_str()
                .unwrap_or(&i["type"].to_string())
                .to_string()
        })
        .collect()
}

#[tokio::test]
async fn the_title_request_is_relayed_untouched_and_fires_nothing() {
    let setup = Setup::new();
    // The model would call Task here: it must reach Codex as it came.
    let mock = MockUpstream::replying(vec![
        ev_created("resp_t"),
        ev_function_call(
            "call_t",
            "Task",
            &json!({"description": "x", "prompt": "p", "subagent_type": "kinds-agent"}),
        ),
        ev_completed("resp_t"),
    ])
    .await;
    let home = tempfile::tempdir().unwrap();
    let proxy = support::proxy(&mock.url(), home.path()).await;
    let body = json!({"model": "gpt-6.1-sol", "stream": true, "store": false,
        "input": [setup.env_item(), user("Generate a title for: fix the login bug")],
        "text": {"format": {"type": "json_schema", "name": "thread_title", "strict": true,
                 "schema": {"type": "object", "properties": {"title": {"type": "string"}}, "required": ["title"]}}}});
    let meta =
        json!({"session_id": "s-title", "request_kind": "turn", "thread_source": "thread_title"});
    let answer = post(proxy.addr, meta, &body).await;

    let sent = &mock.responses_requests()[0];
    assert_eq!(
        sent.body,
        body.to_string(),
        "the upstream got Codex's bytes exactly"
    );
    assert!(
        answer.contains("\"name\":\"Task\""),
        "the Task call is not intercepted: {answer}"
    );
    assert!(!answer.contains("Task(kinds-agent)"));
    assert!(
        setup.events().is_empty(),
        "no hook fired: {:?}",
        setup.events()
    );
    proxy.stop().await;
}

#[tokio::test]
async fn a_compaction_gets_only_its_own_hooks() {
    let setup = Setup::new();
    let mock = MockUpstream::replying(vec![
        ev_created("resp_c"),
        ev_message("msg_c", "Summary: the user fixed the login bug."),
        ev_completed("resp_c"),
    ])
    .await;
    let home = tempfile::tempdir().unwrap();
    let proxy = support::proxy(&mock.url(), home.path()).await;
    let body = json!({"model": "gpt-5.5", "stream": true, "tools": [],
        "input": [setup.env_item(), user("fix the login bug"),
                  user("You are performing a CONTEXT CHECKPOINT COMPACTION. Write a handoff summary.")]});
    let meta = json!({"session_id": "s-compact", "turn_id": "t-c", "request_kind": "compaction",
                      "compaction": {"trigger": "auto", "strategy": "memento"}});
    let answer = post(proxy.addr, meta, &body).await;

    assert!(answer.contains("Summary: the user fixed"), "{answer}");
    assert_eq!(
        mock.responses_requests()[0].body,
        body.to_string(),
        "nothing added"
    );
    eventually("PostCompact fired", || {
        !setup.fired("PostCompact").is_empty()
    })
    .await;
    let pre = setup.fired("PreCompact");
    assert_eq!(pre.len(), 1, "{:?}", setup.events());
    assert_eq!(pre[0]["trigger"], "auto");
    assert_eq!(setup.fired("PostCompact")[0]["trigger"], "auto");
    for event in ["SessionStart", "UserPromptSubmit", "Stop"] {
        assert!(
            setup.fired(event).is_empty(),
            "{event} fired on a compaction"
        );
    }
    proxy.stop().await;
}

#[tokio::test]
async fn every_feature_shows_in_one_turn_and_stays_in_place_in_its_follow_up() {
    let setup = Setup::new();
    let mock = MockUpstream::start(|req, n| {
        if n == 0 {
            return Reply::sse(&[
                ev_created("resp_1"),
                ev_function_call("call_ls", "exec_command", &json!({"cmd": "ls"})),
                ev_completed("resp_1"),
            ]);
        }
        let _ = req;
        Reply::sse(&answer("resp_2", "done"))
    })
    .await;
    let home = tempfile::tempdir().unwrap();
    let proxy = support::proxy(&mock.url(), home.path()).await;
    let history = vec![
        developer("You are Codex."),
        setup.env_item(),
        user("/greet Bob"),
    ];
    let first = json!({"model": "gpt-5.5", "stream": true, "tools": [], "input": history});
    post(proxy.addr, turn_meta("s-all", "t-1"), &first).await;

    let sent = mock.responses_requests()[0].json();
    let input = sent["input"].as_array().unwrap().clone();
    let t = texts(&input);
    assert!(
        t[2].contains("SESSION-START-CONTEXT"),
        "SessionStart context before the prompt: {t:?}"
    );
    assert_eq!(t[3], "Say hello to Bob.", "the command is expanded: {t:?}");
    assert!(
        t[4].contains("PROMPT-HOOK-CONTEXT"),
        "the prompt hook's context after it: {t:?}"
    );
    assert!(
        t[5].contains("STATUS-LINE-MARK"),
        "the status line last: {t:?}"
    );
    assert_eq!(t.len(), 6, "{t:?}");
    assert!(sent["tools"]
        .as_array()
        .unwrap()
        .iter()
        .any(|tool| tool["name"] == "Task"));
    assert_eq!(setup.fired("UserPromptSubmit")[0]["prompt"], "/greet Bob");

    // Codex's follow-up: its own history (without what the proxy added) plus the call
    // and its output.
    let mut follow = history.clone();
    follow.push(json!({"type": "function_call", "call_id": "call_ls", "name": "exec_command", "arguments": "{\"cmd\":\"ls\"}"}));
    follow.push(json!({"type": "function_call_output", "call_id": "call_ls", "output": "a.txt"}));
    let second = json!({"model": "gpt-5.5", "stream": true, "tools": [], "input": follow});
    post(proxy.addr, turn_meta("s-all", "t-1"), &second).await;

    let sent2 = mock.responses_requests()[1].json();
    let input2 = sent2["input"].as_array().unwrap();
    assert_eq!(
        &input2[..input.len()],
        &input[..],
        "the follow-up starts with the first request's input, byte for byte: the prompt-cache prefix holds"
    );
    assert_eq!(input2.len(), input.len() + 2);
    assert_eq!(setup.fired("SessionStart").len(), 1);
    assert_eq!(
        setup.fired("UserPromptSubmit").len(),
        1,
        "no new-turn hooks on a follow-up"
    );
    proxy.stop().await;
}

#[tokio::test]
async fn added_context_keeps_its_place_after_a_restart() {
    let setup = Setup::new();
    let mock = MockUpstream::replying(answer("resp", "ok")).await;
    let home = tempfile::tempdir().unwrap();
    let history = vec![
        developer("You are Codex."),
        setup.env_item(),
        user("first question"),
    ];
    let first = json!({"model": "gpt-5.5", "stream": true, "tools": [], "input": history});
    let proxy = support::proxy(&mock.url(), home.path()).await;
    post(proxy.addr, turn_meta("s-restart", "t-1"), &first).await;
    proxy.stop().await;
    let before = mock.responses_requests()[0].json()["input"]
        .as_array()
        .unwrap()
        .clone();

    // Another proxy on the same state: Codex's next turn.
    let proxy = support::proxy(&mock.url(), home.path()).await;
    let mut next = history.clone();
    next.push(json!({"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "ok"}]}));
    next.push(user("second question"));
    let second = json!({"model": "gpt-5.5", "stream": true, "tools": [], "input": next});
    let mut meta = turn_meta("s-restart", "t-2");
    meta["history_initialization"] = json!("resumed");
    post(proxy.addr, meta, &second).await;
    let after = mock.responses_requests()[1].json()["input"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(
        &after[..before.len()],
        &before[..],
        "everything added before the restart is where it was"
    );
    assert_eq!(
        setup.fired("SessionStart").len(),
        1,
        "the session did not start twice"
    );
    proxy.stop().await;
}

#[tokio::test]
async fn task_calls_go_through_pre_and_post_tool_use_hooks() {
    let setup = Setup::new();
    let mock = MockUpstream::start(|req, _| {
        let text = req.text();
        if text.contains(AGENT_PROMPT) {
            return Reply::sse(&answer("resp_sub", "subagent says hi"));
        }
        if text.contains("function_call_output") {
            return Reply::sse(&answer("resp_2", "continued"));
        }
        let prompt = if text.contains("please deny") {
            "deny this one"
        } else {
            "run this one"
        };
        let agent = if text.contains("please fail") {
            "no-such-agent"
        } else {
            "kinds-agent"
        };
        Reply::sse(&[
            ev_created("resp_1"),
            ev_function_call(
                "call_1",
                "Agent",
                &json!({"description": "Check", "prompt": prompt, "subagent_type": agent}),
            ),
            ev_completed("resp_1"),
        ])
    })
    .await;
    let home = tempfile::tempdir().unwrap();
    let proxy = support::proxy(&mock.url(), home.path()).await;

    let body = |text: &str| json!({"model": "gpt-5.5", "stream": true, "tools": [], "input": [setup.env_item(), user(text)]});
    let answer = post(proxy.addr, turn_meta("s-deny", "t-1"), &body("please deny")).await;
    assert!(
        answer.contains("response.completed") && !answer.contains("response.failed"),
        "{answer}"
    );
    assert!(answer.contains("Denied: no Tasks that deny"), "{answer}");
    let runs = |mock: &MockUpstream| {
        mock.responses_requests()
            .iter()
            .filter(|r| r.text().contains(AGENT_PROMPT))
            .count()
    };
    assert_eq!(runs(&mock), 0, "a denied Task never runs");
    let cont = mock
        .responses_requests()
        .into_iter()
        .find(|r| r.text().contains("function_call_output"))
        .unwrap();
    assert!(
        cont.text()
            .contains("denied by a PreToolUse hook: no Tasks that deny"),
        "{}",
        cont.text()
    );
    let pre = setup.fired("PreToolUse");
    assert_eq!(pre[0]["tool_name"], "Agent");
    assert_eq!(pre[0]["tool_input"]["subagent_type"], "kinds-agent");
    assert_eq!(pre[0]["tool_use_id"], "call_1");
    assert!(
        setup.fired("PostToolUse").is_empty(),
        "no PostToolUse for a call that never ran"
    );
    assert!(
        setup.fired("PostToolUseFailure").is_empty(),
        "a denied call did not run, so it did not fail either"
    );

    let answer = post(proxy.addr, turn_meta("s-run", "t-2"), &body("please run")).await;
    assert!(answer.contains("response.completed"), "{answer}");
    assert_eq!(runs(&mock), 1);
    let post_hooks = setup.fired("PostToolUse");
    assert_eq!(post_hooks.len(), 1, "{:?}", setup.events());
    assert_eq!(post_hooks[0]["tool_name"], "Agent");
    assert!(post_hooks[0]["tool_response"]
        .to_string()
        .contains("subagent says hi"));

    let answer = post(proxy.addr, turn_meta("s-fail", "t-3"), &body("please fail")).await;
    assert!(answer.contains("response.completed"), "{answer}");
    let failure = setup.fired("PostToolUseFailure");
    assert_eq!(failure.len(), 1, "{:?}", setup.events());
    assert_eq!(failure[0]["tool_name"], "Agent");
    assert!(
        failure[0]["error"]
            .as_str()
            .unwrap()
            .contains("no-such-agent"),
        "{failure:?}"
    );
    assert_eq!(
        setup.fired("PostToolUse").len(),
        1,
        "still only the one that ran"
    );
    // Stop fired once per finished turn.
    assert_eq!(setup.fired("Stop").len(), 3);
    proxy.stop().await;
}

#[tokio::test]
async fn a_history_that_does_not_grow_gets_nothing_piled_up() {
    // A client that sends the same history again and again as new turns of one
    // session (a benchmark, a rewound conversation): each request goes upstream as
    // the first did, with one status line, never the earlier ones on top.
    let setup = Setup::new();
    let mock = MockUpstream::replying(answer("resp", "ok")).await;
    let home = tempfile::tempdir().unwrap();
    let proxy = support::proxy(&mock.url(), home.path()).await;
    let body = json!({"model": "gpt-5.5", "stream": true, "tools": [],
        "input": [developer("You are Codex."), setup.env_item(), user("same question")]});
    let meta = json!({"session_id": "s-same"});
    for _ in 0..30 {
        post(proxy.addr, meta.clone(), &body).await;
    }
    // Then a longer history of another conversation in the same session: nothing of
    // the earlier one lands in it.
    let other = json!({"model": "gpt-5.5", "stream": true, "tools": [],
        "input": [developer("You are Codex."), setup.env_item(), user("another talk"),
                  json!({"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "yes"}]}),
                  user("and more")]});
    post(proxy.addr, meta.clone(), &other).await;
    let last = mock.responses_requests().pop().unwrap().json();
    let t = texts(last["input"].as_array().unwrap());
    assert_eq!(
        t.iter().filter(|t| t.contains("STATUS-LINE-MARK")).count(),
        1,
        "{t:?}"
    );
    assert!(t.last().unwrap().contains("STATUS-LINE-MARK"), "{t:?}");
    let mut sent = mock.responses_requests();
    sent.pop();
    let first = sent[0].json()["input"].as_array().unwrap().len();
    for (n, req) in sent.iter().enumerate() {
        let input = req.json()["input"].as_array().unwrap().clone();
        let statuses = texts(&input)
            .iter()
            .filter(|t| t.contains("STATUS-LINE-MARK"))
            .count();
        assert_eq!(statuses, 1, "request {n}: {:?}", texts(&input));
        assert!(
            input.len() <= first + 1,
            "request {n} grew to {} items",
            input.len()
        );
    }
    proxy.stop().await;
}

/// Hooks that call a model (`prompt` type) on UserPromptSubmit and Stop: a title
/// request and a compaction make no judge call, a user's turn makes one per event.
#[tokio::test]
async fn judging_hooks_call_no_model_for_a_title_request_or_a_compaction() {
    let setup = Setup::new();
    let judged = |prompt: &str| json!([{"hooks": [{"type": "prompt", "prompt": prompt}]}]);
    std::fs::write(
        setup.ws.join(".claude/settings.local.json"),
        json!({"hooks": {
            "UserPromptSubmit": judged("Is the prompt on topic? $ARGUMENTS"),
            "Stop": judged("May the agent stop? $ARGUMENTS"),
        }})
        .to_string(),
    )
    .unwrap();
    let mock = MockUpstream::start(|req, _| {
        if req.text().contains("hook_verdict") {
            Reply::sse(&answer("resp_j", r#"{"ok": true, "reason": ""}"#))
        } else {
            Reply::sse(&answer("resp_a", "A title, a summary or an answer."))
        }
    })
    .await;
    let home = tempfile::tempdir().unwrap();
    let proxy = support::proxy(&mock.url(), home.path()).await;
    let judges = || {
        mock.responses_requests()
            .iter()
            .filter(|r| r.text().contains("hook_verdict"))
            .count()
    };

    let title = json!({"model": "gpt-5.5", "stream": true,
        "input": [setup.env_item(), user("Generate a title for: fix the login bug")]});
    post(
        proxy.addr,
        json!({"session_id": "s-j", "request_kind": "turn", "thread_source": "thread_title"}),
        &title,
    )
    .await;
    let compaction = json!({"model": "gpt-5.5", "stream": true, "tools": [],
        "input": [setup.env_item(), user("fix the login bug"), user("Write a handoff summary.")]});
    post(
        proxy.addr,
        json!({"session_id": "s-j", "turn_id": "t-c", "request_kind": "compaction"}),
        &compaction,
    )
    .await;
    assert_eq!(judges(), 0, "no judge for Codex's own requests");

    let turn = json!({"model": "gpt-5.5", "stream": true, "tools": [],
        "input": [setup.env_item(), user("fix the login bug")]});
    let answer = post(proxy.addr, turn_meta("s-j", "t-1"), &turn).await;
    assert!(
        answer.contains("A title, a summary or an answer."),
        "{answer}"
    );
    assert_eq!(judges(), 2, "UserPromptSubmit and Stop each asked once");
    proxy.stop().await;
}
