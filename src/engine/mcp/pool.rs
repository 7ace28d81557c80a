//! Running MCP servers: started on first use, once per workspace and configuration,
//! shared by that workspace's subagents; restarted after a crash, stopped when idle
//! and at shutdown.
//!
//! A slot holds one server's state behind an async lock, so subagents that start
//! together wait for one start instead of each spawning a process. A server that
//! failed to start is reported once and not retried for [`RETRY_AFTER`], so a broken
//! command does not cost every subagent its start timeout.

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use rmcp::model::{CallToolRequestParams, ClientCapabilities, ClientConfig, Implementation};
use rmcp::service::RunningService;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use rmcp::{RoleClient, ServiceExt};
use serde_json::Value;
use tokio::io::AsyncReadExt;

use super::config::{ServerConfig, Transport};

/// A server that failed to start is tried again after this long.
const RETRY_AFTER: Duration = Duration::from_secs(30);
/// What a stdio server inherits from the proxy's environment (its `env` adds to it).
const INHERITED_ENV: &[&str] = &[
    "HOME",
    "LOGNAME",
    "PATH",
    "SHELL",
    "USER",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "TERM",
    "TMPDIR",
    "TZ",
    "XDG_RUNTIME_DIR",
];
/// Bytes of a server's stderr kept for messages.
const STDERR_TAIL: usize = 2048;

/// Why a server is not available.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StartError {
    #[error("cannot run `{command}`: {reason}")]
    Spawn { command: String, reason: String },
    #[error("it did not complete the MCP handshake: {reason}{}", stderr_note(.stderr))]
    Handshake { reason: String, stderr: String },
    #[error("it did not start within {secs} s{}", stderr_note(.stderr))]
    Timeout { secs: u64, stderr: String },
    #[error("it did not list its tools: {reason}{}", stderr_note(.stderr))]
    ListTools { reason: String, stderr: String },
    #[error("the proxy is shutting down")]
    ShuttingDown,
}

fn stderr_note(stderr: &str) -> String {
    if stderr.trim().is_empty() {
        String::new()
    } else {
        format!("; its stderr ended with:\n{}", stderr.trim_end())
    }
}

/// Why a call failed: the text the model reads.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    #[error("the MCP server `{server}` is not available: {source}")]
    Unavailable {
        server: String,
        #[source]
        source: StartError,
    },
    #[error("the MCP server `{server}` stopped during the call ({reason}); it is started again on the next call{}", stderr_note(.stderr))]
    Crashed {
        server: String,
        reason: String,
        stderr: String,
    },
    #[error("the MCP server `{server}` refused the call: {reason}")]
    Refused { server: String, reason: String },
}

/// The last bytes a child wrote to stderr.
#[derive(Debug, Default)]
struct Tail(VecDeque<u8>);

impl Tail {
    fn push(&mut self, bytes: &[u8]) {
        self.0.extend(bytes);
        let over = self.0.len().saturating_sub(STDERR_TAIL);
        self.0.drain(..over);
    }

