//! Agent definition files (`.claude/agents/*.md`): frontmatter fields read leniently
//! into an `AgentDef`, the body being the subagent's system prompt.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use super::diagnostic::Diagnostic;
use super::discovery::Source;
use super::frontmatter::{unescape_newlines, unknown_key_fix, Field, Frontmatter, Presence};
use super::tools_spec::{self, parse_tools, ToolEntry, ToolSpec};

/// One agent, ready for the engine.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AgentDef {
    /// The identity (`subagent_type`), from the frontmatter, not the file name.
    pub name: String,
    /// When to use the agent; literal `\n` sequences are newlines.
    pub description: String,
    /// `tools`: omitted or `*` is `All`, present but empty is `None`.
    pub tools: ToolSpec,
    /// Entries subtracted from `tools`; `ToolSpec::None` when absent.
    pub disallowed_tools: ToolSpec,
    /// From `Agent(a, b)`: the only types this agent may spawn. `None`: any.
    pub allowed_subagent_types: Option<Vec<String>>,
    /// As written: `inherit`, `sonnet`, a full id, `provider:model`, ... `None`: inherit.
    pub model: Option<String>,
    /// Sampling temperature, passed to the provider.
    pub temperature: Option<f32>,
    /// Output token limit per model call (`max_tokens`).
    pub max_tokens: Option<u32>,
    /// Model turns before the subagent must answer (`maxTurns`).
    pub max_turns: Option<u32>,
    /// Wall-clock limit for the whole task (`timeout`: `300`, `"5m"`).
    #[serde(with = "duration_secs")]
    pub timeout: Option<Duration>,
    /// Reasoning effort as written (`low`, `medium`, `high`, ...).
    pub effort: Option<String>,
    /// `permissionMode` as written (`default`, `plan`, ...; unknown kept with a warning).
    pub permission_mode: Option<String>,
    /// Display colour as written.
    pub color: Option<String>,
    /// Run in the background by default.
    pub background: Option<bool>,
    /// `isolation` as written (e.g. `worktree`).
    pub isolation: Option<String>,
    /// `memory` scope as written (`user`, `project`, `local`).
    pub memory: Option<String>,
    /// Skill names.
    pub skills: Vec<String>,
    /// `mcpServers`, raw.
    pub mcp_servers: Option<Value>,
    /// Agent-scoped `hooks`, raw, for the hooks engine.
    pub hooks: Option<Value>,
    /// The system prompt.
    pub body: String,
    /// Where the definition was found.
    pub source: Source,
    /// The file; `None` for built-ins.
    pub path: Option<PathBuf>,
    /// Everything noticed while reading the file; errors here (an invalid tool) did not
    /// stop the agent from loading.
    pub diagnostics: Vec<Diagnostic>,
}

/// Why a file is not an agent.
#[derive(Debug, thiserror::Error)]
pub enum AgentFileError {
    /// The file could not be read.
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file does not start with a `---` block.
    NoFrontmatter {
        path: PathBuf,
        /// A name derived from the file name, for the suggested fix.
        suggested_name: String,
    },
    /// The `---` block opened on `line` is never closed.
    Unclosed { path: PathBuf, line: usize },
    /// `name` and/or `description` are missing or empty.
    MissingFields {
        path: PathBuf,
        /// "`name`", "`description`" or both.
        missing: String,
        /// The lines to add.
        fix: String,
    },
}

impl AgentFileError {
    /// The file concerned.
    pub fn path(&self) -> &Path {
        match self {
            AgentFileError::Read { path, .. }
            | AgentFileError::NoFrontmatter { path, .. }
            | AgentFileError::Unclosed { path, .. }
            | AgentFileError::MissingFields { path, .. } => path,
        }
    }

