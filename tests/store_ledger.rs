//! The ledger against a real SQLite file: round trips, crash recovery, concurrency, flushing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed assumption is a failed test

use std::path::Path;
use std::sync::Arc;

use codex_plus::store::{
    HistoryLink, HookRunOutcome, HookRunRecord, Ledger, ModelAttemptRecord, StoreError,
    TaskOutcome, TaskRecord, TaskStatus, Timestamp, ToolCallRecord, TranscriptRecord,
};
use serde_json::json;

fn open(dir: &tempfile::TempDir) -> Ledger {
    Ledger::open(dir.path().join("home/ledger.db")).expect("ledger opens")
}

fn full_task(id: &str, created_at: i64) -> TaskRecord {
    TaskRecord {
        id: id.into(),
        parent_id: Some("parent-1".into()),
        session_id: Some("sess-1".into()),
        call_key: Some(format!("key-{id}")),
        call_id: Some(format!("call_{id}")),
        agent: "code-reviewer".into(),
        description: "Review the diff".into(),
        prompt: "Look at src/ and report".into(),
        model: Some("gpt-5".into()),
        provider: Some("openai".into()),
        status: TaskStatus::Queued,
        output: None,
        error: None,
        tool_uses: 0,
        input_tokens: 0,
        output_tokens: 0,
        cost_usd: None,
        depth: 2,
        created_at: Timestamp(created_at),
        started_at: None,
        ended_at: None,
        duration_ms: None,
    }
}

fn outcome(status: TaskStatus, output: &str) -> TaskOutcome {
    TaskOutcome {
        status,
        output: Some(output.into()),
        error: None,
        model: None,
        provider: None,
        tool_uses: 3,
        input_tokens: 1200,
        output_tokens: 340,
        cost_usd: Some(0.0125),
        ended_at: Timestamp(2_000),
        duration_ms: 900,
    }
}

#[tokio::test]
async fn a_task_round_trips_through_its_whole_life() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ledger = open(&dir);
    let task = full_task("t1", 1_000);
    ledger.task_created(&task);
    ledger.flush().await.expect("flush");
    assert_eq!(ledger.task("t1").expect("read"), Some(task.clone()));

    ledger.task_started("t1", Timestamp(1_100));
    ledger.flush().await.expect("flush");
    let running = ledger.task("t1").expect("read").expect("present");
    assert_eq!(running.status, TaskStatus::Running);
    assert_eq!(running.started_at, Some(Timestamp(1_100)));

    let mut done = outcome(TaskStatus::Completed, "All good.");
    done.provider = Some("anthropic".into());
    ledger.task_finished("t1", &done);
    ledger.flush().await.expect("flush");
    let expected = TaskRecord {
        status: TaskStatus::Completed,
        output: Some("All good.".into()),
        provider: Some("anthropic".into()),
        tool_uses: 3,
        input_tokens: 1200,
        output_tokens: 340,
        cost_usd: Some(0.0125),
        started_at: Some(Timestamp(1_100)),
        ended_at: Some(Timestamp(2_000)),
        duration_ms: Some(900),
        ..task
    };
    // `model: None` in the outcome keeps the recorded model.
    assert_eq!(ledger.task("t1").expect("read"), Some(expected));
    assert_eq!(ledger.task("missing").expect("read"), None);
}

#[tokio::test]
async fn a_task_cancelled_before_it_started_stays_cancelled() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ledger = open(&dir);
    ledger.task_created(&full_task("t1", 1));
    ledger.task_finished("t1", &outcome(TaskStatus::Cancelled, ""));
    ledger.task_started("t1", Timestamp(5));
    ledger.flush().await.expect("flush");
    let task = ledger.task("t1").expect("read").expect("present");
    assert_eq!(task.status, TaskStatus::Cancelled);
    assert_eq!(task.started_at, None);
}

