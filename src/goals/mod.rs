//! Goals: one request, decomposed by a planner agent into a graph of subtasks
//! (`plan`), run through the engine in dependency order (`graph`), and combined by
//! the planner into one answer. Recorded in the ledger as it goes, so a goal a
//! restart interrupted can be resumed.
//!
//! The planner is the workspace's `goal-planner` agent, else the built-in `Plan`.
//! It answers with structured output (`plan::schema`), or with the same JSON in its
//! text. A bad plan goes back to it once with its problems; still bad, the goal fails.

pub mod graph;
pub mod plan;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use futures_util::future::BoxFuture;
use futures_util::stream::{FuturesUnordered, StreamExt};
use serde::Serialize;
use tokio::sync::{broadcast, watch};
use tokio_util::sync::CancellationToken;

use crate::claude::AgentSet;
use crate::config::GoalsConfig;
use crate::engine::access::SandboxMode;
use crate::engine::request::MAX_DESCRIPTION_CHARS;
use crate::engine::{Engine, TaskRequest, TaskResult, Workspace};
use crate::providers::router::InheritTarget;
use crate::store::{GoalRecord, Ledger, Timestamp};
use graph::{After, Graph, State};

/// The agent a workspace may define to plan (and combine) its goals.
pub const PLANNER: &str = "goal-planner";
/// The planner when it defines none.
pub const DEFAULT_PLANNER: &str = "Plan";

/// The agent that plans (and combines) a workspace's goals.
pub fn planner(agents: &AgentSet) -> &'static str {
    if agents.get(PLANNER).is_some() {
        PLANNER
    } else {
        DEFAULT_PLANNER
    }
}

/// Finished goals kept in memory beside the ledger.
const KEPT_FINISHED: usize = 256;

/// What a caller asks for.
#[derive(Debug, Clone)]
pub struct GoalRequest {
    pub goal: String,
    /// The workspace (its agents, where the subtasks work) and its sandbox.
    pub workspace: Workspace,
    /// A model for every agent of the goal (planner, subtasks, combiner).
    pub model: Option<String>,
    /// Subtasks running at once (the engine's own limit still holds).
    pub max_parallel: Option<usize>,
    /// Where `inherit` agents go: a Codex session's own upstream and credentials.
    /// Not kept: a resumed goal uses the proxy's own (`[upstream]`, OPENAI_API_KEY).
    pub inherit: Option<InheritTarget>,
}

/// What a goal's watchers are told, in order.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum GoalEvent {
    Planned {
        subtasks: usize,
    },
    Subtask {
        id: String,
        state: State,
        #[serde(skip_serializing_if = "Option::is_none")]
        task_id: Option<String>,
    },
    Finished {
        status: String,
    },
}

