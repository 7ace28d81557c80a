//! Whatever mix of Task calls a response makes (instant failures, instant and slow
//! successes, several at once), and however the upstream body ends after
//! `response.completed`, each turn ends with exactly one `response.completed` and
//! sends exactly one continuation.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed assumption is a failed test

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{json, Value};
use support::mock::*;

const AGENT_PROMPT: &str = "You are the continuation test agent";

/// What the Tasks of one turn do; chosen from the turn's number.
#[derive(Debug, Clone, Copy)]
enum Mix {
    /// `subagent_type` names no agent: fails before anything runs.
    UnknownAgent,
    /// Arguments that are not JSON.
    BadArguments,
    /// No prompt.
    MissingPrompt,
    /// A subagent whose answer comes at once.
    Instant,
    /// A subagent whose answer takes a while.
    Slow,
    /// Three at once: an instant failure, an instant success and a slow one.
    Parallel,
}

const MIXES: [Mix; 6] = [
    Mix::UnknownAgent,
    Mix::BadArguments,
    Mix::MissingPrompt,
    Mix::Instant,
    Mix::Slow,
    Mix::Parallel,
];

fn task(call_id: &str, agent: &str, prompt: &str) -> Value {
    ev_function_call(
        call_id,
        "Task",
        &json!({"description": "Check", "prompt": prompt, "subagent_type": agent}),
    )
}

/// The first answer of turn `n`: its Task calls, then `response.completed`, then a
/// body that stays open for `tail` before it ends (the old body's end must not be
/// taken for the continuation's).
fn first_answer(n: usize, mix: Mix) -> Vec<Value> {
    let resp = format!("resp_{n}_a");
    let mut events = vec![ev_created(&resp)];
    match mix {
        Mix::UnknownAgent => events.push(task(&format!("c{n}"), "no-such-agent", "x")),
        Mix::BadArguments => events.push(json!({"type": "response.output_item.done",
            "item": {"type": "function_call", "id": format!("fc_{n}"), "call_id": format!("c{n}"),
                     "name": "Task", "arguments": "{not json"}})),
        Mix::MissingPrompt => events.push(ev_function_call(
            &format!("c{n}"),
            "Task",
            &json!({"description": "Nothing to do", "subagent_type": "cont-agent"}),
        )),
        Mix::Instant => events.push(task(&format!("c{n}"), "cont-agent", "instant")),
        Mix::Slow => events.push(task(&format!("c{n}"), "cont-agent", "slow")),
        Mix::Parallel => {
            events.push(task(&format!("c{n}x"), "no-such-agent", "x"));
            events.push(task(&format!("c{n}y"), "cont-agent", "instant"));
            events.push(task(&format!("c{n}z"), "cont-agent", "slow"));
        }
    }
    events.push(ev_completed(&resp));
    events
}

