//! The relay: routes each request to its upstream, sends `/responses` calls through
//! the turn pipeline and everything else through the plain relay.

pub mod answer;
pub mod client;
pub mod headers;
pub mod interceptor;
#[cfg(test)]
mod interceptor_tests;
pub mod kept_request;
pub mod relay;
pub mod responses;
pub mod stream;
pub mod upstream;
pub mod upstream_body;

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use http::{header, Method};

use crate::error::ProxyError;
use crate::state::SharedState;
use responses::Pipeline;
use upstream::Backend;

/// What the relay needs per request.
#[derive(Clone)]
pub struct Relay {
    pub state: SharedState,
    pub pipeline: Pipeline,
}

/// Everything that is not one of the proxy's own endpoints.
pub async fn handle(State(relay): State<Relay>, req: Request) -> Response {
    let state = relay.state;
    state.stats.requests.inc();
    let path = req.uri().path();
    let Some(backend) = Backend::for_path(path) else {
        return ProxyError::NoRoute {
            path: path.to_string(),
        }
        .into_response();
    };
    if path.ends_with("/responses") {
        if is_websocket_upgrade(&req) {
            // Codex tries websockets first; 426 makes it fall back to HTTP at once.
            return ProxyError::WebsocketUnsupported {
                path: path.to_string(),
            }
            .into_response();
        }
        if req.method() == Method::POST {
            return responses::handle(state, relay.pipeline, backend, req).await;
        }
    }
    relay::relay(state, backend, req).await
}

fn is_websocket_upgrade(req: &Request) -> bool {
    req.headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}
