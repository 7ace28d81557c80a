//! `codex-plus agents validate`: a checklist per agent file, then a summary line.
//!
//! ```text
//! .claude/agents/code-reviewer.md
//!   ✓ YAML frontmatter valid
//!   ✓ name: code-reviewer
//!   ✓ description present
//!   ✓ tools: Read, Grep
//!   ✗ line 4: Invalid tool specified: 'Serch' (valid tools: ...)
//! ```

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use super::agents::{AgentDef, AgentFileError};
use super::diagnostic::{Diagnostic, Severity};
use super::discovery::{markdown_files, normalize, source_dirs, Roots, Source};
use super::frontmatter::{Frontmatter, Presence};
use super::tools_spec::ToolSpec;

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    /// `✓`
    Pass,
    /// `i`
    Info,
    /// `!`
    Warn,
    /// `✗`
    Fail,
}

impl Mark {
    fn symbol(self) -> &'static str {
        match self {
            Mark::Pass => "✓",
            Mark::Info => "i",
            Mark::Warn => "!",
            Mark::Fail => "✗",
        }
    }

    fn of(severity: Severity) -> Mark {
        match severity {
            Severity::Info => Mark::Info,
            Severity::Warning => Mark::Warn,
            Severity::Error => Mark::Fail,
        }
    }
}

/// One line of a file's checklist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub mark: Mark,
    pub text: String,
}

/// The checklist of one agent file.
#[derive(Debug, Clone, PartialEq)]
pub struct FileReport {
    pub path: PathBuf,
    /// The path as shown: relative to the workspace or `~` when inside them.
    pub shown: String,
    /// The agent's name when the file is an agent.
    pub name: Option<String>,
    pub checks: Vec<Check>,
}

impl FileReport {
    /// No check failed.
    pub fn is_ok(&self) -> bool {
        self.checks.iter().all(|c| c.mark != Mark::Fail)
    }
}

/// All files checked, plus findings that concern no single file.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ValidationReport {
    pub files: Vec<FileReport>,
    pub notes: Vec<Check>,
}

impl ValidationReport {
    /// False when any agent is broken (invalid tool, missing name or description,
    /// unreadable frontmatter lines, no frontmatter) or a given path does not exist.
    pub fn is_ok(&self) -> bool {
        self.files.iter().all(FileReport::is_ok) && self.notes.iter().all(|c| c.mark != Mark::Fail)
    }

    /// The report as printed.
    pub fn render(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for ValidationReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for file in &self.files {
            writeln!(f, "{}", file.shown)?;
            for check in &file.checks {
                writeln!(
                    f,
                    "  {} {}",
                    check.mark.symbol(),
                    indent_continuation(&check.text)
                )?;
            }
            writeln!(f)?;
        }
        for note in &self.notes {
            writeln!(f, "{} {}", note.mark.symbol(), note.text)?;
        }
        let valid = self.files.iter().filter(|r| r.is_ok()).count();
        let broken = self.files.len() - valid;
        let warnings = self
            .files
            .iter()
            .flat_map(|r| &r.checks)
            .chain(&self.notes)
            .filter(|c| c.mark == Mark::Warn)
            .count();
        let files = match self.files.len() {
            1 => "1 agent file".to_string(),
            n => format!("{n} agent files"),
        };
        write!(
            f,
            "{files} checked: {valid} valid, {broken} with errors, {warnings} warning"
        )?;
        if warnings != 1 {
            write!(f, "s")?;
        }
        writeln!(f)
    }
}

fn indent_continuation(text: &str) -> String {
    text.replace('\n', "\n    ")
}

