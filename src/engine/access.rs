//! Which tool calls a subagent may make: agent tool lists, settings permission rules,
//! the session's sandbox mode, and the workspace roots.

/// Placeholder until access control lands; see the engine-tools work.
#[derive(Debug, Default)]
pub struct AccessPolicy;
