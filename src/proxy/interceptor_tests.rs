//! The interceptor over scripted event sequences: every case of issue #4.

use serde_json::{json, Value};

use super::interceptor::*;
use crate::wire::sse::{Decoder, Frame};

// --- building upstream events (with sequence numbers and output indices, as the API sends) ---

struct Upstream {
    seq: u64,
}

impl Upstream {
    fn new() -> Upstream {
        Upstream { seq: 0 }
    }

    fn ev(&mut self, mut v: Value) -> Frame {
        v["sequence_number"] = json!(self.seq);
        self.seq += 1;
        frame(&v)
    }

    fn created(&mut self, id: &str) -> Frame {
        self.ev(
            json!({"type": "response.created", "response": {"id": id, "status": "in_progress"}}),
        )
    }

    fn message(&mut self, index: u64, id: &str, text: &str) -> Vec<Frame> {
        vec![
            self.ev(
                json!({"type": "response.output_item.added", "output_index": index,
                "item": {"type": "message", "id": id, "role": "assistant", "content": []}}),
            ),
            self.ev(
                json!({"type": "response.output_text.delta", "output_index": index, "item_id": id,
                "content_index": 0, "delta": text}),
            ),
            self.ev(
                json!({"type": "response.output_item.done", "output_index": index,
                "item": {"type": "message", "id": id, "role": "assistant",
                    "content": [{"type": "output_text", "text": text}]}}),
            ),
        ]
    }

    fn call(&mut self, index: u64, name: &str, call_id: &str, args: &Value) -> Vec<Frame> {
        let item = json!({"type": "function_call", "id": format!("fc_{call_id}"), "call_id": call_id,
            "name": name, "arguments": args.to_string()});
        let mut added = item.clone();
        added["arguments"] = json!("");
        vec![
            self.ev(
                json!({"type": "response.output_item.added", "output_index": index, "item": added}),
            ),
            self.ev(
                json!({"type": "response.function_call_arguments.delta", "output_index": index,
                "item_id": format!("fc_{call_id}"), "delta": args.to_string()}),
            ),
            self.ev(
                json!({"type": "response.output_item.done", "output_index": index, "item": item}),
            ),
        ]
    }

    fn task(&mut self, index: u64, call_id: &str, agent: &str, description: &str) -> Vec<Frame> {
        self.call(
            index,
            "Task",
            call_id,
            &json!({"description": description, "prompt": format!("please {description}"), "subagent_type": agent}),
        )
    }

    fn completed(&mut self, id: &str, input: u64, output: u64) -> Frame {
        self.ev(json!({"type": "response.completed", "response": {"id": id, "status": "completed",
            "usage": {"input_tokens": input, "output_tokens": output, "total_tokens": input + output,
                      "input_tokens_details": {"cached_tokens": 1}}}}))
    }
}

fn frame(v: &Value) -> Frame {
    let mut d = Decoder::new();
    d.push(format!("event: {}\ndata: {}\n\n", v["type"].as_str().unwrap(), v).as_bytes());
    d.next_frame().unwrap()
}

/// Drives an interceptor and keeps what it said.
struct Run {
    i: Interceptor,
    out: Vec<Output>,
}

impl Run {
    fn new() -> Run {
        Run {
            i: Interceptor::new(Settings::default()),
            out: Vec::new(),
        }
    }

    fn frames(&mut self, frames: impl IntoIterator<Item = Frame>) -> &mut Self {
        for f in frames {
            self.i.push(Input::Frame(f), &mut self.out);
        }
        self
    }

    fn end(&mut self, end: End) -> &mut Self {
        self.i.push(Input::End(end), &mut self.out);
        self
    }

    fn resolve(&mut self, call_id: &str, outcome: Outcome) -> &mut Self {
        self.i.push(
            Input::Resolved {
                call_id: call_id.into(),
                outcome,
            },
            &mut self.out,
        );
        self
    }

    /// Every event the client received, parsed.
    fn client_events(&self) -> Vec<Value> {
        let bytes: Vec<u8> = self
            .out
            .iter()
            .filter_map(|o| match o {
                Output::Emit(b) => Some(b.to_vec()),
                _ => None,
            })
            .flatten()
            .collect();
        let mut d = Decoder::new();
        d.push(&bytes);
        std::iter::from_fn(|| d.next_frame())
            .filter_map(|f| serde_json::from_str(f.data()).ok())
            .collect()
    }

    fn client_types(&self) -> Vec<String> {
        self.client_events()
            .iter()
            .map(|e| e["type"].as_str().unwrap().to_string())
            .collect()
    }

    fn started(&self) -> Vec<TaskCall> {
        self.out
            .iter()
            .filter_map(|o| match o {
                Output::Start(c) => Some((**c).clone()),
                _ => None,
            })
            .collect()
    }

