//! Tool lists in agent files (`tools`, `disallowedTools`): the names codex-plus knows,
//! Claude Code's legacy names, and `Agent(a, b)` limits on spawnable subagent types.

use serde::Serialize;
use serde_json::Value;

use super::diagnostic::Diagnostic;
use super::frontmatter::value_text;

/// Tools the codex-plus engine implements, in the order they are offered.
pub const IMPLEMENTED_TOOLS: [&str; 11] = [
    "Read",
    "Write",
    "Edit",
    "NotebookEdit",
    "Glob",
    "Grep",
    "Bash",
    "WebFetch",
    "WebSearch",
    "TodoWrite",
    "Agent",
];

/// Claude Code tools that codex-plus does not implement: dropped with a warning.
pub const UNAVAILABLE_TOOLS: [&str; 18] = [
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
#[derive(Debug, Clone, Serialize)]
pub struct ToolEntry {
    pub name: String,
    /// The text in parentheses: `a, b` in `Agent(a, b)`, `git diff:*` in `Bash(git diff:*)`.
    pub specifier: Option<String>,
    /// The older name the file wrote (`MultiEdit` for `Edit`, `LS` for `Glob`), shown
    /// beside the tool it became.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub written_as: Option<&'static str>,
}

/// The same tool whatever name it was written under.
impl PartialEq for ToolEntry {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.specifier == other.specifier
    }
}

impl Eq for ToolEntry {}

impl ToolEntry {
    /// The whole tool, as written under its own name.
    pub fn bare(name: &str) -> ToolEntry {
        ToolEntry {
            name: name.to_string(),
            specifier: None,
            written_as: None,
        }
    }
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
    let (name, specifier) = match split_entry(item) {
        Ok(split) => split,
        Err(why) => {
            malformed(item, &why, key, line, parsed);
            return None;
        }
    };
    let name = name.as_str();
    let entry = |name: &str| ToolEntry {
        name: name.to_string(),
        specifier: specifier.clone(),
        written_as: None,
    };
    // A pattern must be one the engine can enforce: a tool that silently lost its
    // pattern would allow every call.
    let checked = |now: &str, parsed: &mut ParsedTools| -> bool {
        match specifier.as_deref().map(|spec| check_specifier(now, spec)) {
            Some(Err(why)) => {
                malformed(item, &why, key, line, parsed);
                false
            }
            _ => true,
        }
    };
    if let Some((old, now)) = LEGACY_NAMES.iter().find(|(old, _)| *old == name) {
        parsed.diagnostics.push(
            Diagnostic::info(format!(
                "`{name}` is Claude Code's old name for `{now}`; read as `{now}`"
            ))
            .at_line(line),
        );
        return checked(now, parsed).then(|| ToolEntry {
            written_as: Some(old),
            ..entry(now)
        });
    }
    if IMPLEMENTED_TOOLS.contains(&name) {
        return checked(name, parsed).then(|| entry(name));
    }
    if name.starts_with("mcp__") {
        // A tool of a configured MCP server, or a whole server (`mcp__<server>`);
        // whether the server exists is known only in a workspace (engine/mcp/).
        return checked(name, parsed).then(|| entry(name));
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
        if !checked(now, parsed) {
            return None;
        }
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

/// `Name` or `Name(specifier)`: the name and the trimmed specifier; an error for
/// unbalanced parentheses, text after the closing one, or empty parentheses.
fn split_entry(item: &str) -> Result<(String, Option<String>), String> {
    let item = item.trim();
    let Some((name, rest)) = item.split_once('(') else {
        if item.contains(')') {
            return Err("it has a `)` but no `(`".to_string());
        }
        return Ok((item.to_string(), None));
    };
    let name = name.trim();
    let Some(inner) = rest.strip_suffix(')') else {
        return Err(if rest.contains(')') {
            "text follows the closing parenthesis".to_string()
        } else {
            "the parenthesis is never closed".to_string()
        });
    };
    let mut depth = 0i32;
    for c in inner.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            _ => {}
        }
        if depth < 0 {
            return Err("text follows the closing parenthesis".to_string());
        }
    }
    if depth != 0 {
        return Err("the parentheses are unbalanced".to_string());
    }
    let inner = inner.trim();
    if inner.is_empty() {
        return Err(format!(
            "the parentheses are empty (write `{name}` alone to allow every call)"
        ));
    }
    Ok((name.to_string(), Some(inner.to_string())))
}

