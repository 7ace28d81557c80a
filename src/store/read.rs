//! Queries over the reading connection.

use rusqlite::{params, Connection, OptionalExtension, Row};

use super::records::{
    GoalRecord, HistoryLink, HookRunRecord, ModelAttemptRecord, SessionRecord, TaskRecord,
    TaskStatus, ToolCallRecord, Totals, TranscriptRecord, UsageTotals,
};

const TASK_COLUMNS: &str = "id, parent_id, session_id, call_key, call_id, agent, description,
    prompt, model, provider, status, output, error, tool_uses, input_tokens, output_tokens,
    cost_usd, depth, created_at, started_at, ended_at, duration_ms";

fn task_from_row(row: &Row<'_>) -> rusqlite::Result<TaskRecord> {
    Ok(TaskRecord {
        id: row.get("id")?,
        parent_id: row.get("parent_id")?,
        session_id: row.get("session_id")?,
        call_key: row.get("call_key")?,
        call_id: row.get("call_id")?,
        agent: row.get("agent")?,
        description: row.get("description")?,
        prompt: row.get("prompt")?,
        model: row.get("model")?,
        provider: row.get("provider")?,
        status: row.get("status")?,
        output: row.get("output")?,
        error: row.get("error")?,
        tool_uses: row.get("tool_uses")?,
        input_tokens: row.get("input_tokens")?,
        output_tokens: row.get("output_tokens")?,
        cost_usd: row.get("cost_usd")?,
        depth: row.get("depth")?,
        created_at: row.get("created_at")?,
        started_at: row.get("started_at")?,
        ended_at: row.get("ended_at")?,
        duration_ms: row.get("duration_ms")?,
    })
}

pub(super) fn task(conn: &Connection, id: &str) -> rusqlite::Result<Option<TaskRecord>> {
    conn.prepare_cached(&format!("SELECT {TASK_COLUMNS} FROM tasks WHERE id = ?1"))?
        .query_row([id], task_from_row)
        .optional()
}

pub(super) fn tasks(
    conn: &Connection,
    limit: usize,
    offset: usize,
) -> rusqlite::Result<Vec<TaskRecord>> {
    conn.prepare_cached(&format!(
        "SELECT {TASK_COLUMNS} FROM tasks ORDER BY created_at DESC, rowid DESC
         LIMIT ?1 OFFSET ?2"
    ))?
    .query_map(params![limit, offset], task_from_row)?
    .collect()
}

pub(super) fn task_by_call_key(
    conn: &Connection,
    call_key: &str,
) -> rusqlite::Result<Option<TaskRecord>> {
    conn.prepare_cached(&format!(
        "SELECT {TASK_COLUMNS} FROM tasks WHERE call_key = ?1 AND status = ?2
         ORDER BY created_at DESC, rowid DESC LIMIT 1"
    ))?
    .query_row(params![call_key, TaskStatus::Completed], task_from_row)
    .optional()
}

pub(super) fn tool_calls(
    conn: &Connection,
    task_id: &str,
) -> rusqlite::Result<Vec<ToolCallRecord>> {
    conn.prepare_cached(
        "SELECT task_id, seq, tool, input_json, is_error, output_bytes, duration_ms, at
         FROM tool_calls WHERE task_id = ?1 ORDER BY seq, id",
    )?
    .query_map([task_id], |row| {
        let input: String = row.get("input_json")?;
        Ok(ToolCallRecord {
            task_id: row.get("task_id")?,
            seq: row.get("seq")?,
            tool: row.get("tool")?,
            // The writer stores serialized JSON; text that is not JSON is shown as it is.
            input: serde_json::from_str(&input).unwrap_or(serde_json::Value::String(input)),
            is_error: row.get("is_error")?,
            output_bytes: row.get("output_bytes")?,
            duration_ms: row.get("duration_ms")?,
            at: row.get("at")?,
        })
    })?
    .collect()
}

