//! One subagent from its slot to its end: its own system prompt, tools and model,
//! then the tool loop (call the model, run the tools it asks for, feed the results
//! back) until a final answer, `maxTurns`, the timeout or a cancel.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use serde_json::Value;

use super::access::canonical_tool_name;
use super::access::SandboxMode;
use super::agent_tool::{self, AgentCall, AGENT_TOOL};
use super::events::TaskEvent;
use super::mcp::{self, Image};
use super::memory;
use super::policy::{access_policy, memory_dir, offered_tools, offers_agent_tool};
use super::progress::tool_summary;
use super::prompt::{system_prompt, with_skills, Environment};
use super::queue::TaskEntry;
use super::request::TaskRequest;
use super::result::{TaskResult, TaskStatus};
use super::tools::{run_tool_call, ToolContext, ToolOutcome};
use super::transcript;
use super::worktree;
use super::Engine;
use crate::claude::AgentDef;
use crate::hooks::HookEvent;
use crate::providers::router::{Attempt, Candidate, Completion, Outcome};
use crate::providers::{Block, Message, ModelRequest, Role};
use crate::store::{ModelAttemptRecord, Timestamp, ToolCallRecord};
use crate::telemetry::provider_name;
use opentelemetry::trace::SpanKind;
use opentelemetry::KeyValue;

/// Times a SubagentStop hook may send one subagent on.
const MAX_STOP_CONTINUATIONS: u32 = 3;

/// Everything a subagent runs with, fixed before it starts.
struct Prepared {
    agent: AgentDef,
    candidates: Vec<Candidate>,
    request: ModelRequest,
    ctx: ToolContext,
    max_turns: u32,
    timeout: Duration,
}

/// Who a continuable agent is, for its transcript.
struct Kept {
    agent_id: String,
    name: Option<String>,
    model: Option<String>,
    cwd: std::path::PathBuf,
}

/// How the loop ended (the text and counts are in the entry's progress).
enum Ended {
    Completed,
    Failed(String),
}

impl Engine {
    /// Runs the task in `entry`: waits for a slot, then the subagent, under the
    /// task's timeout and cancel token.
    pub(super) async fn run(
        self: &Arc<Self>,
        entry: &Arc<TaskEntry>,
        mut req: TaskRequest,
        agent: Result<AgentDef, String>,
    ) -> TaskResult {
        // The session's own workspace: its hooks, not the worktree's copy of them.
        let (origin, session) = (req.workspace.cwd.clone(), req.session_id.clone());
        let isolation = req
            .isolation
            .clone()
            .or_else(|| agent.as_ref().ok().and_then(|a| a.isolation.clone()));
        let worktree = match isolation.as_deref().map(str::trim) {
            None | Some("" | "none") => None,
            Some("worktree") => {
                match self.make_worktree(&req, &entry.who.id).await {
                    Ok(tree) => {
                        // Files, Bash (and its OS sandbox) and nested agents: all there.
                        req.workspace.cwd = tree.cwd.clone();
                        req.workspace.roots = vec![tree.path.clone()];
                        Some(tree)
                    }
                    Err(e) => return entry.result(TaskStatus::Failed, Some(e.to_string())),
                }
            }
            Some(other) => {
                return entry.result(
                    TaskStatus::Failed,
                    Some(format!(
                        "unknown isolation `{other}`: the one there is is `worktree`"
                    )),
                )
            }
        };
        // A top-level agent of a session can be continued (SendMessage): keep what it
        // said and did, at its start and at its end.
        let kept = (req.parent_id.is_none() && session.is_some()).then(|| Kept {
            agent_id: req
                .resume
                .as_ref()
                .map_or_else(|| entry.who.id.clone(), |r| r.agent_id.clone()),
            name: req.name.clone(),
            model: req.model.clone(),
            cwd: req.workspace.cwd.clone(),
        });
        let (mut result, messages) = self.run_in(entry, req, agent, kept.as_ref()).await;
        let mut left = None;
        if let Some(tree) = worktree {
            let end = self.end_worktree(tree, &origin, session.as_deref()).await;
            left = end.path().map(std::path::Path::to_path_buf);
            result.worktree = Some(end);
        }
        if let Some(messages) = messages {
            self.ledger
                .save_task_messages(&entry.who.id, transcript::to_json(&messages));
            if let Some(kept) = &kept {
                self.keep_transcript(entry, kept, left.as_deref());
            }
        }
        result
    }

