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

    #[test]
    fn check_names_mcp_servers_the_workspace_does_not_configure() -> std::io::Result<()> {
        let tmp = tempfile::tempdir()?;
        let dir = tmp.path().join(".claude/agents");
        std::fs::create_dir_all(&dir)?;
        std::fs::write(
            tmp.path().join(".mcp.json"),
            r#"{"mcpServers": {"demo": {"command": "demo"}}}"#,
        )?;
        std::fs::write(
            dir.join("a.md"),
            "---\nname: a\ndescription: d\ntools: Read, mcp__demo__echo, mcp__nowhere__x\nmcpServers: [demo, missing, {own: {command: own}}]\n---\nx\n",
        )?;
        let roots = Roots::with_home(tmp.path().join("home"));
        let (report, ok) = check(&[], tmp.path(), &roots);
        assert!(ok, "warnings only: {report}");
        assert!(
            report.contains("! tools: `mcp__nowhere__x` names MCP server `nowhere`, which this workspace does not configure (configured: demo, own); the agent runs without it"),
            "{report}"
        );
        assert!(
            report.contains("mcpServers: `missing` is not an MCP server this workspace configures (configured: demo)"),
            "{report}"
        );
        assert!(!report.contains("`mcp__demo__echo` names"), "{report}");
        let text = list(tmp.path(), false, &roots);
        let row = text.lines().find(|l| l.starts_with("a ")).unwrap_or("");
        assert!(row.contains("mcp__demo__echo"), "{text}");
        Ok(())
    }

    #[test]
    fn list_and_check_show_tool_patterns() -> std::io::Result<()> {
        let tmp = tempfile::tempdir()?;
        let dir = tmp.path().join(".claude/agents");
        std::fs::create_dir_all(&dir)?;
        std::fs::write(
            dir.join("differ.md"),
            "---\nname: differ\ndescription: Diffs\ntools: Read, Bash(git diff:*)\n---\nDiff.\n",
        )?;
        let roots = Roots::with_home(tmp.path().join("home"));
        let text = list(tmp.path(), false, &roots);
        let row = text.lines().find(|l| l.starts_with("differ")).unwrap_or("");
        assert!(row.contains("Read, Bash(git diff:*)"), "{text}");
        let json: serde_json::Value =
            serde_json::from_str(&list(tmp.path(), true, &roots)).unwrap_or_default();
        let differ = json["agents"]
            .as_array()
            .and_then(|a| a.iter().find(|x| x["name"] == "differ"))
            .cloned()
            .unwrap_or_default();
        assert_eq!(
            differ["tools"],
            serde_json::json!(["Read", "Bash(git diff:*)"])
        );
        assert_eq!(differ["tools_summary"], "Read, Bash(git diff:*)");
        let (report, ok) = check(&[], tmp.path(), &roots);
        assert!(ok, "{report}");
        assert!(
            report.contains("✓ tools: Read, Bash(git diff:*)"),
            "{report}"
        );

        std::fs::write(
            dir.join("differ.md"),
            "---\nname: differ\ndescription: Diffs\ntools: Read, Bash(\n---\nDiff.\n",
        )?;
        let (report, ok) = check(&[], tmp.path(), &roots);
        assert!(!ok, "{report}");
        assert!(
            report.contains("Malformed tool pattern `Bash(` in `tools`"),
            "{report}"
        );
        let text = list(tmp.path(), false, &roots);
        let row = text.lines().find(|l| l.starts_with("differ")).unwrap_or("");
        assert!(row.contains("Read") && !row.contains("Bash"), "{text}");
        assert!(text.contains("Malformed tool pattern"), "{text}");
        Ok(())
    }
}
