//! codex-plus: a local proxy for the OpenAI Codex CLI.
//!
//! The modules follow the path a request takes (see docs/architecture.md): `server`
//! accepts it, `guard` refuses callers that are not local, `proxy` routes and relays
//! it, `turn` adapts a `/responses` turn one concern at a time (each concern in its own
//! folder, request side and stream side together), `wire` knows the Responses API
//! bytes, and the interceptor in `proxy` hands Task calls to `engine`, which runs
//! subagents against `providers` and records them in `store`.

pub mod api;
pub mod ca;
pub mod claude;
pub mod cli;
pub mod config;
pub mod engine;
pub mod error;
pub mod goals;
pub mod guard;
pub mod hooks;
pub mod providers;
pub mod proxy;
pub mod server;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod trim;
pub mod turn;
pub mod wire;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::routing::{get, post};
use axum::Router;
use tower_http::trace::{DefaultOnFailure, DefaultOnResponse, TraceLayer};
use tracing::Level;

use state::SharedState;

/// The whole HTTP application: the proxy's own endpoints, and the relay for the rest.
pub fn app(state: SharedState) -> Router {
    let relay = proxy::Relay {
        state: state.clone(),
        pipeline: proxy::responses::pipeline(state.clone()),
    };
    let relay = Router::new().fallback(proxy::handle).with_state(relay);
    let guard = Arc::new(guard::Guard::new(
        state.addr.get().copied(),
        &state.config.server.allowed_hosts,
    ));
    Router::new()
        .route("/health", get(api::health::health))
        .route("/status", get(api::health::status))
        .route("/metrics", get(api::metrics::metrics))
        .route("/api/tasks", get(api::tasks::list).post(api::tasks::create))
        .route("/api/tasks/{id}", get(api::tasks::get))
        .route("/api/tasks/{id}/events", get(api::tasks::events))
        .route("/api/tasks/{id}/transcript", get(api::tasks::transcript))
        .route("/api/tasks/{id}/cancel", post(api::tasks::cancel))
        .route("/api/goals", get(api::goals::list).post(api::goals::create))
        .route("/api/goals/{id}", get(api::goals::get))
        .route("/api/goals/{id}/events", get(api::goals::events))
        .route("/api/goals/{id}/cancel", post(api::goals::cancel))
        .route("/api/goals/{id}/resume", post(api::goals::resume))
        .route("/api/agents", get(api::agents::list))
        .route("/dashboard", get(api::dashboard::page))
        .route("/dashboard/app.js", get(api::dashboard::script))
        .route("/dashboard/app.css", get(api::dashboard::style))
        .route("/api/dashboard", get(api::dashboard::snapshot))
        .route("/api/dashboard/events", get(api::dashboard::events))
        .with_state(state)
        .fallback_service(relay)
        .layer(axum::middleware::from_fn(move |req, next| {
            guard::enforce(Arc::clone(&guard), req, next)
        }))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|req: &http::Request<_>| {
                    static NEXT: AtomicU64 = AtomicU64::new(1);
                    // Method and path only: headers carry credentials.
                    tracing::info_span!(
                        "request",
                        id = NEXT.fetch_add(1, Ordering::Relaxed),
                        method = %req.method(),
                        path = %req.uri().path(),
                    )
                })
                .on_request(())
                // One line per request costs ~20 µs of CPU: success at debug
                // (CODEX_PLUS_LOG=debug shows it), failures at warn.
                .on_response(DefaultOnResponse::new().level(Level::DEBUG))
                .on_failure(DefaultOnFailure::new().level(Level::WARN)),
        )
}
