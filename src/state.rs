//! What every handler shares: configuration, upstreams, counters, the ledger, the
//! Claude Code file catalogs and the agent engine.

use std::sync::Arc;
use std::time::Instant;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::claude::{ClaudeCatalogs, Roots};
use crate::config::Config;
use crate::engine::{Engine, EngineDeps};
use crate::error::ProxyError;
use crate::hooks::service::Hooks;
use crate::hooks::sessions::Sessions;
use crate::providers::config::{process_env, EnvLookup};
use crate::proxy::kept_request::SpillFile;
use crate::proxy::upstream::Upstreams;
use crate::store::Ledger;

pub type SharedState = Arc<AppState>;

pub struct AppState {
    pub config: Config,
    pub upstreams: Upstreams,
    pub stats: Stats,
    pub started: Instant,
    /// Where the server listens, as clients reach it (set once bound).
    pub listen: std::sync::OnceLock<Vec<String>>,
    /// The bound address, for the local-callers check (set once bound).
    pub addr: std::sync::OnceLock<std::net::SocketAddr>,
    /// Cancelled when shutdown's grace period is over: each open stream then ends
    /// with `response.failed` rather than a bare cut.
    pub last_call: tokio_util::sync::CancellationToken,
    /// Cancelled when shutdown starts: streams that never end on their own (the
    /// dashboard's) end then, so they do not hold the shutdown up.
    pub closing: tokio_util::sync::CancellationToken,
    /// `$CODEX_PLUS_HOME/ledger.db`: sessions, tasks, tool calls, hook runs.
    pub ledger: Arc<Ledger>,
    /// Agents, commands and settings per workspace.
    pub catalogs: Arc<ClaudeCatalogs>,
    /// Runs Task subagents.
    pub engine: Arc<Engine>,
    /// Fires the workspaces' Claude Code hooks.
    pub hooks: Arc<Hooks>,
    /// The Codex sessions seen, for SessionStart/SessionEnd and hook context.
    pub sessions: Arc<Sessions>,
    /// Each session's background agents and their notifications.
    pub background: Arc<crate::turn::task::background::Background>,
    /// Goals planned into graphs of Tasks.
    pub goals: Arc<crate::goals::Goals>,
    /// Traces, when `[telemetry]` names a collector.
    pub telemetry: Arc<crate::telemetry::Telemetry>,
    /// Where quiet streams keep the request a continuation would extend; None when
    /// it could not be made (they keep it in memory).
    pub spill: Option<Arc<SpillFile>>,
}

impl AppState {
    /// The state for `config`, with the real home directory and environment.
    pub fn new(config: Config) -> Result<SharedState, ProxyError> {
        Self::build(config, Roots::from_env(), &process_env)
    }

    /// The state with explicit user directories (for agents and settings) and an
    /// environment for provider keys: for tests and embedding.
    pub fn build(config: Config, roots: Roots, env: EnvLookup) -> Result<SharedState, ProxyError> {
        let upstreams = Upstreams::new(&config.upstream, config.server.workers())?;
        let ledger = Arc::new(
            Ledger::open(config.home.join("ledger.db"))
                .map_err(|e| ProxyError::Startup(e.to_string()))?,
        );
        let catalogs = Arc::new(ClaudeCatalogs::new(roots));
        let hooks = Arc::new(Hooks::new(
            Arc::clone(&catalogs),
            Arc::clone(&ledger),
            config.hooks.enabled,
        ));
        let mut deps =
            EngineDeps::from_config(&config, Arc::clone(&ledger), Arc::clone(&catalogs), env)
                .map_err(|e| ProxyError::Startup(e.to_string()))?;
        deps.hooks = Some(Arc::clone(&hooks));
        let telemetry = crate::telemetry::Telemetry::start(&config.telemetry)
            .map_err(|e| ProxyError::Startup(e.to_string()))?;
        deps.telemetry = Arc::clone(&telemetry);
        let engine = Engine::new(deps);
        hooks.set_judge(Arc::new(crate::engine::judge::EngineJudge(Arc::downgrade(
            &engine,
        ))));
        let goals = crate::goals::Goals::new(
            Arc::clone(&engine),
            Arc::clone(&ledger),
            config.goals.clone(),
        );
        let spill = match SpillFile::create_in(&config.home) {
            Ok(spill) => Some(Arc::new(spill)),
            Err(e) => {
                tracing::warn!(error = %e, home = %config.home.display(),
                    "no spill file for kept requests; quiet streams keep them in memory");
                None
            }
        };
        Ok(Arc::new(AppState {
            config,
            upstreams,
            stats: Stats::default(),
            started: Instant::now(),
            listen: std::sync::OnceLock::new(),
            addr: std::sync::OnceLock::new(),
            last_call: tokio_util::sync::CancellationToken::new(),
            closing: tokio_util::sync::CancellationToken::new(),
            ledger,
            catalogs,
            engine,
            hooks,
            sessions: Arc::new(Sessions::new()),
            background: Arc::new(crate::turn::task::background::Background::new()),
            goals,
            telemetry,
            spill,
        }))
    }
}

/// Counters for `/status` and `/metrics` (Prometheus metrics are atomics, so they
/// are the counters, not a copy of them).
#[derive(Default)]
pub struct Stats {
    pub requests: Counter,
    pub responses_requests: Counter,
    pub open_streams: Gauge,
    pub upstream_errors: Counter,
    pub stream_failures: Counter,
    pub rejected_bodies: Counter,
    pub packed_requests: Counter,
}

impl Stats {
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "codex_plus_requests",
            "Requests received",
            self.requests.clone(),
        );
        registry.register(
            "codex_plus_responses_requests",
            "Model calls (POST .../responses) received",
            self.responses_requests.clone(),
        );
        registry.register(
            "codex_plus_open_streams",
            "Event streams being relayed now",
            self.open_streams.clone(),
        );
        registry.register(
            "codex_plus_upstream_errors",
            "Requests answered 502 because the upstream could not be reached",
            self.upstream_errors.clone(),
        );
        registry.register(
            "codex_plus_stream_failures",
            "Streams ended with response.failed by the proxy (upstream died, stalled or broke protocol)",
            self.stream_failures.clone(),
        );
        registry.register(
            "codex_plus_rejected_bodies",
            "Requests refused for an oversized body",
            self.rejected_bodies.clone(),
        );
        registry.register(
            "codex_plus_packed_requests",
            "Requests kept for a possible continuation and compressed because their stream went quiet",
            self.packed_requests.clone(),
        );
    }
}

/// Counts a stream as open for as long as it lives.
pub struct OpenStream(Gauge);

impl OpenStream {
    pub fn new(gauge: &Gauge) -> OpenStream {
        gauge.inc();
        OpenStream(gauge.clone())
    }
}

impl Drop for OpenStream {
    fn drop(&mut self) {
        self.0.dec();
    }
}