#[tokio::test]
async fn two_hundred_turns_of_mixed_tasks_each_complete_with_one_continuation() {
    support::init_logs();
    let subagent_runs = Arc::new(AtomicUsize::new(0));
    let runs = subagent_runs.clone();
    let mock = MockUpstream::start(move |req, _| {
        let text = req.text();
        if text.contains(AGENT_PROMPT) {
            runs.fetch_add(1, Ordering::SeqCst);
            let gap = if text.contains("\"slow\"") {
                Duration::from_millis(60)
            } else {
                Duration::ZERO
            };
            return Reply::Sse {
                chunks: answer("resp_sub", "subagent result")
                    .iter()
                    .map(sse_event)
                    .collect(),
                gap,
            };
        }
        let n: usize = text
            .split("turn number ")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .and_then(|digits| digits.parse().ok())
            .unwrap_or(0);
        if text.contains("function_call_output") {
            return Reply::sse(&answer(&format!("resp_{n}_b"), &format!("finished {n}")));
        }
        let mix = MIXES[n % MIXES.len()];
        let mut chunks: Vec<_> = first_answer(n, mix).iter().map(sse_event).collect();
        // Every other turn, the body stays open a little after its completion.
        let gap = if n.is_multiple_of(2) {
            Duration::from_millis(15)
        } else {
            Duration::ZERO
        };
        if n.is_multiple_of(2) {
            chunks.push(bytes::Bytes::from_static(b": trailing\n\n"));
        }
        Reply::Sse { chunks, gap }
    })
    .await;
    let home = tempfile::tempdir().unwrap();
    let ws = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(ws.path().join(".claude/agents")).unwrap();
    std::fs::write(
        ws.path().join(".claude/agents/cont-agent.md"),
        format!("---\nname: cont-agent\ndescription: For the continuation test\ntools: Read\n---\n{AGENT_PROMPT}.\n"),
    )
    .unwrap();
    let proxy = support::proxy(&mock.url(), home.path()).await;
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let env = format!(
        "<environment_context><cwd>{}</cwd></environment_context>",
        ws.path().display()
    );

    const TURNS: usize = 200;
    let turns = futures_util::stream::iter(0..TURNS).map(|n| {
        let client = client.clone();
        let env = env.clone();
        let addr = proxy.addr;
        async move {
            let body = json!({"model": "gpt-5.5", "stream": true, "tools": [], "input": [
                {"type": "message", "role": "user", "content": [{"type": "input_text", "text": env}]},
                {"type": "message", "role": "user", "content": [{"type": "input_text", "text": format!("turn number {n}")}]}]});
            let text = client
                .post(format!("http://{addr}/v1/responses"))
                .header("session-id", format!("s-{n}"))
                .header(
                    "x-codex-turn-metadata",
                    format!(r#"{{"session_id":"s-{n}","turn_id":"t-{n}","request_kind":"turn"}}"#),
                )
                .header("content-type", "application/json")
                .body(body.to_string())
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            (n, text)
        }
    });
    let results: Vec<(usize, String)> = turns.buffer_unordered(8).collect().await;

    let mut failed = Vec::new();
    for (n, text) in &results {
        let completed = text.matches("event: response.completed").count();
        if completed != 1
            || text.contains("response.failed")
            || !text.contains(&format!("finished {n}"))
        {
            failed.push(format!("turn {n} ({:?}): {text}", MIXES[n % MIXES.len()]));
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {TURNS} turns failed; the first: {}",
        failed.len(),
        failed[0]
    );

    let mut continuations = vec![0usize; TURNS];
    for req in mock.responses_requests() {
        let text = req.text();
        if text.contains("function_call_output") && !text.contains(AGENT_PROMPT) {
            let n: usize = text
                .split("turn number ")
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .and_then(|digits| digits.parse().ok())
                .unwrap();
            continuations[n] += 1;
        }
    }
    let wrong: Vec<_> = continuations
        .iter()
        .enumerate()
        .filter(|(_, c)| **c != 1)
        .collect();
    assert!(
        wrong.is_empty(),
        "turns without exactly one continuation: {wrong:?}"
    );

    // Each failing call reached the model as an error result naming the problem.
    let outputs_of = |n: usize| {
        mock.responses_requests()
            .into_iter()
            .find(|r| {
                let t = r.text();
                t.contains("function_call_output") && t.contains(&format!("turn number {n}\""))
            })
            .map(|r| r.input())
            .unwrap_or_default()
            .into_iter()
            .filter(|i| i["type"] == "function_call_output")
            .map(|i| i["output"].as_str().unwrap_or("").to_string())
            .collect::<Vec<_>>()
    };
    let unknown = outputs_of(0);
    assert!(
        unknown
            .iter()
            .any(|o| o.contains("no-such-agent") && o.contains("cont-agent")),
        "the unknown agent's result lists the available ones: {unknown:?}"
    );
    let bad = outputs_of(1);
    assert!(bad.iter().any(|o| o.contains("JSON")), "{bad:?}");
    let missing = outputs_of(2);
    assert!(missing.iter().any(|o| o.contains("prompt")), "{missing:?}");
    // Instant (1), slow (1) and parallel (2) turns ran a subagent; failures none.
    let per_cycle = 1 + 1 + 2;
    let cycles = TURNS / MIXES.len();
    let extra = (cycles * MIXES.len()..TURNS)
        .map(|n| match MIXES[n % MIXES.len()] {
            Mix::Instant | Mix::Slow => 1,
            Mix::Parallel => 2,
            _ => 0,
        })
        .sum::<usize>();
    assert_eq!(
        subagent_runs.load(Ordering::SeqCst),
        cycles * per_cycle + extra
    );
    proxy.stop().await;
}
