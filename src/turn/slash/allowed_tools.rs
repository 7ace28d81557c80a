//! A slash command's `allowed-tools`, applied to the tools Codex offers the model.
//!
//! Claude Code names are mapped to the Codex tools that do the same work:
//!
//! | Claude Code                               | Codex, classic dialect                 | Codex, lite dialect |
//! |-------------------------------------------|----------------------------------------|---------------------|
//! | `Bash`                                    | `exec_command`, `write_stdin`, `shell`, `shell_command`, `container.exec`, `local_shell` | `exec`, `wait` |
//! | `Read`                                    | the shell tools above, `view_image`    | `exec`, `wait`      |
//! | `Grep`, `Glob`, `LS`                      | the shell tools above                  | `exec`, `wait`      |
//! | `Edit`, `MultiEdit`, `Write`, `NotebookEdit` | `apply_patch`                       | `exec`, `wait`      |
//! | `WebSearch`, `WebFetch`                   | `web_search`                           | `web_search`        |
//! | `Task`, `Agent`                           | `Task` (the proxy's)                   | `Task`, the `collaboration` namespace |
//!
//! Only those Codex tools are ever removed. Everything else is Codex's own plumbing
//! and stays: asking the user (`request_user_input`), plans and goals, `tool_search`,
//! the `clock` namespace, MCP tools, and tools this table does not know yet. The lite
//! dialect's `exec` runs JavaScript that reaches every nested tool (shell and
//! `apply_patch` alike), so there any file or shell tool keeps all of them.
//! Command patterns such as `Bash(git add:*)` are not enforced: the tool is offered whole.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::wire::request::{Dialect, RawJson, ResponsesRequest};

/// The Codex tools one Claude Code name stands for.
fn codex_tools(claude: &str) -> Option<&'static [&'static str]> {
    const SHELL: &[&str] = &[
        "exec_command",
        "write_stdin",
        "shell",
        "shell_command",
        "container.exec",
        "local_shell",
        "exec",
        "wait",
    ];
    Some(match claude {
        "Bash" | "Grep" | "Glob" | "LS" => SHELL,
        "Read" => &[
            "exec_command",
            "write_stdin",
            "shell",
            "shell_command",
            "container.exec",
            "local_shell",
            "exec",
            "wait",
            "view_image",
        ],
        "Edit" | "MultiEdit" | "Write" | "NotebookEdit" => &["apply_patch", "exec", "wait"],
        "WebSearch" | "WebFetch" => &["web_search"],
        "Task" | "Agent" => &["Task", COLLABORATION],
        _ => return None,
    })
}

/// The lite dialect's namespace of Codex's own subagent tools.
const COLLABORATION: &str = "collaboration";

/// Every Codex tool the table above controls.
const CONTROLLED: [&str; 13] = [
    "exec_command",
    "write_stdin",
    "shell",
    "shell_command",
    "container.exec",
    "local_shell",
    "exec",
    "wait",
    "view_image",
    "apply_patch",
    "web_search",
    "Task",
    COLLABORATION,
];

/// Claude Code tools with no Codex counterpart to narrow (Codex's own plumbing, or
/// nothing at all).
const NO_COUNTERPART: [&str; 8] = [
    "TodoWrite",
    "AskUserQuestion",
    "SlashCommand",
    "Skill",
    "ExitPlanMode",
    "NotebookRead",
    "BashOutput",
    "KillShell",
];

/// Which controlled Codex tools a command allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolScope {
    allowed: BTreeSet<&'static str>,
    /// What could not be mapped, for the log.
    pub notes: Vec<String>,
}

impl ToolScope {
    /// The scope of an `allowed-tools` list as written (`Bash(git add:*)`, `Read`).
    pub fn from_claude(entries: &[String]) -> ToolScope {
        let mut allowed = BTreeSet::new();
        let mut notes = Vec::new();
        for entry in entries {
            let entry = entry.trim();
            let (name, specifier) = match entry.split_once('(') {
                Some((name, rest)) => (name.trim(), Some(rest.trim_end_matches(')'))),
                None => (entry, None),
            };
            if name.is_empty() {
                continue;
            }
            match codex_tools(name) {
                Some(tools) => {
                    allowed.extend(tools.iter().copied());
                    if let Some(spec) = specifier.filter(|s| !s.trim().is_empty() && name == "Bash")
                    {
                        notes.push(format!(
                            "`{entry}`: the pattern `{spec}` is not enforced; the shell is offered whole"
                        ));
                    }
                }
                None if name.starts_with("mcp__") => {
                    notes.push(format!("`{entry}`: MCP tools are not narrowed"))
                }
                None if NO_COUNTERPART.contains(&name) => notes.push(format!(
                    "`{entry}`: no Codex tool to narrow; Codex's own planning and questions stay"
                )),
                None => notes.push(format!("`{entry}`: unknown tool; ignored")),
            }
        }
        ToolScope { allowed, notes }
    }

