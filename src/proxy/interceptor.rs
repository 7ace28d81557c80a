//! The interceptor: a pure state machine over the events of one Codex turn.
//!
//! Input: upstream events, how each upstream stream ended, and the outcomes of the
//! calls the proxy resolves itself. Output: bytes for the client, tasks to start,
//! continuation requests to send, and history links to remember. It owns no
//! sockets, so every edge case is a unit test over a scripted event list.
//!
//! A `Task` (or `Agent`) call is withheld from Codex: its events never reach the
//! client, its subagent starts when its `output_item.done` arrives, and when the
//! upstream response has completed and every call is resolved, the continuation
//! (the same request plus this round's items and the calls' outputs) goes upstream
//! and its events are spliced into the same client stream. The client sees one
//! response: one `response.created`, output indices and sequence numbers without
//! gaps, usage summed, and exactly one terminal event.

use std::collections::HashMap;
use std::fmt::Write as _;

use bytes::Bytes;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::wire::event::{self, EventHead};
use crate::wire::sse::Frame;

/// Tool names the proxy answers itself (Claude Code calls the tool `Agent` and
/// keeps `Task` as an alias).
pub const TASK_NAMES: [&str; 2] = ["Task", "Agent"];

/// How an upstream stream ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    /// The body ended cleanly.
    Eof,
    /// The connection broke or the body could not be read.
    Broken(String),
    /// No bytes for the idle timeout.
    Stalled { secs: u64 },
    /// An event grew past the size the proxy holds.
    Oversized { limit: usize },
    /// The continuation request itself failed (status or transport).
    Refused(String),
}

/// What the model asked a Task to do.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
pub struct TaskArgs {
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub prompt: String,
    #[serde(default)]
    pub subagent_type: Option<String>,
    #[serde(default)]
    pub model: Option<String>,
}

/// A withheld Task call, for the shell to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskCall {
    pub call_id: String,
    pub args: TaskArgs,
}

/// How a resolved call ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub ok: bool,
    /// The function output the model reads.
    pub output: String,
    /// The progress line Codex shows: `Done · 3 tool uses · 12.3s` or `Failed: why`.
    pub summary: String,
}

impl Outcome {
    pub fn failed(reason: impl Into<String>) -> Outcome {
        let reason = reason.into();
        Outcome {
            ok: false,
            output: format!("Task failed: {reason}"),
            summary: format!("Failed: {reason}"),
        }
    }
}

/// The synthesized progress message and the real items it stands for in Codex's history.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryLink {
    pub message_id: String,
    pub calls: Vec<Value>,
    pub outputs: Vec<Value>,
}

/// What the interceptor asks of its shell.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Bytes for the client, in order.
    Emit(Bytes),
    /// Start this Task now.
    Start(TaskCall),
    /// Send the continuation: the turn's request with these items appended to `input`.
    Continue(Vec<Value>),
    /// Remember this link (the ledger) so the next turn's history can be restored.
    Link(HistoryLink),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    Frame(Frame),
    /// The current upstream stream ended (after its last frame).
    End(End),
    /// A call the shell was asked to start has finished.
    Resolved {
        call_id: String,
        outcome: Outcome,
    },
}

#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Withhold and run Task/Agent calls (off: everything passes through).
    pub intercept_tasks: bool,
    /// Most upstream responses one turn may chain before it fails.
    pub max_rounds: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            intercept_tasks: true,
            max_rounds: 8,
        }
    }
}

/// Which upstream item an event belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Index(u64),
    Id(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Client(u64),
    Withheld,
}

#[derive(Debug)]
struct Call {
    call_id: String,
    args: Option<TaskArgs>,
    item: Value,
    outcome: Option<Outcome>,
}

/// One upstream response of the turn.
#[derive(Debug, Default)]
struct Round {
    slots: HashMap<Key, Slot>,
    /// This round's output items in upstream order: the continuation's input.
    items: Vec<Value>,
    calls: Vec<Call>,
    /// Tool calls that went to Codex (Codex will run them and send the next request).
    codex_calls: usize,
    /// The upstream's `response.completed`, held until the turn can end.
    completed: Option<Frame>,
    progress: Option<Progress>,
    progress_closed: bool,
}

#[derive(Debug)]
struct Progress {
    item_id: String,
    index: u64,
    text: String,
}

#[derive(Debug)]
pub struct Interceptor {
    settings: Settings,
    round: u32,
    /// Next client sequence number, once the upstream numbers its events.
    seq: Option<u64>,
    next_index: u64,
    response_id: Option<String>,
    created_sent: bool,
    usage: Option<Value>,
    /// Items the client saw completed, for the final `response.output`.
    visible: Vec<Value>,
    terminal: bool,
    failed_by_proxy: bool,
    r: Round,
}