#[tokio::test]
async fn tool_calls_and_model_attempts_round_trip_in_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ledger = open(&dir);
    let calls: Vec<ToolCallRecord> = (0..3)
        .rev()
        .map(|seq| ToolCallRecord {
            task_id: "t1".into(),
            seq,
            tool: "Read".into(),
            input: json!({"file_path": format!("/w/{seq}.rs"), "limit": 10}),
            is_error: seq == 1,
            output_bytes: 100 + u64::from(seq),
            duration_ms: 7,
            at: Timestamp(10 + i64::from(seq)),
        })
        .collect();
    for call in &calls {
        ledger.tool_call(call);
    }
    let attempts = [
        ModelAttemptRecord {
            task_id: "t1".into(),
            provider: "anthropic".into(),
            model: "claude-sonnet".into(),
            ok: false,
            error: Some("overloaded".into()),
            retries: 2,
            duration_ms: 3000,
            input_tokens: 0,
            output_tokens: 0,
            at: Timestamp(20),
        },
        ModelAttemptRecord {
            task_id: "t1".into(),
            provider: "openai".into(),
            model: "gpt-5".into(),
            ok: true,
            error: None,
            retries: 0,
            duration_ms: 1500,
            input_tokens: 900,
            output_tokens: 120,
            at: Timestamp(25),
        },
    ];
    for attempt in &attempts {
        ledger.model_attempt(attempt);
    }
    ledger.flush().await.expect("flush");

    let mut by_seq = calls.clone();
    by_seq.sort_by_key(|c| c.seq);
    assert_eq!(ledger.tool_calls("t1").expect("read"), by_seq);
    assert_eq!(ledger.model_attempts("t1").expect("read"), attempts);
    assert!(ledger.tool_calls("other").expect("read").is_empty());
}

#[tokio::test]
async fn hook_runs_sessions_and_history_links_round_trip() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ledger = open(&dir);
    let runs = [
        HookRunRecord {
            session_id: Some("sess-1".into()),
            event: "PreToolUse".into(),
            matcher: "Bash".into(),
            command: "./check.sh".into(),
            exit_code: Some(2),
            outcome: HookRunOutcome::Blocked,
            duration_ms: 40,
            timed_out: false,
            stdout_bytes: 0,
            stderr_excerpt: "rm -rf refused".into(),
            at: Timestamp(1),
        },
        HookRunRecord {
            session_id: None,
            event: "Stop".into(),
            matcher: String::new(),
            command: "sleep 99".into(),
            exit_code: None,
            outcome: HookRunOutcome::Error,
            duration_ms: 1000,
            timed_out: true,
            stdout_bytes: 12,
            stderr_excerpt: String::new(),
            at: Timestamp(2),
        },
    ];
    for run in &runs {
        ledger.hook_run(run);
    }
    ledger.touch_session("sess-1", Some(Path::new("/work/a")));
    ledger.touch_session("sess-1", None);
    ledger.touch_session("sess-1", Some(Path::new("/work/b")));
    let link = HistoryLink {
        message_id: "msg_progress_1".into(),
        session_id: Some("sess-1".into()),
        call_item_json: r#"{"type":"function_call","call_id":"call_1","name":"Task","arguments":"{\"token\":\"x\"}"}"#.into(),
        output_item_json: r#"{"type":"function_call_output","call_id":"call_1","output":"done"}"#.into(),
        created_at: Timestamp(3),
    };
    ledger.link_history(&link);
    ledger.flush().await.expect("flush");

    assert_eq!(
        ledger.hook_runs(10).expect("read"),
        [runs[1].clone(), runs[0].clone()]
    );
    assert_eq!(ledger.hook_runs(1).expect("read").len(), 1);

    let session = ledger.session("sess-1").expect("read").expect("present");
    assert_eq!(session.requests, 3);
    assert_eq!(session.cwd.as_deref(), Some("/work/b"));
    assert!(session.first_seen <= session.last_seen);
    assert_eq!(ledger.session("nobody").expect("read"), None);

    // History items go back to the model, so they are stored exactly, secrets and all.
    assert_eq!(
        ledger.history_link("msg_progress_1").expect("read"),
        Some(link)
    );
    assert_eq!(ledger.history_link("other").expect("read"), None);
}

