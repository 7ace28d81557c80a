//! Goals against the mock model: planning (and re-planning), running the graph in
//! dependency order, retries and blocking, cancel, and combining.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed assumption is a failed test

mod engine_mock;

use std::sync::Arc;
use std::time::Duration;

use codex_plus::config::GoalsConfig;
use codex_plus::goals::{GoalRequest, Goals};
use codex_plus::store::GoalRecord;
use engine_mock::*;
use serde_json::{json, Value};

const PLANNING: &str = "Split this goal into subtasks";
const COMBINING: &str = "Write the final answer to the goal";

fn goals(h: &Harness) -> Arc<Goals> {
    Goals::new(
        h.engine.clone(),
        h.ledger.clone(),
        GoalsConfig {
            max_subtasks: 5,
            result_cap_bytes: 8000,
        },
    )
}

fn request(h: &Harness, goal: &str) -> GoalRequest {
    GoalRequest {
        goal: goal.into(),
        workspace: codex_plus::engine::Workspace::at(&h.ws),
        model: None,
        max_parallel: None,
        inherit: None,
    }
}

fn plan(subtasks: Value) -> Reply {
    text(&json!({ "subtasks": subtasks }).to_string())
}

fn sub(id: &str, agent: &str, deps: &[&str]) -> Value {
    json!({"id": id, "description": format!("Do {id}"), "prompt": format!("Please do {id}."),
           "subagent_type": agent, "depends_on": deps, "priority": 0})
}

fn graph(goal: &GoalRecord) -> Value {
    serde_json::from_str(goal.graph_json.as_deref().unwrap_or("null")).unwrap()
}