    fn keep_transcript(&self, entry: &TaskEntry, kept: &Kept, worktree: Option<&std::path::Path>) {
        let about = transcript::About {
            agent_id: &kept.agent_id,
            task_id: &entry.who.id,
            session_id: entry.who.session_id.as_deref(),
            name: kept.name.as_deref(),
            agent: &entry.who.agent,
            model: kept.model.as_deref(),
            cwd: &kept.cwd,
            worktree,
        };
        self.ledger.save_transcript(transcript::record(&about));
    }

    /// A worktree for a subagent: the WorktreeCreate hooks', when the workspace has
    /// any, else git's under the state directory.
    async fn make_worktree(
        &self,
        req: &TaskRequest,
        id: &str,
    ) -> Result<worktree::Worktree, worktree::WorktreeError> {
        let cwd = &req.workspace.cwd;
        let session = req.session_id.as_deref().unwrap_or_default();
        let event = HookEvent::WorktreeCreate;
        if let Some(hooks) = self.hooks.as_ref().filter(|h| h.has(cwd, event, &[])) {
            let input = hooks
                .input(event, session, cwd)
                .with("name", format!("agent-{id}"));
            let decision = hooks.fire(cwd, event, input, &[]).await;
            return worktree::from_hook(decision.worktree_path, &decision.errors);
        }
        worktree::create(cwd, &self.ledger.dir().join("worktrees"), id).await
    }

    /// Removes an unchanged worktree (WorktreeRemove hooks first), keeps a changed one.
    async fn end_worktree(
        &self,
        tree: worktree::Worktree,
        cwd: &std::path::Path,
        session: Option<&str>,
    ) -> worktree::WorktreeEnd {
        let event = HookEvent::WorktreeRemove;
        let hooks = self.hooks.as_ref().filter(|h| h.has(cwd, event, &[]));
        tree.finish(|path| {
            let path = path.display().to_string();
            async move {
                if let Some(hooks) = hooks {
                    let input = hooks
                        .input(event, session.unwrap_or_default(), cwd)
                        .with("worktree_path", path);
                    hooks.fire(cwd, event, input, &[]).await;
                }
            }
        })
        .await
    }

