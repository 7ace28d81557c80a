//! The agent engine: runs a Task as an in-process subagent with its own context,
//! tools and model, many at once, and records each in the ledger.

pub mod access;
pub mod tools;
