//! Errors the proxy answers a client with: each has a status and a JSON body that says
//! what went wrong and, where it helps, what to change.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("request body is larger than the limit of {limit} bytes; raise server.body_limit_mb to accept it")]
    BodyTooLarge { limit: usize },
    #[error("could not read the request body: {0}")]
    BodyRead(String),
    /// The client stopped sending its body (server.body_progress_timeout_secs).
    #[error("{0}")]
    BodyStalled(String),
    #[error("cannot decode the {encoding} request body: {cause}")]
    BodyDecode { encoding: String, cause: String },
    #[error("upstream {upstream} is unreachable: {cause}")]
    UpstreamUnreachable { upstream: String, cause: String },
    /// Connected, but the exchange broke before an answer's head (garbage, a reset).
    #[error("upstream {upstream} failed before answering: {cause}")]
    UpstreamFailed { upstream: String, cause: String },
    #[error("upstream {upstream} timed out: {cause}")]
    UpstreamTimeout { upstream: String, cause: String },
    #[error("no upstream serves {path}: codex-plus relays /v1/... to the OpenAI upstream and /backend-api/... to the ChatGPT upstream")]
    NoRoute { path: String },
    #[error(
        "websocket is not supported on {path}; use HTTP streaming (Codex falls back on its own)"
    )]
    WebsocketUnsupported { path: String },
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    /// The request is fine but the target's state refuses it (e.g. cancelling a finished task).
    #[error("{0}")]
    Conflict(String),
    /// A feature switched off in the configuration.
    #[error("{0}")]
    Disabled(String),
    /// The proxy cannot start (the ledger or the providers cannot be set up).
    #[error("{0}")]
    Startup(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl ProxyError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::BodyRead(_) | Self::BodyDecode { .. } | Self::BadRequest(_) => {
                StatusCode::BAD_REQUEST
            }
            Self::UpstreamUnreachable { .. } | Self::UpstreamFailed { .. } => {
                StatusCode::BAD_GATEWAY
            }
            Self::UpstreamTimeout { .. } => StatusCode::GATEWAY_TIMEOUT,
            Self::BodyStalled(_) => StatusCode::REQUEST_TIMEOUT,
            Self::NoRoute { .. } | Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Disabled(_) => StatusCode::FORBIDDEN,
            Self::WebsocketUnsupported { .. } => StatusCode::UPGRADE_REQUIRED,
            Self::Startup(_) | Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Stable machine-readable kind, the `type` of the JSON error.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::BodyTooLarge { .. } => "body_too_large",
            Self::BodyRead(_) => "body_read_failed",
            Self::BodyStalled(_) => "request_timeout",
            Self::BodyDecode { .. } => "body_decode_failed",
            Self::UpstreamUnreachable { .. } => "upstream_unreachable",
            Self::UpstreamFailed { .. } => "upstream_failed",
            Self::UpstreamTimeout { .. } => "upstream_timeout",
            Self::NoRoute { .. } => "no_route",
            Self::WebsocketUnsupported { .. } => "websocket_unsupported",
            Self::BadRequest(_) => "invalid_request",
            Self::NotFound(_) => "not_found",
            Self::Conflict(_) => "conflict",
            Self::Disabled(_) => "disabled",
            Self::Startup(_) => "startup_failed",
            Self::Internal(_) => "internal_error",
        }
    }
}

impl IntoResponse for ProxyError {
    fn into_response(self) -> Response {
        let mut error = json!({ "type": self.kind(), "message": self.to_string() });
        if let Self::UpstreamUnreachable { upstream, cause }
        | Self::UpstreamFailed { upstream, cause }
        | Self::UpstreamTimeout { upstream, cause } = &self
        {
            error["upstream"] = json!(upstream);
            error["cause"] = json!(cause);
        }
        (self.status(), axum::Json(json!({ "error": error }))).into_response()
    }
}