    /// `run` once the workspace is settled; the messages, when the agent got as far
    /// as having any.
    async fn run_in(
        self: &Arc<Self>,
        entry: &Arc<TaskEntry>,
        req: TaskRequest,
        agent: Result<AgentDef, String>,
        kept: Option<&Kept>,
    ) -> (TaskResult, Option<Vec<Message>>) {
        let prepared = match agent.and_then(|agent| self.prepare(agent, &req)) {
            Ok(prepared) => prepared,
            Err(error) => return (entry.result(TaskStatus::Failed, Some(error)), None),
        };
        // The agent's own hooks, with the workspace's, while it runs.
        if let (Some(hooks), Some(own)) = (&self.hooks, &prepared.agent.hooks) {
            let file = prepared.agent.path.clone().unwrap_or_default();
            let _ = entry
                .agent_hooks
                .set(hooks.runner_for_agent(&req.workspace.cwd, &file, own));
        }
        // The messages it starts with, readable while it runs.
        self.ledger.save_task_messages(
            &entry.who.id,
            transcript::to_json(&prepared.request.messages),
        );
        if let Some(kept) = kept {
            // Marks the agent busy (its latest run is this one) and names it now.
            self.keep_transcript(entry, kept, None);
        }
        // Children run under their parent's slot: waiting for another could deadlock.
        let _slot = if req.parent_id.is_none() {
            tokio::select! {
                biased;
                () = entry.cancel.cancelled() => {
                    let result = entry.result(TaskStatus::Cancelled, Some("cancelled while waiting for a slot".into()));
                    return (result, Some(prepared.request.messages));
                }
                permit = Arc::clone(&self.slots).acquire_owned() => permit.ok(),
            }
        } else {
            None
        };
        let at = entry.start();
        self.ledger.task_started(&entry.who.id, at);
        let mut span = self.telemetry.span(
            &req.trace,
            SpanKind::Internal,
            || format!("invoke_agent {}", prepared.agent.name),
            || {
                let mut attributes = vec![
                    KeyValue::new("gen_ai.operation.name", "invoke_agent"),
                    KeyValue::new("gen_ai.agent.name", prepared.agent.name.clone()),
                    KeyValue::new("gen_ai.agent.id", entry.who.id.clone()),
                ];
                if let Some(first) = prepared.candidates.first() {
                    attributes.push(KeyValue::new("gen_ai.request.model", first.model.clone()));
                }
                if let Some(session) = &req.session_id {
                    attributes.push(KeyValue::new("gen_ai.conversation.id", session.clone()));
                }
                attributes
            },
        );
        let _ = entry.trace.set(span.parent());
        entry.emit(TaskEvent::Started {
            agent: prepared.agent.name.clone(),
            model: prepared
                .candidates
                .first()
                .map(Candidate::label)
                .unwrap_or_default(),
        });
        let mut prepared = prepared;
        self.add_mcp_tools(&mut prepared, &req.workspace.cwd).await;
        if let Some(context) = self.subagent_start(entry, &req).await {
            // The message it starts (or is continued) with.
            if let Some(last) = prepared.request.messages.last_mut() {
                last.content.push(Block::Text {
                    text: format!(
                        "<hook_context event=\"SubagentStart\">\n{context}\n</hook_context>"
                    ),
                });
            }
        }
        let timeout = prepared.timeout;
        let result = tokio::select! {
            ended = self.tool_loop(entry, &req, &mut prepared) => match ended {
                Ended::Completed => entry.result(TaskStatus::Completed, None),
                Ended::Failed(error) => entry.result(TaskStatus::Failed, Some(error)),
            },
            () = tokio::time::sleep(timeout) => {
                // Stops the subagents this one started, too.
                entry.cancel.cancel();
                entry.result(TaskStatus::TimedOut, Some(format!(
                    "the task ran out of time after {} s (the agent's `timeout`, or [tasks] timeout_secs); its partial output is kept",
                    timeout.as_secs_f64()
                )))
            }
            () = entry.cancel.cancelled() => {
                entry.result(TaskStatus::Cancelled, Some("cancelled; its partial output is kept".into()))
            }
        };
        span.set(|| {
            let usage = &result.usage;
            vec![
                KeyValue::new("codex_plus.task.status", result.status.to_string()),
                KeyValue::new("gen_ai.usage.input_tokens", usage.input_tokens as i64),
                KeyValue::new("gen_ai.usage.output_tokens", usage.output_tokens as i64),
            ]
        });
        if !result.is_success() {
            span.fail("task_failed", || result.error_summary().unwrap_or_default());
        }
        span.end();
        (result, Some(prepared.request.messages))
    }

    /// The subagent's context: system prompt, tools, access policy and model candidates.
    fn prepare(&self, agent: AgentDef, req: &TaskRequest) -> Result<Prepared, String> {
        let cwd = &req.workspace.cwd;
        let roots = self.catalogs.settings.roots();
        let settings = self.catalogs.settings.get(cwd);
        let policy = access_policy(
            &agent,
            &settings,
            &req.workspace,
            roots,
            req.depth + 1,
            self.config.max_depth,
        );
        let mut tools: Vec<_> = offered_tools(&self.tools, &policy)
            .iter()
            .filter_map(|t| self.tool_specs.get(t.name()).cloned())
            .collect();
        if offers_agent_tool(&policy) {
            let agents = self.agents(cwd);
            tools.push(agent_tool::spec(
                &agents,
                agent.allowed_subagent_types.as_deref(),
            ));
        }
        let mut ctx = ToolContext::new(cwd.clone(), Arc::new(policy), self.http.clone());
        ctx.network = req.workspace.network;
        ctx.limits.bash_default_timeout = Duration::from_secs(self.config.bash_timeout_secs);
        ctx.limits.output_cap = self.config.output_cap_bytes;

        let spec = req.model.as_deref().or(agent.model.as_deref());
        let inherit = req.inherit.as_ref().or(self.local_inherit.as_ref());
        let candidates = self
            .router
            .resolve(spec, inherit)
            .map_err(|e| e.to_string())?;
        let messages = match &req.resume {
            Some(resume) => transcript::continued(&resume.messages, &req.prompt),
            None => vec![Message::user_text(req.prompt.clone())],
        };
        let mut system = system_prompt(&agent.body, &Environment::detect(cwd));
        if let Some(dir) = memory_dir(&agent, &req.workspace, roots) {
            let writable = ctx.access.sandbox() != SandboxMode::ReadOnly;
            if writable {
                if let Err(e) = std::fs::create_dir_all(&dir) {
                    tracing::warn!(agent = %agent.name, dir = %dir.display(), "cannot make the agent's memory directory: {e}");
                }
            }
            system = format!("{system}\n\n{}", memory::prompt(&dir, writable));
        }
        let (system, missing) =
            with_skills(system, &agent.skills, &self.catalogs.commands.get(cwd));
        if !missing.is_empty() {
            tracing::warn!(agent = %agent.name, ?missing, "the agent's skills: names no skill of this workspace; started without them");
        }
        let request = ModelRequest {
            model: String::new(),
            system,
            messages,
            tools,
            temperature: agent.temperature,
            max_tokens: agent.max_tokens,
            output_schema: req.output_schema.clone(),
        };
        Ok(Prepared {
            max_turns: agent.max_turns.unwrap_or(self.config.max_turns).max(1),
            timeout: agent.timeout.unwrap_or_else(|| self.config.timeout()),
            agent,
            candidates,
            request,
            ctx,
        })
    }

