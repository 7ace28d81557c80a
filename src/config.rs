//! Typed configuration: `config/default.toml` < `$CODEX_PLUS_HOME/config.toml` < env < flags.
//!
//! The defaults file is compiled in, so it is both the documentation of every
//! setting and the single source of default values.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::providers::config::ProvidersConfig;

const DEFAULTS: &str = include_str!("../config/default.toml");

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    pub upstream: UpstreamConfig,
    /// The agent engine.
    pub tasks: TasksConfig,
    /// Model providers for subagents: keys, aliases, fallback, retries, breakers.
    #[serde(default)]
    pub providers: ProvidersConfig,
    pub commands: CommandsConfig,
    pub status_line: StatusLineConfig,
    pub hooks: HooksConfig,
    /// Goals: one request planned into a graph of Tasks.
    pub goals: GoalsConfig,
    /// Traces over OTLP/HTTP; off unless an endpoint is set.
    #[serde(default)]
    pub telemetry: TelemetryConfig,
    /// The state directory (CA, ledger, pid and log files). Not a file setting:
    /// it is where the user file is found.
    #[serde(skip)]
    pub home: PathBuf,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub tls: bool,
    pub body_limit_mb: usize,
    pub workers: usize,
    pub shutdown_grace_secs: u64,
    pub stream_keepalive_secs: u64,
    pub pack_request_after_ms: u64,
    /// Host names besides loopback that may reach the proxy (src/guard.rs).
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
    /// A request's head must arrive within this long.
    pub header_read_timeout_secs: u64,
    /// Each window this long must bring a request body's end or `BODY_PROGRESS_BYTES` of it.
    pub body_progress_timeout_secs: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamConfig {
    pub openai: String,
    pub chatgpt: String,
    pub connect_timeout_secs: u64,
    pub idle_timeout_secs: u64,
    /// An unused pooled connection to an upstream is closed after this long.
    pub pool_idle_timeout_secs: u64,
}

/// `[tasks]`: the agent engine that runs Task subagents.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TasksConfig {
    /// Offer the Task tool to Codex and accept tasks over HTTP.
    pub enabled: bool,
    /// Subagents running at once; more wait in a first-come queue.
    pub max_concurrent: usize,
    /// Wall-clock limit of one task when its agent sets no `timeout`.
    pub timeout_secs: u64,
    /// Model turns of one subagent when its agent sets no `maxTurns`.
    pub max_turns: u32,
    /// How deep subagents may start subagents (the Codex session is depth 0).
    pub max_depth: u32,
    /// The model for CLI and HTTP tasks whose agent says `inherit`.
    pub default_model: String,
    /// Bash tool timeout when the call gives none.
    pub bash_timeout_secs: u64,
    /// Bytes of Bash, Grep and WebFetch output a subagent sees per call.
    pub output_cap_bytes: usize,
    /// Upstream responses one Codex turn may chain through Task calls.
    pub max_rounds: u32,
    /// An MCP server no subagent called for this long is stopped (started again on use).
    pub mcp_idle_timeout_secs: u64,
    /// How long an MCP server may take to start and list its tools.
    pub mcp_start_timeout_secs: u64,
}

impl TasksConfig {
    /// `timeout_secs` as a duration.
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_secs)
    }

    /// Rejects values that would stop every task from running.
    fn check(&self) -> Result<(), String> {
        let zero = [
            ("max_concurrent", self.max_concurrent == 0),
            ("timeout_secs", self.timeout_secs == 0),
            ("max_turns", self.max_turns == 0),
            ("bash_timeout_secs", self.bash_timeout_secs == 0),
            ("output_cap_bytes", self.output_cap_bytes == 0),
            ("max_rounds", self.max_rounds == 0),
            ("mcp_idle_timeout_secs", self.mcp_idle_timeout_secs == 0),
            ("mcp_start_timeout_secs", self.mcp_start_timeout_secs == 0),
        ];
        if let Some((key, _)) = zero.iter().find(|(_, is_zero)| *is_zero) {
            return Err(format!("tasks.{key} must be more than 0"));
        }
        if self.default_model.trim().is_empty() {
            return Err("tasks.default_model must name a model, e.g. \"gpt-5.5\"".into());
        }
        Ok(())
    }
}

impl ServerConfig {
    /// Worker threads: as configured, or one per CPU core.
    pub fn workers(&self) -> usize {
        match self.workers {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        }
    }

    pub fn stream_keepalive(&self) -> Duration {
        Duration::from_secs(self.stream_keepalive_secs.max(1))
    }

