//! `GET /health` and `GET /status`.

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use crate::state::SharedState;

/// `GET /health`: alive, with version and uptime.
pub async fn health(State(state): State<SharedState>) -> Json<Value> {
    Json(json!({
        "status": "ok",
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_secs": state.started.elapsed().as_secs(),
    }))
}

/// `GET /status`: counters, tasks (by status, running, usage per agent and provider),
/// the providers' circuit breakers and the ledger.
pub async fn status(State(state): State<SharedState>) -> Json<Value> {
    let s = &state.stats;
    // Writes are queued: let the counts include tasks that just ended.
    if let Err(e) = state.ledger.flush().await {
        tracing::warn!("ledger flush before /status failed: {e}");
    }
    let ledger = state.ledger.clone();
    let totals = match tokio::task::spawn_blocking(move || ledger.totals()).await {
        Ok(Ok(totals)) => json!({
            "by_status": totals.tasks_by_status,
            "per_agent": totals.per_agent,
            "per_provider": totals.per_provider,
        }),
        Ok(Err(e)) => json!({ "error": e.to_string() }),
        Err(e) => json!({ "error": e.to_string() }),
    };
    let engine = &state.engine;
    Json(json!({
        "status": "ok",
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_secs": state.started.elapsed().as_secs(),
        "pid": std::process::id(),
        "listen": state.listen.get().cloned().unwrap_or_default(),
        "home": state.config.home,
        "upstreams": {
            "openai": state.config.upstream.openai,
            "chatgpt": state.config.upstream.chatgpt,
        },
        "requests": {
            "total": s.requests.get(),
            "responses": s.responses_requests.get(),
            "upstream_errors": s.upstream_errors.get(),
            "stream_failures": s.stream_failures.get(),
            "rejected_bodies": s.rejected_bodies.get(),
            "packed": s.packed_requests.get(),
        },
        "open_streams": s.open_streams.get(),
        "tasks": {
            "enabled": engine.config().enabled,
            "max_concurrent": engine.config().max_concurrent,
            "running": engine.running(),
            "totals": totals,
        },
        "providers": {
            "breakers": engine.router().breaker_snapshots(),
        },
        "ledger": {
            "path": state.ledger.path(),
            "writer": state.ledger.stats(),
            "interrupted_on_open": state.ledger.interrupted_on_open(),
        },
    }))
}