fn state_of(goal: &GoalRecord, id: &str) -> String {
    graph(goal)["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["id"] == id)
        .map(|n| n["state"].as_str().unwrap().to_string())
        .unwrap()
}

/// Answers a subtask's prompt `Please do X.` with `result X`, after `delay`.
fn subtask_step(seen: &Seen, delay: Duration) -> Step {
    let prompt = seen.prompt();
    let id = prompt
        .strip_prefix("Please do ")
        .and_then(|r| r.split('.').next())
        .unwrap_or("?")
        .to_string();
    Step::after(delay, text(&format!("result {id}")))
}

#[tokio::test]
async fn a_three_subtask_plan_runs_in_dependency_order_and_is_combined() {
    let mock = MockModel::start(|seen| {
        let prompt = seen.prompt();
        if prompt.contains(PLANNING) {
            return Step::now(plan(json!([
                sub("a", "reviewer", &[]),
                sub("b", "reviewer", &[]),
                sub("c", "reviewer", &["a", "b"]),
            ])));
        }
        if prompt.contains(COMBINING) {
            return Step::now(text(&format!("COMBINED\n{prompt}")));
        }
        subtask_step(seen, Duration::from_millis(400))
    })
    .await;
    let h = Harness::new(&mock.url, fast_providers);
    h.agent("reviewer", "tools: Read\n", "You review.");
    let goals = goals(&h);
    let id = goals.start(request(&h, "review and report"));
    let goal = tokio::time::timeout(Duration::from_secs(20), goals.wait(&id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(goal.status, "completed", "{:?}", goal.error);

    let seen = mock.requests();
    let planner = seen.iter().find(|s| s.prompt().contains(PLANNING)).unwrap();
    assert_eq!(planner.body["text"]["format"]["type"], "json_schema");
    assert!(
        planner.prompt().contains("- reviewer: "),
        "the agents are listed"
    );
    let of = |id: &str| {
        seen.iter()
            .find(|s| s.prompt().starts_with(&format!("Please do {id}.")))
            .unwrap()
            .clone()
    };
    let (a, b, c) = (of("a"), of("b"), of("c"));
    // a and b overlap; c starts after both ended, with their results.
    let gap = if a.at > b.at {
        a.at - b.at
    } else {
        b.at - a.at
    };
    assert!(gap < Duration::from_millis(300), "{gap:?}");
    assert!(c.at >= a.at + Duration::from_millis(400));
    assert!(c.at >= b.at + Duration::from_millis(400));
    assert!(c
        .prompt()
        .contains("<prerequisite id=\"a\" description=\"Do a\">\nresult a"));
    assert!(c.prompt().contains("result b"));
    let answer = goal.answer.unwrap();
    for r in ["result a", "result b", "result c"] {
        assert!(answer.contains(r), "{answer}");
    }
    // Recorded: the graph with every subtask completed and its task.
    h.ledger.flush().await.unwrap();
    let stored = h.ledger.goal(&id).unwrap().unwrap();
    assert_eq!(stored.status, "completed");
    let nodes = graph(&stored)["nodes"].as_array().unwrap().clone();
    assert!(nodes
        .iter()
        .all(|n| n["state"] == "completed" && n["task_ids"].as_array().unwrap().len() == 1));
}

/// The planner answers `bad` first and `second` after the re-plan prompt.
async fn planned(bad: Value, second: Value) -> (GoalRecord, Vec<Seen>) {
    let mock = MockModel::start(move |seen| {
        let prompt = seen.prompt();
        if prompt.contains(PLANNING) {
            let again = prompt.contains("Your previous plan had these problems");
            return Step::now(plan(if again { second.clone() } else { bad.clone() }));
        }
        if prompt.contains(COMBINING) {
            return Step::now(text("combined"));
        }
        subtask_step(seen, Duration::ZERO)
    })
    .await;
    let h = Harness::new(&mock.url, fast_providers);
    h.agent("reviewer", "tools: Read\n", "You review.");
    let goals = goals(&h);
    let id = goals.start(request(&h, "do it"));
    let goal = goals.wait(&id).await.unwrap();
    (goal, mock.requests())
}

#[tokio::test]
async fn each_kind_of_bad_plan_is_sent_back_once_then_fails_the_goal() {
    let cases = [
        (
            json!([sub("a", "reviewer", &["b"]), sub("b", "reviewer", &["a"])]),
            "cycle: a → b → a",
        ),
        (json!([sub("a", "nobody", &[])]), "unknown agent `nobody`"),
        (
            json!([sub("a", "reviewer", &[]), sub("a", "reviewer", &[])]),
            "`a` is used by more than one subtask",
        ),
    ];
    for (bad, named) in cases {
        let (goal, seen) = planned(bad.clone(), bad).await;
        assert_eq!(goal.status, "failed");
        let error = goal.error.unwrap();
        assert!(
            error.contains("still invalid after a re-plan") && error.contains(named),
            "{error}"
        );
        let plans: Vec<&Seen> = seen
            .iter()
            .filter(|s| s.prompt().contains(PLANNING))
            .collect();
        assert_eq!(plans.len(), 2, "one re-plan");
        assert!(
            plans[1].prompt().contains(named),
            "the re-plan names the problem"
        );
        assert!(
            !seen.iter().any(|s| s.prompt().starts_with("Please do")),
            "nothing ran"
        );
    }
    // A good second plan runs.
    let (goal, _) = planned(
        json!([sub("a", "nobody", &[])]),
        json!([sub("a", "reviewer", &[])]),
    )
    .await;
    assert_eq!(goal.status, "completed", "{:?}", goal.error);
}

#[tokio::test]
async fn a_failing_subtask_is_retried_then_blocks_only_its_dependents() {
    let mock = MockModel::start(|seen| {
        let prompt = seen.prompt();
        if prompt.contains(PLANNING) {
            return Step::now(plan(json!([
                sub("a", "reviewer", &[]),
                sub("b", "reviewer", &[]),
                sub("c", "reviewer", &["a"]),
            ])));
        }
        if prompt.contains(COMBINING) {
            return Step::now(text("partial answer"));
        }
        if prompt.starts_with("Please do a.") {
            return Step::now(Reply::Status(
                400,
                r#"{"error": {"message": "bad request"}}"#.into(),
            ));
        }
        subtask_step(seen, Duration::ZERO)
    })
    .await;
    let h = Harness::new(&mock.url, fast_providers);
    h.agent("reviewer", "tools: Read\n", "You review.");
    let goals = goals(&h);
    let id = goals.start(request(&h, "do it"));
    let goal = goals.wait(&id).await.unwrap();
    assert_eq!(goal.status, "failed");
    assert_eq!(
        goal.answer.as_deref(),
        Some("partial answer"),
        "still combined"
    );
    let error = goal.error.clone().unwrap();
    assert!(
        error.contains("`a` failed") && error.contains("`c` blocked"),
        "{error}"
    );
    assert_eq!(state_of(&goal, "b"), "completed");
    let seen = mock.requests();
    let runs_of_a = seen
        .iter()
        .filter(|s| s.prompt().starts_with("Please do a."))
        .count();
    assert_eq!(runs_of_a, 2, "one retry");
    assert!(!seen.iter().any(|s| s.prompt().starts_with("Please do c.")));
}

#[tokio::test]
async fn cancelling_a_goal_stops_what_runs_and_what_waits() {
    let mock = MockModel::start(|seen| {
        let prompt = seen.prompt();
        if prompt.contains(PLANNING) {
            return Step::now(plan(json!([
                sub("a", "reviewer", &[]),
                sub("b", "reviewer", &["a"])
            ])));
        }
        subtask_step(seen, Duration::from_secs(30))
    })
    .await;
    let h = Harness::new(&mock.url, fast_providers);
    h.agent("reviewer", "tools: Read\n", "You review.");
    let goals = goals(&h);
    let id = goals.start(request(&h, "do it"));
    let mut events = loop {
        if let Some(rx) = goals.subscribe(&id) {
            break rx;
        }
        tokio::task::yield_now().await;
    };
    // Wait for `a` to run.
    loop {
        let e = events.recv().await.unwrap();
        if serde_json::to_value(&e).unwrap()["state"] == "running" {
            break;
        }
    }
    goals.cancel(&id).unwrap();
    let goal = tokio::time::timeout(Duration::from_secs(5), goals.wait(&id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(goal.status, "cancelled");
    assert_eq!(state_of(&goal, "a"), "cancelled");
    assert_eq!(state_of(&goal, "b"), "cancelled");
    let task = graph(&goal)["nodes"][0]["task_ids"][0]
        .as_str()
        .unwrap()
        .to_string();
    let snapshot = h.engine.get(&task).unwrap();
    assert_eq!(snapshot.status.to_string(), "cancelled");
    assert!(goals
        .cancel(&id)
        .unwrap_err()
        .to_string()
        .contains("nothing to cancel"));
}
