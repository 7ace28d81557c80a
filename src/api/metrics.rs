//! `GET /metrics`: Prometheus/OpenMetrics text. The request counters are live
//! atomics; tasks, tokens and circuit breakers are read at scrape time.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::header;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::providers::breaker::BreakerState;
use crate::state::SharedState;

type Labeled = Family<Vec<(String, String)>, Gauge>;

pub async fn metrics(State(state): State<SharedState>) -> Response {
    let mut registry = Registry::default();
    state.stats.register(&mut registry);
    register_tasks(&state, &mut registry).await;
    register_breakers(&state, &mut registry);
    let mut text = String::new();
    if let Err(e) = encode(&mut text, &registry) {
        return crate::error::ProxyError::Internal(format!("cannot encode metrics: {e}"))
            .into_response();
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

fn labels(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Tasks by status and tokens per provider, from the ledger; running tasks from the engine.
async fn register_tasks(state: &SharedState, registry: &mut Registry) {
    let ledger = state.ledger.clone();
    let totals = tokio::task::spawn_blocking(move || ledger.totals()).await;
    let running = Gauge::<i64>::default();
    running.set(state.engine.running().len() as i64);
    registry.register(
        "codex_plus_tasks_running",
        "Task subagents running now",
        running,
    );
    let Ok(Ok(totals)) = totals else {
        return;
    };
    let tasks = Labeled::default();
    for (status, count) in &totals.tasks_by_status {
        tasks
            .get_or_create(&labels(&[("status", status.as_str())]))
            .set(*count as i64);
    }
    registry.register("codex_plus_tasks", "Tasks in the ledger, by status", tasks);
    let tokens = Labeled::default();
    for p in &totals.per_provider {
        for (direction, n) in [("input", p.input_tokens), ("output", p.output_tokens)] {
            tokens
                .get_or_create(&labels(&[("provider", &p.name), ("direction", direction)]))
                .set(n as i64);
        }
    }
    registry.register(
        "codex_plus_task_tokens",
        "Tokens used by tasks, per provider",
        tokens,
    );
}

/// Per provider: 0 closed, 1 half-open, 2 open; and how often it opened.
fn register_breakers(state: &SharedState, registry: &mut Registry) {
    let breakers = Labeled::default();
    let trips = Labeled::default();
    for (provider, snap) in state.engine.router().breaker_snapshots() {
        let l = labels(&[("provider", &provider)]);
        let code = match snap.state {
            BreakerState::Closed => 0,
            BreakerState::HalfOpen => 1,
            BreakerState::Open => 2,
        };
        breakers.get_or_create(&l).set(code);
        trips.get_or_create(&l).set(snap.trips as i64);
    }
    registry.register(
        "codex_plus_provider_breaker_state",
        "Circuit breaker per provider: 0 closed, 1 half-open, 2 open",
        breakers,
    );
    registry.register(
        "codex_plus_provider_breaker_trips",
        "Times each provider's breaker has opened since start",
        trips,
    );
}
