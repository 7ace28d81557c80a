//! `codex-plus doctor [--cwd DIR] [--json]`: what is wrong with this setup, and how to
//! fix it. It looks at the proxy, the Codex CLI, Codex's config (which mode, pointed
//! here or not), the CA for ChatGPT-login mode, provider keys (present or not, never
//! their values), and what a workspace sees: agents, commands and skills, hooks by
//! event, the status line, settings files and MCP servers. Exits non-zero on a problem.

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::{json, Value};

use super::codex_config::Mode;
use crate::claude::validate::{validate, Mark};
use crate::claude::{CommandSet, Roots, Settings, Severity};
use crate::hooks::config::HookConfig;
use crate::hooks::HookEvent;

/// How a finding counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Ok,
    Info,
    Warning,
    Problem,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub level: Level,
    pub text: String,
    /// What to do, for a warning or a problem.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Section {
    pub title: String,
    pub findings: Vec<Finding>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    pub sections: Vec<Section>,
}

fn finding(level: Level, text: impl Into<String>, fix: Option<&str>) -> Finding {
    Finding {
        level,
        text: text.into(),
        fix: fix.map(str::to_string),
    }
}

impl Report {
    fn section(&mut self, title: &str, findings: Vec<Finding>) {
        self.sections.push(Section {
            title: title.to_string(),
            findings,
        });
    }

    /// No problem found (warnings allowed).
    pub fn is_ok(&self) -> bool {
        self.problems() == 0
    }

    pub fn problems(&self) -> usize {
        self.sections
            .iter()
            .flat_map(|s| &s.findings)
            .filter(|f| f.level == Level::Problem)
            .count()
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        for s in &self.sections {
            out.push_str(&format!("{}\n", s.title));
            for f in &s.findings {
                let mark = match f.level {
                    Level::Ok => "✓",
                    Level::Info => "i",
                    Level::Warning => "!",
                    Level::Problem => "✗",
                };
                out.push_str(&format!("  {mark} {}\n", f.text.replace('\n', "\n    ")));
                if let Some(fix) = &f.fix {
                    out.push_str(&format!("    → {fix}\n"));
                }
            }
        }
        match self.problems() {
            0 => out.push_str("\nNo problems found.\n"),
            1 => out.push_str("\n1 problem found.\n"),
            n => out.push_str(&format!("\n{n} problems found.\n")),
        }
        out
    }

    pub fn to_json(&self) -> Value {
        json!({"ok": self.is_ok(), "problems": self.problems(), "sections": self.sections})
    }
}

