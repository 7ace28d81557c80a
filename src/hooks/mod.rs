//! Running Claude Code hook commands: matcher, subprocess, JSON protocol, timeouts.
//!
//! [`HookConfig`] comes from the settings files; [`HookRunner::run`] runs the hooks that
//! match one event in parallel and folds their answers into one [`HookDecision`].

pub mod codex_tools;
pub mod config;
pub mod decision;
pub mod event;
pub mod judge;
pub mod matcher;
pub mod protocol;
pub mod runner;
pub mod service;
pub mod session_end;
pub mod sessions;

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde_json::Value;

pub use config::{ConfigWarning, Handler, HookCommand, HookConfig, HookGroup, DEFAULT_TIMEOUT};
pub use decision::HookDecision;
pub use event::{HookEvent, HookInput};
pub use matcher::Matcher;
pub use protocol::{HookResponse, PermissionDecision};
pub use runner::OutputLimits;

use crate::store::redact::redact_text;
use crate::store::{HookRunRecord, Timestamp};
use judge::{Judge, JudgeAsk, JudgeScope};
use runner::{CommandOutput, Exit};

/// How much stderr a ledger record keeps.
const STDERR_EXCERPT_CHARS: usize = 1000;

/// Runs the hooks of one workspace's configuration.
#[derive(Clone, Default)]
pub struct HookRunner {
    config: Arc<HookConfig>,
    limits: OutputLimits,
    /// Makes the model calls of `prompt` and `agent` hooks (none: they fail, logged).
    judge: Option<Arc<dyn Judge>>,
}

impl std::fmt::Debug for HookRunner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HookRunner")
            .field("config", &self.config)
            .field("limits", &self.limits)
            .field("judge", &self.judge.is_some())
            .finish()
    }
}

/// A hook selected to run, with the matcher that selected it.
struct Selected<'a> {
    matcher: &'a str,
    hook: &'a HookCommand,
}

impl HookRunner {
    /// A runner for `config` with the default output limits.
    pub fn new(config: HookConfig) -> Self {
        Self {
            config: Arc::new(config),
            limits: OutputLimits::default(),
            judge: None,
        }
    }

    /// The same runner, with `prompt` and `agent` hooks judged by `judge`.
    pub fn with_judge(mut self, judge: Option<Arc<dyn Judge>>) -> Self {
        self.judge = judge;
        self
    }

    /// The same runner with other output limits.
    pub fn with_limits(mut self, limits: OutputLimits) -> Self {
        self.limits = limits;
        self
    }

    /// The configuration it runs.
    pub fn config(&self) -> &HookConfig {
        &self.config
    }

    /// Whether `run` would start anything, so callers can skip building the input.
    pub fn has_hooks(&self, event: HookEvent, match_names: &[&str]) -> bool {
        !self.select(event, match_names).is_empty()
    }

    /// Runs every hook for `event` whose matcher matches one of `match_names`, all at once,
    /// and combines their answers. An empty `match_names` means the event has no match
    /// target (UserPromptSubmit, Stop, ...): every group runs. Identical commands run once.
    /// `input` is the stdin JSON (see [`HookInput`]); its `hook_event_name` is set to `event`.
    pub async fn run(
        &self,
        event: HookEvent,
        input: Value,
        match_names: &[&str],
        cwd: &Path,
    ) -> HookDecision {
        self.run_scoped(event, input, match_names, cwd, &JudgeScope::default())
            .await
    }

