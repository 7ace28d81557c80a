//! Tool lists in agent files (`tools`, `disallowedTools`): the names codex-plus knows,
//! Claude Code's legacy names, and `Agent(a, b)` limits on spawnable subagent types.

use serde::Serialize;
use serde_json::Value;

use super::diagnostic::Diagnostic;
use super::frontmatter::value_text;

/// Tools the codex-plus engine implements, in the order they are offered.
pub const IMPLEMENTED_TOOLS: [&str; 9] = [
    "Read",
    "Write",
    "Edit",
    "Glob",
    "Grep",
    "Bash",
    "WebFetch",
    "TodoWrite",
    "Agent",
];

/// Claude Code tools that codex-plus does not implement: dropped with a warning.
pub const UNAVAILABLE_TOOLS: [&str; 20] = [
    "WebSearch",
    "NotebookEdit",
    "NotebookRead",
    "BashOutput",
    "KillShell",
    "KillBash",
    "SlashCommand",
    "Skill",
    "ExitPlanMode",
    "EnterPlanMode",
    "AskUserQuestion",
    "ListMcpResourcesTool",
    "ReadMcpResourceTool",
    "TaskOutput",
    "TaskStop",
    "TaskCreate",
    "TaskUpdate",
    "LSP",
    "EnterWorktree",
    "ExitWorktree",
];

/// Old names still found in files, and what they mean now.
const LEGACY_NAMES: [(&str, &str); 3] = [("Task", "Agent"), ("MultiEdit", "Edit"), ("LS", "Glob")];

/// One entry of a tools list after legacy names were mapped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ToolEntry {
    pub name: String,
    /// The text in parentheses: `a, b` in `Agent(a, b)`, `git diff:*` in `Bash(git diff:*)`.
    pub specifier: Option<String>,
}

impl std::fmt::Display for ToolEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.specifier {
            Some(spec) => write!(f, "{}({spec})", self.name),
            None => f.write_str(&self.name),
        }
    }
}

/// What a `tools`-style field allows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "tools", rename_all = "lowercase")]
pub enum ToolSpec {
    /// `*`, or the field omitted: every tool the engine has.
    All,
    /// Present but empty: no tools.
    None,
    /// These tools (implemented ones and `mcp__` names; others were dropped).
    List(Vec<ToolEntry>),
}

impl ToolSpec {
    /// The entries, empty for `All` and `None`.
    pub fn entries(&self) -> &[ToolEntry] {
        match self {
            ToolSpec::List(entries) => entries,
            _ => &[],
        }
    }

    /// Subagent types named in `Agent(a, b)` entries; `None` when spawning is not
    /// limited (a bare `Agent`, `*`, or no `Agent` entry at all).
    pub fn allowed_subagent_types(&self) -> Option<Vec<String>> {
        let agents: Vec<&ToolEntry> = self
            .entries()
            .iter()
            .filter(|e| e.name == "Agent")
            .collect();
        if agents.is_empty() || agents.iter().any(|e| e.specifier.is_none()) {
            return None;
        }
        let mut types: Vec<String> = Vec::new();
        for entry in agents {
            for name in entry.specifier.iter().flat_map(|s| s.split(',')) {
                let name = name.trim().to_string();
                if !name.is_empty() && !types.contains(&name) {
                    types.push(name);
                }
            }
        }
        Some(types)
    }
}

/// A tools field read into a spec, with what was mapped, dropped or invalid.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedTools {
    pub spec: ToolSpec,
    /// Names that are no tool at all (reported as errors by `validate`).
    pub invalid: Vec<String>,
    pub diagnostics: Vec<Diagnostic>,
}