/// Whether `spec` is a pattern `tool` takes, as settings permission rules read it:
/// Bash a command (`git diff:*` a prefix, otherwise exact or with `*`), file tools a
/// gitignore-style path, WebFetch `domain:<host>`, Agent subagent types.
pub fn check_specifier(tool: &str, spec: &str) -> Result<(), String> {
    match tool {
        "Bash" | "Agent" => Ok(()),
        "WebFetch" => {
            let host = spec.strip_prefix("domain:").map(str::trim);
            match host.map(|h| h.trim_start_matches("*.")) {
                Some(h) if !h.is_empty() && !h.contains(['/', ' ']) => Ok(()),
                _ => Err(
                    "WebFetch takes `domain:<host>`, e.g. `WebFetch(domain:docs.rs)`".to_string(),
                ),
            }
        }
        "Read" | "Write" | "Edit" | "Glob" | "Grep" => {
            if spec == "*" {
                return Ok(());
            }
            let rest = spec
                .strip_prefix("//")
                .or_else(|| spec.strip_prefix("~/"))
                .or_else(|| spec.strip_prefix("./"))
                .or_else(|| spec.strip_prefix('/'))
                .unwrap_or(spec);
            globset::GlobBuilder::new(rest)
                .literal_separator(true)
                .build()
                .map(|_| ())
                .map_err(|e| format!("the path pattern cannot be used: {e}"))
        }
        _ if spec == "*" => Ok(()),
        _ => Err(format!(
            "{tool} takes no pattern (only Bash, Read, Write, Edit, Glob, Grep, WebFetch and Agent do)"
        )),
    }
}

/// An entry whose parentheses cannot be read: an error, and the entry is dropped
/// (the tool is not given at all rather than given without its limit).
fn malformed(item: &str, why: &str, key: &str, line: usize, parsed: &mut ParsedTools) {
    let name = item.split('(').next().unwrap_or(item).trim();
    let (tool, fix) = match name {
        "" => (
            "it".to_string(),
            "write a tool name, e.g. `Bash(git diff:*)`".to_string(),
        ),
        "Bash" => (
            "`Bash`".to_string(),
            "write e.g. `Bash(git diff:*)` (commands starting with `git diff`), or `Bash` for every command".to_string(),
        ),
        _ => (
            format!("`{name}`"),
            format!("write `{name}(<pattern>)`, or `{name}` for every call"),
        ),
    };
    parsed.diagnostics.push(
        Diagnostic::error(format!(
            "Malformed tool pattern `{item}` in `{key}`: {why}; the entry is dropped, so the agent does not get {tool} from it"
        ))
        .at_line(line)
        .with_fix(fix),
    );
}

/// The entry that stands for every tool of every MCP server (an agent with no `tools`).
pub const ALL_MCP_TOOLS: &str = "mcp__*";

