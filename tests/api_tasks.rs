//! The task and agent endpoints through the whole app: run, batch, follow (SSE),
//! cancel, list, and the 400/404/409 answers.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed assumption is a failed test

mod engine_mock;
mod support;

use std::path::Path;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use codex_plus::claude::Roots;
use codex_plus::config::Config;
use codex_plus::state::AppState;
use engine_mock::*;
use serde_json::{json, Value};
use tower::ServiceExt;

struct Api {
    app: Router,
    ws: std::path::PathBuf,
    _tmp: tempfile::TempDir,
}

fn api(model_url: &str, configure: impl FnOnce(&mut Config)) -> Api {
    let tmp = tempfile::tempdir().unwrap();
    let root = std::fs::canonicalize(tmp.path()).unwrap();
    let ws = root.join("ws");
    std::fs::create_dir_all(ws.join(".claude/agents")).unwrap();
    std::fs::write(
        ws.join(".claude/agents/reviewer.md"),
        "---\nname: reviewer\ndescription: Reviews code\ntools: Read\n---\nYou review code.\n",
    )
    .unwrap();
    let mut config = Config::defaults(root.join("state"));
    config.upstream.openai = model_url.to_string();
    fast_providers(&mut config);
    configure(&mut config);
    let state = AppState::build(config, Roots::with_home(root.join("home")), &|_| None).unwrap();
    Api {
        app: codex_plus::app(state),
        ws,
        _tmp: tmp,
    }
}

impl Api {
    async fn call(&self, method: &str, uri: &str, body: Option<&str>) -> (StatusCode, Value) {
        let (status, bytes) = self.raw(method, uri, body).await;
        let value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        (status, value)
    }

    async fn raw(&self, method: &str, uri: &str, body: Option<&str>) -> (StatusCode, Vec<u8>) {
        let request = Request::builder()
            .method(method)
            .uri(uri)
            .header("content-type", "application/json")
            .body(Body::from(body.unwrap_or("").to_string()))
            .unwrap();
        let response = self.app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        (status, bytes.to_vec())
    }

    fn task(&self, extra: Value) -> String {
        let mut body = json!({
            "subagent_type": "reviewer",
            "prompt": "review main.rs",
            "description": "Review main",
            "cwd": self.ws,
        });
        for (k, v) in extra.as_object().cloned().unwrap_or_default() {
            body[k] = v;
        }
        body.to_string()
    }