    /// What is wrong and how to fix it, without the path.
    pub fn message(&self) -> String {
        match self {
            AgentFileError::Read { source, .. } => format!("cannot read the file: {source}"),
            AgentFileError::NoFrontmatter { suggested_name, .. } => format!(
                "no YAML frontmatter, so this is not an agent; start the file with:\n---\nname: {suggested_name}\ndescription: When to use this agent\n---"
            ),
            AgentFileError::Unclosed { .. } => {
                "the frontmatter opened with `---` is never closed; add a line `---` after the last field".to_string()
            }
            AgentFileError::MissingFields { missing, fix, .. } => {
                format!("not an agent: the frontmatter has no {missing}; add {fix}")
            }
        }
    }

    /// The error as a diagnostic attached to its file.
    pub fn to_diagnostic(&self) -> Diagnostic {
        let mut d = Diagnostic::error(self.message()).in_file(self.path());
        if let AgentFileError::Unclosed { line, .. } = self {
            d.line = Some(*line);
        }
        d
    }
}

impl std::fmt::Display for AgentFileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_diagnostic().to_string())
    }
}

/// Permission modes Claude Code defines; others are kept with a warning.
const PERMISSION_MODES: [&str; 6] = [
    "default",
    "acceptEdits",
    "auto",
    "bypassPermissions",
    "dontAsk",
    "plan",
];

/// The keys this reader understands, as written in Claude Code's docs.
const KNOWN_KEYS: [&str; 19] = [
    "name",
    "description",
    "tools",
    "disallowedTools",
    "model",
    "temperature",
    "max_tokens",
    "maxTurns",
    "timeout",
    "effort",
    "permissionMode",
    "color",
    "background",
    "isolation",
    "memory",
    "skills",
    "mcpServers",
    "hooks",
    "allowed-tools",
];

impl AgentDef {
    /// Reads an agent file from disk.
    pub fn load(path: &Path, source: Source) -> Result<AgentDef, AgentFileError> {
        let text = std::fs::read_to_string(path).map_err(|e| AgentFileError::Read {
            path: path.to_path_buf(),
            source: e,
        })?;
        Self::parse(&text, Some(path), source)
    }

    /// Reads an agent from the text of its file.
    pub fn parse(
        text: &str,
        path: Option<&Path>,
        source: Source,
    ) -> Result<AgentDef, AgentFileError> {
        Self::from_frontmatter(&Frontmatter::parse(text), path, source)
    }

