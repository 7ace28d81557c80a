//! Traces over OTLP/HTTP: a turn with one Task, whose subagent reads a file, sent to
//! a receiver the test starts, as one tree of spans named and attributed by the GenAI
//! conventions.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed assumption is a failed test

mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use serde_json::json;
use support::mock::*;

const AGENT_PROMPT: &str = "You are the traced agent";

/// An OTLP/HTTP receiver: every span POSTed to `/v1/traces`, decoded.
async fn receiver() -> (String, Arc<Mutex<Vec<Span>>>) {
    let spans = Arc::new(Mutex::new(Vec::new()));
    let kept = spans.clone();
    let app = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(move |headers: http::HeaderMap, body: bytes::Bytes| {
            let kept = kept.clone();
            async move {
                assert_eq!(
                    headers.get("content-type").unwrap(),
                    "application/x-protobuf"
                );
                let request = ExportTraceServiceRequest::decode(body).unwrap();
                for resource in request.resource_spans {
                    for scope in resource.scope_spans {
                        kept.lock().unwrap().extend(scope.spans);
                    }
                }
                ""
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), spans)
}

fn attribute(span: &Span, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref()?.value.as_ref())
        .map(|v| match v {
            AnyValue::StringValue(s) => s.clone(),
            AnyValue::IntValue(i) => i.to_string(),
            other => format!("{other:?}"),
        })
}

#[tokio::test]
async fn a_turn_with_one_task_is_one_tree_of_genai_spans() {
    support::init_logs();
    let mock = MockUpstream::start(|req, _| {
        let text = req.text();
        if text.contains(AGENT_PROMPT) {
            // The subagent: reads the notes, then reports.
            return Reply::sse(&if text.contains("function_call_output") {
                answer("resp_sub_2", "the notes say hello")
            } else {
                vec![
                    ev_created("resp_sub_1"),
                    ev_function_call("r1", "Read", &json!({"file_path": "notes.txt"})),
                    ev_completed("resp_sub_1"),
                ]
            });
        }
        if text.contains("function_call_output") {
            return Reply::sse(&answer("resp_2", "done"));
        }
        Reply::sse(&[
            ev_created("resp_1"),
            ev_function_call(
                "t1",
                "Task",
                &json!({"description": "Read notes", "prompt": "Read notes.txt", "subagent_type": "tracer"}),
            ),
            ev_completed("resp_1"),
        ])
    })
    .await;
    let (endpoint, spans) = receiver().await;
    let home = tempfile::tempdir().unwrap();
    let ws = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(ws.path().join(".claude/agents")).unwrap();
    std::fs::write(
        ws.path().join(".claude/agents/tracer.md"),
        format!("---\nname: tracer\ndescription: Reads for the trace test\ntools: Read\n---\n{AGENT_PROMPT}.\n"),
    )
    .unwrap();
    std::fs::write(ws.path().join("notes.txt"), "hello").unwrap();
    let proxy = support::proxy_with(&mock.url(), home.path(), |c| {
        c.telemetry.otlp_endpoint = Some(endpoint);
    })
    .await;

    let env = format!(
        "<environment_context><cwd>{}</cwd></environment_context>",
        ws.path().display()
    );
    let body = json!({"model": "gpt-5.5", "stream": true, "tools": [], "input": [
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": env}]},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "read the notes"}]}]});
    let text = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .post(format!("http://{}/v1/responses", proxy.addr))
        .header("session-id", "s-traced")
        .header(
            "x-codex-turn-metadata",
            r#"{"session_id":"s-traced","turn_id":"t-1","request_kind":"turn"}"#,
        )
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("done"), "{text}");
    // Shutdown sends what is still buffered.
    proxy.stop().await;

    let spans = spans.lock().unwrap().clone();
    let by_id: HashMap<&[u8], &Span> = spans.iter().map(|s| (s.span_id.as_slice(), s)).collect();
    let named = |name: &str| -> Vec<&Span> { spans.iter().filter(|s| s.name == name).collect() };
    let parent_of = |s: &Span| {
        by_id
            .get(s.parent_span_id.as_slice())
            .map(|p| p.name.clone())
    };
    let names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();

    let turn = named("turn");
    assert_eq!(turn.len(), 1, "{names:?}");
    let turn = turn[0];
    assert!(turn.parent_span_id.is_empty(), "the turn is the root");
    assert_eq!(
        attribute(turn, "codex_plus.request.kind").as_deref(),
        Some("user_turn")
    );
    assert_eq!(
        attribute(turn, "gen_ai.conversation.id").as_deref(),
        Some("s-traced")
    );
    assert!(
        spans.iter().all(|s| s.trace_id == turn.trace_id),
        "one trace: {names:?}"
    );

    // The turn's two upstream calls (the first, and the continuation with the Task's
    // result), and the subagent's two model calls.
    let chats = named("chat gpt-5.5");
    assert_eq!(chats.len(), 4, "{names:?}");
    let agent = named("invoke_agent tracer");
    assert_eq!(agent.len(), 1, "{names:?}");
    let agent = agent[0];
    assert_eq!(parent_of(agent).as_deref(), Some("turn"));
    assert_eq!(
        attribute(agent, "gen_ai.operation.name").as_deref(),
        Some("invoke_agent")
    );
    assert_eq!(
        attribute(agent, "codex_plus.task.status").as_deref(),
        Some("completed")
    );
    let (under_turn, under_agent): (Vec<&Span>, Vec<&Span>) =
        chats.iter().partition(|c| c.parent_span_id == turn.span_id);
    assert_eq!(under_turn.len(), 2, "the turn's own model calls");
    let (first, continuation) = if attribute(under_turn[1], "codex_plus.request.kind").is_some() {
        (under_turn[0], under_turn[1])
    } else {
        (under_turn[1], under_turn[0])
    };
    assert_eq!(
        attribute(continuation, "codex_plus.request.kind").as_deref(),
        Some("continuation")
    );
    assert!(
        first.end_time_unix_nano <= continuation.start_time_unix_nano,
        "one model call, then the next"
    );
    assert_eq!(under_agent.len(), 2, "the subagent's model calls");
    for chat in &under_agent {
        assert_eq!(chat.parent_span_id, agent.span_id);
        assert_eq!(
            attribute(chat, "gen_ai.operation.name").as_deref(),
            Some("chat")
        );
        assert_eq!(
            attribute(chat, "gen_ai.provider.name").as_deref(),
            Some("openai")
        );
        assert_eq!(
            attribute(chat, "gen_ai.request.model").as_deref(),
            Some("gpt-5.5")
        );
        assert!(attribute(chat, "gen_ai.usage.input_tokens").is_some());
    }
    let tool = named("execute_tool Read");
    assert_eq!(tool.len(), 1, "{names:?}");
    assert_eq!(tool[0].parent_span_id, agent.span_id);
    assert_eq!(
        attribute(tool[0], "gen_ai.tool.call.id").as_deref(),
        Some("r1")
    );
    // Children end within their parents.
    for span in &spans {
        if let Some(parent) = by_id.get(span.parent_span_id.as_slice()) {
            assert!(
                span.end_time_unix_nano <= parent.end_time_unix_nano
                    && span.start_time_unix_nano >= parent.start_time_unix_nano,
                "{} within {}",
                span.name,
                parent.name
            );
        }
    }
}
