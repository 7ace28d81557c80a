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

/// Claude Code's tool that loads a skill into the conversation; the proxy answers
/// it too when it offered it.
pub const SKILL_NAME: &str = "Skill";

/// Claude Code's tools for background agents: read one's output, stop one. The
/// proxy offers and answers them while the session has background agents.
pub const BACKGROUND_TOOLS: [&str; 2] = ["TaskOutput", "TaskStop"];

/// Claude Code's tool that continues a finished agent with its whole context, by
/// its agent id or `name`. Offered with the Task tool.
pub const SEND_MESSAGE: &str = "SendMessage";

/// Which of its own tools the proxy answers in a turn: those it offered. A request
/// that brought a tool of the same name keeps its calls.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Answers {
    /// Task and Agent.
    pub tasks: bool,
    pub send_message: bool,
    pub skills: bool,
    /// TaskOutput and TaskStop.
    pub background: bool,
}

impl Answers {
    pub fn any(self) -> bool {
        self.tasks || self.send_message || self.skills || self.background
    }

    /// Whether a function call of this name is the proxy's to answer.
    pub fn answers(self, name: &str) -> bool {
        (self.tasks && TASK_NAMES.contains(&name))
            || (self.send_message && name == SEND_MESSAGE)
            || (self.skills && name == SKILL_NAME)
            || (self.background && BACKGROUND_TOOLS.contains(&name))
    }
}

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
    /// The proxy is stopping and its grace period is over.
    Shutdown,
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
    /// The directory the subagent works in: absolute, inside the session's roots.
    #[serde(default)]
    pub cwd: Option<String>,
    /// Return at once; the session is told when the agent ends.
    #[serde(default)]
    pub run_in_background: Option<bool>,
    /// `worktree`: the subagent works in a fresh git worktree.
    #[serde(default)]
    pub isolation: Option<String>,
    /// A name that `SendMessage` can address the agent by.
    #[serde(default)]
    pub name: Option<String>,
    /// `SendMessage`: the agent (id or name) to continue ...
    #[serde(default)]
    pub to: Option<String>,
    /// ... and what to tell it.
    #[serde(default)]
    pub message: Option<String>,
    /// The skill a `Skill` call loads.
    #[serde(default)]
    pub skill: Option<String>,
    /// A `Skill` call's arguments, as `$ARGUMENTS`.
    #[serde(default)]
    pub args: Option<String>,
    /// The background agent a `TaskOutput` or `TaskStop` call is about.
    #[serde(default)]
    pub task_id: Option<String>,
    /// `TaskOutput`: wait for the agent to end (default true) ...
    #[serde(default)]
    pub block: Option<bool>,
    /// ... for at most this many milliseconds (default 30,000).
    #[serde(default)]
    pub timeout: Option<u64>,
}

impl TaskArgs {
    /// The input as the model gave it (for hooks): a Task's or a Skill's fields.
    pub fn to_json(&self, tool: &str) -> Value {
        if BACKGROUND_TOOLS.contains(&tool) {
            let mut v = json!({"task_id": self.task_id.clone().unwrap_or_default()});
            if let Some(b) = self.block {
                v["block"] = b.into();
            }
            if let Some(t) = self.timeout {
                v["timeout"] = t.into();
            }
            return v;
        }
        if tool == SEND_MESSAGE {
            return json!({
                "to": self.to.clone().unwrap_or_default(),
                "message": self.message.clone().unwrap_or_default()
            });
        }
        if tool == SKILL_NAME {
            let mut v = json!({"skill": self.skill.clone().unwrap_or_default()});
            if let Some(args) = &self.args {
                v["args"] = args.clone().into();
            }
            return v;
        }
        let mut v = json!({"description": self.description, "prompt": self.prompt});
        if let Some(t) = &self.subagent_type {
            v["subagent_type"] = t.clone().into();
        }
        if let Some(m) = &self.model {
            v["model"] = m.clone().into();
        }
        if let Some(c) = &self.cwd {
            v["cwd"] = c.clone().into();
        }
        if let Some(i) = &self.isolation {
            v["isolation"] = i.clone().into();
        }
        if let Some(b) = self.run_in_background {
            v["run_in_background"] = b.into();
        }
        if let Some(n) = &self.name {
            v["name"] = n.clone().into();
        }
        v
    }
}