    /// Builds an agent from parsed frontmatter. Only a missing frontmatter, `name` or
    /// `description` is an error; every other problem is a diagnostic on the agent.
    pub fn from_frontmatter(
        fm: &Frontmatter,
        path: Option<&Path>,
        source: Source,
    ) -> Result<AgentDef, AgentFileError> {
        let shown_path = path.map_or_else(|| PathBuf::from("<agent>"), Path::to_path_buf);
        match fm.presence {
            Presence::Missing => {
                return Err(AgentFileError::NoFrontmatter {
                    suggested_name: suggested_name(path),
                    path: shown_path,
                })
            }
            Presence::Unclosed { line } => {
                return Err(AgentFileError::Unclosed {
                    path: shown_path,
                    line,
                })
            }
            Presence::Present { .. } => {}
        }

        let mut reader = FieldReader {
            diagnostics: fm.diagnostics.clone(),
        };
        let mut agent = AgentDef {
            name: String::new(),
            description: String::new(),
            tools: ToolSpec::All,
            disallowed_tools: ToolSpec::None,
            allowed_subagent_types: None,
            model: None,
            temperature: None,
            max_tokens: None,
            max_turns: None,
            timeout: None,
            effort: None,
            permission_mode: None,
            color: None,
            background: None,
            isolation: None,
            memory: None,
            skills: Vec::new(),
            mcp_servers: None,
            hooks: None,
            body: fm.body.clone(),
            source,
            path: path.map(Path::to_path_buf),
            diagnostics: Vec::new(),
        };
        let mut tools_seen = false;
        for (key, field) in &fm.fields {
            match canonical_key(key).as_str() {
                "name" => {
                    agent.name = reader
                        .text(key, field)
                        .unwrap_or_default()
                        .trim()
                        .to_string()
                }
                "description" => {
                    let text = reader.text(key, field).unwrap_or_default();
                    agent.description = unescape_newlines(&text).trim().to_string();
                }
                "tools" => {
                    tools_seen = true;
                    agent.tools = reader.tools(key, field);
                }
                "allowedtools" => {
                    reader.diagnostics.push(
                        Diagnostic::warning(format!(
                            "agents list their tools under `tools`; `{key}` read as `tools`"
                        ))
                        .at_line(field.line)
                        .with_fix(format!("rename `{key}` to `tools`")),
                    );
                    if !tools_seen {
                        agent.tools = reader.tools(key, field);
                    }
                }
                "disallowedtools" => {
                    agent.disallowed_tools = reader.tools(key, field);
                    for entry in agent.disallowed_tools.entries() {
                        if entry.specifier.is_some() {
                            reader.diagnostics.push(
                                Diagnostic::warning(format!(
                                    "`{entry}` in `{key}`: patterns are not applied here, so `{}` stays available",
                                    entry.name
                                ))
                                .at_line(field.line)
                                .with_fix("disallow the whole tool, or put the pattern in settings `permissions.deny`"),
                            );
                        }
                    }
                }
                "model" => {
                    agent.model = reader
                        .text(key, field)
                        .map(|m| m.trim().to_string())
                        .filter(|m| !m.is_empty())
                }
                "temperature" => {
                    agent.temperature = reader.number(key, field).map(|t| t as f32);
                    if agent.temperature.is_some_and(|t| !(0.0..=2.0).contains(&t)) {
                        reader.diagnostics.push(
                            Diagnostic::warning(
                                "`temperature` is outside 0..2; providers may refuse it",
                            )
                            .at_line(field.line),
                        );
                    }
                }
                "maxtokens" => agent.max_tokens = reader.count(key, field),
                "maxturns" => agent.max_turns = reader.count(key, field),
                "timeout" => agent.timeout = reader.duration(key, field),
                "effort" => agent.effort = reader.text(key, field),
                "permissionmode" => {
                    agent.permission_mode = reader.text(key, field);
                    if let Some(mode) = &agent.permission_mode {
                        if !PERMISSION_MODES.contains(&mode.as_str()) {
                            reader.diagnostics.push(
                                Diagnostic::warning(format!(
                                    "unknown `permissionMode` `{mode}`; kept as written"
                                ))
                                .at_line(field.line)
                                .with_fix(format!("use one of: {}", PERMISSION_MODES.join(", "))),
                            );
                        }
                    }
                }
                "color" => agent.color = reader.text(key, field),
                "background" => agent.background = reader.boolean(key, field),
                "isolation" => agent.isolation = reader.text(key, field),
                "memory" => {
                    agent.memory = reader.text(key, field);
                    if let Some(scope) = agent.memory.as_deref() {
                        if !["user", "project", "local"].contains(&scope.trim()) {
                            reader.diagnostics.push(
                                Diagnostic::warning(format!(
                                    "unknown `memory` `{scope}`; the agent runs without memory"
                                ))
                                .at_line(field.line)
                                .with_fix("use user, project or local"),
                            );
                        }
                    }
                }
                "skills" => agent.skills = reader.names(field),
                "mcpservers" => {
                    agent.mcp_servers = Some(field.value.clone()).filter(|v| !v.is_null())
                }
                "hooks" => agent.hooks = Some(field.value.clone()).filter(|v| !v.is_null()),
                _ => reader.diagnostics.push(
                    Diagnostic::warning(format!("unknown frontmatter key `{key}`; ignored"))
                        .at_line(field.line)
                        .with_fix(unknown_key_fix(key, &KNOWN_KEYS)),
                ),
            }
        }

        let mut missing = Vec::new();
        let mut fixes = Vec::new();
        if agent.name.is_empty() {
            missing.push("`name`");
            fixes.push(format!("`name: {}`", suggested_name(path)));
        }
        if agent.description.is_empty() {
            missing.push("`description`");
            fixes.push("`description: When to use this agent`".to_string());
        }
        if !missing.is_empty() {
            return Err(AgentFileError::MissingFields {
                path: shown_path,
                missing: missing.join(" or "),
                fix: fixes.join(" and "),
            });
        }

        let name_line = fm.get("name").map_or(1, |f| f.line);
        if !agent
            .name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            reader.diagnostics.push(
                Diagnostic::warning(format!(
                    "name `{}` should use lowercase letters, digits and hyphens; kept as written",
                    agent.name
                ))
                .at_line(name_line)
                .with_fix(format!("name: {}", slug(&agent.name))),
            );
        }
        if agent.body.trim().is_empty() {
            reader.diagnostics.push(
                Diagnostic::warning("the body is empty, so the agent has no system prompt")
                    .at_line(fm.body_line)
                    .with_fix("write the agent's instructions below the closing `---`"),
            );
        }
        agent.allowed_subagent_types = agent.tools.allowed_subagent_types();
        agent.diagnostics = reader.diagnostics;
        // File order reads best; findings without a line go last.
        agent
            .diagnostics
            .sort_by_key(|d| d.line.unwrap_or(usize::MAX));
        if let Some(path) = path {
            agent.diagnostics = agent
                .diagnostics
                .into_iter()
                .map(|d| d.in_file(path))
                .collect();
        }
        Ok(agent)
    }

    /// The tool names the subagent is offered (legacy names mapped, `*`/omitted = all
    /// implemented tools, `disallowedTools` subtracted, MCP and unknown names left out).
    pub fn effective_tools(&self) -> Vec<String> {
        tools_spec::effective_tools(&self.tools, &self.disallowed_tools)
    }

    /// The entries the subagent may use, patterns kept: `Bash(git diff:*)` limits Bash
    /// to commands starting with `git diff` (the engine enforces it).
    pub fn effective_tool_entries(&self) -> Vec<ToolEntry> {
        tools_spec::effective_entries(&self.tools, &self.disallowed_tools)
    }

    /// `All tools`, `All tools except A, B`, `A, B(pattern)` or `None`.
    pub fn tools_summary(&self) -> String {
        tools_spec::tools_summary(&self.tools, &self.disallowed_tools)
    }
}

