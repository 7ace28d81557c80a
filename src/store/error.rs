//! What can go wrong with the ledger.

use std::path::PathBuf;

/// An error opening, migrating or reading the ledger.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The directory for the database could not be created.
    #[error("cannot create the ledger directory {path}: {source}")]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The ledger's files could not be made readable by their owner only.
    #[error("cannot make the ledger {path} private (mode 0600): {source}")]
    Private {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// SQLite refused to open or configure the database file.
    #[error("cannot open the ledger {path}: {source} (check permissions, or move the file aside to start a fresh ledger)")]
    Open {
        /// The database file.
        path: PathBuf,
        /// Why.
        source: rusqlite::Error,
    },
    /// The file was written by a newer codex-plus whose schema this one does not know.
    #[error("the ledger {path} has schema version {found}, but this codex-plus knows only up to {supported}; upgrade codex-plus or point it at another CODEX_PLUS_HOME")]
    SchemaTooNew {
        /// The database file.
        path: PathBuf,
        /// `PRAGMA user_version` found in the file.
        found: i64,
        /// The newest version this build can migrate to.
        supported: i64,
    },
    /// A migration step failed.
    #[error("cannot migrate the ledger {path} to schema version {version}: {source}")]
    Migrate {
        /// The database file.
        path: PathBuf,
        /// The version being applied.
        version: i64,
        /// Why.
        source: rusqlite::Error,
    },
    /// The writer thread could not be started.
    #[error("cannot start the ledger writer thread: {0}")]
    SpawnWriter(std::io::Error),
    /// The writer thread has stopped, so writes are no longer accepted.
    #[error(
        "the ledger writer has stopped; later writes are lost (see earlier errors in the log)"
    )]
    WriterGone,
    /// A query failed.
    #[error("ledger query failed: {0}")]
    Query(#[from] rusqlite::Error),
}