    /// `run`, with where `prompt` and `agent` hooks send their model calls.
    pub async fn run_scoped(
        &self,
        event: HookEvent,
        mut input: Value,
        match_names: &[&str],
        cwd: &Path,
        scope: &JudgeScope,
    ) -> HookDecision {
        let selected = self.select(event, match_names);
        if selected.is_empty() {
            return HookDecision::default();
        }
        if let Some(map) = input.as_object_mut() {
            map.insert("hook_event_name".into(), event.as_str().into());
        }
        let session_id = input
            .get("session_id")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let stdin = Bytes::from(input.to_string());
        let input = &input;

        let runs = selected.iter().map(|selected| {
            let stdin = stdin.clone();
            let session_id = session_id.clone();
            async move {
                let at = Timestamp::now();
                let hook = selected.hook;
                let result = match &hook.handler {
                    Handler::Command => {
                        runner::run_command(&hook.command, stdin, cwd, hook.timeout, self.limits)
                            .await
                    }
                    Handler::Http(http) => {
                        runner::run_http(&hook.command, http, stdin, hook.timeout, self.limits)
                            .await
                    }
                    Handler::Prompt(judged) | Handler::Agent(judged) => {
                        let ask = JudgeAsk {
                            prompt: judge::render(judged, input),
                            model: judged.model.clone(),
                            agent: matches!(hook.handler, Handler::Agent(_)),
                            cwd: cwd.to_path_buf(),
                            session_id: session_id.clone(),
                            timeout: hook.timeout,
                            scope: scope.clone(),
                        };
                        runner::run_judge(self.judge.as_deref(), ask).await
                    }
                };
                let response = respond(event, hook, &result);
                let record = record(event, selected, session_id, at, &result, &response);
                (response, record)
            }
        });
        let (responses, records): (Vec<_>, Vec<_>) = futures_util::future::join_all(runs)
            .await
            .into_iter()
            .unzip();

        for error in responses.iter().filter_map(|r| r.error.as_deref()) {
            tracing::warn!(event = %event, "{}", redact_text(error));
        }
        decision::combine(responses, records)
    }

    fn select(&self, event: HookEvent, match_names: &[&str]) -> Vec<Selected<'_>> {
        let mut seen = HashSet::new();
        self.config
            .groups(event)
            .iter()
            .filter(|group| match_names.is_empty() || group.matcher.matches_any(match_names))
            .flat_map(|group| {
                group.hooks.iter().map(|hook| Selected {
                    matcher: group.matcher.as_str(),
                    hook,
                })
            })
            .filter(|selected| seen.insert(selected.hook.command.as_str()))
            .collect()
    }
}

/// What a finished (or unstartable) command means under the hook protocol.
fn respond(
    event: HookEvent,
    hook: &HookCommand,
    result: &Result<CommandOutput, runner::RunError>,
) -> HookResponse {
    let command = hook.command.as_str();
    match result {
        Err(err) => HookResponse::failed(format!("hook `{command}` {err}")),
        Ok(out) => match out.exit {
            Exit::Code(code) => protocol::interpret(event, command, code, &out.stdout, &out.stderr),
            Exit::Signal(signal) => {
                HookResponse::failed(format!("hook `{command}` was killed by signal {signal}"))
            }
            Exit::TimedOut => HookResponse::failed(format!(
                "hook `{command}` timed out after {:?} and was killed",
                hook.timeout
            )),
        },
    }
}

/// The ledger's record of one run.
fn record(
    event: HookEvent,
    selected: &Selected<'_>,
    session_id: Option<String>,
    at: Timestamp,
    result: &Result<CommandOutput, runner::RunError>,
    response: &HookResponse,
) -> HookRunRecord {
    let excerpt = |text: &str| text.chars().take(STDERR_EXCERPT_CHARS).collect::<String>();
    let (exit_code, timed_out, duration, stdout_bytes, stderr_excerpt) = match result {
        Ok(out) => (
            match out.exit {
                Exit::Code(code) => Some(code),
                Exit::Signal(_) | Exit::TimedOut => None,
            },
            out.exit == Exit::TimedOut,
            out.duration,
            out.stdout_bytes,
            excerpt(&out.stderr),
        ),
        // Nothing ran, so the reason stands in for stderr.
        Err(_) => (
            None,
            false,
            Duration::ZERO,
            0,
            excerpt(response.error.as_deref().unwrap_or_default()),
        ),
    };
    HookRunRecord {
        session_id,
        event: event.as_str().to_owned(),
        matcher: selected.matcher.to_owned(),
        command: selected.hook.command.clone(),
        exit_code,
        outcome: response.outcome(),
        duration_ms: u64::try_from(duration.as_millis()).unwrap_or(u64::MAX),
        timed_out,
        stdout_bytes,
        stderr_excerpt,
        at,
    }
}