/// Collects diagnostics while fields are read.
struct FieldReader {
    diagnostics: Vec<Diagnostic>,
}

impl FieldReader {
    fn text(&mut self, key: &str, field: &Field) -> Option<String> {
        let (text, note) = field.as_text(key);
        self.diagnostics.extend(note);
        text.filter(|t| !t.trim().is_empty())
    }

    fn tools(&mut self, key: &str, field: &Field) -> ToolSpec {
        let parsed = parse_tools(&field.value, key, field.line);
        self.diagnostics.extend(parsed.diagnostics);
        parsed.spec
    }

    fn number(&mut self, key: &str, field: &Field) -> Option<f64> {
        field.as_f64(key).unwrap_or_else(|d| {
            self.diagnostics.push(d);
            None
        })
    }

    fn count(&mut self, key: &str, field: &Field) -> Option<u32> {
        let n = self.number(key, field)?;
        if n >= 1.0 && n.fract() == 0.0 && n <= f64::from(u32::MAX) {
            return Some(n as u32);
        }
        self.diagnostics.push(
            Diagnostic::warning(format!(
                "`{key}` should be a whole number above 0, found `{n}`; ignored"
            ))
            .at_line(field.line),
        );
        None
    }

    fn boolean(&mut self, key: &str, field: &Field) -> Option<bool> {
        field.as_bool(key).unwrap_or_else(|d| {
            self.diagnostics.push(d);
            None
        })
    }