impl Interceptor {
    pub fn new(settings: Settings) -> Interceptor {
        Interceptor {
            settings,
            round: 1,
            seq: None,
            next_index: 0,
            response_id: None,
            created_sent: false,
            usage: None,
            visible: Vec::new(),
            terminal: false,
            failed_by_proxy: false,
            r: Round::default(),
        }
    }

    /// A relay that only watches: nothing is withheld.
    pub fn passthrough() -> Interceptor {
        Interceptor::new(Settings {
            intercept_tasks: false,
            ..Settings::default()
        })
    }

    /// True once the client's stream has its terminal event.
    pub fn is_finished(&self) -> bool {
        self.terminal
    }

    /// True when the proxy itself had to end the stream with `response.failed`.
    pub fn failed_by_proxy(&self) -> bool {
        self.failed_by_proxy
    }

    /// Calls started and not yet resolved.
    pub fn pending_calls(&self) -> usize {
        self.r.calls.iter().filter(|c| c.outcome.is_none()).count()
    }

    pub fn push(&mut self, input: Input, out: &mut Vec<Output>) {
        if self.terminal {
            return;
        }
        match input {
            Input::Frame(frame) => self.on_frame(frame, out),
            Input::End(end) => self.on_end(end, out),
            Input::Resolved { call_id, outcome } => self.on_resolved(call_id, outcome, out),
        }
    }

    fn on_frame(&mut self, frame: Frame, out: &mut Vec<Output>) {
        let head = if frame.has_data() {
            EventHead::parse(&frame.data)
        } else {
            None
        };
        let Some(head) = head else {
            // Comments, keep-alives, garbage: the client gets them as they came.
            out.push(Output::Emit(frame.raw));
            return;
        };
        match head.kind.as_ref() {
            "response.created" | "response.in_progress" | "response.queued" => {
                if self.response_id.is_none() {
                    self.response_id = head
                        .response
                        .as_ref()
                        .and_then(|r| r.id.as_deref())
                        .map(str::to_string);
                }
                let first_created = head.kind == "response.created" && !self.created_sent;
                if first_created {
                    self.created_sent = true;
                }
                if self.round == 1 {
                    self.emit_upstream(&frame, &head, None, out);
                }
            }
            "response.output_item.added" => self.on_item_added(&frame, &head, out),
            "response.output_item.done" => self.on_item_done(&frame, &head, out),
            "response.completed" => {
                self.r.completed = Some(frame);
                self.advance(out);
            }
            "response.failed" | "response.incomplete" | "error" => {
                self.close_progress(out);
                self.emit_upstream(&frame, &head, None, out);
                self.terminal = true;
            }
            _ => {
                let slot = self.slot_of(&head);
                if slot != Some(Slot::Withheld) {
                    let index = match slot {
                        Some(Slot::Client(i)) => Some(i),
                        _ => None,
                    };
                    self.emit_upstream(&frame, &head, index, out);
                }
            }
        }
    }

    fn on_item_added(&mut self, frame: &Frame, head: &EventHead, out: &mut Vec<Output>) {
        let keys = keys_of(head);
        if self.is_task(head) {
            for k in keys {
                self.r.slots.insert(k, Slot::Withheld);
            }
            return;
        }
        let index = self.alloc_index();
        for k in keys {
            self.r.slots.insert(k, Slot::Client(index));
        }
        self.emit_upstream(frame, head, Some(index), out);
    }

    fn on_item_done(&mut self, frame: &Frame, head: &EventHead, out: &mut Vec<Output>) {
        let keys = keys_of(head);
        let known = keys.iter().find_map(|k| self.r.slots.get(k).copied());
        let Some(item) = parse(&frame.data).and_then(|mut v| v.get_mut("item").map(Value::take))
        else {
            out.push(Output::Emit(frame.raw.clone()));
            return;
        };
        if known == Some(Slot::Withheld) || (known.is_none() && self.is_task(head)) {
            self.withhold_call(item, out);
            return;
        }
        let index = match known {
            Some(Slot::Client(i)) => i,
            _ => {
                let i = self.alloc_index();
                for k in keys {
                    self.r.slots.insert(k, Slot::Client(i));
                }
                i
            }
        };
        if is_tool_call(&item) {
            self.r.codex_calls += 1;
        }
        self.r.items.push(item.clone());
        self.visible.push(item);
        self.emit_upstream(frame, head, Some(index), out);
    }