    /// The MCP tools the agent may use, from servers started now or already running.
    async fn add_mcp_tools(&self, p: &mut Prepared, cwd: &std::path::Path) {
        let servers = self.mcp_servers(&p.agent, cwd);
        if servers.servers.is_empty() {
            return;
        }
        let (specs, tools) =
            mcp::tools_for(&self.mcp, &servers, &p.agent, &p.ctx.access, cwd).await;
        p.request.tools.extend(specs);
        p.ctx.mcp = tools;
    }

    /// The loop. `p.request.messages` holds the transcript, also when the loop is
    /// dropped part way (a timeout, a cancel).
    async fn tool_loop(
        self: &Arc<Self>,
        entry: &Arc<TaskEntry>,
        req: &TaskRequest,
        p: &mut Prepared,
    ) -> Ended {
        let (candidates, ctx, max_turns) = (&p.candidates, &p.ctx, p.max_turns);
        let request = &mut p.request;
        let mut seq = 0u32;
        let mut stops_refused = 0u32;
        let trace = entry.trace.get().cloned().unwrap_or_default();
        for turn in 1..=max_turns {
            let (provider, model) = candidates
                .first()
                .map_or(("", ""), |c| (c.provider.as_str(), c.model.as_str()));
            let mut span = self.telemetry.chat(&trace, provider, model, Vec::new);
            let completion = self.router.complete(candidates, request).await;
            let completion = match completion {
                Ok(done) => {
                    self.record_attempts(entry, &done.attempts, Some(&done));
                    span.set(|| model_call_attributes(&done.response));
                    span.end();
                    done
                }
                Err(exhausted) => {
                    self.record_attempts(entry, &exhausted.attempts, None);
                    span.fail("provider_error", || exhausted.to_string());
                    return Ended::Failed(exhausted.to_string());
                }
            };
            let response = completion.response;
            let text = response.text();
            entry.update(|p| {
                p.usage.add(&response.usage);
                if let Some(cost) = completion.cost_usd {
                    p.cost_usd = Some(p.cost_usd.unwrap_or(0.0) + cost);
                }
                p.provider = Some(response.provider.clone());
                p.model = Some(response.model.clone());
                if !text.trim().is_empty() {
                    p.text = text.clone();
                }
            });
            entry.emit(TaskEvent::ModelCall {
                provider: response.provider.clone(),
                model: response.model.clone(),
            });
            let calls: Vec<(String, String, Value)> = response
                .tool_calls()
                .map(|(id, name, input)| (id.to_string(), name.to_string(), input.clone()))
                .collect();
            request.messages.push(Message {
                role: Role::Assistant,
                content: response.content,
            });
            if calls.is_empty() {
                // A SubagentStop hook may send it on, a few times, while turns remain.
                if stops_refused < MAX_STOP_CONTINUATIONS && turn < max_turns {
                    if let Some(reason) = self.subagent_stop(entry, req, stops_refused > 0).await {
                        stops_refused += 1;
                        request.messages.push(Message::user_text(format!(
                            "SubagentStop hook feedback:\n{reason}"
                        )));
                        continue;
                    }
                }
                return Ended::Completed;
            }
            if turn == max_turns {
                return Ended::Failed(format!(
                    "the subagent used all {max_turns} of its turns (the agent's `maxTurns`, or [tasks] max_turns) and still wanted to call tools; its partial output is kept"
                ));
            }
            let results = self.run_tools(entry, req, ctx, calls, &mut seq).await;
            request.messages.push(Message {
                role: Role::User,
                content: results,
            });
        }
        Ended::Failed(format!("the subagent used all {max_turns} of its turns"))
    }