/// Reads a `tools`-style value (comma string, YAML list, `*`, empty). `key` and `line`
/// locate the diagnostics.
pub fn parse_tools(value: &Value, key: &str, line: usize) -> ParsedTools {
    let mut parsed = ParsedTools {
        spec: ToolSpec::None,
        invalid: Vec::new(),
        diagnostics: Vec::new(),
    };
    let items = raw_items(value);
    if items.iter().any(|i| i == "*") {
        if items.len() > 1 {
            parsed.diagnostics.push(
                Diagnostic::info(format!(
                    "`{key}` contains `*`, which allows every tool; the other names add nothing"
                ))
                .at_line(line),
            );
        }
        parsed.spec = ToolSpec::All;
        return parsed;
    }
    let mut entries: Vec<ToolEntry> = Vec::new();
    for item in items {
        if let Some(entry) = classify(&item, key, line, &mut parsed) {
            if !entries.contains(&entry) {
                entries.push(entry);
            }
        }
    }
    let all_dropped = entries.is_empty() && !parsed.diagnostics.is_empty();
    parsed.spec = if entries.is_empty() && !all_dropped {
        ToolSpec::None
    } else {
        ToolSpec::List(entries)
    };
    parsed
}

/// The names of a comma/space separated list, keeping `Name(a, b)` together.
pub fn split_tool_list(text: &str) -> Vec<String> {
    let mut items = Vec::new();
    let mut current = String::new();
    let mut depth = 0usize;
    for c in text.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            _ => {}
        }
        if depth == 0 && (c == ',' || c.is_whitespace()) {
            push_item(&mut items, &mut current);
        } else {
            current.push(c);
        }
    }
    push_item(&mut items, &mut current);
    items
}

fn push_item(items: &mut Vec<String>, current: &mut String) {
    let item = current.trim().trim_matches(['"', '\'']).trim();
    if !item.is_empty() {
        items.push(item.to_string());
    }
    current.clear();
}

fn raw_items(value: &Value) -> Vec<String> {
    match value {
        Value::Null => Vec::new(),
        Value::Array(list) => list.iter().flat_map(raw_items).collect(),
        // `- Bash(npm run: *)` parses as a one-entry map; put the text back together.
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| format!("{k}: {}", value_text(v)))
            .collect(),
        other => split_tool_list(&value_text(other)),
    }
}

fn classify(item: &str, key: &str, line: usize, parsed: &mut ParsedTools) -> Option<ToolEntry> {
    let (name, specifier) = match item.split_once('(') {
        Some((name, rest)) => {
            let inner = rest.strip_suffix(')').unwrap_or(rest).trim();
            (name.trim(), (!inner.is_empty()).then(|| inner.to_string()))
        }
        None => (item.trim(), None),
    };
    let entry = |name: &str| ToolEntry {
        name: name.to_string(),
        specifier: specifier.clone(),
    };
    if let Some((_, now)) = LEGACY_NAMES.iter().find(|(old, _)| *old == name) {
        parsed.diagnostics.push(
            Diagnostic::info(format!(
                "`{name}` is Claude Code's old name for `{now}`; read as `{now}`"
            ))
            .at_line(line),
        );
        return Some(entry(now));
    }
    if IMPLEMENTED_TOOLS.contains(&name) {
        return Some(entry(name));
    }
    if name.starts_with("mcp__") {
        parsed.diagnostics.push(
            Diagnostic::warning(format!(
                "`{name}`: MCP tools are not available in codex-plus; kept in the list but not offered"
            ))
            .at_line(line),
        );
        return Some(entry(name));
    }
    if UNAVAILABLE_TOOLS.contains(&name) {
        parsed.diagnostics.push(
            Diagnostic::warning(format!("`{name}` is not available in codex-plus; dropped"))
                .at_line(line)
                .with_fix(format!("remove `{name}` from `{key}` to silence this")),
        );
        return None;
    }
    let by_case = IMPLEMENTED_TOOLS
        .iter()
        .copied()
        .chain(LEGACY_NAMES.iter().map(|(old, _)| *old))
        .find(|known| known.eq_ignore_ascii_case(name));
    if let Some(known) = by_case {
        let now = LEGACY_NAMES
            .iter()
            .find(|(old, _)| *old == known)
            .map_or(known, |(_, now)| now);
        parsed.diagnostics.push(
            Diagnostic::warning(format!(
                "`{name}` read as `{now}` (tool names are case-sensitive)"
            ))
            .at_line(line)
            .with_fix(format!("write `{now}`")),
        );
        return Some(entry(now));
    }
    parsed.invalid.push(name.to_string());
    parsed.diagnostics.push(
        Diagnostic::error(format!(
            "Invalid tool specified: '{name}' (valid tools: {})",
            IMPLEMENTED_TOOLS.join(", ")
        ))
        .at_line(line)
        .with_fix(format!(
            "fix the spelling or remove it from `{key}`; the agent runs without it"
        )),
    );
    None
}

