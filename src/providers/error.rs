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
            Self::Decode { .. } | Self::Unsupported { .. } | Self::MissingKey { .. } => false,
        }
    }

    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    pub fn provider(&self) -> &str {
        match self {
            Self::Connect { provider, .. }
            | Self::Status { provider, .. }
            | Self::Timeout { provider, .. }
            | Self::Stream { provider, .. }
            | Self::Decode { provider, .. }
            | Self::Unsupported { provider, .. }
            | Self::MissingKey { provider, .. } => provider,
        }
    }
}