/// A withheld Task call, for the shell to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskCall {
    pub call_id: String,
    /// The name the model called it by (`Task` or `Agent`), for hooks.
    pub name: String,
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
    /// The real calls, each with where the model made it, so the history can put it
    /// back there.
    pub calls: Vec<(Value, Anchor)>,
    pub outputs: Vec<Value>,
}

/// Where a call stood among the items of its response: right after the item with
/// id `after`, or (when it came first) right before the item with id `before`.
/// Ids are item ids, else call ids.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Anchor {
    pub after: Option<String>,
    pub before: Option<String>,
}

/// What the interceptor asks of its shell.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Bytes for the client, in order.
    Emit(Bytes),
    /// Start this Task now.
    Start(Box<TaskCall>),
    /// Send the continuation: the turn's request with these items appended to `input`.
    Continue(Vec<Value>),
    /// Remember this link (the ledger) so the next turn's history can be restored.
    Link(HistoryLink),
    /// Decide whether Codex may see this tool call (PreToolUse); answer with `Decided`.
    Decide(HeldCall),
    /// The response ended without tool calls: may the turn end? Answer with `StopDecided`.
    StopCheck {
        /// True when this turn was already continued because of a stop check.
        active: bool,
    },
}

/// A Codex tool call waiting for a decision.
#[derive(Debug, Clone, PartialEq)]
pub struct HeldCall {
    pub call_id: String,
    pub name: String,
    /// The whole `function_call` / `custom_tool_call` item.
    pub item: Value,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Codex gets the call; `item` replaces it when the decision rewrote its input.
    Allow { item: Option<Value> },
    /// Codex never sees the call; the model gets the reason as its output.
    Deny { reason: String },
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
    /// The decision on a held call.
    Decided {
        call_id: String,
        decision: Decision,
    },
    /// The stop check's answer: `Some(reason)` continues the turn with the reason.
    StopDecided(Option<String>),
    /// Time passed with nothing to send: keep the client's stream alive if waiting.
    Tick,
}

/// Which Codex tool calls (by name) must wait for a decision before Codex sees them.
pub type HoldPredicate = std::sync::Arc<dyn Fn(&str) -> bool + Send + Sync>;

#[derive(Clone)]
pub struct Settings {
    /// The calls withheld and answered by the proxy (none: everything passes through).
    pub answers: Answers,
    /// Most upstream responses one turn may chain before it fails.
    pub max_rounds: u32,
    /// Tool calls held for a decision (PreToolUse hooks); None holds nothing.
    pub hold: Option<HoldPredicate>,
    /// Ask before ending a turn whose response made no tool calls (Stop hooks).
    pub stop_check: bool,
    /// Most times a turn may be continued because the stop check said so.
    pub max_stop_continuations: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            answers: Answers {
                tasks: true,
                ..Answers::default()
            },
            max_rounds: 8,
            hold: None,
            stop_check: false,
            max_stop_continuations: 3,
        }
    }
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("answers", &self.answers)
            .field("max_rounds", &self.max_rounds)
            .field("hold", &self.hold.is_some())
            .field("stop_check", &self.stop_check)
            .field("max_stop_continuations", &self.max_stop_continuations)
            .finish()
    }
}

/// An output item of the stream, kept as its event's text and parsed only when a
/// continuation or a rebuilt `response.completed` needs it (most turns need neither).
#[derive(Debug, Clone)]
enum Item {
    /// Its `response.output_item.done` event.
    Event(Frame),
    Value(Value),
}

