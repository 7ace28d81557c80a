//! `/api/goals`: goals planned into graphs of Tasks (`crate::goals`).
//!
//! - `POST /api/goals` `{goal, cwd, model?, max_parallel?}`: answers `{id}` at once
//!   (202); `?wait=true` answers with the finished goal.
//! - `GET /api/goals`: the latest goals, newest first.
//! - `GET /api/goals/{id}`: the goal with its graph: each subtask's state, result,
//!   and its latest task's timing, tokens and cost.
//! - `GET /api/goals/{id}/events`: a running goal's progress as Server-Sent Events,
//!   ending with `finished`.
//! - `POST /api/goals/{id}/cancel`, `POST /api/goals/{id}/resume`.

use std::convert::Infallible;
use std::path::PathBuf;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures_util::Stream;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::engine::Workspace;
use crate::error::ProxyError;
use crate::goals::graph::Graph;
use crate::goals::{GoalError, GoalEvent, GoalRequest};
use crate::state::SharedState;
use crate::store::GoalRecord;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GoalInput {
    goal: String,
    cwd: Option<PathBuf>,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    max_parallel: Option<usize>,
}

#[derive(Debug, Deserialize)]
pub struct WaitQuery {
    #[serde(default)]
    wait: bool,
}

/// `POST /api/goals`.
pub async fn create(
    State(state): State<SharedState>,
    Query(query): Query<WaitQuery>,
    body: Bytes,
) -> Result<Response, ProxyError> {
    if !state.config.tasks.enabled {
        return Err(ProxyError::Disabled(
            "tasks are disabled, and goals run as tasks; set [tasks] enabled = true".into(),
        ));
    }
    let input: GoalInput = serde_json::from_slice(&body).map_err(|e| {
        ProxyError::BadRequest(format!(
            "invalid goal: {e}; send {{\"goal\": \"...\", \"cwd\": \"/abs/path\"}}"
        ))
    })?;
    if input.goal.trim().is_empty() {
        return Err(ProxyError::BadRequest(
            "`goal` is empty; say what should be done".into(),
        ));
    }
    let Some(cwd) = input.cwd else {
        return Err(ProxyError::BadRequest(
            "`cwd` is missing: give the absolute path of the workspace whose agents run the goal"
                .into(),
        ));
    };
    let cwd = super::tasks::workspace_dir(Some(cwd)).map_err(ProxyError::BadRequest)?;
    if input.max_parallel == Some(0) {
        return Err(ProxyError::BadRequest(
            "`max_parallel` must be at least 1".into(),
        ));
    }
    let id = state.goals.start(GoalRequest {
        goal: input.goal,
        workspace: Workspace::at(cwd),
        model: input.model,
        max_parallel: input.max_parallel,
        inherit: None,
    });
    if !query.wait {
        return Ok((
            StatusCode::ACCEPTED,
            Json(json!({ "id": id, "status": "planning" })),
        )
            .into_response());
    }
    let goal = state.goals.wait(&id).await.ok_or_else(|| not_found(&id))?;
    Ok(Json(view(&state, &goal)).into_response())
}

/// `GET /api/goals`.
pub async fn list(State(state): State<SharedState>) -> Result<Json<Value>, ProxyError> {
    let goals = state.goals.clone();
    let listed = tokio::task::spawn_blocking(move || goals.list(50))
        .await
        .map_err(|e| ProxyError::Internal(e.to_string()))?;
    let goals: Vec<Value> = listed
        .iter()
        .map(|g| {
            json!({"id": g.id, "goal": g.goal, "status": g.status, "cwd": g.cwd,
                   "created_at": g.created_at, "ended_at": g.ended_at})
        })
        .collect();
    Ok(Json(json!({ "goals": goals })))
}

/// `GET /api/goals/{id}`.
pub async fn get(
    State(state): State<SharedState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ProxyError> {
    let goals = state.goals.clone();
    let lookup = id.clone();
    let goal = tokio::task::spawn_blocking(move || goals.get(&lookup))
        .await
        .map_err(|e| ProxyError::Internal(e.to_string()))?
        .ok_or_else(|| not_found(&id))?;
    Ok(Json(view(&state, &goal)))
}

/// The goal as the API shows it: the record, and its graph with each subtask's
/// latest task.
fn view(state: &SharedState, goal: &GoalRecord) -> Value {
    let graph = goal
        .graph_json
        .as_deref()
        .and_then(|j| serde_json::from_str::<Graph>(j).ok());
    let subtasks: Vec<Value> = graph
        .map(|g| g.nodes)
        .unwrap_or_default()
        .into_iter()
        .map(|n| {
            let task = n.task_ids.last().and_then(|t| state.engine.get(t));
            let mut node = serde_json::to_value(&n).unwrap_or(Value::Null);
            node["task"] = match task {
                Some(t) => json!({"id": t.id, "status": t.status, "duration_ms": t.duration_ms,
                    "input_tokens": t.usage.input_tokens, "output_tokens": t.usage.output_tokens,
                    "cost_usd": t.cost_usd}),
                None => Value::Null,
            };
            node
        })
        .collect();
    json!({
        "id": goal.id, "goal": goal.goal, "cwd": goal.cwd, "model": goal.model,
        "status": goal.status, "answer": goal.answer, "error": goal.error,
        "created_at": goal.created_at, "updated_at": goal.updated_at, "ended_at": goal.ended_at,
        "subtasks": subtasks,
    })
}

/// `POST /api/goals/{id}/cancel`.
pub async fn cancel(
    State(state): State<SharedState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ProxyError> {
    state.goals.cancel(&id).map_err(goal_error)?;
    Ok(Json(json!({ "id": id, "cancelled": true })))
}

/// `POST /api/goals/{id}/resume`.
pub async fn resume(
    State(state): State<SharedState>,
    Path(id): Path<String>,
) -> Result<Response, ProxyError> {
    let goals = state.goals.clone();
    let lookup = id.clone();
    tokio::task::spawn_blocking(move || goals.resume(&lookup))
        .await
        .map_err(|e| ProxyError::Internal(e.to_string()))?
        .map_err(goal_error)?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "id": id, "resumed": true })),
    )
        .into_response())
}

/// `GET /api/goals/{id}/events`.
pub async fn events(
    State(state): State<SharedState>,
    Path(id): Path<String>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ProxyError> {
    let receiver = state.goals.subscribe(&id).ok_or_else(|| {
        ProxyError::NotFound(format!(
            "goal {id} is not running; GET /api/goals/{id} shows how it ended"
        ))
    })?;
    Ok(super::event_stream(receiver, GoalEvent::kind, |e| {
        matches!(e, GoalEvent::Finished { .. })
    }))
}

fn goal_error(e: GoalError) -> ProxyError {
    match e {
        GoalError::NotFound(_) => ProxyError::NotFound(e.to_string()),
        GoalError::State { .. } => ProxyError::Conflict(e.to_string()),
        GoalError::Corrupt(_) => ProxyError::Internal(e.to_string()),
    }
}

fn not_found(id: &str) -> ProxyError {
    goal_error(GoalError::NotFound(id.to_string()))
}
