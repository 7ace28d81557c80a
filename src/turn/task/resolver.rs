//! What answers the interceptor's questions for one turn: Task calls run in the
//! engine (with the session's own upstream, credentials, model, workspace and
//! sandbox), held tool calls go to PreToolUse hooks, a turn about to stop goes to
//! Stop hooks, and history links go to the ledger.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use serde_json::Value;

use crate::claude::command_render::render;
use crate::claude::{CommandSet, RunAs};
use crate::engine::progress::finished_summary;
use crate::engine::transcript::Resume;
use crate::engine::{Engine, TaskRequest, TaskResult, Workspace};
use crate::hooks::service::Hooks;
use crate::hooks::sessions::Sessions;
use crate::providers::router::InheritTarget;
use crate::proxy::headers::KeptHeaders;
use crate::proxy::interceptor::{
    Decision, HeldCall, HistoryLink, Outcome, TaskCall, BACKGROUND_TOOLS, SEND_MESSAGE, SKILL_NAME,
};
use crate::proxy::stream::Resolver;
use crate::store::{HistoryLink as LinkRecord, Ledger, Timestamp, TranscriptRecord};
use crate::turn::hooks::keep_in;
use crate::turn::hooks::stream::TurnHooks;
use crate::turn::task::background::{launched, Background};
use crate::wire::request::RawJson;

pub struct TurnResolver {
    pub engine: Arc<Engine>,
    pub ledger: Arc<Ledger>,
    pub hooks: Arc<Hooks>,
    pub workspace: Workspace,
    pub inherit: Arc<Inherit>,
    pub session_id: Option<String>,
    /// Identifies this turn across Codex's retries of it (turn id, or the body's hash).
    pub turn_key: String,
    /// The workspace's commands and skills, when the turn was offered the Skill tool,
    /// and how long a skill's `` !`cmd` `` may run.
    pub skills: Option<(Arc<CommandSet>, Duration)>,
    /// Where background agents are tracked until their session is told.
    pub background: Arc<Background>,
    /// Where what the proxy adds to a session is kept in place.
    pub sessions: Arc<Sessions>,
    /// The turn's span: its Tasks' runs nest under it (telemetry).
    pub trace: crate::telemetry::Parent,
}

impl TurnResolver {
    /// The same Task in the same turn is the same call: a retry reuses its result.
    fn key_of(&self) -> impl Fn(&TaskCall) -> String + Send + 'static {
        let session = self.session_id.clone().unwrap_or_default();
        let turn = self.turn_key.clone();
        move |call: &TaskCall| {
            call_key(&[
                session.as_str(),
                &turn,
                call.args.subagent_type.as_deref().unwrap_or(""),
                &call.args.description,
                &call.args.prompt,
                call.args.model.as_deref().unwrap_or(""),
                call.args.cwd.as_deref().unwrap_or(""),
                call.args.isolation.as_deref().unwrap_or(""),
                call.args.name.as_deref().unwrap_or(""),
                call.args.to.as_deref().unwrap_or(""),
                call.args.message.as_deref().unwrap_or(""),
                call.args.skill.as_deref().unwrap_or(""),
                call.args.args.as_deref().unwrap_or(""),
            ])
        }
    }

    /// The turn's hooks (`turn::hooks::stream`).
    fn hooks(&self) -> TurnHooks {
        TurnHooks {
            hooks: self.hooks.clone(),
            cwd: self.workspace.cwd.clone(),
            session: self.session_id.clone().unwrap_or_default(),
            inherit: Arc::clone(&self.inherit),
        }
    }
}

/// How a finished Task reads to the model and to the user.
pub fn outcome(result: &TaskResult) -> Outcome {
    Outcome {
        ok: result.is_success(),
        output: result.to_claude_text(),
        summary: finished_summary(result),
    }
}