    fn text(&self) -> String {
        let bytes: Vec<u8> = self.0.iter().copied().collect();
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

/// One live connection to a server.
pub struct Connection {
    service: RunningService<RoleClient, ClientConfig>,
    /// The tools it listed at start.
    pub tools: Vec<rmcp::model::Tool>,
    stderr: Arc<Mutex<Tail>>,
    /// The child's process id (stdio servers), for the benchmark's RSS figures.
    pub pid: Option<u32>,
}

impl Connection {
    fn stderr(&self) -> String {
        self.stderr.lock().map(|t| t.text()).unwrap_or_default()
    }

    fn stop(&self) {
        self.service.cancellation_token().cancel();
    }
}

enum State {
    Stopped,
    Running(Arc<Connection>),
    Failed { at: Instant, error: StartError },
}

/// One server of one workspace.
pub struct Slot {
    pub config: ServerConfig,
    cwd: PathBuf,
    state: tokio::sync::Mutex<State>,
    last_used: Mutex<Instant>,
    in_flight: AtomicUsize,
    warned: AtomicBool,
    pool: Weak<PoolInner>,
}

struct PoolInner {
    slots: Mutex<HashMap<String, Arc<Slot>>>,
    idle_timeout: Duration,
    start_timeout: Duration,
    http: reqwest::Client,
    reaper_started: AtomicBool,
    closed: AtomicBool,
    reported: Mutex<HashSet<String>>,
}

/// Every MCP server the engine has started, or may start.
#[derive(Clone)]
pub struct McpPool {
    inner: Arc<PoolInner>,
}

impl McpPool {
    pub fn new(idle_timeout: Duration, start_timeout: Duration, http: reqwest::Client) -> Self {
        Self {
            inner: Arc::new(PoolInner {
                slots: Mutex::default(),
                idle_timeout,
                start_timeout,
                http,
                reaper_started: AtomicBool::new(false),
                closed: AtomicBool::new(false),
                reported: Mutex::default(),
            }),
        }
    }

    /// The slot of `server` in workspace `cwd`: the same one for the same workspace
    /// and configuration, so its subagents share one process.
    pub fn slot(&self, cwd: &Path, server: &ServerConfig) -> Arc<Slot> {
        self.start_reaper();
        let key = format!("{}\0{}\0{:?}", cwd.display(), server.name, server.transport);
        let mut slots = self
            .inner
            .slots
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Arc::clone(slots.entry(key).or_insert_with(|| {
            Arc::new(Slot {
                config: server.clone(),
                cwd: cwd.to_path_buf(),
                state: tokio::sync::Mutex::new(State::Stopped),
                last_used: Mutex::new(Instant::now()),
                in_flight: AtomicUsize::new(0),
                warned: AtomicBool::new(false),
                pool: Arc::downgrade(&self.inner),
            })
        }))
    }

    /// Logs `message` at WARN the first time `key` is seen.
    pub fn warn_once(&self, key: &str, message: &str) {
        let first = self
            .inner
            .reported
            .lock()
            .map(|mut seen| seen.insert(key.to_string()))
            .unwrap_or(false);
        if first {
            tracing::warn!("{message}");
        }
    }

    /// Servers running now, and each one's child process id when it has one.
    pub fn running(&self) -> Vec<(String, Option<u32>)> {
        let slots: Vec<Arc<Slot>> = self.slots();
        slots
            .iter()
            .filter_map(|s| {
                let state = s.state.try_lock().ok()?;
                match &*state {
                    State::Running(c) => Some((s.config.name.clone(), c.pid)),
                    _ => None,
                }
            })
            .collect()
    }

    fn slots(&self) -> Vec<Arc<Slot>> {
        self.inner
            .slots
            .lock()
            .map(|s| s.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Stops every server; none starts after this.
    pub async fn shutdown(&self) {
        self.inner.closed.store(true, Ordering::SeqCst);
        for slot in self.slots() {
            slot.stop().await;
        }
    }

    /// Stops servers no call used for the idle timeout. Public for tests.
    pub async fn stop_idle(&self) -> usize {
        let mut stopped = 0;
        for slot in self.slots() {
            let idle = slot
                .last_used
                .lock()
                .map(|t| t.elapsed())
                .unwrap_or_default();
            if slot.in_flight.load(Ordering::SeqCst) == 0
                && idle >= self.inner.idle_timeout
                && slot.stop().await
            {
                tracing::debug!(server = %slot.config.name, "stopped an idle MCP server");
                stopped += 1;
            }
        }
        stopped
    }

    fn start_reaper(&self) {
        if self.inner.reaper_started.swap(true, Ordering::SeqCst) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.inner.reaper_started.store(false, Ordering::SeqCst);
            return;
        };
        let weak = Arc::downgrade(&self.inner);
        let every =
            (self.inner.idle_timeout / 4).clamp(Duration::from_millis(50), Duration::from_secs(60));
        runtime.spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let Some(inner) = weak.upgrade() else { return };
                if inner.closed.load(Ordering::SeqCst) {
                    return;
                }
                McpPool { inner }.stop_idle().await;
            }
        });
    }
}

