//! The engine end to end against a mock model: the tool loop, what the subagent's
//! request carries, access control, limits, cancellation, concurrency, call_key
//! reuse, nested subagents, and what the ledger records.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed assumption is a failed test

mod engine_mock;
mod support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use codex_plus::engine::access::SandboxMode;
use codex_plus::engine::{TaskEvent, TaskStatus};
use engine_mock::*;
use serde_json::json;

async fn events_of(mut rx: tokio::sync::broadcast::Receiver<TaskEvent>) -> Vec<TaskEvent> {
    let mut events = Vec::new();
    while let Ok(event) = rx.recv().await {
        let last = matches!(event, TaskEvent::Finished(_));
        events.push(event);
        if last {
            break;
        }
    }
    events
}

#[tokio::test]
async fn the_tool_loop_reads_a_file_and_answers_with_its_own_context() {
    let mock = MockModel::start(|seen| match seen.turn() {
        0 => Step::now(calls(
            Some("Reading it."),
            &[("call_1", "Read", json!({"file_path": "notes.txt"}))],
        )),
        _ => Step::now(text("The notes say hello.")),
    })
    .await;
    let h = Harness::new(&mock.url, |_| {});
    h.agent(
        "reader",
        "tools: Read, Glob\n",
        "You read files and report.",
    );
    std::fs::write(h.ws.join("notes.txt"), "hello from the notes\n").unwrap();

    let handle = h
        .engine
        .spawn(h.request("reader", "What do the notes say?"));
    let id = handle.id.clone();
    let events = tokio::spawn(events_of(h.engine.subscribe(&id).expect("known")));
    let result = handle.result().await;

    assert_eq!(result.status, TaskStatus::Completed, "{:?}", result.error);
    assert_eq!(result.output, "The notes say hello.");
    assert_eq!(result.agent, "reader");
    assert_eq!(result.tool_uses, 1);
    assert_eq!(result.usage.total(), 30, "two calls of 10 + 5 tokens");
    assert_eq!(result.provider.as_deref(), Some("inherit"));
    assert_eq!(
        result.model.as_deref(),
        Some("gpt-5.5"),
        "the configured default model"
    );
    assert!(result
        .to_claude_text()
        .contains(&format!("agentId: {id} (")));

    let seen = mock.requests();
    assert_eq!(seen.len(), 2);
    let first = &seen[0];
    assert_eq!(first.uri, "/v1/responses");
    assert!(
        first.system().starts_with("You read files and report."),
        "{}",
        first.system()
    );
    assert!(first
        .system()
        .contains(&format!("Working directory: {}", h.ws.display())));
    assert!(first.system().contains("Is directory a git repo: No"));
    assert_eq!(first.prompt(), "What do the notes say?");
    assert_eq!(first.tools(), ["Glob", "Read"], "only the agent's tools");
    assert_eq!(first.model(), "gpt-5.5");
    let outputs = seen[1].outputs();
    assert_eq!(outputs.len(), 1);
    assert_eq!(outputs[0].0, "call_1");
    assert!(
        outputs[0].1.contains("hello from the notes"),
        "{}",
        outputs[0].1
    );

    let events = events.await.unwrap();
    let kinds: Vec<&str> = events.iter().map(TaskEvent::kind).collect();
    assert_eq!(
        kinds,
        [
            "started",
            "model_call",
            "tool_use",
            "model_call",
            "finished"
        ]
    );
    assert_eq!(
        events[2],
        TaskEvent::ToolUse {
            tool: "Read".into(),
            summary: "notes.txt".into()
        }
    );
}

