//! The slash commands this repository ships in `.codexplus/commands/`: they load
//! without problems and render into complete prompts in a real git workspace.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed assumption is a failed test

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use codex_plus::claude::{render, CommandSet, Roots, Severity};

fn shipped() -> CommandSet {
    let home = tempfile::tempdir().unwrap();
    CommandSet::load(
        Path::new(env!("CARGO_MANIFEST_DIR")),
        &Roots::with_home(home.path()),
    )
}

fn git_workspace() -> tempfile::TempDir {
    let ws = tempfile::tempdir().unwrap();
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .args([
                "-c",
                "user.name=t",
                "-c",
                "user.email=t@example.com",
                "-c",
                "init.defaultBranch=main",
            ])
            .args(args)
            .current_dir(ws.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}");
    };
    git(&["init", "-q"]);
    std::fs::write(ws.path().join("lib.rs"), "pub fn f() {}\n").unwrap();
    git(&["add", "lib.rs"]);
    git(&["commit", "-q", "-m", "first"]);
    std::fs::write(ws.path().join("lib.rs"), "pub fn f() -> u8 { 1 }\n").unwrap();
    ws
}

#[test]
fn the_shipped_commands_load_cleanly_with_descriptions_and_hints() {
    let set = shipped();
    for name in ["consensus", "review", "test", "explain"] {
        let cmd = set
            .get(name)
            .unwrap_or_else(|| panic!("/{name} is shipped"));
        assert!(
            cmd.description.as_deref().is_some_and(|d| d.len() > 20),
            "/{name}"
        );
        assert!(cmd.argument_hint.is_some(), "/{name} has an argument hint");
        let problems: Vec<String> = cmd
            .diagnostics
            .iter()
            .filter(|d| d.severity != Severity::Info)
            .map(ToString::to_string)
            .collect();
        assert!(problems.is_empty(), "/{name}: {problems:?}");
    }
    let consensus = set.get("consensus").unwrap();
    let tools = consensus.allowed_tools.as_ref().unwrap();
    assert!(
        tools.iter().any(|t| t == "Task"),
        "consensus may launch subagents"
    );
    assert!(
        set.get("review")
            .unwrap()
            .allowed_tools
            .as_ref()
            .unwrap()
            .iter()
            .all(|t| !t.starts_with("Edit") && !t.starts_with("Write")),
        "review is read-only"
    );
}

#[tokio::test]
async fn they_render_with_arguments_and_working_shell_lines() {
    let set = shipped();
    let ws = git_workspace();
    for name in ["consensus", "review", "test", "explain"] {
        let cmd = set.get(name).unwrap();
        let rendered = render(cmd, "src/lib.rs", ws.path(), Duration::from_secs(10)).await;
        let text = &rendered.text;
        assert!(
            text.contains("src/lib.rs"),
            "/{name} puts the arguments in:\n{text}"
        );
        assert!(!text.contains("$ARGUMENTS"), "/{name}:\n{text}");
        assert!(
            !text.contains("!`"),
            "/{name} runs its shell lines:\n{text}"
        );
        assert!(
            !text.contains("exited with status"),
            "/{name}: a shell line failed:\n{text}"
        );
        assert!(rendered.notes.is_empty(), "/{name}: {:?}", rendered.notes);
    }
    let consensus = render(
        set.get("consensus").unwrap(),
        "",
        ws.path(),
        Duration::from_secs(10),
    )
    .await;
    for agent in ["code-reviewer", "security-auditor", "performance-optimizer"] {
        assert!(
            consensus.text.contains(&format!("subagent_type: {agent}")),
            "{agent}"
        );
        assert!(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join(".claude/agents")
                .join(format!("{agent}.md"))
                .exists(),
            "the {agent} agent ships with the repository"
        );
    }
    assert!(consensus.text.contains("in ONE response"));
    assert!(
        consensus.text.contains("M lib.rs"),
        "the git status is included:\n{}",
        consensus.text
    );
}