    fn duration(&mut self, key: &str, field: &Field) -> Option<Duration> {
        let text = match &field.value {
            Value::Number(n) => n.to_string(),
            Value::String(s) => s.clone(),
            Value::Null => return None,
            other => other.to_string(),
        };
        let parsed = parse_duration(&text);
        if parsed.is_none() {
            self.diagnostics.push(
                Diagnostic::warning(format!("`{key}` `{text}` is not a duration; ignored"))
                    .at_line(field.line)
                    .with_fix(format!(
                        "give seconds or a unit, e.g. `{key}: 300` or `{key}: 5m`"
                    )),
            );
        }
        parsed
    }

    /// A list, or a comma separated string, of names.
    fn names(&mut self, field: &Field) -> Vec<String> {
        let items: Vec<String> = match &field.value {
            Value::Array(items) => items.iter().map(super::frontmatter::value_text).collect(),
            Value::Null => Vec::new(),
            other => super::frontmatter::value_text(other)
                .split(',')
                .map(str::to_string)
                .collect(),
        };
        items
            .into_iter()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect()
    }
}

/// `maxTurns`, `max-turns` and `max_turns` are the same key.
fn canonical_key(key: &str) -> String {
    key.chars()
        .filter(|c| *c != '-' && *c != '_')
        .flat_map(char::to_lowercase)
        .collect()
}

/// Seconds as a number, or with a unit: `300`, `300s`, `5m`, `1h`, `1m30s`, `500ms`.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    if let Ok(secs) = text.parse::<f64>() {
        return seconds(secs);
    }
    let mut total = 0.0f64;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .filter(|&i| i > 0)?;
        let value: f64 = rest[..digits].parse().ok()?;
        rest = rest[digits..].trim_start();
        let unit_len = rest
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(rest.len());
        let factor = match &rest[..unit_len] {
            "ms" => 0.001,
            "s" | "sec" | "secs" => 1.0,
            "m" | "min" | "mins" => 60.0,
            "h" | "hr" | "hours" => 3600.0,
            _ => return None,
        };
        total += value * factor;
        rest = rest[unit_len..].trim_start();
    }
    seconds(total)
}

/// A duration of at least a millisecond: anything shorter would expire at once, and
/// anything too large for a `Duration` (`1e20`) is no duration either.
fn seconds(secs: f64) -> Option<Duration> {
    Duration::try_from_secs_f64(secs)
        .ok()
        .filter(|d| *d >= Duration::from_millis(1))
}

fn suggested_name(path: Option<&Path>) -> String {
    path.and_then(Path::file_stem)
        .map(|s| slug(&s.to_string_lossy()))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "my-agent".to_string())
}

/// `Code Reviewer_2` -> `code-reviewer-2`.
fn slug(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_string()
}

mod duration_secs {
    use std::time::Duration;