    /// Runs one response's tool calls: consecutive read-only calls (and subagents)
    /// together, anything that may change files alone and in order. Results keep the
    /// calls' order.
    async fn run_tools(
        self: &Arc<Self>,
        entry: &Arc<TaskEntry>,
        req: &TaskRequest,
        ctx: &ToolContext,
        calls: Vec<(String, String, Value)>,
        seq: &mut u32,
    ) -> Vec<Block> {
        let mut results: Vec<(Block, Vec<Image>)> = Vec::with_capacity(calls.len());
        let mut batch = Vec::new();
        for (id, name, input) in calls {
            *seq += 1;
            let call = (*seq, id, name, input);
            if self.runs_concurrently(&call.2) {
                batch.push(call);
                continue;
            }
            results.extend(
                self.run_batch(entry, req, ctx, std::mem::take(&mut batch))
                    .await,
            );
            results.extend(self.run_batch(entry, req, ctx, vec![call]).await);
        }
        results.extend(self.run_batch(entry, req, ctx, batch).await);
        // Images (from MCP tools) follow every result: the one place each provider
        // takes them in the turn that answers the calls.
        let (mut blocks, images): (Vec<Block>, Vec<Vec<Image>>) = results.into_iter().unzip();
        blocks.extend(images.into_iter().flatten().map(|i| Block::Image {
            media_type: i.media_type,
            data: i.data,
        }));
        blocks
    }

    fn runs_concurrently(&self, name: &str) -> bool {
        let name = canonical_tool_name(name);
        name == AGENT_TOOL || self.tools.iter().any(|t| t.name() == name && t.read_only())
    }