impl Item {
    fn value(&self) -> Value {
        match self {
            Item::Value(v) => v.clone(),
            Item::Event(frame) => parse(frame.data())
                .and_then(|mut v| v.get_mut("item").map(Value::take))
                .unwrap_or(Value::Null),
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
    /// Waiting for a decision; its events are buffered in `Round::held[n]`.
    Held(usize),
}

/// A call the proxy answers: a Task, or a tool call a hook denied.
#[derive(Debug)]
struct Call {
    call_id: String,
    /// What the progress message shows, e.g. `Task(code-reviewer): Review auth`.
    label: String,
    /// The short form used when several calls share a message, e.g. `Task(code-reviewer)`.
    short: String,
    item: Value,
    outcome: Option<Outcome>,
}

#[derive(Debug, Default)]
struct Held {
    frames: Vec<Frame>,
    keys: Vec<Key>,
    call_id: Option<String>,
    item: Option<Value>,
    decided: bool,
}

/// One upstream response of the turn.
#[derive(Debug, Default)]
struct Round {
    slots: HashMap<Key, Slot>,
    /// This round's output items in upstream order: the continuation's input.
    items: Vec<Item>,
    calls: Vec<Call>,
    /// Tool calls that went to Codex (Codex will run them and send the next request).
    codex_calls: usize,
    /// The upstream's `response.completed` and its sequence number, held until the
    /// turn can end.
    completed: Option<(Frame, Option<u64>)>,
    progress: Option<Progress>,
    progress_closed: bool,
    held: Vec<Held>,
    /// Held calls still waiting for their decision.
    undecided: usize,
    awaiting_stop: bool,
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
    visible: Vec<Item>,
    /// Nothing withheld, held or written by the proxy yet: the client's numbering is
    /// the upstream's, so events the state machine ignores pass without being parsed.
    identity: bool,
    terminal: bool,
    failed_by_proxy: bool,
    stop_continuations: u32,
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
            identity: true,
            terminal: false,
            failed_by_proxy: false,
            stop_continuations: 0,
            r: Round::default(),
        }
    }