/// Checks the agent files at `paths` (files or directories, relative to `workspace`);
/// with no paths, every agent directory visible from `workspace`.
pub fn validate(paths: &[PathBuf], workspace: &Path, roots: &Roots) -> ValidationReport {
    let mut report = ValidationReport::default();
    // (file, the directory it was found under): duplicate names clash within one.
    let mut files: Vec<(PathBuf, PathBuf)> = Vec::new();
    if paths.is_empty() {
        let dirs: Vec<PathBuf> = source_dirs(workspace, roots, "agents")
            .into_iter()
            .map(|d| d.dir)
            .filter(|d| d.is_dir())
            .collect();
        if dirs.is_empty() {
            report.notes.push(Check {
                mark: Mark::Info,
                text: format!(
                    "no agent directories found from {}; create .claude/agents/<name>.md",
                    workspace.display()
                ),
            });
        }
        for dir in dirs {
            collect(&dir, &mut files, &mut report);
        }
    } else {
        for path in paths {
            let full = normalize(&workspace.join(path));
            if full.is_dir() {
                collect(&full, &mut files, &mut report);
            } else if full.is_file() {
                let root = full.parent().map(Path::to_path_buf).unwrap_or_default();
                files.push((full, root));
            } else {
                report.notes.push(Check {
                    mark: Mark::Fail,
                    text: format!("{}: no such file or directory", path.display()),
                });
            }
        }
    }

    let mut seen: HashMap<(PathBuf, String), String> = HashMap::new();
    let servers = workspace_mcp_servers(workspace, roots);
    for (path, root) in files {
        let shown = shown_path(&path, workspace, roots);
        let mut file = match std::fs::read_to_string(&path) {
            Ok(text) => {
                let mut file = check_text(&text, &path, shown);
                file.checks.extend(mcp_checks(&text, &path, &servers));
                file
            }
            Err(e) => FileReport {
                path: path.clone(),
                shown,
                name: None,
                checks: vec![Check {
                    mark: Mark::Fail,
                    text: AgentFileError::Read {
                        path: path.clone(),
                        source: e,
                    }
                    .message(),
                }],
            },
        };
        if let Some(name) = &file.name {
            match seen.get(&(root.clone(), name.clone())) {
                Some(first) => file.checks.push(Check {
                    mark: Mark::Warn,
                    text: format!("the name `{name}` is also used by {first}, which wins (first by path); rename one"),
                }),
                None => {
                    seen.insert((root, name.clone()), file.shown.clone());
                }
            }
        }
        report.files.push(file);
    }
    report
}

fn collect(dir: &Path, files: &mut Vec<(PathBuf, PathBuf)>, report: &mut ValidationReport) {
    let (found, problems) = markdown_files(dir);
    files.extend(found.into_iter().map(|f| (f, dir.to_path_buf())));
    report.notes.extend(problems.into_iter().map(|d| Check {
        mark: Mark::of(d.severity),
        text: d.to_string(),
    }));
}

/// The checklist for one agent file's text. Pure.
pub fn check_text(text: &str, path: &Path, shown: String) -> FileReport {
    let fm = Frontmatter::parse(text);
    let mut checks = Vec::new();
    let mut name = None;
    let worst = fm.diagnostics.iter().map(|d| d.severity).max();
    match fm.presence {
        Presence::Present { .. } => checks.push(match worst {
            None | Some(Severity::Info) => pass("YAML frontmatter valid"),
            Some(Severity::Warning) => Check {
                mark: Mark::Warn,
                text: "YAML frontmatter is not strict YAML; recovered field by field (see below)"
                    .to_string(),
            },
            Some(Severity::Error) => Check {
                mark: Mark::Fail,
                text: "YAML frontmatter has lines that could not be read (see below)".to_string(),
            },
        }),
        Presence::Missing | Presence::Unclosed { .. } => {}
    }

    let source = Source::Project {
        dir: path.parent().map(Path::to_path_buf).unwrap_or_default(),
    };
    match AgentDef::from_frontmatter(&fm, Some(path), source) {
        Ok(agent) => {
            checks.push(pass(&format!("name: {}", agent.name)));
            checks.push(pass("description present"));
            checks.push(pass(&format!("tools: {}", tools_as_read(&agent))));
            if let Some(model) = &agent.model {
                checks.push(pass(&format!("model: {model}")));
            }
            checks.extend(agent.diagnostics.iter().map(check_of));
            name = Some(agent.name);
        }
        Err(e @ AgentFileError::MissingFields { .. }) => {
            for key in ["name", "description"] {
                let present = fm
                    .get(key)
                    .and_then(|f| f.as_text(key).0)
                    .is_some_and(|t| !t.trim().is_empty());
                if present {
                    checks.push(pass(&format!("{key} present")));
                }
            }
            checks.extend(fm.diagnostics.iter().map(check_of));
            checks.push(Check {
                mark: Mark::Fail,
                text: e.message(),
            });
        }
        Err(e) => {
            checks.push(Check {
                mark: Mark::Fail,
                text: e.to_diagnostic().describe(),
            });
        }
    }
    // A broken file shows no ✓: what was read from it is only what could be.
    if checks.iter().any(|c| c.mark == Mark::Fail) {
        for c in &mut checks {
            if c.mark == Mark::Pass {
                c.mark = Mark::Info;
                c.text = format!("{} (as far as it could be read)", c.text);
            }
        }
    }
    FileReport {
        path: path.to_path_buf(),
        shown,
        name,
        checks,
    }
}

