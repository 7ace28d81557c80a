//! The agents of one workspace after precedence: project over user over built-in,
//! deeper directories over ancestors, `.codexplus` over `.claude`.

use std::path::{Path, PathBuf};

use super::agents::AgentDef;
use super::builtin_agents::builtin_agents;
use serde_json::Value;

use super::diagnostic::{Diagnostic, Severity};
use super::discovery::{markdown_files, resolve, source_dirs, Candidate, Roots};

/// The resolved agents for one workspace, with every file's diagnostics.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentSet {
    agents: Vec<AgentDef>,
    diagnostics: Vec<Diagnostic>,
}

impl AgentSet {
    /// Discovers and reads the agents visible from `workspace`.
    pub fn load(workspace: &Path, roots: &Roots) -> Self {
        let mut candidates = Vec::new();
        let mut diagnostics = Vec::new();
        for source_dir in source_dirs(workspace, roots, "agents") {
            let (files, walk_diagnostics) = markdown_files(&source_dir.dir);
            diagnostics.extend(walk_diagnostics);
            for path in files {
                match AgentDef::load(&path, source_dir.source.clone()) {
                    Ok(agent) => {
                        diagnostics.extend(agent.diagnostics.iter().cloned());
                        candidates.push(Candidate {
                            name: agent.name.clone(),
                            rank: source_dir.rank,
                            path,
                            item: agent,
                        });
                    }
                    Err(e) => diagnostics.push(e.to_diagnostic()),
                }
            }
        }
        Self::resolve(candidates, diagnostics)
    }

    /// The set made of `agents` (highest precedence first) over the built-ins.
    pub fn from_agents(agents: Vec<AgentDef>) -> Self {
        let candidates = agents
            .into_iter()
            .enumerate()
            .map(|(rank, agent)| Candidate {
                name: agent.name.clone(),
                rank,
                path: agent.path.clone().unwrap_or_default(),
                item: agent,
            })
            .collect();
        Self::resolve(candidates, Vec::new())
    }

    fn resolve(mut candidates: Vec<Candidate<AgentDef>>, mut diagnostics: Vec<Diagnostic>) -> Self {
        for agent in builtin_agents() {
            candidates.push(Candidate {
                name: agent.name.clone(),
                rank: usize::MAX,
                path: PathBuf::from(format!("<builtin {}>", agent.name)),
                item: agent,
            });
        }
        let (chosen, clashes) = resolve(candidates, "agent");
        // Overriding a built-in is the point of a project agent; no note for that.
        diagnostics.extend(
            clashes
                .into_iter()
                .filter(|d| !d.path.as_ref().is_some_and(|p| p.starts_with("<builtin"))),
        );
        let builtin_names: Vec<String> = builtin_agents().into_iter().map(|a| a.name).collect();
        let mut agents: Vec<AgentDef> = chosen.into_values().map(|c| c.item).collect();
        agents.sort_by_key(|a| (!builtin_names.contains(&a.name), a.name.to_lowercase()));
        Self {
            agents,
            diagnostics,
        }
    }

    /// The agent named `name`: exact match first, then ignoring ASCII case.
    pub fn get(&self, name: &str) -> Option<&AgentDef> {
        self.agents.iter().find(|a| a.name == name).or_else(|| {
            self.agents
                .iter()
                .find(|a| a.name.eq_ignore_ascii_case(name))
        })
    }

    /// All agents: built-ins (and what overrides them) first, then by name.
    pub fn agents(&self) -> &[AgentDef] {
        &self.agents
    }

    /// The agent names, in listing order.
    pub fn names(&self) -> Vec<&str> {
        self.agents.iter().map(|a| a.name.as_str()).collect()
    }

    /// Everything noticed while loading: per-file problems, unreadable files,
    /// duplicate names.
    pub fn diagnostics(&self) -> &[Diagnostic] {
        &self.diagnostics
    }

    /// The diagnostics of one file.
    pub fn diagnostics_for(&self, path: &Path) -> Vec<&Diagnostic> {
        self.diagnostics
            .iter()
            .filter(|d| d.path.as_deref() == Some(path))
            .collect()
    }

    /// One line per agent for the Task tool's description:
    /// `- name: description (Tools: All tools | A, B | All tools except A, B)`.
    pub fn task_tool_description_lines(&self) -> Vec<String> {
        self.agents
            .iter()
            .map(|a| {
                format!(
                    "- {}: {} (Tools: {})",
                    a.name,
                    a.description,
                    a.tools_summary()
                )
            })
            .collect()
    }
}