    fn continuations(&self) -> Vec<Vec<Value>> {
        self.out
            .iter()
            .filter_map(|o| match o {
                Output::Continue(items) => Some(items.clone()),
                _ => None,
            })
            .collect()
    }

    /// The `output` of each function_call_output in the first continuation.
    fn first_continuation_outputs(&self) -> Vec<String> {
        self.continuations()[0]
            .iter()
            .filter(|i| i["type"] == "function_call_output")
            .map(|i| i["output"].as_str().unwrap().to_string())
            .collect()
    }

    fn links(&self) -> Vec<HistoryLink> {
        self.out
            .iter()
            .filter_map(|o| match o {
                Output::Link(l) => Some(l.clone()),
                _ => None,
            })
            .collect()
    }

    fn progress_text(&self) -> String {
        self.client_events()
            .iter()
            .filter(|e| {
                e["type"] == "response.output_item.done"
                    && e["item"]["id"]
                        .as_str()
                        .is_some_and(|id| id.starts_with("msg_cxp_"))
            })
            .map(|e| {
                e["item"]["content"][0]["text"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect::<Vec<_>>()
            .join("\n---\n")
    }
}

fn done(text: &str) -> Outcome {
    Outcome {
        ok: true,
        output: text.into(),
        summary: "Done · 2 tool uses · 1.5s".into(),
    }
}

/// What every spliced stream must hold: one created, one terminal event at the end,
/// gapless sequence numbers, and output indices that never go back.
fn assert_coherent(events: &[Value]) {
    let created = events
        .iter()
        .filter(|e| e["type"] == "response.created")
        .count();
    assert_eq!(created, 1, "one response.created: {events:#?}");
    let terminal: Vec<usize> = events
        .iter()
        .enumerate()
        .filter(|(_, e)| {
            matches!(
                e["type"].as_str(),
                Some("response.completed" | "response.failed")
            )
        })
        .map(|(i, _)| i)
        .collect();
    assert_eq!(terminal, vec![events.len() - 1], "one terminal event, last");
    let seqs: Vec<u64> = events
        .iter()
        .filter_map(|e| e["sequence_number"].as_u64())
        .collect();
    assert_eq!(seqs.len(), events.len(), "every event numbered");
    assert!(
        seqs.windows(2).all(|w| w[1] == w[0] + 1),
        "gapless: {seqs:?}"
    );
    let mut seen_done = std::collections::HashSet::new();
    for e in events {
        if e["type"] == "response.output_item.done" {
            let idx = e["output_index"].as_u64().unwrap();
            assert!(seen_done.insert(idx), "output_index {idx} completed twice");
        }
    }
}

#[test]
fn a_plain_stream_passes_byte_for_byte() {
    let mut up = Upstream::new();
    let mut frames = vec![up.created("resp_1")];
    frames.extend(up.message(0, "msg_1", "hello"));
    frames.push(frame(
        &json!({"type": "response.some_future_event", "x": 1}),
    ));
    frames.push(up.completed("resp_1", 10, 5));
    let expected: Vec<u8> = frames.iter().flat_map(|f| f.raw().to_vec()).collect();
    let mut run = Run::new();
    run.frames(frames).end(End::Eof);
    let got: Vec<u8> = run
        .out
        .iter()
        .flat_map(|o| match o {
            Output::Emit(b) => b.to_vec(),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(got, expected);
    assert!(run.i.is_finished() && !run.i.failed_by_proxy());
}

#[test]
fn text_then_a_task_call_is_withheld_run_and_continued_in_one_response() {
    let mut up = Upstream::new();
    let mut run = Run::new();
    run.frames([up.created("resp_1")]);
    run.frames(up.message(0, "msg_1", "Let me delegate."));
    run.frames(up.task(1, "call_a", "code-reviewer", "Review auth"));

    // The subagent starts at the call's output_item.done, before the response completes.
    let started = run.started();
    assert_eq!(started.len(), 1);
    assert_eq!(started[0].call_id, "call_a");
    assert_eq!(
        started[0].args.subagent_type.as_deref(),
        Some("code-reviewer")
    );
    assert_eq!(started[0].args.prompt, "please Review auth");
    let shown = run.client_events();
    assert!(
        shown.iter().all(|e| e["item"]["type"] != "function_call"),
        "the call never reaches Codex"
    );
    assert!(!run
        .client_types()
        .contains(&"response.function_call_arguments.delta".to_string()));

    run.frames([up.completed("resp_1", 100, 20)]).end(End::Eof);
    assert!(
        run.progress_text().is_empty(),
        "progress message still open"
    );
    let text_so_far: String = run
        .client_events()
        .iter()
        .filter(|e| e["type"] == "response.output_text.delta")
        .map(|e| e["delta"].as_str().unwrap().to_string())
        .collect();
    assert!(
        text_so_far.contains("⏺ Task(code-reviewer): Review auth"),
        "{text_so_far}"
    );
    assert!(run.continuations().is_empty(), "waits for the task");

    run.resolve("call_a", done("review: looks good"));
    let progress = run.progress_text();
    assert_eq!(
        progress,
        "⏺ Task(code-reviewer): Review auth\n  ⎿ Done · 2 tool uses · 1.5s"
    );
    let cont = run.continuations();
    assert_eq!(cont.len(), 1);
    let kinds: Vec<&str> = cont[0]
        .iter()
        .map(|i| i["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["message", "function_call", "function_call_output"]);
    assert_eq!(cont[0][2]["call_id"], "call_a");
    assert_eq!(cont[0][2]["output"], "review: looks good");
    let link = &run.links()[0];
    assert!(link.message_id.starts_with("msg_cxp_"));
    assert_eq!(link.calls[0].0["name"], "Task");
    assert_eq!(
        link.calls[0].1.after.as_deref(),
        Some("msg_1"),
        "the call followed the message"
    );
    assert_eq!(link.outputs[0]["output"], "review: looks good");

    // The continuation's stream is spliced in.
    let mut up2 = Upstream::new();
    run.frames([up2.created("resp_2")]);
    run.frames(up2.message(0, "msg_2", "The review found nothing."));
    run.frames([up2.completed("resp_2", 150, 30)]).end(End::Eof);

    let events = run.client_events();
    assert_coherent(&events);
    let done_items: Vec<(u64, String)> = events
        .iter()
        .filter(|e| e["type"] == "response.output_item.done")
        .map(|e| {
            (
                e["output_index"].as_u64().unwrap(),
                e["item"]["id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(done_items[0], (0, "msg_1".to_string()));
    assert_eq!(done_items[1].0, 1);
    assert!(done_items[1].1.starts_with("msg_cxp_"));
    assert_eq!(done_items[2], (2, "msg_2".to_string()));
    let completed = events.last().unwrap();
    assert_eq!(completed["type"], "response.completed");
    assert_eq!(
        completed["response"]["id"], "resp_1",
        "one response from Codex's view"
    );
    assert_eq!(completed["response"]["usage"]["input_tokens"], 250);
    assert_eq!(completed["response"]["usage"]["output_tokens"], 50);
    assert_eq!(
        completed["response"]["usage"]["input_tokens_details"]["cached_tokens"],
        2
    );
    assert_eq!(completed["response"]["output"].as_array().unwrap().len(), 3);
    assert!(run.i.is_finished());
}

#[test]
fn two_parallel_calls_run_together_and_continue_once_both_are_done() {
    let mut up = Upstream::new();
    let mut run = Run::new();
    run.frames([up.created("r1")]);
    run.frames(up.task(0, "c1", "code-reviewer", "Review"));
    run.frames(up.task(1, "c2", "test-runner", "Test"));
    run.frames([up.completed("r1", 10, 10)]).end(End::Eof);
    assert_eq!(run.started().len(), 2, "both start before either finishes");

    run.resolve("c2", done("tests pass"));
    assert!(run.continuations().is_empty());
    run.resolve("c1", done("reviewed"));
    let cont = &run.continuations()[0];
    let outputs: Vec<(&str, &str)> = cont
        .iter()
        .filter(|i| i["type"] == "function_call_output")
        .map(|i| {
            (
                i["call_id"].as_str().unwrap(),
                i["output"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(outputs, [("c1", "reviewed"), ("c2", "tests pass")]);
    let progress = run.progress_text();
    assert!(
        progress.starts_with("⏺ Task(code-reviewer): Review\n⏺ Task(test-runner): Test\n"),
        "{progress}"
    );
    assert!(progress.contains("⎿ Done · 2 tool uses · 1.5s · Task(test-runner)"));
    assert!(progress.ends_with("⎿ Done · 2 tool uses · 1.5s · Task(code-reviewer)"));
    assert_eq!(run.links()[0].calls.len(), 2);
}

#[test]
fn task_next_to_a_codex_tool_call_ends_the_response_for_codex_without_a_continuation() {
    let mut up = Upstream::new();
    let mut run = Run::new();
    run.frames([up.created("r1")]);
    run.frames(up.task(0, "c_task", "Explore", "Find config"));
    run.frames(up.call(1, "exec_command", "c_exec", &json!({"cmd": "ls"})));
    run.frames([up.completed("r1", 10, 10)]).end(End::Eof);

    let passed: Vec<Value> = run
        .client_events()
        .into_iter()
        .filter(|e| {
            e["type"] == "response.output_item.done" && e["item"]["type"] == "function_call"
        })
        .collect();
    assert_eq!(passed.len(), 1);
    assert_eq!(
        passed[0]["item"]["name"], "exec_command",
        "Codex gets its own call"
    );
    assert_eq!(
        passed[0]["output_index"], 0,
        "renumbered past the withheld call"
    );
    assert!(!run.i.is_finished(), "waits for the Task");

    run.resolve("c_task", done("found it"));
    assert!(
        run.continuations().is_empty(),
        "Codex sends the next request itself"
    );
    let events = run.client_events();
    assert_coherent(&events);
    assert_eq!(events.last().unwrap()["type"], "response.completed");
    let link = &run.links()[0];
    assert_eq!(link.calls[0].0["call_id"], "c_task");
    assert_eq!(link.calls[0].1.after, None, "the call came first");
    assert_eq!(
        link.calls[0].1.before.as_deref(),
        Some("fc_c_exec"),
        "before Codex's own call"
    );
    assert_eq!(link.outputs[0]["output"], "found it");
}

#[test]
fn the_continuation_may_call_task_again() {
    let mut up = Upstream::new();
    let mut run = Run::new();
    run.frames([up.created("r1")])
        .frames(up.task(0, "c1", "Plan", "Plan it"));
    run.frames([up.completed("r1", 1, 1)])
        .end(End::Eof)
        .resolve("c1", done("plan"));
    let mut up2 = Upstream::new();
    run.frames([up2.created("r2")])
        .frames(up2.task(0, "c2", "general-purpose", "Do it"));
    run.frames([up2.completed("r2", 1, 1)]).end(End::Eof);
    assert_eq!(run.started().len(), 2);
    run.resolve("c2", done("did"));
    assert_eq!(run.continuations().len(), 2);
    let second = &run.continuations()[1];
    assert_eq!(second.last().unwrap()["call_id"], "c2");
    let mut up3 = Upstream::new();
    run.frames([up3.created("r3")])
        .frames(up3.message(0, "m", "all done"));
    run.frames([up3.completed("r3", 1, 1)]).end(End::Eof);
    let events = run.client_events();
    assert_coherent(&events);
    assert_eq!(
        events.last().unwrap()["response"]["usage"]["input_tokens"],
        3
    );
    assert_eq!(
        run.progress_text().matches("⏺ Task(").count(),
        2,
        "one progress message per round"
    );
}

#[test]
fn a_failed_subagent_is_reported_to_the_model_and_the_user() {
    let mut up = Upstream::new();
    let mut run = Run::new();
    run.frames([up.created("r1")])
        .frames(up.task(0, "c1", "debugger", "Debug"));
    run.frames([up.completed("r1", 1, 1)]).end(End::Eof);
    run.resolve("c1", Outcome::failed("model unavailable (anthropic 529)"));
    assert!(run
        .progress_text()
        .contains("  ⎿ Failed: model unavailable (anthropic 529)"));
    let cont = &run.continuations()[0];
    let output = cont.last().unwrap()["output"].as_str().unwrap();
    assert!(
        output.contains("Task failed: model unavailable"),
        "{output}"
    );
}

#[test]
fn an_upstream_failure_during_the_continuation_ends_with_one_response_failed() {
    let mut up = Upstream::new();
    let mut run = Run::new();
    run.frames([up.created("r1")])
        .frames(up.task(0, "c1", "Explore", "Look"));
    run.frames([up.completed("r1", 1, 1)])
        .end(End::Eof)
        .resolve("c1", done("x"));
    let mut up2 = Upstream::new();
    run.frames([up2.created("r2")]);
    run.frames(up2.message(0, "m2", "partial"));
    run.end(End::Broken("connection reset".into()));
    let events = run.client_events();
    assert_coherent(&events);
    let last = events.last().unwrap();
    assert_eq!(last["type"], "response.failed");
    assert_eq!(last["response"]["id"], "r1");
    assert!(last["response"]["error"]["message"]
        .as_str()
        .unwrap()
        .contains("connection reset"));
    assert!(run.i.failed_by_proxy());

    let mut run = Run::new();
    run.frames([up.created("r1")])
        .frames(up.task(0, "c1", "Explore", "Look"));
    run.frames([up.completed("r1", 1, 1)])
        .end(End::Eof)
        .resolve("c1", done("x"));
    run.end(End::Refused("HTTP 500 from upstream".into()));
    let last = run.client_events().pop().unwrap();
    assert!(last["response"]["error"]["message"]
        .as_str()
        .unwrap()
        .contains("continuation after the Task calls failed: HTTP 500"));
}

#[test]
fn a_stream_without_response_completed_fails_clearly_even_with_a_task_running() {
    let mut up = Upstream::new();
    let mut run = Run::new();
    run.frames([up.created("r1")])
        .frames(up.task(0, "c1", "Explore", "Look"));
    run.end(End::Eof);
    let events = run.client_events();
    assert_coherent(&events);
    assert!(events.last().unwrap()["response"]["error"]["message"]
        .as_str()
        .unwrap()
        .contains("before response.completed"));
    assert!(run.continuations().is_empty());
}

#[test]
fn an_upstream_response_failed_is_passed_on_once() {
    let mut up = Upstream::new();
    let mut run = Run::new();
    run.frames([up.created("r1")]);
    run.frames([up.ev(
        json!({"type": "response.failed", "response": {"id": "r1", "error": {"message": "quota"}}}),
    )]);
    run.end(End::Broken("reset".into()));
    let types = run.client_types();
    assert_eq!(types, ["response.created", "response.failed"]);
    assert!(!run.i.failed_by_proxy());
}

#[test]
fn unknown_event_types_pass_through_even_after_a_splice() {
    let mut up = Upstream::new();
    let mut run = Run::new();
    run.frames([up.created("r1")])
        .frames(up.task(0, "c1", "Explore", "Look"));
    run.frames([up.completed("r1", 1, 1)])
        .end(End::Eof)
        .resolve("c1", done("x"));
    let mut up2 = Upstream::new();
    run.frames([up2.created("r2")]);
    run.frames([up2.ev(json!({"type": "response.brand_new_thing", "payload": [1, 2]}))]);
    run.frames([up2.completed("r2", 1, 1)]).end(End::Eof);
    let events = run.client_events();
    assert_coherent(&events);
    let novel = events
        .iter()
        .find(|e| e["type"] == "response.brand_new_thing")
        .unwrap();
    assert_eq!(novel["payload"], json!([1, 2]));
}

#[test]
fn rounds_are_bounded() {
    let mut run = Run {
        i: Interceptor::new(Settings {
            max_rounds: 2,
            ..Settings::default()
        }),
        out: Vec::new(),
    };
    for round in 0..2 {
        let mut up = Upstream::new();
        let c = format!("c{round}");
        run.frames([up.created("r")])
            .frames(up.task(0, &c, "Explore", "Again"));
        run.frames([up.completed("r", 1, 1)])
            .end(End::Eof)
            .resolve(&c, done("x"));
    }
    assert_eq!(run.continuations().len(), 1);
    let last = run.client_events().pop().unwrap();
    assert_eq!(last["type"], "response.failed");
    assert!(last["response"]["error"]["message"]
        .as_str()
        .unwrap()
        .contains("tasks.max_rounds"));
}

#[test]
fn bad_task_arguments_are_answered_without_running_anything() {
    let mut up = Upstream::new();
    let mut run = Run::new();
    run.frames([up.created("r1")]);
    run.frames(up.call(0, "Task", "c1", &json!("not an object")));
    run.frames(up.call(
        1,
        "Agent",
        "c2",
        &json!({"description": "x", "prompt": "  "}),
    ));
    run.frames([up.completed("r1", 1, 1)]).end(End::Eof);
    assert!(run.started().is_empty());
    let outputs = run.first_continuation_outputs();
    assert!(outputs[0].contains("not valid JSON"), "{outputs:?}");
    assert!(outputs[1].contains("no prompt"), "{outputs:?}");
}

#[test]
fn a_task_that_finishes_before_the_response_completes_shows_both_lines() {
    let mut up = Upstream::new();
    let mut run = Run::new();
    run.frames([up.created("r1")])
        .frames(up.task(0, "c1", "Explore", "Quick"));
    run.resolve("c1", done("fast"));
    assert!(run
        .client_events()
        .iter()
        .all(|e| e["type"] == "response.created"));
    run.frames([up.completed("r1", 1, 1)]).end(End::Eof);
    assert_eq!(
        run.progress_text(),
        "⏺ Task(Explore): Quick\n  ⎿ Done · 2 tool uses · 1.5s"
    );
    assert_eq!(run.continuations().len(), 1);
}

#[test]
fn events_without_indices_or_numbers_still_work() {
    // Codex's own test servers send bare output_item.done events; so may proxies upstream.
    let mut run = Run::new();
    run.frames([
        frame(&json!({"type": "response.created", "response": {"id": "r1"}})),
        frame(&json!({"type": "response.output_item.done", "item": {"type": "message", "id": "m1", "role": "assistant", "content": [{"type": "output_text", "text": "hi"}]}})),
        frame(&json!({"type": "response.output_item.done", "item": {"type": "function_call", "call_id": "c1", "name": "Task", "arguments": "{\"description\":\"d\",\"prompt\":\"p\"}"}})),
        frame(&json!({"type": "response.completed", "response": {"id": "r1"}})),
    ]);
    run.end(End::Eof).resolve("c1", done("ok"));
    assert_eq!(run.started()[0].args.subagent_type, None);
    assert!(run
        .progress_text()
        .starts_with("⏺ Task(general-purpose): d"));
    assert_eq!(run.continuations().len(), 1);
}

#[test]
fn with_interception_off_task_calls_reach_codex() {
    let mut up = Upstream::new();
    let mut run = Run {
        i: Interceptor::passthrough(),
        out: Vec::new(),
    };
    run.frames([up.created("r1")])
        .frames(up.task(0, "c1", "Explore", "Look"));
    run.frames([up.completed("r1", 1, 1)]).end(End::Eof);
    assert!(run.started().is_empty());
    assert!(run
        .client_events()
        .iter()
        .any(|e| e["item"]["name"] == "Task"));
}

// --- PreToolUse: held calls ---

fn holding(names: &'static [&'static str]) -> Run {
    Run {
        i: Interceptor::new(Settings {
            hold: Some(std::sync::Arc::new(move |n: &str| names.contains(&n))),
            ..Settings::default()
        }),
        out: Vec::new(),
    }
}

impl Run {
    fn decided(&mut self, call_id: &str, decision: Decision) -> &mut Self {
        self.i.push(
            Input::Decided {
                call_id: call_id.into(),
                decision,
            },
            &mut self.out,
        );
        self
    }

    fn held(&self) -> Vec<HeldCall> {
        self.out
            .iter()
            .filter_map(|o| match o {
                Output::Decide(c) => Some(c.clone()),
                _ => None,
            })
            .collect()
    }

    fn stop_checks(&self) -> Vec<bool> {
        self.out
            .iter()
            .filter_map(|o| match o {
                Output::StopCheck { active } => Some(*active),
                _ => None,
            })
            .collect()
    }

    fn stop_decided(&mut self, reason: Option<&str>) -> &mut Self {
        self.i.push(
            Input::StopDecided(reason.map(str::to_string)),
            &mut self.out,
        );
        self
    }
}

#[test]
fn a_denied_tool_call_never_reaches_codex_and_the_model_gets_the_reason() {
    let mut up = Upstream::new();
    let mut run = holding(&["exec_command"]);
    run.frames([up.created("r1")]);
    run.frames(up.call(0, "exec_command", "c1", &json!({"cmd": "rm proof.txt"})));
    assert!(
        run.client_events()
            .iter()
            .all(|e| e["type"] == "response.created"),
        "held, not shown"
    );
    let held = run.held();
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].name, "exec_command");
    assert_eq!(
        held[0].item["arguments"],
        json!({"cmd": "rm proof.txt"}).to_string()
    );
    run.frames([up.completed("r1", 5, 5)]).end(End::Eof);
    assert!(run.continuations().is_empty(), "waits for the decision");

    run.decided(
        "c1",
        Decision::Deny {
            reason: "rm is not allowed here".into(),
        },
    );
    assert!(run
        .client_events()
        .iter()
        .all(|e| e["item"]["type"] != "function_call"));
    assert_eq!(
        run.progress_text(),
        "⏺ exec_command(rm proof.txt)\n  ⎿ Blocked by hook: rm is not allowed here"
    );
    let cont = &run.continuations()[0];
    assert_eq!(cont[0]["name"], "exec_command");
    assert_eq!(cont[1]["type"], "function_call_output");
    assert_eq!(cont[1]["output"], "Blocked by hook: rm is not allowed here");
    assert_eq!(run.links()[0].calls[0].0["call_id"], "c1");
}

#[test]
fn an_allowed_call_is_released_in_order_and_codex_runs_it() {
    let mut up = Upstream::new();
    let mut run = holding(&["exec_command"]);
    run.frames([up.created("r1")]);
    run.frames(up.message(0, "m1", "Listing."));
    run.frames(up.call(1, "exec_command", "c1", &json!({"cmd": "ls"})));
    run.frames([up.completed("r1", 5, 5)]).end(End::Eof);
    run.decided("c1", Decision::Allow { item: None });
    let events = run.client_events();
    assert_coherent(&events);
    let call = events
        .iter()
        .find(|e| e["type"] == "response.output_item.done" && e["item"]["type"] == "function_call")
        .unwrap();
    assert_eq!(call["output_index"], 1);
    assert_eq!(call["item"]["arguments"], json!({"cmd": "ls"}).to_string());
    assert!(
        run.continuations().is_empty(),
        "Codex runs it and sends the next request"
    );
    assert!(run.progress_text().is_empty());
}

#[test]
fn updated_input_rewrites_the_call_codex_sees() {
    let mut up = Upstream::new();
    let mut run = holding(&["exec_command"]);
    run.frames([up.created("r1")]);
    run.frames(up.call(0, "exec_command", "c1", &json!({"cmd": "rm -rf build"})));
    run.frames([up.completed("r1", 5, 5)]).end(End::Eof);
    let mut item = run.held()[0].item.clone();
    item["arguments"] = json!(json!({"cmd": "rm -rf ./build"}).to_string());
    run.decided("c1", Decision::Allow { item: Some(item) });
    let events = run.client_events();
    assert_coherent(&events);
    assert!(
        !run.client_types()
            .contains(&"response.function_call_arguments.delta".to_string()),
        "old arguments withheld"
    );
    let call = events
        .iter()
        .find(|e| e["type"] == "response.output_item.done")
        .unwrap();
    assert_eq!(
        call["item"]["arguments"],
        json!({"cmd": "rm -rf ./build"}).to_string()
    );
    assert_eq!(
        events.last().unwrap()["response"]["output"][0]["arguments"],
        json!({"cmd": "rm -rf ./build"}).to_string()
    );
}

#[test]
fn calls_that_no_hook_matches_pass_at_once() {
    let mut up = Upstream::new();
    let mut run = holding(&["apply_patch"]);
    run.frames([up.created("r1")]);
    run.frames(up.call(0, "exec_command", "c1", &json!({"cmd": "ls"})));
    assert!(run.held().is_empty());
    assert!(run
        .client_events()
        .iter()
        .any(|e| e["item"]["name"] == "exec_command"));
}

// --- Stop ---

fn stopping(max: u32) -> Run {
    Run {
        i: Interceptor::new(Settings {
            stop_check: true,
            max_stop_continuations: max,
            ..Settings::default()
        }),
        out: Vec::new(),
    }
}

#[test]
fn a_stop_check_that_blocks_continues_the_turn_with_the_reason() {
    let mut up = Upstream::new();
    let mut run = stopping(3);
    run.frames([up.created("r1")])
        .frames(up.message(0, "m1", "Done, I think."));
    run.frames([up.completed("r1", 5, 5)]).end(End::Eof);
    assert_eq!(run.stop_checks(), [false]);
    assert!(
        !run.i.is_finished(),
        "completed is held while the check runs"
    );
    run.stop_decided(Some("tests were not run"));
    let cont = &run.continuations()[0];
    assert_eq!(cont[0]["id"], "m1");
    assert_eq!(cont[1]["role"], "user");
    assert!(cont[1].to_string().contains("tests were not run"));

    let mut up2 = Upstream::new();
    run.frames([up2.created("r2")])
        .frames(up2.message(0, "m2", "Ran the tests."));
    run.frames([up2.completed("r2", 5, 5)]).end(End::Eof);
    assert_eq!(
        run.stop_checks(),
        [false, true],
        "stop_hook_active on the next check"
    );
    run.stop_decided(None);
    let events = run.client_events();
    assert_coherent(&events);
    assert_eq!(
        events.last().unwrap()["response"]["output"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

#[test]
fn stop_continuations_are_bounded_and_skipped_after_tool_calls() {
    let mut up = Upstream::new();
    let mut run = stopping(1);
    run.frames([up.created("r1")])
        .frames(up.message(0, "m1", "a"));
    run.frames([up.completed("r1", 1, 1)])
        .end(End::Eof)
        .stop_decided(Some("again"));
    let mut up2 = Upstream::new();
    run.frames([up2.created("r2")])
        .frames(up2.message(0, "m2", "b"));
    run.frames([up2.completed("r2", 1, 1)]).end(End::Eof);
    assert_eq!(run.stop_checks().len(), 1, "no second check past the bound");
    assert!(run.i.is_finished());

    let mut up = Upstream::new();
    let mut run = stopping(3);
    run.frames([up.created("r1")])
        .frames(up.call(0, "exec_command", "c", &json!({"cmd": "ls"})));
    run.frames([up.completed("r1", 1, 1)]).end(End::Eof);
    assert!(
        run.stop_checks().is_empty(),
        "Codex has tool calls to run: not a stop"
    );
    assert!(run.i.is_finished());
}

#[test]
fn while_tasks_run_ticks_keep_the_stream_alive_and_otherwise_say_nothing() {
    let mut up = Upstream::new();
    let mut run = Run::new();
    run.frames([up.created("r1")]);
    run.i.push(Input::Tick, &mut run.out);
    assert_eq!(
        run.client_types(),
        ["response.created"],
        "nothing to keep alive yet"
    );
    run.frames(up.task(0, "c1", "Explore", "Slow"));
    assert!(run.i.is_waiting());
    run.i.push(Input::Tick, &mut run.out);
    run.i.push(Input::Tick, &mut run.out);
    let beats: Vec<Value> = run
        .client_events()
        .into_iter()
        .filter(|e| e["type"] == "response.in_progress")
        .collect();
    assert_eq!(beats.len(), 2);
    assert_eq!(beats[0]["response"]["id"], "r1");
    run.frames([up.completed("r1", 1, 1)])
        .end(End::Eof)
        .resolve("c1", done("x"));
    assert!(
        !run.i.is_waiting(),
        "the continuation is the upstream's to answer"
    );
    let mut up2 = Upstream::new();
    run.frames([up2.created("r2")])
        .frames(up2.message(0, "m", "ok"));
    run.frames([up2.completed("r2", 1, 1)]).end(End::Eof);
    assert_coherent(&run.client_events());
}

#[test]
fn a_skill_call_is_answered_by_the_proxy_only_when_it_offered_the_tool() {
    // Offered: withheld, started as a Skill, continued with its text.
    let mut up = Upstream::new();
    let mut run = Run::new();
    run.i = Interceptor::new(Settings {
        answers: Answers {
            skills: true,
            ..Answers::default()
        },
        ..Settings::default()
    });
    run.frames([up.created("r1")]);
    run.frames(up.call(
        0,
        "Skill",
        "c1",
        &json!({"skill": "style", "args": "short"}),
    ));
    run.frames(up.call(1, "Skill", "c2", &json!({"args": "no name"})));
    run.frames([up.completed("r1", 1, 1)]);
    let started = run.started();
    assert_eq!(started.len(), 1, "{started:?}");
    assert_eq!(started[0].name, "Skill");
    assert_eq!(started[0].args.skill.as_deref(), Some("style"));
    assert_eq!(started[0].args.args.as_deref(), Some("short"));
    run.resolve("c1", done("Short sentences."));
    run.end(End::Eof);
    let outputs = run.first_continuation_outputs();
    assert_eq!(outputs[0], "Short sentences.");
    assert!(outputs[1].contains("names no skill"), "{outputs:?}");
    assert!(
        run.progress_text().contains("Skill(style)"),
        "{}",
        run.progress_text()
    );

    // Not offered (the request had its own Skill tool): Codex gets the call.
    let mut up = Upstream::new();
    let mut run = Run::new();
    run.frames([up.created("r1")]);
    run.frames(up.call(0, "Skill", "c1", &json!({"skill": "style"})));
    run.frames([up.completed("r1", 1, 1)]).end(End::Eof);
    assert!(run.started().is_empty());
    assert!(run.continuations().is_empty());
    let calls = run
        .client_events()
        .into_iter()
        .filter(|e| e["type"] == "response.output_item.done" && e["item"]["name"] == "Skill")
        .count();
    assert_eq!(calls, 1);
}

#[test]
fn task_output_and_task_stop_are_answered_when_offered() {
    let mut up = Upstream::new();
    let mut run = Run::new();
    run.i = Interceptor::new(Settings {
        answers: Answers {
            tasks: true,
            background: true,
            ..Answers::default()
        },
        ..Settings::default()
    });
    run.frames([up.created("r1")]);
    run.frames(up.call(
        0,
        "TaskOutput",
        "c1",
        &json!({"task_id": "t1", "block": false}),
    ));
    run.frames(up.call(1, "TaskStop", "c2", &json!({})));
    run.frames([up.completed("r1", 1, 1)]);
    let started = run.started();
    assert_eq!(started.len(), 1, "{started:?}");
    assert_eq!(started[0].name, "TaskOutput");
    assert_eq!(started[0].args.task_id.as_deref(), Some("t1"));
    assert_eq!(started[0].args.block, Some(false));
    run.resolve("c1", done("<status>running</status>"));
    run.end(End::Eof);
    let outputs = run.first_continuation_outputs();
    assert!(outputs[1].contains("names no task_id"), "{outputs:?}");
    assert!(
        run.progress_text().contains("TaskOutput(t1)"),
        "{}",
        run.progress_text()
    );
}

#[test]
fn send_message_is_answered_only_when_offered_and_checked_for_to_and_message() {
    let mut up = Upstream::new();
    let mut run = Run::new();
    run.i = Interceptor::new(Settings {
        answers: Answers {
            tasks: true,
            send_message: true,
            ..Answers::default()
        },
        ..Settings::default()
    });
    run.frames([up.created("r1")]);
    run.frames(up.call(
        0,
        "SendMessage",
        "c1",
        &json!({"to": "scout", "message": "now fix it"}),
    ));
    run.frames(up.call(1, "SendMessage", "c2", &json!({"message": "hi"})));
    run.frames(up.call(2, "SendMessage", "c3", &json!({"to": "scout"})));
    run.frames([up.completed("r1", 1, 1)]);
    let started = run.started();
    assert_eq!(started.len(), 1, "{started:?}");
    assert_eq!(started[0].name, "SendMessage");
    assert_eq!(started[0].args.to.as_deref(), Some("scout"));
    assert_eq!(started[0].args.message.as_deref(), Some("now fix it"));
    assert_eq!(
        started[0].args.to_json("SendMessage"),
        json!({"to": "scout", "message": "now fix it"})
    );
    run.resolve("c1", done("Fixed."));
    run.end(End::Eof);
    let outputs = run.first_continuation_outputs();
    assert_eq!(outputs[0], "Fixed.");
    assert!(outputs[1].contains("names no agent in `to`"), "{outputs:?}");
    assert!(outputs[2].contains("has no message"), "{outputs:?}");
    assert!(
        run.progress_text().contains("SendMessage(scout)"),
        "{}",
        run.progress_text()
    );

    // Task offered, SendMessage not (the request brought its own): Codex gets it.
    let mut up = Upstream::new();
    let mut run = Run::new();
    run.frames([up.created("r1")]);
    run.frames(up.call(0, "SendMessage", "c1", &json!({"to": "a", "message": "b"})));
    run.frames([up.completed("r1", 1, 1)]).end(End::Eof);
    assert!(run.started().is_empty());
    assert!(run.continuations().is_empty());
}
