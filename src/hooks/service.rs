//! The one way the proxy fires hooks: the workspace's merged settings give the
//! runner (cached until the settings change), every run is recorded in the ledger,
//! and a hook that fails is logged with its command named, never in the way.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::judge::Judge;
use super::{HookConfig, HookDecision, HookEvent, HookInput, HookRunner};
use crate::claude::discovery::WorkspaceMap;
use crate::claude::{ClaudeCatalogs, Settings};
use crate::store::Ledger;

/// A workspace's runner and the settings it was built from.
type CachedRunner = (Arc<Settings>, Arc<HookRunner>);

pub struct Hooks {
    catalogs: Arc<ClaudeCatalogs>,
    ledger: Arc<Ledger>,
    enabled: bool,
    /// Per workspace: the settings a runner was built from, and the runner.
    runners: Mutex<WorkspaceMap<CachedRunner>>,
    /// Codex's transcript (rollout) file per session, and when it was looked for
    /// (a miss is looked for again after a while: Codex may not have written it yet).
    transcripts: Mutex<HashMap<String, (PathBuf, Instant)>>,
    codex_home: Option<PathBuf>,
    /// Judges `prompt` and `agent` hooks: the engine, set once it exists (it fires
    /// hooks itself, so it comes after this service).
    judge: std::sync::OnceLock<Arc<dyn Judge>>,
}

/// The settings files' `hooks` values, lowest precedence first.
fn sources(settings: &Settings) -> Vec<(PathBuf, Value)> {
    settings
        .hooks_sources
        .iter()
        .map(|s| (s.path.clone(), s.value.clone()))
        .collect()
}

/// A runner for `sources`; what cannot be read in them is logged against `origin`.
fn build_runner(
    sources: Vec<(PathBuf, Value)>,
    origin: &Path,
    judge: Option<&Arc<dyn Judge>>,
) -> Arc<HookRunner> {
    let (config, warnings) = HookConfig::from_settings(&sources);
    for w in warnings {
        tracing::warn!(origin = %origin.display(), "hooks: {w}");
    }
    Arc::new(HookRunner::new(config).with_judge(judge.cloned()))
}

impl Hooks {
    pub fn new(catalogs: Arc<ClaudeCatalogs>, ledger: Arc<Ledger>, enabled: bool) -> Hooks {
        let codex_home = std::env::var_os("CODEX_HOME")
            .map(PathBuf::from)
            .or_else(|| dirs::home_dir().map(|h| h.join(".codex")));
        Hooks {
            catalogs,
            ledger,
            enabled,
            runners: Mutex::default(),
            transcripts: Mutex::new(HashMap::new()),
            codex_home,
            judge: std::sync::OnceLock::new(),
        }
    }

    /// Who judges `prompt` and `agent` hooks from now on.
    pub fn set_judge(&self, judge: Arc<dyn Judge>) {
        if self.judge.set(judge).is_ok() {
            // Runners built before had none.
            self.runners
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clear();
        }
    }

    /// The runner for a workspace's merged settings; rebuilt when they change.
    pub fn runner(&self, cwd: &Path) -> Arc<HookRunner> {
        let settings = self.catalogs.settings.get(cwd);
        let mut runners = self.runners.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((seen, runner)) = runners.get(cwd.as_os_str()) {
            if Arc::ptr_eq(seen, &settings) {
                return runner.clone();
            }
        }
        let runner = build_runner(sources(&settings), cwd, self.judge.get());
        runners.insert(cwd.as_os_str().to_owned(), (settings, runner.clone()));
        runner
    }

    /// The workspace's hooks plus an agent's own (its frontmatter `hooks`, active only
    /// while it runs). As in Claude Code, the agent's `Stop` hooks are SubagentStop
    /// hooks, since that is how a subagent stops.
    pub fn runner_for_agent(
        &self,
        cwd: &Path,
        agent_file: &Path,
        hooks: &Value,
    ) -> Arc<HookRunner> {
        let mut sources = sources(&self.catalogs.settings.get(cwd));
        let mut own = hooks.clone();
        let stop = own.as_object_mut().and_then(|m| m.remove("Stop"));
        sources.push((agent_file.to_path_buf(), own));
        if let Some(stop) = stop {
            sources.push((agent_file.to_path_buf(), json!({ "SubagentStop": stop })));
        }
        build_runner(sources, agent_file, self.judge.get())
    }

    /// Whether any hook would run for this event and these names.
    pub fn has(&self, cwd: &Path, event: HookEvent, names: &[&str]) -> bool {
        self.has_with(None, cwd, event, names)
    }

    /// `has`, with `runner` (an agent's) in place of the workspace's when given.
    pub fn has_with(
        &self,
        runner: Option<&HookRunner>,
        cwd: &Path,
        event: HookEvent,
        names: &[&str],
    ) -> bool {
        self.enabled
            && match runner {
                Some(r) => r.has_hooks(event, names),
                None => self.runner(cwd).has_hooks(event, names),
            }
    }

    /// The common stdin fields of an event in this session. The transcript path is
    /// filled in by `fire`, only when a hook will run.
    pub fn input(&self, event: HookEvent, session_id: &str, cwd: &Path) -> HookInput {
        HookInput::new(event, session_id, Path::new(""), cwd)
    }

    /// Runs the matching hooks, records each run, and returns what they decided.
    pub async fn fire(
        &self,
        cwd: &Path,
        event: HookEvent,
        input: HookInput,
        names: &[&str],
    ) -> HookDecision {
        self.fire_with(None, cwd, event, input, names).await
    }

    /// `fire`, with `runner` (an agent's) in place of the workspace's when given.
    pub async fn fire_with(
        &self,
        runner: Option<&HookRunner>,
        cwd: &Path,
        event: HookEvent,
        input: HookInput,
        names: &[&str],
    ) -> HookDecision {
        if !self.enabled {
            return HookDecision::default();
        }
        let workspace;
        let runner = match runner {
            Some(r) => r,
            None => {
                workspace = self.runner(cwd);
                &workspace
            }
        };
        if !runner.has_hooks(event, names) {
            return HookDecision::default();
        }
        let (mut input, scope) = input.into_parts();
        if let Some(session) = input["session_id"].as_str().map(str::to_string) {
            input["transcript_path"] = self.transcript(&session).display().to_string().into();
        }
        let decision = runner.run_scoped(event, input, names, cwd, &scope).await;
        for run in &decision.runs {
            self.ledger.hook_run(run);
        }
        for error in &decision.errors {
            tracing::warn!(event = event.as_str(), workspace = %cwd.display(), "hook failed (not blocking): {error}");
        }
        decision
    }

    /// Codex keeps each session as `sessions/YYYY/MM/DD/rollout-…-<id>.jsonl` under its
    /// home; hooks that read the transcript get that path, or an empty one.
    fn transcript(&self, session_id: &str) -> PathBuf {
        const RETRY_MISS_AFTER: Duration = Duration::from_secs(10);
        if let Some((p, at)) = self
            .transcripts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(session_id)
        {
            if !p.as_os_str().is_empty() || at.elapsed() < RETRY_MISS_AFTER {
                return p.clone();
            }
        }
        let found = self.codex_home.as_ref().and_then(|home| {
            ignore::WalkBuilder::new(home.join("sessions"))
                .standard_filters(false)
                .max_depth(Some(4))
                .build()
                .filter_map(Result::ok)
                .map(|e| e.into_path())
                .find(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.ends_with(&format!("{session_id}.jsonl")))
                })
        });
        let path = found.unwrap_or_default();
        self.transcripts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(session_id.to_string(), (path.clone(), Instant::now()));
        path
    }
}