fn pass(text: &str) -> Check {
    Check {
        mark: Mark::Pass,
        text: text.to_string(),
    }
}

fn check_of(d: &Diagnostic) -> Check {
    Check {
        mark: Mark::of(d.severity),
        text: d.describe(),
    }
}

/// The MCP servers the engine would give this workspace's subagents.
fn workspace_mcp_servers(workspace: &Path, roots: &Roots) -> crate::engine::mcp::McpConfig {
    use crate::engine::mcp::config::{load, Locations};
    let at = Locations {
        roots: roots.clone(),
        codex_home: std::env::var_os("CODEX_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| roots.home.as_ref().map(|h| h.join(".codex"))),
    };
    load(workspace, &at, &|name| std::env::var(name).ok())
}

/// An agent's MCP names that no configured server (nor its own `mcpServers`) defines:
/// the agent runs without those tools, so say so here rather than at its first run.
fn mcp_checks(text: &str, path: &Path, servers: &crate::engine::mcp::McpConfig) -> Vec<Check> {
    use crate::engine::mcp::{adapter, config};
    let source = Source::Project {
        dir: path.parent().map(Path::to_path_buf).unwrap_or_default(),
    };
    let Ok(agent) = AgentDef::parse(text, Some(path), source) else {
        return Vec::new();
    };
    let env = |name: &str| std::env::var(name).ok();
    let mut all = servers.clone();
    let mut checks = Vec::new();
    if let Some(raw) = &agent.mcp_servers {
        let (own, unknown) = config::agent_servers(raw, path, servers, &env);
        for name in unknown {
            checks.push(Check {
                mark: Mark::Warn,
                text: format!("mcpServers: `{name}` is not an MCP server this workspace configures{}; define it inline or in .mcp.json", configured(servers)),
            });
        }
        checks.extend(own.errors.iter().map(|e| Check {
            mark: Mark::Fail,
            text: e.to_string(),
        }));
        all.merge(own);
    }
    for entry in agent.tools.entries() {
        let Some(server) = adapter::server_of(&entry.name) else {
            continue;
        };
        if !all.servers.keys().any(|n| adapter::normalize(n) == server) {
            checks.push(Check {
                mark: Mark::Warn,
                text: format!(
                    "tools: `{}` names MCP server `{server}`, which this workspace does not configure{}; the agent runs without it",
                    entry.name,
                    configured(&all)
                ),
            });
        }
    }
    checks
}

fn configured(servers: &crate::engine::mcp::McpConfig) -> String {
    if servers.servers.is_empty() {
        " (it configures none)".to_string()
    } else {
        let names: Vec<&str> = servers.servers.keys().map(String::as_str).collect();
        format!(" (configured: {})", names.join(", "))
    }
}

/// The tools as the file declares them (MCP names and patterns included).
fn tools_as_read(agent: &AgentDef) -> String {
    let entries = |spec: &ToolSpec| {
        spec.entries()
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let tools = match &agent.tools {
        ToolSpec::List(list) if list.is_empty() => "None".to_string(),
        ToolSpec::List(_) => entries(&agent.tools),
        ToolSpec::None => "None".to_string(),
        ToolSpec::All => "All tools".to_string(),
    };
    match &agent.disallowed_tools {
        ToolSpec::None => tools,
        ToolSpec::All => format!("{tools} (all disallowed)"),
        disallowed => format!("{tools} except {}", entries(disallowed)),
    }
}

fn shown_path(path: &Path, workspace: &Path, roots: &Roots) -> String {
    if let Ok(rel) = path.strip_prefix(normalize(workspace)) {
        return rel.display().to_string();
    }
    if let Some(rel) = roots.home.as_ref().and_then(|h| path.strip_prefix(h).ok()) {
        return format!("~/{}", rel.display());
    }
    path.display().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str) -> FileReport {
        check_text(
            text,
            Path::new("/ws/.claude/agents/a.md"),
            ".claude/agents/a.md".to_string(),
        )
    }

    fn lines(report: &FileReport) -> Vec<String> {
        report
            .checks
            .iter()
            .map(|c| format!("{} {}", c.mark.symbol(), c.text))
            .collect()
    }

    #[test]
    fn valid_agent_is_all_ticks() {
        let r = check("---\nname: code-reviewer\ndescription: Reviews\ntools: Read, Grep, Glob\nmodel: sonnet\n---\nBody");
        assert_eq!(
            lines(&r),
            [
                "✓ YAML frontmatter valid",
                "✓ name: code-reviewer",
                "✓ description present",
                "✓ tools: Read, Grep, Glob",
                "✓ model: sonnet"
            ]
        );
        assert!(r.is_ok());
    }

    #[test]
    fn invalid_tool_and_recovered_yaml() {
        let r = check("---\nname: code-reviewer\ndescription: Use when: reviewing\ntools: Read, Serch\n---\nBody");
        assert_eq!(
            lines(&r),
            [
                "! YAML frontmatter is not strict YAML; recovered field by field (see below)",
                "i name: code-reviewer (as far as it could be read)",
                "i description present (as far as it could be read)",
                "i tools: Read (as far as it could be read)",
                "! line 3: value contains ': '; recovered as text; quote it: description: \"Use when: reviewing\"",
                "✗ line 4: Invalid tool specified: 'Serch' (valid tools: Read, Write, Edit, NotebookEdit, Glob, Grep, Bash, WebFetch, WebSearch, TodoWrite, Agent); fix the spelling or remove it from `tools`; the agent runs without it",
            ]
        );
        assert!(!r.is_ok());
    }

    #[test]
    fn missing_description_and_no_frontmatter_fail() {
        let r = check("---\nname: x\n---\nBody");
        assert_eq!(
            lines(&r),
            [
                "i YAML frontmatter valid (as far as it could be read)",
                "i name present (as far as it could be read)",
                "✗ not an agent: the frontmatter has no `description`; add `description: When to use this agent`"
            ]
        );
        assert!(!r.is_ok());
        let r = check("Just a prompt");
        assert_eq!(r.checks.len(), 1);
        assert!(r.checks[0].text.starts_with("no YAML frontmatter"));
        assert!(!r.is_ok());
    }

    #[test]
    fn unreadable_line_fails_even_though_the_agent_loads() {
        let r = check("---\n  - stray\nname: x\ndescription: y\n---\nBody");
        assert_eq!(r.checks[0].mark, Mark::Fail);
        assert!(!r.is_ok());
        // A broken file is never shown with a ✓, not even for what could be read.
        let r = check("---\nname: x\ndescription: y\ntools: [Read, Grep\n  oops: [\n---\nBody");
        assert!(!r.is_ok());
        let text = lines(&r).join("\n");
        assert!(!text.contains('✓'), "{text}");
        assert!(text.contains("i tools: "), "{text}");
    }

    #[test]
    fn tools_as_read_shows_mcp_patterns_and_exclusions() {
        let r = check("---\nname: x\ndescription: y\ntools: Read, mcp__gh__issue, Agent(a, b)\ndisallowedTools: Read\n---\nB");
        assert!(lines(&r)
            .contains(&"✓ tools: Read, mcp__gh__issue, Agent(a, b) except Read".to_string()));
        let r = check("---\nname: x\ndescription: y\ntools:\n---\nB");
        assert!(lines(&r).contains(&"✓ tools: None".to_string()));
    }

    #[test]
    fn summary_and_exit_status() {
        let good = check("---\nname: a\ndescription: b\n---\nB");
        let bad = check("B");
        let report = ValidationReport {
            files: vec![good.clone(), bad],
            notes: vec![],
        };
        let text = report.render();
        assert!(text.starts_with(".claude/agents/a.md\n  ✓ YAML frontmatter valid\n"));
        assert!(
            text.ends_with("2 agent files checked: 1 valid, 1 with errors, 0 warnings\n"),
            "{text}"
        );
        assert!(!report.is_ok());
        let single = ValidationReport {
            files: vec![good],
            notes: vec![],
        };
        assert!(single.is_ok());
        assert!(single
            .render()
            .ends_with("1 agent file checked: 1 valid, 0 with errors, 0 warnings\n"));
    }

    #[test]
    fn validate_walks_default_dirs_and_flags_duplicates_and_missing_paths() -> std::io::Result<()> {
        let tmp = tempfile::tempdir()?;
        let ws = tmp.path().join("ws");
        let home = tmp.path().join("home");
        let dir = ws.join(".claude/agents");
        std::fs::create_dir_all(&dir)?;
        std::fs::create_dir_all(home.join(".claude/agents"))?;
        std::fs::write(dir.join("a.md"), "---\nname: dup\ndescription: d\n---\nB")?;
        std::fs::write(dir.join("b.md"), "---\nname: dup\ndescription: d\n---\nB")?;
        std::fs::write(
            home.join(".claude/agents/u.md"),
            "---\nname: dup\ndescription: d\n---\nB",
        )?;
        let roots = Roots::with_home(&home);
        let report = validate(&[], &ws, &roots);
        let shown: Vec<&str> = report.files.iter().map(|f| f.shown.as_str()).collect();
        assert_eq!(
            shown,
            [
                ".claude/agents/a.md",
                ".claude/agents/b.md",
                "~/.claude/agents/u.md"
            ]
        );
        let warns: Vec<&Check> = report
            .files
            .iter()
            .flat_map(|f| &f.checks)
            .filter(|c| c.mark == Mark::Warn)
            .collect();
        assert_eq!(
            warns.len(),
            1,
            "only b.md clashes: the user file is another level"
        );
        assert!(warns[0].text.contains(".claude/agents/a.md"));
        assert!(report.is_ok());

        let report = validate(
            &[
                PathBuf::from(".claude/agents/a.md"),
                PathBuf::from("nope.md"),
            ],
            &ws,
            &roots,
        );
        assert_eq!(report.files.len(), 1);
        assert!(!report.is_ok());
        assert!(report
            .render()
            .contains("✗ nope.md: no such file or directory"));
        Ok(())
    }

    #[test]
    fn tool_patterns_are_shown_and_malformed_ones_fail() {
        let r =
            check("---\nname: differ\ndescription: Diffs\ntools: Read, Bash(git diff:*)\n---\nB");
        assert!(
            lines(&r).contains(&"✓ tools: Read, Bash(git diff:*)".to_string()),
            "{:?}",
            lines(&r)
        );
        assert!(r.is_ok());
        let r = check("---\nname: differ\ndescription: Diffs\ntools: Read, Bash(\n---\nB");
        let shown = lines(&r);
        assert!(
            shown.contains(&"i tools: Read (as far as it could be read)".to_string()),
            "{shown:?}"
        );
        assert!(
            shown.iter().any(|l| l.starts_with(
                "✗ line 4: Malformed tool pattern `Bash(` in `tools`: the parenthesis is never closed"
            )),
            "{shown:?}"
        );
        assert!(!r.is_ok());
    }
}