#[tokio::test]
async fn read_only_calls_run_together_and_writes_run_in_order() {
    let mock = MockModel::start(|seen| {
        if seen.uri.starts_with("/page") {
            return Step::after(Duration::from_millis(300), Reply::Page("a page".into()));
        }
        let url = format!("http://{}/page", seen.headers["host"].to_str().unwrap());
        match seen.turn() {
            0 => Step::now(calls(
                None,
                &[
                    ("f1", "WebFetch", json!({"url": format!("{url}/1"), "prompt": "read"})),
                    ("f2", "WebFetch", json!({"url": format!("{url}/2"), "prompt": "read"})),
                    ("f3", "WebFetch", json!({"url": format!("{url}/3"), "prompt": "read"})),
                ],
            )),
            3 => {
                let path = "out.txt";
                Step::now(calls(
                    None,
                    &[
                        ("w1", "Write", json!({"file_path": path, "content": "first"})),
                        ("e1", "Edit", json!({"file_path": path, "old_string": "first", "new_string": "second"})),
                        ("r1", "Read", json!({"file_path": path})),
                    ],
                ))
            }
            _ => Step::now(text("done")),
        }
    })
    .await;
    let h = Harness::new(&mock.url, |_| {});
    let started = Instant::now();
    let result = h
        .engine
        .task(h.request("general-purpose", "fetch three pages"))
        .await;
    assert_eq!(result.status, TaskStatus::Completed, "{:?}", result.error);
    assert_eq!(
        mock.max_in_flight(),
        3,
        "the three fetches were answered at the same time"
    );
    assert!(
        started.elapsed() < Duration::from_millis(800),
        "{:?}",
        started.elapsed()
    );
    let last = mock.requests().into_iter().last().unwrap();
    let outputs = last.outputs();
    let ids: Vec<&str> = outputs.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(
        ids,
        ["f1", "f2", "f3", "w1", "e1", "r1"],
        "results keep the calls' order"
    );
    assert!(
        outputs[5].1.contains("second"),
        "the Read saw the Edit: {}",
        outputs[5].1
    );
    assert_eq!(result.tool_uses, 6);
}

#[tokio::test]
async fn refused_calls_go_back_to_the_model_as_errors_and_the_run_goes_on() {
    let mock = MockModel::start(|seen| match seen.turn() {
        0 => Step::now(calls(
            None,
            &[
                ("deny", "Read", json!({"file_path": "secret.txt"})),
                ("outside", "Read", json!({"file_path": "/etc/hostname"})),
                (
                    "sandbox",
                    "Write",
                    json!({"file_path": "new.txt", "content": "x"}),
                ),
                ("fine", "Read", json!({"file_path": "open.txt"})),
            ],
        )),
        _ => Step::now(text("some calls were refused")),
    })
    .await;
    let h = Harness::new(&mock.url, |_| {});
    h.settings(r#"{"permissions":{"deny":["Read(./secret.txt)"]}}"#);
    std::fs::write(h.ws.join("secret.txt"), "s3cret").unwrap();
    std::fs::write(h.ws.join("open.txt"), "public").unwrap();
    let mut req = h.request("general-purpose", "read things");
    req.workspace.sandbox = SandboxMode::ReadOnly;
    let result = h.engine.task(req).await;
    assert_eq!(result.status, TaskStatus::Completed, "{:?}", result.error);
    assert_eq!(result.output, "some calls were refused");

    let first = &mock.requests()[0];
    assert!(
        !first.tools().contains(&"Write".to_string()),
        "no writing tools offered in a read-only sandbox: {:?}",
        first.tools()
    );
    let outputs = mock.requests()[1].outputs();
    let output = |id: &str| {
        outputs
            .iter()
            .find(|(i, _)| i == id)
            .map(|(_, o)| o.clone())
            .unwrap_or_default()
    };
    assert!(
        output("deny").contains("blocked by the deny rule `Read(./secret.txt)`"),
        "{}",
        output("deny")
    );
    assert!(!output("deny").contains("s3cret"));
    assert!(
        output("outside").starts_with("Error: "),
        "{}",
        output("outside")
    );
    assert!(
        output("outside").contains("outside"),
        "{}",
        output("outside")
    );
    assert!(
        output("sandbox").contains("sandbox is read-only"),
        "{}",
        output("sandbox")
    );
    assert!(!h.ws.join("new.txt").exists());
    assert!(output("fine").contains("public"));

    h.ledger.flush().await.unwrap();
    let calls = h.ledger.tool_calls(&result.id).unwrap();
    let errors: Vec<bool> = calls.iter().map(|c| c.is_error).collect();
    assert_eq!(errors, [true, true, true, false]);
}

#[tokio::test]
async fn max_turns_ends_as_failed_and_keeps_the_partial_text() {
    let mock = MockModel::start(|seen| {
        let n = seen.turn();
        Step::now(calls(
            Some(&format!("step {n}")),
            &[(&format!("c{n}"), "Glob", json!({"pattern": "*.rs"}))],
        ))
    })
    .await;
    let h = Harness::new(&mock.url, |_| {});
    h.agent("looper", "maxTurns: 3\n", "Loop.");
    let result = h.engine.task(h.request("looper", "go")).await;
    assert_eq!(result.status, TaskStatus::Failed);
    assert_eq!(mock.count(), 3);
    assert_eq!(result.output, "step 2");
    let error = result.error.clone().unwrap_or_default();
    assert!(
        error.contains("all 3 of its turns") && error.contains("maxTurns"),
        "{error}"
    );
    assert_eq!(result.tool_uses, 2, "the last turn's calls are not run");
    assert!(result
        .to_claude_text()
        .starts_with("The looper subagent failed:"));
}

#[tokio::test]
async fn the_timeout_ends_as_timed_out_and_keeps_the_partial_text() {
    let mock = MockModel::start(|seen| match seen.turn() {
        0 => Step::now(calls(
            Some("halfway there"),
            &[("c1", "Glob", json!({"pattern": "*"}))],
        )),
        _ => Step::now(Reply::Hang),
    })
    .await;
    let h = Harness::new(&mock.url, |_| {});
    h.agent("slow", "timeout: 700ms\n", "Be slow.");
    let started = Instant::now();
    let result = h.engine.task(h.request("slow", "go")).await;
    assert_eq!(result.status, TaskStatus::TimedOut);
    assert_eq!(result.output, "halfway there");
    assert!(result
        .error
        .as_deref()
        .unwrap_or("")
        .contains("ran out of time"));
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(700) && took < Duration::from_secs(3),
        "{took:?}"
    );
}

