//! The ledger's tables and their migrations, versioned by `PRAGMA user_version`.

use std::path::Path;

use rusqlite::Connection;

use super::StoreError;

/// Migration `i` takes the schema from version `i` to `i + 1`. Append only; never edit.
const MIGRATIONS: &[&str] = &[
    r"
CREATE TABLE sessions (
    session_id TEXT PRIMARY KEY,
    cwd        TEXT,
    first_seen INTEGER NOT NULL,
    last_seen  INTEGER NOT NULL,
    requests   INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE tasks (
    id            TEXT PRIMARY KEY,
    parent_id     TEXT,
    session_id    TEXT,
    call_key      TEXT,
    call_id       TEXT,
    agent         TEXT NOT NULL,
    description   TEXT NOT NULL,
    prompt        TEXT NOT NULL,
    model         TEXT,
    provider      TEXT,
    status        TEXT NOT NULL CHECK (status IN
                  ('queued','running','completed','failed','cancelled','interrupted','timed_out')),
    output        TEXT,
    error         TEXT,
    tool_uses     INTEGER NOT NULL DEFAULT 0,
    input_tokens  INTEGER NOT NULL DEFAULT 0,
    output_tokens INTEGER NOT NULL DEFAULT 0,
    cost_usd      REAL,
    depth         INTEGER NOT NULL DEFAULT 1,
    created_at    INTEGER NOT NULL,
    started_at    INTEGER,
    ended_at      INTEGER,
    duration_ms   INTEGER
);
CREATE INDEX tasks_by_call_key ON tasks (call_key);
CREATE INDEX tasks_by_created_at ON tasks (created_at);

CREATE TABLE tool_calls (
    id           INTEGER PRIMARY KEY,
    task_id      TEXT NOT NULL,
    seq          INTEGER NOT NULL,
    tool         TEXT NOT NULL,
    input_json   TEXT NOT NULL,
    is_error     INTEGER NOT NULL,
    output_bytes INTEGER NOT NULL,
    duration_ms  INTEGER NOT NULL,
    at           INTEGER NOT NULL
);
CREATE INDEX tool_calls_by_task ON tool_calls (task_id, seq);

CREATE TABLE model_attempts (
    id            INTEGER PRIMARY KEY,
    task_id       TEXT NOT NULL,
    provider      TEXT NOT NULL,
    model         TEXT NOT NULL,
    ok            INTEGER NOT NULL,
    error         TEXT,
    retries       INTEGER NOT NULL,
    duration_ms   INTEGER NOT NULL,
    input_tokens  INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    at            INTEGER NOT NULL
);
CREATE INDEX model_attempts_by_task ON model_attempts (task_id);

CREATE TABLE hook_runs (
    id             INTEGER PRIMARY KEY,
    session_id     TEXT,
    event          TEXT NOT NULL,
    matcher        TEXT NOT NULL,
    command        TEXT NOT NULL,
    exit_code      INTEGER,
    outcome        TEXT NOT NULL,
    duration_ms    INTEGER NOT NULL,
    timed_out      INTEGER NOT NULL,
    stdout_bytes   INTEGER NOT NULL,
    stderr_excerpt TEXT NOT NULL,
    at             INTEGER NOT NULL
);
CREATE INDEX hook_runs_by_at ON hook_runs (at);

CREATE TABLE history_links (
    message_id       TEXT PRIMARY KEY,
    session_id       TEXT,
    call_item_json   TEXT NOT NULL,
    output_item_json TEXT NOT NULL,
    created_at       INTEGER NOT NULL
);
",
    r"
CREATE TABLE session_context (
    session_id TEXT NOT NULL,
    seq        INTEGER NOT NULL,
    position   INTEGER NOT NULL,
    anchor     INTEGER NOT NULL,
    item_json  TEXT NOT NULL,
    PRIMARY KEY (session_id, seq)
);
",
    r"
CREATE TABLE agent_transcripts (
    agent_id      TEXT PRIMARY KEY,
    session_id    TEXT,
    name          TEXT,
    agent         TEXT NOT NULL,
    model         TEXT,
    cwd           TEXT NOT NULL,
    worktree      TEXT,
    last_task_id  TEXT NOT NULL,
    updated_at    INTEGER NOT NULL
);
CREATE INDEX agent_transcripts_by_session ON agent_transcripts (session_id, updated_at);

CREATE TABLE task_messages (
    task_id       TEXT PRIMARY KEY,
    messages_json TEXT NOT NULL,
    updated_at    INTEGER NOT NULL
);
",
    r"
CREATE TABLE goals (
    id           TEXT PRIMARY KEY,
    goal         TEXT NOT NULL,
    cwd          TEXT NOT NULL,
    sandbox      TEXT NOT NULL,
    model        TEXT,
    max_parallel INTEGER,
    status       TEXT NOT NULL,
    graph_json   TEXT,
    answer       TEXT,
    error        TEXT,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    ended_at     INTEGER
);
CREATE INDEX goals_by_created_at ON goals (created_at);
",
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Brings the database at `path` up to [`SCHEMA_VERSION`], one transaction per step.
pub fn migrate(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    let open_err = |source| StoreError::Open {
        path: path.to_owned(),
        source,
    };
    let found: i64 = conn
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(open_err)?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew {
            path: path.to_owned(),
            found,
            supported: SCHEMA_VERSION,
        });
    }
    for (version, sql) in (1..)
        .zip(MIGRATIONS)
        .skip(usize::try_from(found).unwrap_or(0))
    {
        let migrate_err = |source| StoreError::Migrate {
            path: path.to_owned(),
            version,
            source,
        };
        let tx = conn.transaction().map_err(migrate_err)?;
        tx.execute_batch(sql).map_err(migrate_err)?;
        tx.pragma_update(None, "user_version", version)
            .map_err(migrate_err)?;
        tx.commit().map_err(migrate_err)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(conn: &Connection) -> i64 {
        conn.pragma_query_value(None, "user_version", |row| row.get(0))
            .unwrap_or(-1)
    }

    #[test]
    fn a_fresh_database_gets_every_table_and_the_current_version() {
        let mut conn = Connection::open_in_memory().expect("memory db");
        migrate(&mut conn, Path::new(":memory:")).expect("migrates");
        assert_eq!(version(&conn), SCHEMA_VERSION);
        let mut stmt = conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .expect("prepare");
        let tables: Vec<String> = stmt
            .query_map([], |row| row.get(0))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows");
        assert_eq!(
            tables,
            [
                "agent_transcripts",
                "goals",
                "history_links",
                "hook_runs",
                "model_attempts",
                "session_context",
                "sessions",
                "task_messages",
                "tasks",
                "tool_calls"
            ]
        );
    }

    #[test]
    fn migrating_twice_changes_nothing() {
        let mut conn = Connection::open_in_memory().expect("memory db");
        migrate(&mut conn, Path::new(":memory:")).expect("first");
        migrate(&mut conn, Path::new(":memory:")).expect("second");
        assert_eq!(version(&conn), SCHEMA_VERSION);
    }

    #[test]
    fn a_newer_schema_is_refused_with_both_versions_named() {
        let mut conn = Connection::open_in_memory().expect("memory db");
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 3)
            .expect("set version");
        let err = migrate(&mut conn, Path::new("/x/ledger.db")).expect_err("too new");
        let text = err.to_string();
        assert!(matches!(err, StoreError::SchemaTooNew { .. }), "{text}");
        assert!(
            text.contains(&format!("version {}", SCHEMA_VERSION + 3)),
            "{text}"
        );
        assert!(text.contains("/x/ledger.db"), "{text}");
    }
}