    fn withhold_call(&mut self, item: Value, out: &mut Vec<Output>) {
        let call_id = item["call_id"].as_str().unwrap_or_default().to_string();
        let arguments = item["arguments"].as_str().unwrap_or("{}");
        let parsed = serde_json::from_str::<TaskArgs>(arguments)
            .map_err(|e| format!("the Task arguments are not valid JSON ({e})"))
            .and_then(|args| {
                if args.prompt.trim().is_empty() {
                    Err("the Task call has no prompt".to_string())
                } else {
                    Ok(args)
                }
            });
        self.r.items.push(item.clone());
        match parsed {
            Ok(args) => {
                out.push(Output::Start(TaskCall {
                    call_id: call_id.clone(),
                    args: args.clone(),
                }));
                self.r.calls.push(Call {
                    call_id,
                    args: Some(args),
                    item,
                    outcome: None,
                });
            }
            Err(reason) => self.r.calls.push(Call {
                call_id,
                args: None,
                item,
                outcome: Some(Outcome::failed(reason)),
            }),
        }
    }

    fn on_resolved(&mut self, call_id: String, outcome: Outcome, out: &mut Vec<Output>) {
        let many = self.r.calls.len() > 1;
        let Some(call) = self
            .r
            .calls
            .iter_mut()
            .find(|c| c.call_id == call_id && c.outcome.is_none())
        else {
            return;
        };
        let line = end_line(call, &outcome, many);
        call.outcome = Some(outcome);
        if self.r.progress.is_some() {
            self.progress_delta(&line, out);
        }
        self.advance(out);
    }

    fn on_end(&mut self, end: End, out: &mut Vec<Output>) {
        if self.r.completed.is_some() && matches!(end, End::Eof) {
            // A round ended normally; what comes next waits on its calls.
            return;
        }
        let reason = match end {
            End::Eof => "the upstream closed the stream before response.completed".to_string(),
            End::Broken(cause) => format!("the upstream stream broke: {cause}"),
            End::Stalled { secs } => format!(
                "the upstream sent nothing for {secs} s (upstream.idle_timeout_secs); the stream was cut"
            ),
            End::Oversized { limit } => {
                format!("the upstream sent an event larger than {limit} bytes")
            }
            End::Refused(cause) => format!("the continuation after the Task calls failed: {cause}"),
        };
        self.fail(&reason, out);
    }

    /// Ends the turn with `response.failed` (a progress message is closed first).
    fn fail(&mut self, reason: &str, out: &mut Vec<Output>) {
        self.close_progress(out);
        let id = self.response_id.as_deref().unwrap_or("resp_codex_plus");
        let mut ev = event::response_failed(
            id,
            "upstream_stream_error",
            &format!("codex-plus: {reason}"),
        );
        self.emit_synth(&mut ev, out);
        self.terminal = true;
        self.failed_by_proxy = true;
    }

    /// Moves the turn on once the round's upstream response has completed and
    /// every withheld call has its outcome.
    fn advance(&mut self, out: &mut Vec<Output>) {
        if self.r.completed.is_none() {
            return;
        }
        if self.r.calls.is_empty() {
            self.finish(out);
            return;
        }
        if self.r.progress.is_none() && !self.r.progress_closed {
            self.open_progress(out);
        }
        if self.pending_calls() > 0 {
            return;
        }
        self.close_progress(out);
        self.r.progress_closed = true;
        if self.r.codex_calls > 0 {
            // Codex runs its own calls and sends the next request; the Task items
            // reach the model then, restored from the history link.
            self.finish(out);
            return;
        }
        if self.round >= self.settings.max_rounds {
            let reason = format!(
                "the model kept calling Task for {} rounds in one turn (tasks.max_rounds); stopping",
                self.round
            );
            self.fail(&reason, out);
            return;
        }
        let mut items = std::mem::take(&mut self.r.items);
        items.extend(self.r.calls.iter().map(output_item));
        self.add_usage();
        self.round += 1;
        self.r = Round::default();
        out.push(Output::Continue(items));
    }

