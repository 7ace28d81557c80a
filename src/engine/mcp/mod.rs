//! MCP servers for subagents, with the official Rust SDK (`rmcp`).
//!
//! - `config.rs`: where servers are configured (Claude Code's and Codex's files, an
//!   agent's `mcpServers`), merged by name;
//! - `pool.rs`: running servers, shared per workspace and configuration, restarted
//!   after a crash, stopped when idle and at shutdown;
//! - `http.rs`: rmcp's streamable HTTP transport over the crate's reqwest client;
//! - `adapter.rs`: tool names (`mcp__<server>__<tool>`), specs and results.
//!
//! What an MCP tool may do is the server's business: it runs outside the subagent's
//! OS sandbox, as it does in Claude Code and Codex, because the user configured it.
//! What the engine holds to is that a subagent never gets more than its session: the
//! agent's `tools`, the settings' permission rules (`mcp__server`, `mcp__server__tool`)
//! and `permissionMode` decide which tools are offered and called, and in a read-only
//! sandbox (or `permissionMode: plan`) only tools the server marks `readOnlyHint` are.

pub mod adapter;
pub mod config;
pub mod http;
pub mod pool;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures_util::future::join_all;
use serde_json::{json, Value};

use super::access::AccessPolicy;
use super::tools::{ToolContext, ToolError, ToolOutcome};
use crate::claude::{AgentDef, Roots};
use crate::providers::ToolSpec;
pub use adapter::Image;
pub use config::{Locations, McpConfig, ServerConfig};
pub use pool::McpPool;

/// One MCP tool a subagent was offered.
#[derive(Clone)]
pub struct McpTool {
    /// `mcp__<server>__<tool>`.
    pub name: String,
    /// The tool's own name on its server.
    pub tool: String,
    /// The server says it changes nothing (`readOnlyHint`).
    pub read_only: bool,
    slot: Arc<pool::Slot>,
}

/// The MCP tools of one subagent.
#[derive(Clone, Default)]
pub struct McpTools(Arc<Vec<McpTool>>);

