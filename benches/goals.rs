//! A goal's scheduling cost: a 20-subtask graph, a chain of depth 4 (five subtasks per
//! level, each depending on one of the level before), every subtask's model taking
//! 1 s, under a concurrency limit of 10, against the mock model.
//!
//! `cargo bench --bench goals` prints:
//! - the goal's wall time against its critical-path bound (4 × 1 s plus the planning
//!   and combining calls, which the mock answers at once);
//! - the scheduling overhead per subtask: from the moment its last prerequisite's
//!   model answer left the mock (the planner's answer for the first level) to its own
//!   model request arriving. It holds the subagent's end, the
//!   goal's bookkeeping, the next task's start and its provider request. Target: p99
//!   under 5 ms.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // bench code: a failed assumption is a failed bench

#[path = "../tests/engine_mock/mod.rs"]
mod engine_mock;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use codex_plus::config::GoalsConfig;
use codex_plus::goals::{GoalRequest, Goals};
use engine_mock::*;
use serde_json::json;

const PLANNING: &str = "Split this goal into subtasks";
const COMBINING: &str = "Write the final answer to the goal";
const LEVELS: usize = 4;
const WIDTH: usize = 5;
const MODEL_TIME: Duration = Duration::from_secs(1);
const RUNS: usize = 5;

fn id(level: usize, i: usize) -> String {
    format!("s{level}_{i}")
}

fn plan() -> String {
    let mut subtasks = Vec::new();
    for level in 0..LEVELS {
        for i in 0..WIDTH {
            let deps: Vec<String> = if level == 0 {
                vec![]
            } else {
                vec![id(level - 1, i)]
            };
            subtasks.push(json!({"id": id(level, i), "description": format!("Step {level}.{i}"),
                "prompt": format!("Please do {}.", id(level, i)), "subagent_type": "general-purpose",
                "depends_on": deps, "priority": 0}));
        }
    }
    json!({ "subtasks": subtasks }).to_string()
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mock = MockModel::start(|seen| {
            let prompt = seen.prompt();
            if prompt.contains(PLANNING) {
                return Step::now(text(&plan()));
            }
            if prompt.contains(COMBINING) {
                return Step::now(text("combined"));
            }
            Step::after(MODEL_TIME, text("done"))
        })
        .await;
        let h = Harness::new(&mock.url, |c| {
            fast_providers(c);
            c.tasks.max_concurrent = 10;
        });
        let goals = Goals::new(
            h.engine.clone(),
            h.ledger.clone(),
            GoalsConfig {
                max_subtasks: 20,
                result_cap_bytes: 8000,
            },
        );
        let mut walls = Vec::new();
        let mut bounds = Vec::new();
        let mut overheads = Vec::new();
        for run in 0..RUNS {
            let before = mock.count();
            let started = Instant::now();
            let goal = goals.start(GoalRequest {
                goal: format!("benchmark goal {run}"),
                workspace: codex_plus::engine::Workspace::at(&h.ws),
                model: None,
                max_parallel: Some(10),
                inherit: None,
            });
            let done = goals.wait(&goal).await.unwrap();
            let wall = started.elapsed();
            assert_eq!(done.status, "completed", "{:?}", done.error);
            let seen: Vec<(usize, Seen)> = mock
                .requests()
                .into_iter()
                .enumerate()
                .skip(before)
                .collect();
            let find = |what: &str| {
                seen.iter()
                    .find(|(_, s)| s.prompt().contains(what))
                    .unwrap()
            };
            let (planner_index, planner) = find(PLANNING);
            let (_, combiner) = find(COMBINING);
            // Each subtask: when its request arrived, and when its answer left.
            let at: HashMap<String, (Instant, Instant)> = seen
                .iter()
                .filter_map(|(i, s)| {
                    let p = s.prompt();
                    let id = p.strip_prefix("Please do ")?.split('.').next()?.to_string();
                    Some((id, (s.at, mock.replied(*i)?)))
                })
                .collect();
            for level in 0..LEVELS {
                for i in 0..WIDTH {
                    let ready = if level == 0 {
                        mock.replied(*planner_index).unwrap()
                    } else {
                        at[&id(level - 1, i)].1
                    };
                    overheads.push(at[&id(level, i)].0.saturating_duration_since(ready));
                }
            }
            // Planning and combining as the mock answers them (at once), then the chain.
            let planning = planner.at.saturating_duration_since(started);
            let combining = wall.saturating_sub(combiner.at.saturating_duration_since(started));
            bounds.push(planning + MODEL_TIME * LEVELS as u32 + combining);
            walls.push(wall);
        }
        overheads.sort();
        walls.sort();
        bounds.sort();
        let pick = |v: &[Duration], q: f64| v[((v.len() as f64 - 1.0) * q).round() as usize];
        let ms = |d: Duration| format!("{:.3} ms", d.as_secs_f64() * 1e3);
        let s = |d: Duration| format!("{:.3} s", d.as_secs_f64());
        let wall = pick(&walls, 0.5);
        let bound = pick(&bounds, 0.5);
        let rows = [
            ("goal wall time, median of 5", s(wall), "-".to_string()),
            (
                "critical-path bound (4 × 1 s + plan + combine)",
                s(bound),
                "-".to_string(),
            ),
            (
                "wall / bound",
                format!("{:.4}×", wall.as_secs_f64() / bound.as_secs_f64()),
                "-".to_string(),
            ),
            (
                "scheduling overhead per subtask, p50",
                ms(pick(&overheads, 0.5)),
                "-".to_string(),
            ),
            (
                "scheduling overhead per subtask, p99",
                ms(pick(&overheads, 0.99)),
                "< 5 ms".to_string(),
            ),
            (
                "scheduling overhead per subtask, max",
                ms(*overheads.last().unwrap()),
                "-".to_string(),
            ),
            (
                "subtasks measured",
                overheads.len().to_string(),
                "-".to_string(),
            ),
        ];
        println!(
            "{:<52} {:>14}  target",
            "goals (20 subtasks, depth 4, limit 10)", ""
        );
        for (name, value, target) in rows {
            println!("{name:<52} {value:>14}  {target}");
        }
    });
}
