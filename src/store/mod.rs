//! The ledger: an embedded SQLite database of sessions, tasks, tool calls and hook runs.
//!
//! One writer thread owns the writing connection and applies queued writes in batches, so
//! recording never waits on the disk; reads go through a second connection (WAL lets the
//! two proceed together). Secrets are redacted before anything is written.

mod error;
mod ledger;
mod read;
pub mod records;
pub mod redact;
mod schema;
mod touches;
mod writer;

pub use error::StoreError;
pub use ledger::Ledger;
pub use records::{
    GoalRecord, HistoryLink, HookRunOutcome, HookRunRecord, ModelAttemptRecord, SessionRecord,
    TaskOutcome, TaskRecord, TaskStatus, Timestamp, ToolCallRecord, Totals, TranscriptRecord,
    UsageTotals,
};
pub use schema::SCHEMA_VERSION;
pub use writer::WriterStats;
