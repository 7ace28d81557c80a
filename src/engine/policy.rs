//! What one subagent may do: its agent's tools, the workspace's settings rules, the
//! session's sandbox and the depth limit, combined into an `AccessPolicy`, and the
//! tools worth offering to its model. Pure apart from what `Settings` already read.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::access::{
    AccessPolicy, PermissionRules, RuleKind, RuleOrigin, SandboxMode, Specifier, Unmatched,
};
use super::agent_tool::AGENT_TOOL;
use super::request::Workspace;
use super::tools::Tool;
use crate::claude::{AgentDef, PermissionRule, Roots, Settings};

/// The access policy of an agent running at `depth` (a Task from Codex runs at 1).
pub fn access_policy(
    agent: &AgentDef,
    settings: &Settings,
    workspace: &Workspace,
    roots: &Roots,
    depth: u32,
    max_depth: u32,
) -> AccessPolicy {
    // Patterns stay on their entries (`Bash(git diff:*)`): the policy limits the tool
    // to matching calls. The Agent entries merge into one list of spawnable types.
    let mut tools: Vec<String> = Vec::new();
    for entry in agent.effective_tool_entries() {
        let text = match (&agent.allowed_subagent_types, entry.name.as_str()) {
            (Some(types), AGENT_TOOL) => format!("{AGENT_TOOL}({})", types.join(", ")),
            (None, AGENT_TOOL) => AGENT_TOOL.to_string(),
            _ => entry.to_string(),
        };
        if !tools.contains(&text) {
            tools.push(text);
        }
    }
    let mode = agent.permission_mode.as_deref();
    // `plan` explores and proposes; it changes nothing, whatever the session allows.
    let sandbox = if mode == Some("plan") {
        SandboxMode::ReadOnly
    } else {
        workspace.sandbox
    };
    // `dontAsk`: only what an allow rule covers. Modes that would widen access
    // (`bypassPermissions`) do not: a subagent never exceeds its session.
    let unmatched = if mode == Some("dontAsk") {
        Unmatched::Deny
    } else {
        Unmatched::Allow
    };
    let mut dirs = workspace_roots(workspace, settings);
    // `memory`: its directory, and the file tools to keep it (reading only, in a
    // read-only sandbox).
    if let Some(dir) = memory_dir(agent, workspace, roots) {
        let keep: &[&str] = if sandbox == SandboxMode::ReadOnly {
            &["Read"]
        } else {
            &["Read", "Write", "Edit"]
        };
        for tool in keep {
            if !tools.iter().any(|t| t == tool) {
                tools.push((*tool).to_string());
            }
        }
        if !dirs.contains(&dir) {
            dirs.push(dir);
        }
    }
    AccessPolicy::new(
        &tools,
        permission_rules(settings, &workspace.cwd, roots),
        sandbox,
        dirs,
    )
    .with_unmatched(unmatched)
    .with_agent_depth(depth, max_depth)
}

/// The agent's memory directory, when its `memory` names a scope.
pub fn memory_dir(agent: &AgentDef, workspace: &Workspace, roots: &Roots) -> Option<PathBuf> {
    let scope = agent.memory.as_deref()?;
    super::memory::dir(scope, &agent.name, &workspace.cwd, roots).ok()
}

/// The settings' permission rules, each anchored where Claude Code anchors it:
/// user settings at the home directory, project settings at the project (`cwd`).
pub fn permission_rules(settings: &Settings, cwd: &Path, roots: &Roots) -> PermissionRules {
    let mut rules = PermissionRules::with_home(roots.home.clone());
    let user_dir = roots.claude_dir();
    let origin = |rule: &PermissionRule| {
        let is_user = user_dir
            .as_deref()
            .is_some_and(|d| rule.source.starts_with(d));
        let base_dir = match (&roots.home, is_user) {
            (Some(home), true) => home.clone(),
            _ => cwd.to_path_buf(),
        };
        RuleOrigin {
            file: rule.source.clone(),
            base_dir,
        }
    };
    let p = &settings.permissions;
    for (kind, list) in [
        (RuleKind::Allow, &p.allow),
        (RuleKind::Ask, &p.ask),
        (RuleKind::Deny, &p.deny),
    ] {
        for rule in list {
            rules.add(kind, &rule.rule, &origin(rule));
        }
    }
    rules
}

/// The directories file tools may touch: the workspace's roots, its cwd, and the
/// settings' `additionalDirectories`.
fn workspace_roots(workspace: &Workspace, settings: &Settings) -> Vec<PathBuf> {
    let mut roots: Vec<PathBuf> = Vec::new();
    let candidates = std::iter::once(&workspace.cwd)
        .chain(&workspace.roots)
        .chain(&settings.permissions.additional_directories);
    for dir in candidates {
        if !roots.contains(dir) {
            roots.push(dir.clone());
        }
    }
    roots
}