impl TurnResolver {
    /// A Skill call: the skill's text, rendered as `/name args` would be, is the
    /// result the model reads.
    fn load_skill(&self, call: TaskCall) -> BoxFuture<'static, Outcome> {
        let hooks = self.hooks();
        let skills = self.skills.clone();
        let cwd = self.workspace.cwd.clone();
        let engine = self.engine.clone();
        let mut req = self.request(&call);
        let key_of = self.key_of();
        Box::pin(async move {
            let mut call = call;
            if let Some(denied) = hooks.before_task(&mut call).await {
                return denied;
            }
            let Some((set, timeout)) = skills else {
                return Outcome::failed("no skills are offered in this turn");
            };
            let name = call.args.skill.as_deref().unwrap_or_default().trim();
            let name = name.strip_prefix('/').unwrap_or(name);
            let Some(skill) = set.model_skills().find(|s| s.name == name) else {
                let known: Vec<&str> = set.model_skills().map(|s| s.name.as_str()).collect();
                tracing::warn!(call_id = %call.call_id, skill = %name, "a Skill call named an unknown skill; the model gets an error result");
                return Outcome::failed(format!(
                    "unknown skill `{name}`; available: {}",
                    known.join(", ")
                ));
            };
            let rendered = render(
                skill,
                call.args.args.as_deref().unwrap_or(""),
                &cwd,
                timeout,
            )
            .await;
            for note in &rendered.notes {
                tracing::warn!(skill = %skill.name, "Skill: {note}");
            }
            if let Some(RunAs::Fork { agent }) = &skill.run_as {
                // `context: fork`: the skill is the prompt of a subagent of that type,
                // and its report is the result.
                req.subagent_type = Some(agent.clone());
                req.prompt = rendered.text;
                req.description = format!("Skill {}", skill.name);
                req.model = rendered.model;
                req.call_key = Some(key_of(&call));
                return answer_with_task(&engine, req, &call, &hooks).await;
            }
            let mut outcome = Outcome {
                ok: true,
                output: rendered.text,
                summary: format!("Loaded skill {}", skill.name),
            };
            hooks.after_task(&call, &mut outcome).await;
            outcome
        })
    }
}

impl TurnResolver {
    /// TaskOutput and TaskStop, for the session's own background agents only.
    fn background_call(&self, call: TaskCall) -> BoxFuture<'static, Outcome> {
        let hooks = self.hooks();
        let engine = self.engine.clone();
        let ours = self
            .session_id
            .as_deref()
            .map(|s| self.background.ids(s))
            .unwrap_or_default();
        Box::pin(async move {
            let mut call = call;
            if let Some(denied) = hooks.before_task(&mut call).await {
                return denied;
            }
            let id = call
                .args
                .task_id
                .as_deref()
                .unwrap_or_default()
                .trim()
                .to_string();
            if !ours.contains(&id) {
                return Outcome::failed(format!(
                    "no background agent `{id}` in this session; its agents: {}",
                    ours.join(", ")
                ));
            }
            let mut outcome = if call.name == BACKGROUND_TOOLS[1] {
                stop_agent(&engine, &id)
            } else {
                let wait = call.args.block.unwrap_or(true).then(|| {
                    Duration::from_millis(call.args.timeout.unwrap_or(30_000).min(600_000))
                });
                agent_output(&engine, &id, wait).await
            };
            hooks.after_task(&call, &mut outcome).await;
            outcome
        })
    }
}

/// TaskStop: cancels the agent; one that already ended is an error.
fn stop_agent(engine: &Arc<Engine>, id: &str) -> Outcome {
    if engine.cancel(id) {
        return Outcome {
            ok: true,
            output: format!("Stopped the background agent {id}; its output so far is kept."),
            summary: format!("Stopped {id}"),
        };
    }
    let status = engine
        .get(id)
        .map_or_else(|| "unknown".to_string(), |t| t.status.to_string());
    Outcome::failed(format!(
        "the background agent {id} is not running (it is {status}); there is nothing to stop"
    ))
}

/// TaskOutput: the agent's status and output, after waiting at most `wait` for it
/// to end.
async fn agent_output(engine: &Arc<Engine>, id: &str, wait: Option<Duration>) -> Outcome {
    if let (Some(wait), Some(mut events)) = (wait, engine.subscribe(id)) {
        let ended = async {
            loop {
                match events.recv().await {
                    Ok(crate::engine::TaskEvent::Finished { .. }) => break,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                    _ => {}
                }
            }
        };
        let _ = tokio::time::timeout(wait, ended).await;
    }
    let Some(task) = engine.get(id) else {
        return Outcome::failed(format!("the background agent {id} is not known"));
    };
    let output = format!(
        "<status>{}</status>\n<output>{}</output>{}",
        task.status,
        task.output.trim(),
        task.error
            .as_deref()
            .map(|e| format!("\n<error>{e}</error>"))
            .unwrap_or_default()
    );
    Outcome {
        ok: true,
        output,
        summary: format!("{id}: {}", task.status),
    }
}

impl TurnResolver {
    /// A Task request from this turn, for `call`: the session's upstream, workspace
    /// and sandbox, and nothing asked yet.
    fn request(&self, call: &TaskCall) -> TaskRequest {
        let mut req = TaskRequest::new(None, String::new(), String::new(), self.workspace.clone());
        req.inherit = Some(self.inherit.target());
        req.session_id = self.session_id.clone();
        req.call_id = Some(call.call_id.clone());
        req.trace = self.trace.clone();
        req
    }

