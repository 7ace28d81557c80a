//! A client that disconnects while a Task runs does not kill it, and the same
//! request sent again (Codex's retry) reuses it instead of running it twice.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed assumption is a failed test

mod support;

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::json;
use support::mock::*;

const AGENT_PROMPT: &str = "You are the retry test agent";

#[tokio::test]
async fn a_retried_turn_reuses_the_task_that_already_ran() {
    support::init_logs();
    let mock = MockUpstream::start(|req, n| {
        if req.text().contains(AGENT_PROMPT) {
            return Reply::Sse {
                chunks: answer("resp_sub", "the one and only run").iter().map(sse_event).collect(),
                gap: Duration::from_millis(400),
            };
        }
        if req.text().contains("function_call_output") {
            return Reply::sse(&answer("resp_2", "continued"));
        }
        // The model is not deterministic: a new call id on the retry, same arguments.
        let call_id = format!("call_{n}");
        Reply::sse(&[
            ev_created("resp_1"),
            ev_function_call(&call_id, "Task", &json!({"description": "Once", "prompt": "Do it once", "subagent_type": "retry-agent"})),
            ev_completed("resp_1"),
        ])
    })
    .await;
    let home = tempfile::tempdir().unwrap();
    let ws = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(ws.path().join(".claude/agents")).unwrap();
    std::fs::write(
        ws.path().join(".claude/agents/retry-agent.md"),
        format!("---\nname: retry-agent\ndescription: For the retry test\ntools: Read\n---\n{AGENT_PROMPT}.\n"),
    )
    .unwrap();
    let proxy = support::proxy(&mock.url(), home.path()).await;
    let body = json!({"model": "gpt-5.5", "stream": true, "tools": [], "input": [
        {"type": "message", "role": "user", "content": [{"type": "input_text",
            "text": format!("<environment_context><cwd>{}</cwd></environment_context>", ws.path().display())}]},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "go"}]}]})
    .to_string();
    let post = || {
        reqwest::Client::new()
            .post(format!("http://{}/v1/responses", proxy.addr))
            .header("session-id", "s-retry")
            .header(
                "x-codex-turn-metadata",
                r#"{"session_id":"s-retry","turn_id":"t-1","request_kind":"turn"}"#,
            )
            .body(body.clone())
            .send()
    };

    // First try: the client goes away while the Task runs.
    let resp = post().await.unwrap();
    let mut stream = resp.bytes_stream();
    let first = stream.next().await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&first).contains("response.created"));
    drop(stream);

    // The retry: same request, same turn.
    let text = post().await.unwrap().text().await.unwrap();
    assert!(text.contains("⎿ Done"), "{text}");
    assert!(
        text.contains("continued") && text.contains("response.completed"),
        "{text}"
    );
    let runs = mock
        .responses_requests()
        .iter()
        .filter(|r| r.text().contains(AGENT_PROMPT))
        .count();
    assert_eq!(runs, 1, "the subagent ran once for both tries");
    let cont = mock
        .responses_requests()
        .into_iter()
        .find(|r| r.text().contains("function_call_output"))
        .unwrap();
    assert!(cont.text().contains("the one and only run"));
    proxy.stop().await;
}