#[tokio::test]
async fn an_agents_transcript_is_found_by_id_latest_run_or_name_within_its_session() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ledger = open(&dir);
    let transcript =
        |agent_id: &str, session: &str, name: Option<&str>, at: i64| TranscriptRecord {
            agent_id: agent_id.into(),
            session_id: Some(session.into()),
            name: name.map(str::to_string),
            agent: "Explore".into(),
            model: None,
            cwd: "/w".into(),
            worktree: None,
            last_task_id: format!("{agent_id}-run2"),
            updated_at: Timestamp(at),
        };
    ledger.save_transcript(transcript("a1", "s1", Some("scout"), 1));
    ledger.save_transcript(transcript("a2", "s1", Some("scout"), 2));
    ledger.save_transcript(transcript("a3", "s1", None, 3));
    ledger.save_transcript(transcript("b1", "s2", Some("scout"), 4));
    // A later save replaces the agent's row.
    let replaced = transcript("a3", "s1", Some("fixer"), 5);
    ledger.save_transcript(replaced.clone());
    ledger.save_task_messages("a3-run2", "[]".into());
    ledger.save_task_messages("a3-run2", r#"[{"role":"user","content":[]}]"#.into());
    ledger.flush().await.expect("flush");

    let find = |to: &str| {
        ledger
            .transcript(Some("s1"), to)
            .expect("read")
            .map(|t| t.agent_id)
    };
    assert_eq!(find("a1").as_deref(), Some("a1"), "by id");
    assert_eq!(find("a1-run2").as_deref(), Some("a1"), "by its latest run");
    assert_eq!(
        find("scout").as_deref(),
        Some("a2"),
        "the newest of that name"
    );
    assert_eq!(find("b1"), None, "another session's agent");
    assert_eq!(find("nobody"), None);
    assert_eq!(
        ledger.transcript(Some("s1"), "fixer").expect("read"),
        Some(replaced)
    );
    let listed: Vec<String> = ledger
        .transcripts(Some("s1"))
        .expect("read")
        .into_iter()
        .map(|(id, name, _)| format!("{id}:{}", name.unwrap_or_default()))
        .collect();
    assert_eq!(listed, ["a3:fixer", "a2:scout", "a1:scout"]);
    // A run's messages: the latest kept.
    assert_eq!(
        ledger.task_messages("a3-run2").expect("read").as_deref(),
        Some(r#"[{"role":"user","content":[]}]"#)
    );
    assert_eq!(ledger.task_messages("none").expect("read"), None);
}

#[tokio::test]
async fn secrets_are_redacted_before_they_are_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ledger = open(&dir);
    let mut task = full_task("t1", 1);
    task.prompt = "Use key sk-proj-abcdefghijklmnopqrstuv to call the API".into();
    ledger.task_created(&task);
    let mut failed = outcome(TaskStatus::Failed, "");
    failed.error = Some("401 for Authorization: Bearer abc.def".into());
    ledger.task_finished("t1", &failed);
    ledger.tool_call(&ToolCallRecord {
        task_id: "t1".into(),
        seq: 0,
        tool: "WebFetch".into(),
        input: json!({"url": "https://x", "headers": {"X-Api-Key": "s3cret"}, "max_tokens": 5}),
        is_error: false,
        output_bytes: 0,
        duration_ms: 0,
        at: Timestamp(1),
    });
    ledger.hook_run(&HookRunRecord {
        session_id: None,
        event: "PostToolUse".into(),
        matcher: "*".into(),
        command: "GITHUB_TOKEN=ghp_abc ./notify.sh".into(),
        exit_code: Some(1),
        outcome: HookRunOutcome::Error,
        duration_ms: 1,
        timed_out: false,
        stdout_bytes: 0,
        stderr_excerpt: "password: hunter2".into(),
        at: Timestamp(1),
    });
    ledger.flush().await.expect("flush");

    let stored = ledger.task("t1").expect("read").expect("present");
    assert_eq!(stored.prompt, "Use key sk-[REDACTED] to call the API");
    assert_eq!(
        stored.error.as_deref(),
        Some("401 for Authorization: [REDACTED]")
    );
    let call = &ledger.tool_calls("t1").expect("read")[0];
    assert_eq!(
        call.input,
        json!({"url": "https://x", "headers": {"X-Api-Key": "[REDACTED]"}, "max_tokens": 5})
    );
    let run = &ledger.hook_runs(1).expect("read")[0];
    assert_eq!(run.command, "GITHUB_TOKEN=[REDACTED] ./notify.sh");
    assert_eq!(run.stderr_excerpt, "password: [REDACTED]");
}

