//! `GET /api/agents?cwd=DIR`: the agents a workspace sees, with any problems in their files.

use std::collections::HashMap;
use std::path::PathBuf;

use axum::extract::{Query, State};
use axum::Json;
use serde_json::Value;

use super::tasks::workspace_dir;
use crate::claude::agents_list;
use crate::error::ProxyError;
use crate::state::SharedState;

/// `GET /api/agents`: `{"agents": [...], "diagnostics": [...]}` as `agents list --json`.
pub async fn list(
    State(state): State<SharedState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ProxyError> {
    let cwd =
        workspace_dir(params.get("cwd").map(PathBuf::from)).map_err(ProxyError::BadRequest)?;
    let engine = state.engine.clone();
    // The first look at a workspace reads its agent files.
    let set = tokio::task::spawn_blocking(move || engine.agents(&cwd))
        .await
        .map_err(|e| ProxyError::Internal(e.to_string()))?;
    let mut listed: Value = serde_json::from_str(&agents_list(&set, true))
        .map_err(|e| ProxyError::Internal(format!("cannot list the agents: {e}")))?;
    // What each does in a goal: the planner plans and combines; the others are what
    // subtasks can run as.
    let planner = crate::goals::planner(&set);
    for agent in listed["agents"].as_array_mut().into_iter().flatten() {
        let role = if agent["name"] == planner {
            "planner: splits goals into subtasks and combines their results"
        } else {
            "subtask: a goal's plan may give it a subtask"
        };
        agent["goals"] = role.into();
    }
    Ok(Json(listed))
}