/// What the checks look at; gathered by the caller, so each check is pure.
pub struct Facts {
    /// `/health` of the proxy at `proxy_url`, or why it did not answer.
    pub proxy_url: String,
    pub proxy: Result<Value, String>,
    /// `codex --version`, or why it could not run.
    pub codex: Result<String, String>,
    pub codex_config_path: PathBuf,
    /// Its text, when it exists.
    pub codex_config: Option<String>,
    /// The address Codex should dial (`host:port`).
    pub dial: String,
    pub ca_cert: PathBuf,
    /// `CODEX_CA_CERTIFICATE` as set.
    pub ca_env: Option<String>,
    /// Provider key variables, and whether each is set.
    pub keys: Vec<(&'static str, bool)>,
    pub workspace: PathBuf,
    pub roots: Roots,
}

/// The environment variables provider keys are read from.
pub const KEY_VARS: [&str; 4] = [
    "OPENAI_API_KEY",
    "CODEX_API_KEY",
    "ANTHROPIC_API_KEY",
    "GEMINI_API_KEY",
];

pub fn check(f: &Facts) -> Report {
    let mut report = Report::default();
    report.section("Proxy", vec![proxy(f)]);
    report.section("Codex", vec![codex(f)]);
    let (mode_findings, mode) = codex_config(f);
    report.section("Codex config", mode_findings);
    let mut keys = Vec::new();
    if mode == Some(Mode::Chatgpt) {
        keys.push(ca(f));
    }
    keys.extend(provider_keys(f, mode));
    report.section("Credentials", keys);
    report.section(
        &format!("Workspace {}", f.workspace.display()),
        workspace(&f.workspace, &f.roots, f.codex_config_path.parent()),
    );
    report
}

fn proxy(f: &Facts) -> Finding {
    match &f.proxy {
        Ok(health) => finding(
            Level::Ok,
            format!(
                "running at {}, version {}",
                f.proxy_url,
                health["version"].as_str().unwrap_or("?")
            ),
            None,
        ),
        Err(why) => finding(
            Level::Problem,
            format!("no proxy answers at {} ({why})", f.proxy_url),
            Some("start it: `./proxy.sh enable` (background) or `codex-plus serve`"),
        ),
    }
}

fn codex(f: &Facts) -> Finding {
    match &f.codex {
        Ok(version) => finding(Level::Ok, format!("installed: {version}"), None),
        Err(why) => finding(
            Level::Problem,
            format!("the Codex CLI cannot be run ({why})"),
            Some("install it: `npm install -g @openai/codex`, or point CODEX_BIN at it"),
        ),
    }
}

/// Whether Codex's config points at this proxy, and in which mode.
fn codex_config(f: &Facts) -> (Vec<Finding>, Option<Mode>) {
    let path = f.codex_config_path.display();
    let install = "run `codex-plus codex-config --install`";
    let Some(text) = &f.codex_config else {
        return (
            vec![finding(
                Level::Problem,
                format!("{path} does not exist, so Codex talks to OpenAI directly"),
                Some(install),
            )],
            None,
        );
    };
    let config: toml::Table = match text.parse() {
        Ok(c) => c,
        Err(e) => {
            return (
                vec![finding(
                    Level::Problem,
                    format!("{path} is not valid TOML: {}", e.message()),
                    Some("fix the file, then `codex-plus codex-config --install`"),
                )],
                None,
            )
        }
    };
    let ours = |url: Option<&str>| url.is_some_and(|u| u.contains(&f.dial));
    let provider = config
        .get("model_providers")
        .and_then(|p| p.get("codexplus"));
    let mut found = Vec::new();
    // The paste that went wrong: ChatGPT-mode keys inside the provider's table.
    if provider.and_then(|p| p.get("openai_base_url")).is_some() {
        found.push(finding(
            Level::Problem,
            format!("{path}: `openai_base_url` sits inside [model_providers.codexplus], where Codex ignores it"),
            Some("move top-level keys above every [table], or run `codex-plus codex-config --install`"),
        ));
    }
    let api = config.get("model_provider").and_then(|v| v.as_str()) == Some("codexplus")
        && ours(
            provider
                .and_then(|p| p.get("base_url"))
                .and_then(|v| v.as_str()),
        );
    let chatgpt = ours(config.get("openai_base_url").and_then(|v| v.as_str()));
    let mode = if api {
        found.push(finding(
            Level::Ok,
            format!("{path} points Codex at codex-plus in API-key mode"),
            None,
        ));
        Some(Mode::Api)
    } else if chatgpt {
        found.push(finding(
            Level::Ok,
            format!("{path} points Codex at codex-plus in ChatGPT-login mode"),
            None,
        ));
        Some(Mode::Chatgpt)
    } else {
        found.push(finding(
            Level::Problem,
            format!("{path} does not point Codex at codex-plus ({})", f.dial),
            Some(install),
        ));
        None
    };
    (found, mode)
}

fn ca(f: &Facts) -> Finding {
    let want = f.ca_cert.display().to_string();
    match f.ca_env.as_deref() {
        Some(set) if Path::new(set).is_file() && set == want => {
            finding(Level::Ok, format!("CODEX_CA_CERTIFICATE is the proxy's CA ({set})"), None)
        }
        Some(set) if Path::new(set).is_file() => finding(
            Level::Warning,
            format!("CODEX_CA_CERTIFICATE is {set}, not the proxy's CA {want}"),
            Some(&format!("export CODEX_CA_CERTIFICATE={want}, unless that file holds the same CA")),
        ),
        Some(set) => finding(
            Level::Problem,
            format!("CODEX_CA_CERTIFICATE names {set}, which does not exist"),
            Some(&format!("export CODEX_CA_CERTIFICATE={want} (`codex-plus ca path` makes it)")),
        ),
        None => finding(
            Level::Problem,
            "ChatGPT-login mode needs CODEX_CA_CERTIFICATE, and it is not set, so Codex refuses the proxy's TLS",
            Some(&format!("export CODEX_CA_CERTIFICATE={want} in the shell that runs codex")),
        ),
    }
}

fn provider_keys(f: &Facts, mode: Option<Mode>) -> Vec<Finding> {
    f.keys
        .iter()
        .map(|(var, set)| match (set, *var, mode) {
            (true, _, _) => finding(Level::Ok, format!("{var} is set"), None),
            (false, "OPENAI_API_KEY", Some(Mode::Api)) => finding(
                Level::Problem,
                "OPENAI_API_KEY is not set, and API-key mode sends it",
                Some("export OPENAI_API_KEY in the shell that runs codex"),
            ),
            (false, _, _) => finding(Level::Info, format!("{var} is not set"), None),
        })
        .collect()
}

/// What the workspace sees, each with the problems found in its files.
fn workspace(ws: &Path, roots: &Roots, codex_home: Option<&Path>) -> Vec<Finding> {
    let mut found = Vec::new();
    let agents = validate(&[], ws, roots);
    let broken: Vec<String> = agents
        .files
        .iter()
        .filter(|r| !r.is_ok())
        .map(|r| {
            let why: Vec<String> = r
                .checks
                .iter()
                .filter(|c| c.mark == Mark::Fail)
                .map(|c| c.text.clone())
                .collect();
            format!("{}: {}", r.shown, why.join("; "))
        })
        .collect();
    let set = crate::claude::AgentSet::load(ws, roots);
    found.push(finding(
        Level::Ok,
        format!("agents: {}", set.names().join(", ")),
        None,
    ));
    for b in broken {
        found.push(finding(
            Level::Problem,
            format!("broken agent file {b}"),
            Some("fix it (`codex-plus agents validate` lists every check)"),
        ));
    }
    let commands = CommandSet::load(ws, roots);
    let (skills, plain): (Vec<_>, Vec<_>) = commands
        .commands()
        .iter()
        .partition(|c| c.skill_dir.is_some());
    let names = |v: &[&crate::claude::CommandDef]| {
        let n: Vec<String> = v.iter().map(|c| format!("/{}", c.name)).collect();
        if n.is_empty() {
            "none".to_string()
        } else {
            n.join(" ")
        }
    };
    found.push(finding(
        Level::Ok,
        format!("commands: {}", names(&plain)),
        None,
    ));
    found.push(finding(
        Level::Ok,
        format!("skills: {}", names(&skills)),
        None,
    ));
    found.extend(diagnostics(commands.diagnostics()));

    let settings = Settings::load(ws, roots);
    found.extend(diagnostics(&settings.diagnostics));
    let sources: Vec<(PathBuf, Value)> = settings
        .hooks_sources
        .iter()
        .map(|h| (h.path.clone(), h.value.clone()))
        .collect();
    let (hooks, warnings) = HookConfig::from_settings(&sources);
    let by_event: Vec<String> = HookEvent::ALL
        .iter()
        .filter_map(|e| {
            let n: usize = hooks.groups(*e).iter().map(|g| g.hooks.len()).sum();
            (n > 0).then(|| format!("{e} ({n})"))
        })
        .collect();
    found.push(finding(
        Level::Ok,
        format!(
            "hooks: {}",
            if by_event.is_empty() {
                "none".to_string()
            } else {
                by_event.join(", ")
            }
        ),
        None,
    ));
    for w in warnings {
        found.push(finding(Level::Warning, w.to_string(), None));
    }
    match &settings.status_line {
        Some(line) => found.push(finding(
            Level::Ok,
            format!(
                "status line: `{}` (from {})",
                line.command,
                line.source.display()
            ),
            None,
        )),
        None => found.push(finding(Level::Info, "status line: the built-in one", None)),
    }
    found.extend(mcp_servers(ws, roots, codex_home));
    found
}

fn diagnostics(list: &[crate::claude::Diagnostic]) -> Vec<Finding> {
    list.iter()
        .filter(|d| d.severity != Severity::Info)
        .map(|d| {
            let level = if d.severity == Severity::Error {
                Level::Problem
            } else {
                Level::Warning
            };
            let place = d
                .path
                .as_ref()
                .map(|p| format!("{}: ", p.display()))
                .unwrap_or_default();
            Finding {
                level,
                text: format!("{place}{}", d.describe()),
                fix: None,
            }
        })
        .collect()
}

/// The MCP servers subagents of this workspace get (every source the engine reads),
/// each with where it came from, and every entry that cannot be used, with why. A
/// stdio server whose command is not found is a problem: it would be reported at
/// the first subagent and its tools would be missing.
fn mcp_servers(ws: &Path, roots: &Roots, codex_home: Option<&Path>) -> Vec<Finding> {
    use crate::engine::mcp::config::{self, Locations, Transport};
    let at = Locations {
        roots: roots.clone(),
        codex_home: codex_home
            .map(Path::to_path_buf)
            .or_else(|| roots.home.as_ref().map(|h| h.join(".codex"))),
    };
    let env = |name: &str| std::env::var(name).ok();
    let found = config::load(ws, &at, &env);
    let mut out = Vec::new();
    if found.servers.is_empty() && found.errors.is_empty() {
        out.push(finding(Level::Info, "MCP servers: none", None));
    }
    for server in found.servers.values() {
        let missing = match &server.transport {
            Transport::Stdio { command, cwd, .. } => {
                !command_exists(command, cwd.as_deref().unwrap_or(ws))
            }
            Transport::Http { .. } => false,
        };
        let text = format!(
            "MCP server `{}`: {} (from {})",
            server.name,
            server.describe(),
            server.source.display()
        );
        out.push(if missing {
            finding(
                Level::Problem,
                format!("{text}: the command is not found"),
                Some("install it, or fix `command`; subagents run without its tools"),
            )
        } else {
            finding(Level::Ok, text, None)
        });
    }
    for error in &found.errors {
        out.push(finding(
            Level::Problem,
            error.to_string(),
            Some("fix the entry; until then subagents run without that server"),
        ));
    }
    out
}

/// Whether `command` names a file: a path (relative to `dir`), or a name on PATH.
fn command_exists(command: &str, dir: &Path) -> bool {
    if command.contains('/') {
        return dir.join(command).is_file();
    }
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|d| d.join(command).is_file()))
}