impl GoalEvent {
    pub fn kind(&self) -> &'static str {
        match self {
            GoalEvent::Planned { .. } => "planned",
            GoalEvent::Subtask { .. } => "subtask",
            GoalEvent::Finished { .. } => "finished",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum GoalError {
    #[error("no goal {0}; GET /api/goals lists them")]
    NotFound(String),
    #[error("goal {id} is {status}; {what}")]
    State {
        id: String,
        status: String,
        what: &'static str,
    },
    #[error("the goal's recorded plan cannot be read ({0})")]
    Corrupt(String),
}

/// A goal being planned or run in this process.
struct Live {
    cancel: CancellationToken,
    /// Dropped when the goal ends, so its watchers see the stream close.
    events: Mutex<Option<broadcast::Sender<GoalEvent>>>,
    record: Mutex<GoalRecord>,
    done: watch::Sender<bool>,
    /// Stops the goal's loop where it is, writing nothing more (shutdown).
    abort: Mutex<Option<tokio::task::AbortHandle>>,
}

impl Live {
    fn send(&self, event: GoalEvent) {
        let events = self.events.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(events) = events.as_ref() {
            let _ = events.send(event);
        }
    }

    /// The goal ended: its watchers' streams close after what was sent.
    fn close(&self) {
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        // `send` would not store it with no receiver yet: a later `wait` must see it.
        self.done.send_replace(true);
    }

    fn record(&self) -> GoalRecord {
        self.record
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

pub struct Goals {
    engine: Arc<Engine>,
    ledger: Arc<Ledger>,
    config: GoalsConfig,
    live: Mutex<HashMap<String, Arc<Live>>>,
}

impl Goals {
    pub fn new(engine: Arc<Engine>, ledger: Arc<Ledger>, config: GoalsConfig) -> Arc<Goals> {
        Arc::new(Goals {
            engine,
            ledger,
            config,
            live: Mutex::new(HashMap::new()),
        })
    }

    /// The goal if this process ran it lately: running, or finished (kept a while,
    /// so a reader never sees the ledger a write behind).
    fn live(&self, id: &str) -> Option<Arc<Live>> {
        self.live
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(id)
            .cloned()
    }

    /// The goal if it is running in this process.
    fn running(&self, id: &str) -> Option<Arc<Live>> {
        self.live(id).filter(|l| !*l.done.borrow())
    }

    /// Starts planning `req`; the goal's id, at once.
    pub fn start(self: &Arc<Self>, req: GoalRequest) -> String {
        let hex = uuid::Uuid::new_v4().simple().to_string();
        let id = format!("goal_{}", &hex[..16]);
        let now = Timestamp::now();
        let record = GoalRecord {
            id: id.clone(),
            goal: req.goal.clone(),
            cwd: req.workspace.cwd.display().to_string(),
            sandbox: req.workspace.sandbox.as_str().to_string(),
            model: req.model.clone(),
            max_parallel: req.max_parallel.map(|n| n as u64),
            status: "planning".into(),
            graph_json: None,
            answer: None,
            error: None,
            created_at: now,
            updated_at: now,
            ended_at: None,
        };
        self.launch(record, req, None);
        id
    }

    /// Runs again what an interrupted (or failed, or cancelled) goal had not finished.
    pub fn resume(self: &Arc<Self>, id: &str) -> Result<(), GoalError> {
        if self.running(id).is_some() {
            return Err(GoalError::State {
                id: id.into(),
                status: "running".into(),
                what: "it is still running",
            });
        }
        let record = self.get(id).ok_or_else(|| GoalError::NotFound(id.into()))?;
        if record.status == "completed" {
            return Err(GoalError::State {
                id: id.into(),
                status: record.status,
                what: "there is nothing to resume",
            });
        }
        let graph = match &record.graph_json {
            Some(json) => Some(
                serde_json::from_str::<Graph>(json)
                    .map_err(|e| GoalError::Corrupt(e.to_string()))?,
            ),
            None => None,
        }
        .map(|mut g| {
            g.reset_unfinished();
            g
        });
        let sandbox = record.sandbox.parse().unwrap_or_default();
        let req = GoalRequest {
            goal: record.goal.clone(),
            workspace: Workspace {
                sandbox,
                network: sandbox == SandboxMode::DangerFullAccess,
                ..Workspace::at(PathBuf::from(&record.cwd))
            },
            model: record.model.clone(),
            max_parallel: record.max_parallel.map(|n| n as usize),
            inherit: None,
        };
        let record = GoalRecord {
            status: if graph.is_some() {
                "running"
            } else {
                "planning"
            }
            .into(),
            error: None,
            answer: None,
            ended_at: None,
            ..record
        };
        self.launch(record, req, graph);
        Ok(())
    }

    fn launch(self: &Arc<Self>, record: GoalRecord, req: GoalRequest, graph: Option<Graph>) {
        let (events, _) = broadcast::channel(256);
        let (done, _) = watch::channel(false);
        let live = Arc::new(Live {
            cancel: CancellationToken::new(),
            events: Mutex::new(Some(events)),
            record: Mutex::new(record.clone()),
            done,
            abort: Mutex::new(None),
        });
        self.ledger.save_goal(record.clone());
        self.live
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(record.id.clone(), live.clone());
        let goals = Arc::clone(self);
        let running = live.clone();
        let task = tokio::spawn(async move {
            let id = record.id.clone();
            goals.run(&running, req, graph).await;
            running.close();
            goals.forget_old(&id);
        });
        *live.abort.lock().unwrap_or_else(PoisonError::into_inner) = Some(task.abort_handle());
    }

    /// Finished goals beyond `KEPT_FINISHED` leave memory, oldest first (the ledger
    /// has them).
    fn forget_old(&self, just_ended: &str) {
        let mut live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        let mut done: Vec<(Timestamp, String)> = live
            .iter()
            .filter(|(id, l)| *l.done.borrow() && id.as_str() != just_ended)
            .map(|(id, l)| (l.record().updated_at, id.clone()))
            .collect();
        if done.len() < KEPT_FINISHED {
            return;
        }
        done.sort();
        for (_, id) in done.iter().take(done.len() + 1 - KEPT_FINISHED) {
            live.remove(id);
        }
    }

    /// The proxy is stopping: every goal's loop stops where it is. The ledger then
    /// marks them interrupted (`Ledger::interrupt_open`), and `resume` goes on.
    pub fn shutdown(&self) {
        let live: Vec<Arc<Live>> = self
            .live
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .drain()
            .map(|(_, l)| l)
            .collect();
        for l in live {
            if let Some(task) = l
                .abort
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take()
            {
                task.abort();
            }
            l.close();
        }
    }

    /// Stops a running goal: what runs is cancelled, what waits never starts.
    pub fn cancel(&self, id: &str) -> Result<(), GoalError> {
        match self.running(id) {
            Some(live) => {
                live.cancel.cancel();
                Ok(())
            }
            None => match self.get(id) {
                Some(g) => Err(GoalError::State {
                    id: id.into(),
                    status: g.status,
                    what: "there is nothing to cancel",
                }),
                None => Err(GoalError::NotFound(id.into())),
            },
        }
    }

    /// The goal as it is now.
    pub fn get(&self, id: &str) -> Option<GoalRecord> {
        match self.live(id) {
            Some(live) => Some(live.record()),
            None => self.ledger.goal(id).ok().flatten(),
        }
    }

    /// Goals, newest first.
    pub fn list(&self, limit: usize) -> Vec<GoalRecord> {
        let mut goals = self.ledger.goals(limit).unwrap_or_default();
        // The ledger's copy may lag a running goal's by a write.
        for g in &mut goals {
            if let Some(live) = self.live(&g.id) {
                *g = live.record();
            }
        }
        goals
    }

    /// A running goal's events from now on.
    pub fn subscribe(&self, id: &str) -> Option<broadcast::Receiver<GoalEvent>> {
        let live = self.running(id)?;
        let events = live.events.lock().unwrap_or_else(PoisonError::into_inner);
        events.as_ref().map(broadcast::Sender::subscribe)
    }

    /// The goal once it has ended.
    pub async fn wait(&self, id: &str) -> Option<GoalRecord> {
        if let Some(live) = self.live(id) {
            let mut done = live.done.subscribe();
            let _ = done.wait_for(|d| *d).await;
            return Some(live.record());
        }
        self.ledger.goal(id).ok().flatten()
    }

    /// Updates the goal's record (in memory and in the ledger) and tells its watchers.
    fn update(&self, live: &Live, change: impl FnOnce(&mut GoalRecord), event: Option<GoalEvent>) {
        let record = {
            let mut record = live.record.lock().unwrap_or_else(PoisonError::into_inner);
            change(&mut record);
            record.updated_at = Timestamp::now();
            record.clone()
        };
        self.ledger.save_goal(record);
        if let Some(event) = event {
            live.send(event);
        }
    }

    fn end(&self, live: &Live, status: &str, answer: Option<String>, error: Option<String>) {
        let event = GoalEvent::Finished {
            status: status.to_string(),
        };
        self.update(
            live,
            |r| {
                r.status = status.to_string();
                r.answer = answer;
                r.error = error;
                r.ended_at = Some(Timestamp::now());
            },
            Some(event),
        );
    }

    fn save_graph(&self, live: &Live, graph: &Graph, event: Option<GoalEvent>) {
        let json = serde_json::to_string(graph).ok();
        self.update(live, |r| r.graph_json = json, event);
    }

    async fn run(self: &Arc<Self>, live: &Live, req: GoalRequest, graph: Option<Graph>) {
        let mut graph = match graph {
            Some(graph) => graph,
            None => match self.plan(live, &req).await {
                Ok(graph) => graph,
                Err(why) => {
                    let status = if live.cancel.is_cancelled() {
                        "cancelled"
                    } else {
                        "failed"
                    };
                    return self.end(live, status, None, Some(why));
                }
            },
        };
        self.update(
            live,
            |r| r.status = "running".into(),
            Some(GoalEvent::Planned {
                subtasks: graph.nodes.len(),
            }),
        );
        self.save_graph(live, &graph, None);
        self.run_graph(live, &req, &mut graph).await;
        if live.cancel.is_cancelled() {
            return self.end(
                live,
                "cancelled",
                None,
                Some("the goal was cancelled".into()),
            );
        }
        let unfinished: Vec<String> = graph
            .nodes
            .iter()
            .filter(|n| n.state != State::Completed)
            .map(|n| format!("`{}` {}", n.subtask.id, state_word(n.state)))
            .collect();
        let answer = self.combine(&req, &graph).await;
        match (answer, unfinished.is_empty()) {
            (Ok(answer), true) => self.end(live, "completed", Some(answer), None),
            (Ok(answer), false) => self.end(
                live,
                "failed",
                Some(answer),
                Some(format!(
                    "subtasks did not complete: {}",
                    unfinished.join(", ")
                )),
            ),
            (Err(why), _) => self.end(
                live,
                "failed",
                None,
                Some(format!("the combining step failed: {why}")),
            ),
        }
    }

    /// The planner's plan, checked; one re-plan with the problems named.
    async fn plan(&self, live: &Live, req: &GoalRequest) -> Result<Graph, String> {
        let agents = self.engine.agents(&req.workspace.cwd);
        let planner = planner(&agents);
        let listing: Vec<String> = agents
            .agents()
            .iter()
            .filter(|a| a.name != PLANNER)
            .map(|a| format!("- {}: {}", a.name, a.description))
            .collect();
        let max = self.config.max_subtasks;
        let ask = format!(
            "Split this goal into subtasks that agents will run, then report the plan.\n\n<goal>\n{}\n</goal>\n\n\
             Agents (subagent_type: what it does):\n{}\n\n\
             Answer with JSON only, in this shape:\n\
             {{\"subtasks\": [{{\"id\": \"a\", \"description\": \"3-5 words\", \"prompt\": \"the complete task\", \"subagent_type\": \"one of the agents\", \"depends_on\": [], \"priority\": 0}}]}}\n\n\
             Rules: ids are short and unique. `depends_on` names the subtasks whose results this one needs; \
             it gets those results and starts after them. No cycles. At most {max} subtasks. Subtasks \
             without dependencies between them run in parallel. Among ready subtasks the higher \
             priority runs first. Each prompt is complete on its own: the agent sees nothing else. \
             A goal too small to split is one subtask.",
            req.goal,
            listing.join("\n"),
        );
        let mut prompt = ask.clone();
        for round in 0..2 {
            let mut task = self.request(req, planner, &prompt, "Plan the goal");
            task.output_schema = Some(("goal_plan".into(), plan::schema()));
            let result = self.task(live, task).await;
            if live.cancel.is_cancelled() {
                return Err("the goal was cancelled while it was planned".into());
            }
            if !result.is_success() {
                return Err(format!(
                    "the planner did not complete: {}",
                    result.error_summary().unwrap_or_default()
                ));
            }
            let problems = match plan::parse(&result.output) {
                Ok(p) => match plan::problems(&p, |a| agents.get(a).is_some(), max) {
                    found if found.is_empty() => return Ok(Graph::new(p)),
                    found => found,
                },
                Err(e) => vec![e],
            };
            tracing::warn!(goal = %live.record().id, ?problems, "the goal's plan was refused");
            if round == 1 {
                return Err(format!(
                    "the plan is still invalid after a re-plan: {}",
                    problems.join("; ")
                ));
            }
            prompt = format!(
                "{ask}\n\nYour previous plan had these problems:\n- {}\nAnswer with a corrected plan.",
                problems.join("\n- ")
            );
        }
        Err("the planner gave no plan".into())
    }

    /// Runs the graph until nothing can start and nothing runs, or the goal is
    /// cancelled.
    async fn run_graph(&self, live: &Live, req: &GoalRequest, graph: &mut Graph) {
        let limit = req
            .max_parallel
            .unwrap_or(self.engine.config().max_concurrent)
            .max(1);
        let mut running: FuturesUnordered<BoxFuture<'static, (usize, TaskResult)>> =
            FuturesUnordered::new();
        loop {
            for i in graph
                .ready()
                .into_iter()
                .take(limit.saturating_sub(running.len()))
            {
                let node = &graph.nodes[i].subtask;
                let agent = node
                    .subagent_type
                    .clone()
                    .unwrap_or_else(|| crate::engine::DEFAULT_AGENT.into());
                let description = if node.description.trim().is_empty() {
                    node.id.clone()
                } else {
                    node.description.clone()
                };
                let task = self.request(
                    req,
                    &agent,
                    &graph.prompt(i, self.config.result_cap_bytes),
                    &description,
                );
                let handle = self.engine.spawn(task);
                graph.start(i, &handle.id);
                self.save_graph(
                    live,
                    graph,
                    Some(GoalEvent::Subtask {
                        id: graph.nodes[i].subtask.id.clone(),
                        state: State::Running,
                        task_id: Some(handle.id.clone()),
                    }),
                );
                running.push(Box::pin(async move { (i, handle.result().await) }));
            }
            if running.is_empty() {
                return;
            }
            tokio::select! {
                () = live.cancel.cancelled() => {
                    for task in graph.cancel() {
                        self.engine.cancel(&task);
                    }
                    self.save_graph(live, graph, None);
                    return;
                }
                Some((i, result)) = running.next() => {
                    let after = graph.finish(i, result.is_success(), result.output.clone(), result.error.clone());
                    let id = graph.nodes[i].subtask.id.clone();
                    if let After::Failed { blocked } = &after {
                        tracing::warn!(goal = %live.record().id, subtask = %id, ?blocked, "a subtask failed twice; what depends on it is blocked");
                    }
                    let state = graph.nodes[i].state;
                    self.save_graph(live, graph, Some(GoalEvent::Subtask { id, state, task_id: Some(result.id.clone()) }));
                    if let After::Failed { blocked } = after {
                        for id in blocked {
                            live.send(GoalEvent::Subtask { id, state: State::Blocked, task_id: None });
                        }
                    }
                }
            }
        }
    }

    /// The planner writes the answer from every subtask's result.
    async fn combine(&self, req: &GoalRequest, graph: &Graph) -> Result<String, String> {
        let agents = self.engine.agents(&req.workspace.cwd);
        let planner = planner(&agents);
        let results: Vec<String> = graph
            .nodes
            .iter()
            .map(|n| {
                format!(
                    "<subtask id=\"{}\" description=\"{}\" status=\"{}\">\n{}\n</subtask>",
                    n.subtask.id,
                    n.subtask.description,
                    state_word(n.state),
                    graph::excerpt(
                        n.result
                            .as_deref()
                            .or(n.error.as_deref())
                            .unwrap_or_default(),
                        self.config.result_cap_bytes
                    )
                )
            })
            .collect();
        let prompt = format!(
            "These subtasks were run for the goal below. Write the final answer to the goal from \
             their results: what was done, what was found, and what did not complete.\n\n\
             <goal>\n{}\n</goal>\n\n{}",
            req.goal,
            results.join("\n\n")
        );
        let result = self
            .engine
            .task(self.request(req, planner, &prompt, "Combine the results"))
            .await;
        if result.is_success() {
            Ok(result.output)
        } else {
            Err(result
                .error_summary()
                .unwrap_or_else(|| result.status.to_string()))
        }
    }

    fn request(
        &self,
        req: &GoalRequest,
        agent: &str,
        prompt: &str,
        description: &str,
    ) -> TaskRequest {
        let description: String = description.chars().take(MAX_DESCRIPTION_CHARS).collect();
        let mut task = TaskRequest::new(
            Some(agent.to_string()),
            prompt,
            description,
            req.workspace.clone(),
        );
        task.model = req.model.clone();
        task.inherit = req.inherit.clone();
        task
    }

    /// A task the goal's cancel also stops.
    async fn task(&self, live: &Live, task: TaskRequest) -> TaskResult {
        let handle = self.engine.spawn(task);
        let id = handle.id.clone();
        tokio::select! {
            result = handle.result() => result,
            () = live.cancel.cancelled() => {
                self.engine.cancel(&id);
                TaskResult::failed(id, String::new(), String::new(), "cancelled")
            }
        }
    }
}

fn state_word(state: State) -> &'static str {
    match state {
        State::Waiting => "waiting",
        State::Running => "running",
        State::Completed => "completed",
        State::Failed => "failed",
        State::Blocked => "blocked",
        State::Cancelled => "cancelled",
    }
}
