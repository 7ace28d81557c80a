//! Real-world-shaped agent and command files (tests/fixtures/) loaded the way the proxy
//! loads them, and the agent templates shipped in .claude/agents/ checked for validity.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed assumption is a failed test

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use codex_plus::claude::agent_set::AgentSet;
use codex_plus::claude::command_expand::expand_arguments;
use codex_plus::claude::commands::CommandSet;
use codex_plus::claude::diagnostic::Severity;
use codex_plus::claude::discovery::Roots;
use codex_plus::claude::tools_spec::ToolSpec;
use codex_plus::claude::validate::{validate, Mark};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    fs::create_dir_all(to)?;
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else {
            fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}

/// A workspace whose `.claude/agents` and `.claude/commands` are the fixtures.
fn fixture_workspace() -> std::io::Result<(tempfile::TempDir, PathBuf, Roots)> {
    let tmp = tempfile::tempdir()?;
    let ws = tmp.path().join("ws");
    copy_tree(
        &repo().join("tests/fixtures/agents"),
        &ws.join(".claude/agents"),
    )?;
    copy_tree(
        &repo().join("tests/fixtures/commands"),
        &ws.join(".claude/commands"),
    )?;
    let roots = Roots::with_home(tmp.path().join("home"));
    Ok((tmp, ws, roots))
}

#[test]
fn fixture_agents_load_leniently() -> std::io::Result<()> {
    let (_tmp, ws, roots) = fixture_workspace()?;
    let set = AgentSet::load(&ws, &roots);
    let agent = |name: &str| {
        set.get(name)
            .unwrap_or_else(|| panic!("agent {name} missing: {:?}", set.names()))
    };

    let api = agent("api-designer");
    assert!(api
        .description
        .starts_with("Use this agent when the user needs to design or review an HTTP API. Examples:\n\n<example>\nContext: The user is adding an endpoint.\nuser: \"Add a route"));
    assert_eq!(api.model.as_deref(), Some("sonnet"));
    assert_eq!(api.color.as_deref(), Some("#ff6b6b"));
    assert_eq!(api.tools, ToolSpec::All);

    assert_eq!(agent("do-anything").effective_tools().len(), 12);

    let orchestrator = agent("orchestrator");
    assert_eq!(
        orchestrator.effective_tools(),
        ["Read", "Agent", "Edit", "Glob", "mcp__github__create_issue"]
    );
    assert_eq!(
        orchestrator.allowed_subagent_types,
        Some(vec!["code-reviewer".to_string(), "test-runner".to_string()])
    );
    assert_eq!(orchestrator.max_turns, Some(20));
    assert_eq!(orchestrator.timeout, Some(Duration::from_secs(300)));
    assert_eq!(orchestrator.temperature, Some(0.2));
    assert_eq!(orchestrator.max_tokens, Some(8000));
    assert_eq!(orchestrator.permission_mode.as_deref(), Some("acceptEdits"));
    // MCP tools are offered now: naming one is no longer a finding.
    assert!(!orchestrator
        .diagnostics
        .iter()
        .any(|d| d.message.contains("mcp__")));

    assert!(agent("thinker").effective_tools().is_empty());

    let searcher = agent("searcher");
    assert_eq!(searcher.effective_tools(), ["Read", "WebSearch", "Grep"]);
    let severities: Vec<Severity> = searcher.diagnostics.iter().map(|d| d.severity).collect();
    assert_eq!(severities, [Severity::Error], "WebSearch is kept now");

    let release = agent("release-manager");
    assert_eq!(
        release.description,
        "Prepares releases: bumps versions, writes the changelog and tags."
    );
    assert_eq!(release.effort.as_deref(), Some("high"));
    assert_eq!(release.background, Some(true));
    assert_eq!(release.skills, ["changelog", "semver"]);
    assert!(release
        .diagnostics
        .iter()
        .any(|d| d.message.contains("`favourite-colour`")));

    let lead = agent("team_lead");
    assert_eq!(lead.name, "Team_Lead");
    assert!(lead
        .diagnostics
        .iter()
        .any(|d| d.message.contains("lowercase")));

    let windows = agent("windows-agent");
    assert_eq!(windows.effective_tools(), ["Read", "Grep"]);
    assert_eq!(windows.body, "Body line one.\nBody line two.");

    assert_eq!(set.agents().len(), 3 + 8);
    for broken in ["no-frontmatter.md", "missing-description.md"] {
        let path = ws.join(".claude/agents").join(broken);
        let errors = set.diagnostics_for(&path);
        assert_eq!(errors.len(), 1, "{broken}: {errors:?}");
        assert_eq!(errors[0].severity, Severity::Error);
    }
    Ok(())
}