/// Gathers the facts of this machine and runs the checks.
pub async fn run(
    remote: &super::remote::Remote,
    dial: String,
    codex_home: PathBuf,
    ca_cert: PathBuf,
    workspace: PathBuf,
) -> Report {
    let proxy = remote.probe("/health").await;
    let codex = codex_version().await;
    let codex_config_path = codex_home.join("config.toml");
    let codex_config = std::fs::read_to_string(&codex_config_path).ok();
    let set = |var: &str| std::env::var_os(var).is_some_and(|v| !v.is_empty());
    let facts = Facts {
        proxy_url: remote.base.clone(),
        proxy,
        codex,
        codex_config_path,
        codex_config,
        dial,
        ca_cert,
        ca_env: std::env::var("CODEX_CA_CERTIFICATE")
            .ok()
            .filter(|v| !v.is_empty()),
        keys: KEY_VARS.iter().map(|v| (*v, set(v))).collect(),
        workspace,
        roots: Roots::from_env(),
    };
    check(&facts)
}

/// `codex --version` (CODEX_BIN when set), or why it could not run.
async fn codex_version() -> Result<String, String> {
    let bin = std::env::var("CODEX_BIN").unwrap_or_else(|_| "codex".into());
    let run = tokio::process::Command::new(&bin)
        .arg("--version")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    match tokio::time::timeout(std::time::Duration::from_secs(10), run).await {
        Err(_) => Err(format!("`{bin} --version` did not answer within 10 s")),
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(format!("`{bin}` is not on PATH"))
        }
        Ok(Err(e)) => Err(format!("`{bin}` cannot run: {e}")),
        Ok(Ok(out)) if out.status.success() => {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
        }
        Ok(Ok(out)) => Err(format!(
            "`{bin} --version` failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(ws: &Path, home: &Path) -> Facts {
        Facts {
            proxy_url: "http://127.0.0.1:10000".into(),
            proxy: Ok(json!({"status": "ok", "version": "0.1.0"})),
            codex: Ok("codex-cli 0.171.0".into()),
            codex_config_path: home.join(".codex/config.toml"),
            codex_config: Some(super::super::codex_config::render(
                Some(Mode::Api),
                "127.0.0.1:10000".parse().unwrap(),
                &home.join("ca.pem"),
            )),
            dial: "127.0.0.1:10000".into(),
            ca_cert: home.join("ca.pem"),
            ca_env: None,
            keys: vec![("OPENAI_API_KEY", true), ("ANTHROPIC_API_KEY", false)],
            workspace: ws.to_path_buf(),
            roots: Roots::with_home(home),
        }
    }

    #[test]
    fn a_healthy_setup_has_no_problem() {
        let tmp = tempfile::tempdir().unwrap();
        let ws = tmp.path().join("ws");
        std::fs::create_dir_all(ws.join(".claude/agents")).unwrap();
        std::fs::write(
            ws.join(".claude/agents/reviewer.md"),
            "---\nname: reviewer\ndescription: Reviews\ntools: Read\n---\nYou review.\n",
        )
        .unwrap();
        let report = check(&facts(&ws, &tmp.path().join("home")));
        let text = report.render();
        assert!(report.is_ok(), "{text}");
        assert!(
            text.contains("✓ running at http://127.0.0.1:10000, version 0.1.0"),
            "{text}"
        );
        assert!(
            text.contains("points Codex at codex-plus in API-key mode"),
            "{text}"
        );
        assert!(
            text.contains("agents: Explore, general-purpose, Plan, reviewer"),
            "{text}"
        );
        assert!(text.contains("i ANTHROPIC_API_KEY is not set"), "{text}");
        assert!(text.ends_with("No problems found.\n"));
        assert_eq!(report.to_json()["ok"], true);
    }

    #[test]
    fn mcp_servers_are_listed_with_their_source_and_problems() {
        let tmp = tempfile::tempdir().unwrap();
        let ws = tmp.path().join("ws");
        let home = tmp.path().join("home");
        std::fs::create_dir_all(home.join(".codex")).unwrap();
        std::fs::create_dir_all(&ws).unwrap();
        std::fs::write(
            ws.join(".mcp.json"),
            json!({"mcpServers": {
                "shell": {"command": "sh", "env": {"TOKEN": "s3cret"}},
                "gone": {"command": "no-such-mcp-server-here"},
                "old": {"type": "sse", "url": "http://127.0.0.1:1/sse"},
            }})
            .to_string(),
        )
        .unwrap();
        std::fs::write(
            home.join(".codex/config.toml"),
            "[mcp_servers.docs]\nurl = \"https://docs.example.com/mcp?key=s3cret\"\n",
        )
        .unwrap();
        let text = mcp_servers(&ws, &Roots::with_home(&home), Some(&home.join(".codex")))
            .iter()
            .map(|f| format!("{:?} {}", f.level, f.text))
            .collect::<Vec<_>>()
            .join("\n");
        let mcp_json = ws.join(".mcp.json").display().to_string();
        for line in [
            format!("Ok MCP server `docs`: http https://docs.example.com/mcp (from {})", home.join(".codex/config.toml").display()),
            format!("Ok MCP server `shell`: stdio `sh` (from {mcp_json})"),
            format!("Problem MCP server `gone`: stdio `no-such-mcp-server-here` (from {mcp_json}): the command is not found"),
            format!("Problem {mcp_json}: MCP server `old`: transport `sse` is not supported (use `stdio` with a `command`, or `http` with a `url`)"),
        ] {
            assert!(text.lines().any(|l| l == line), "{line}\nin:\n{text}");
        }
        assert!(!text.contains("s3cret"), "{text}");
    }

    #[test]
    fn each_kind_of_problem_is_named_with_its_fix() {
        let tmp = tempfile::tempdir().unwrap();
        let ws = tmp.path().join("ws");
        std::fs::create_dir_all(ws.join(".claude/agents")).unwrap();
        std::fs::write(
            ws.join(".claude/agents/broken.md"),
            "---\nname: broken\n---\nNo description.\n",
        )
        .unwrap();
        std::fs::write(ws.join(".claude/settings.json"), "{\"hooks\": ").unwrap();
        std::fs::write(ws.join(".mcp.json"), "{\"mcpServers\": {\"github\": {}}}").unwrap();
        let home = tmp.path().join("home");
        let mut f = facts(&ws, &home);
        f.proxy = Err("nothing answers there".into());
        f.codex = Err("not found on PATH".into());
        // The wrong paste: ChatGPT-mode lines inside the provider table.
        f.codex_config = Some(
            "model_provider = \"codexplus\"\n[model_providers.codexplus]\nbase_url = \"http://127.0.0.1:10000/v1\"\nopenai_base_url = \"https://127.0.0.1:10000/backend-api/codex\"\n".into(),
        );
        f.keys = vec![("OPENAI_API_KEY", false)];
        let report = check(&f);
        let text = report.render();
        assert!(!report.is_ok());
        for (problem, fix) in [
            (
                "no proxy answers at http://127.0.0.1:10000",
                "./proxy.sh enable",
            ),
            (
                "the Codex CLI cannot be run (not found on PATH)",
                "npm install -g @openai/codex",
            ),
            (
                "sits inside [model_providers.codexplus]",
                "codex-config --install",
            ),
            (
                "OPENAI_API_KEY is not set, and API-key mode sends it",
                "export OPENAI_API_KEY",
            ),
            ("broken agent file", "agents validate"),
        ] {
            assert!(
                text.contains(&format!("✗ {problem}")) || text.contains(problem),
                "{problem}: {text}"
            );
            assert!(text.contains(fix), "{fix}: {text}");
        }
        assert!(
            text.contains("settings.json"),
            "the broken settings file: {text}"
        );
        let line = text
            .lines()
            .find(|l| {
                l.contains(
                    "MCP server `github`: it has neither a `command` (stdio) nor a `url` (http)",
                )
            })
            .unwrap_or_default();
        assert!(line.trim_start().starts_with('✗'), "{text}");
        assert!(report.problems() >= 6, "{text}");

        // ChatGPT-login mode without its CA, and no config at all.
        let mut f = facts(&ws, &home);
        f.codex_config =
            Some("openai_base_url = \"https://127.0.0.1:10000/backend-api/codex\"\n".into());
        let text = check(&f).render();
        assert!(
            text.contains("ChatGPT-login mode needs CODEX_CA_CERTIFICATE"),
            "{text}"
        );
        f.codex_config = None;
        let text = check(&f).render();
        assert!(
            text.contains("does not exist, so Codex talks to OpenAI directly"),
            "{text}"
        );
    }
}