    /// Whether the Codex tool (or lite namespace) `name` may be offered.
    pub fn allows(&self, name: &str) -> bool {
        !CONTROLLED.contains(&name) || self.allowed.contains(name)
    }
}

/// A narrowed tool list, ready to put into the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolsEdit {
    /// The new top-level `tools` (classic dialect).
    Classic(Vec<RawJson>),
    /// The new `additional_tools` item, `input[0]` (lite dialect).
    Lite(RawJson),
}

impl ToolsEdit {
    pub fn apply(self, req: &mut ResponsesRequest) {
        match self {
            ToolsEdit::Classic(tools) => req.set_tools(tools),
            ToolsEdit::Lite(item) => req.input[0] = item,
        }
    }
}

/// What `scope` removes from the request, in whichever dialect it uses: the edit and
/// the names removed, or `None` when every tool offered is allowed.
pub fn narrowed(req: &ResponsesRequest, scope: &ToolScope) -> Option<(ToolsEdit, Vec<String>)> {
    let mut removed = Vec::new();
    let edit = match req.dialect() {
        Dialect::Classic => {
            let kept: Vec<RawJson> = req
                .tools
                .iter()
                .flatten()
                .filter(|tool| {
                    let name = identity(&tool.to_value());
                    let keep = scope.allows(&name);
                    if !keep {
                        removed.push(name);
                    }
                    keep
                })
                .cloned()
                .collect();
            ToolsEdit::Classic(kept)
        }
        Dialect::Lite => {
            let mut item = req.input[0].to_value();
            if let Some(entries) = item["tools"].as_array_mut() {
                narrow_lite(entries, scope, &mut removed);
            }
            ToolsEdit::Lite(RawJson::from_value(&item))
        }
    };
    (!removed.is_empty()).then_some((edit, removed))
}

/// Removes the tools `scope` does not allow; returns the names removed.
pub fn narrow(req: &mut ResponsesRequest, scope: &ToolScope) -> Vec<String> {
    match narrowed(req, scope) {
        Some((edit, removed)) => {
            edit.apply(req);
            removed
        }
        None => Vec::new(),
    }
}

/// Filters the entries of an `additional_tools` item: whole namespaces by name
/// (`collaboration`), the tools inside the others one by one; a namespace left
/// empty goes too.
fn narrow_lite(entries: &mut Vec<Value>, scope: &ToolScope, removed: &mut Vec<String>) {
    entries.retain_mut(|entry| {
        let name = identity(entry);
        if !scope.allows(&name) {
            removed.push(name);
            return false;
        }
        if entry["type"] != "namespace" {
            return true;
        }
        let Some(inner) = entry["tools"].as_array_mut() else {
            return true;
        };
        let before = inner.len();
        inner.retain(|tool| {
            let tool_name = identity(tool);
            let keep = scope.allows(&tool_name);
            if !keep {
                removed.push(format!("{name}.{tool_name}"));
            }
            keep
        });
        !(inner.is_empty() && before > 0)
    });
}

