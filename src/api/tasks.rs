//! `/api/tasks`: run Tasks over HTTP, follow them, cancel them, list them.
//!
//! - `POST /api/tasks`: one task `{subagent_type, prompt, cwd, description?, model?,
//!   sandbox?, wait?}` or a batch `{tasks: [...], wait?}`. `wait` (default true) answers
//!   with the result(s); `wait: false` answers 202 with the ids at once. `sandbox` is
//!   `read-only`, `workspace-write` (the default, rooted at `cwd`) or
//!   `danger-full-access`, as in Codex; Bash runs under the matching OS sandbox.
//! - `GET /api/tasks?limit=N`: the latest tasks, newest first (from the ledger).
//! - `GET /api/tasks/{id}`: one task, running or finished.
//! - `GET /api/tasks/{id}/transcript`: its messages, model calls and tool calls.
//! - `GET /api/tasks/{id}/events`: its progress as Server-Sent Events, ending after
//!   `finished` (a finished task sends that one event).
//! - `POST /api/tasks/{id}/cancel`: stops it, keeping its partial output.

use std::collections::HashMap;
use std::convert::Infallible;
use std::path::PathBuf;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures_util::future::join_all;
use futures_util::Stream;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::engine::access::SandboxMode;
use crate::engine::request::default_description;
use crate::engine::{TaskEvent, TaskRequest, TaskSnapshot, Workspace};
use crate::error::ProxyError;
use crate::state::SharedState;

/// Tasks listed when `limit` is not given, and the most one call lists.
const DEFAULT_LIST: usize = 50;
const MAX_LIST: usize = 1000;
/// Tasks one batch may hold.
const MAX_BATCH: usize = 100;

/// One task as the API takes it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TaskInput {
    #[serde(default)]
    subagent_type: Option<String>,
    prompt: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    model: Option<String>,
    /// Absolute; required (an absent one is named in the error).
    #[serde(default)]
    cwd: Option<PathBuf>,
    /// Codex's sandbox mode; `workspace-write` when absent.
    #[serde(default)]
    sandbox: Option<String>,
}

