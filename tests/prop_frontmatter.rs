//! Property tests of the Claude Code file readers: frontmatter (`claude::frontmatter`),
//! agents (`claude::agents`) and slash commands (`claude::commands`). Any text and any
//! `---` header never panic and keep their line numbers inside the file; a generated
//! valid agent or command file reads back as the fields it was written from, however
//! it is laid out (field order, CRLF, BOM, indentation, quoting, list styles).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed assumption is a failed test

use std::path::Path;

use codex_plus::claude::agents::{parse_duration, AgentDef, AgentFileError};
use codex_plus::claude::commands::{commands_list, CommandDef, CommandSet};
use codex_plus::claude::discovery::Source;
use codex_plus::claude::frontmatter::{Frontmatter, Presence};
use codex_plus::claude::tools_spec::{ToolEntry, ToolSpec};
use proptest::prelude::*;

/// `cases` per property, or `PROPTEST_CASES` when set (for a longer run).
fn config(cases: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(cases);
    ProptestConfig {
        cases,
        // A failure is recorded as an `#[ignore]`d test by hand, not as a file.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn source() -> Source {
    Source::Project {
        dir: "/ws/.claude/agents".into(),
    }
}

// ---------------------------------------------------------------------------------
// Generators

/// Text from what matters to YAML and to frontmatter, and some of anything.
fn yamlish_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        6 => prop::sample::select(vec![
            "---", "\n", "\r\n", "\r", " ", "  ", "\t", ":", ": ", "- ", "-", "#", " #", "*", "&a",
            "!tag", "%", "@", "`", "[", "]", "{", "}", ",", "\"", "'", "|", ">", "|-", ">+", "\\n",
            "name", "description", "tools", "model", "timeout", "maxTurns", "temperature",
            "background", "skills", "arguments", "allowed-tools", "argument-hint",
            "disable-model-invocation", "hooks", "x", "Read", "Agent(a, b)", "true", "null", "~",
            "0", "1.5", "-3", "5m", "\u{feff}", "\u{a0}", "é", "😀", "\u{85}", "\u{2028}",
        ])
        .prop_map(str::to_string),
        1 => any::<char>().prop_map(String::from),
    ];
    prop::collection::vec(piece, 0..60).prop_map(|p| p.concat())
}

/// A `key: value` line with YAML-ish values and maybe continuation lines.
fn key_line() -> impl Strategy<Value = String> {
    let key = prop_oneof![
        prop::sample::select(vec![
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
            "argument-hint",
            "arguments",
            "disable-model-invocation",
            "\"quoted key\"",
            "'q'",
        ])
        .prop_map(str::to_string),
        "[a-zA-Z_][a-zA-Z0-9_.-]{0,8}",
    ];
    (
        key,
        prop::sample::select(vec![": ", ":", " : ", ":\t"]),
        yamlish_line(),
        prop::collection::vec(continuation(), 0..3),
    )
        .prop_map(|(k, sep, v, more)| {
            let mut s = format!("{k}{sep}{v}");
            for m in more {
                s.push('\n');
                s.push_str(&m);
            }
            s
        })
}

/// A `---` block of key lines and stray lines, maybe closed, then a body.
fn header_file() -> impl Strategy<Value = String> {
    (
        prop::sample::select(vec!["", "\u{feff}", "\n\n", "  "]),
        prop::collection::vec(prop_oneof![4 => key_line(), 1 => yamlish_line()], 0..8),
        prop::sample::select(vec!["---", "  ---  ", "--- "]),
        any::<bool>(),
        yamlish_text(),
        prop::sample::select(vec!["\n", "\r\n"]),
    )
        .prop_map(|(lead, lines, close, closed, body, eol)| {
            let mut text = format!("{lead}---{eol}");
            for l in lines {
                text.push_str(&l.replace('\n', eol));
                text.push_str(eol);
            }
            if closed {
                text.push_str(close);
                text.push_str(eol);
            }
            text.push_str(&body);
            text
        })
}