    /// How long a stream stays quiet before its kept request is packed; None: never.
    pub fn pack_request_after(&self) -> Option<Duration> {
        (self.pack_request_after_ms > 0).then(|| Duration::from_millis(self.pack_request_after_ms))
    }

    pub fn body_limit(&self) -> usize {
        self.body_limit_mb.saturating_mul(1024 * 1024)
    }

    pub fn header_read_timeout(&self) -> Duration {
        Duration::from_secs(self.header_read_timeout_secs)
    }

    pub fn body_progress_timeout(&self) -> Duration {
        Duration::from_secs(self.body_progress_timeout_secs)
    }

    /// Rejects read deadlines that would refuse every request.
    fn check(&self) -> Result<(), String> {
        for (key, value) in [
            ("header_read_timeout_secs", self.header_read_timeout_secs),
            (
                "body_progress_timeout_secs",
                self.body_progress_timeout_secs,
            ),
        ] {
            if value == 0 {
                return Err(format!("server.{key} must be more than 0"));
            }
        }
        Ok(())
    }
}

impl UpstreamConfig {
    pub fn idle_timeout(&self) -> Duration {
        Duration::from_secs(self.idle_timeout_secs)
    }

    pub fn pool_idle_timeout(&self) -> Duration {
        Duration::from_secs(self.pool_idle_timeout_secs)
    }

    /// Rejects timeouts that would fail every request at once.
    fn check(&self) -> Result<(), String> {
        for (key, value) in [
            ("connect_timeout_secs", self.connect_timeout_secs),
            ("idle_timeout_secs", self.idle_timeout_secs),
            ("pool_idle_timeout_secs", self.pool_idle_timeout_secs),
        ] {
            if value == 0 {
                return Err(format!("upstream.{key} must be more than 0"));
            }
        }
        Ok(())
    }
}

/// Values from the environment and the command line; `None` leaves the file's value.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub home: Option<PathBuf>,
    pub listen: Option<SocketAddr>,
    pub openai_upstream: Option<String>,
    pub chatgpt_upstream: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {cause}")]
    Read { path: PathBuf, cause: String },
    #[error("{path} is not valid TOML: {cause}")]
    Syntax { path: PathBuf, cause: String },
    #[error("invalid configuration ({source_desc}): {cause}")]
    Invalid { source_desc: String, cause: String },
    #[error("no home directory: set CODEX_PLUS_HOME")]
    NoHome,
}

impl Config {
    /// The state directory: `CODEX_PLUS_HOME` (via overrides) or `~/.codex-plus`.
    pub fn home_dir(overrides: &Overrides) -> Result<PathBuf, ConfigError> {
        match &overrides.home {
            Some(home) => Ok(home.clone()),
            None => dirs::home_dir()
                .map(|h| h.join(".codex-plus"))
                .ok_or(ConfigError::NoHome),
        }
    }

    pub fn load(overrides: &Overrides) -> Result<Config, ConfigError> {
        let home = Self::home_dir(overrides)?;
        let user_file = home.join("config.toml");
        let user = match std::fs::read_to_string(&user_file) {
            Ok(text) => Some(text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => {
                return Err(ConfigError::Read {
                    path: user_file,
                    cause: e.to_string(),
                })
            }
        };
        let mut config = Self::from_sources(user.as_deref().map(|t| (user_file.as_path(), t)))?;
        config.home = home;
        config.apply(overrides);
        Ok(config)
    }

    /// Defaults merged with an optional user file (path, text). Pure, for tests.
    pub fn from_sources(user: Option<(&Path, &str)>) -> Result<Config, ConfigError> {
        let mut merged: toml::Table =
            DEFAULTS
                .parse()
                .map_err(|e: toml::de::Error| ConfigError::Syntax {
                    path: PathBuf::from("config/default.toml"),
                    cause: e.to_string(),
                })?;
        let mut source_desc = "config/default.toml".to_string();
        if let Some((path, text)) = user {
            let table: toml::Table =
                text.parse()
                    .map_err(|e: toml::de::Error| ConfigError::Syntax {
                        path: path.to_path_buf(),
                        cause: e.message().to_string(),
                    })?;
            merge(&mut merged, table);
            source_desc = format!("{} over the defaults", path.display());
        }
        let config: Config =
            merged
                .try_into()
                .map_err(|e: toml::de::Error| ConfigError::Invalid {
                    source_desc: source_desc.clone(),
                    cause: e.message().trim().to_string(),
                })?;
        config
            .tasks
            .check()
            .and_then(|()| config.upstream.check())
            .and_then(|()| config.server.check())
            .map_err(|cause| ConfigError::Invalid { source_desc, cause })?;
        Ok(config)
    }

    fn apply(&mut self, o: &Overrides) {
        if let Some(listen) = o.listen {
            self.server.listen = listen;
        }
        if let Some(url) = &o.openai_upstream {
            self.upstream.openai = url.clone();
        }
        if let Some(url) = &o.chatgpt_upstream {
            self.upstream.chatgpt = url.clone();
        }
    }

    /// Defaults only, with the given home: for tests and tools that need no user file.
    #[allow(
        clippy::expect_used,
        reason = "the defaults are compiled in, and a unit test parses them"
    )]
    pub fn defaults(home: PathBuf) -> Config {
        let mut config = Self::from_sources(None).expect("config/default.toml is valid");
        config.home = home;
        config
    }
}

