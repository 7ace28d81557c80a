//! `GET /health` and `GET /status`.

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use crate::state::SharedState;

pub async fn health(State(state): State<SharedState>) -> Json<Value> {
    Json(json!({
        "status": "ok",
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_secs": state.started.elapsed().as_secs(),
    }))
}

pub async fn status(State(state): State<SharedState>) -> Json<Value> {
    let s = &state.stats;
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
        },
        "open_streams": s.open_streams.get(),
    }))
}