pub(super) fn model_attempts(
    conn: &Connection,
    task_id: &str,
) -> rusqlite::Result<Vec<ModelAttemptRecord>> {
    conn.prepare_cached(
        "SELECT task_id, provider, model, ok, error, retries, duration_ms, input_tokens,
            output_tokens, at
         FROM model_attempts WHERE task_id = ?1 ORDER BY at, id",
    )?
    .query_map([task_id], |row| {
        Ok(ModelAttemptRecord {
            task_id: row.get("task_id")?,
            provider: row.get("provider")?,
            model: row.get("model")?,
            ok: row.get("ok")?,
            error: row.get("error")?,
            retries: row.get("retries")?,
            duration_ms: row.get("duration_ms")?,
            input_tokens: row.get("input_tokens")?,
            output_tokens: row.get("output_tokens")?,
            at: row.get("at")?,
        })
    })?
    .collect()
}

pub(super) fn hook_runs(conn: &Connection, limit: usize) -> rusqlite::Result<Vec<HookRunRecord>> {
    conn.prepare_cached(
        "SELECT session_id, event, matcher, command, exit_code, outcome, duration_ms,
            timed_out, stdout_bytes, stderr_excerpt, at
         FROM hook_runs ORDER BY at DESC, id DESC LIMIT ?1",
    )?
    .query_map([limit], |row| {
        Ok(HookRunRecord {
            session_id: row.get("session_id")?,
            event: row.get("event")?,
            matcher: row.get("matcher")?,
            command: row.get("command")?,
            exit_code: row.get("exit_code")?,
            outcome: row.get("outcome")?,
            duration_ms: row.get("duration_ms")?,
            timed_out: row.get("timed_out")?,
            stdout_bytes: row.get("stdout_bytes")?,
            stderr_excerpt: row.get("stderr_excerpt")?,
            at: row.get("at")?,
        })
    })?
    .collect()
}

pub(super) fn session(
    conn: &Connection,
    session_id: &str,
) -> rusqlite::Result<Option<SessionRecord>> {
    conn.prepare_cached(
        "SELECT session_id, cwd, first_seen, last_seen, requests
         FROM sessions WHERE session_id = ?1",
    )?
    .query_row([session_id], |row| {
        Ok(SessionRecord {
            session_id: row.get("session_id")?,
            cwd: row.get("cwd")?,
            first_seen: row.get("first_seen")?,
            last_seen: row.get("last_seen")?,
            requests: row.get("requests")?,
        })
    })
    .optional()
}

pub(super) fn history_link(
    conn: &Connection,
    message_id: &str,
) -> rusqlite::Result<Option<HistoryLink>> {
    conn.prepare_cached(
        "SELECT message_id, session_id, call_item_json, output_item_json, created_at
         FROM history_links WHERE message_id = ?1",
    )?
    .query_row([message_id], |row| {
        Ok(HistoryLink {
            message_id: row.get("message_id")?,
            session_id: row.get("session_id")?,
            call_item_json: row.get("call_item_json")?,
            output_item_json: row.get("output_item_json")?,
            created_at: row.get("created_at")?,
        })
    })
    .optional()
}

fn goal_row(row: &Row<'_>) -> rusqlite::Result<GoalRecord> {
    Ok(GoalRecord {
        id: row.get("id")?,
        goal: row.get("goal")?,
        cwd: row.get("cwd")?,
        sandbox: row.get("sandbox")?,
        model: row.get("model")?,
        max_parallel: row.get("max_parallel")?,
        status: row.get("status")?,
        graph_json: row.get("graph_json")?,
        answer: row.get("answer")?,
        error: row.get("error")?,
        created_at: row.get("created_at")?,
        updated_at: row.get("updated_at")?,
        ended_at: row.get("ended_at")?,
    })
}

pub(super) fn goal(conn: &Connection, id: &str) -> rusqlite::Result<Option<GoalRecord>> {
    conn.prepare_cached("SELECT * FROM goals WHERE id = ?1")?
        .query_row([id], goal_row)
        .optional()
}

/// Goals, newest first.
pub(super) fn goals(conn: &Connection, limit: usize) -> rusqlite::Result<Vec<GoalRecord>> {
    conn.prepare_cached("SELECT * FROM goals ORDER BY created_at DESC LIMIT ?1")?
        .query_map([i64::try_from(limit).unwrap_or(i64::MAX)], goal_row)?
        .collect()
}