/// Deep merge: tables merge key by key, anything else is replaced.
fn merge(base: &mut toml::Table, over: toml::Table) {
    for (key, value) in over {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, v) => {
                base.insert(key, v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_parse_and_match_the_documented_values() {
        let c = Config::from_sources(None).unwrap();
        assert_eq!(c.server.listen, "127.0.0.1:10000".parse().unwrap());
        assert_eq!(c.server.body_limit(), 32 * 1024 * 1024);
        assert_eq!(c.upstream.openai, "https://api.openai.com");
        assert_eq!(c.upstream.chatgpt, "https://chatgpt.com");
    }

    #[test]
    fn user_file_overrides_only_what_it_names() {
        let c = Config::from_sources(Some((
            Path::new("/u/config.toml"),
            "[upstream]\nidle_timeout_secs = 5\n",
        )))
        .unwrap();
        assert_eq!(c.upstream.idle_timeout(), Duration::from_secs(5));
        assert_eq!(c.upstream.openai, "https://api.openai.com");
        assert!(c.server.tls);
    }

    #[test]
    fn unknown_key_is_an_error_that_names_it_and_the_file() {
        let err = Config::from_sources(Some((
            Path::new("/u/config.toml"),
            "[server]\nlisten_addr = \"0.0.0.0:1\"\n",
        )))
        .unwrap_err()
        .to_string();
        assert!(err.contains("listen_addr"), "{err}");
        assert!(err.contains("/u/config.toml"), "{err}");
    }

    #[test]
    fn unknown_section_and_bad_syntax_are_named() {
        let err = Config::from_sources(Some((Path::new("/u/c.toml"), "[sever]\nx=1\n")))
            .unwrap_err()
            .to_string();
        assert!(err.contains("sever"), "{err}");
        let err = Config::from_sources(Some((Path::new("/u/c.toml"), "[server\n")))
            .unwrap_err()
            .to_string();
        assert!(err.contains("/u/c.toml") && err.contains("TOML"), "{err}");
    }

    #[test]
    fn tasks_defaults_are_the_documented_ones() {
        let t = Config::from_sources(None).unwrap().tasks;
        assert!(t.enabled);
        assert_eq!(
            (t.max_concurrent, t.timeout_secs, t.max_turns, t.max_depth),
            (10, 600, 50, 3)
        );
        assert_eq!(t.default_model, "gpt-5.5");
        assert_eq!((t.bash_timeout_secs, t.output_cap_bytes), (120, 30_000));
        assert_eq!(t.timeout(), Duration::from_secs(600));
    }

    #[test]
    fn settings_that_would_stop_everything_are_refused() {
        let c = Config::from_sources(Some((
            Path::new("/u/config.toml"),
            "[tasks]\nmax_concurrent = 4\ndefault_model = \"gpt-5\"\n",
        )))
        .unwrap();
        assert_eq!(c.tasks.max_concurrent, 4);
        assert_eq!(c.tasks.max_turns, 50);
        let err = Config::from_sources(Some((Path::new("/u/c.toml"), "[tasks]\nmax_turns = 0\n")))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("tasks.max_turns must be more than 0") && err.contains("/u/c.toml"),
            "{err}"
        );
        let err = Config::from_sources(Some((
            Path::new("/u/c.toml"),
            "[upstream]\nidle_timeout_secs = 0\n",
        )))
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("upstream.idle_timeout_secs must be more than 0"),
            "{err}"
        );
        let err = Config::from_sources(Some((Path::new("/u/c.toml"), "[tasks]\nparallel = 3\n")))
            .unwrap_err()
            .to_string();
        assert!(err.contains("parallel"), "{err}");
    }

    #[test]
    fn providers_defaults_match_the_built_in_ones() {
        let p = Config::from_sources(None).unwrap().providers;
        assert_eq!(
            p,
            ProvidersConfig {
                default_providers: Some(vec!["inherit".into(), "openai".into()]),
                ..ProvidersConfig::default()
            }
        );
        assert!(p.resolve(&|_| None).is_ok());
    }

    #[test]
    fn providers_can_be_changed_and_keys_stay_out_of_the_file() {
        let c = Config::from_sources(Some((
            Path::new("/u/config.toml"),
            "[providers.aliases]\nfast = [\"chat:llama\", \"inherit\"]\n[providers.retry]\nmax_attempts = 1\n",
        )))
        .unwrap();
        assert_eq!(c.providers.aliases["fast"], ["chat:llama", "inherit"]);
        assert_eq!(c.providers.retry.max_attempts, 1);
        assert_eq!(c.providers.retry.base_delay_ms, 500);
        let err = Config::from_sources(Some((
            Path::new("/u/config.toml"),
            "[providers.anthropic]\napi_key = \"sk-ant-123\"\n",
        )))
        .unwrap_err()
        .to_string();
        assert!(err.contains("ANTHROPIC_API_KEY"), "{err}");
        assert!(!err.contains("sk-ant-123"), "{err}");
    }

    #[test]
    fn overrides_win_over_files() {
        let mut c = Config::from_sources(None).unwrap();
        c.apply(&Overrides {
            listen: Some("0.0.0.0:9".parse().unwrap()),
            openai_upstream: Some("http://127.0.0.1:1".into()),
            ..Default::default()
        });
        assert_eq!(c.server.listen.port(), 9);
        assert_eq!(c.upstream.openai, "http://127.0.0.1:1");
    }
}