/// What `codex-plus agents list` prints: a table of name, source, model and tools
/// (then any problems), or with `json` an object `{"agents": [...], "diagnostics": [...]}`.
pub fn agents_list(set: &AgentSet, json: bool) -> String {
    let problems: Vec<&Diagnostic> = set
        .diagnostics
        .iter()
        .filter(|d| d.severity != Severity::Info)
        .collect();
    if json {
        let agents: Vec<Value> = set
            .agents
            .iter()
            .map(|a| {
                serde_json::json!({
                    "name": a.name,
                    "description": a.description,
                    "source": a.source.kind(),
                    "path": a.path,
                    "model": a.model,
                    // As the agent may use them: `Bash(git diff:*)`, not `Bash`.
                    "tools": a
                        .effective_tool_entries()
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>(),
                    "tools_summary": a.tools_summary(),
                    "allowed_subagent_types": a.allowed_subagent_types,
                })
            })
            .collect();
        let value = serde_json::json!({ "agents": agents, "diagnostics": problems });
        return serde_json::to_string_pretty(&value).unwrap_or_else(|_| value.to_string()) + "\n";
    }
    let rows: Vec<[String; 5]> = set
        .agents
        .iter()
        .map(|a| {
            [
                a.name.clone(),
                a.source.kind().to_string(),
                a.model.clone().unwrap_or_else(|| "inherit".to_string()),
                a.tools_summary(),
                a.path
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
            ]
        })
        .collect();
    let header = ["NAME", "SOURCE", "MODEL", "TOOLS", "PATH"].map(str::to_string);
    let mut widths = [0usize; 5];
    for row in std::iter::once(&header).chain(&rows) {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(&header).chain(&rows) {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<width$}  ", width = widths[i]));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    if !problems.is_empty() {
        out.push_str("\nProblems:\n");
        for d in problems {
            out.push_str(&format!("  {}\n", d.to_string().replace('\n', "\n    ")));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::claude::discovery::Source;
    use std::fs;

    fn write(path: &Path, text: &str) -> std::io::Result<()> {
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir)?;
        }
        fs::write(path, text)
    }

    fn agent(name: &str, description: &str) -> String {
        format!("---\nname: {name}\ndescription: {description}\ntools: Read\n---\nprompt for {description}\n")
    }

    #[test]
    fn precedence_project_over_user_over_builtin_deeper_over_ancestor() -> std::io::Result<()> {
        let tmp = tempfile::tempdir()?;
        let home = tmp.path().join("home");
        let root = tmp.path().join("repo");
        let ws = root.join("pkg");
        write(
            &home.join(".claude/agents/reviewer.md"),
            &agent("reviewer", "user"),
        )?;
        write(
            &home.join(".claude/agents/only-user.md"),
            &agent("only-user", "user"),
        )?;
        write(
            &root.join(".claude/agents/reviewer.md"),
            &agent("reviewer", "ancestor"),
        )?;
        write(
            &root.join(".claude/agents/shared.md"),
            &agent("shared", "ancestor"),
        )?;
        write(
            &ws.join(".claude/agents/nested/x.md"),
            &agent("shared", "workspace claude"),
        )?;
        write(
            &ws.join(".codexplus/agents/shared.md"),
            &agent("shared", "workspace codexplus"),
        )?;
        write(
            &ws.join(".claude/agents/gp.md"),
            &agent("general-purpose", "project gp"),
        )?;

        let set = AgentSet::load(&ws, &Roots::with_home(&home));
        let desc = |n: &str| {
            set.get(n)
                .map(|a| a.description.clone())
                .unwrap_or_default()
        };
        assert_eq!(desc("reviewer"), "ancestor");
        assert_eq!(desc("only-user"), "user");
        assert_eq!(desc("shared"), "workspace codexplus");
        assert_eq!(desc("general-purpose"), "project gp");
        assert!(desc("Explore").starts_with("Fast read-only"));
        assert!(matches!(
            set.get("only-user").map(|a| &a.source),
            Some(Source::User { .. })
        ));
        assert!(matches!(
            set.get("shared").map(|a| &a.source),
            Some(Source::Project { .. })
        ));
        assert_eq!(
            set.names(),
            [
                "Explore",
                "general-purpose",
                "Plan",
                "only-user",
                "reviewer",
                "shared"
            ]
        );
        // Shadowed definitions are noted, not warned about.
        assert!(set
            .diagnostics()
            .iter()
            .all(|d| d.severity == Severity::Info));
        Ok(())
    }

    #[test]
    fn duplicate_names_in_one_directory_name_both_files_and_others_still_load(
    ) -> std::io::Result<()> {
        let tmp = tempfile::tempdir()?;
        let ws = tmp.path().join("ws");
        let dir = ws.join(".claude/agents");
        write(&dir.join("b.md"), &agent("dup", "second"))?;
        write(&dir.join("a.md"), &agent("dup", "first"))?;
        write(&dir.join("c.md"), &agent("other", "fine"))?;
        write(&dir.join("broken.md"), "no frontmatter here")?;
        let set = AgentSet::load(&ws, &Roots::with_home(tmp.path().join("home")));
        assert_eq!(
            set.get("dup").map(|a| a.description.as_str()),
            Some("first")
        );
        assert!(set.get("other").is_some());
        let warning = set
            .diagnostics()
            .iter()
            .find(|d| d.severity == Severity::Warning)
            .map(|d| d.message.clone())
            .unwrap_or_default();
        assert!(
            warning.contains("a.md") && warning.contains("b.md"),
            "{warning}"
        );
        let broken = set.diagnostics_for(&dir.join("broken.md"));
        assert_eq!(broken.len(), 1);
        assert_eq!(broken[0].severity, Severity::Error);
        Ok(())
    }

    #[test]
    fn lookup_is_exact_first_then_case_insensitive() {
        let mk = |name: &str| AgentDef::parse(&agent(name, name), None, Source::Builtin);
        let agents: Vec<AgentDef> = [mk("Helper"), mk("helper")].into_iter().flatten().collect();
        let set = AgentSet::from_agents(agents);
        assert_eq!(set.get("helper").map(|a| a.name.as_str()), Some("helper"));
        assert_eq!(set.get("HELPER").map(|a| a.name.as_str()), Some("Helper"));
        assert_eq!(set.get("explore").map(|a| a.name.as_str()), Some("Explore"));
        assert!(set.get("nobody").is_none());
    }

    #[test]
    fn task_tool_lines_follow_claude_code_format() {
        let set = AgentSet::from_agents(vec![]);
        let lines = set.task_tool_description_lines();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with("- Explore: Fast read-only agent"));
        assert!(lines[0].ends_with("(Tools: All tools except Agent, Edit, Write, NotebookEdit)"));
        assert!(lines[1].starts_with("- general-purpose: "));
        assert!(lines[1].ends_with("(Tools: All tools)"));
    }

    #[test]
    fn agents_list_text_and_json() -> std::io::Result<()> {
        let tmp = tempfile::tempdir()?;
        let ws = tmp.path().join("ws");
        let dir = ws.join(".claude/agents");
        write(
            &dir.join("r.md"),
            "---\nname: reviewer\ndescription: Reviews\ntools: Read, Grep\nmodel: sonnet\n---\nx",
        )?;
        write(&dir.join("bad.md"), "---\nname: bad\n---\nx")?;
        let set = AgentSet::load(&ws, &Roots::with_home(tmp.path().join("home")));
        let text = agents_list(&set, false);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("NAME") && lines[0].ends_with("PATH"));
        assert!(
            lines[1].starts_with(
                "Explore          builtin  inherit  All tools except Agent, Edit, Write, NotebookEdit"
            ),
            "{text}"
        );
        let reviewer = lines
            .iter()
            .find(|l| l.starts_with("reviewer"))
            .copied()
            .unwrap_or("");
        assert!(
            reviewer.contains("project  sonnet   Read, Grep"),
            "{reviewer}"
        );
        assert!(reviewer.ends_with("r.md"));
        assert!(text.contains("Problems:\n"));
        assert!(text.contains("bad.md: not an agent: the frontmatter has no `description`"));

        let json: Value = serde_json::from_str(&agents_list(&set, true)).unwrap_or_default();
        let names: Vec<&str> = json["agents"]
            .as_array()
            .map(|a| a.iter().filter_map(|x| x["name"].as_str()).collect())
            .unwrap_or_default();
        assert_eq!(names, ["Explore", "general-purpose", "Plan", "reviewer"]);
        assert_eq!(
            json["agents"][3]["tools"],
            serde_json::json!(["Read", "Grep"])
        );
        assert_eq!(json["agents"][3]["source"], "project");
        assert_eq!(json["diagnostics"][0]["severity"], "error");
        Ok(())
    }
}
