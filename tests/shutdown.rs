//! SIGTERM on the real binary while a turn waits on a running Task: once the grace
//! period is over, the client gets `response.failed` saying why (not a bare cut),
//! and the ledger records the Task as `interrupted` with an `ended_at`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed assumption is a failed test

mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::json;
use support::mock::*;

const AGENT_PROMPT: &str = "You are the shutdown test agent";

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_ends_open_streams_with_response_failed_and_marks_tasks_interrupted() {
    // The subagent's model call never answers: the Task is still running at SIGTERM.
    let mock = MockUpstream::start(|req, _| {
        if req.text().contains(AGENT_PROMPT) {
            return Reply::Silent;
        }
        Reply::sse(&[
            ev_created("resp_1"),
            ev_function_call(
                "call_1",
                "Task",
                &json!({"description": "Hang", "prompt": "wait", "subagent_type": "hang-agent"}),
            ),
            ev_completed("resp_1"),
        ])
    })
    .await;
    let tmp = tempfile::tempdir().unwrap();
    let root = std::fs::canonicalize(tmp.path()).unwrap();
    let ws = root.join("ws");
    let state = root.join("state");
    std::fs::create_dir_all(ws.join(".claude/agents")).unwrap();
    std::fs::create_dir_all(&state).unwrap();
    std::fs::write(
        ws.join(".claude/agents/hang-agent.md"),
        format!("---\nname: hang-agent\ndescription: Waits\ntools: Read\n---\n{AGENT_PROMPT}.\n"),
    )
    .unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    std::fs::write(
        state.join("config.toml"),
        format!("[server]\nlisten = \"127.0.0.1:{port}\"\ntls = false\nshutdown_grace_secs = 1\nstream_keepalive_secs = 60\n"),
    )
    .unwrap();
    let mut proxy = Command::new(env!("CARGO_BIN_EXE_codex-plus"))
        .arg("serve")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", root.join("home"))
        .env("CODEX_PLUS_HOME", &state)
        .env("CODEX_PLUS_OPENAI_UPSTREAM", mock.url())
        .env("CODEX_PLUS_CHATGPT_UPSTREAM", mock.url())
        .env("OPENAI_API_KEY", "sk-test")
        .env("CODEX_PLUS_LOG", "debug")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(root.join("proxy.log")).unwrap())
        .spawn()
        .unwrap();
    let log = root.join("proxy.log");
    let log = move || std::fs::read_to_string(&log).unwrap_or_default();
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    while client.get(format!("{base}/health")).send().await.is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the proxy did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let body = json!({"model": "gpt-5.5", "stream": true, "tools": [], "input": [
        {"type": "message", "role": "user", "content": [{"type": "input_text",
            "text": format!("<environment_context><cwd>{}</cwd></environment_context>", ws.display())}]},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "go"}]}]});
    let resp = client
        .post(format!("{base}/v1/responses"))
        .header("authorization", "Bearer sk-test")
        .header("content-type", "application/json")
        .header("session-id", "s-stop")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let mut stream = resp.bytes_stream();
    let mut text = String::new();
    // Wait until the Task runs: its progress line is out, and its model call is in.
    while !text.contains("Task(hang-agent)") {
        let chunk = tokio::time::timeout(Duration::from_secs(10), stream.next())
            .await
            .expect("the turn went quiet before its Task started")
            .expect("the stream ended early")
            .unwrap();
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    let waiting = Instant::now();
    while !mock
        .responses_requests()
        .iter()
        .any(|r| r.text().contains(AGENT_PROMPT))
    {
        assert!(
            waiting.elapsed() < Duration::from_secs(10),
            "the subagent never called its model"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let sigterm = Instant::now();
    // SAFETY: kill only sends a signal to our own child.
    unsafe {
        libc::kill(proxy.id() as libc::pid_t, libc::SIGTERM);
    }
    while let Some(chunk) = tokio::time::timeout(Duration::from_secs(10), stream.next())
        .await
        .expect("the stream neither ended nor said why")
    {
        match chunk {
            Ok(chunk) => text.push_str(&String::from_utf8_lossy(&chunk)),
            Err(e) => panic!(
                "the stream was cut instead of ended: {e}\n{text}\n--- proxy log:\n{}",
                log()
            ),
        }
    }
    assert!(text.contains("event: response.failed"), "{text}");
    assert!(text.contains("codex-plus is shutting down"), "{text}");
    assert!(!text.contains("response.completed"), "{text}");
    let status = tokio::task::spawn_blocking(move || proxy.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status:?}");
    assert!(
        sigterm.elapsed() < Duration::from_secs(8),
        "{:?}",
        sigterm.elapsed()
    );

    let db = rusqlite::Connection::open(state.join("ledger.db")).unwrap();
    let (status, ended_at, error): (String, Option<i64>, Option<String>) = db
        .query_row("SELECT status, ended_at, error FROM tasks", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .unwrap();
    assert_eq!(status, "interrupted");
    assert!(ended_at.is_some(), "an interrupted task has its end time");
    assert!(error.unwrap_or_default().contains("shut down"));

    // The state directory and the ledger are the user's alone.
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&state), 0o700);
    for entry in std::fs::read_dir(&state).unwrap() {
        let path = entry.unwrap().path();
        if path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("ledger.db")
        {
            assert_eq!(mode(&path), 0o600, "{}", path.display());
        }
    }
}