/// The tool names a subagent is offered: `tools` (legacy names mapped, `*` and
/// omitted meaning all) minus whole-tool `disallowed` entries, implemented tools only.
pub fn effective_tools(tools: &ToolSpec, disallowed: &ToolSpec) -> Vec<String> {
    let allowed: Vec<&str> = match tools {
        ToolSpec::All => IMPLEMENTED_TOOLS.to_vec(),
        ToolSpec::None => Vec::new(),
        ToolSpec::List(entries) => {
            let mut names: Vec<&str> = Vec::new();
            for entry in entries {
                let implemented = IMPLEMENTED_TOOLS.contains(&entry.name.as_str());
                if implemented && !names.contains(&entry.name.as_str()) {
                    names.push(&entry.name);
                }
            }
            names
        }
    };
    let removed = |name: &str| match disallowed {
        ToolSpec::All => true,
        ToolSpec::None => false,
        ToolSpec::List(entries) => entries
            .iter()
            .any(|e| e.specifier.is_none() && e.name == name),
    };
    allowed
        .into_iter()
        .filter(|name| !removed(name))
        .map(str::to_string)
        .collect()
}

/// `All tools`, `All tools except A, B`, `A, B` or `None`, as the Task tool lists agents.
pub fn tools_summary(tools: &ToolSpec, disallowed: &ToolSpec) -> String {
    let excluded: Vec<String> = disallowed
        .entries()
        .iter()
        .filter(|e| e.specifier.is_none())
        .map(|e| e.name.clone())
        .collect();
    match (tools, disallowed) {
        (ToolSpec::All, ToolSpec::All) => "None".to_string(),
        (ToolSpec::All, _) if excluded.is_empty() => "All tools".to_string(),
        (ToolSpec::All, _) => format!("All tools except {}", excluded.join(", ")),
        _ => {
            let names = effective_tools(tools, disallowed);
            if names.is_empty() {
                "None".to_string()
            } else {
                names.join(", ")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::claude::diagnostic::Severity;
    use serde_json::json;

    fn names(spec: &ToolSpec) -> Vec<String> {
        spec.entries().iter().map(ToString::to_string).collect()
    }

    #[test]
    fn comma_string_and_yaml_list_read_the_same() {
        let a = parse_tools(&json!("Read, Grep,Glob"), "tools", 3);
        let b = parse_tools(&json!(["Read", "Grep", "Glob"]), "tools", 3);
        assert_eq!(names(&a.spec), ["Read", "Grep", "Glob"]);
        assert_eq!(a.spec, b.spec);
        assert!(a.diagnostics.is_empty());
    }

    #[test]
    fn star_empty_and_null() {
        assert_eq!(parse_tools(&json!("*"), "tools", 1).spec, ToolSpec::All);
        assert_eq!(parse_tools(&json!(["*"]), "tools", 1).spec, ToolSpec::All);
        assert_eq!(parse_tools(&json!(""), "tools", 1).spec, ToolSpec::None);
        assert_eq!(parse_tools(&json!(null), "tools", 1).spec, ToolSpec::None);
        assert_eq!(parse_tools(&json!([]), "tools", 1).spec, ToolSpec::None);
    }

    #[test]
    fn agent_specifier_limits_spawnable_types() {
        let parsed = parse_tools(&json!("Read, Agent(code-reviewer, Explore)"), "tools", 2);
        assert_eq!(
            names(&parsed.spec),
            ["Read", "Agent(code-reviewer, Explore)"]
        );
        assert_eq!(
            parsed.spec.allowed_subagent_types(),
            Some(vec!["code-reviewer".to_string(), "Explore".to_string()])
        );
        let bare = parse_tools(&json!("Agent"), "tools", 2);
        assert_eq!(bare.spec.allowed_subagent_types(), None);
    }

    #[test]
    fn legacy_names_are_mapped_with_a_note() {
        let parsed = parse_tools(&json!("Task(a), MultiEdit, LS, Edit"), "tools", 4);
        assert_eq!(names(&parsed.spec), ["Agent(a)", "Edit", "Glob"]);
        assert_eq!(parsed.diagnostics.len(), 3);
        assert!(parsed
            .diagnostics
            .iter()
            .all(|d| d.severity == Severity::Info));
        assert_eq!(
            parsed.spec.allowed_subagent_types(),
            Some(vec!["a".to_string()])
        );
    }

    #[test]
    fn unavailable_invalid_and_mcp_names() {
        let parsed = parse_tools(
            &json!("Read, WebSearch, Serch, mcp__github__create_issue"),
            "tools",
            5,
        );
        assert_eq!(names(&parsed.spec), ["Read", "mcp__github__create_issue"]);
        assert_eq!(parsed.invalid, ["Serch"]);
        let severities: Vec<Severity> = parsed.diagnostics.iter().map(|d| d.severity).collect();
        assert_eq!(
            severities,
            [Severity::Warning, Severity::Error, Severity::Warning]
        );
        assert_eq!(
            parsed.diagnostics[1].message,
            "Invalid tool specified: 'Serch' (valid tools: Read, Write, Edit, Glob, Grep, Bash, WebFetch, TodoWrite, Agent)"
        );
        assert!(parsed.diagnostics.iter().all(|d| d.line == Some(5)));
    }

    #[test]
    fn wrong_case_is_mapped_with_a_warning() {
        let parsed = parse_tools(&json!(["read", "task"]), "tools", 1);
        assert_eq!(names(&parsed.spec), ["Read", "Agent"]);
        assert!(parsed.invalid.is_empty());
    }

    #[test]
    fn a_list_of_only_dropped_names_is_an_empty_list_not_none() {
        let parsed = parse_tools(&json!("WebSearch"), "tools", 1);
        assert_eq!(parsed.spec, ToolSpec::List(vec![]));
        assert!(effective_tools(&parsed.spec, &ToolSpec::None).is_empty());
    }

    #[test]
    fn split_keeps_parentheses_together() {
        assert_eq!(
            split_tool_list("Bash(git diff:*), Read Agent(a, b)"),
            ["Bash(git diff:*)", "Read", "Agent(a, b)"]
        );
    }

    #[test]
    fn effective_tools_subtracts_disallowed() {
        let disallowed = parse_tools(&json!("Edit, Write"), "disallowedTools", 1).spec;
        assert_eq!(
            effective_tools(&ToolSpec::All, &disallowed),
            [
                "Read",
                "Glob",
                "Grep",
                "Bash",
                "WebFetch",
                "TodoWrite",
                "Agent"
            ]
        );
        let tools = parse_tools(&json!("Read, Edit, mcp__x__y, Read"), "tools", 1).spec;
        assert_eq!(effective_tools(&tools, &disallowed), ["Read"]);
        assert!(effective_tools(&ToolSpec::All, &ToolSpec::All).is_empty());
        let pattern = parse_tools(&json!("Bash(rm:*)"), "disallowedTools", 1).spec;
        assert!(effective_tools(&ToolSpec::All, &pattern).contains(&"Bash".to_string()));
    }

    #[test]
    fn summary_forms() {
        let none = ToolSpec::None;
        let except = parse_tools(&json!("Agent, Edit, Write"), "disallowedTools", 1).spec;
        let list = parse_tools(&json!("Read, Grep"), "tools", 1).spec;
        assert_eq!(tools_summary(&ToolSpec::All, &none), "All tools");
        assert_eq!(
            tools_summary(&ToolSpec::All, &except),
            "All tools except Agent, Edit, Write"
        );
        assert_eq!(tools_summary(&list, &none), "Read, Grep");
        assert_eq!(tools_summary(&none, &none), "None");
    }

    #[test]
    fn list_item_that_yaml_read_as_a_map_is_put_back_together() {
        let parsed = parse_tools(&json!([{"Bash(npm run": "*)"}]), "tools", 1);
        assert_eq!(names(&parsed.spec), ["Bash(npm run: *)"]);
    }
}