    /// The client's one `response.completed`. When the proxy withheld or added
    /// nothing, it is the upstream's own; otherwise the last round's, with the first
    /// round's id, every item the client saw, and the usage of all rounds.
    fn finish(&mut self, out: &mut Vec<Output>) {
        self.terminal = true;
        let Some(frame) = self.r.completed.take() else {
            return;
        };
        if self.round == 1 && self.r.calls.is_empty() {
            if let Some(head) = EventHead::parse(&frame.data) {
                self.emit_upstream(&frame, &head, None, out);
                return;
            }
        }
        let mut ev = parse(&frame.data)
            .unwrap_or_else(|| json!({"type": "response.completed", "response": {}}));
        if let Some(u) = ev.pointer("/response/usage").cloned() {
            match &mut self.usage {
                Some(total) => add_numbers(total, &u),
                None => self.usage = Some(u),
            }
        }
        if let Some(resp) = ev.get_mut("response").and_then(Value::as_object_mut) {
            if let Some(id) = &self.response_id {
                resp.insert("id".into(), json!(id));
            }
            resp.insert("output".into(), Value::Array(self.visible.clone()));
            if let Some(usage) = &self.usage {
                resp.insert("usage".into(), usage.clone());
            }
        }
        self.emit_synth(&mut ev, out);
    }

    /// Adds this round's usage to the turn's, before the round is replaced.
    fn add_usage(&mut self) {
        let usage = self
            .r
            .completed
            .as_ref()
            .and_then(|f| parse(&f.data))
            .and_then(|c| c.pointer("/response/usage").cloned());
        if let Some(u) = usage {
            match &mut self.usage {
                Some(total) => add_numbers(total, &u),
                None => self.usage = Some(u),
            }
        }
    }

    // --- the progress message ---

    fn open_progress(&mut self, out: &mut Vec<Output>) {
        let index = self.alloc_index();
        let item_id = format!("msg_cxp_{}", uuid::Uuid::new_v4().simple());
        let many = self.r.calls.len() > 1;
        let mut text = String::new();
        for call in &self.r.calls {
            let _ = writeln!(text, "{}", start_line(call));
            if let Some(outcome) = &call.outcome {
                text.push_str(&end_line(call, outcome, many));
            }
        }
        let mut added = json!({"type": "response.output_item.added", "output_index": index,
            "item": {"type": "message", "id": item_id, "role": "assistant", "status": "in_progress", "content": []}});
        self.emit_synth(&mut added, out);
        let mut part = json!({"type": "response.content_part.added", "item_id": item_id, "output_index": index,
            "content_index": 0, "part": {"type": "output_text", "text": "", "annotations": []}});
        self.emit_synth(&mut part, out);
        self.r.progress = Some(Progress {
            item_id,
            index,
            text: String::new(),
        });
        self.progress_delta(&text, out);
    }

    fn progress_delta(&mut self, delta: &str, out: &mut Vec<Output>) {
        let Some(p) = self.r.progress.as_mut() else {
            return;
        };
        p.text.push_str(delta);
        let mut ev = json!({"type": "response.output_text.delta", "item_id": p.item_id,
            "output_index": p.index, "content_index": 0, "delta": delta});
        self.emit_synth(&mut ev, out);
    }

    fn close_progress(&mut self, out: &mut Vec<Output>) {
        let Some(p) = self.r.progress.take() else {
            return;
        };
        let text = p.text.trim_end().to_string();
        let mut done_text = json!({"type": "response.output_text.done", "item_id": p.item_id,
            "output_index": p.index, "content_index": 0, "text": text});
        self.emit_synth(&mut done_text, out);
        let part = json!({"type": "output_text", "text": text, "annotations": []});
        let mut part_done = json!({"type": "response.content_part.done", "item_id": p.item_id,
            "output_index": p.index, "content_index": 0, "part": part});
        self.emit_synth(&mut part_done, out);
        let item = json!({"type": "message", "id": p.item_id, "role": "assistant", "status": "completed",
            "content": [part]});
        let mut done =
            json!({"type": "response.output_item.done", "output_index": p.index, "item": item});
        self.emit_synth(&mut done, out);
        self.visible.push(item);
        // Only resolved calls have a real pair to put back in the history.
        let resolved: Vec<&Call> = self
            .r
            .calls
            .iter()
            .filter(|c| c.outcome.is_some())
            .collect();
        if !resolved.is_empty() {
            out.push(Output::Link(HistoryLink {
                message_id: p.item_id,
                calls: resolved.iter().map(|c| c.item.clone()).collect(),
                outputs: resolved.iter().map(|c| output_item(c)).collect(),
            }));
        }
    }

    // --- emitting ---

    fn alloc_index(&mut self) -> u64 {
        let i = self.next_index;
        self.next_index += 1;
        i
    }

    fn next_seq(&mut self) -> Option<u64> {
        let s = self.seq?;
        self.seq = Some(s + 1);
        Some(s)
    }