    /// SendMessage: continues one of the session's agents, found by its id or name in
    /// the ledger, with its whole transcript, where it worked before.
    fn send_message(&self, call: TaskCall) -> BoxFuture<'static, Outcome> {
        let hooks = self.hooks();
        let engine = self.engine.clone();
        let ledger = self.ledger.clone();
        let mut req = self.request(&call);
        let key_of = self.key_of();
        Box::pin(async move {
            let mut call = call;
            if let Some(denied) = hooks.before_task(&mut call).await {
                return denied;
            }
            let to = call
                .args
                .to
                .as_deref()
                .unwrap_or_default()
                .trim()
                .to_string();
            let (record, messages) = match find_agent(ledger, req.session_id.clone(), &to).await {
                Ok(found) => found,
                Err(why) => {
                    tracing::warn!(call_id = %call.call_id, to = %to, "a SendMessage call named no agent it can continue; the model gets an error result");
                    return Outcome::failed(why);
                }
            };
            if let Some(run) = engine
                .get(&record.last_task_id)
                .filter(|t| !t.status.is_terminal())
            {
                return Outcome::failed(format!(
                    "agent {} is still running ({}); wait for it to finish, or read it with TaskOutput",
                    record.agent_id, run.id
                ));
            }
            req.resume = match Resume::from_record(&record, messages.as_deref()) {
                Ok(resume) => Some(resume),
                Err(why) => return Outcome::failed(why),
            };
            // Where it worked: its kept worktree, else its directory if still inside
            // the session's workspace, else the session's own.
            match record.worktree.as_deref().map(PathBuf::from) {
                Some(tree) if tree.is_dir() => {
                    req.workspace.cwd = tree.clone();
                    req.workspace.roots = vec![tree];
                }
                _ => {
                    if let Ok(cwd) = req.workspace.directory(&record.cwd) {
                        req.workspace.cwd = cwd;
                    }
                }
            }
            req.isolation = Some("none".into());
            req.description = format!("Message to {}", record.name.as_deref().unwrap_or(&to));
            req.subagent_type = Some(record.agent);
            req.model = record.model;
            req.name = record.name;
            req.prompt = call.args.message.clone().unwrap_or_default();
            req.call_key = Some(key_of(&call));
            answer_with_task(&engine, req, &call, &hooks).await
        })
    }
}

/// Runs `req` in the engine and answers `call` with its result, PostToolUse hooks
/// last. (The engine runs it detached: dropping this future leaves it running.)
async fn answer_with_task(
    engine: &Arc<Engine>,
    req: TaskRequest,
    call: &TaskCall,
    hooks: &TurnHooks,
) -> Outcome {
    let result = engine.spawn(req).result().await;
    let mut outcome = outcome(&result);
    if !outcome.ok {
        tracing::warn!(call_id = %call.call_id, tool = %call.name, agent = %result.agent, summary = %outcome.summary, "a subagent failed; the model gets an error result");
    }
    hooks.after_task(call, &mut outcome).await;
    outcome
}

/// The session's agent `to` names (its id or name) with its latest run's messages,
/// or an error that lists the agents the session can continue. One trip to the
/// ledger's reader.
async fn find_agent(
    ledger: Arc<Ledger>,
    session: Option<String>,
    to: &str,
) -> Result<(TranscriptRecord, Option<String>), String> {
    let to = to.to_string();
    let read = tokio::task::spawn_blocking(move || {
        let found = match ledger.transcript(session.as_deref(), &to)? {
            Some(record) => {
                let messages = ledger.task_messages(&record.last_task_id)?;
                Some((record, messages))
            }
            None => None,
        };
        let known = match found {
            Some(_) => Vec::new(),
            None => ledger.transcripts(session.as_deref())?,
        };
        Ok::<_, crate::store::StoreError>((to, found, known))
    })
    .await;
    let (to, found, known) = match read {
        Ok(Ok(read)) => read,
        Ok(Err(e)) => return Err(format!("the ledger cannot be read: {e}")),
        Err(e) => return Err(format!("the ledger lookup stopped: {e}")),
    };
    found.ok_or_else(|| {
        let known: Vec<String> = known
            .into_iter()
            .map(|(id, name, agent)| match name {
                Some(name) => format!("{name} ({id}, {agent})"),
                None => format!("{id} ({agent})"),
            })
            .collect();
        let known = if known.is_empty() {
            "none yet: agents this session runs with Task can be continued once they end"
                .to_string()
        } else {
            known.join(", ")
        };
        format!("no agent `{to}` in this session to send a message to; agents that can be continued: {known}")
    })
}