/// `[hooks]`: Claude Code hooks from the workspace's settings files.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HooksConfig {
    pub enabled: bool,
    /// A session idle this long has ended (SessionEnd fires).
    pub session_idle_secs: u64,
    /// Times one turn may be continued because a Stop hook blocked.
    pub max_stop_continuations: u32,
}

impl HooksConfig {
    pub fn session_idle(&self) -> Duration {
        Duration::from_secs(self.session_idle_secs.max(1))
    }
}

/// `[goals]`: a request planned into a graph of Tasks.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GoalsConfig {
    /// Most subtasks a plan may have.
    pub max_subtasks: usize,
    /// Longest prerequisite result put whole into a dependent's prompt.
    pub result_cap_bytes: usize,
}

/// `[telemetry]`: OpenTelemetry traces (src/telemetry.rs).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetryConfig {
    /// The collector's OTLP/HTTP base URL, e.g. `http://localhost:4318` (spans go to
    /// `/v1/traces` under it). Unset: no traces, at no cost.
    #[serde(default)]
    pub otlp_endpoint: Option<String>,
}

/// `[commands]`: slash command expansion.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandsConfig {
    pub enabled: bool,
    pub shell_timeout_ms: u64,
}

impl CommandsConfig {
    /// How long a command's `` !`cmd` `` may run.
    pub fn shell_timeout(&self) -> Duration {
        Duration::from_millis(self.shell_timeout_ms)
    }
}

/// `[status_line]`: the status line appended to new turns.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusLineConfig {
    pub enabled: bool,
    pub command_timeout_ms: u64,
    pub refresh_secs: u64,
    pub first_wait_ms: u64,
}

impl StatusLineConfig {
    pub fn command_timeout(&self) -> Duration {
        Duration::from_millis(self.command_timeout_ms)
    }

    pub fn refresh(&self) -> Duration {
        Duration::from_secs(self.refresh_secs)
    }

    pub fn first_wait(&self) -> Duration {
        Duration::from_millis(self.first_wait_ms)
    }
}

#[cfg(test)]
mod slash_and_status_tests {
    use super::*;

    #[test]
    fn commands_and_status_line_defaults_and_overrides() {
        let c = Config::from_sources(None).unwrap();
        assert!(c.commands.enabled);
        assert_eq!(c.commands.shell_timeout(), Duration::from_secs(10));
        assert!(c.status_line.enabled);
        assert_eq!(c.status_line.command_timeout(), Duration::from_secs(2));
        assert_eq!(c.status_line.refresh(), Duration::from_secs(5));
        let c = Config::from_sources(Some((
            Path::new("/u/config.toml"),
            "[status_line]\nenabled = false\ncommand_timeout_ms = 500\n",
        )))
        .unwrap();
        assert!(!c.status_line.enabled);
        assert_eq!(c.status_line.command_timeout(), Duration::from_millis(500));
        assert_eq!(
            c.status_line.refresh_secs, 5,
            "unnamed keys keep their default"
        );
        let err = Config::from_sources(Some((
            Path::new("/u/config.toml"),
            "[status_line]\ntimeout = 1\n",
        )))
        .unwrap_err()
        .to_string();
        assert!(err.contains("timeout"), "{err}");
    }
}
