//! The shipped `/goal` command through the real Codex CLI: the typed goal is planned,
//! its subtasks run, and the turn's prompt becomes the combined answer.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed assumption is a failed test

mod support;

use serde_json::json;
use support::codex::Codex;
use support::mock::*;

#[tokio::test]
async fn the_goal_command_runs_a_goal_and_the_turn_gets_its_answer() {
    support::init_logs();
    let mock = MockUpstream::start(|req, _| {
        let text = req.text();
        if text.contains("Split this goal into subtasks") {
            let plan = json!({"subtasks": [
                {"id": "scan", "description": "Scan", "prompt": "Please scan the repo.", "subagent_type": "general-purpose", "depends_on": [], "priority": 0},
                {"id": "write", "description": "Write", "prompt": "Please write the notes.", "subagent_type": "general-purpose", "depends_on": ["scan"], "priority": 0}
            ]});
            return Reply::sse(&answer("resp_plan", &plan.to_string()));
        }
        if text.contains("Write the final answer to the goal") {
            return Reply::sse(&answer("resp_combine", "COMBINED: scanned, then wrote notes"));
        }
        if text.contains("Please scan the repo.") && !text.contains("<command-name>") {
            return Reply::sse(&answer("resp_scan", "scan result: 3 modules"));
        }
        if text.contains("Please write the notes.") && !text.contains("<command-name>") {
            return Reply::sse(&answer("resp_write", "notes written"));
        }
        Reply::sse(&answer("resp_turn", "Reported the goal."))
    })
    .await;
    let home = tempfile::tempdir().unwrap();
    let proxy = support::proxy(&mock.url(), home.path()).await;
    let codex = Codex::api_mode(proxy.addr);
    let commands = codex.workspace().join(".codexplus/commands");
    std::fs::create_dir_all(&commands).unwrap();
    std::fs::copy(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".codexplus/commands/goal.md"),
        commands.join("goal.md"),
    )
    .unwrap();

    let run = codex
        .exec("/goal write release notes", &["-m", "gpt-5.5"])
        .await;
    assert!(run.turn_completed(), "{}", run.dump());
    assert_eq!(run.last_message().as_deref(), Some("Reported the goal."));

    let reqs = mock.responses_requests();
    let planner = reqs
        .iter()
        .find(|r| r.text().contains("Split this goal into subtasks"))
        .expect("the goal was planned");
    assert!(planner.text().contains("write release notes"));
    assert_eq!(
        planner.header("authorization"),
        Some("Bearer sk-test-key"),
        "the session's credentials"
    );
    let write = reqs
        .iter()
        .find(|r| {
            r.text().contains("Please write the notes.") && !r.text().contains("<command-name>")
        })
        .unwrap();
    assert!(
        write.text().contains("scan result: 3 modules"),
        "it got its prerequisite's result"
    );
    let turn = reqs
        .iter()
        .find(|r| r.text().contains("<command-name>/goal</command-name>"))
        .expect("the turn carries the goal's report");
    let text = turn.text();
    assert!(
        text.contains("ran as 2 subtasks and ended completed"),
        "{text}"
    );
    assert!(
        text.contains("COMBINED: scanned, then wrote notes"),
        "{text}"
    );
    proxy.stop().await;
}