/// The entries a subagent may use, patterns kept: `tools` (legacy names mapped, `*`
/// and omitted meaning all) minus whole-tool `disallowed` entries, implemented tools
/// only. A bare entry (`Bash`) makes patterns of the same tool (`Bash(ls:*)`) moot.
pub fn effective_entries(tools: &ToolSpec, disallowed: &ToolSpec) -> Vec<ToolEntry> {
    let listed: Vec<ToolEntry> = match tools {
        // Every built-in tool and, as in Claude Code, every MCP tool.
        ToolSpec::All => IMPLEMENTED_TOOLS
            .iter()
            .chain(std::iter::once(&ALL_MCP_TOOLS))
            .map(|name| ToolEntry::bare(name))
            .collect(),
        ToolSpec::None => Vec::new(),
        ToolSpec::List(entries) => entries
            .iter()
            .filter(|e| IMPLEMENTED_TOOLS.contains(&e.name.as_str()) || e.name.starts_with("mcp__"))
            .cloned()
            .collect(),
    };
    let removed = |name: &str| match disallowed {
        ToolSpec::All => true,
        ToolSpec::None => false,
        ToolSpec::List(entries) => entries
            .iter()
            .any(|e| e.specifier.is_none() && e.name == name),
    };
    let bare = |name: &str| {
        listed
            .iter()
            .any(|e| e.name == name && e.specifier.is_none())
    };
    let mut out: Vec<ToolEntry> = Vec::new();
    for entry in &listed {
        if removed(&entry.name) || (entry.specifier.is_some() && bare(&entry.name)) {
            continue;
        }
        if !out.contains(entry) {
            out.push(entry.clone());
        }
    }
    out
}

/// The tool names a subagent is offered: the [`effective_entries`] without their
/// patterns, each name once.
pub fn effective_tools(tools: &ToolSpec, disallowed: &ToolSpec) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for entry in effective_entries(tools, disallowed) {
        if !names.contains(&entry.name) {
            names.push(entry.name);
        }
    }
    names
}