    pub fn serialize<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_f64(d.as_secs_f64()),
            None => s.serialize_none(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::claude::diagnostic::Severity;

    fn project() -> Source {
        Source::Project {
            dir: PathBuf::from("/ws/.claude/agents"),
        }
    }

    fn parse(text: &str) -> AgentDef {
        AgentDef::parse(text, Some(Path::new("/ws/.claude/agents/x.md")), project())
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn full_agent_reads_every_field() {
        let agent = parse(
            "---\nname: code-reviewer\ndescription: Reviews diffs\ntools: Read, Grep, Glob\ndisallowedTools: Grep\nmodel: sonnet\ntemperature: 0.3\nmax_tokens: 4000\nmaxTurns: 12\ntimeout: 5m\neffort: high\npermissionMode: plan\ncolor: blue\nbackground: true\nisolation: worktree\nmemory: project\nskills: [lint, docs]\nmcpServers:\n  github: {}\nhooks:\n  Stop: []\n---\nYou review code.\n",
        );
        assert_eq!(agent.name, "code-reviewer");
        assert_eq!(agent.description, "Reviews diffs");
        assert_eq!(agent.effective_tools(), ["Read", "Glob"]);
        assert_eq!(agent.model.as_deref(), Some("sonnet"));
        assert_eq!(agent.temperature, Some(0.3));
        assert_eq!(agent.max_tokens, Some(4000));
        assert_eq!(agent.max_turns, Some(12));
        assert_eq!(agent.timeout, Some(Duration::from_secs(300)));
        assert_eq!(agent.effort.as_deref(), Some("high"));
        assert_eq!(agent.permission_mode.as_deref(), Some("plan"));
        assert_eq!(agent.color.as_deref(), Some("blue"));
        assert_eq!(agent.background, Some(true));
        assert_eq!(agent.isolation.as_deref(), Some("worktree"));
        assert_eq!(agent.memory.as_deref(), Some("project"));
        assert_eq!(agent.skills, ["lint", "docs"]);
        assert_eq!(agent.mcp_servers, Some(serde_json::json!({"github": {}})));
        assert_eq!(agent.hooks, Some(serde_json::json!({"Stop": []})));
        assert_eq!(agent.body, "You review code.");
        assert!(agent.diagnostics.is_empty(), "{:?}", agent.diagnostics);
    }

    #[test]
    fn claude_generated_description_with_literal_newlines_and_colons() {
        let agent = parse(
            "---\nname: test-runner\ndescription: Use this agent when tests fail. Examples:\\n\\n<example>\\nContext: the user ran tests\\nuser: \"run them\"\\n</example>\nmodel: inherit\ncolor: #00ff00\n---\nRun tests.",
        );
        assert!(agent.description.starts_with(
            "Use this agent when tests fail. Examples:\n\n<example>\nContext: the user"
        ));
        assert_eq!(agent.model.as_deref(), Some("inherit"));
        assert_eq!(agent.color.as_deref(), Some("#00ff00"));
        assert!(agent
            .diagnostics
            .iter()
            .all(|d| d.severity != Severity::Error));
        assert_eq!(agent.diagnostics.len(), 2, "{:?}", agent.diagnostics);
        assert!(agent
            .diagnostics
            .iter()
            .all(|d| d.path.as_deref() == Some(Path::new("/ws/.claude/agents/x.md"))));
    }

    #[test]
    fn tools_omitted_star_and_empty() {
        let omitted = parse("---\nname: a\ndescription: d\n---\nx");
        assert_eq!(omitted.tools, ToolSpec::All);
        // Every built-in tool, and every MCP tool (`mcp__*`), as in Claude Code.
        assert_eq!(omitted.effective_tools().len(), 12);
        assert!(omitted.effective_tools().contains(&"mcp__*".to_string()));
        let star = parse("---\nname: a\ndescription: d\ntools: *\n---\nx");
        assert_eq!(star.tools, ToolSpec::All);
        let empty = parse("---\nname: a\ndescription: d\ntools:\n---\nx");
        assert_eq!(empty.tools, ToolSpec::None);
        assert!(empty.effective_tools().is_empty());
        let empty_string = parse("---\nname: a\ndescription: d\ntools: \"\"\n---\nx");
        assert_eq!(empty_string.tools, ToolSpec::None);
    }

    #[test]
    fn invalid_tool_is_dropped_but_the_agent_loads() {
        let agent = parse("---\nname: a\ndescription: d\ntools: Read, Serch\n---\nx");
        assert_eq!(agent.effective_tools(), ["Read"]);
        let error = agent
            .diagnostics
            .iter()
            .find(|d| d.severity == Severity::Error);
        assert_eq!(error.and_then(|d| d.line), Some(4));
    }

    #[test]
    fn agent_spawn_limits_come_from_agent_or_task_entries() {
        let agent = parse("---\nname: lead\ndescription: d\ntools:\n  - Read\n  - Task(code-reviewer, test-runner)\n---\nx");
        assert_eq!(agent.effective_tools(), ["Read", "Agent"]);
        assert_eq!(
            agent.allowed_subagent_types,
            Some(vec!["code-reviewer".to_string(), "test-runner".to_string()])
        );
    }

    #[test]
    fn unknown_keys_and_bad_values_warn_without_losing_the_agent() {
        let agent = parse("---\nname: a\ndescription: d\nfavourite: blue\nmaxTurns: many\ntimeout: soon\npermissionMode: yolo\n---\nx");
        let messages: Vec<String> = agent.diagnostics.iter().map(Diagnostic::describe).collect();
        assert_eq!(messages.len(), 4, "{messages:?}");
        assert!(messages[0].starts_with("line 4: unknown frontmatter key `favourite`"));
        assert!(messages[1].contains("`maxTurns` should be a number"));
        assert!(messages[2].contains("`timeout` `soon` is not a duration"));
        assert!(messages[3].contains("unknown `permissionMode` `yolo`"));
        assert_eq!(agent.permission_mode.as_deref(), Some("yolo"));
        assert_eq!(agent.max_turns, None);
        let agent = parse("---\nname: a\ndescription: d\nmemory: team\n---\nx");
        let messages: Vec<String> = agent.diagnostics.iter().map(Diagnostic::describe).collect();
        assert_eq!(
            messages,
            ["line 4: unknown `memory` `team`; the agent runs without memory; use user, project or local"]
        );
    }

    #[test]
    fn key_spellings_are_interchangeable() {
        let agent = parse("---\nname: a\ndescription: d\nmax-turns: 3\nmaxTokens: 100\ndisallowed_tools: Bash\n---\nx");
        assert_eq!(agent.max_turns, Some(3));
        assert_eq!(agent.max_tokens, Some(100));
        assert!(!agent.effective_tools().contains(&"Bash".to_string()));
    }

    #[test]
    fn missing_name_or_description_is_not_an_agent() {
        let err = AgentDef::parse(
            "---\ndescription: d\n---\nx",
            Some(Path::new("/a/Code Helper.md")),
            project(),
        )
        .err()
        .map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("/a/Code Helper.md: not an agent: the frontmatter has no `name`; add `name: code-helper`")
        );
        let err = AgentDef::parse("---\n---\nx", Some(Path::new("/a/b.md")), project())
            .err()
            .map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("no `name` or `description`")));
    }

    #[test]
    fn no_frontmatter_error_shows_a_minimal_example() {
        let err = AgentDef::parse(
            "You are helpful.",
            Some(Path::new("/a/helper.md")),
            project(),
        );
        let text = err.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(text.starts_with("/a/helper.md: no YAML frontmatter"));
        assert!(text.contains("---\nname: helper\ndescription: When to use this agent\n---"));
        let d = AgentFileError::Unclosed {
            path: "/a/b.md".into(),
            line: 1,
        }
        .to_diagnostic();
        assert_eq!(d.line, Some(1));
        assert!(d
            .to_string()
            .starts_with("/a/b.md: line 1: the frontmatter opened with `---` is never closed"));
    }

    #[test]
    fn odd_names_warn_but_are_kept() {
        let agent = parse("---\nname: Code_Reviewer\ndescription: d\n---\nx");
        assert_eq!(agent.name, "Code_Reviewer");
        assert_eq!(agent.diagnostics.len(), 1);
        assert_eq!(
            agent.diagnostics[0].fix.as_deref(),
            Some("name: code-reviewer")
        );
    }

    #[test]
    fn free_text_and_provider_models_are_kept() {
        let a = parse("---\nname: a\ndescription: d\nmodel: openai:gpt-5.5\n---\nx");
        assert_eq!(a.model.as_deref(), Some("openai:gpt-5.5"));
        let b = parse("---\nname: a\ndescription: d\nmodel: Claude Sonnet 4.5 please\n---\nx");
        assert_eq!(b.model.as_deref(), Some("Claude Sonnet 4.5 please"));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("300"), Some(Duration::from_secs(300)));
        assert_eq!(parse_duration("90s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("2h"), Some(Duration::from_secs(7200)));
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("0"), None);
        assert_eq!(parse_duration("5 parsecs"), None);
        assert_eq!(parse_duration(""), None);
    }
}
