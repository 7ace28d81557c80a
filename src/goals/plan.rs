//! A goal's plan: the subtasks a planner split it into, read from its answer and
//! checked before anything runs. Pure.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// One subtask, in the shape the planner answers with (and scripts read).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subtask {
    pub id: String,
    #[serde(default)]
    pub description: String,
    pub prompt: String,
    /// One of the workspace's agents; general-purpose when absent.
    #[serde(default)]
    pub subagent_type: Option<String>,
    #[serde(default)]
    pub depends_on: Vec<String>,
    /// Among subtasks ready at once, the higher runs first.
    #[serde(default)]
    pub priority: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    pub subtasks: Vec<Subtask>,
}

/// The JSON schema sent to the provider with the planner's request.
pub fn schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "subtasks": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "string"},
                        "description": {"type": "string"},
                        "prompt": {"type": "string"},
                        "subagent_type": {"type": "string"},
                        "depends_on": {"type": "array", "items": {"type": "string"}},
                        "priority": {"type": "integer"}
                    },
                    "required": ["id", "description", "prompt", "subagent_type", "depends_on", "priority"],
                    "additionalProperties": false
                }
            }
        },
        "required": ["subtasks"],
        "additionalProperties": false
    })
}

/// The plan in a planner's answer: the whole answer as JSON (structured output), or
/// the first JSON object in its text (a provider without it; a fenced block too).
pub fn parse(answer: &str) -> Result<Plan, String> {
    let text = answer.trim();
    if let Ok(plan) = serde_json::from_str::<Plan>(text) {
        return Ok(plan);
    }
    let (Some(start), Some(end)) = (text.find('{'), text.rfind('}')) else {
        return Err("the planner's answer holds no JSON object".into());
    };
    if end < start {
        return Err("the planner's answer holds no JSON object".into());
    }
    serde_json::from_str::<Plan>(&text[start..=end])
        .map_err(|e| format!("the planner's answer is not a plan of the expected shape ({e})"))
}

/// Everything wrong with `plan`, in words the planner can act on; empty when it can
/// run. `known` says whether an agent exists.
pub fn problems(plan: &Plan, known: impl Fn(&str) -> bool, max_subtasks: usize) -> Vec<String> {
    let mut found = Vec::new();
    let n = plan.subtasks.len();
    if n == 0 {
        found.push("the plan has no subtasks; a goal too small to split is one subtask".into());
    }
    if n > max_subtasks {
        found.push(format!(
            "the plan has {n} subtasks; at most {max_subtasks} are allowed, so merge some"
        ));
    }
    let mut seen = HashSet::new();
    for (i, t) in plan.subtasks.iter().enumerate() {
        let id = t.id.trim();
        if id.is_empty() {
            found.push(format!("subtask #{} has no id", i + 1));
        } else if !seen.insert(id) {
            found.push(format!("the id `{id}` is used by more than one subtask"));
        }
        if t.prompt.trim().is_empty() {
            found.push(format!("subtask `{id}` has no prompt"));
        }
        if let Some(agent) = t.subagent_type.as_deref().filter(|a| !known(a)) {
            found.push(format!("subtask `{id}` names the unknown agent `{agent}`"));
        }
        for dep in &t.depends_on {
            if dep.trim() == id {
                found.push(format!("subtask `{id}` depends on itself"));
            } else if !plan.subtasks.iter().any(|o| o.id.trim() == dep.trim()) {
                found.push(format!(
                    "subtask `{id}` depends on `{dep}`, which is not in the plan"
                ));
            }
        }
    }
    if let Some(cycle) = cycle(plan) {
        found.push(format!(
            "the dependencies form a cycle: {}",
            cycle.join(" → ")
        ));
    }
    found
}