/// An agent file (a valid `name` and `description`) with any other fields, lines and
/// body: it loads, so every field reader and finding of `AgentDef` is reached.
fn agentish_file() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(prop_oneof![6 => key_line(), 1 => yamlish_line()], 0..6),
        any::<prop::sample::Index>(),
        prop_oneof![Just(String::new()), Just("\n".to_string()), yamlish_text()],
    )
        .prop_map(|(mut lines, at, body)| {
            let i = at.index(lines.len() + 1);
            lines.insert(i, "name: agent-x\ndescription: Does things".to_string());
            format!("---\n{}\n---\n{body}", lines.join("\n"))
        })
}

fn yamlish_line() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop::sample::select(vec![
            "a",
            "b c",
            ":",
            ": ",
            "#",
            " #x",
            "*",
            "&",
            "!",
            "@",
            "`",
            "%",
            "[",
            "]",
            "[a, b]",
            "{",
            "}",
            "{k: v}",
            "\"",
            "'",
            "\\",
            "\\n",
            "|",
            ">-",
            "-",
            "- ",
            "Read",
            "Agent(x, y)",
            "5m",
            "1e3",
            "0.5",
            "yes",
            "null",
            "~",
            "é",
            "\u{a0}",
            "\t",
            " ",
        ]),
        0..6,
    )
    .prop_map(|p| p.concat())
}

fn continuation() -> impl Strategy<Value = String> {
    (
        prop::sample::select(vec!["", " ", "  ", "    ", "\t", "- ", "  - "]),
        yamlish_line(),
    )
        .prop_map(|(indent, v)| format!("{indent}{v}"))
}

/// Characters YAML accepts in a scalar (printable), without line breaks.
fn printable() -> impl Strategy<Value = char> {
    prop_oneof![
        4 => prop::char::range(' ', '~'),
        1 => prop::sample::select(vec!['é', 'ü', '—', '✓', '😀', '中', '\u{a0}', '\t']),
    ]
}

fn printable_text(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(printable(), 0..max).prop_map(|c| c.into_iter().collect())
}

/// A scalar written in one of YAML's styles. Plain only where plain means the text.
fn yaml_scalar(text: &str, style: u8) -> String {
    match style % 3 {
        0 if is_safe_plain(text) => text.to_string(),
        1 | 0 => format!("'{}'", text.replace('\'', "''")),
        _ => format!(
            "\"{}\"",
            text.replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\t', "\\t")
        ),
    }
}

fn is_safe_plain(text: &str) -> bool {
    let first = text.chars().next();
    first.is_some_and(|c| c.is_ascii_alphabetic())
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || " ,.()!?/-".contains(c))
        && !text.ends_with(' ')
        && !["null", "true", "false", "yes", "no", "on", "off", "y", "n"]
            .contains(&text.to_ascii_lowercase().as_str())
}