/// The tools to offer the model: the agent's, without writing tools in a read-only
/// sandbox and without tools a deny rule refuses entirely. (A call of anything else
/// is still checked and refused with its reason.)
pub fn offered_tools(all: &[Arc<dyn Tool>], policy: &AccessPolicy) -> Vec<Arc<dyn Tool>> {
    all.iter()
        .filter(|t| policy.has_tool(t.name()))
        .filter(|t| t.read_only() || policy.sandbox() != SandboxMode::ReadOnly)
        .filter(|t| !wholly_denied(policy, t.name()))
        .cloned()
        .collect()
}

/// Whether the Agent tool should be offered.
pub fn offers_agent_tool(policy: &AccessPolicy) -> bool {
    policy.has_tool(AGENT_TOOL) && !wholly_denied(policy, AGENT_TOOL)
}

fn wholly_denied(policy: &AccessPolicy, tool: &str) -> bool {
    policy
        .rules()
        .rules(RuleKind::Deny)
        .iter()
        .any(|r| r.tool == tool && matches!(r.specifier, Specifier::Any))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::claude::discovery::Source;
    use crate::engine::tools::all_tools;
    use serde_json::json;

    fn agent(frontmatter: &str) -> AgentDef {
        let text = format!("---\nname: t\ndescription: test\n{frontmatter}---\nbody\n");
        AgentDef::parse(&text, None, Source::Builtin).expect("agent")
    }

    fn settings(ws: &Path, json_text: &str) -> Settings {
        Settings::merge(
            &[(ws.join(".claude/settings.json"), json_text.to_string())],
            ws,
            &Roots::with_home("/home/u"),
        )
    }

    fn names(tools: &[Arc<dyn Tool>]) -> Vec<&'static str> {
        tools.iter().map(|t| t.name()).collect()
    }

    fn check(
        policy: &AccessPolicy,
        tool: &str,
        input: serde_json::Value,
        cwd: &Path,
    ) -> Result<(), String> {
        let read_only = !matches!(tool, "Bash" | "Edit" | "Write");
        policy
            .check_call(tool, read_only, &input, cwd)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn tools_are_the_agents_minus_sandbox_and_whole_tool_denials() -> std::io::Result<()> {
        let tmp = tempfile::tempdir()?;
        let ws = Workspace::at(tmp.path());
        let roots = Roots::with_home("/home/u");
        let reviewer = agent("tools: Read, Grep, Bash, Edit\n");
        let s = settings(tmp.path(), r#"{"permissions":{"deny":["Bash"]}}"#);
        let policy = access_policy(&reviewer, &s, &ws, &roots, 1, 3);
        assert_eq!(
            names(&offered_tools(&all_tools(), &policy)),
            ["Grep", "Read", "Edit"]
        );
        assert!(!offers_agent_tool(&policy));
        let err = check(&policy, "Bash", json!({"command": "ls"}), tmp.path()).unwrap_err();
        assert!(err.contains("deny rule `Bash`"), "{err}");

        let read_only = Workspace {
            sandbox: SandboxMode::ReadOnly,
            ..ws.clone()
        };
        let policy = access_policy(&reviewer, &Settings::default(), &read_only, &roots, 1, 3);
        assert_eq!(
            names(&offered_tools(&all_tools(), &policy)),
            ["Grep", "Read"]
        );
        Ok(())
    }

    #[test]
    fn permission_modes_plan_and_dont_ask() -> std::io::Result<()> {
        let tmp = tempfile::tempdir()?;
        let ws = Workspace::at(tmp.path());
        let roots = Roots::with_home("/home/u");
        let plan = access_policy(
            &agent("permissionMode: plan\n"),
            &Settings::default(),
            &ws,
            &roots,
            1,
            3,
        );
        assert_eq!(plan.sandbox(), SandboxMode::ReadOnly);
        let file = tmp.path().join("a.txt");
        let write = json!({"file_path": file, "content": "x"});
        assert!(check(&plan, "Write", write.clone(), tmp.path()).is_err());

        let s = settings(tmp.path(), r#"{"permissions":{"allow":["Read"]}}"#);
        let strict = access_policy(&agent("permissionMode: dontAsk\n"), &s, &ws, &roots, 1, 3);
        assert!(check(&strict, "Read", json!({"file_path": file}), tmp.path()).is_ok());
        let err = check(&strict, "Write", write, tmp.path()).unwrap_err();
        assert!(err.contains("not covered by any allow rule"), "{err}");
        Ok(())
    }

    #[test]
    fn the_agent_tool_stops_at_the_depth_limit_and_keeps_its_type_limits() -> std::io::Result<()> {
        let tmp = tempfile::tempdir()?;
        let ws = Workspace::at(tmp.path());
        let roots = Roots::with_home("/home/u");
        let lead = agent("tools: Read, Agent(Explore)\n");
        let policy = access_policy(&lead, &Settings::default(), &ws, &roots, 2, 3);
        assert!(offers_agent_tool(&policy));
        assert!(check(
            &policy,
            "Agent",
            json!({"subagent_type": "Explore", "prompt": "p"}),
            tmp.path()
        )
        .is_ok());
        let err = check(
            &policy,
            "Task",
            json!({"subagent_type": "Plan", "prompt": "p"}),
            tmp.path(),
        )
        .unwrap_err();
        assert!(
            err.contains("only start subagents of type Explore"),
            "{err}"
        );
        let deepest = access_policy(&lead, &Settings::default(), &ws, &roots, 3, 3);
        assert!(!offers_agent_tool(&deepest));
        let err = check(
            &deepest,
            "Agent",
            json!({"subagent_type": "Explore"}),
            tmp.path(),
        )
        .unwrap_err();
        assert!(err.contains("nest at most 3 deep"), "{err}");
        Ok(())
    }

    #[test]
    fn project_rules_anchor_at_the_workspace_and_user_rules_at_home() -> std::io::Result<()> {
        let tmp = tempfile::tempdir()?;
        let home = tmp.path().join("home");
        let ws_dir = tmp.path().join("ws");
        std::fs::create_dir_all(ws_dir.join("secrets"))?;
        std::fs::create_dir_all(&home)?;
        let roots = Roots::with_home(&home);
        let s = Settings::merge(
            &[
                (
                    home.join(".claude/settings.json"),
                    r#"{"permissions":{"deny":["Read(./notes/**)"]}}"#.into(),
                ),
                (
                    ws_dir.join(".claude/settings.json"),
                    r#"{"permissions":{"deny":["Read(./secrets/**)"]}}"#.into(),
                ),
            ],
            &ws_dir,
            &roots,
        );
        let mut ws = Workspace::at(&ws_dir);
        ws.roots.push(home.clone());
        let policy = access_policy(&agent(""), &s, &ws, &roots, 1, 3);
        let read = |p: PathBuf| check(&policy, "Read", json!({"file_path": p}), &ws_dir);
        assert!(read(ws_dir.join("secrets/key")).is_err());
        assert!(read(ws_dir.join("notes/a")).is_ok());
        assert!(read(home.join("notes/a")).is_err());
        let err = read(ws_dir.join("secrets/key")).unwrap_err();
        assert!(
            err.contains(&ws_dir.join(".claude/settings.json").display().to_string()),
            "{err}"
        );
        Ok(())
    }

    #[test]
    fn tool_patterns_in_the_agent_file_limit_the_tool() -> std::io::Result<()> {
        let tmp = tempfile::tempdir()?;
        let ws = Workspace::at(tmp.path());
        let roots = Roots::with_home("/home/u");
        let differ = agent("tools: Read, Bash(git diff:*)\n");
        let policy = access_policy(&differ, &Settings::default(), &ws, &roots, 1, 3);
        assert_eq!(
            names(&offered_tools(&all_tools(), &policy)),
            ["Bash", "Read"]
        );
        let bash =
            |command: &str| check(&policy, "Bash", json!({ "command": command }), tmp.path());
        assert!(bash("git diff --stat").is_ok());
        for refused in ["rm -rf x", "git diff && rm x"] {
            let err = bash(refused).unwrap_err();
            assert!(err.contains("Bash(git diff:*)"), "{refused}: {err}");
        }
        // A bare entry alongside gives the whole tool; `disallowedTools: Bash` takes it away.
        let both = agent("tools: Bash(git diff:*), Bash\n");
        let policy = access_policy(&both, &Settings::default(), &ws, &roots, 1, 3);
        assert!(check(&policy, "Bash", json!({"command": "ls"}), tmp.path()).is_ok());
        let none = agent("tools: Read, Bash(git diff:*)\ndisallowedTools: Bash\n");
        let policy = access_policy(&none, &Settings::default(), &ws, &roots, 1, 3);
        assert_eq!(names(&offered_tools(&all_tools(), &policy)), ["Read"]);
        // A malformed pattern is dropped when the file is read: no Bash at all.
        let broken = agent("tools: Read, Bash(\n");
        let policy = access_policy(&broken, &Settings::default(), &ws, &roots, 1, 3);
        assert_eq!(names(&offered_tools(&all_tools(), &policy)), ["Read"]);
        let err = check(&policy, "Bash", json!({"command": "ls"}), tmp.path()).unwrap_err();
        assert!(err.contains("not one of this agent's tools"), "{err}");
        Ok(())
    }
}
