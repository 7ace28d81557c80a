//! `codex-plus init [--user]`: copies the agents and commands this repository ships
//! into a project (`.claude/agents/`, `.codexplus/commands/`) or the user's
//! directories (`~/.claude/agents/`, `~/.codexplus/commands/`), so `/consensus`,
//! `/review`, `/goal` and the agents they call work there. An existing file is never
//! overwritten: a team's own version of a name wins.
//!
//! Why copies rather than built-ins: every built-in agent is listed in the Task
//! tool's description on every request of every user, whether wanted or not; copies
//! are the user's choice, visible and editable like any Claude Code file.

use std::path::{Path, PathBuf};

use super::CliError;

/// The shipped agent templates, by file name.
pub const AGENTS: [(&str, &str); 7] = [
    (
        "code-reviewer.md",
        include_str!("../../.claude/agents/code-reviewer.md"),
    ),
    (
        "debugger.md",
        include_str!("../../.claude/agents/debugger.md"),
    ),
    (
        "documentation-writer.md",
        include_str!("../../.claude/agents/documentation-writer.md"),
    ),
    (
        "performance-optimizer.md",
        include_str!("../../.claude/agents/performance-optimizer.md"),
    ),
    (
        "refactoring-agent.md",
        include_str!("../../.claude/agents/refactoring-agent.md"),
    ),
    (
        "security-auditor.md",
        include_str!("../../.claude/agents/security-auditor.md"),
    ),
    (
        "test-runner.md",
        include_str!("../../.claude/agents/test-runner.md"),
    ),
];

/// The shipped commands, by file name.
pub const COMMANDS: [(&str, &str); 5] = [
    (
        "consensus.md",
        include_str!("../../.codexplus/commands/consensus.md"),
    ),
    (
        "explain.md",
        include_str!("../../.codexplus/commands/explain.md"),
    ),
    ("goal.md", include_str!("../../.codexplus/commands/goal.md")),
    (
        "review.md",
        include_str!("../../.codexplus/commands/review.md"),
    ),
    ("test.md", include_str!("../../.codexplus/commands/test.md")),
];

/// What became of one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placed {
    Written(PathBuf),
    /// There already: left as it is.
    Kept(PathBuf),
}

/// Writes the shipped files under `agents_dir` and `commands_dir`, keeping any
/// that exist.
pub fn init(agents_dir: &Path, commands_dir: &Path) -> Result<Vec<Placed>, CliError> {
    let mut placed = Vec::new();
    for (dir, files) in [(agents_dir, &AGENTS[..]), (commands_dir, &COMMANDS[..])] {
        std::fs::create_dir_all(dir)
            .map_err(|e| CliError::Other(format!("cannot create {}: {e}", dir.display())))?;
        for (name, text) in files {
            let path = dir.join(name);
            // create_new: an existing file (or one made meanwhile) is never replaced.
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(mut file) => {
                    use std::io::Write;
                    file.write_all(text.as_bytes()).map_err(|e| {
                        CliError::Other(format!("cannot write {}: {e}", path.display()))
                    })?;
                    placed.push(Placed::Written(path));
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    placed.push(Placed::Kept(path))
                }
                Err(e) => {
                    return Err(CliError::Other(format!(
                        "cannot write {}: {e}",
                        path.display()
                    )))
                }
            }
        }
    }
    Ok(placed)
}

/// The report `init` prints.
pub fn report(placed: &[Placed]) -> String {
    let mut out = String::new();
    for p in placed {
        match p {
            Placed::Written(path) => out.push_str(&format!("wrote {}\n", path.display())),
            Placed::Kept(path) => {
                out.push_str(&format!("kept  {} (already there)\n", path.display()))
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::claude::{AgentSet, CommandSet, Roots};

    #[test]
    fn the_shipped_files_land_once_and_an_existing_one_is_kept() {
        let tmp = tempfile::tempdir().unwrap();
        let ws = tmp.path().join("project");
        let (agents, commands) = (ws.join(".claude/agents"), ws.join(".codexplus/commands"));
        std::fs::create_dir_all(&agents).unwrap();
        std::fs::write(agents.join("code-reviewer.md"), "ours").unwrap();

        let placed = init(&agents, &commands).unwrap();
        assert_eq!(placed.len(), 12);
        assert_eq!(placed[0], Placed::Kept(agents.join("code-reviewer.md")));
        assert_eq!(
            std::fs::read_to_string(agents.join("code-reviewer.md")).unwrap(),
            "ours"
        );
        assert!(placed[1..].iter().all(|p| matches!(p, Placed::Written(_))));
        let again = init(&agents, &commands).unwrap();
        assert!(again.iter().all(|p| matches!(p, Placed::Kept(_))));
        assert!(report(&again).starts_with("kept  "));

        // What landed is what a workspace then sees, without problems.
        let home = tmp.path().join("home");
        let roots = Roots::with_home(&home);
        let set = CommandSet::load(&ws, &roots);
        for name in ["consensus", "explain", "goal", "review", "test"] {
            assert!(set.invocable(name).is_some(), "/{name}");
        }
        std::fs::remove_file(agents.join("code-reviewer.md")).unwrap();
        init(&agents, &commands).unwrap();
        let agents = AgentSet::load(&ws, &roots);
        for name in [
            "code-reviewer",
            "security-auditor",
            "performance-optimizer",
            "test-runner",
        ] {
            assert!(agents.get(name).is_some(), "{name}");
        }
        assert!(
            agents.diagnostics().is_empty(),
            "{:?}",
            agents.diagnostics()
        );
    }
}