    /// A relay that only watches: nothing is withheld.
    pub fn passthrough() -> Interceptor {
        Interceptor::new(Settings {
            answers: Answers::default(),
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
            Input::Decided { call_id, decision } => self.on_decided(call_id, decision, out),
            Input::StopDecided(reason) => self.on_stop_decided(reason, out),
            Input::Tick => self.keep_alive(out),
        }
    }

    fn on_frame(&mut self, frame: Frame, out: &mut Vec<Output>) {
        if self.identity && frame.event().is_some_and(is_passive) {
            out.push(Output::Emit(frame.into_raw()));
            return;
        }
        let head = if frame.has_data() {
            EventHead::parse(frame.data())
        } else {
            None
        };
        let Some(head) = head else {
            // Comments, keep-alives, garbage: the client gets them as they came.
            out.push(Output::Emit(frame.into_raw()));
            return;
        };
        if self.identity && head.sequence_number.is_some() {
            // Unparsed events passed as numbered; catch up before this one.
            self.seq = head.sequence_number;
        }
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
                let seq = head.sequence_number;
                self.r.completed = Some((frame, seq));
                self.advance(out);
            }
            "response.failed" | "response.incomplete" | "error" => {
                self.close_progress(out);
                self.emit_upstream(&frame, &head, None, out);
                self.terminal = true;
            }
            _ => match self.slot_of(&head) {
                Some(Slot::Withheld) => {}
                Some(Slot::Held(n)) => self.r.held[n].frames.push(frame),
                Some(Slot::Client(i)) => self.emit_upstream(&frame, &head, Some(i), out),
                None => self.emit_upstream(&frame, &head, None, out),
            },
        }
    }

    fn on_item_added(&mut self, frame: &Frame, head: &EventHead, out: &mut Vec<Output>) {
        let keys = keys_of(head);
        if self.is_task(head) {
            self.identity = false;
            for k in keys {
                self.r.slots.insert(k, Slot::Withheld);
            }
            return;
        }
        if self.holds(head) {
            self.hold(keys, frame.clone());
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
        let item = || parse(frame.data()).and_then(|mut v| v.get_mut("item").map(Value::take));
        if known == Some(Slot::Withheld) || (known.is_none() && self.is_task(head)) {
            match item() {
                Some(item) => self.withhold_call(item, out),
                None => out.push(Output::Emit(frame.raw().clone())),
            }
            return;
        }
        let held = match known {
            Some(Slot::Held(n)) => Some(n),
            None if self.holds(head) => Some(self.hold(keys.clone(), frame.clone())),
            _ => None,
        };
        if let Some(n) = held {
            if known.is_some() {
                self.r.held[n].frames.push(frame.clone());
            }
            let item = item().unwrap_or(Value::Null);
            let call_id = item["call_id"].as_str().unwrap_or_default().to_string();
            let name = item["name"].as_str().unwrap_or_default().to_string();
            self.r.held[n].call_id = Some(call_id.clone());
            self.r.held[n].item = Some(item.clone());
            self.r.undecided += 1;
            out.push(Output::Decide(HeldCall {
                call_id,
                name,
                item,
            }));
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
        let kind = head.item.as_ref().and_then(|i| i.kind.as_deref());
        if is_tool_call(kind) {
            self.r.codex_calls += 1;
        }
        let item = Item::Event(frame.clone());
        self.r.items.push(item.clone());
        self.visible.push(item);
        self.emit_upstream(frame, head, Some(index), out);
    }

    fn withhold_call(&mut self, item: Value, out: &mut Vec<Output>) {
        self.identity = false;
        let call_id = item["call_id"].as_str().unwrap_or_default().to_string();
        let name = item["name"].as_str().unwrap_or("Task").to_string();
        let skill = name == SKILL_NAME;
        let background = BACKGROUND_TOOLS.contains(&name.as_str());
        let message = name == SEND_MESSAGE;
        let arguments = item["arguments"].as_str().unwrap_or("{}");
        let named = |s: &Option<String>| s.as_deref().is_some_and(|s| !s.trim().is_empty());
        let parsed = serde_json::from_str::<TaskArgs>(arguments)
            .map_err(|e| format!("the {name} arguments are not valid JSON ({e})"))
            .and_then(|args| {
                if background && !named(&args.task_id) {
                    Err(format!("the {name} call names no task_id"))
                } else if skill && !named(&args.skill) {
                    Err("the Skill call names no skill".to_string())
                } else if message && !named(&args.to) {
                    Err("the SendMessage call names no agent in `to`".to_string())
                } else if message && !named(&args.message) {
                    Err("the SendMessage call has no message".to_string())
                } else if !skill && !background && !message && args.prompt.trim().is_empty() {
                    Err("the Task call has no prompt".to_string())
                } else {
                    Ok(args)
                }
            });
        self.r.items.push(Item::Value(item.clone()));
        let (label, short) = match &parsed {
            // `Skill(pdf)`, `TaskOutput(task_1)`: what the call is about.
            Ok(args) if skill || background || message => {
                let about = args
                    .skill
                    .as_deref()
                    .or(args.task_id.as_deref())
                    .or(args.to.as_deref());
                let label = format!("{name}({})", about.unwrap_or_default().trim());
                (label.clone(), label)
            }
            Ok(args) => {
                let agent = args.subagent_type.as_deref().unwrap_or("general-purpose");
                (
                    format!("Task({agent}): {}", args.description.trim()),
                    format!("Task({agent})"),
                )
            }
            Err(_) => (name.clone(), name.clone()),
        };
        match parsed {
            Ok(args) => {
                out.push(Output::Start(Box::new(TaskCall {
                    call_id: call_id.clone(),
                    name,
                    args,
                })));
                self.r.calls.push(Call {
                    call_id,
                    label,
                    short,
                    item,
                    outcome: None,
                });
            }
            Err(reason) => {
                tracing::warn!(%call_id, %reason, "a {name} call failed its checks; the model gets an error result");
                self.r.calls.push(Call {
                    call_id,
                    label,
                    short,
                    item,
                    outcome: Some(Outcome::failed(reason)),
                })
            }
        }
    }

    fn hold(&mut self, keys: Vec<Key>, frame: Frame) -> usize {
        self.identity = false;
        let n = self.r.held.len();
        for k in &keys {
            self.r.slots.insert(k.clone(), Slot::Held(n));
        }
        self.r.held.push(Held {
            frames: vec![frame],
            keys,
            ..Held::default()
        });
        n
    }

    fn on_decided(&mut self, call_id: String, decision: Decision, out: &mut Vec<Output>) {
        let Some(n) = self
            .r
            .held
            .iter()
            .position(|h| !h.decided && h.call_id.as_deref() == Some(call_id.as_str()))
        else {
            return;
        };
        let held = &mut self.r.held[n];
        held.decided = true;
        self.r.undecided -= 1;
        let frames = std::mem::take(&mut held.frames);
        let keys = held.keys.clone();
        let item = held.item.take().unwrap_or(Value::Null);
        match decision {
            Decision::Allow { item: rewritten } => {
                let index = self.alloc_index();
                for k in keys {
                    self.r.slots.insert(k, Slot::Client(index));
                }
                let sent = rewritten.clone().unwrap_or_else(|| item.clone());
                for frame in frames {
                    let Some(head) = EventHead::parse(frame.data()) else {
                        out.push(Output::Emit(frame.into_raw()));
                        continue;
                    };
                    match (&rewritten, head.kind.as_ref()) {
                        // The old input must not reach Codex piecemeal.
                        (Some(_), k)
                            if k.ends_with("arguments.delta")
                                || k.ends_with("arguments.done")
                                || k.ends_with("input.delta")
                                || k.ends_with("input.done") => {}
                        (Some(new), "response.output_item.done") => {
                            let mut ev = parse(frame.data())
                                .unwrap_or_else(|| json!({"type": "response.output_item.done"}));
                            ev["item"] = new.clone();
                            if ev.get("output_index").is_some() {
                                ev["output_index"] = json!(index);
                            }
                            self.emit_synth(&mut ev, out);
                        }
                        _ => self.emit_upstream(&frame, &head, Some(index), out),
                    }
                }
                self.r.codex_calls += 1;
                self.r.items.push(Item::Value(sent.clone()));
                self.visible.push(Item::Value(sent));
            }
            Decision::Deny { reason } => {
                for k in keys {
                    self.r.slots.insert(k, Slot::Withheld);
                }
                let name = item["name"].as_str().unwrap_or("tool").to_string();
                let summary = call_summary(&item);
                let blocked = format!("Blocked by hook: {reason}");
                self.r.items.push(Item::Value(item.clone()));
                self.r.calls.push(Call {
                    call_id,
                    label: format!("{name}({summary})"),
                    short: name,
                    item,
                    outcome: Some(Outcome {
                        ok: false,
                        output: blocked.clone(),
                        summary: blocked,
                    }),
                });
            }
        }
        self.advance(out);
    }

    fn on_stop_decided(&mut self, reason: Option<String>, out: &mut Vec<Output>) {
        if !self.r.awaiting_stop {
            return;
        }
        self.r.awaiting_stop = false;
        let Some(reason) = reason else {
            self.finish(out);
            return;
        };
        if self.round >= self.settings.max_rounds {
            self.finish(out);
            return;
        }
        self.stop_continuations += 1;
        let mut items: Vec<Value> = self.r.items.iter().map(Item::value).collect();
        items.push(json!({"type": "message", "role": "user",
            "content": [{"type": "input_text", "text": format!("Stop hook feedback:\n{reason}")}]}));
        self.next_round(items, out);
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

    /// True while the turn waits on the proxy's own work (Tasks, hooks), not the upstream.
    pub fn is_waiting(&self) -> bool {
        !self.terminal && (self.pending_calls() > 0 || self.r.undecided > 0 || self.r.awaiting_stop)
    }

    /// While the proxy waits on its own work, Codex hears nothing from the upstream;
    /// an event (not a comment: Codex's idle timer counts events) keeps its stream open.
    fn keep_alive(&mut self, out: &mut Vec<Output>) {
        if !self.is_waiting() {
            return;
        }
        let id = self
            .response_id
            .clone()
            .unwrap_or_else(|| "resp_codex_plus".into());
        let mut ev = json!({"type": "response.in_progress",
            "response": {"id": id, "object": "response", "status": "in_progress"}});
        self.emit_synth(&mut ev, out);
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
            End::Shutdown => "codex-plus is shutting down".to_string(),
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
        if self.r.completed.is_none() || self.r.undecided > 0 || self.r.awaiting_stop {
            return;
        }
        if self.r.calls.is_empty() {
            let may_continue = self.stop_continuations < self.settings.max_stop_continuations;
            if self.r.codex_calls == 0 && self.settings.stop_check && may_continue {
                self.r.awaiting_stop = true;
                out.push(Output::StopCheck {
                    active: self.stop_continuations > 0,
                });
                return;
            }
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
        let mut items: Vec<Value> = self.r.items.iter().map(Item::value).collect();
        items.extend(self.r.calls.iter().map(output_item));
        self.next_round(items, out);
    }

    /// Sends the continuation and starts listening for its response.
    fn next_round(&mut self, items: Vec<Value>, out: &mut Vec<Output>) {
        self.identity = false;
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
        let Some((frame, sequence_number)) = self.r.completed.take() else {
            return;
        };
        if self.round == 1 && self.r.calls.is_empty() && self.r.held.is_empty() {
            // Its head was read when it arrived; the event can be large.
            let head = EventHead {
                kind: "response.completed".into(),
                sequence_number,
                output_index: None,
                item: None,
                item_id: None,
                response: None,
            };
            self.emit_upstream(&frame, &head, None, out);
            return;
        }
        let mut ev = parse(frame.data())
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
            resp.insert(
                "output".into(),
                Value::Array(self.visible.iter().map(Item::value).collect()),
            );
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
            .and_then(|(f, _)| parse(f.data()))
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
            let _ = writeln!(text, "⏺ {}", call.label);
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
        self.visible.push(Item::Value(item));
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
                calls: resolved
                    .iter()
                    .map(|c| (c.item.clone(), self.anchor(&c.call_id)))
                    .collect(),
                outputs: resolved.iter().map(|c| output_item(c)).collect(),
            }));
        }
    }

    /// Where a withheld call stood in this round: after the item before it, else
    /// before the first item after it that Codex saw.
    fn anchor(&self, call_id: &str) -> Anchor {
        let items: Vec<Value> = self.r.items.iter().map(Item::value).collect();
        let Some(at) = items.iter().position(|i| i["call_id"] == call_id) else {
            return Anchor::default();
        };
        let withheld = |i: &Value| {
            let id = i["call_id"].as_str();
            self.r.calls.iter().any(|c| Some(c.call_id.as_str()) == id)
        };
        Anchor {
            after: at.checked_sub(1).and_then(|p| item_ref(&items[p])),
            before: items[at + 1..]
                .iter()
                .find(|i| !withheld(i))
                .and_then(item_ref),
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
            out.push(Output::Emit(frame.raw().clone()));
            return;
        }
        let Some(mut ev) = parse(frame.data()) else {
            out.push(Output::Emit(frame.raw().clone()));
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
        self.identity = false;
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

    fn holds(&self, head: &EventHead) -> bool {
        let Some(hold) = &self.settings.hold else {
            return false;
        };
        head.item.as_ref().is_some_and(|item| {
            matches!(
                item.kind.as_deref(),
                Some("function_call" | "custom_tool_call")
            ) && item.name.as_deref().is_some_and(|n| hold(n))
        })
    }

    /// Whether this item is a call the proxy answers itself: Task/Agent, or Skill,
    /// when it offered them.
    fn is_task(&self, head: &EventHead) -> bool {
        head.item.as_ref().is_some_and(|item| {
            item.kind.as_deref() == Some("function_call")
                && item
                    .name
                    .as_deref()
                    .is_some_and(|n| self.settings.answers.answers(n))
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

fn is_tool_call(kind: Option<&str>) -> bool {
    matches!(
        kind,
        Some("function_call" | "custom_tool_call" | "local_shell_call" | "tool_search_call")
    )
}

/// Events the state machine only renumbers or drops by their item: while nothing
/// diverged, they pass untouched and unparsed (text deltas are most of a stream).
fn is_passive(event: &str) -> bool {
    !matches!(
        event,
        "response.created"
            | "response.in_progress"
            | "response.queued"
            | "response.output_item.added"
            | "response.output_item.done"
            | "response.completed"
            | "response.failed"
            | "response.incomplete"
            | "error"
    )
}

fn end_line(call: &Call, outcome: &Outcome, many: bool) -> String {
    let who = if many {
        format!(" · {}", call.short)
    } else {
        String::new()
    };
    format!("  ⎿ {}{who}\n", outcome.summary)
}

/// The output item answering a call, of the kind its call needs.
fn output_item(call: &Call) -> Value {
    let output = call
        .outcome
        .as_ref()
        .map(|o| o.output.clone())
        .unwrap_or_else(|| "the call did not finish".to_string());
    let kind = if call.item["type"] == "custom_tool_call" {
        "custom_tool_call_output"
    } else {
        "function_call_output"
    };
    json!({"type": kind, "call_id": call.call_id, "output": output})
}

/// How an item is found again in Codex's history: its id, else its call id.
fn item_ref(item: &Value) -> Option<String> {
    item["id"]
        .as_str()
        .or(item["call_id"].as_str())
        .map(str::to_string)
}

/// A one-line glimpse of what a call asked for.
fn call_summary(item: &Value) -> String {
    let raw = item["arguments"]
        .as_str()
        .or(item["input"].as_str())
        .unwrap_or_default();
    let glimpse = serde_json::from_str::<Value>(raw)
        .ok()
        .and_then(|v| {
            v["cmd"]
                .as_str()
                .or(v["command"].as_str())
                .map(str::to_string)
        })
        .unwrap_or_else(|| raw.to_string());
    let one_line = glimpse.split_whitespace().collect::<Vec<_>>().join(" ");
    match one_line.char_indices().nth(60) {
        Some((cut, _)) => format!("{}…", &one_line[..cut]),
        None => one_line,
    }
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