/// The transcript `to` names in `session`: by agent id, by its latest run's task id,
/// else the newest agent of that name.
pub(super) fn transcript(
    conn: &Connection,
    session_id: Option<&str>,
    to: &str,
) -> rusqlite::Result<Option<TranscriptRecord>> {
    conn.prepare_cached(
        "SELECT * FROM agent_transcripts
         WHERE session_id IS ?1 AND (agent_id = ?2 OR last_task_id = ?2 OR name = ?2)
         ORDER BY agent_id = ?2 OR last_task_id = ?2 DESC, updated_at DESC LIMIT 1",
    )?
    .query_row(params![session_id, to], |row| {
        Ok(TranscriptRecord {
            agent_id: row.get("agent_id")?,
            session_id: row.get("session_id")?,
            name: row.get("name")?,
            agent: row.get("agent")?,
            model: row.get("model")?,
            cwd: row.get("cwd")?,
            worktree: row.get("worktree")?,
            last_task_id: row.get("last_task_id")?,
            updated_at: row.get("updated_at")?,
        })
    })
    .optional()
}

/// A task's messages (a JSON array of `providers::Message`), as kept at its start and
/// end.
pub(super) fn task_messages(conn: &Connection, task_id: &str) -> rusqlite::Result<Option<String>> {
    conn.prepare_cached("SELECT messages_json FROM task_messages WHERE task_id = ?1")?
        .query_row([task_id], |row| row.get(0))
        .optional()
}

/// The agents `session` may continue, newest first, as (agent id, name, agent type).
pub(super) fn transcripts(
    conn: &Connection,
    session_id: Option<&str>,
) -> rusqlite::Result<Vec<(String, Option<String>, String)>> {
    conn.prepare_cached(
        "SELECT agent_id, name, agent FROM agent_transcripts WHERE session_id IS ?1
         ORDER BY updated_at DESC LIMIT 50",
    )?
    .query_map(params![session_id], |row| {
        Ok((row.get(0)?, row.get(1)?, row.get(2)?))
    })?
    .collect()
}

pub(super) fn totals(conn: &Connection) -> rusqlite::Result<Totals> {
    let tasks_by_status = conn
        .prepare_cached("SELECT status, COUNT(*) FROM tasks GROUP BY status")?
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(Totals {
        tasks_by_status,
        per_agent: usage_by(conn, "agent")?,
        per_provider: usage_by(conn, "COALESCE(provider, 'unknown')")?,
    })
}

/// Usage grouped by `key`, an SQL expression over `tasks` (never user input). The
/// cost is null when no task of the group was priced (one convention with tasks').
fn usage_by(conn: &Connection, key: &str) -> rusqlite::Result<Vec<UsageTotals>> {
    conn.prepare_cached(&format!(
        "SELECT {key} AS name, COUNT(*), SUM(input_tokens), SUM(output_tokens), SUM(cost_usd)
         FROM tasks GROUP BY name
         ORDER BY SUM(input_tokens) + SUM(output_tokens) DESC, name"
    ))?
    .query_map([], |row| {
        Ok(UsageTotals {
            name: row.get(0)?,
            tasks: row.get(1)?,
            input_tokens: row.get(2)?,
            output_tokens: row.get(3)?,
            cost_usd: row.get(4)?,
        })
    })?
    .collect()
}

pub fn session_context(
    conn: &Connection,
    session_id: &str,
) -> rusqlite::Result<Vec<(usize, u64, String)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT position, anchor, item_json FROM session_context WHERE session_id = ?1 ORDER BY seq",
    )?;
    let rows = stmt.query_map(params![session_id], |r| {
        let at: i64 = r.get(0)?;
        let anchor: i64 = r.get(1)?;
        Ok((
            usize::try_from(at).unwrap_or(usize::MAX),
            anchor as u64,
            r.get::<_, String>(2)?,
        ))
    })?;
    rows.collect()
}
