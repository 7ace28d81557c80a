//! A plan being run: each subtask's state, which are ready, and what a result does
//! to the rest (a second failure blocks everything that depends on it). Pure; the
//! runner (`run.rs`) does the I/O.

use serde::{Deserialize, Serialize};

use super::plan::{Plan, Subtask};

/// Times a subtask runs before it counts as failed.
pub const ATTEMPTS: u32 = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Waiting,
    Running,
    Completed,
    Failed,
    /// A prerequisite failed: it never runs.
    Blocked,
    Cancelled,
}

/// One subtask and how it is doing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Node {
    #[serde(flatten)]
    pub subtask: Subtask,
    pub state: State,
    pub attempts: u32,
    /// Its tasks in the engine, one per attempt.
    #[serde(default)]
    pub task_ids: Vec<String>,
    /// The subagent's report (the last attempt's).
    #[serde(default)]
    pub result: Option<String>,
    #[serde(default)]
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Graph {
    pub nodes: Vec<Node>,
}

/// What a finished attempt did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum After {
    Completed,
    /// It runs again.
    Retry,
    /// It failed for good; these subtasks are blocked now.
    Failed {
        blocked: Vec<String>,
    },
}

impl Graph {
    pub fn new(plan: Plan) -> Graph {
        Graph {
            nodes: plan
                .subtasks
                .into_iter()
                .map(|subtask| Node {
                    subtask,
                    state: State::Waiting,
                    attempts: 0,
                    task_ids: Vec::new(),
                    result: None,
                    error: None,
                })
                .collect(),
        }
    }

    fn index(&self, id: &str) -> Option<usize> {
        self.nodes
            .iter()
            .position(|n| n.subtask.id.trim() == id.trim())
    }

    /// Waiting subtasks whose prerequisites have all completed: highest priority first,
    /// then in plan order.
    pub fn ready(&self) -> Vec<usize> {
        let mut ready: Vec<usize> = (0..self.nodes.len())
            .filter(|&i| {
                let n = &self.nodes[i];
                n.state == State::Waiting
                    && n.subtask.depends_on.iter().all(|d| {
                        self.index(d)
                            .is_some_and(|j| self.nodes[j].state == State::Completed)
                    })
            })
            .collect();
        ready.sort_by_key(|&i| std::cmp::Reverse(self.nodes[i].subtask.priority));
        ready
    }

    pub fn start(&mut self, i: usize, task_id: &str) {
        let n = &mut self.nodes[i];
        n.state = State::Running;
        n.attempts += 1;
        n.task_ids.push(task_id.to_string());
    }

    /// Records an attempt's end: completed, run again, or failed (blocking its
    /// dependents, transitively).
    pub fn finish(&mut self, i: usize, ok: bool, result: String, error: Option<String>) -> After {
        let n = &mut self.nodes[i];
        n.result = Some(result);
        n.error = error;
        if ok {
            n.state = State::Completed;
            return After::Completed;
        }
        if n.attempts < ATTEMPTS {
            n.state = State::Waiting;
            return After::Retry;
        }
        n.state = State::Failed;
        let mut blocked = Vec::new();
        let mut failed = vec![n.subtask.id.trim().to_string()];
        while let Some(id) = failed.pop() {
            for m in &mut self.nodes {
                if m.state == State::Waiting && m.subtask.depends_on.iter().any(|d| d.trim() == id)
                {
                    m.state = State::Blocked;
                    m.error = Some(format!("blocked: its prerequisite `{id}` did not complete"));
                    blocked.push(m.subtask.id.clone());
                    failed.push(m.subtask.id.trim().to_string());
                }
            }
        }
        After::Failed { blocked }
    }

    /// Nothing runs and nothing can start.
    pub fn is_over(&self) -> bool {
        !self.nodes.iter().any(|n| n.state == State::Running) && self.ready().is_empty()
    }

    /// Every subtask completed.
    pub fn all_completed(&self) -> bool {
        self.nodes.iter().all(|n| n.state == State::Completed)
    }

    /// Whatever waits or runs is cancelled; returns the running ones' latest tasks.
    pub fn cancel(&mut self) -> Vec<String> {
        let mut running = Vec::new();
        for n in &mut self.nodes {
            if n.state == State::Running {
                running.extend(n.task_ids.last().cloned());
            }
            if matches!(n.state, State::Waiting | State::Running) {
                n.state = State::Cancelled;
            }
        }
        running
    }

    /// For a resumed goal: what had not completed waits again, with fresh attempts.
    pub fn reset_unfinished(&mut self) {
        for n in &mut self.nodes {
            if n.state != State::Completed {
                n.state = State::Waiting;
                n.attempts = 0;
                n.error = None;
            }
        }
    }

