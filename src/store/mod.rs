//! The ledger: an embedded SQLite database of sessions, tasks, tool calls and hook runs.

pub mod redact;
