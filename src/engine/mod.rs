//! The agent engine: runs a Task as an in-process subagent with its own context,
//! tools and model, many at once, and records each in the ledger.
//!
//! A task is accepted at once ([`Engine::spawn`]): its ledger row is queued, then it
//! waits for one of `max_concurrent` slots (first come, first served), runs its
//! subagent's tool loop under its timeout, and ends with a [`TaskResult`] that keeps
//! whatever text it produced. Subagents started by a subagent run under their
//! parent's slot, so a full engine can never deadlock on its own children.

pub mod access;
pub mod agent_tool;
pub mod events;
pub mod feed;
mod hooks;
pub mod judge;
pub mod mcp;
pub mod memory;
pub mod policy;
pub mod progress;
pub mod prompt;
mod queue;
pub mod request;
pub mod result;
mod subagent;
pub mod tools;
pub mod transcript;
pub mod worktree;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use futures_util::FutureExt;
use http::header::{HeaderValue, AUTHORIZATION};
use http::HeaderMap;
use tokio::sync::{broadcast, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::claude::{AgentDef, AgentSet, ClaudeCatalogs};
use crate::config::{Config, TasksConfig};
use crate::hooks::service::Hooks;
use crate::providers::config::{ConfigError as ProvidersConfigError, EnvLookup};
use crate::providers::router::{InheritTarget, ProviderRouter};
use crate::providers::ToolSpec;
use crate::store::{Ledger, TaskOutcome, TaskRecord, Timestamp};

pub use events::{TaskEvent, TaskHandle};
pub use feed::{Feed, TaskUpdate};
pub use request::{RequestError, TaskRequest, Workspace, DEFAULT_AGENT};
pub use result::{TaskResult, TaskSnapshot, TaskStatus};

use queue::{finished_handle, finished_receiver, Identity, Registry, TaskEntry};
use tools::Tool;

/// What the engine is built from.
pub struct EngineDeps {
    /// The `[tasks]` settings.
    pub config: TasksConfig,
    /// Resolves model specs and calls providers.
    pub router: Arc<ProviderRouter>,
    /// Where every task, tool call and model attempt is recorded.
    pub ledger: Arc<Ledger>,
    /// Agents and settings per workspace.
    pub catalogs: Arc<ClaudeCatalogs>,
    /// What `inherit` means for tasks that carry no Codex session (CLI, HTTP).
    pub local_inherit: Option<InheritTarget>,
    /// Shared by WebFetch.
    pub http: reqwest::Client,
    /// Fires the workspace's hooks around subagents and their tool calls.
    pub hooks: Option<Arc<Hooks>>,
    /// Spans for subagent runs, their model calls and tool calls.
    pub telemetry: Arc<crate::telemetry::Telemetry>,
    /// `$CODEX_HOME`, for Codex's `[mcp_servers]`; `~/.codex` when not set.
    pub codex_home: Option<std::path::PathBuf>,
}

/// Why the engine could not be built.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("invalid [providers] configuration: {0}")]
    Providers(#[from] ProvidersConfigError),
}

impl EngineDeps {
    /// Everything from the configuration: the providers router (keys read through
    /// `env`), and `inherit` for CLI/HTTP tasks as the OpenAI upstream.
    pub fn from_config(
        config: &Config,
        ledger: Arc<Ledger>,
        catalogs: Arc<ClaudeCatalogs>,
        env: EnvLookup,
    ) -> Result<Self, EngineError> {
        let router = ProviderRouter::new(&config.providers, env)?;
        Ok(Self {
            config: config.tasks.clone(),
            router: Arc::new(router),
            ledger,
            catalogs,
            local_inherit: Some(local_inherit(
                &config.upstream.openai,
                &config.tasks.default_model,
                env,
            )),
            http: reqwest::Client::new(),
            hooks: None,
            telemetry: crate::telemetry::Telemetry::off(),
            codex_home: env("CODEX_HOME")
                .filter(|v| !v.is_empty())
                .map(std::path::PathBuf::from),
        })
    }
}

/// `inherit` outside a Codex session: the OpenAI upstream's `/v1`, with
/// `OPENAI_API_KEY` (or `CODEX_API_KEY`) as a bearer token, and `model`.
pub fn local_inherit(upstream: &str, model: &str, env: EnvLookup) -> InheritTarget {
    let mut headers = HeaderMap::new();
    let key = ["OPENAI_API_KEY", "CODEX_API_KEY"]
        .iter()
        .find_map(|name| env(name).filter(|v| !v.trim().is_empty()));
    if let Some(key) = key {
        match HeaderValue::from_str(&format!("Bearer {}", key.trim())) {
            Ok(mut value) => {
                value.set_sensitive(true);
                headers.insert(AUTHORIZATION, value);
            }
            Err(_) => tracing::warn!(
                "OPENAI_API_KEY holds characters not allowed in a header; tasks run without it"
            ),
        }
    }
    InheritTarget {
        base_url: format!("{}/v1", upstream.trim_end_matches('/')),
        headers,
        model: model.to_string(),
    }
}

/// Runs Tasks. Cheap to share: hold it in an `Arc`.
pub struct Engine {
    config: TasksConfig,
    router: Arc<ProviderRouter>,
    ledger: Arc<Ledger>,
    catalogs: Arc<ClaudeCatalogs>,
    local_inherit: Option<InheritTarget>,
    http: reqwest::Client,
    tools: Vec<Arc<dyn Tool>>,
    /// The tools' specs, built once.
    tool_specs: HashMap<&'static str, ToolSpec>,
    slots: Arc<Semaphore>,
    registry: Registry,
    hooks: Option<Arc<Hooks>>,
    telemetry: Arc<crate::telemetry::Telemetry>,
    /// Every task's progress on one broadcast (the dashboard's).
    feed: Feed,
    /// MCP servers, started on first use and shared by a workspace's subagents.
    mcp: mcp::McpPool,
    codex_home: Option<std::path::PathBuf>,
}

impl Engine {
    /// An engine with `deps.config.max_concurrent` slots.
    pub fn new(deps: EngineDeps) -> Arc<Engine> {
        let tools = tools::all_tools();
        let tool_specs = tools
            .iter()
            .map(|t| {
                let spec = ToolSpec {
                    name: t.name().to_string(),
                    description: t.description().to_string(),
                    input_schema: t.input_schema(),
                };
                (t.name(), spec)
            })
            .collect();
        let mcp = mcp::McpPool::new(
            std::time::Duration::from_secs(deps.config.mcp_idle_timeout_secs),
            std::time::Duration::from_secs(deps.config.mcp_start_timeout_secs),
            deps.http.clone(),
        );
        Arc::new(Engine {
            slots: Arc::new(Semaphore::new(deps.config.max_concurrent.max(1))),
            config: deps.config,
            router: deps.router,
            ledger: deps.ledger,
            catalogs: deps.catalogs,
            local_inherit: deps.local_inherit,
            http: deps.http,
            tools,
            tool_specs,
            registry: Registry::default(),
            hooks: deps.hooks,
            telemetry: deps.telemetry,
            feed: Feed::default(),
            mcp,
            codex_home: deps.codex_home,
        })
    }

    /// Runs one task to the end (waiting for a slot under the concurrency limit).
    ///
    /// ```no_run
    /// # async fn example(engine: std::sync::Arc<codex_plus::engine::Engine>) {
    /// use codex_plus::engine::{TaskRequest, Workspace};
    ///
    /// let request = TaskRequest::new(
    ///     Some("Explore".into()),
    ///     "Find where the config file is parsed and list its sections.",
    ///     "Find config parsing",
    ///     Workspace::at("/home/me/project"),
    /// );
    /// let result = engine.task(request).await;
    /// if result.is_success() {
    ///     println!("{}", result.output);
    /// } else {
    ///     eprintln!("{}: {}", result.status, result.error.unwrap_or_default());
    /// }
    /// // What a Codex model would read as the Task tool's output:
    /// let _for_the_model = codex_plus::engine::TaskResult::to_claude_text;
    /// # }
    /// ```
    pub async fn task(self: &Arc<Self>, req: TaskRequest) -> TaskResult {
        self.spawn(req).result().await
    }

    /// Starts a task in the background; the handle streams progress and yields the
    /// result. The task keeps running if the handle is dropped.
    pub fn spawn(self: &Arc<Self>, req: TaskRequest) -> TaskHandle {
        self.spawn_with(req, CancellationToken::new())
    }

    /// Stops a queued or running task (and the subagents it started). Its partial
    /// output is kept. False when no such task is running.
    pub fn cancel(&self, task_id: &str) -> bool {
        match self.registry.get(task_id) {
            Some(entry) if entry.finished().is_none() => {
                entry.cancel.cancel();
                true
            }
            _ => false,
        }
    }

    /// The task as it is now: running (from memory) or finished (memory or ledger).
    pub fn get(&self, task_id: &str) -> Option<TaskSnapshot> {
        if let Some(entry) = self.registry.get(task_id) {
            return Some(entry.snapshot());
        }
        match self.ledger.task(task_id) {
            Ok(record) => record.map(|r| TaskSnapshot::from_record(&r)),
            Err(e) => {
                tracing::warn!(task = task_id, "cannot read the task from the ledger: {e}");
                None
            }
        }
    }

    /// The task's coming events; for a finished task, a receiver holding its
    /// Finished event. `None` for a task this engine does not know.
    pub fn subscribe(&self, task_id: &str) -> Option<broadcast::Receiver<TaskEvent>> {
        if let Some(entry) = self.registry.get(task_id) {
            return Some(entry.subscribe());
        }
        let record = self.ledger.task(task_id).ok().flatten()?;
        record
            .status
            .is_terminal()
            .then(|| finished_receiver(&TaskResult::from_record(&record, false)))
    }

    /// The agents visible from `cwd` (project over user over built-in).
    pub fn agents(&self, cwd: &Path) -> Arc<AgentSet> {
        self.catalogs.agents.get(cwd)
    }

    /// The tasks queued or running now, oldest first.
    pub fn running(&self) -> Vec<TaskSnapshot> {
        self.registry
            .running()
            .iter()
            .map(|e| e.snapshot())
            .collect()
    }

    /// Every task's changes from now on, each with the task's state then.
    pub fn watch(&self) -> broadcast::Receiver<Arc<TaskUpdate>> {
        self.feed.subscribe()
    }

    /// The task as this process remembers it (running or recently ended), without
    /// reading the ledger.
    pub fn remembered(&self, task_id: &str) -> Option<TaskSnapshot> {
        self.registry.get(task_id).map(|e| e.snapshot())
    }

    /// The `[tasks]` settings.
    pub fn config(&self) -> &TasksConfig {
        &self.config
    }

    /// The MCP servers subagents use (stopped at shutdown).
    pub fn mcp(&self) -> &mcp::McpPool {
        &self.mcp
    }

    /// The MCP servers workspace `cwd` configures for `agent`, and what is wrong with
    /// their configuration (for `doctor` and `agents`).
    pub fn mcp_servers(&self, agent: &AgentDef, cwd: &Path) -> mcp::McpConfig {
        mcp::servers_for(
            &self.mcp,
            agent,
            cwd,
            self.catalogs.settings.roots(),
            self.codex_home.as_deref(),
        )
    }

    /// The providers router (for breaker snapshots and prices).
    pub fn router(&self) -> &ProviderRouter {
        &self.router
    }

    /// Checks a request before it is accepted: its fields and that its agent exists
    /// in the workspace. The CLI and HTTP API answer with this error; `spawn` turns
    /// the same problems into a failed result.
    pub fn check(&self, req: &TaskRequest) -> Result<(), RequestError> {
        req.validate()?;
        let agents = self.agents(&req.workspace.cwd);
        match agents.get(req.agent_name()) {
            Some(_) => Ok(()),
            None => Err(unknown_agent(req.agent_name(), &agents)),
        }
    }

    fn spawn_with(self: &Arc<Self>, req: TaskRequest, cancel: CancellationToken) -> TaskHandle {
        if let Some(key) = &req.call_key {
            if let Some(entry) = self.registry.reusable(key) {
                return entry.handle(true);
            }
            match self.ledger.task_by_call_key(key) {
                Ok(Some(record)) => return finished_handle(TaskResult::from_record(&record, true)),
                Ok(None) => {}
                Err(e) => tracing::warn!("cannot look up earlier runs of this call: {e}"),
            }
        }
        let agents = self.agents(&req.workspace.cwd);
        let given = req.given_agent.clone();
        let agent: Result<AgentDef, String> =
            req.validate()
                .map_err(|e| e.to_string())
                .and_then(|()| match given {
                    Some(agent) => Ok(*agent),
                    None => agents
                        .get(req.agent_name())
                        .cloned()
                        .ok_or_else(|| unknown_agent(req.agent_name(), &agents).to_string()),
                });
        let who = Identity {
            id: new_task_id(),
            agent_id: req.resume.as_ref().map(|r| r.agent_id.clone()),
            agent: agent
                .as_ref()
                .map_or_else(|_| req.agent_name().to_string(), |a| a.name.clone()),
            // The progress line and the ledger want words even when the caller gave none.
            description: match req.description.trim() {
                "" => request::default_description(&req.prompt),
                given => given.to_string(),
            },
            session_id: req.session_id.clone(),
            parent_id: req.parent_id.clone(),
            call_key: req.call_key.clone(),
            depth: req.depth + 1,
            background: req.background,
        };
        let entry = Arc::new(TaskEntry::new(who, cancel, self.feed.clone()));
        if let Err(running) = self.registry.insert(Arc::clone(&entry)) {
            // Another request with this call_key got in first.
            return running.handle(true);
        }
        let handle = entry.handle(false);
        self.ledger.task_created(&self.record(&entry, &req));
        entry.emit(TaskEvent::Queued);
        let engine = Arc::clone(self);
        tokio::spawn(async move {
            let run = std::panic::AssertUnwindSafe(engine.run(&entry, req, agent));
            let result = match run.catch_unwind().await {
                Ok(result) => result,
                Err(_) => entry.result(
                    TaskStatus::Failed,
                    Some("internal error: the subagent stopped unexpectedly".into()),
                ),
            };
            engine.finish(&entry, result);
        });
        handle
    }

    fn record(&self, entry: &TaskEntry, req: &TaskRequest) -> TaskRecord {
        let who = &entry.who;
        let mut record = TaskRecord::queued(&who.id, &who.agent, &who.description, &req.prompt);
        record.parent_id = who.parent_id.clone();
        record.session_id = who.session_id.clone();
        record.call_key = who.call_key.clone();
        record.call_id = req.call_id.clone();
        record.model = req.model.clone();
        record.depth = who.depth;
        record.created_at = entry.created_at;
        record
    }

    fn finish(&self, entry: &TaskEntry, result: TaskResult) {
        let outcome = TaskOutcome {
            status: result.status,
            output: Some(result.output.clone()),
            error: result.error.clone(),
            model: result.model.clone(),
            provider: result.provider.clone(),
            tool_uses: result.tool_uses,
            input_tokens: result.usage.input_tokens,
            output_tokens: result.usage.output_tokens,
            cost_usd: result.cost_usd,
            ended_at: Timestamp::now(),
            duration_ms: u64::try_from(result.duration.as_millis()).unwrap_or(u64::MAX),
        };
        self.ledger.task_finished(&entry.who.id, &outcome);
        tracing::debug!(task = %entry.who.id, status = %outcome.status.as_str(), "task finished");
        if entry.finish(result) {
            self.registry.finished(&entry.who.id);
        }
    }
}

fn unknown_agent(name: &str, agents: &AgentSet) -> RequestError {
    RequestError::UnknownAgent {
        name: name.to_string(),
        available: agents.names().iter().map(|n| n.to_string()).collect(),
    }
}

/// A fresh task id: `task_` and 16 hex digits.
fn new_task_id() -> String {
    let hex = uuid::Uuid::new_v4().simple().to_string();
    format!("task_{}", &hex[..16])
}
