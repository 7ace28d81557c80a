//! An agent's persistent memory (`memory: user | project | local`), as Claude Code
//! has it: a directory of its own, `MEMORY.md` there read into its system prompt at
//! start (the first 200 lines), and Read, Write and Edit to keep it.
//!
//! - `user`: `~/.claude/agent-memory/<name>/`, across projects;
//! - `project`: `<workspace>/.claude/agent-memory/<name>/`, shared through git;
//! - `local`: `<workspace>/.claude/agent-memory-local/<name>/`, the user's own.
//!
//! The directory is one more root for the agent's file tools, only when the session
//! may write at all; Bash's OS sandbox is not widened for it.

use std::path::{Path, PathBuf};

use crate::claude::Roots;

/// Lines of `MEMORY.md` put into the system prompt.
pub const PROMPT_LINES: usize = 200;

/// The scopes there are.
pub const SCOPES: [&str; 3] = ["user", "project", "local"];

/// The memory directory of agent `name` for `scope`, or why there is none.
pub fn dir(scope: &str, name: &str, workspace: &Path, roots: &Roots) -> Result<PathBuf, String> {
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    match scope.trim() {
        "user" => roots
            .claude_dir()
            .map(|d| d.join("agent-memory").join(&safe))
            .ok_or_else(|| "no home directory for `memory: user`".to_string()),
        "project" => Ok(workspace.join(".claude/agent-memory").join(&safe)),
        "local" => Ok(workspace.join(".claude/agent-memory-local").join(&safe)),
        other => Err(format!(
            "unknown `memory` `{other}`; use user, project or local"
        )),
    }
}

/// The system prompt's memory section: where the memory is, how to keep it, and
/// the start of `MEMORY.md`.
pub fn prompt(dir: &Path, writable: bool) -> String {
    let text = std::fs::read_to_string(dir.join("MEMORY.md")).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let shown = lines
        .iter()
        .take(PROMPT_LINES)
        .copied()
        .collect::<Vec<_>>()
        .join("\n");
    let cut = lines.len().saturating_sub(PROMPT_LINES);
    let keep = if writable {
        "Keep it: when you learn something worth knowing next time (conventions, decisions, \
         recurring problems, where things are), write it to MEMORY.md there with Write or Edit. \
         Keep MEMORY.md short; move details into other files in that directory and link them."
    } else {
        "This session is read-only: read your memory, but do not try to change it."
    };
    let body = if shown.trim().is_empty() {
        "(MEMORY.md is empty or missing: nothing remembered yet.)".to_string()
    } else if cut > 0 {
        format!("{shown}\n[… {cut} more lines in MEMORY.md]")
    } else {
        shown
    };
    format!(
        "<agent_memory dir=\"{}\">\nYou have a persistent memory directory, {}. {keep}\n\n{body}\n</agent_memory>",
        dir.display(),
        dir.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_scope_has_its_place_and_an_unknown_one_is_named() {
        let roots = Roots::with_home("/h");
        let ws = Path::new("/w");
        assert_eq!(
            dir("user", "code-reviewer", ws, &roots).unwrap(),
            Path::new("/h/.claude/agent-memory/code-reviewer")
        );
        assert_eq!(
            dir("project", "code-reviewer", ws, &roots).unwrap(),
            Path::new("/w/.claude/agent-memory/code-reviewer")
        );
        assert_eq!(
            dir("local", "a/../b", ws, &roots).unwrap(),
            Path::new("/w/.claude/agent-memory-local/a----b"),
            "a name never leaves the directory"
        );
        let e = dir("team", "x", ws, &roots).unwrap_err();
        assert_eq!(e, "unknown `memory` `team`; use user, project or local");
    }

    #[test]
    fn the_prompt_holds_the_first_200_lines_and_says_how_to_keep_it() {
        let tmp = tempfile::tempdir().unwrap();
        let empty = prompt(tmp.path(), true);
        assert!(empty.contains("nothing remembered yet"), "{empty}");
        assert!(empty.contains("write it to MEMORY.md"), "{empty}");
        let long: Vec<String> = (1..=250).map(|i| format!("fact {i}")).collect();
        std::fs::write(tmp.path().join("MEMORY.md"), long.join("\n")).unwrap();
        let text = prompt(tmp.path(), false);
        assert!(
            text.contains("fact 200\n[… 50 more lines in MEMORY.md]"),
            "{text}"
        );
        assert!(!text.contains("fact 201"));
        assert!(text.contains("read-only"));
    }
}