    async fn run_batch(
        self: &Arc<Self>,
        entry: &Arc<TaskEntry>,
        req: &TaskRequest,
        ctx: &ToolContext,
        calls: Vec<(u32, String, String, Value)>,
    ) -> Vec<(Block, Vec<Image>)> {
        join_all(
            calls
                .into_iter()
                .map(|(seq, id, name, input)| self.run_one(entry, req, ctx, seq, id, name, input)),
        )
        .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn run_one(
        self: &Arc<Self>,
        entry: &Arc<TaskEntry>,
        req: &TaskRequest,
        ctx: &ToolContext,
        seq: u32,
        call_id: String,
        name: String,
        input: Value,
    ) -> (Block, Vec<Image>) {
        entry.emit(TaskEvent::ToolUse {
            tool: name.clone(),
            summary: tool_summary(canonical_tool_name(&name), &input, &ctx.cwd),
        });
        let at = Timestamp::now();
        let started = Instant::now();
        let span = self.telemetry.span(
            &entry.trace.get().cloned().unwrap_or_default(),
            SpanKind::Internal,
            || format!("execute_tool {name}"),
            || {
                vec![
                    KeyValue::new("gen_ai.operation.name", "execute_tool"),
                    KeyValue::new("gen_ai.tool.name", name.clone()),
                    KeyValue::new("gen_ai.tool.call.id", call_id.clone()),
                    KeyValue::new("gen_ai.tool.type", "function"),
                ]
            },
        );
        let mut images = Vec::new();
        let outcome = match self
            .pre_tool_use(entry, req, &call_id, &name, input.clone())
            .await
        {
            Err(reason) => ToolOutcome::refused(format!("Blocked by hook: {reason}")),
            Ok(ran_with) => {
                let outcome = if canonical_tool_name(&name) == AGENT_TOOL {
                    self.run_agent_call(entry, req, ctx, &call_id, &ran_with)
                        .await
                } else if let Some(tool) = ctx.mcp.get(&name) {
                    let (outcome, got) = mcp::call(tool, ran_with.clone(), ctx).await;
                    images = got;
                    outcome
                } else {
                    run_tool_call(&self.tools, &name, ran_with.clone(), ctx).await
                };
                // PostToolUse / PostToolUseFailure see the input the call ran with
                // (a PreToolUse hook may have changed it); a refused call fires neither.
                self.post_tool_use(entry, req, &call_id, &name, &ran_with, outcome)
                    .await
            }
        };
        if outcome.is_error() {
            span.fail("tool_error", || outcome.output.chars().take(500).collect());
        }
        drop(span);
        entry.update(|p| p.tool_uses += 1);
        entry.progressed();
        self.ledger.tool_call(&ToolCallRecord {
            task_id: entry.who.id.clone(),
            seq,
            tool: name,
            input,
            is_error: outcome.is_error(),
            output_bytes: outcome.output.len() as u64,
            duration_ms: millis(started.elapsed()),
            at,
        });
        let result = Block::ToolResult {
            call_id,
            is_error: outcome.is_error(),
            content: outcome.output,
        };
        (result, images)
    }

    /// An Agent call: a child task through this engine, one level deeper, under this
    /// task's slot and cancel token. The child's result text is the tool output.
    async fn run_agent_call(
        self: &Arc<Self>,
        entry: &Arc<TaskEntry>,
        req: &TaskRequest,
        ctx: &ToolContext,
        call_id: &str,
        input: &Value,
    ) -> ToolOutcome {
        if let Err(e) = ctx.access.check_call(AGENT_TOOL, true, input, &ctx.cwd) {
            return ToolOutcome::from_error(&e);
        }
        let call = match AgentCall::parse(input) {
            Ok(call) => call,
            Err(e) => return ToolOutcome::refused(e),
        };
        let mut workspace = req.workspace.clone();
        match (&call.cwd, call.isolation.as_deref()) {
            (Some(_), Some("worktree")) => {
                return ToolOutcome::refused(
                    "cwd cannot be combined with isolation: \"worktree\" (the worktree is the agent's directory)"
                        .to_string(),
                )
            }
            // Inside this agent's own roots: a child never reaches further.
            (Some(asked), _) => match workspace.directory(asked) {
                Ok(cwd) => workspace.cwd = cwd,
                Err(why) => return ToolOutcome::refused(why),
            },
            _ => {}
        }
        let child = TaskRequest {
            subagent_type: call.subagent_type,
            prompt: call.prompt,
            description: call.description,
            model: call.model,
            workspace,
            inherit: req.inherit.clone(),
            session_id: req.session_id.clone(),
            call_id: Some(call_id.to_string()),
            call_key: None,
            depth: req.depth + 1,
            parent_id: Some(entry.who.id.clone()),
            isolation: call.isolation,
            name: None,
            resume: None,
            output_schema: None,
            given_agent: None,
            trace: entry.trace.get().cloned().unwrap_or_default(),
            background: false,
        };
        let result = self
            .spawn_with(child, entry.cancel.child_token())
            .result()
            .await;
        if result.is_success() {
            ToolOutcome::ok(result.to_claude_text())
        } else {
            ToolOutcome::failed(result.to_claude_text())
        }
    }

    fn record_attempts(&self, entry: &TaskEntry, attempts: &[Attempt], done: Option<&Completion>) {
        // Attempts ran one after another and ended now: walk back to their starts.
        let mut end = Timestamp::now().as_millis();
        let starts: Vec<i64> = attempts
            .iter()
            .rev()
            .map(|a| {
                end -= i64::try_from(millis(a.duration)).unwrap_or(0);
                end
            })
            .collect();
        for (attempt, start) in attempts.iter().zip(starts.into_iter().rev()) {
            let ok = matches!(attempt.outcome, Outcome::Ok);
            let usage = done
                .filter(|_| ok)
                .map(|d| d.response.usage)
                .unwrap_or_default();
            let took = millis(attempt.duration);
            self.ledger.model_attempt(&ModelAttemptRecord {
                task_id: entry.who.id.clone(),
                provider: attempt.provider.clone(),
                model: attempt.model.clone(),
                ok,
                error: (!ok).then(|| attempt.outcome_text()),
                retries: attempt.retries,
                duration_ms: took,
                input_tokens: usage.input_tokens,
                output_tokens: usage.output_tokens,
                at: Timestamp(start),
            });
        }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// What a model call's span says of its answer (GenAI conventions).
fn model_call_attributes(response: &crate::providers::types::ModelResponse) -> Vec<KeyValue> {
    vec![
        KeyValue::new(
            "gen_ai.provider.name",
            provider_name(&response.provider).to_string(),
        ),
        KeyValue::new("gen_ai.response.model", response.model.clone()),
        KeyValue::new(
            "gen_ai.usage.input_tokens",
            response.usage.input_tokens as i64,
        ),
        KeyValue::new(
            "gen_ai.usage.output_tokens",
            response.usage.output_tokens as i64,
        ),
    ]
}