/// A dependency cycle (self-dependencies aside), as the ids around it.
fn cycle(plan: &Plan) -> Option<Vec<String>> {
    let index: HashMap<&str, usize> = plan
        .subtasks
        .iter()
        .enumerate()
        .map(|(i, t)| (t.id.trim(), i))
        .collect();
    let deps: Vec<Vec<usize>> = plan
        .subtasks
        .iter()
        .map(|t| {
            t.depends_on
                .iter()
                .filter_map(|d| index.get(d.trim()).copied())
                .filter(|&d| plan.subtasks[d].id.trim() != t.id.trim())
                .collect()
        })
        .collect();
    // 0: not seen, 1: on the path, 2: done.
    let mut mark = vec![0u8; deps.len()];
    let mut path = Vec::new();
    fn visit(
        i: usize,
        deps: &[Vec<usize>],
        mark: &mut [u8],
        path: &mut Vec<usize>,
    ) -> Option<Vec<usize>> {
        mark[i] = 1;
        path.push(i);
        for &d in &deps[i] {
            if mark[d] == 1 {
                let from = path.iter().position(|&p| p == d).unwrap_or(0);
                let mut ring = path[from..].to_vec();
                ring.push(d);
                return Some(ring);
            }
            if mark[d] == 0 {
                if let Some(ring) = visit(d, deps, mark, path) {
                    return Some(ring);
                }
            }
        }
        path.pop();
        mark[i] = 2;
        None
    }
    (0..deps.len()).find_map(|i| {
        (mark[i] == 0)
            .then(|| visit(i, &deps, &mut mark, &mut path))
            .flatten()
            .map(|ring| ring.iter().map(|&j| plan.subtasks[j].id.clone()).collect())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(tasks: &[(&str, &str, &[&str])]) -> Plan {
        Plan {
            subtasks: tasks
                .iter()
                .map(|(id, agent, deps)| Subtask {
                    id: id.to_string(),
                    description: format!("do {id}"),
                    prompt: format!("Please do {id}"),
                    subagent_type: Some(agent.to_string()),
                    depends_on: deps.iter().map(|d| d.to_string()).collect(),
                    priority: 0,
                })
                .collect(),
        }
    }

    fn known(a: &str) -> bool {
        ["reviewer", "general-purpose", "Explore"].contains(&a)
    }

    #[test]
    fn structured_plain_and_fenced_answers_are_read_alike() {
        let json = r#"{"subtasks": [{"id": "a", "description": "d", "prompt": "p", "subagent_type": "reviewer", "depends_on": [], "priority": 1}]}"#;
        let want = parse(json).unwrap();
        assert_eq!(want.subtasks[0].priority, 1);
        assert_eq!(
            parse(&format!("Here is the plan:\n```json\n{json}\n```\nDone.")).unwrap(),
            want
        );
        let minimal = parse(r#"{"subtasks": [{"id": "a", "prompt": "p"}]}"#).unwrap();
        assert_eq!(minimal.subtasks[0].subagent_type, None);
        assert!(parse("no plan here")
            .unwrap_err()
            .contains("no JSON object"));
        assert!(parse(r#"{"steps": []}"#)
            .unwrap_err()
            .contains("not a plan of the expected shape"));
    }

    #[test]
    fn a_good_plan_has_no_problems() {
        let p = plan(&[
            ("a", "reviewer", &[]),
            ("b", "Explore", &[]),
            ("c", "reviewer", &["a", "b"]),
        ]);
        assert_eq!(problems(&p, known, 20), Vec::<String>::new());
    }

    #[test]
    fn each_kind_of_bad_plan_is_named() {
        let one = |p: &Plan| problems(p, known, 3).join("; ");
        assert!(one(&plan(&[("a", "nobody", &[])])).contains("unknown agent `nobody`"));
        assert!(
            one(&plan(&[("a", "reviewer", &[]), ("a", "reviewer", &[])]))
                .contains("`a` is used by more than one")
        );
        assert!(one(&plan(&[("", "reviewer", &[])])).contains("#1 has no id"));
        assert!(one(&plan(&[("a", "reviewer", &["a"])])).contains("`a` depends on itself"));
        assert!(one(&plan(&[("a", "reviewer", &["z"])]))
            .contains("depends on `z`, which is not in the plan"));
        let ring = one(&plan(&[
            ("a", "reviewer", &["c"]),
            ("b", "reviewer", &["a"]),
            ("c", "reviewer", &["b"]),
        ]));
        assert!(ring.contains("cycle: a → c → b → a"), "{ring}");
        let many = plan(&[
            ("a", "reviewer", &[]),
            ("b", "reviewer", &[]),
            ("c", "reviewer", &[]),
            ("d", "reviewer", &[]),
        ]);
        assert!(one(&many).contains("4 subtasks; at most 3"));
        assert!(one(&Plan { subtasks: vec![] }).contains("no subtasks"));
    }
}
