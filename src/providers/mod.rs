//! Model providers for subagents, behind one trait.
//!
//! `types` holds the neutral messages; each provider file translates them to one
//! API. The router (aliases, fallback chains, retries, circuit breakers) sits on top.

pub mod anthropic;
pub mod breaker;
pub mod chat_completions;
pub mod config;
pub mod convert;
pub mod error;
pub mod gemini;
pub mod hosted;
pub mod openai_responses;
pub mod pricing;
pub mod retry;
pub mod router;
pub mod schema;
pub mod secret;
pub mod spec;
#[cfg(test)]
pub(crate) mod test_fixtures;
pub mod transport;
pub mod types;

pub use error::ProviderError;
pub use secret::Secret;
pub use types::*;

use async_trait::async_trait;

/// One model API. Implementations collect a streamed answer into a `ModelResponse`;
/// nothing they receive is shown to Codex while it streams, so a failed call can be
/// retried or moved to another provider without the user seeing half an answer.
#[async_trait]
pub trait ModelProvider: Send + Sync {
    /// Short provider name used in `provider:model` specs, logs and errors.
    fn name(&self) -> &str;

    async fn complete(&self, request: &ModelRequest) -> Result<ModelResponse, ProviderError>;
}