const TOOL_NAMES: [&str; 9] = [
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

/// Words from `regex` that plain YAML reads as text, not as null or a boolean.
fn yaml_word(regex: &'static str) -> impl Strategy<Value = String> {
    regex.prop_filter("a YAML keyword", |w| {
        !["null", "true", "false", "yes", "no", "on", "off", "y", "n"].contains(&w.as_str())
    })
}

/// A tools list entry: a tool name, or `Agent(a, b)` limiting the spawnable types.
#[derive(Debug, Clone)]
struct Tool {
    name: &'static str,
    agents: Option<Vec<String>>,
}

impl Tool {
    fn text(&self) -> String {
        match &self.agents {
            Some(a) => format!("{}({})", self.name, a.join(", ")),
            None => self.name.to_string(),
        }
    }
}

fn tool(with_specifier: bool) -> impl Strategy<Value = Tool> {
    (
        prop::sample::select(TOOL_NAMES.to_vec()),
        prop::collection::vec("[a-z][a-z-]{0,8}", 1..3),
        prop::bool::weighted(if with_specifier { 0.3 } else { 0.0 }),
    )
        .prop_map(|(name, agents, spec)| Tool {
            name,
            agents: (spec && name == "Agent").then_some(agents),
        })
}

/// How a tools list is written.
#[derive(Debug, Clone)]
enum ToolsStyle {
    /// `tools: Read, Grep` (separator `, `, `,` or ` `).
    Comma(&'static str),
    /// `tools: [Read, Grep]` (no specifiers: a flow list splits `Agent(a, b)`).
    Flow,
    /// `tools:` then `  - Read` lines.
    Block,
    /// `tools: "*"`.
    Star,
}

fn tools_field() -> impl Strategy<Value = (ToolsStyle, Vec<Tool>)> {
    prop_oneof![
        (
            prop::sample::select(vec![", ", ",", " "]),
            prop::collection::vec(tool(true), 1..5)
        )
            .prop_map(|(sep, t)| (ToolsStyle::Comma(sep), t)),
        prop::collection::vec(tool(false), 0..5).prop_map(|t| (ToolsStyle::Flow, t)),
        prop::collection::vec(tool(true), 1..5).prop_map(|t| (ToolsStyle::Block, t)),
        Just((ToolsStyle::Star, Vec::new())),
    ]
}

/// A generated agent file's fields.
#[derive(Debug, Clone)]
struct Agent {
    name: String,
    description: String,
    description_style: u8,
    tools: Option<(ToolsStyle, Vec<Tool>)>,
    model: Option<(String, u8)>,
    max_turns: Option<(u32, &'static str)>,
    body: Vec<String>,
}

/// A file's layout.
#[derive(Debug, Clone)]
struct Layout {
    bom: bool,
    blank_lines_before: usize,
    indent: usize,
    eol: &'static str,
    blank_after_close: bool,
    order: Vec<usize>,
}

fn layout() -> impl Strategy<Value = Layout> {
    (
        any::<bool>(),
        0..3usize,
        prop::sample::select(vec![0usize, 0, 2, 4]),
        prop::sample::select(vec!["\n", "\r\n"]),
        any::<bool>(),
        Just((0..8).collect::<Vec<usize>>()).prop_shuffle(),
    )
        .prop_map(
            |(bom, blank_lines_before, indent, eol, blank_after_close, order)| Layout {
                bom,
                blank_lines_before,
                indent,
                eol,
                blank_after_close,
                order,
            },
        )
}

/// Body lines: the first not blank, the last without trailing whitespace; `---`,
/// `key: value` and markdown are all just text down there.
fn body() -> impl Strategy<Value = Vec<String>> {
    (
        "[A-Za-z#$@!`][^\r\n]{0,30}",
        prop::collection::vec(
            prop_oneof![
                "[^\r\n]{0,30}",
                Just("---".to_string()),
                Just("name: other".to_string()),
                Just(String::new())
            ],
            0..5,
        ),
    )
        .prop_map(|(first, rest)| {
            let mut lines = vec![first];
            lines.extend(rest);
            while lines
                .last()
                .is_some_and(|l| l.trim_end() != l || l.is_empty())
            {
                let last = lines.pop().unwrap();
                let trimmed = last.trim_end().to_string();
                if !trimmed.is_empty() {
                    lines.push(trimmed);
                    break;
                }
            }
            lines
        })
        .prop_filter("a body", |lines| !lines.is_empty())
}

fn agent() -> impl Strategy<Value = Agent> {
    (
        yaml_word("[a-z][a-z0-9-]{0,15}"),
        printable_text(40).prop_filter("has text", |d| !d.replace("\\n", "\n").trim().is_empty()),
        any::<u8>(),
        prop::option::of(tools_field()),
        prop::option::of((
            prop_oneof![
                "[a-z][a-z0-9.-]{0,10}(:[a-z0-9.-]{1,8})?",
                printable_text(16),
            ],
            any::<u8>(),
        )),
        prop::option::of((
            1u32..10_000,
            prop::sample::select(vec!["maxTurns", "max-turns", "max_turns"]),
        )),
        body(),
    )
        .prop_map(
            |(name, description, description_style, tools, model, max_turns, body)| Agent {
                name,
                description,
                description_style,
                tools,
                model,
                max_turns,
                body,
            },
        )
}

impl Agent {
    /// The frontmatter's key lines (each maybe with continuation lines), by field.
    fn fields(&self) -> Vec<(String, Vec<String>)> {
        let mut fields = vec![
            ("name".to_string(), vec![format!("name: {}", self.name)]),
            (
                "description".to_string(),
                vec![format!(
                    "description: {}",
                    yaml_scalar(&self.description, self.description_style)
                )],
            ),
        ];
        if let Some((style, tools)) = &self.tools {
            let texts: Vec<String> = tools.iter().map(Tool::text).collect();
            let lines = match style {
                ToolsStyle::Comma(sep) => vec![format!("tools: {}", texts.join(sep))],
                ToolsStyle::Flow => vec![format!("tools: [{}]", texts.join(", "))],
                ToolsStyle::Block => std::iter::once("tools:".to_string())
                    .chain(texts.iter().map(|t| format!("  - {t}")))
                    .collect(),
                ToolsStyle::Star => vec!["tools: \"*\"".to_string()],
            };
            fields.push(("tools".to_string(), lines));
        }
        if let Some((model, style)) = &self.model {
            let written = match style % 2 {
                0 if is_safe_plain(model) || is_plain_model_id(model) => model.clone(),
                _ => format!(
                    "\"{}\"",
                    model
                        .replace('\\', "\\\\")
                        .replace('"', "\\\"")
                        .replace('\t', "\\t")
                ),
            };
            fields.push(("model".to_string(), vec![format!("model: {written}")]));
        }
        if let Some((n, key)) = &self.max_turns {
            fields.push((key.to_string(), vec![format!("{key}: {n}")]));
        }
        fields
    }

    fn expected_tools(&self) -> ToolSpec {
        match &self.tools {
            None | Some((ToolsStyle::Star, _)) => ToolSpec::All,
            Some((_, tools)) => {
                let mut entries: Vec<ToolEntry> = Vec::new();
                for t in tools {
                    let entry = ToolEntry {
                        name: t.name.to_string(),
                        specifier: t.agents.as_ref().map(|a| a.join(", ")),
                        written_as: None,
                    };
                    if !entries.contains(&entry) {
                        entries.push(entry);
                    }
                }
                if entries.is_empty() {
                    ToolSpec::None
                } else {
                    ToolSpec::List(entries)
                }
            }
        }
    }

    fn expected_subagent_types(&self) -> Option<Vec<String>> {
        let tools = match &self.tools {
            Some((ToolsStyle::Star, _)) | None => return None,
            Some((_, tools)) => tools,
        };
        let agents: Vec<&Tool> = tools.iter().filter(|t| t.name == "Agent").collect();
        if agents.is_empty() || agents.iter().any(|t| t.agents.is_none()) {
            return None;
        }
        let mut types: Vec<String> = Vec::new();
        for a in agents.iter().flat_map(|t| t.agents.iter().flatten()) {
            if !types.contains(a) {
                types.push(a.clone());
            }
        }
        Some(types)
    }
}

/// `openai:gpt-5.5`, `sonnet`: plain YAML that reads as the text.
fn is_plain_model_id(model: &str) -> bool {
    model.starts_with(|c: char| c.is_ascii_lowercase())
        && model
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".:-".contains(c))
        && !model.ends_with(':')
        && model != "null"
}

/// Writes a file from its fields and body with `layout`; returns the text and the
/// 1-based line of each field's key.
fn write_file(
    fields: &[(String, Vec<String>)],
    body: &[String],
    layout: &Layout,
) -> (String, Vec<(String, usize)>) {
    let eol = layout.eol;
    let pad = " ".repeat(layout.indent);
    let mut out = String::new();
    if layout.bom {
        out.push('\u{feff}');
    }
    let mut line = 1;
    for _ in 0..layout.blank_lines_before {
        out.push_str(eol);
        line += 1;
    }
    out.push_str(&format!("{pad}---{eol}"));
    line += 1;
    let mut lines_of = Vec::new();
    let order: Vec<usize> = layout
        .order
        .iter()
        .copied()
        .filter(|&i| i < fields.len())
        .collect();
    for i in order {
        let (key, lines) = &fields[i];
        lines_of.push((key.clone(), line));
        for l in lines {
            out.push_str(&format!("{pad}{l}{eol}"));
            line += 1;
        }
    }
    out.push_str(&format!("{pad}---{eol}"));
    if layout.blank_after_close {
        out.push_str(eol);
    }
    out.push_str(&body.join(eol));
    if layout.eol == "\n" {
        out.push('\n');
    }
    (out, lines_of)
}

/// A generated command file's fields.
#[derive(Debug, Clone)]
struct Command {
    description: Option<(String, u8)>,
    hint: Option<String>,
    allowed_tools: Option<(ToolsStyle, Vec<String>)>,
    model: Option<String>,
    disable: Option<bool>,
    /// The names, written as a flow list (0) or a string joined by `, ` (1) or ` ` (2).
    arguments: Option<(Vec<String>, u8)>,
    body: Vec<String>,
}

fn command() -> impl Strategy<Value = Command> {
    let allowed = prop::collection::vec(
        prop::sample::select(vec![
            "Read",
            "Grep",
            "Bash(git add:*)",
            "Bash(npm test)",
            "Write",
        ]),
        0..4,
    );
    (
        prop::option::of((
            printable_text(30)
                .prop_filter("has text", |d| !d.replace("\\n", "\n").trim().is_empty()),
            any::<u8>(),
        )),
        prop::option::of(
            prop::sample::select(vec![
                "<issue>",
                "<env> <version>",
                "message",
                "\"[scope] | --amend\"",
            ])
            .prop_map(str::to_string),
        ),
        prop::option::of((prop::sample::select(vec![0u8, 1, 2]), allowed)),
        prop::option::of(yaml_word("[a-z][a-z0-9.-]{0,10}")),
        prop::option::of(any::<bool>()),
        prop::option::of((
            prop::collection::vec(yaml_word("[a-z_][a-z0-9_]{0,6}"), 0..4),
            0u8..3,
        )),
        body(),
    )
        .prop_map(
            |(description, hint, allowed, model, disable, arguments, body)| Command {
                description,
                hint,
                allowed_tools: allowed.map(|(style, t)| {
                    let style = match style {
                        0 => ToolsStyle::Comma(", "),
                        1 => ToolsStyle::Block,
                        _ => ToolsStyle::Flow,
                    };
                    let t: Vec<String> = t.into_iter().map(str::to_string).collect();
                    // A flow list reads `Bash(git add:*)` fine, but splits at a comma.
                    (style, t)
                }),
                model,
                disable,
                arguments,
                body,
            },
        )
}

impl Command {
    fn fields(&self) -> Vec<(String, Vec<String>)> {
        let mut fields = Vec::new();
        if let Some((d, style)) = &self.description {
            fields.push((
                "description".to_string(),
                vec![format!("description: {}", yaml_scalar(d, *style))],
            ));
        }
        if let Some(h) = &self.hint {
            fields.push((
                "argument-hint".to_string(),
                vec![format!("argument-hint: {h}")],
            ));
        }
        if let Some((style, tools)) = &self.allowed_tools {
            let lines = match style {
                ToolsStyle::Block => std::iter::once("allowed-tools:".to_string())
                    .chain(tools.iter().map(|t| format!("  - {t}")))
                    .collect(),
                ToolsStyle::Flow => vec![format!("allowed-tools: [{}]", tools.join(", "))],
                _ => vec![format!("allowed-tools: {}", tools.join(", "))],
            };
            fields.push(("allowed-tools".to_string(), lines));
        }
        if let Some(m) = &self.model {
            fields.push(("model".to_string(), vec![format!("model: {m}")]));
        }
        if let Some(b) = self.disable {
            fields.push((
                "disable-model-invocation".to_string(),
                vec![format!("disable-model-invocation: {b}")],
            ));
        }
        if let Some((names, style)) = &self.arguments {
            let line = match style {
                0 => format!("arguments: [{}]", names.join(", ")),
                1 => format!("arguments: {}", names.join(", ")),
                _ => format!("arguments: {}", names.join(" ")),
            };
            fields.push(("arguments".to_string(), vec![line]));
        }
        fields
    }
}

// ---------------------------------------------------------------------------------
// Properties

/// Line numbers a finding may name: the file's lines (as `split('\n')` counts them).
fn line_count(text: &str) -> usize {
    text.split('\n').count()
}

/// Whether `text` has a line break YAML counts and the frontmatter does not (a lone
/// CR, NEL, LS, PS): the findings of YAML errors after one point past the file (see
/// `yaml_error_lines_count_only_newlines`).
fn has_other_yaml_line_breaks(text: &str) -> bool {
    text.replace("\r\n", "")
        .contains(['\r', '\u{85}', '\u{2028}', '\u{2029}'])
}

/// What every reader must survive, and the invariants that hold for any text.
/// `exempt_known_bugs`: skip the line checks the two known line-number bugs fail
/// (`yaml_error_lines_count_only_newlines`, `empty_body_finding_points_inside_the_file`);
/// drop the exemptions when they are fixed.
fn check_any_text(text: &str, exempt_known_bugs: bool) -> Result<(), TestCaseError> {
    let fm = Frontmatter::parse(text);
    let lines = line_count(text);
    let exempt_yaml_lines = exempt_known_bugs && has_other_yaml_line_breaks(text);
    let in_file = |l: usize| l >= 1 && (l <= lines || exempt_yaml_lines);
    for d in &fm.diagnostics {
        prop_assert!(d.line.is_some_and(in_file), "{:?}: {:?}", text, d);
    }
    for (key, field) in &fm.fields {
        prop_assert!(
            (1..=lines).contains(&field.line),
            "{:?}: {} on line {}",
            text,
            key,
            field.line
        );
    }
    // The body: `\n` line ends, no leading blank line, no trailing whitespace.
    // (A lone CR is content: `\r\r\n` is a CR, then a line end.)
    if !text.replace("\r\n", "").contains('\r') {
        prop_assert!(!fm.body.contains('\r'), "{:?}", text);
    }
    prop_assert_eq!(fm.body.trim_end(), fm.body.as_str());
    prop_assert!(fm
        .body
        .split('\n')
        .next()
        .is_none_or(|first| fm.body.is_empty() || !first.trim().is_empty()));

    // Presence, from the text alone: the first non-blank line is `---` or not.
    let normalized = text
        .strip_prefix('\u{feff}')
        .unwrap_or(text)
        .replace("\r\n", "\n");
    let all_lines: Vec<&str> = normalized.split('\n').collect();
    let open = all_lines.iter().position(|l| !l.trim().is_empty());
    match open.filter(|&i| all_lines[i].trim() == "---") {
        None => {
            prop_assert_eq!(fm.presence, Presence::Missing);
            prop_assert!(fm.fields.is_empty());
            prop_assert_eq!(&fm.body, &expected_missing_body(&all_lines));
        }
        Some(i) => {
            let closed = all_lines[i + 1..].iter().any(|l| l.trim() == "---");
            if closed {
                prop_assert_eq!(fm.presence, Presence::Present { line: i + 1 });
            } else {
                prop_assert_eq!(fm.presence, Presence::Unclosed { line: i + 1 });
                prop_assert!(fm.fields.is_empty());
            }
        }
    }

    // The agent and command readers on the same text.
    match AgentDef::parse(text, Some(Path::new("/ws/.claude/agents/x.md")), source()) {
        Ok(agent) => {
            prop_assert!(!agent.name.is_empty() && !agent.description.is_empty());
            prop_assert_eq!(agent.name.trim(), agent.name.as_str());
            let _ = agent.effective_tools();
            let _ = agent.tools_summary();
            for d in &agent.diagnostics {
                if exempt_known_bugs && d.message.starts_with("the body is empty") {
                    continue;
                }
                if let Some(l) = d.line {
                    prop_assert!(in_file(l), "{:?}: {:?}", text, d);
                }
            }
        }
        Err(e) => {
            let _ = e.to_string();
            match (&e, fm.presence) {
                (AgentFileError::NoFrontmatter { .. }, Presence::Missing)
                | (AgentFileError::Unclosed { .. }, Presence::Unclosed { .. })
                | (AgentFileError::MissingFields { .. }, Presence::Present { .. }) => {}
                (e, p) => prop_assert!(false, "{:?} for {:?}", e, p),
            }
        }
    }
    let cmd = CommandDef::parse("x", text, None, source());
    prop_assert_eq!(&cmd.body, &fm.body);
    let _ = cmd.display_description();
    let _ = commands_list(&CommandSet::new(vec![cmd], vec![]));
    Ok(())
}

/// The body of a file without frontmatter: from its first non-blank line, trimmed at
/// the end, `\n` line ends.
fn expected_missing_body(lines: &[&str]) -> String {
    let first = lines
        .iter()
        .position(|l| !l.trim().is_empty())
        .unwrap_or(lines.len());
    lines[first..].join("\n").trim_end().to_string()
}

proptest! {
    #![proptest_config(config(384))]

    /// Any text: no reader panics, line numbers stay in the file, presence and body
    /// follow the `---` rules.
    #[test]
    fn any_text_is_read_without_panic(text in prop_oneof![yamlish_text(), any::<String>(), header_file(), agentish_file()]) {
        check_any_text(&text, false)?;
    }

    /// A generated agent file reads back as the fields it was written from, with no
    /// finding, whatever its layout.
    #[test]
    fn agent_files_round_trip(agent in agent(), layout in layout()) {
        let fields = agent.fields();
        let (text, key_lines) = write_file(&fields, &agent.body, &layout);
        let fm = Frontmatter::parse(&text);
        prop_assert_eq!(fm.presence, Presence::Present { line: layout.blank_lines_before + 1 });
        prop_assert!(fm.diagnostics.is_empty(), "{}: {:?}", text, fm.diagnostics);
        let keys: Vec<&String> = fm.fields.keys().collect();
        let expected_keys: Vec<&String> = key_lines.iter().map(|(k, _)| k).collect();
        prop_assert_eq!(keys, expected_keys);
        for (key, line) in &key_lines {
            prop_assert_eq!(fm.get(key).map(|f| f.line), Some(*line), "{}", key);
        }

        let parsed = AgentDef::parse(&text, None, source());
        prop_assert!(parsed.is_ok(), "{}: {}", text, parsed.err().map(|e| e.to_string()).unwrap_or_default());
        let parsed = parsed.unwrap();
        prop_assert_eq!(&parsed.name, &agent.name);
        prop_assert_eq!(parsed.description, agent.description.replace("\\n", "\n").trim().to_string());
        prop_assert_eq!(&parsed.tools, &agent.expected_tools());
        prop_assert_eq!(parsed.allowed_subagent_types, agent.expected_subagent_types());
        let model = agent.model.as_ref().map(|(m, _)| m.trim().to_string()).filter(|m| !m.is_empty());
        prop_assert_eq!(parsed.model, model);
        prop_assert_eq!(parsed.max_turns, agent.max_turns.map(|(n, _)| n));
        prop_assert_eq!(parsed.body, agent.body.join("\n"));
        prop_assert!(parsed.diagnostics.is_empty(), "{}: {:?}", text, parsed.diagnostics);
    }

    /// A generated command file reads back as its fields.
    #[test]
    fn command_files_round_trip(cmd in command(), layout in layout()) {
        let fields = cmd.fields();
        let (text, _) = write_file(&fields, &cmd.body, &layout);
        let parsed = CommandDef::parse("c", &text, None, source());
        prop_assert_eq!(parsed.body, cmd.body.join("\n"));
        let description = cmd.description.as_ref().map(|(d, _)| d.replace("\\n", "\n").trim().to_string());
        prop_assert_eq!(parsed.description, description);
        let hint = cmd.hint.as_ref().map(|h| h.trim_matches('"').to_string());
        prop_assert_eq!(parsed.argument_hint, hint);
        prop_assert_eq!(parsed.allowed_tools, cmd.allowed_tools.as_ref().map(|(_, t)| t.clone()));
        prop_assert_eq!(parsed.model, cmd.model.clone());
        prop_assert_eq!(parsed.disable_model_invocation, cmd.disable.unwrap_or(false));
        let arguments = cmd.arguments.as_ref().map(|(a, _)| a.clone()).unwrap_or_default();
        prop_assert_eq!(parsed.arguments, arguments);
        prop_assert!(parsed.diagnostics.is_empty(), "{}: {:?}", text, parsed.diagnostics);
    }

    /// A file with no `---` block is all body, for commands; not an agent.
    #[test]
    fn files_without_frontmatter_are_all_body(lines in body(), eol in prop::sample::select(vec!["\n", "\r\n"])) {
        prop_assume!(lines[0].trim() != "---");
        let text = lines.join(eol);
        let cmd = CommandDef::parse("c", &text, None, source());
        prop_assert_eq!(cmd.body, lines.join("\n"));
        prop_assert!(cmd.description.is_none() && cmd.diagnostics.is_empty());
        let agent = AgentDef::parse(&text, None, source());
        prop_assert!(matches!(agent, Err(AgentFileError::NoFrontmatter { .. })), "{:?}", agent.map(|a| a.name));
    }

    /// Durations: seconds, or numbers with units, are the sum they say; anything reads
    /// without a panic.
    #[test]
    fn durations_add_up(parts in prop::collection::vec((1u32..10_000, prop::sample::select(vec![("ms", 0.001), ("s", 1.0), ("sec", 1.0), ("m", 60.0), ("min", 60.0), ("h", 3600.0)])), 1..4)) {
        let text: String = parts.iter().map(|(n, (unit, _))| format!("{n}{unit}")).collect();
        let secs: f64 = parts.iter().map(|(n, (_, f))| f64::from(*n) * f).sum();
        let d = parse_duration(&text);
        prop_assert!(d.is_some_and(|d| (d.as_secs_f64() - secs).abs() < 1e-6 * secs.max(1.0)), "{}: {:?}", text, d);
    }
}

#[test]
fn missing_body_helper_matches_a_known_case() {
    assert_eq!(expected_missing_body(&["", "  ", " x", "y  ", ""]), " x\ny");
}

/// BUG (src/claude/agents.rs, `parse_duration`): a duration too large for `Duration`
/// panics in `Duration::from_secs_f64` ("cannot convert float seconds to Duration:
/// value is either too big or NaN"), both for a plain number (`1e20`) and for a sum of
/// units (`99999999999999999999h`). An agent file with `timeout: 1e20` therefore panics
/// `AgentDef::parse` (and whoever loads the workspace's agents).
#[test]
fn huge_durations_do_not_panic() {
    for text in ["1e20", "99999999999999999999h", "18446744073709551616"] {
        let _ = parse_duration(text);
    }
    let agent = AgentDef::parse(
        "---\nname: a\ndescription: d\ntimeout: 1e20\n---\nx",
        None,
        source(),
    );
    assert!(agent.is_ok_and(|a| a.timeout.is_none()));
}

/// BUG (src/claude/agents.rs, `AgentDef::from_frontmatter`, the empty body finding):
/// for a file whose body is empty the warning is placed at `fm.body_line`, which is then
/// one past the file's last line (`line 5` for a 4-line file; `line 6` when the file
/// ends in a newline). Every other finding stays within the file.
#[test]
fn empty_body_finding_points_inside_the_file() {
    for text in [
        "---\nname: a\ndescription: d\n---",
        "---\nname: a\ndescription: d\n---\n",
    ] {
        let agent = AgentDef::parse(text, None, source()).unwrap();
        let lines = line_count(text);
        for d in &agent.diagnostics {
            assert!(d.line.is_some_and(|l| l <= lines), "{text:?}: {d:?}");
        }
    }
}

/// BUG (src/claude/frontmatter.rs, `parse_chunk`): the line of a YAML error is
/// `chunk.line + location.line() - 1`, but the YAML parser also counts a lone CR, NEL
/// (U+0085), LS (U+2028) and PS (U+2029) as line breaks, while the frontmatter splits
/// lines on `\n` only. The finding then names a wrong line, here past the end of the
/// file (the module's own unit test promises lines within the file; its random pieces
/// have none of these characters).
#[test]
fn yaml_error_lines_count_only_newlines() {
    // 4 lines; the finding says line 5, and line 6 for the CR and LS variants.
    for text in [
        "---\na:\n \u{85}[\n---",
        "---\na:\n \r\r[\n---",
        "---\na:\n \u{2028}\u{2028}[\n---",
    ] {
        let fm = Frontmatter::parse(text);
        for d in &fm.diagnostics {
            assert!(
                d.line.is_some_and(|l| l <= line_count(text)),
                "{text:?}: {d:?}"
            );
        }
    }
}

proptest! {
    #![proptest_config(config(256))]

    /// Any number or unit sum reads as a duration or as nothing, never a panic, and a
    /// duration read is positive (`1e-10` once read as `Some(Duration::ZERO)`, a
    /// timeout that expires at once).
    #[test]
    fn any_duration_text_reads_without_panic(text in prop_oneof![
        "[0-9]{1,30}(\\.[0-9]{0,5})?(e[0-9]{1,3})?",
        "([0-9]{1,25}(ms|s|m|h|min|sec) ?){1,3}",
        any::<f64>().prop_map(|f| f.to_string()),
    ]) {
        if let Some(d) = parse_duration(&text) {
            prop_assert!(d > std::time::Duration::ZERO);
        }
    }
}