/// A tool's name; tools without one (`web_search`, `tool_search`) go by their type.
fn identity(tool: &Value) -> String {
    tool["name"]
        .as_str()
        .or_else(|| tool["type"].as_str())
        .unwrap_or_default()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::request::fixture;
    use bytes::Bytes;

    fn scope(entries: &[&str]) -> ToolScope {
        ToolScope::from_claude(&entries.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    fn classic_names(req: &ResponsesRequest) -> Vec<String> {
        req.tools
            .iter()
            .flatten()
            .map(|t| identity(&t.to_value()))
            .collect()
    }

    fn lite_names(req: &ResponsesRequest) -> Vec<String> {
        let item = req.input[0].to_value();
        let mut names = Vec::new();
        for entry in item["tools"].as_array().unwrap() {
            let ns = identity(entry);
            match entry["tools"].as_array() {
                Some(inner) => names.extend(inner.iter().map(|t| format!("{ns}.{}", identity(t)))),
                None => names.push(ns),
            }
        }
        names
    }

    #[test]
    fn claude_names_map_to_codex_tools_and_the_rest_is_noted() {
        let s = scope(&[
            "Read",
            "Bash(git diff:*)",
            "mcp__github__list",
            "TodoWrite",
            "Frobnicate",
        ]);
        assert!(s.allows("exec_command") && s.allows("view_image") && s.allows("exec"));
        assert!(!s.allows("apply_patch") && !s.allows("web_search") && !s.allows("Task"));
        assert!(
            s.allows("request_user_input"),
            "plumbing is never controlled"
        );
        assert!(s.allows("some_future_tool"));
        let notes = s.notes.join("\n");
        assert!(notes.contains("`git diff:*` is not enforced"), "{notes}");
        assert!(notes.contains("MCP tools are not narrowed"), "{notes}");
        assert!(notes.contains("`TodoWrite`: no Codex tool"), "{notes}");
        assert!(notes.contains("`Frobnicate`: unknown tool"), "{notes}");
        assert!(!scope(&["Edit"]).allows("shell_command"));
        assert!(scope(&["Bash"]).allows("container.exec") && scope(&["Bash"]).allows("shell"));
        assert!(scope(&["Agent"]).allows("collaboration"));
        assert!(!scope(&["Read"]).allows("collaboration"));
    }

    #[test]
    fn classic_read_only_keeps_the_shell_and_plumbing_and_drops_the_rest() {
        let mut req = fixture("classic-request.json");
        let before = classic_names(&req);
        let removed = narrow(&mut req, &scope(&["Read", "Grep"]));
        let after = classic_names(&req);
        assert_eq!(removed, ["apply_patch", "web_search"]);
        assert_eq!(
            after,
            before
                .iter()
                .filter(|n| !removed.contains(n))
                .cloned()
                .collect::<Vec<_>>()
        );
        assert!(after.contains(&"exec_command".to_string()));
        assert!(after.contains(&"view_image".to_string()));
        assert!(after.contains(&"request_user_input".to_string()));
        assert!(after.contains(&"tool_search".to_string()));
        let body: Value = serde_json::from_slice(&req.to_bytes()).unwrap();
        assert_eq!(body["tools"].as_array().unwrap().len(), after.len());
    }

    #[test]
    fn classic_edit_only_drops_the_shell() {
        let mut req = fixture("classic-request.json");
        let removed = narrow(&mut req, &scope(&["Edit", "Write"]));
        assert_eq!(
            removed,
            ["exec_command", "write_stdin", "view_image", "web_search"]
        );
        assert!(classic_names(&req).contains(&"apply_patch".to_string()));
    }

    #[test]
    fn lite_filters_the_functions_namespace_and_drops_collaboration() {
        let mut req = fixture("lite-request.json");
        let original = fixture("lite-request.json");
        let removed = narrow(&mut req, &scope(&["WebSearch"]));
        assert_eq!(
            removed,
            ["functions.exec", "functions.wait", "collaboration"]
        );
        let names = lite_names(&req);
        assert!(names.contains(&"functions.request_user_input".to_string()));
        assert!(names.contains(&"clock.sleep".to_string()));
        assert!(!names.iter().any(|n| n.starts_with("collaboration")));
        assert!(req.tools.is_none(), "no top-level tools appear");
        assert!(
            req.input[1..]
                .iter()
                .zip(&original.input[1..])
                .all(|(a, b)| a == b),
            "only the additional_tools item changes"
        );
    }

    #[test]
    fn lite_with_a_file_tool_keeps_exec_and_subagents_with_task() {
        let mut req = fixture("lite-request.json");
        let removed = narrow(&mut req, &scope(&["Edit", "Task"]));
        assert!(removed.is_empty(), "{removed:?}");
        assert_eq!(req.input[0], fixture("lite-request.json").input[0]);
    }

    #[test]
    fn an_emptied_namespace_is_removed() {
        let body = serde_json::json!({"input": [{"type": "additional_tools", "role": "developer", "tools": [
            {"type": "namespace", "name": "functions", "tools": [{"type": "custom", "name": "exec"}]},
            {"type": "namespace", "name": "clock", "tools": [{"type": "function", "name": "sleep"}]}]}]});
        let mut req = ResponsesRequest::parse(&Bytes::from(body.to_string())).unwrap();
        narrow(&mut req, &scope(&["WebFetch"]));
        assert_eq!(lite_names(&req), ["clock.sleep"]);
    }
}