    /// An upstream event for the client: its own bytes when its numbers are already
    /// the client's, else rewritten with the client's output index and sequence number.
    fn emit_upstream(
        &mut self,
        frame: &Frame,
        head: &EventHead,
        index: Option<u64>,
        out: &mut Vec<Output>,
    ) {
        if self.seq.is_none() {
            self.seq = head.sequence_number;
        }
        let seq = head.sequence_number.and_then(|_| self.next_seq());
        let seq_ok = seq == head.sequence_number;
        let index_ok = index.is_none() || head.output_index.is_none() || index == head.output_index;
        if seq_ok && index_ok {
            out.push(Output::Emit(frame.raw.clone()));
            return;
        }
        let Some(mut ev) = parse(&frame.data) else {
            out.push(Output::Emit(frame.raw.clone()));
            return;
        };
        if let (Some(s), Some(obj)) = (seq, ev.as_object_mut()) {
            obj.insert("sequence_number".into(), json!(s));
        }
        if let (Some(i), Some(obj)) = (index, ev.as_object_mut()) {
            if obj.contains_key("output_index") {
                obj.insert("output_index".into(), json!(i));
            }
        }
        out.push(Output::Emit(event::to_sse(&ev)));
    }

    /// An event the proxy writes itself, numbered like the rest.
    fn emit_synth(&mut self, ev: &mut Value, out: &mut Vec<Output>) {
        if let (Some(s), Some(obj)) = (self.next_seq(), ev.as_object_mut()) {
            obj.insert("sequence_number".into(), json!(s));
        }
        out.push(Output::Emit(event::to_sse(ev)));
    }

    fn slot_of(&self, head: &EventHead) -> Option<Slot> {
        keys_of(head)
            .iter()
            .find_map(|k| self.r.slots.get(k).copied())
    }

    fn is_task(&self, head: &EventHead) -> bool {
        self.settings.intercept_tasks
            && head.item.as_ref().is_some_and(|item| {
                item.kind.as_deref() == Some("function_call")
                    && item
                        .name
                        .as_deref()
                        .is_some_and(|n| TASK_NAMES.contains(&n))
                    && item.namespace.as_deref().is_none_or(|ns| ns == "functions")
            })
    }
}

fn keys_of(head: &EventHead) -> Vec<Key> {
    let mut keys = Vec::with_capacity(2);
    if let Some(i) = head.output_index {
        keys.push(Key::Index(i));
    }
    if let Some(id) = head.item_id.as_deref() {
        keys.push(Key::Id(id.to_string()));
    }
    if let Some(item) = &head.item {
        if let Some(id) = item.id.as_deref() {
            keys.push(Key::Id(id.to_string()));
        }
    }
    keys
}

fn parse(data: &str) -> Option<Value> {
    serde_json::from_str(data).ok()
}

fn is_tool_call(item: &Value) -> bool {
    matches!(
        item["type"].as_str(),
        Some("function_call" | "custom_tool_call" | "local_shell_call" | "tool_search_call")
    )
}

fn start_line(call: &Call) -> String {
    match &call.args {
        Some(args) => format!(
            "⏺ Task({}): {}",
            args.subagent_type.as_deref().unwrap_or("general-purpose"),
            args.description.trim()
        ),
        None => "⏺ Task".to_string(),
    }
}

fn end_line(call: &Call, outcome: &Outcome, many: bool) -> String {
    let who = match (&call.args, many) {
        (Some(args), true) => format!(
            " · Task({})",
            args.subagent_type.as_deref().unwrap_or("general-purpose")
        ),
        _ => String::new(),
    };
    format!("  ⎿ {}{who}\n", outcome.summary)
}

fn output_item(call: &Call) -> Value {
    let output = call
        .outcome
        .as_ref()
        .map(|o| o.output.clone())
        .unwrap_or_else(|| "Task did not finish".to_string());
    json!({"type": "function_call_output", "call_id": call.call_id, "output": output})
}

/// Adds every number of `add` into `total`, key by key.
fn add_numbers(total: &mut Value, add: &Value) {
    match (total, add) {
        (Value::Object(t), Value::Object(a)) => {
            for (k, v) in a {
                match t.get_mut(k) {
                    Some(tv) => add_numbers(tv, v),
                    None => {
                        t.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (t @ Value::Number(_), Value::Number(a)) => {
            let sum = t.as_u64().zip(a.as_u64()).map(|(x, y)| json!(x + y));
            *t =
                sum.unwrap_or_else(|| json!(t.as_f64().unwrap_or(0.0) + a.as_f64().unwrap_or(0.0)));
        }
        _ => {}
    }
}