#[tokio::test]
async fn cancelling_keeps_the_partial_output() {
    let mock = MockModel::start(|seen| match seen.turn() {
        0 => Step::now(calls(
            Some("found two files so far"),
            &[("c1", "Glob", json!({"pattern": "*"}))],
        )),
        _ => Step::now(Reply::Hang),
    })
    .await;
    let h = Harness::new(&mock.url, |_| {});
    let mut handle = h.engine.spawn(h.request("Explore", "look around"));
    loop {
        if let Ok(TaskEvent::ToolUse { .. }) = handle.events.recv().await {
            break;
        }
    }
    // Wait until the second model call is being made, then cancel.
    while mock.count() < 2 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(h.engine.cancel(&handle.id));
    let result = handle.result().await;
    assert_eq!(result.status, TaskStatus::Cancelled);
    assert_eq!(result.output, "found two files so far");
    assert_eq!(result.tool_uses, 1);
    assert!(
        !h.engine.cancel(&result.id),
        "a finished task cannot be cancelled"
    );
    h.ledger.flush().await.unwrap();
    let row = h.ledger.task(&result.id).unwrap().unwrap();
    assert_eq!(row.status, TaskStatus::Cancelled);
    assert_eq!(row.output.as_deref(), Some("found two files so far"));
}

#[tokio::test]
async fn an_unknown_agent_fails_with_the_list_of_agents_and_calls_no_model() {
    let mock = MockModel::start(|_| Step::now(text("never"))).await;
    let h = Harness::new(&mock.url, |_| {});
    h.agent("code-reviewer", "", "Review.");
    let req = h.request("code-reviewr", "review it");
    let err = h.engine.check(&req).unwrap_err().to_string();
    assert!(err.contains("unknown agent `code-reviewr`"), "{err}");
    let result = h.engine.task(req).await;
    assert_eq!(result.status, TaskStatus::Failed);
    let error = result.error.unwrap_or_default();
    assert!(
        error.contains("available agents: Explore, general-purpose, Plan, code-reviewer"),
        "{error}"
    );
    assert_eq!(mock.count(), 0);
}