impl Resolver for TurnResolver {
    fn start(&self, call: TaskCall) -> BoxFuture<'static, Outcome> {
        if call.name == SKILL_NAME {
            return self.load_skill(call);
        }
        if BACKGROUND_TOOLS.contains(&call.name.as_str()) {
            return self.background_call(call);
        }
        if call.name == SEND_MESSAGE {
            return self.send_message(call);
        }
        let hooks = self.hooks();
        let engine = self.engine.clone();
        let mut req = self.request(&call);
        let key_of = self.key_of();
        let background = self.background.clone();
        Box::pin(async move {
            let mut call = call;
            if let Some(denied) = hooks.before_task(&mut call).await {
                return denied;
            }
            let worktree = call.args.isolation.as_deref() == Some("worktree");
            if worktree && call.args.cwd.is_some() {
                return Outcome::failed(
                    "cwd cannot be combined with isolation: \"worktree\" (the worktree is the agent's directory)",
                );
            }
            req.isolation = call.args.isolation.clone();
            if let Some(asked) = &call.args.cwd {
                match req.workspace.directory(asked) {
                    Ok(cwd) => req.workspace.cwd = cwd,
                    Err(why) => {
                        tracing::warn!(call_id = %call.call_id, cwd = %asked, "a Task call's cwd was refused; the model gets an error result");
                        return Outcome::failed(why);
                    }
                }
            }
            req.subagent_type = call.args.subagent_type.clone();
            req.prompt = call.args.prompt.clone();
            req.description = call.args.description.clone();
            req.model = call.args.model.clone();
            req.name = call
                .args
                .name
                .as_deref()
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .map(str::to_string);
            req.call_key = Some(key_of(&call));
            let agent = engine
                .agents(&req.workspace.cwd)
                .get(req.agent_name())
                .and_then(|a| a.background);
            if call.args.run_in_background.or(agent).unwrap_or(false) {
                let mut outcome = start_in_background(&engine, req, &background);
                hooks.after_task(&call, &mut outcome).await;
                return outcome;
            }
            answer_with_task(&engine, req, &call, &hooks).await
        })
    }

    fn decide(&self, call: HeldCall) -> BoxFuture<'static, Decision> {
        let hooks = self.hooks();
        Box::pin(async move { hooks.decide(call).await })
    }

    fn stop(&self, active: bool) -> BoxFuture<'static, Option<String>> {
        let hooks = self.hooks();
        Box::pin(async move { hooks.stop(active).await })
    }

    fn notices(&self, input: &mut Vec<RawJson>) {
        let Some(session) = self.session_id.as_deref() else {
            return;
        };
        let items = self.background.take(session);
        if items.is_empty() {
            return;
        }
        tracing::info!(
            agents = items.len(),
            "background agents' notifications go into the turn's continuation"
        );
        // Kept like the notifications a request gets (`TaskTool::deliver`).
        for item in items {
            keep_in(
                &self.sessions,
                &self.ledger,
                input,
                session,
                input.len(),
                item,
            );
        }
    }

    fn remember(&self, link: HistoryLink) {
        self.ledger.link_history(&LinkRecord {
            message_id: link.message_id,
            session_id: self.session_id.clone(),
            call_item_json: Value::Array(
                link.calls
                    .into_iter()
                    .map(|(item, at)| {
                        serde_json::json!({"item": item, "after": at.after, "before": at.before})
                    })
                    .collect(),
            )
            .to_string(),
            output_item_json: Value::Array(link.outputs).to_string(),
            created_at: Timestamp::now(),
        });
    }
}

/// Where an `inherit` Task of a turn goes: the upstream the request went to, minus
/// `/responses`, with the session's own headers (credentials, account, routing).
/// The headers are the continuation's own map, shared: most turns start no Task,
/// so the target is put together only when one does.
pub struct Inherit {
    base_url: String,
    headers: Arc<KeptHeaders>,
    model: String,
}

impl Inherit {
    pub fn new(base: &str, path: &str, headers: Arc<KeptHeaders>, model: &str) -> Inherit {
        let prefix = path.strip_suffix("/responses").unwrap_or(path);
        Inherit {
            base_url: format!("{}{prefix}", base.trim_end_matches('/')),
            headers,
            model: model.to_string(),
        }
    }

