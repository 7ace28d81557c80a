//! `codex-plus agents list` and `codex-plus agents validate`: the agent files a
//! directory sees, and a checklist per file.

use std::path::{Path, PathBuf};

use crate::claude::{agents_list, validate, AgentSet, Roots};

/// The agents visible from `cwd`, as a table or (`json`) an object.
pub fn list(cwd: &Path, json: bool, roots: &Roots) -> String {
    agents_list(&AgentSet::load(cwd, roots), json)
}

/// The checklist of the files at `paths` (every agent directory visible from `cwd`
/// when empty), and whether every agent is sound.
pub fn check(paths: &[PathBuf], cwd: &Path, roots: &Roots) -> (String, bool) {
    let report = validate(paths, cwd, roots);
    (report.render(), report.is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_and_check_read_the_workspace_agents() -> std::io::Result<()> {
        let tmp = tempfile::tempdir()?;
        let dir = tmp.path().join(".claude/agents");
        std::fs::create_dir_all(&dir)?;
        std::fs::write(
            dir.join("ok.md"),
            "---\nname: reviewer\ndescription: Reviews\ntools: Read\n---\nReview.\n",
        )?;
        let roots = Roots::with_home(tmp.path().join("home"));
        let text = list(tmp.path(), false, &roots);
        assert!(text.lines().any(|l| l.starts_with("reviewer")), "{text}");
        let (report, ok) = check(&[], tmp.path(), &roots);
        assert!(ok, "{report}");
        std::fs::write(
            dir.join("bad.md"),
            "---\nname: broken\ndescription: x\ntools: Serch\n---\nx\n",
        )?;
        let (report, ok) = check(&[], tmp.path(), &roots);
        assert!(!ok);
        assert!(
            report.contains("Invalid tool specified: 'Serch'"),
            "{report}"
        );
        Ok(())
    }
}