    async fn wait_for_end(&self, id: &str) -> Value {
        for _ in 0..200 {
            let (_, task) = self.call("GET", &format!("/api/tasks/{id}"), None).await;
            if !matches!(task["status"].as_str(), Some("queued" | "running")) {
                return task;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("task {id} did not end");
    }
}

fn message(body: &Value) -> String {
    body["error"]["message"].as_str().unwrap_or("").to_string()
}

#[tokio::test]
async fn a_task_runs_and_answers_with_its_result() {
    let mock = MockModel::start(|_| Step::now(text("looks fine"))).await;
    let api = api(&mock.url, |_| {});
    let (status, body) = api
        .call("POST", "/api/tasks", Some(&api.task(json!({}))))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "completed");
    assert_eq!(body["output"], "looks fine");
    assert_eq!(body["agent"], "reviewer");
    assert_eq!(body["reused"], false);
    assert!(body["id"].as_str().unwrap().starts_with("task_"));
    assert_eq!(mock.requests()[0].prompt(), "review main.rs");

    // Found again by id, and in the list.
    let id = body["id"].as_str().unwrap();
    let (status, task) = api.call("GET", &format!("/api/tasks/{id}"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(task["output"], "looks fine");
    assert_eq!(task["depth"], 1);
    let (status, list) = api.call("GET", "/api/tasks?limit=5", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["tasks"][0]["id"], id);
}

#[tokio::test]
async fn a_batch_runs_in_parallel_and_wait_false_answers_202() {
    let mock = MockModel::start(|seen| {
        Step::after(
            Duration::from_millis(200),
            text(&format!("done: {}", seen.prompt())),
        )
    })
    .await;
    let api = api(&mock.url, |_| {});
    let ws = api.ws.display().to_string();
    let batch = json!({"tasks": [
        {"subagent_type": "reviewer", "prompt": "one", "cwd": ws},
        {"subagent_type": "Explore", "prompt": "two", "description": "Second", "cwd": ws},
    ]});
    let started = std::time::Instant::now();
    let (status, body) = api
        .call("POST", "/api/tasks", Some(&batch.to_string()))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        started.elapsed() < Duration::from_millis(390),
        "in parallel: {:?}",
        started.elapsed()
    );
    let outputs: Vec<&str> = body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["output"].as_str().unwrap())
        .collect();
    assert_eq!(outputs, ["done: one", "done: two"]);
    assert_eq!(
        body["results"][0]["description"], "one",
        "defaults to the prompt's words"
    );

    let (status, body) = api
        .call(
            "POST",
            "/api/tasks",
            Some(&api.task(json!({"wait": false}))),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["status"], "queued");
    let id = body["id"].as_str().unwrap().to_string();
    let ended = api.wait_for_end(&id).await;
    assert_eq!(ended["status"], "completed");

    let mut batch = batch.clone();
    batch["wait"] = json!(false);
    let (status, body) = api
        .call("POST", "/api/tasks", Some(&batch.to_string()))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(body["ids"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn events_stream_progress_and_end_after_finished() {
    let mock = MockModel::start(|seen| match seen.turn() {
        0 => Step::after(
            Duration::from_millis(100),
            call("c1", "Glob", json!({"pattern": "*.md"})),
        ),
        _ => Step::now(text("no markdown")),
    })
    .await;
    let api = api(&mock.url, |_| {});
    let (_, body) = api
        .call(
            "POST",
            "/api/tasks",
            Some(&api.task(json!({"wait": false}))),
        )
        .await;
    let id = body["id"].as_str().unwrap().to_string();
    let (status, bytes) = api
        .raw("GET", &format!("/api/tasks/{id}/events"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let text = String::from_utf8(bytes).unwrap();
    let kinds: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("event: "))
        .collect();
    // Subscribed after the POST answered: `started` may already be past.
    let kinds = kinds.strip_prefix(&["started"]).unwrap_or(&kinds);
    assert_eq!(
        kinds,
        ["model_call", "tool_use", "model_call", "finished"],
        "{text}"
    );
    let last_data = text
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("data: "))
        .unwrap();
    let finished: Value = serde_json::from_str(last_data).unwrap();
    assert_eq!(finished["type"], "finished");
    assert_eq!(finished["output"], "no markdown");

    // A finished task: one event.
    let (_, bytes) = api
        .raw("GET", &format!("/api/tasks/{id}/events"), None)
        .await;
    let text = String::from_utf8(bytes).unwrap();
    let kinds: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("event: "))
        .collect();
    assert_eq!(kinds, ["finished"]);
}

#[tokio::test]
async fn cancel_keeps_partial_output_and_refuses_a_second_time() {
    let mock = MockModel::start(|seen| match seen.turn() {
        0 => Step::now(calls(
            Some("started reading"),
            &[("c1", "Glob", json!({"pattern": "*"}))],
        )),
        _ => Step::now(Reply::Hang),
    })
    .await;
    let api = api(&mock.url, |_| {});
    let (_, body) = api
        .call(
            "POST",
            "/api/tasks",
            Some(&api.task(json!({"wait": false}))),
        )
        .await;
    let id = body["id"].as_str().unwrap().to_string();
    while mock.count() < 2 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let (status, body) = api
        .call("POST", &format!("/api/tasks/{id}/cancel"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["cancelled"], true);
    let ended = api.wait_for_end(&id).await;
    assert_eq!(ended["status"], "cancelled");
    assert_eq!(ended["output"], "started reading");
    let (status, body) = api
        .call("POST", &format!("/api/tasks/{id}/cancel"), None)
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        message(&body).contains("already ended (cancelled)"),
        "{body}"
    );
}

#[tokio::test]
async fn bad_requests_get_400_with_what_to_change() {
    let mock = MockModel::start(|_| Step::now(text("never"))).await;
    let api = api(&mock.url, |_| {});
    let ws = api.ws.display().to_string();
    let cases: Vec<(String, &str)> = vec![
        ("{not json".into(), "not valid JSON"),
        ("[1, 2]".into(), "must be a JSON object"),
        (api.task(json!({"promt": "typo"})), "unknown field `promt`"),
        (
            json!({"subagent_type": "reviewer"}).to_string(),
            "missing field `prompt`",
        ),
        (api.task(json!({"prompt": "   "})), "the prompt is empty"),
        (
            api.task(json!({"description": "d".repeat(201)})),
            "keep it under 200",
        ),
        (
            api.task(json!({"subagent_type": "reviewr"})),
            "unknown agent `reviewr`; available agents: Explore, general-purpose, Plan, reviewer",
        ),
        (
            json!({"subagent_type": "reviewer", "prompt": "review"}).to_string(),
            "`cwd` is missing: give the absolute path of the workspace",
        ),
        (
            api.task(json!({"cwd": "relative/dir"})),
            "must be an absolute path",
        ),
        (
            api.task(json!({"cwd": "/no/such/dir"})),
            "is not an existing directory",
        ),
        (
            api.task(json!({"wait": "yes"})),
            "`wait` must be true or false",
        ),
        (json!({"tasks": []}).to_string(), "give 1 to 100"),
        (
            json!({"tasks": [{"prompt": "ok", "cwd": ws}, {"prompt": "", "cwd": ws}]}).to_string(),
            "tasks[1]: the prompt is empty",
        ),
        (
            json!({"tasks": [{"prompt": "ok", "extra": 1}]}).to_string(),
            "tasks[0]: invalid task: unknown field `extra`",
        ),
        (
            json!({"tasks": [], "model": "x"}).to_string(),
            "unknown field `model` beside `tasks`",
        ),
        (
            api.task(json!({"sandbox": "full"})),
            "`sandbox`: unknown sandbox mode `full`; use one of read-only, workspace-write, danger-full-access",
        ),
        (
            api.task(json!({"sandbox": true})),
            "invalid task: invalid type: boolean `true`, expected a string",
        ),
        (
            json!({"tasks": [{"prompt": "ok", "cwd": ws, "sandbox": ""}]}).to_string(),
            "tasks[0]: `sandbox`: unknown sandbox mode ``",
        ),
    ];
    for (body, expected) in cases {
        let (status, answer) = api.call("POST", "/api/tasks", Some(&body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body} → {answer}");
        assert_eq!(answer["error"]["type"], "invalid_request", "{answer}");
        assert!(message(&answer).contains(expected), "{body}: {answer}");
    }
    assert_eq!(mock.count(), 0, "nothing ran");
    let (status, answer) = api.call("GET", "/api/tasks?limit=0", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(message(&answer).contains("from 1 to 1000"), "{answer}");
}

#[tokio::test]
async fn the_sandbox_field_confines_the_subagents_bash() {
    // The prompt is where the subagent's one Bash call writes; its answer is the output.
    let mock = MockModel::start(|seen| match seen.outputs().first() {
        None => Step::now(call(
            "c1",
            "Bash",
            json!({"command": format!("echo x > '{}'", seen.prompt())}),
        )),
        Some((_, output)) => Step::now(text(output)),
    })
    .await;
    let api = api(&mock.url, |_| {});
    // Not under /tmp, which workspace-write may write to.
    let outside = support::outside_temp_dirs();
    let run = |target: &Path, sandbox: Option<&str>| {
        let mut extra = json!({"subagent_type": "general-purpose", "prompt": target});
        if let Some(mode) = sandbox {
            extra["sandbox"] = json!(mode);
        }
        let body = api.task(extra);
        let api = &api;
        async move {
            let (status, answer) = api.call("POST", "/api/tasks", Some(&body)).await;
            assert_eq!(status, StatusCode::OK, "{answer}");
            answer["output"].as_str().unwrap_or("").to_string()
        }
    };

    // The default is workspace-write rooted at `cwd`.
    for (name, sandbox) in [("default", None), ("explicit", Some("workspace-write"))] {
        let target = outside.path().join(name);
        let output = run(&target, sandbox).await;
        match codex_plus::engine::tools::sandbox::support() {
            Ok(_) => assert!(output.contains("Permission denied"), "{output}"),
            Err(_) => assert!(output.contains("danger-full-access"), "{output}"),
        }
        assert!(!target.exists(), "{name}: {output}");
    }
    let target = outside.path().join("unconfined");
    run(&target, Some("danger-full-access")).await;
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "x\n");

    // read-only: no Bash offered at all (and no Write or Edit).
    let target = outside.path().join("read-only");
    run(&target, Some("read-only")).await;
    let tools = mock.requests().last().unwrap().tools();
    assert!(tools.contains(&"Read".to_string()), "{tools:?}");
    for writer in ["Bash", "Write", "Edit"] {
        assert!(!tools.contains(&writer.to_string()), "{tools:?}");
    }
    assert!(!target.exists());
}

#[tokio::test]
async fn unknown_tasks_get_404() {
    let mock = MockModel::start(|_| Step::now(text("never"))).await;
    let api = api(&mock.url, |_| {});
    for (method, uri) in [
        ("GET", "/api/tasks/task_nope"),
        ("GET", "/api/tasks/task_nope/events"),
        ("POST", "/api/tasks/task_nope/cancel"),
    ] {
        let (status, body) = api.call(method, uri, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{uri}");
        assert_eq!(body["error"]["type"], "not_found");
        assert!(message(&body).contains("no task task_nope"), "{body}");
    }
}

#[tokio::test]
async fn agents_are_listed_per_workspace() {
    let mock = MockModel::start(|_| Step::now(text("never"))).await;
    let api = api(&mock.url, |_| {});
    let uri = format!("/api/agents?cwd={}", api.ws.display());
    let (status, body) = api.call("GET", &uri, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let names: Vec<&str> = body["agents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Explore", "general-purpose", "Plan", "reviewer"]);
    assert_eq!(body["agents"][3]["tools"], json!(["Read"]));
    // What each does in a goal: the built-in Plan plans, the rest take subtasks.
    assert!(body["agents"][2]["goals"]
        .as_str()
        .unwrap()
        .starts_with("planner"));
    assert!(body["agents"][3]["goals"]
        .as_str()
        .unwrap()
        .starts_with("subtask"));
    let (status, body) = api.call("GET", "/api/agents?cwd=/no/such", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(message(&body).contains("not an existing directory"));
}

#[tokio::test]
async fn status_shows_tasks_usage_and_breakers() {
    let mock = MockModel::start(|_| Step::now(text("ok"))).await;
    let api = api(&mock.url, |_| {});
    let (status, task) = api
        .call("POST", "/api/tasks", Some(&api.task(json!({}))))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = api.call("GET", "/status", None).await;
    assert_eq!(status, StatusCode::OK);
    let tasks = &body["tasks"];
    assert_eq!(tasks["max_concurrent"], 10);
    assert_eq!(tasks["totals"]["by_status"]["completed"], 1, "{body}");
    assert_eq!(tasks["totals"]["per_agent"][0]["name"], "reviewer");
    assert_eq!(tasks["totals"]["per_provider"][0]["name"], "inherit");
    assert_eq!(tasks["totals"]["per_provider"][0]["input_tokens"], 10);
    // One convention for cost: the task's own (null when unpriced), summed.
    assert_eq!(
        task["cost_usd"],
        Value::Null,
        "the mock's model has no price"
    );
    assert_eq!(tasks["totals"]["per_agent"][0]["cost_usd"], Value::Null);
    assert_eq!(tasks["running"], json!([]));
    assert!(
        body["providers"]["breakers"]["inherit"].is_object(),
        "{body}"
    );
    assert!(Path::new(body["ledger"]["path"].as_str().unwrap()).ends_with("ledger.db"));

    // The same, for a scraper.
    let (status, bytes) = api.raw("GET", "/metrics", None).await;
    assert_eq!(status, StatusCode::OK);
    let metrics = String::from_utf8(bytes).unwrap();
    for line in [
        "codex_plus_tasks{status=\"completed\"} 1",
        "codex_plus_task_tokens{provider=\"inherit\",direction=\"input\"} 10",
        "codex_plus_provider_breaker_state{provider=\"inherit\"} 0",
        "codex_plus_tasks_running 0",
    ] {
        assert!(metrics.contains(line), "{line} in\n{metrics}");
    }
}

#[tokio::test]
async fn disabled_tasks_are_refused() {
    let mock = MockModel::start(|_| Step::now(text("never"))).await;
    let api = api(&mock.url, |c| c.tasks.enabled = false);
    let (status, body) = api
        .call("POST", "/api/tasks", Some(&api.task(json!({}))))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(message(&body).contains("[tasks] enabled = true"), "{body}");
    assert_eq!(mock.count(), 0);
}

#[test]
fn a_ledger_that_cannot_open_stops_start_up_naming_the_path() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("state");
    // A directory where the database file should be.
    std::fs::create_dir_all(home.join("ledger.db")).unwrap();
    let err = match AppState::build(
        Config::defaults(home.clone()),
        Roots::with_home(tmp.path()),
        &|_| None,
    ) {
        Ok(_) => panic!("opened a directory as the ledger"),
        Err(e) => e.to_string(),
    };
    assert!(
        err.contains(&home.join("ledger.db").display().to_string()),
        "{err}"
    );
}

#[tokio::test]
async fn a_tasks_transcript_holds_its_messages_model_calls_and_tool_calls_in_order() {
    let mock = MockModel::start(|seen| match seen.turn() {
        0 => Step::now(call("c1", "Read", json!({"file_path": "main.rs"}))),
        _ => Step::now(text("main.rs is fine")),
    })
    .await;
    let api = api(&mock.url, |_| {});
    std::fs::write(api.ws.join("main.rs"), "fn main() {}\n").unwrap();
    let (status, task) = api
        .call("POST", "/api/tasks", Some(&api.task(json!({}))))
        .await;
    assert_eq!(status, StatusCode::OK, "{task}");
    let id = task["id"].as_str().unwrap();
    let (status, t) = api
        .call("GET", &format!("/api/tasks/{id}/transcript"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{t}");
    assert_eq!(t["status"], "completed");
    let messages = t["messages"].as_array().unwrap();
    let roles: Vec<&str> = messages
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["user", "assistant", "user", "assistant"], "{t}");
    assert_eq!(messages[0]["content"][0]["text"], "review main.rs");
    assert_eq!(messages[1]["content"][0]["type"], "tool_call");
    assert_eq!(messages[1]["content"][0]["name"], "Read");
    assert_eq!(messages[2]["content"][0]["type"], "tool_result");
    assert!(messages[2]["content"][0]["content"]
        .as_str()
        .unwrap()
        .contains("fn main()"));
    assert_eq!(messages[3]["content"][0]["text"], "main.rs is fine");
    assert_eq!(t["model_calls"].as_array().unwrap().len(), 2);
    assert!(t["model_calls"][0]["input_tokens"].as_u64().is_some());
    assert_eq!(t["tool_calls"][0]["tool"], "Read");
    let (status, _) = api
        .call("GET", "/api/tasks/task_nope/transcript", None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