impl Slot {
    fn touch(&self) {
        if let Ok(mut t) = self.last_used.lock() {
            *t = Instant::now();
        }
    }

    /// The running connection, starting the server when it is not running.
    pub async fn connect(&self) -> Result<Arc<Connection>, StartError> {
        let Some(pool) = self.pool.upgrade() else {
            return Err(StartError::ShuttingDown);
        };
        if pool.closed.load(Ordering::SeqCst) {
            return Err(StartError::ShuttingDown);
        }
        self.touch();
        let mut state = self.state.lock().await;
        match &*state {
            State::Running(conn) if !conn.service.is_closed() => return Ok(Arc::clone(conn)),
            State::Failed { at, error } if at.elapsed() < RETRY_AFTER => return Err(error.clone()),
            _ => {}
        }
        let started = start(&self.config, &self.cwd, &pool.http, pool.start_timeout).await;
        match started {
            Ok(conn) => {
                let conn = Arc::new(conn);
                *state = State::Running(Arc::clone(&conn));
                tracing::debug!(server = %self.config.name, tools = conn.tools.len(), "MCP server started");
                Ok(conn)
            }
            Err(error) => {
                if !self.warned.swap(true, Ordering::SeqCst) {
                    tracing::warn!(
                        server = %self.config.name,
                        from = %self.config.source.display(),
                        "MCP server `{}` ({}) did not start; subagents run without its tools: {error}",
                        self.config.name,
                        self.config.describe(),
                    );
                }
                *state = State::Failed {
                    at: Instant::now(),
                    error: error.clone(),
                };
                Err(error)
            }
        }
    }

    /// Calls `tool` with `arguments`; the server's result as JSON (MCP's
    /// `CallToolResult`). A server that died is forgotten, so the next call starts it.
    pub async fn call(&self, tool: &str, arguments: Value) -> Result<Value, CallError> {
        let server = self.config.name.clone();
        let conn = self
            .connect()
            .await
            .map_err(|source| CallError::Unavailable {
                server: server.clone(),
                source,
            })?;
        let mut params = CallToolRequestParams::new(tool.to_string());
        if let Value::Object(map) = arguments {
            params = params.with_arguments(map);
        }
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        let result = conn.service.call_tool(params).await;
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        self.touch();
        match result {
            Ok(result) => serde_json::to_value(&result).map_err(|e| CallError::Refused {
                server,
                reason: e.to_string(),
            }),
            Err(rmcp::ServiceError::McpError(e)) if !conn.service.is_closed() => {
                Err(CallError::Refused {
                    server,
                    reason: e.message.to_string(),
                })
            }
            Err(e) => {
                // Give the child a moment to finish writing why it died.
                tokio::time::sleep(Duration::from_millis(20)).await;
                self.forget(&conn).await;
                Err(CallError::Crashed {
                    server,
                    reason: e.to_string(),
                    stderr: conn.stderr(),
                })
            }
        }
    }

    async fn forget(&self, conn: &Arc<Connection>) {
        let mut state = self.state.lock().await;
        if matches!(&*state, State::Running(c) if Arc::ptr_eq(c, conn)) {
            conn.stop();
            *state = State::Stopped;
        }
    }

    /// Stops the server if it runs; true when it did.
    async fn stop(&self) -> bool {
        let mut state = self.state.lock().await;
        match std::mem::replace(&mut *state, State::Stopped) {
            State::Running(conn) => {
                conn.stop();
                true
            }
            other => {
                *state = other;
                false
            }
        }
    }
}

fn client_config() -> ClientConfig {
    ClientConfig::new(
        ClientCapabilities::default(),
        Implementation::new("codex-plus", env!("CARGO_PKG_VERSION")),
    )
}