#[tokio::test]
async fn tasks_are_listed_newest_first_with_paging() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ledger = open(&dir);
    for (id, at) in [("b", 20), ("a", 10), ("d", 40), ("c", 30)] {
        ledger.task_created(&full_task(id, at));
    }
    ledger.flush().await.expect("flush");
    let ids = |tasks: Vec<TaskRecord>| tasks.into_iter().map(|t| t.id).collect::<Vec<_>>();
    assert_eq!(
        ids(ledger.tasks(10, 0).expect("read")),
        ["d", "c", "b", "a"]
    );
    assert_eq!(ids(ledger.tasks(2, 1).expect("read")), ["c", "b"]);
    assert!(ledger.tasks(10, 4).expect("read").is_empty());
}

#[tokio::test]
async fn task_by_call_key_returns_the_latest_completed_task() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ledger = open(&dir);
    let with_key = |id: &str, at: i64, key: &str| TaskRecord {
        call_key: Some(key.into()),
        ..full_task(id, at)
    };
    ledger.task_created(&with_key("old", 10, "k"));
    ledger.task_finished("old", &outcome(TaskStatus::Completed, "old result"));
    ledger.task_created(&with_key("new", 20, "k"));
    ledger.task_finished("new", &outcome(TaskStatus::Completed, "new result"));
    ledger.task_created(&with_key("newest-failed", 30, "k"));
    ledger.task_finished("newest-failed", &outcome(TaskStatus::Failed, "boom"));
    ledger.task_created(&with_key("still-running", 40, "k"));
    ledger.task_created(&with_key("only-failed", 10, "k2"));
    ledger.task_finished("only-failed", &outcome(TaskStatus::Failed, "boom"));
    ledger.flush().await.expect("flush");

    let found = ledger.task_by_call_key("k").expect("read").expect("found");
    assert_eq!(found.id, "new");
    assert_eq!(found.output.as_deref(), Some("new result"));
    assert_eq!(ledger.task_by_call_key("k2").expect("read"), None);
    assert_eq!(ledger.task_by_call_key("nope").expect("read"), None);
}

#[tokio::test]
async fn totals_group_tasks_by_status_agent_and_provider() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ledger = open(&dir);
    let task = |id: &str, agent: &str, provider: Option<&str>| TaskRecord {
        agent: agent.into(),
        provider: provider.map(str::to_owned),
        ..full_task(id, 1)
    };
    ledger.task_created(&task("1", "explore", Some("openai")));
    ledger.task_finished("1", &outcome(TaskStatus::Completed, "x"));
    ledger.task_created(&task("2", "explore", Some("anthropic")));
    ledger.task_finished("2", &outcome(TaskStatus::Completed, "x"));
    ledger.task_created(&task("3", "plan", Some("openai")));
    ledger.task_finished("3", &outcome(TaskStatus::Failed, "x"));
    ledger.task_created(&task("4", "plan", None));
    ledger.flush().await.expect("flush");

    let totals = ledger.totals().expect("totals");
    let by_status: Vec<_> = totals.tasks_by_status.into_iter().collect();
    assert_eq!(
        by_status,
        [
            (TaskStatus::Queued, 1),
            (TaskStatus::Completed, 2),
            (TaskStatus::Failed, 1)
        ]
    );
    let summary = |rows: Vec<codex_plus::store::UsageTotals>| {
        rows.into_iter()
            .map(|u| (u.name, u.tasks, u.input_tokens, u.output_tokens))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        summary(totals.per_agent),
        [
            ("explore".to_owned(), 2, 2400, 680),
            ("plan".to_owned(), 2, 1200, 340)
        ]
    );
    assert_eq!(
        summary(totals.per_provider),
        [
            ("openai".to_owned(), 2, 2400, 680),
            ("anthropic".to_owned(), 1, 1200, 340),
            ("unknown".to_owned(), 1, 0, 0)
        ]
    );
}

#[test]
fn tasks_left_open_by_a_crash_are_interrupted_on_the_next_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let ledger = open(&dir);
        assert_eq!(ledger.interrupted_on_open(), 0);
        ledger.task_created(&full_task("queued", 1));
        ledger.task_created(&full_task("running", 2));
        ledger.task_started("running", Timestamp(3));
        ledger.task_created(&full_task("done", 4));
        ledger.task_finished("done", &outcome(TaskStatus::Completed, "ok"));
        ledger.flush_blocking().expect("flush");
    }
    let ledger = open(&dir);
    assert_eq!(ledger.interrupted_on_open(), 2);
    let status = |id| ledger.task(id).expect("read").expect("present");
    assert_eq!(status("queued").status, TaskStatus::Interrupted);
    assert_eq!(
        status("running").error.as_deref(),
        Some("codex-plus stopped while the task was running")
    );
    assert_eq!(status("running").status, TaskStatus::Interrupted);
    assert_eq!(status("done").status, TaskStatus::Completed);
}