#[tokio::test]
async fn ten_tasks_run_at_once_under_a_limit_of_ten() {
    let mock = MockModel::start(|_| Step::after(Duration::from_millis(300), text("ok"))).await;
    let h = Harness::new(&mock.url, |c| c.tasks.max_concurrent = 10);
    let started = Instant::now();
    let handles: Vec<_> = (0..10)
        .map(|i| h.engine.spawn(h.request("Explore", &format!("task {i}"))))
        .collect();
    let results = futures_util::future::join_all(handles.into_iter().map(|h| h.result())).await;
    assert!(results.iter().all(|r| r.status == TaskStatus::Completed));
    assert_eq!(mock.max_in_flight(), 10);
    assert!(
        started.elapsed() < Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn tasks_beyond_the_limit_wait_in_order() {
    let mock = MockModel::start(|_| Step::after(Duration::from_millis(150), text("ok"))).await;
    let h = Harness::new(&mock.url, |c| c.tasks.max_concurrent = 2);
    let started = Instant::now();
    let handles: Vec<_> = (0..6)
        .map(|i| h.engine.spawn(h.request("Explore", &format!("task {i}"))))
        .collect();
    assert_eq!(h.engine.running().len(), 6, "all accepted at once");
    let results = futures_util::future::join_all(handles.into_iter().map(|h| h.result())).await;
    assert!(results.iter().all(|r| r.status == TaskStatus::Completed));
    assert_eq!(mock.max_in_flight(), 2, "never more than the limit");
    assert!(
        started.elapsed() >= Duration::from_millis(450),
        "three rounds of two"
    );
    // First come, first served: the model sees them in rounds of two, in order.
    let order: Vec<String> = mock.requests().iter().map(|s| s.prompt()).collect();
    let rounds: Vec<BTreeSet<String>> = order
        .chunks(2)
        .map(|c| c.iter().cloned().collect())
        .collect();
    let expected: Vec<BTreeSet<String>> = (0..3)
        .map(|r| BTreeSet::from([format!("task {}", 2 * r), format!("task {}", 2 * r + 1)]))
        .collect();
    assert_eq!(rounds, expected, "{order:?}");
    assert!(
        results[5].queued >= results[0].queued + Duration::from_millis(250),
        "the last waited two rounds: {:?} vs {:?}",
        results[5].queued,
        results[0].queued
    );
}

#[tokio::test]
async fn a_failing_task_does_not_fail_its_siblings() {
    let mock = MockModel::start(|seen| {
        if seen.prompt().contains("break") {
            Step::now(Reply::Status(
                400,
                r#"{"error":{"message":"bad request","type":"invalid_request_error"}}"#.into(),
            ))
        } else {
            Step::now(text("fine"))
        }
    })
    .await;
    let h = Harness::new(&mock.url, |_| {});
    let prompts = ["one", "break it", "three"];
    let handles: Vec<_> = prompts
        .iter()
        .map(|p| h.engine.spawn(h.request("Explore", p)))
        .collect();
    let results = futures_util::future::join_all(handles.into_iter().map(|h| h.result())).await;
    let statuses: Vec<TaskStatus> = results.iter().map(|r| r.status).collect();
    assert_eq!(
        statuses,
        [
            TaskStatus::Completed,
            TaskStatus::Failed,
            TaskStatus::Completed
        ]
    );
    let error = results[1].error.clone().unwrap_or_default();
    assert!(
        error.starts_with("Error: no model provider could answer"),
        "{error}"
    );
    assert!(
        error.contains("Cause: inherit, gpt-5.5: HTTP 400"),
        "{error}"
    );
    assert!(
        error.contains("\nSuggestion: ") && error.contains("\nFallback: "),
        "{error}"
    );
}

#[tokio::test]
async fn a_call_key_reuses_the_finished_or_running_task() {
    let mock =
        MockModel::start(|_| Step::after(Duration::from_millis(200), text("the answer"))).await;
    let h = Harness::new(&mock.url, |_| {});
    let keyed = |key: &str| {
        let mut req = h.request("Explore", "question");
        req.call_key = Some(key.to_string());
        req
    };
    // Two requests with one key while it runs: one run, both get its result.
    let first = h.engine.spawn(keyed("k1"));
    let joined = h.engine.spawn(keyed("k1"));
    assert_eq!(first.id, joined.id);
    let (a, b) = tokio::join!(first.result(), joined.result());
    assert_eq!(
        (a.output.as_str(), b.output.as_str()),
        ("the answer", "the answer")
    );
    assert!(!a.reused && b.reused);
    assert_eq!(mock.count(), 1);

    // After it finished: reused from memory...
    let again = h.engine.task(keyed("k1")).await;
    assert!(again.reused);
    assert_eq!(again.id, a.id);
    assert_eq!(mock.count(), 1);

    // ...and by another engine on the same ledger (a restarted proxy).
    h.ledger.flush().await.unwrap();
    let ledger = std::sync::Arc::new(codex_plus::store::Ledger::open(h.ledger.path()).unwrap());
    let mut config = codex_plus::config::Config::defaults(h.tmp.path().join("state2"));
    config.upstream.openai = mock.url.clone();
    let roots = codex_plus::claude::Roots::with_home(&h.home);
    let catalogs = std::sync::Arc::new(codex_plus::claude::ClaudeCatalogs::new(roots));
    let deps =
        codex_plus::engine::EngineDeps::from_config(&config, ledger, catalogs, &|_| None).unwrap();
    let restarted = codex_plus::engine::Engine::new(deps);
    let from_ledger = restarted.task(keyed("k1")).await;
    assert!(from_ledger.reused);
    assert_eq!(
        (from_ledger.id.as_str(), from_ledger.output.as_str()),
        (a.id.as_str(), "the answer")
    );
    assert_eq!(mock.count(), 1, "the second run did not reach the model");

    // A new key runs again.
    let fresh = h.engine.task(keyed("k2")).await;
    assert!(!fresh.reused);
    assert_eq!(mock.count(), 2);
}

#[tokio::test]
async fn a_subagent_starts_a_subagent_under_its_own_slot() {
    let mock = MockModel::start(|seen| {
        let prompt = seen.prompt();
        if prompt == "lead the work" {
            match seen.turn() {
                0 => Step::now(call(
                    "a1",
                    "Agent",
                    json!({"subagent_type": "Explore", "prompt": "find the parser", "description": "Find parser"}),
                )),
                _ => Step::now(text("lead done")),
            }
        } else {
            Step::now(text("parser is in src/parse.rs"))
        }
    })
    .await;
    // One slot: the child must run under the parent's, or this would deadlock.
    let h = Harness::new(&mock.url, |c| c.tasks.max_concurrent = 1);
    h.agent("lead", "tools: Read, Agent(Explore)\n", "Lead.");
    let result = tokio::time::timeout(
        Duration::from_secs(10),
        h.engine.task(h.request("lead", "lead the work")),
    )
    .await
    .expect("no deadlock");
    assert_eq!(result.status, TaskStatus::Completed, "{:?}", result.error);
    assert_eq!(result.output, "lead done");
    let seen = mock.requests();
    assert!(
        seen[0].tools().contains(&"Agent".to_string()),
        "{:?}",
        seen[0].tools()
    );
    let child_request = seen
        .iter()
        .find(|s| s.prompt() == "find the parser")
        .unwrap();
    assert!(
        !child_request.tools().contains(&"Agent".to_string()),
        "Explore has no Agent tool"
    );
    let output = &seen.last().unwrap().outputs()[0].1;
    assert!(
        output.starts_with("parser is in src/parse.rs\n\nagentId: task_"),
        "{output}"
    );

    h.ledger.flush().await.unwrap();
    let rows = h.ledger.tasks(10, 0).unwrap();
    let child = rows.iter().find(|r| r.agent == "Explore").unwrap();
    assert_eq!(child.parent_id.as_deref(), Some(result.id.as_str()));
    assert_eq!(child.depth, 2);
    assert_eq!(child.call_id.as_deref(), Some("a1"));
    assert_eq!(child.status, TaskStatus::Completed);
}

#[tokio::test]
async fn a_subagents_agent_call_may_name_a_cwd_inside_its_own_workspace_only() {
    let sub_dir = std::sync::Arc::new(std::sync::OnceLock::<String>::new());
    let sub_of = sub_dir.clone();
    let mock = MockModel::start(move |seen| {
        if seen.prompt() != "lead the work" {
            return Step::now(text("child done"));
        }
        let sub = sub_of.get().cloned().unwrap_or_default();
        match seen.turn() {
            0 => Step::now(calls(
                None,
                &[
                    ("a1", "Agent", json!({"subagent_type": "Explore", "prompt": "look in sub", "cwd": sub})),
                    ("a2", "Agent", json!({"subagent_type": "Explore", "prompt": "look outside", "cwd": "/"})),
                    ("a3", "Agent", json!({"subagent_type": "Explore", "prompt": "both", "cwd": sub, "isolation": "worktree"})),
                ],
            )),
            _ => Step::now(text("lead done")),
        }
    })
    .await;
    let h = Harness::new(&mock.url, |_| {});
    let sub = h.ws.join("crates/sub");
    std::fs::create_dir_all(&sub).unwrap();
    sub_dir.set(sub.display().to_string()).unwrap();
    h.agent("lead", "tools: Read, Agent(Explore)\n", "Lead.");
    let result = h.engine.task(h.request("lead", "lead the work")).await;
    assert_eq!(result.status, TaskStatus::Completed, "{:?}", result.error);
    let seen = mock.requests();
    let child = seen.iter().find(|s| s.prompt() == "look in sub").unwrap();
    let real = std::fs::canonicalize(&sub).unwrap();
    assert!(
        child
            .system()
            .contains(&format!("Working directory: {}", real.display())),
        "{}",
        child.system()
    );
    assert!(!seen
        .iter()
        .any(|s| s.prompt() == "look outside" || s.prompt() == "both"));
    let outputs = seen.last().unwrap().outputs();
    let out = |id: &str| outputs.iter().find(|(c, _)| c == id).unwrap().1.clone();
    assert!(out("a1").starts_with("child done"), "{}", out("a1"));
    assert!(
        out("a2").contains("is outside this session's workspace"),
        "{}",
        out("a2")
    );
    assert!(
        out("a3").contains("cannot be combined with isolation"),
        "{}",
        out("a3")
    );
}

#[tokio::test]
async fn the_agent_tool_is_refused_at_the_depth_limit() {
    let mock = MockModel::start(|seen| match seen.turn() {
        0 => Step::now(call("a1", "Task", json!({"prompt": "go deeper"}))),
        _ => Step::now(text("did it myself")),
    })
    .await;
    let h = Harness::new(&mock.url, |c| c.tasks.max_depth = 1);
    let result = h.engine.task(h.request("general-purpose", "start")).await;
    assert_eq!(result.status, TaskStatus::Completed);
    let seen = mock.requests();
    assert_eq!(seen.len(), 2, "no child ran");
    assert!(!seen[0].tools().contains(&"Agent".to_string()));
    let output = &seen[1].outputs()[0].1;
    assert!(output.contains("nest at most 1 deep"), "{output}");
}

#[tokio::test]
async fn the_ledger_records_created_started_finished_tool_calls_and_attempts() {
    let mock = MockModel::start(|seen| {
        if seen.prompt() == "hold" {
            return Step::now(Reply::Hang);
        }
        match seen.turn() {
            0 => Step::now(call("g1", "Glob", json!({"pattern": "*.md"}))),
            _ => Step::now(text("no markdown")),
        }
    })
    .await;
    let h = Harness::new(&mock.url, |c| c.tasks.max_concurrent = 1);
    let holder = h.engine.spawn(h.request("Explore", "hold"));
    while mock.count() < 1 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut req = h.request("Explore", "list markdown");
    req.session_id = Some("sess-1".into());
    req.call_id = Some("call_9".into());
    let waiting = h.engine.spawn(req);
    h.ledger.flush().await.unwrap();
    let queued = h
        .ledger
        .task(&waiting.id)
        .unwrap()
        .expect("row written before the task starts");
    assert_eq!(queued.status, TaskStatus::Queued);
    assert_eq!(queued.started_at, None);
    assert_eq!(queued.session_id.as_deref(), Some("sess-1"));
    assert_eq!(
        h.ledger.task(&holder.id).unwrap().unwrap().status,
        TaskStatus::Running
    );
    assert_eq!(
        h.engine.get(&waiting.id).unwrap().status,
        TaskStatus::Queued
    );

    h.engine.cancel(&holder.id);
    let result = waiting.result().await;
    assert_eq!(result.status, TaskStatus::Completed);
    h.ledger.flush().await.unwrap();
    let row = h.ledger.task(&result.id).unwrap().unwrap();
    assert_eq!(row.status, TaskStatus::Completed);
    assert!(row.started_at.unwrap() >= row.created_at);
    assert!(row.ended_at.unwrap() >= row.started_at.unwrap());
    assert_eq!(row.output.as_deref(), Some("no markdown"));
    assert_eq!(
        (row.tool_uses, row.input_tokens, row.output_tokens),
        (1, 20, 10)
    );
    assert_eq!(row.provider.as_deref(), Some("inherit"));
    assert_eq!(row.call_id.as_deref(), Some("call_9"));
    let tools = h.ledger.tool_calls(&result.id).unwrap();
    assert_eq!(tools.len(), 1);
    assert_eq!((tools[0].tool.as_str(), tools[0].seq), ("Glob", 1));
    assert_eq!(tools[0].input, json!({"pattern": "*.md"}));
    let attempts = h.ledger.model_attempts(&result.id).unwrap();
    assert_eq!(attempts.len(), 2);
    assert!(attempts
        .iter()
        .all(|a| a.ok && a.provider == "inherit" && a.model == "gpt-5.5"));
    assert_eq!(attempts[0].input_tokens, 10);
    let snapshot = h.engine.get(&result.id).unwrap();
    assert_eq!(snapshot.status, TaskStatus::Completed);
    assert_eq!(snapshot.depth, 1);
}

#[tokio::test]
async fn an_empty_description_becomes_the_prompts_first_words() {
    let mock = MockModel::start(|_| Step::now(text("ok"))).await;
    let h = Harness::new(&mock.url, |_| {});
    let mut req = h.request("Explore", "Find every caller of parse_config in src");
    req.description = "  ".into();
    let result = h.engine.task(req).await;
    assert_eq!(result.description, "Find every caller of parse_config");
    h.ledger.flush().await.unwrap();
    let row = h.ledger.task(&result.id).unwrap().unwrap();
    assert_eq!(row.description, "Find every caller of parse_config");
}

/// `isolation: "worktree"`: each agent works in its own fresh worktree. Two at once
/// write a file of the same name; the main checkout gets neither, each result names
/// its own branch, and an agent that changes nothing leaves no worktree behind.
#[tokio::test]
async fn worktree_agents_never_see_each_others_files() {
    let mock = MockModel::start(|seen| match seen.turn() {
        // The prompt says what to write; the relative path lands in the agent's cwd.
        0 if seen.prompt().starts_with("write ") => {
            let content = seen.prompt().trim_start_matches("write ").to_string();
            Step::now(calls(
                None,
                &[(
                    "w1",
                    "Write",
                    json!({"file_path": "notes.txt", "content": content}),
                )],
            ))
        }
        0 => Step::now(text("nothing to change")),
        _ => Step::now(text("wrote it")),
    })
    .await;
    let h = Harness::new(&mock.url, |_| {});
    support::git_repo(&h.ws);
    let isolated = |prompt: &str| {
        let mut req = h.request("general-purpose", prompt);
        req.isolation = Some("worktree".into());
        req
    };
    let (a, b, c) = tokio::join!(
        h.engine.task(isolated("write from A")),
        h.engine.task(isolated("write from B")),
        h.engine.task(isolated("look only")),
    );
    for r in [&a, &b, &c] {
        assert_eq!(r.status, TaskStatus::Completed, "{:?}", r.error);
    }
    assert!(
        !h.ws.join("notes.txt").exists(),
        "the main checkout has neither file"
    );
    let kept = |r: &codex_plus::engine::TaskResult| match &r.worktree {
        Some(codex_plus::engine::worktree::WorktreeEnd::Kept { path, branch }) => {
            (path.clone(), branch.clone())
        }
        other => panic!("{other:?}"),
    };
    let ((path_a, branch_a), (path_b, branch_b)) = (kept(&a), kept(&b));
    assert_ne!(branch_a, branch_b);
    assert_eq!(
        std::fs::read_to_string(path_a.join("notes.txt")).unwrap(),
        "from A"
    );
    assert_eq!(
        std::fs::read_to_string(path_b.join("notes.txt")).unwrap(),
        "from B"
    );
    assert!(
        a.to_claude_text()
            .contains(&format!("on branch {branch_a}")),
        "{}",
        a.to_claude_text()
    );
    assert_eq!(
        c.worktree,
        Some(codex_plus::engine::worktree::WorktreeEnd::Removed)
    );
    assert!(
        !c.to_claude_text().contains("worktree"),
        "{}",
        c.to_claude_text()
    );

    // Outside a git repository: a clear failure, and no model call.
    let before = mock.count();
    let plain = tempfile::tempdir().unwrap();
    let mut req = isolated("write nowhere");
    req.workspace = codex_plus::engine::Workspace::at(plain.path());
    let r = h.engine.task(req).await;
    assert_eq!(r.status, TaskStatus::Failed);
    assert!(
        r.error
            .as_deref()
            .unwrap_or("")
            .contains("needs a git repository"),
        "{:?}",
        r.error
    );
    assert_eq!(mock.count(), before);
}

/// WorktreeCreate hooks make the worktree in git's place, and WorktreeRemove hooks
/// run when an unchanged one is removed.
#[tokio::test]
async fn worktree_hooks_make_and_remove_the_worktree() {
    let mock = MockModel::start(|_| Step::now(text("nothing to change"))).await;
    let h = Harness::new(&mock.url, |_| {});
    support::git_repo(&h.ws);
    let made = h.tmp.path().join("made");
    let removed = h.tmp.path().join("removed.json");
    // The create hook makes a git worktree of its own and prints where.
    let create = format!(
        "name=$(sed -E 's/.*\"name\":\"([^\"]+)\".*/\\1/'); git worktree add -q -b hook-$name {made}/$name >&2 && echo {made}/$name",
        made = made.display()
    );
    let remove = format!(
        "cat > {removed}; git worktree remove --force \"$(sed -E 's/.*\"worktree_path\":\"([^\"]+)\".*/\\1/' {removed})\"",
        removed = removed.display()
    );
    h.settings(
        &json!({"hooks": {
            "WorktreeCreate": [{"hooks": [{"type": "command", "command": create}]}],
            "WorktreeRemove": [{"hooks": [{"type": "command", "command": remove}]}]
        }})
        .to_string(),
    );
    let mut req = h.request("general-purpose", "look only");
    req.isolation = Some("worktree".into());
    let r = h.engine.task(req).await;
    assert_eq!(r.status, TaskStatus::Completed, "{:?}", r.error);
    assert_eq!(
        r.worktree,
        Some(codex_plus::engine::worktree::WorktreeEnd::Removed)
    );
    // The subagent worked in the hook's worktree.
    let seen = mock.requests().into_iter().next().unwrap().system();
    assert!(
        seen.contains(&format!("Working directory: {}/agent-", made.display())),
        "{seen}"
    );
    // WorktreeRemove got its path, and removed it.
    let input: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&removed).unwrap()).unwrap();
    assert_eq!(input["hook_event_name"], "WorktreeRemove");
    let path = std::path::PathBuf::from(input["worktree_path"].as_str().unwrap());
    assert!(path.starts_with(&made), "{path:?}");
    assert!(!path.exists());
}