    pub fn target(&self) -> InheritTarget {
        let mut headers = http::HeaderMap::with_capacity(self.headers.len());
        for (name, value) in self.headers.iter() {
            // The subagent's requests are its own: not lite, not this turn's framing.
            let skip = matches!(
                name.as_str(),
                "content-type"
                    | "content-length"
                    | "content-encoding"
                    | "accept"
                    | "accept-encoding"
                    | "x-openai-internal-codex-responses-lite"
            );
            if !skip {
                headers.append(name, value);
            }
        }
        InheritTarget {
            base_url: self.base_url.clone(),
            headers,
            model: self.model.clone(),
        }
    }
}

/// Starts `req` and answers at once; its session is told when it ends.
fn start_in_background(
    engine: &Arc<Engine>,
    req: TaskRequest,
    background: &Arc<Background>,
) -> Outcome {
    let session = req.session_id.clone();
    let handle = engine.spawn(TaskRequest {
        background: true,
        ..req
    });
    let id = handle.id.clone();
    let agent = handle.agent().to_string();
    if let Some(session) = session.clone() {
        background.started(&session, &id);
        let background = background.clone();
        tokio::spawn(async move {
            let result = handle.result().await;
            background.finished(&session, &result);
        });
    }
    tracing::info!(task = %id, agent = %agent, "a Task runs in the background");
    Outcome {
        ok: true,
        output: launched(&id, &agent, session.is_some()),
        summary: format!("Running in the background · {id}"),
    }
}

/// The de-duplication key of a call made of `parts` (a retry of the same call in the
/// same turn has the same parts). xxh3 for the reason `body_key` gives.
pub fn call_key(parts: &[&str]) -> String {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    for part in parts {
        h.update(part.as_bytes());
        h.update(&[0]);
    }
    format!("{:032x}", h.digest128())
}

/// A stable key for a request without Codex's turn metadata: its body's hash. On
/// every such request, so a fast one (xxh3-128): SHA-256 of a 16 KiB body cost more
/// than the rest of the pipeline, and this only tells Codex's retries apart.
pub fn body_key(body: &[u8]) -> String {
    format!("{:032x}", xxhash_rust::xxh3::xxh3_128(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inherit_uses_the_requests_own_upstream_and_credentials() {
        let mut headers = http::HeaderMap::new();
        headers.insert("authorization", "Bearer sk-x".parse().unwrap());
        headers.insert("chatgpt-account-id", "acct".parse().unwrap());
        headers.insert("content-encoding", "zstd".parse().unwrap());
        headers.insert(
            "x-openai-internal-codex-responses-lite",
            "true".parse().unwrap(),
        );
        let headers = Arc::new(KeptHeaders::new(&headers, &http::header::HOST));
        let t = Inherit::new(
            "https://chatgpt.com/",
            "/backend-api/codex/responses",
            headers.clone(),
            "gpt-6.1-sol",
        )
        .target();
        assert_eq!(t.base_url, "https://chatgpt.com/backend-api/codex");
        assert_eq!(t.model, "gpt-6.1-sol");
        assert_eq!(t.headers["authorization"], "Bearer sk-x");
        assert_eq!(t.headers["chatgpt-account-id"], "acct");
        assert!(t.headers.get("content-encoding").is_none());
        assert!(t
            .headers
            .get("x-openai-internal-codex-responses-lite")
            .is_none());
        let t = Inherit::new("http://127.0.0.1:9", "/v1/responses", headers, "m").target();
        assert_eq!(t.base_url, "http://127.0.0.1:9/v1");
    }

    #[test]
    fn outcome_lines_match_the_progress_format() {
        let mut r = TaskResult {
            id: "t1".into(),
            agent: "code-reviewer".into(),
            description: "Review".into(),
            status: crate::engine::TaskStatus::Completed,
            output: "All good.".into(),
            error: None,
            tool_uses: 3,
            usage: Default::default(),
            cost_usd: None,
            provider: None,
            model: None,
            duration: std::time::Duration::from_millis(12_340),
            queued: std::time::Duration::ZERO,
            reused: false,
            worktree: None,
            agent_id: None,
        };
        let o = outcome(&r);
        assert!(o.ok);
        assert_eq!(o.summary, "Done · 3 tool uses · 12.3s");
        assert!(o.output.starts_with("All good."));
        assert!(o.output.contains("agentId: t1"));
        r.status = crate::engine::TaskStatus::Failed;
        r.error = Some("Error: anthropic 529 overloaded".into());
        let o = outcome(&r);
        assert!(!o.ok);
        assert_eq!(o.summary, "Failed: anthropic 529 overloaded");
    }
}
