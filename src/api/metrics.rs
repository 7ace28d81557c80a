//! `GET /metrics`: Prometheus text exposition.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::header;
use prometheus_client::encoding::text::encode;
use prometheus_client::registry::Registry;

use crate::state::SharedState;

pub async fn metrics(State(state): State<SharedState>) -> Response {
    let mut registry = Registry::default();
    state.stats.register(&mut registry);
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
