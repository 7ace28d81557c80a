//! Which MCP servers a workspace has, read from every place Claude Code and Codex keep
//! them, and merged by name (a later source wins):
//!
//! 1. Codex's `[mcp_servers]` in `$CODEX_HOME/config.toml` (default `~/.codex`), so one
//!    setup serves both;
//! 2. `mcpServers` in `~/.claude.json` (Claude Code's user scope);
//! 3. `mcpServers` in the settings files, in their precedence order;
//! 4. the workspace's `.mcp.json` (project scope);
//! 5. `projects["<workspace>"].mcpServers` in `~/.claude.json` (local scope);
//! 6. an agent's own `mcpServers` frontmatter (for that agent only).
//!
//! Pure apart from reading the files: every problem becomes a [`ConfigError`] kept
//! beside the servers that did load, so one bad entry never hides the others.

use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use serde_json::Value;

use crate::claude::{Roots, Settings};

/// How the proxy talks to one server.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Transport {
    /// A child process speaking JSON-RPC over stdin/stdout.
    Stdio {
        command: String,
        args: Vec<String>,
        /// Added to the proxy's own environment. Values are never logged.
        env: Vec<(String, String)>,
        /// Where it runs; the workspace when not set.
        cwd: Option<PathBuf>,
    },
    /// Streamable HTTP at `url`. Header values are never logged.
    Http {
        url: String,
        headers: Vec<(String, String)>,
    },
}

/// One configured server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// The name as configured; tools are offered as `mcp__<name>__<tool>`.
    pub name: String,
    pub transport: Transport,
    /// The file it came from, for messages.
    pub source: PathBuf,
}

impl ServerConfig {
    /// What the server is, for messages and `doctor`: the command or the URL, never
    /// its environment or headers (they may hold credentials).
    pub fn describe(&self) -> String {
        match &self.transport {
            Transport::Stdio { command, .. } => format!("stdio `{command}`"),
            Transport::Http { url, .. } => format!("http {}", strip_query(url)),
        }
    }
}

fn strip_query(url: &str) -> &str {
    url.split(['?', '#']).next().unwrap_or(url)
}

/// Why a server (or a whole file) could not be used. Each says where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}:{line}:{column}: not valid JSON: {reason}")]
    MalformedJson {
        path: PathBuf,
        line: usize,
        column: usize,
        reason: String,
    },
    #[error("{path}: not valid TOML: {reason}")]
    MalformedToml { path: PathBuf, reason: String },
    #[error("{path}: `{key}` must be an object of servers by name")]
    NotAnObject { path: PathBuf, key: String },
    #[error("{path}: MCP server `{server}`: transport `{kind}` is not supported (use `stdio` with a `command`, or `http` with a `url`)")]
    UnknownTransport {
        path: PathBuf,
        server: String,
        kind: String,
    },
    #[error("{path}: MCP server `{server}`: {reason}")]
    Invalid {
        path: PathBuf,
        server: String,
        reason: String,
    },
    #[error("{path}: MCP server `{server}` needs the environment variable `{var}`, which is not set (write `${{{var}:-default}}` to give it a default)")]
    MissingVar {
        path: PathBuf,
        server: String,
        var: String,
    },
}

impl ConfigError {
    /// The server it concerns, when it concerns one.
    pub fn server(&self) -> Option<&str> {
        match self {
            Self::UnknownTransport { server, .. }
            | Self::Invalid { server, .. }
            | Self::MissingVar { server, .. } => Some(server),
            _ => None,
        }
    }
}

/// The servers one workspace (and agent) can use, and what was wrong on the way.
#[derive(Debug, Clone, Default)]
pub struct McpConfig {
    pub servers: IndexMap<String, ServerConfig>,
    pub errors: Vec<ConfigError>,
}

impl McpConfig {
    /// Adds the servers of one source; a later source replaces a server of the same
    /// name (and clears an earlier error about that name).
    pub fn merge(&mut self, other: McpConfig) {
        for (name, server) in other.servers {
            self.errors.retain(|e| e.server() != Some(&name));
            self.servers.insert(name, server);
        }
        for error in other.errors {
            if let Some(name) = error.server() {
                // A broken redefinition hides the earlier one: the user meant to change it.
                self.servers.shift_remove(name);
            }
            self.errors.push(error);
        }
    }
}

/// Where the files are.
#[derive(Debug, Clone, Default)]
pub struct Locations {
    pub roots: Roots,
    /// `$CODEX_HOME`, or `~/.codex`.
    pub codex_home: Option<PathBuf>,
}

