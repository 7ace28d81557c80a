//! What can go wrong calling a model, in terms a retry policy and a user can act on.

use std::time::Duration;

#[derive(Debug, Clone, thiserror::Error)]
pub enum ProviderError {
    #[error("{provider}: cannot connect to {url}: {cause}")]
    Connect {
        provider: String,
        url: String,
        cause: String,
    },
    #[error("{provider}: HTTP {status}: {message}")]
    Status {
        provider: String,
        status: u16,
        message: String,
        retry_after: Option<Duration>,
    },
    #[error("{provider}: timed out waiting for {phase} after {after:?}")]
    Timeout {
        provider: String,
        phase: &'static str,
        after: Duration,
    },
    #[error("{provider}: the stream broke after {received} bytes: {cause}")]
    Stream {
        provider: String,
        received: usize,
        cause: String,
    },
    #[error("{provider}: could not read the answer: {cause}")]
    Decode { provider: String, cause: String },
    #[error("{provider}: {what} is not supported by this provider")]
    Unsupported { provider: String, what: String },
    #[error("{provider}: no API key (set {env_var})")]
    MissingKey { provider: String, env_var: String },
    /// An error the provider reported inside an otherwise healthy stream
    /// (`response.failed`, an Anthropic `error` event, a Gemini error chunk).
    #[error("{provider}: the model call failed{}: {message}", code.as_deref().map(|c| format!(" ({c})")).unwrap_or_default())]
    Api {
        provider: String,
        code: Option<String>,
        message: String,
        retryable: bool,
    },
    /// The request cannot be expressed in this provider's dialect.
    #[error("{provider}: invalid request: {message}")]
    InvalidRequest { provider: String, message: String },
    /// A model spec that names no usable provider or alias.
    #[error("model `{spec}`: {message}")]
    Resolve { spec: String, message: String },
}

impl ProviderError {
    /// Worth trying again (same or next candidate): transport faults, 5xx, 408, 429, 529.
    /// A 4xx that will not change on retry is not.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Connect { .. } | Self::Timeout { .. } | Self::Stream { .. } => true,
            Self::Status { status, .. } => {
                matches!(status, 408 | 429 | 529) || (500..600).contains(status)
            }
            Self::Api { retryable, .. } => *retryable,
            Self::Decode { .. }
            | Self::Unsupported { .. }
            | Self::MissingKey { .. }
            | Self::InvalidRequest { .. }
            | Self::Resolve { .. } => false,
        }
    }

    /// Says something about the provider's health (counts against its circuit breaker),
    /// as opposed to a problem with this request or our configuration.
    pub fn is_provider_fault(&self) -> bool {
        self.is_retryable() || matches!(self, Self::Decode { .. })
    }

    /// How long the provider asked us to wait, when it said.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The provider the error came from (`router` for model specs that resolve to none).
    pub fn provider(&self) -> &str {
        match self {
            Self::Connect { provider, .. }
            | Self::Status { provider, .. }
            | Self::Timeout { provider, .. }
            | Self::Stream { provider, .. }
            | Self::Decode { provider, .. }
            | Self::Unsupported { provider, .. }
            | Self::MissingKey { provider, .. }
            | Self::Api { provider, .. }
            | Self::InvalidRequest { provider, .. } => provider,
            Self::Resolve { .. } => "router",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: u16) -> ProviderError {
        ProviderError::Status {
            provider: "p".into(),
            status: code,
            message: String::new(),
            retry_after: None,
        }
    }

    #[test]
    fn retryable_statuses() {
        for code in [408, 429, 500, 502, 503, 529] {
            assert!(status(code).is_retryable(), "{code}");
        }
        for code in [400, 401, 403, 404, 422] {
            assert!(!status(code).is_retryable(), "{code}");
            assert!(!status(code).is_provider_fault(), "{code}");
        }
    }

    #[test]
    fn api_error_display_and_retry_flag() {
        let e = ProviderError::Api {
            provider: "anthropic".into(),
            code: Some("overloaded_error".into()),
            message: "Overloaded".into(),
            retryable: true,
        };
        assert_eq!(
            e.to_string(),
            "anthropic: the model call failed (overloaded_error): Overloaded"
        );
        assert!(e.is_retryable());
        let decode = ProviderError::Decode {
            provider: "gemini".into(),
            cause: "bad json".into(),
        };
        assert!(!decode.is_retryable());
        assert!(
            decode.is_provider_fault(),
            "a garbled stream is the provider's fault"
        );
    }
}