    /// The prompt subtask `i` runs with: its own, then its prerequisites' results,
    /// each cut to `cap` bytes (its beginning and end, the cut named).
    pub fn prompt(&self, i: usize, cap: usize) -> String {
        let n = &self.nodes[i];
        let mut prompt = n.subtask.prompt.clone();
        for dep in &n.subtask.depends_on {
            let Some(d) = self.index(dep).map(|j| &self.nodes[j]) else {
                continue;
            };
            let result = d.result.as_deref().unwrap_or_default();
            prompt.push_str(&format!(
                "\n\n<prerequisite id=\"{}\" description=\"{}\">\n{}\n</prerequisite>",
                d.subtask.id,
                d.subtask.description,
                excerpt(result, cap)
            ));
        }
        prompt
    }
}

/// `text` whole when it fits in `cap` bytes, else its beginning and end with the
/// cut in between said.
pub fn excerpt(text: &str, cap: usize) -> String {
    if text.len() <= cap {
        return text.to_string();
    }
    let half = cap / 2;
    let mut head = half;
    while !text.is_char_boundary(head) {
        head -= 1;
    }
    let mut tail = text.len() - half;
    while !text.is_char_boundary(tail) {
        tail += 1;
    }
    format!(
        "{}\n[… {} bytes of this result left out …]\n{}",
        &text[..head],
        tail - head,
        &text[tail..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::goals::plan::parse;

    fn graph() -> Graph {
        Graph::new(
            parse(
                r#"{"subtasks": [
                {"id": "a", "description": "A", "prompt": "do a", "depends_on": [], "priority": 0},
                {"id": "b", "description": "B", "prompt": "do b", "depends_on": [], "priority": 5},
                {"id": "c", "description": "C", "prompt": "do c", "depends_on": ["a", "b"]},
                {"id": "d", "description": "D", "prompt": "do d", "depends_on": ["c"]}
            ]}"#,
            )
            .unwrap(),
        )
    }

    #[test]
    fn ready_subtasks_come_by_priority_and_dependents_wait_for_all_prerequisites() {
        let mut g = graph();
        assert_eq!(g.ready(), [1, 0]);
        g.start(1, "t_b");
        g.start(0, "t_a");
        assert!(g.ready().is_empty() && !g.is_over());
        assert_eq!(g.finish(0, true, "A done".into(), None), After::Completed);
        assert!(g.ready().is_empty(), "c still waits for b");
        g.finish(1, true, "B done".into(), None);
        assert_eq!(g.ready(), [2]);
        let prompt = g.prompt(2, 100);
        assert!(
            prompt.starts_with(
                "do c\n\n<prerequisite id=\"a\" description=\"A\">\nA done\n</prerequisite>"
            ),
            "{prompt}"
        );
        assert!(prompt.contains("<prerequisite id=\"b\" description=\"B\">\nB done\n"));
    }

    #[test]
    fn a_failure_is_retried_once_then_blocks_its_dependents_only() {
        let mut g = graph();
        g.start(0, "t1");
        g.start(1, "t2");
        g.finish(1, true, "B".into(), None);
        assert_eq!(
            g.finish(0, false, "".into(), Some("boom".into())),
            After::Retry
        );
        assert_eq!(g.ready(), [0]);
        g.start(0, "t3");
        assert_eq!(
            g.finish(0, false, "".into(), Some("boom".into())),
            After::Failed {
                blocked: vec!["c".into(), "d".into()]
            }
        );
        assert_eq!(g.nodes[0].task_ids, ["t1", "t3"]);
        assert_eq!(g.nodes[3].state, State::Blocked);
        assert!(g.is_over() && !g.all_completed());
        // Resumed: what did not complete waits again.
        g.reset_unfinished();
        assert_eq!(g.nodes[1].state, State::Completed);
        assert_eq!(g.ready(), [0]);
    }

    #[test]
    fn cancel_stops_what_runs_and_what_waits() {
        let mut g = graph();
        g.start(0, "t_a");
        assert_eq!(g.cancel(), ["t_a"]);
        assert!(g.nodes.iter().all(|n| n.state == State::Cancelled));
        assert!(g.is_over());
    }

    #[test]
    fn a_long_result_keeps_its_beginning_and_end() {
        let text = format!("{}{}", "x".repeat(100), "é".repeat(100));
        let cut = excerpt(&text, 50);
        assert!(cut.starts_with(&"x".repeat(25)));
        assert!(cut.ends_with('é'));
        assert!(cut.contains("bytes of this result left out"));
        assert_eq!(excerpt("short", 50), "short");
    }
}