/// `All tools`, `All tools except A, B`, `A, B(pattern)` or `None`, as the Task tool
/// lists agents.
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
            // Patterns shown as written: `Bash(git diff:*)` is not all of Bash.
            let entries: Vec<String> = effective_entries(tools, disallowed)
                .iter()
                .map(|e| match e.written_as {
                    Some(old) => format!("{e} (as {old})"),
                    None => e.to_string(),
                })
                .collect();
            if entries.is_empty() {
                "None".to_string()
            } else {
                entries.join(", ")
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
        // Listings say what each became from ("Edit" once: the later `Edit` is the same tool).
        let old = parse_tools(&json!("Read, MultiEdit, LS, Edit"), "tools", 4).spec;
        assert_eq!(
            tools_summary(&old, &ToolSpec::None),
            "Read, Edit (as MultiEdit), Glob (as LS)"
        );
    }

    #[test]
    fn unavailable_invalid_and_mcp_names() {
        let parsed = parse_tools(
            &json!("Read, AskUserQuestion, Serch, mcp__github__create_issue"),
            "tools",
            5,
        );
        assert_eq!(names(&parsed.spec), ["Read", "mcp__github__create_issue"]);
        assert_eq!(parsed.invalid, ["Serch"]);
        let severities: Vec<Severity> = parsed.diagnostics.iter().map(|d| d.severity).collect();
        assert_eq!(severities, [Severity::Warning, Severity::Error]);
        assert_eq!(
            parsed.diagnostics[1].message,
            "Invalid tool specified: 'Serch' (valid tools: Read, Write, Edit, NotebookEdit, Glob, Grep, Bash, WebFetch, WebSearch, TodoWrite, Agent)"
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
        let parsed = parse_tools(&json!("AskUserQuestion"), "tools", 1);
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
                "NotebookEdit",
                "Glob",
                "Grep",
                "Bash",
                "WebFetch",
                "WebSearch",
                "TodoWrite",
                "Agent",
                ALL_MCP_TOOLS
            ]
        );
        let tools = parse_tools(&json!("Read, Edit, mcp__x__y, Read"), "tools", 1).spec;
        assert_eq!(effective_tools(&tools, &disallowed), ["Read", "mcp__x__y"]);
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

    #[test]
    fn patterns_are_kept_on_their_entries_and_shown() {
        let parsed = parse_tools(&json!("Read, Bash(git diff:*)"), "tools", 4);
        assert!(parsed.diagnostics.is_empty(), "{:?}", parsed.diagnostics);
        assert_eq!(names(&parsed.spec), ["Read", "Bash(git diff:*)"]);
        let entries = effective_entries(&parsed.spec, &ToolSpec::None);
        assert_eq!(
            entries[1],
            ToolEntry {
                name: "Bash".into(),
                specifier: Some("git diff:*".into()),
                written_as: None,
            }
        );
        assert_eq!(
            effective_tools(&parsed.spec, &ToolSpec::None),
            ["Read", "Bash"]
        );
        assert_eq!(
            tools_summary(&parsed.spec, &ToolSpec::None),
            "Read, Bash(git diff:*)"
        );
        // Several patterns of one tool are all kept; a bare entry makes them moot.
        let two = parse_tools(&json!("Bash(git diff:*), Bash(git log:*)"), "tools", 1).spec;
        assert_eq!(
            tools_summary(&two, &ToolSpec::None),
            "Bash(git diff:*), Bash(git log:*)"
        );
        let bare = parse_tools(&json!("Bash(git diff:*), Bash, Read(src/**)"), "tools", 1).spec;
        assert_eq!(tools_summary(&bare, &ToolSpec::None), "Bash, Read(src/**)");
        // A whole-tool disallow removes the patterned entries too.
        let no_bash = parse_tools(&json!("Bash"), "disallowedTools", 1).spec;
        assert_eq!(tools_summary(&two, &no_bash), "None");
    }

    #[test]
    fn malformed_patterns_are_errors_and_never_widen_to_the_whole_tool() {
        for (tools, why) in [
            ("Read, Bash(", "never closed"),
            ("Read, Bash()", "parentheses are empty"),
            ("Read, Bash(ls)x", "text follows the closing parenthesis"),
            ("Read, Bash(echo (x)", "unbalanced"),
            ("Read, WebFetch(example.com)", "domain:<host>"),
            ("Read, TodoWrite(x)", "takes no pattern"),
            ("Read, Edit([z-a])", "path pattern cannot be used"),
        ] {
            let parsed = parse_tools(&json!(tools), "tools", 3);
            assert_eq!(names(&parsed.spec), ["Read"], "{tools}");
            let errors: Vec<&Diagnostic> = parsed
                .diagnostics
                .iter()
                .filter(|d| d.severity == Severity::Error)
                .collect();
            assert_eq!(errors.len(), 1, "{tools}: {:?}", parsed.diagnostics);
            let message = &errors[0].message;
            assert!(message.starts_with("Malformed tool pattern `"), "{message}");
            assert!(message.contains(why), "{tools}: {message}");
            assert!(message.contains("the entry is dropped"), "{message}");
            assert_eq!(errors[0].line, Some(3));
        }
        let bash = parse_tools(&json!("Bash("), "tools", 1);
        assert_eq!(bash.spec, ToolSpec::List(vec![]));
        assert!(effective_tools(&bash.spec, &ToolSpec::None).is_empty());
        assert!(bash.diagnostics[0]
            .fix
            .as_deref()
            .is_some_and(|f| f.contains("Bash(git diff:*)")));
        // Good patterns of every kind pass, legacy and mis-cased names included.
        let good = parse_tools(
            &json!("Bash(npm run *), Read(./src/**), WebFetch(domain:docs.rs), Glob(*), bash(ls:*), Task(a)"),
            "tools",
            1,
        );
        assert!(good
            .diagnostics
            .iter()
            .all(|d| d.severity != Severity::Error));
        assert_eq!(
            names(&good.spec),
            [
                "Bash(npm run *)",
                "Read(./src/**)",
                "WebFetch(domain:docs.rs)",
                "Glob(*)",
                "Bash(ls:*)",
                "Agent(a)"
            ]
        );
    }
}