#[test]
fn fixture_agents_validate_with_three_broken_files() -> std::io::Result<()> {
    let (_tmp, ws, roots) = fixture_workspace()?;
    let report = validate(&[PathBuf::from(".claude/agents")], &ws, &roots);
    assert!(!report.is_ok());
    let broken: Vec<&str> = report
        .files
        .iter()
        .filter(|f| !f.is_ok())
        .map(|f| f.shown.as_str())
        .collect();
    assert_eq!(
        broken,
        [
            ".claude/agents/invalid-tool.md",
            ".claude/agents/missing-description.md",
            ".claude/agents/no-frontmatter.md"
        ]
    );
    let text = report.render();
    assert!(text.contains("  ✗ line 4: Invalid tool specified: 'Serch' (valid tools: Read, Write, Edit, NotebookEdit, Glob, Grep, Bash, WebFetch, WebSearch, TodoWrite, Agent)"), "{text}");
    assert!(
        text.lines()
            .last()
            .is_some_and(|l| l.starts_with("10 agent files checked: 7 valid, 3 with errors, ")),
        "{text}"
    );
    Ok(())
}

#[test]
fn fixture_commands_load_and_expand() -> std::io::Result<()> {
    let (_tmp, ws, roots) = fixture_workspace()?;
    let set = CommandSet::load(&ws, &roots);
    let names: Vec<&str> = set.commands().iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "commit",
            "deploy",
            "frontend:component",
            "named",
            "plain",
            "review-pr"
        ]
    );

    let commit = set.get("commit").unwrap_or_else(|| panic!("commit"));
    assert_eq!(commit.argument_hint.as_deref(), Some("[message]"));
    assert_eq!(commit.allowed_tools.as_ref().map(Vec::len), Some(3));
    assert_eq!(commit.model.as_deref(), Some("haiku"));

    let (review, args) = set
        .match_invocation("/review-pr 42 high \"Alice Smith\"")
        .unwrap_or_else(|| panic!("review-pr"));
    assert_eq!(
        review.argument_hint.as_deref(),
        Some("[pr-number] [priority] [assignee]")
    );
    assert_eq!(
        review.allowed_tools,
        Some(vec!["Bash(gh pr view:*)".to_string(), "Read".to_string()])
    );
    assert_eq!(
        expand_arguments(&review.body, args, &review.arguments).text,
        "Review PR #42 with priority high and assign to Alice Smith."
    );

    let deploy = set.get("deploy").unwrap_or_else(|| panic!("deploy"));
    assert_eq!(
        deploy.description.as_deref(),
        Some("Deploy: ship the current branch to an environment")
    );
    assert!(deploy.disable_model_invocation);
    assert_eq!(
        expand_arguments(&deploy.body, "staging v2", &deploy.arguments).text,
        "Deploy version v2 to staging. The budget is $1,500 per month ($2.50 per build).\n\n```yaml\nenv:\n  TOKEN: ${{ secrets.DEPLOY_TOKEN }}\nrun: echo \"$HOME\" $1\n```"
    );

    let named = set.get("named").unwrap_or_else(|| panic!("named"));
    assert_eq!(
        expand_arguments(&named.body, "7 low", &named.arguments).text,
        "Fix issue 7 (priority low). Keep $PATH untouched."
    );

    let plain = set.get("plain").unwrap_or_else(|| panic!("plain"));
    assert_eq!(
        expand_arguments(&plain.body, "since monday", &plain.arguments).text,
        "Summarise the recent changes in this repository.\n\nARGUMENTS: since monday"
    );
    assert_eq!(
        set.get("frontend:component")
            .and_then(|c| c.description.as_deref()),
        Some("Create a React component")
    );
    Ok(())
}

#[test]
fn shipped_agent_templates_are_valid_without_warnings() -> std::io::Result<()> {
    let tmp = tempfile::tempdir()?;
    let roots = Roots::with_home(tmp.path());
    let report = validate(&[PathBuf::from(".claude/agents")], &repo(), &roots);
    let text = report.render();
    assert!(report.is_ok(), "{text}");
    assert_eq!(report.files.len(), 7, "{text}");
    for file in &report.files {
        assert!(
            file.checks.iter().all(|c| c.mark == Mark::Pass),
            "{}: {text}",
            file.shown
        );
    }

    let set = AgentSet::load(&repo(), &roots);
    for name in [
        "code-reviewer",
        "test-runner",
        "documentation-writer",
        "debugger",
        "security-auditor",
        "performance-optimizer",
        "refactoring-agent",
    ] {
        let agent = set
            .get(name)
            .unwrap_or_else(|| panic!("template {name} missing"));
        assert_eq!(agent.model.as_deref(), Some("inherit"));
        assert!(agent.body.len() > 500, "{name} needs a real prompt");
        assert!(!agent.effective_tools().is_empty());
    }
    let auditor = set
        .get("security-auditor")
        .map(|a| a.effective_tools())
        .unwrap_or_default();
    assert!(!auditor.contains(&"Edit".to_string()) && !auditor.contains(&"Write".to_string()));
    Ok(())
}