async fn start(
    config: &ServerConfig,
    cwd: &Path,
    http: &reqwest::Client,
    limit: Duration,
) -> Result<Connection, StartError> {
    let stderr = Arc::new(Mutex::new(Tail::default()));
    let tail = || stderr.lock().map(|t| t.text()).unwrap_or_default();
    let handshake =
        async {
            match &config.transport {
                Transport::Stdio {
                    command,
                    args,
                    env,
                    cwd: own_cwd,
                } => {
                    let mut cmd = tokio::process::Command::new(command);
                    // Not the proxy's whole environment: it holds the providers' keys.
                    // As Codex does, a few basics, then the server's own `env`.
                    cmd.env_clear();
                    for name in INHERITED_ENV {
                        if let Some(value) = std::env::var_os(name) {
                            cmd.env(name, value);
                        }
                    }
                    cmd.args(args)
                        .envs(env.iter().map(|(k, v)| (k, v)))
                        .current_dir(own_cwd.as_deref().unwrap_or(cwd))
                        // Its runtime may be gone before it is closed (shutdown): never orphaned.
                        .kill_on_drop(true);
                    let (transport, child_stderr) = TokioChildProcess::builder(cmd)
                        .stderr(Stdio::piped())
                        .spawn()
                        .map_err(|e| StartError::Spawn {
                            command: command.clone(),
                            reason: e.to_string(),
                        })?;
                    let pid = transport.id();
                    if let Some(mut pipe) = child_stderr {
                        let sink = Arc::clone(&stderr);
                        tokio::spawn(async move {
                            let mut buf = [0u8; 1024];
                            while let Ok(n) = pipe.read(&mut buf).await {
                                if n == 0 {
                                    break;
                                }
                                if let Ok(mut t) = sink.lock() {
                                    t.push(&buf[..n]);
                                }
                            }
                        });
                    }
                    let service = client_config().serve(transport).await.map_err(|e| {
                        StartError::Handshake {
                            reason: e.to_string(),
                            stderr: String::new(),
                        }
                    })?;
                    Ok((service, pid))
                }
                Transport::Http { url, headers } => {
                    let mut custom = HashMap::new();
                    for (name, value) in headers {
                        let (Ok(name), Ok(mut value)) = (
                            http::HeaderName::try_from(name.as_str()),
                            http::HeaderValue::try_from(value.as_str()),
                        ) else {
                            return Err(StartError::Handshake {
                                // The name only: the value may be a credential.
                                reason: format!("the header `{name}` is not a valid HTTP header"),
                                stderr: String::new(),
                            });
                        };
                        value.set_sensitive(true);
                        custom.insert(name, value);
                    }
                    let transport = StreamableHttpClientTransport::with_client(
                        super::http::Client(http.clone()),
                        StreamableHttpClientTransportConfig::with_uri(url.as_str())
                            .custom_headers(custom),
                    );
                    let service = client_config().serve(transport).await.map_err(|e| {
                        StartError::Handshake {
                            reason: e.to_string(),
                            stderr: String::new(),
                        }
                    })?;
                    Ok((service, None))
                }
            }
        };
    let (service, pid) = match tokio::time::timeout(limit, handshake).await {
        Ok(Ok(started)) => started,
        Ok(Err(StartError::Handshake { reason, .. })) => {
            // The child's last words arrive just after its stdout closes.
            tokio::time::sleep(Duration::from_millis(50)).await;
            return Err(StartError::Handshake {
                reason,
                stderr: tail(),
            });
        }
        Ok(Err(e)) => return Err(e),
        Err(_) => {
            return Err(StartError::Timeout {
                secs: limit.as_secs(),
                stderr: tail(),
            })
        }
    };
    let tools = match tokio::time::timeout(limit, service.list_all_tools()).await {
        Ok(Ok(tools)) => tools,
        Ok(Err(e)) => {
            return Err(StartError::ListTools {
                reason: e.to_string(),
                stderr: tail(),
            })
        }
        Err(_) => {
            return Err(StartError::Timeout {
                secs: limit.as_secs(),
                stderr: tail(),
            })
        }
    };
    Ok(Connection {
        service,
        tools,
        stderr,
        pid,
    })
}