#[test]
fn a_second_process_leaves_the_owners_running_tasks_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let owner = open(&dir);
    owner.task_created(&full_task("live", 1));
    owner.flush_blocking().expect("flush");

    let second = open(&dir);
    assert_eq!(second.interrupted_on_open(), 0);
    assert_eq!(
        second.task("live").expect("read").expect("present").status,
        TaskStatus::Queued
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_concurrent_writers_lose_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ledger = Arc::new(open(&dir));
    let writers = (0..16).map(|w| {
        let ledger = Arc::clone(&ledger);
        tokio::spawn(async move {
            let task_id = format!("task-{w}");
            ledger.task_created(&full_task(&task_id, w));
            for seq in 0..50 {
                ledger.tool_call(&ToolCallRecord {
                    task_id: task_id.clone(),
                    seq,
                    tool: "Grep".into(),
                    input: json!({"pattern": seq}),
                    is_error: false,
                    output_bytes: 1,
                    duration_ms: 1,
                    at: Timestamp(i64::from(seq)),
                });
                if seq % 10 == 0 {
                    tokio::task::yield_now().await;
                }
            }
        })
    });
    for writer in writers.collect::<Vec<_>>() {
        writer.await.expect("writer task");
    }
    ledger.flush().await.expect("flush");

    assert_eq!(ledger.tasks(100, 0).expect("read").len(), 16);
    for w in 0..16 {
        let calls = ledger.tool_calls(&format!("task-{w}")).expect("read");
        let seqs: Vec<u32> = calls.iter().map(|c| c.seq).collect();
        assert_eq!(seqs, (0..50).collect::<Vec<_>>());
    }
    let stats = ledger.stats();
    assert_eq!(
        (stats.pending, stats.written, stats.failed, stats.lost),
        (0, 16 * 51, 0, 0)
    );
}

#[test]
fn dropping_the_ledger_drains_the_queue() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let ledger = open(&dir);
        for i in 0..500 {
            ledger.task_created(&full_task(&format!("t{i}"), i));
        }
    }
    let ledger = open(&dir);
    assert_eq!(ledger.tasks(1000, 0).expect("read").len(), 500);
}

#[test]
fn session_touches_are_summed_and_land_without_a_flush() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ledger = open(&dir);
    for _ in 0..100 {
        ledger.touch_session("busy", Some(Path::new("/work/busy")));
    }
    ledger.task_created(&full_task("beside", 1));
    // No flush: the writer owes the touches within a second. Wait well past that.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let session = loop {
        if let Some(s) = ledger.session("busy").expect("read") {
            break s;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "touches never written"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert_eq!(
        session.requests, 100,
        "summed, not one row update per touch"
    );
    assert_eq!(session.cwd.as_deref(), Some("/work/busy"));
    ledger.flush_blocking().expect("flush");
    let stats = ledger.stats();
    assert_eq!((stats.pending, stats.written, stats.failed), (0, 101, 0));
}

#[test]
fn dropping_the_ledger_writes_the_touches_still_waiting() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let ledger = open(&dir);
        ledger.touch_session("s", None);
        ledger.touch_session("s", Some(Path::new("/w")));
    }
    let session = open(&dir)
        .session("s")
        .expect("read")
        .expect("written on drop");
    assert_eq!((session.requests, session.cwd.as_deref()), (2, Some("/w")));
}

#[test]
fn a_refused_write_is_counted_and_later_writes_still_land() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ledger = open(&dir);
    ledger.task_created(&full_task("dup", 1));
    ledger.task_created(&full_task("dup", 2));
    ledger.task_created(&full_task("after", 3));
    ledger.flush_blocking().expect("flush");
    let stats = ledger.stats();
    assert_eq!((stats.written, stats.failed, stats.pending), (2, 1, 0));
    assert!(ledger.task("after").expect("read").is_some());
}

#[test]
fn an_unopenable_path_names_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let err = Ledger::open(dir.path()).expect_err("a directory is not a database");
    assert!(matches!(err, StoreError::Open { .. }), "{err}");
    assert!(
        err.to_string().contains(&dir.path().display().to_string()),
        "{err}"
    );
}
