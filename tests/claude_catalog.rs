//! Hot reload of the per-workspace catalogs: agent, command and settings files added,
//! changed or removed are picked up without a restart, by watching or by polling.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed assumption is a failed test

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use codex_plus::claude::agent_set::AgentSet;
use codex_plus::claude::catalog::{Catalog, Loadable};
use codex_plus::claude::commands::CommandSet;
use codex_plus::claude::discovery::Roots;
use codex_plus::claude::settings::Settings;

/// Polls `check` until it holds, failing after a generous bound.
fn eventually<T: Loadable>(
    catalog: &Catalog<T>,
    ws: &Path,
    what: &str,
    check: impl Fn(&T) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check(&catalog.get(ws)) {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn agent(name: &str, description: &str) -> String {
    format!("---\nname: {name}\ndescription: {description}\n---\nPrompt.\n")
}

struct Setup {
    _tmp: tempfile::TempDir,
    home: PathBuf,
    ws: PathBuf,
}

fn setup() -> std::io::Result<Setup> {
    let tmp = tempfile::tempdir()?;
    let home = tmp.path().join("home");
    let ws = tmp.path().join("projects/app");
    fs::create_dir_all(&home)?;
    fs::create_dir_all(&ws)?;
    Ok(Setup {
        _tmp: tmp,
        home,
        ws,
    })
}

fn description(set: &AgentSet, name: &str) -> Option<String> {
    set.get(name).map(|a| a.description.clone())
}

fn add_change_remove(catalog: &Catalog<AgentSet>, ws: &Path) -> std::io::Result<()> {
    let first = catalog.get(ws);
    assert!(first.get("helper").is_none());
    // A hit is the same value, not a re-read.
    assert!(Arc::ptr_eq(&first, &catalog.get(ws)));

    // The directory does not exist yet: creating it must be noticed.
    let dir = ws.join(".claude/agents");
    fs::create_dir_all(&dir)?;
    fs::write(dir.join("helper.md"), agent("helper", "first"))?;
    eventually(catalog, ws, "agent added", |s| {
        description(s, "helper").as_deref() == Some("first")
    });

    fs::write(dir.join("helper.md"), agent("helper", "second version"))?;
    eventually(catalog, ws, "agent changed", |s| {
        description(s, "helper").as_deref() == Some("second version")
    });

    fs::remove_file(dir.join("helper.md"))?;
    eventually(catalog, ws, "agent removed", |s| s.get("helper").is_none());

    // Removing and recreating the whole directory must still be noticed.
    fs::remove_dir_all(ws.join(".claude"))?;
    fs::create_dir_all(&dir)?;
    fs::write(dir.join("again.md"), agent("again", "back"))?;
    eventually(catalog, ws, "agent in recreated dir", |s| {
        s.get("again").is_some()
    });
    Ok(())
}

#[test]
fn watching_catalog_reloads_agents() -> std::io::Result<()> {
    let s = setup()?;
    let catalog: Catalog<AgentSet> = Catalog::new(Roots::with_home(&s.home));
    assert!(catalog.is_watching());
    add_change_remove(&catalog, &s.ws)
}

#[test]
fn polling_catalog_reloads_agents() -> std::io::Result<()> {
    let s = setup()?;
    let catalog: Catalog<AgentSet> =
        Catalog::polling(Roots::with_home(&s.home), Duration::from_millis(30));
    assert!(!catalog.is_watching());
    add_change_remove(&catalog, &s.ws)
}

#[test]
fn user_agents_in_claude_config_dir_are_watched() -> std::io::Result<()> {
    let s = setup()?;
    let config = s.home.join("cfg");
    let roots = Roots {
        home: Some(s.home.clone()),
        claude_config_dir: Some(config.clone()),
    };
    let catalog: Catalog<AgentSet> = Catalog::new(roots);
    assert!(catalog.get(&s.ws).get("mine").is_none());
    fs::create_dir_all(config.join("agents"))?;
    fs::write(config.join("agents/mine.md"), agent("mine", "user agent"))?;
    eventually(&catalog, &s.ws, "user agent", |set| {
        set.get("mine").is_some()
    });
    Ok(())
}

#[test]
fn commands_and_settings_reload_too() -> std::io::Result<()> {
    let s = setup()?;
    let roots = Roots::with_home(&s.home);
    let commands: Catalog<CommandSet> = Catalog::new(roots.clone());
    let settings: Catalog<Settings> = Catalog::new(roots);
    assert!(commands.get(&s.ws).get("review").is_none());
    assert!(settings.get(&s.ws).codexplus.task_tool.is_none());

    fs::create_dir_all(s.ws.join(".claude/commands/git"))?;
    fs::write(
        s.ws.join(".claude/commands/git/review.md"),
        "Review $ARGUMENTS",
    )?;
    eventually(&commands, &s.ws, "command added", |c| {
        c.get("git:review").is_some()
    });

    fs::create_dir_all(s.ws.join(".codexplus"))?;
    fs::write(
        s.ws.join(".codexplus/settings.json"),
        r#"{"codexplus":{"taskTool":false}}"#,
    )?;
    eventually(&settings, &s.ws, "settings added", |c| {
        c.codexplus.task_tool == Some(false)
    });

    fs::write(
        s.ws.join(".codexplus/settings.json"),
        r#"{"codexplus":{"taskTool":true}}"#,
    )?;
    eventually(&settings, &s.ws, "settings changed", |c| {
        c.codexplus.task_tool == Some(true)
    });
    Ok(())
}

#[test]
fn workspaces_are_cached_separately() -> std::io::Result<()> {
    let s = setup()?;
    let other = s.ws.parent().map(|p| p.join("other")).unwrap_or_default();
    fs::create_dir_all(other.join(".claude/agents"))?;
    fs::write(other.join(".claude/agents/o.md"), agent("only-other", "x"))?;
    let catalog: Catalog<AgentSet> = Catalog::new(Roots::with_home(&s.home));
    assert!(catalog.get(&other).get("only-other").is_some());
    assert!(catalog.get(&s.ws).get("only-other").is_none());
    // A trailing `/.` names the same workspace.
    assert!(Arc::ptr_eq(
        &catalog.get(&other),
        &catalog.get(&other.join("."))
    ));
    Ok(())
}