impl McpTools {
    pub fn get(&self, name: &str) -> Option<&McpTool> {
        self.0.iter().find(|t| t.name == name)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The servers a workspace and agent have, and what was wrong with their
/// configuration (each reported once).
pub fn servers_for(
    pool: &McpPool,
    agent: &AgentDef,
    cwd: &Path,
    roots: &Roots,
    codex_home: Option<&Path>,
) -> McpConfig {
    let env = |name: &str| std::env::var(name).ok();
    let at = Locations {
        roots: roots.clone(),
        codex_home: codex_home
            .map(Path::to_path_buf)
            .or_else(|| roots.home.as_ref().map(|h| h.join(".codex"))),
    };
    let mut servers = config::load(cwd, &at, &env);
    if let Some(raw) = &agent.mcp_servers {
        let file = agent
            .path
            .clone()
            .unwrap_or_else(|| PathBuf::from(&agent.name));
        let (own, unknown) = config::agent_servers(raw, &file, &servers, &env);
        for name in unknown {
            pool.warn_once(
                &format!("unknown-server\0{}\0{name}", file.display()),
                &format!(
                    "agent `{}` ({}): its mcpServers names `{name}`, which no MCP configuration of this workspace defines{}",
                    agent.name,
                    file.display(),
                    known(&servers)
                ),
            );
        }
        servers.merge(own);
    }
    for entry in agent.tools.entries() {
        let Some(server) = adapter::server_of(&entry.name) else {
            continue;
        };
        let defined = servers
            .servers
            .keys()
            .any(|name| adapter::normalize(name) == server);
        if !defined {
            pool.warn_once(
                &format!("unknown-tool\0{}\0{}\0{}", cwd.display(), agent.name, entry.name),
                &format!(
                    "agent `{}`: its tools list `{}`, but no MCP server `{server}` is configured for {}{}",
                    agent.name,
                    entry.name,
                    cwd.display(),
                    known(&servers)
                ),
            );
        }
    }
    for error in &servers.errors {
        let text = error.to_string();
        pool.warn_once(&text, &format!("MCP configuration: {text}"));
    }
    servers
}

fn known(servers: &McpConfig) -> String {
    if servers.servers.is_empty() {
        " (none are)".to_string()
    } else {
        let names: Vec<&str> = servers.servers.keys().map(String::as_str).collect();
        format!(" (configured: {})", names.join(", "))
    }
}

/// Starts (or reuses) the servers whose tools `policy` may offer, and returns the specs
/// to offer and the tools to call. A server that does not start is left out (the pool
/// reports it once); the agent runs without its tools.
pub async fn tools_for(
    pool: &McpPool,
    servers: &McpConfig,
    agent: &AgentDef,
    policy: &AccessPolicy,
    cwd: &Path,
) -> (Vec<ToolSpec>, McpTools) {
    let slots: Vec<_> = servers
        .servers
        .values()
        .filter(|s| policy.may_use_mcp_server(&adapter::normalize(&s.name)))
        .map(|s| pool.slot(cwd, s))
        .collect();
    let started = join_all(slots.iter().map(|slot| slot.connect())).await;
    let mut specs = Vec::new();
    let mut tools = Vec::new();
    for (slot, conn) in slots.iter().zip(started) {
        let Ok(conn) = conn else { continue };
        for tool in &conn.tools {
            let name = adapter::tool_name(&slot.config.name, &tool.name);
            let read_only = tool
                .annotations
                .as_ref()
                .and_then(|a| a.read_only_hint)
                .unwrap_or(false);
            // Offered when a call would be allowed: the agent's tools, the permission
            // rules, the sandbox and `permissionMode` as for any call.
            if !policy.has_tool(&name)
                || disallowed(agent, &name)
                || policy
                    .check_call(&name, read_only, &json!({}), cwd)
                    .is_err()
            {
                continue;
            }
            match adapter::spec(&slot.config.name, tool) {
                Ok(spec) => {
                    if specs.iter().any(|s: &ToolSpec| s.name == spec.name) {
                        continue;
                    }
                    specs.push(spec);
                    tools.push(McpTool {
                        name,
                        tool: tool.name.to_string(),
                        read_only,
                        slot: Arc::clone(slot),
                    });
                }
                Err(e) => pool.warn_once(
                    &format!("spec\0{}\0{name}", slot.config.name),
                    &format!(
                        "MCP server `{}`: tool `{}` is not offered to subagents: {e}",
                        slot.config.name, tool.name
                    ),
                ),
            }
        }
    }
    (specs, McpTools(Arc::new(tools)))
}

/// `disallowedTools` entries naming MCP tools or whole servers.
fn disallowed(agent: &AgentDef, name: &str) -> bool {
    agent.disallowed_tools.entries().iter().any(|e| {
        e.specifier.is_none()
            && (e.name == name
                || (e.name.starts_with("mcp__")
                    && name
                        .strip_prefix(e.name.trim_end_matches("__*"))
                        .is_some_and(|rest| rest.starts_with("__"))))
    })
}

/// One call of an MCP tool the subagent was offered: access checked as for any tool,
/// then the server's result, its text capped at the output cap.
pub async fn call(tool: &McpTool, input: Value, ctx: &ToolContext) -> (ToolOutcome, Vec<Image>) {
    if let Err(e) = ctx
        .access
        .check_call(&tool.name, tool.read_only, &input, &ctx.cwd)
    {
        return (ToolOutcome::from_error(&e), Vec::new());
    }
    if !matches!(input, Value::Object(_) | Value::Null) {
        let e = ToolError::invalid(&tool.name, "the input must be a JSON object");
        return (ToolOutcome::from_error(&e), Vec::new());
    }
    match tool.slot.call(&tool.tool, input).await {
        Ok(result) => {
            let (text, images, is_error) = adapter::result(&result, ctx.limits.output_cap);
            let outcome = if is_error {
                ToolOutcome::failed(text)
            } else {
                ToolOutcome::ok(text)
            };
            (outcome, images)
        }
        Err(e) => (ToolOutcome::failed(e.to_string()), Vec::new()),
    }
}