/// `memory`: the agent's MEMORY.md is in its system prompt at start, it gets Write to
/// keep it (its tools named only Bash), and what it writes there is there next time;
/// a user-scope memory lives under the home directory, outside the workspace, and is
/// writable too. A read-only session reads its memory and cannot change it.
#[tokio::test]
async fn an_agents_memory_is_read_at_start_and_kept_by_the_agent() {
    let target = std::sync::Arc::new(std::sync::OnceLock::<String>::new());
    let path_of = target.clone();
    let mock = MockModel::start(move |seen| match seen.turn() {
        0 => Step::now(call(
            "w1",
            "Write",
            json!({"file_path": path_of.get().unwrap(), "content": "- tabs, not spaces\n- the parser is in src/parse.rs\n"}),
        )),
        _ => Step::now(text("noted")),
    })
    .await;
    let h = Harness::new(&mock.url, fast_providers);
    h.agent(
        "scribe",
        "tools: Bash\nmemory: project\n",
        "You take notes.",
    );
    let dir = h.ws.join(".claude/agent-memory/scribe");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("MEMORY.md"), "- tabs, not spaces\n").unwrap();
    target
        .set(dir.join("MEMORY.md").display().to_string())
        .unwrap();

    let result = h
        .engine
        .task(h.request("scribe", "note what you learn"))
        .await;
    assert_eq!(result.status, TaskStatus::Completed, "{:?}", result.error);
    let first = mock.request(0).unwrap();
    let system = first.system();
    assert!(
        system.contains(&format!("<agent_memory dir=\"{}\">", dir.display())),
        "{system}"
    );
    assert!(system.contains("- tabs, not spaces"), "{system}");
    let tools = first.tools();
    assert!(
        ["Read", "Write", "Edit", "Bash"]
            .iter()
            .all(|t| tools.contains(&t.to_string())),
        "{tools:?}"
    );
    let kept = std::fs::read_to_string(dir.join("MEMORY.md")).unwrap();
    assert!(kept.contains("src/parse.rs"), "{kept}");

    // User scope: under the home directory, outside the workspace, still writable.
    let user_file = std::sync::Arc::new(std::sync::OnceLock::<String>::new());
    let file_of = user_file.clone();
    let mock2 = MockModel::start(move |seen| match seen.turn() {
        0 => Step::now(call(
            "w1",
            "Write",
            json!({"file_path": file_of.get().unwrap(), "content": "user note\n"}),
        )),
        _ => Step::now(text("noted")),
    })
    .await;
    let h2 = Harness::new(&mock2.url, fast_providers);
    h2.agent("scribe", "tools: Bash\nmemory: user\n", "You take notes.");
    let user_dir = h2.home.join(".claude/agent-memory/scribe");
    user_file
        .set(user_dir.join("MEMORY.md").display().to_string())
        .unwrap();
    let result = h2.engine.task(h2.request("scribe", "note it")).await;
    assert_eq!(result.status, TaskStatus::Completed, "{:?}", result.error);
    let outputs = mock2.requests().last().unwrap().outputs();
    assert!(!outputs[0].1.starts_with("Error"), "{outputs:?}");
    assert_eq!(
        std::fs::read_to_string(user_dir.join("MEMORY.md")).unwrap(),
        "user note\n"
    );

    // A read-only session: the memory is read, Write is not offered.
    let mut req = h.request("scribe", "note what you learn");
    req.workspace.sandbox = SandboxMode::ReadOnly;
    h.agent(
        "scribe",
        "tools: Bash\nmemory: project\n",
        "You take notes.",
    );
    let before = mock.count();
    let _ = h.engine.task(req).await;
    let seen = mock.request(before).unwrap();
    assert!(
        !seen.tools().contains(&"Write".to_string()),
        "{:?}",
        seen.tools()
    );
    assert!(seen.system().contains("read-only"));
}