/// `POST /api/tasks`.
pub async fn create(State(state): State<SharedState>, body: Bytes) -> Result<Response, ProxyError> {
    if !state.config.tasks.enabled {
        return Err(ProxyError::Disabled(
            "tasks are disabled; set [tasks] enabled = true in the config to run them".into(),
        ));
    }
    let (inputs, batch, wait) = parse_body(&body)?;
    let requests = inputs
        .into_iter()
        .enumerate()
        .map(|(i, input)| {
            to_request(input).map_err(|e| match batch {
                true => ProxyError::BadRequest(format!("tasks[{i}]: {e}")),
                false => ProxyError::BadRequest(e),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let engine = &state.engine;
    for (i, req) in requests.iter().enumerate() {
        engine.check(req).map_err(|e| match batch {
            true => ProxyError::BadRequest(format!("tasks[{i}]: {e}")),
            false => ProxyError::BadRequest(e.to_string()),
        })?;
    }
    let handles: Vec<_> = requests.into_iter().map(|r| engine.spawn(r)).collect();
    if !wait {
        let ids: Vec<&str> = handles.iter().map(|h| h.id.as_str()).collect();
        let body = match batch {
            true => json!({ "ids": ids }),
            false => json!({ "id": ids.first(), "status": "queued" }),
        };
        return Ok((StatusCode::ACCEPTED, Json(body)).into_response());
    }
    let results = join_all(handles.into_iter().map(|h| h.result())).await;
    let body = match batch {
        true => json!({ "results": results }),
        false => json!(results.first()),
    };
    Ok(Json(body).into_response())
}

/// The tasks of a body, whether it was a batch, and `wait`.
fn parse_body(body: &[u8]) -> Result<(Vec<TaskInput>, bool, bool), ProxyError> {
    let bad = |m: String| ProxyError::BadRequest(m);
    let mut value: Value = serde_json::from_slice(body)
        .map_err(|e| bad(format!("the body is not valid JSON: {e}")))?;
    let Some(object) = value.as_object_mut() else {
        return Err(bad(
            "the body must be a JSON object: {\"subagent_type\", \"prompt\", \"description\"} or {\"tasks\": [...]}".into(),
        ));
    };
    let wait = match object.remove("wait") {
        None | Some(Value::Null) => true,
        Some(Value::Bool(wait)) => wait,
        Some(other) => return Err(bad(format!("`wait` must be true or false, not {other}"))),
    };
    let Some(tasks) = object.remove("tasks") else {
        let input = serde_json::from_value(value).map_err(|e| bad(format!("invalid task: {e}")))?;
        return Ok((vec![input], false, wait));
    };
    if let Some(key) = object.keys().next() {
        return Err(bad(format!(
            "unknown field `{key}` beside `tasks`; a batch takes only `tasks` and `wait`"
        )));
    }
    let Value::Array(items) = tasks else {
        return Err(bad("`tasks` must be an array of tasks".into()));
    };
    if items.is_empty() || items.len() > MAX_BATCH {
        return Err(bad(format!(
            "`tasks` has {} entries; give 1 to {MAX_BATCH}",
            items.len()
        )));
    }
    let inputs = items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            serde_json::from_value(item).map_err(|e| bad(format!("tasks[{i}]: invalid task: {e}")))
        })
        .collect::<Result<Vec<TaskInput>, _>>()?;
    Ok((inputs, true, wait))
}

/// The request. `cwd` is required: the proxy's own directory is rarely the workspace
/// meant, and its agents are not the ones asked for.
fn to_request(input: TaskInput) -> Result<TaskRequest, String> {
    let Some(cwd) = input.cwd else {
        return Err(
            "`cwd` is missing: give the absolute path of the workspace whose agents and files the task uses"
                .into(),
        );
    };
    let cwd = workspace_dir(Some(cwd))?;
    let sandbox: SandboxMode = match input.sandbox {
        Some(mode) => mode.parse().map_err(|e| format!("`sandbox`: {e}"))?,
        None => SandboxMode::default(),
    };
    let description = input
        .description
        .filter(|d| !d.trim().is_empty())
        .unwrap_or_else(|| default_description(&input.prompt));
    let workspace = Workspace {
        sandbox,
        ..Workspace::at(cwd)
    };
    let mut req = TaskRequest::new(input.subagent_type, input.prompt, description, workspace);
    req.model = input.model;
    Ok(req)
}

/// `cwd` as given (absolute, an existing directory), or the proxy's own.
pub fn workspace_dir(cwd: Option<PathBuf>) -> Result<PathBuf, String> {
    let dir = match cwd {
        Some(dir) => dir,
        None => std::env::current_dir().map_err(|e| {
            format!("no `cwd` given and the proxy's own directory is unreadable ({e}); give `cwd`")
        })?,
    };
    if !dir.is_absolute() {
        return Err(format!(
            "`cwd` must be an absolute path, not `{}`",
            dir.display()
        ));
    }
    if !dir.is_dir() {
        return Err(format!(
            "`cwd` `{}` is not an existing directory",
            dir.display()
        ));
    }
    Ok(dir)
}

/// `GET /api/tasks?limit=N`.
pub async fn list(
    State(state): State<SharedState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ProxyError> {
    let limit = match params.get("limit") {
        None => DEFAULT_LIST,
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_LIST).contains(n))
            .ok_or_else(|| {
                ProxyError::BadRequest(format!(
                    "`limit` must be a whole number from 1 to {MAX_LIST}, not `{text}`"
                ))
            })?,
    };
    // Writes are queued: flush so a task accepted a moment ago is listed.
    if let Err(e) = state.ledger.flush().await {
        tracing::warn!("ledger flush before listing failed: {e}");
    }
    let ledger = state.ledger.clone();
    let records = tokio::task::spawn_blocking(move || ledger.tasks(limit, 0))
        .await
        .map_err(|e| ProxyError::Internal(e.to_string()))?
        .map_err(|e| ProxyError::Internal(e.to_string()))?;
    // Running tasks: the live view has their progress; the row does not yet.
    let mut running: HashMap<String, TaskSnapshot> = state
        .engine
        .running()
        .into_iter()
        .map(|t| (t.id.clone(), t))
        .collect();
    let tasks: Vec<TaskSnapshot> = records
        .iter()
        .map(|r| {
            running
                .remove(&r.id)
                .unwrap_or_else(|| TaskSnapshot::from_record(r))
        })
        .collect();
    Ok(Json(json!({ "tasks": tasks })))
}

/// `GET /api/tasks/{id}`.
pub async fn get(
    State(state): State<SharedState>,
    Path(id): Path<String>,
) -> Result<Json<TaskSnapshot>, ProxyError> {
    let engine = state.engine.clone();
    let lookup = id.clone();
    tokio::task::spawn_blocking(move || engine.get(&lookup))
        .await
        .map_err(|e| ProxyError::Internal(e.to_string()))?
        .map(Json)
        .ok_or_else(|| not_found(&id))
}

/// `GET /api/tasks/{id}/transcript`: the task's messages in order (its prompt, each
/// model answer with its tool calls, each tool result as the model read it, capped
/// as it was), its model calls with their tokens, and its tool calls with timing.
/// A running task shows the messages it started with; they are kept again at its end.
pub async fn transcript(
    State(state): State<SharedState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ProxyError> {
    // Writes are queued: a task that just ended has its last messages in the queue.
    if let Err(e) = state.ledger.flush().await {
        tracing::warn!("ledger flush before a transcript failed: {e}");
    }
    let engine = state.engine.clone();
    let ledger = state.ledger.clone();
    let lookup = id.clone();
    let read = tokio::task::spawn_blocking(move || {
        let task = engine.get(&lookup)?;
        let messages = ledger.task_messages(&lookup).ok().flatten();
        let attempts = ledger.model_attempts(&lookup).unwrap_or_default();
        let tools = ledger.tool_calls(&lookup).unwrap_or_default();
        Some((task, messages, attempts, tools))
    })
    .await
    .map_err(|e| ProxyError::Internal(e.to_string()))?;
    let Some((task, messages, attempts, tools)) = read else {
        return Err(not_found(&id));
    };
    let messages: Value = messages
        .as_deref()
        .and_then(|m| serde_json::from_str(m).ok())
        .unwrap_or(Value::Array(Vec::new()));
    Ok(Json(json!({
        "id": task.id,
        "agent": task.agent,
        "description": task.description,
        "status": task.status,
        "messages": messages,
        "model_calls": attempts,
        "tool_calls": tools,
    })))
}

/// `GET /api/tasks/{id}/events`.
pub async fn events(
    State(state): State<SharedState>,
    Path(id): Path<String>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ProxyError> {
    let receiver = state.engine.subscribe(&id).ok_or_else(|| not_found(&id))?;
    Ok(super::event_stream(receiver, TaskEvent::kind, |e| {
        matches!(e, TaskEvent::Finished(_))
    }))
}

/// `POST /api/tasks/{id}/cancel`.
pub async fn cancel(
    State(state): State<SharedState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ProxyError> {
    if state.engine.cancel(&id) {
        return Ok(Json(json!({ "id": id, "cancelled": true })));
    }
    let engine = state.engine.clone();
    let lookup = id.clone();
    let snapshot = tokio::task::spawn_blocking(move || engine.get(&lookup))
        .await
        .map_err(|e| ProxyError::Internal(e.to_string()))?;
    match snapshot {
        Some(task) => Err(ProxyError::Conflict(format!(
            "task {id} has already ended ({}); there is nothing to cancel",
            task.status
        ))),
        None => Err(not_found(&id)),
    }
}

fn not_found(id: &str) -> ProxyError {
    ProxyError::NotFound(format!(
        "no task {id}; GET /api/tasks lists the latest ones"
    ))
}