impl Locations {
    /// From the process environment.
    pub fn from_env() -> Self {
        let roots = Roots::from_env();
        let codex_home = std::env::var_os("CODEX_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| roots.home.as_ref().map(|h| h.join(".codex")));
        Self { roots, codex_home }
    }

    /// `~/.claude.json`, or `$CLAUDE_CONFIG_DIR/.claude.json` when that is set.
    fn claude_json(&self) -> Option<PathBuf> {
        match &self.roots.claude_config_dir {
            Some(dir) => Some(dir.join(".claude.json")),
            None => self.roots.home.as_ref().map(|h| h.join(".claude.json")),
        }
    }
}

/// Reads every source for `workspace`, with environment variables from `env`.
pub fn load(workspace: &Path, at: &Locations, env: &dyn Fn(&str) -> Option<String>) -> McpConfig {
    let mut config = McpConfig::default();
    if let Some(home) = &at.codex_home {
        let path = home.join("config.toml");
        if let Some(text) = read(&path) {
            config.merge(from_codex_toml(&text, &path, env));
        }
    }
    let claude_json = at.claude_json().and_then(|path| {
        let text = read(&path)?;
        Some((parse_json(&text, &path), path))
    });
    if let Some((Ok(value), path)) = &claude_json {
        config.merge(servers_in(value.get("mcpServers"), path, "mcpServers", env));
    }
    if let Some((Err(e), _)) = &claude_json {
        config.errors.push(e.clone());
    }
    // Claude Code's "reject" for a project server is honoured. Its approval prompt has
    // no counterpart here: the proxy trusts the workspace's `.mcp.json` as it trusts
    // the workspace's hooks.
    let mut disabled: Vec<String> = Vec::new();
    for path in Settings::paths(workspace, &at.roots) {
        if let Some(text) = read(&path) {
            // The settings loader reports a broken settings file already.
            if let Ok(value) = parse_json(&text, &path) {
                config.merge(servers_in(
                    value.get("mcpServers"),
                    &path,
                    "mcpServers",
                    env,
                ));
                if let Some(names) = strings(value.get("disabledMcpjsonServers")) {
                    disabled.extend(names);
                }
            }
        }
    }
    let project = workspace.join(".mcp.json");
    if let Some(text) = read(&project) {
        let mut servers = from_mcp_json(&text, &project, env);
        servers.servers.retain(|name, _| !disabled.contains(name));
        servers.errors.retain(|e| {
            e.server()
                .is_none_or(|name| !disabled.iter().any(|d| d == name))
        });
        config.merge(servers);
    }
    if let Some((Ok(value), path)) = &claude_json {
        let key = workspace.to_string_lossy();
        let local = value
            .get("projects")
            .and_then(|p| p.get(key.as_ref()))
            .and_then(|p| p.get("mcpServers"));
        config.merge(servers_in(local, path, "mcpServers", env));
    }
    config
}

/// An agent's `mcpServers`: a list whose entries are a configured server's name or an
/// inline `{name: definition}`, or one map of inline definitions. Names that match no
/// configured server are returned apart, for a warning.
pub fn agent_servers(
    raw: &Value,
    file: &Path,
    known: &McpConfig,
    env: &dyn Fn(&str) -> Option<String>,
) -> (McpConfig, Vec<String>) {
    let mut own = McpConfig::default();
    let mut unknown = Vec::new();
    let inline = |map: &serde_json::Map<String, Value>, own: &mut McpConfig| {
        own.merge(servers_in(
            Some(&Value::Object(map.clone())),
            file,
            "mcpServers",
            env,
        ));
    };
    match raw {
        Value::Array(items) => {
            for item in items {
                match item {
                    Value::String(name) if known.servers.contains_key(name) => {}
                    Value::String(name) => unknown.push(name.clone()),
                    Value::Object(map) => inline(map, &mut own),
                    other => own.errors.push(ConfigError::Invalid {
                        path: file.to_path_buf(),
                        server: other.to_string(),
                        reason:
                            "an `mcpServers` entry is a server's name or `{name: {command: ...}}`"
                                .into(),
                    }),
                }
            }
        }
        Value::Object(map) => inline(map, &mut own),
        Value::String(name) if known.servers.contains_key(name) => {}
        Value::String(name) => unknown.push(name.clone()),
        _ => own.errors.push(ConfigError::NotAnObject {
            path: file.to_path_buf(),
            key: "mcpServers".into(),
        }),
    }
    (own, unknown)
}

fn read(path: &Path) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

fn parse_json(text: &str, path: &Path) -> Result<Value, ConfigError> {
    serde_json::from_str(text).map_err(|e| ConfigError::MalformedJson {
        path: path.to_path_buf(),
        line: e.line(),
        column: e.column(),
        // serde's text ends with the place, which the message gives already.
        reason: e
            .to_string()
            .rsplit_once(" at line ")
            .map_or_else(|| e.to_string(), |(why, _)| why.to_string()),
    })
}

/// A `.mcp.json` file: `{"mcpServers": {...}}`.
pub fn from_mcp_json(text: &str, path: &Path, env: &dyn Fn(&str) -> Option<String>) -> McpConfig {
    match parse_json(text, path) {
        Ok(value) => servers_in(value.get("mcpServers"), path, "mcpServers", env),
        Err(e) => McpConfig {
            servers: IndexMap::new(),
            errors: vec![e],
        },
    }
}

/// The servers of an `mcpServers` object in Claude Code's shape.
fn servers_in(
    servers: Option<&Value>,
    path: &Path,
    key: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> McpConfig {
    let mut config = McpConfig::default();
    let Some(servers) = servers.filter(|v| !v.is_null()) else {
        return config;
    };
    let Some(map) = servers.as_object() else {
        config.errors.push(ConfigError::NotAnObject {
            path: path.to_path_buf(),
            key: key.to_string(),
        });
        return config;
    };
    for (name, def) in map {
        match claude_server(name, def, path, env) {
            Ok(server) => {
                config.servers.insert(name.clone(), server);
            }
            Err(e) => config.errors.push(e),
        }
    }
    config
}

fn claude_server(
    name: &str,
    def: &Value,
    path: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<ServerConfig, ConfigError> {
    let invalid = |reason: &str| ConfigError::Invalid {
        path: path.to_path_buf(),
        server: name.to_string(),
        reason: reason.to_string(),
    };
    let def = def
        .as_object()
        .ok_or_else(|| invalid("its definition must be an object"))?;
    let expand = |text: &str| {
        expand_vars(text, env).map_err(|var| ConfigError::MissingVar {
            path: path.to_path_buf(),
            server: name.to_string(),
            var,
        })
    };
    let kind = match def.get("type") {
        None => None,
        Some(Value::String(kind)) => Some(kind.as_str()),
        Some(_) => return Err(invalid("`type` must be a string")),
    };
    let transport = match kind {
        None | Some("stdio") if def.contains_key("command") || kind.is_some() => {
            let command = def
                .get("command")
                .and_then(Value::as_str)
                .filter(|c| !c.trim().is_empty())
                .ok_or_else(|| invalid("a stdio server needs a `command` (a string)"))?;
            let args = strings(def.get("args"))
                .ok_or_else(|| invalid("`args` must be a list of strings"))?;
            let env_map = string_map(def.get("env"))
                .ok_or_else(|| invalid("`env` must be an object of strings"))?;
            Transport::Stdio {
                command: expand(command)?,
                args: args.iter().map(|a| expand(a)).collect::<Result<_, _>>()?,
                env: expand_pairs(env_map, &expand)?,
                cwd: def.get("cwd").and_then(Value::as_str).map(PathBuf::from),
            }
        }
        None | Some("http" | "streamable-http" | "streamableHttp")
            if def.contains_key("url") || kind.is_some() =>
        {
            let url = def
                .get("url")
                .and_then(Value::as_str)
                .filter(|u| !u.trim().is_empty())
                .ok_or_else(|| invalid("an http server needs a `url` (a string)"))?;
            let headers = string_map(def.get("headers"))
                .ok_or_else(|| invalid("`headers` must be an object of strings"))?;
            http_transport(expand(url)?, expand_pairs(headers, &expand)?, &invalid)?
        }
        None => {
            return Err(invalid(
                "it has neither a `command` (stdio) nor a `url` (http)",
            ))
        }
        Some(other) => {
            return Err(ConfigError::UnknownTransport {
                path: path.to_path_buf(),
                server: name.to_string(),
                kind: other.to_string(),
            })
        }
    };
    Ok(ServerConfig {
        name: name.to_string(),
        transport,
        source: path.to_path_buf(),
    })
}

fn http_transport(
    url: String,
    headers: Vec<(String, String)>,
    invalid: &dyn Fn(&str) -> ConfigError,
) -> Result<Transport, ConfigError> {
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(invalid("`url` must start with http:// or https://"));
    }
    Ok(Transport::Http { url, headers })
}

/// Codex's `config.toml`: `[mcp_servers.<name>]` with `command`, `args`, `env`, `cwd`,
/// or `url` with `http_headers` and `bearer_token_env_var`; `enabled = false` skips one.
pub fn from_codex_toml(text: &str, path: &Path, env: &dyn Fn(&str) -> Option<String>) -> McpConfig {
    let mut config = McpConfig::default();
    let table: toml::Table = match text.parse() {
        Ok(t) => t,
        Err(e) => {
            config.errors.push(ConfigError::MalformedToml {
                path: path.to_path_buf(),
                reason: e.to_string(),
            });
            return config;
        }
    };
    let Some(servers) = table.get("mcp_servers") else {
        return config;
    };
    let Some(servers) = servers.as_table() else {
        config.errors.push(ConfigError::NotAnObject {
            path: path.to_path_buf(),
            key: "mcp_servers".into(),
        });
        return config;
    };
    for (name, def) in servers {
        let Ok(def) = serde_json::to_value(def) else {
            continue;
        };
        if def.get("enabled") == Some(&Value::Bool(false)) {
            continue;
        }
        // Codex's names for the same things, in Claude Code's shape.
        let mut shaped = def.clone();
        if let Some(obj) = shaped.as_object_mut() {
            if let Some(headers) = obj.remove("http_headers") {
                obj.insert("headers".into(), headers);
            }
            if let Some(var) = obj.remove("bearer_token_env_var") {
                if let Some(var) = var.as_str() {
                    let headers = obj
                        .entry("headers")
                        .or_insert_with(|| Value::Object(Default::default()));
                    if let Some(h) = headers.as_object_mut() {
                        h.insert("Authorization".into(), format!("Bearer ${{{var}}}").into());
                    }
                }
            }
            // Variables passed through from the proxy's environment, when set.
            if let Some(Value::Array(names)) = obj.remove("env_vars") {
                let env_map = obj
                    .entry("env")
                    .or_insert_with(|| Value::Object(Default::default()));
                if let Some(m) = env_map.as_object_mut() {
                    for name in names.iter().filter_map(Value::as_str) {
                        if let Some(value) = env(name) {
                            m.entry(name.to_string()).or_insert(Value::String(value));
                        }
                    }
                }
            }
            if let Some(Value::Object(vars)) = obj.remove("env_http_headers") {
                let headers = obj
                    .entry("headers")
                    .or_insert_with(|| Value::Object(Default::default()));
                if let Some(h) = headers.as_object_mut() {
                    for (header, var) in vars {
                        if let Some(var) = var.as_str() {
                            h.insert(header, format!("${{{var}}}").into());
                        }
                    }
                }
            }
        }
        match claude_server(name, &shaped, path, env) {
            Ok(server) => {
                config.servers.insert(name.clone(), server);
            }
            Err(e) => config.errors.push(e),
        }
    }
    config
}

fn strings(value: Option<&Value>) -> Option<Vec<String>> {
    match value {
        None | Some(Value::Null) => Some(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(str::to_string))
            .collect(),
        _ => None,
    }
}

fn string_map(value: Option<&Value>) -> Option<Vec<(String, String)>> {
    match value {
        None | Some(Value::Null) => Some(Vec::new()),
        Some(Value::Object(map)) => map
            .iter()
            .map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
            .collect(),
        _ => None,
    }
}

fn expand_pairs(
    pairs: Vec<(String, String)>,
    expand: &dyn Fn(&str) -> Result<String, ConfigError>,
) -> Result<Vec<(String, String)>, ConfigError> {
    pairs
        .into_iter()
        .map(|(k, v)| Ok((k, expand(&v)?)))
        .collect()
}

/// Claude Code's expansion: `${VAR}` is the variable's value, `${VAR:-default}` the
/// default when it is unset or empty. A variable that is unset with no default is an
/// error (its name comes back); text without `${` is unchanged.
pub fn expand_vars(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            // No closing brace: not a reference, kept as written.
            out.push_str(&rest[start..]);
            return Ok(out);
        };
        let inner = &after[..end];
        let (var, default) = match inner.split_once(":-") {
            Some((var, default)) => (var, Some(default)),
            None => (inner, None),
        };
        match (env(var).filter(|v| !v.is_empty()), default) {
            (Some(value), _) => out.push_str(&value),
            (None, Some(default)) => out.push_str(default),
            (None, None) => return Err(var.to_string()),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn env(name: &str) -> Option<String> {
        match name {
            "TOKEN" => Some("s3cret".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn variables_expand_as_claude_code_documents() {
        assert_eq!(expand_vars("a ${TOKEN} b", &env), Ok("a s3cret b".into()));
        assert_eq!(expand_vars("${NOPE:-x/y}", &env), Ok("x/y".into()));
        assert_eq!(expand_vars("${EMPTY:-d}", &env), Ok("d".into()));
        assert_eq!(expand_vars("${TOKEN:-d}", &env), Ok("s3cret".into()));
        assert_eq!(expand_vars("${NOPE}", &env), Err("NOPE".into()));
        assert_eq!(
            expand_vars("plain $HOME ${open", &env),
            Ok("plain $HOME ${open".into())
        );
    }

    #[test]
    fn mcp_json_stdio_and_http_servers() {
        let text = json!({"mcpServers": {
            "demo": {"command": "demo-server", "args": ["--token", "${TOKEN}"], "env": {"K": "${NOPE:-v}"}},
            "web": {"type": "http", "url": "https://mcp.example.com/mcp?k=1", "headers": {"Authorization": "Bearer ${TOKEN}"}},
        }})
        .to_string();
        let c = from_mcp_json(&text, Path::new("/w/.mcp.json"), &env);
        assert!(c.errors.is_empty(), "{:?}", c.errors);
        assert_eq!(
            c.servers["demo"].transport,
            Transport::Stdio {
                command: "demo-server".into(),
                args: vec!["--token".into(), "s3cret".into()],
                env: vec![("K".into(), "v".into())],
                cwd: None
            }
        );
        assert_eq!(
            c.servers["web"].transport,
            Transport::Http {
                url: "https://mcp.example.com/mcp?k=1".into(),
                headers: vec![("Authorization".into(), "Bearer s3cret".into())]
            }
        );
        // Descriptions never show credentials.
        assert_eq!(
            c.servers["web"].describe(),
            "http https://mcp.example.com/mcp"
        );
        assert!(!c.servers["demo"].describe().contains("s3cret"));
    }

    #[test]
    fn malformed_json_says_where() {
        let c = from_mcp_json(
            "{\n  \"mcpServers\": {,\n}",
            Path::new("/w/.mcp.json"),
            &env,
        );
        assert!(c.servers.is_empty());
        match &c.errors[..] {
            [ConfigError::MalformedJson { line, column, .. }] => {
                assert_eq!((*line, *column), (2, 18));
            }
            other => panic!("{other:?}"),
        }
        assert!(c.errors[0]
            .to_string()
            .starts_with("/w/.mcp.json:2:18: not valid JSON"));
    }

    #[test]
    fn unknown_transport_and_bad_entries_are_named_and_the_rest_load() {
        let text = json!({"mcpServers": {
            "old": {"type": "sse", "url": "http://localhost:1/sse"},
            "nothing": {},
            "badargs": {"command": "x", "args": "not a list"},
            "needs": {"command": "x", "env": {"K": "${UNSET_VAR}"}},
            "ok": {"command": "x"},
        }})
        .to_string();
        let c = from_mcp_json(&text, Path::new(".mcp.json"), &env);
        assert_eq!(c.servers.keys().collect::<Vec<_>>(), ["ok"]);
        let messages: Vec<String> = c.errors.iter().map(ToString::to_string).collect();
        assert_eq!(
            messages,
            [
                ".mcp.json: MCP server `old`: transport `sse` is not supported (use `stdio` with a `command`, or `http` with a `url`)",
                ".mcp.json: MCP server `nothing`: it has neither a `command` (stdio) nor a `url` (http)",
                ".mcp.json: MCP server `badargs`: `args` must be a list of strings",
                ".mcp.json: MCP server `needs` needs the environment variable `UNSET_VAR`, which is not set (write `${UNSET_VAR:-default}` to give it a default)",
            ]
        );
    }

    #[test]
    fn codex_toml_servers_in_claude_shape() {
        let text = r#"
model = "x"
[mcp_servers.docs]
command = "docs-mcp"
args = ["serve"]
env = { A = "1" }
env_vars = ["TOKEN", "UNSET_ONE"]
[mcp_servers.remote]
url = "http://127.0.0.1:9/mcp"
bearer_token_env_var = "TOKEN"
[mcp_servers.off]
command = "never"
enabled = false
"#;
        let c = from_codex_toml(text, Path::new("config.toml"), &env);
        assert!(c.errors.is_empty(), "{:?}", c.errors);
        assert_eq!(c.servers.keys().collect::<Vec<_>>(), ["docs", "remote"]);
        match &c.servers["docs"].transport {
            Transport::Stdio { env, .. } => assert_eq!(
                env,
                &[("A".into(), "1".into()), ("TOKEN".into(), "s3cret".into())]
            ),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            c.servers["remote"].transport,
            Transport::Http {
                url: "http://127.0.0.1:9/mcp".into(),
                headers: vec![("Authorization".into(), "Bearer s3cret".into())]
            }
        );
        let bad = from_codex_toml("[mcp_servers\n", Path::new("config.toml"), &env);
        assert!(matches!(
            bad.errors[..],
            [ConfigError::MalformedToml { .. }]
        ));
    }

    #[test]
    fn later_sources_win_and_a_broken_redefinition_hides_the_earlier() {
        let mut c = from_mcp_json(
            &json!({"mcpServers": {"a": {"command": "one"}, "b": {"command": "b"}}}).to_string(),
            Path::new("user"),
            &env,
        );
        c.merge(from_mcp_json(
            &json!({"mcpServers": {"a": {"command": "two"}, "b": {"type": "ws"}}}).to_string(),
            Path::new("project"),
            &env,
        ));
        assert_eq!(c.servers.keys().collect::<Vec<_>>(), ["a"]);
        assert_eq!(c.servers["a"].source, Path::new("project"));
        assert_eq!(c.errors.len(), 1);
    }

    #[test]
    fn every_source_is_read_in_order() -> std::io::Result<()> {
        let tmp = tempfile::tempdir()?;
        let home = tmp.path().join("home");
        let ws = tmp.path().join("ws");
        std::fs::create_dir_all(home.join(".codex"))?;
        std::fs::create_dir_all(home.join(".claude"))?;
        std::fs::create_dir_all(ws.join(".claude"))?;
        std::fs::write(
            home.join(".codex/config.toml"),
            "[mcp_servers.codex]\ncommand = \"c\"\n[mcp_servers.shared]\ncommand = \"from-codex\"\n",
        )?;
        let local = json!({"mcpServers": {"user": {"command": "u"}, "shared": {"command": "from-user"}},
                           "projects": {ws.to_string_lossy(): {"mcpServers": {"local": {"command": "l"}}}}});
        std::fs::write(home.join(".claude.json"), local.to_string())?;
        std::fs::write(
            ws.join(".claude/settings.json"),
            json!({"mcpServers": {"settings": {"command": "s"}}}).to_string(),
        )?;
        std::fs::write(
            ws.join(".mcp.json"),
            json!({"mcpServers": {"shared": {"command": "from-project"}, "rejected": {"command": "r"}}})
                .to_string(),
        )?;
        std::fs::write(
            ws.join(".claude/settings.local.json"),
            json!({"disabledMcpjsonServers": ["rejected"]}).to_string(),
        )?;
        let at = Locations {
            roots: Roots::with_home(&home),
            codex_home: Some(home.join(".codex")),
        };
        let c = load(&ws, &at, &env);
        assert!(c.errors.is_empty(), "{:?}", c.errors);
        let names: Vec<&str> = c.servers.keys().map(String::as_str).collect();
        assert_eq!(names, ["codex", "shared", "user", "settings", "local"]);
        match &c.servers["shared"].transport {
            Transport::Stdio { command, .. } => assert_eq!(command, "from-project"),
            other => panic!("{other:?}"),
        }
        Ok(())
    }

    #[test]
    fn agent_servers_take_names_and_inline_definitions() {
        let known = from_mcp_json(
            &json!({"mcpServers": {"gh": {"command": "gh"}}}).to_string(),
            Path::new(".mcp.json"),
            &env,
        );
        let raw = json!(["gh", "nowhere", {"mine": {"command": "mine"}}]);
        let (own, unknown) = agent_servers(&raw, Path::new("a.md"), &known, &env);
        assert_eq!(own.servers.keys().collect::<Vec<_>>(), ["mine"]);
        assert_eq!(unknown, ["nowhere"]);
        let (own, unknown) = agent_servers(
            &json!({"x": {"url": "http://h/mcp"}}),
            Path::new("a.md"),
            &known,
            &env,
        );
        assert_eq!(own.servers.keys().collect::<Vec<_>>(), ["x"]);
        assert!(unknown.is_empty());
    }
}
