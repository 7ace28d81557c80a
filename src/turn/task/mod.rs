//! Offers the model Claude Code's `Task` tool, listing the agents of the turn's
//! workspace, in whichever dialect the request uses: the top-level `tools` array
//! (classic) or the `functions` namespace of the `additional_tools` item (lite).
//!
//! A turn that got the tool is marked so the interceptor withholds its calls. A
//! request that already has a tool named `Task` is left alone: its owner answers it.
//!
//! The same goes for Claude Code's `Skill` tool, offered when the workspace has
//! skills the model may load (`claude::commands`): the resolver answers its calls
//! with the skill's rendered text.

use std::sync::{Arc, Mutex, PoisonError};

use axum::response::Response;
use serde_json::{json, Value};

pub mod background;
pub mod history;
pub mod resolver;

use crate::claude::{AgentSet, ClaudeCatalogs, CommandSet};
use crate::hooks::sessions::Sessions;
use crate::proxy::interceptor::{BACKGROUND_TOOLS, SEND_MESSAGE, SKILL_NAME};
use crate::store::Ledger;
use crate::turn::hooks::keep_item;
use crate::turn::pipeline::Step;
use crate::turn::Turn;
use crate::wire::request::{Dialect, RawJson, ResponsesRequest};

pub struct TaskTool {
    catalogs: Arc<ClaudeCatalogs>,
    /// `[tasks] enabled`; a workspace's `.codexplus/settings.json` may turn it off.
    enabled: bool,
    /// `[commands] enabled`: skills are commands, and the Skill tool goes with them.
    skills_enabled: bool,
    /// The serialised spec of the agent sets seen last: building it cost more than
    /// the rest of the request's pipeline, and it only changes with the agents.
    specs: Mutex<Vec<(Arc<AgentSet>, RawJson)>>,
    /// The same for the Skill tool, by command set.
    skill_specs: Mutex<Vec<(Arc<CommandSet>, RawJson)>>,
    /// Background agents' notifications, and where delivered ones are kept.
    notices: Option<Notices>,
}

/// What delivering background agents' notifications needs.
pub struct Notices {
    pub background: Arc<background::Background>,
    pub sessions: Arc<Sessions>,
    pub ledger: Arc<Ledger>,
}

/// Workspaces whose spec is kept; more are rebuilt on use.
const SPEC_CACHE: usize = 8;

impl TaskTool {
    pub fn new(catalogs: Arc<ClaudeCatalogs>, enabled: bool, skills_enabled: bool) -> TaskTool {
        TaskTool {
            catalogs,
            enabled,
            skills_enabled,
            specs: Mutex::new(Vec::new()),
            skill_specs: Mutex::new(Vec::new()),
            notices: None,
        }
    }

    /// Delivers the session's background agents' notifications (see `background`).
    pub fn notifying(mut self, notices: Notices) -> TaskTool {
        self.notices = Some(notices);
        self
    }

    /// Offers TaskOutput and TaskStop while the session has background agents.
    fn offer_background_tools(&self, turn: &mut Turn) {
        let (Some(notices), Some(session)) = (&self.notices, turn.session_id()) else {
            return;
        };
        if !notices.background.has_agents(session)
            || BACKGROUND_TOOLS
                .iter()
                .any(|t| has_tool(turn.request(), t) || !super::slash::allows_tool(turn, t))
        {
            return;
        }
        let mut offered = true;
        for spec in background_tool_specs() {
            offered &= inject(turn.request_mut(), spec.clone());
        }
        turn.answers.background = offered;
    }

    /// Puts the notifications of the session's finished background agents into this
    /// request, before a new turn's prompt (else at the end), kept there for the
    /// session's later requests.
    fn deliver(&self, turn: &mut Turn) {
        let Some(notices) = &self.notices else {
            return;
        };
        let Some(session) = turn.session_id().map(str::to_string) else {
            return;
        };
        for item in notices.background.take(&session) {
            let at = turn.new_turn_prompt().unwrap_or(turn.request().input.len());
            keep_item(&notices.sessions, &notices.ledger, turn, &session, at, item);
        }
    }

    /// The spec for this agent set, built once per set (a reload makes a new set).
    fn spec(&self, agents: Arc<AgentSet>) -> RawJson {
        cached(&self.specs, agents, tool_spec)
    }

    /// The Skill tool's spec for this command set, when it has skills for the model.
    fn skill_spec(&self, commands: Arc<CommandSet>) -> Option<RawJson> {
        commands.model_skills().next()?;
        Some(cached(&self.skill_specs, commands, skill_tool_spec))
    }

    /// Offers the Task tool, when it may be.
    fn offer_task(&self, turn: &mut Turn, cwd: &std::path::Path) {
        if !self.enabled
            || self.catalogs.settings.get(cwd).codexplus.task_tool == Some(false)
            || has_tool(turn.request(), "Task")
            || !super::slash::allows_tool(turn, "Task")
        {
            return;
        }
        let spec = self.spec(self.catalogs.agents.get(cwd));
        if !inject(turn.request_mut(), spec) {
            return;
        }
        turn.answers.tasks = true;
        // Always beside Task, so the tool list (the prompt cache's prefix) stays the
        // same whether or not the session has agents to continue yet.
        if !has_tool(turn.request(), SEND_MESSAGE)
            && super::slash::allows_tool(turn, SEND_MESSAGE)
            && inject(turn.request_mut(), send_message_spec().clone())
        {
            turn.answers.send_message = true;
        }
    }

    /// Offers the Skill tool, when the workspace has skills the model may load.
    fn offer_skill(&self, turn: &mut Turn, cwd: &std::path::Path) {
        if !self.skills_enabled
            || has_tool(turn.request(), SKILL_NAME)
            || !super::slash::allows_tool(turn, SKILL_NAME)
        {
            return;
        }
        let Some(spec) = self.skill_spec(self.catalogs.commands.get(cwd)) else {
            return;
        };
        if inject(turn.request_mut(), spec) {
            turn.answers.skills = true;
        }
    }
}

/// `build(key)`'s serialised form, kept for the last few keys (by identity: a
/// reload makes a new one).
fn cached<K>(
    cache: &Mutex<Vec<(Arc<K>, RawJson)>>,
    key: Arc<K>,
    build: impl Fn(&K) -> Value,
) -> RawJson {
    let mut specs = cache.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some((_, spec)) = specs.iter().find(|(k, _)| Arc::ptr_eq(k, &key)) {
        return spec.clone();
    }
    let spec = RawJson::from_value(&build(&key));
    if specs.len() == SPEC_CACHE {
        specs.remove(0);
    }
    specs.push((key, spec.clone()));
    spec
}

impl Step for TaskTool {
    fn concern(&self) -> crate::turn::kind::Concern {
        crate::turn::kind::Concern::TaskTool
    }

    async fn apply(&self, mut turn: Turn) -> Result<Turn, Response> {
        self.deliver(&mut turn);
        self.offer_background_tools(&mut turn);
        let Some(env) = turn.env.clone() else {
            // No workspace, no agents or skills to offer.
            return Ok(turn);
        };
        self.offer_task(&mut turn, &env.cwd);
        self.offer_skill(&mut turn, &env.cwd);
        Ok(turn)
    }
}

/// The `Task` function, described as Claude Code describes it to its model.
pub fn tool_spec(agents: &AgentSet) -> Value {
    let lines = agents.task_tool_description_lines().join("\n");
    let description = format!(
        "Launch a subagent to handle a complex, multi-step task on its own. Each subagent \
         has its own context, tools and instructions; only its final report comes back to you.\n\n\
         Available agent types and the tools they have access to:\n{lines}\n\n\
         When to use it: for open-ended searches, reviews and investigations that would \
         otherwise fill your context, and for independent pieces of work that can run in \
         parallel (call Task several times in one response to run them at once).\n\
         How to use it:\n\
         - Set subagent_type to one of the agent types above (default: general-purpose).\n\
         - Give a short description (3-5 words) and a prompt that is complete on its own: the \
         subagent sees nothing of this conversation, so include the files, goals and \
         constraints it needs, and say what it should report back.\n\
         - The subagent's report is for you, not the user: summarise what matters to the user.\n\
         - Trust a subagent's findings, but check anything that looks doubtful."
    );
    function_spec(
        "Task",
        &description,
        json!({
            "description": {"type": "string", "description": "A short (3-5 word) description of the task"},
            "prompt": {"type": "string", "description": "The task for the subagent to perform"},
            "subagent_type": {"type": "string", "description": "The type of specialized agent to use for this task"},
            "model": {"type": "string", "description": "Optional model for this subagent (e.g. sonnet, opus, haiku, or a full model id); by default the agent's own"},
            "cwd": {"type": "string", "description": "Optional working directory for the subagent: an absolute path inside this session's workspace; by default the session's own"},
            "run_in_background": {"type": "boolean", "description": "Run the agent in the background: this call returns at once with its id, and you are told automatically when it finishes"},
            "isolation": {"type": "string", "enum": ["worktree"], "description": "\"worktree\": the subagent works in a fresh git worktree on its own branch; it is removed if the agent changes nothing, otherwise the result names its path and branch. Not with cwd"},
            "name": {"type": "string", "description": "Optional name for the agent, so SendMessage can address it later"}
        }),
        &["description", "prompt"],
    )
}

/// A function tool as the Responses API takes it (keys in this order: the spec is
/// part of the prompt-cache prefix).
fn function_spec(name: &str, description: &str, properties: Value, required: &[&str]) -> Value {
    json!({
        "type": "function",
        "name": name,
        "description": description,
        "strict": false,
        "parameters": {
            "type": "object",
            "properties": properties,
            "required": required,
            "additionalProperties": false
        }
    })
}

/// Claude Code's `SendMessage` function, built once.
fn send_message_spec() -> &'static RawJson {
    static SPEC: std::sync::OnceLock<RawJson> = std::sync::OnceLock::new();
    SPEC.get_or_init(|| {
        RawJson::from_value(&function_spec(
            SEND_MESSAGE,
            "Send a message to an agent you started with Task, to continue it: it picks up \
             with its whole earlier context (what it read, ran and said) and answers this \
             message; the answer comes back as this call's result. Address the agent by the \
             agentId its Task result gave, or by the name you gave it. It must have finished.",
            json!({
                "to": {"type": "string", "description": "The agent's agentId, or the name given in its Task call"},
                "message": {"type": "string", "description": "What to tell the agent"}
            }),
            &["to", "message"],
        ))
    })
}

/// Claude Code's `TaskOutput` and `TaskStop` functions, built once.
fn background_tool_specs() -> &'static [RawJson; 2] {
    static SPECS: std::sync::OnceLock<[RawJson; 2]> = std::sync::OnceLock::new();
    SPECS.get_or_init(|| {
        let id = json!({"type": "string", "description": "The agent id a background Task call returned"});
        [
            RawJson::from_value(&function_spec(
                BACKGROUND_TOOLS[0],
                "Read the output of a background agent this session started. By default waits for it to finish (at most `timeout` ms, 30000 by default); with block: false, answers at once. You are told automatically when a background agent finishes, so use this only when you need its result now.",
                json!({
                    "task_id": id,
                    "block": {"type": "boolean", "description": "Wait for the agent to finish (default true)"},
                    "timeout": {"type": "number", "description": "Most milliseconds to wait (default 30000)"}
                }),
                &["task_id"],
            )),
            RawJson::from_value(&function_spec(
                BACKGROUND_TOOLS[1],
                "Stop a background agent this session started. Its output so far is kept.",
                json!({"task_id": id}),
                &["task_id"],
            )),
        ]
    })
}

/// Claude Code's `Skill` function: the skills the model may load, by name and
/// description.
pub fn skill_tool_spec(commands: &CommandSet) -> Value {
    let lines: Vec<String> = commands
        .model_skills()
        .map(|s| format!("- {}: {}", s.name, s.display_description()))
        .collect();
    let description = format!(
        "Load a skill into this conversation. A skill is a set of instructions (and files \
         in its folder) for one kind of task; its text comes back as this call's result, \
         and you then follow it. Use one when the task at hand matches its description; \
         load it before you start that work.\n\nAvailable skills:\n{}",
        lines.join("\n")
    );
    function_spec(
        SKILL_NAME,
        &description,
        json!({
            "skill": {"type": "string", "description": "The skill's name, e.g. \"pdf\""},
            "args": {"type": "string", "description": "Optional arguments for the skill"}
        }),
        &["skill"],
    )
}

/// Whether the request already offers a tool of this name, in either dialect.
/// Tools are parsed only when their text mentions the name at all.
pub fn has_tool(req: &ResponsesRequest, name: &str) -> bool {
    let named = |t: &Value| t["name"] == name;
    // A tool named `name` holds the JSON string `"name"`; most hold it nowhere, and
    // are ruled out without reading their heads. (Codex writes ASCII unescaped.)
    let needle = format!("\"{name}\"");
    let quoted = memchr::memmem::Finder::new(&needle);
    let classic = req
        .tools
        .iter()
        .flatten()
        .any(|t| quoted.find(t.bytes()).is_some() && t.head().name.as_deref() == Some(name));
    let lite = req.dialect() == Dialect::Lite
        && req.input[0].contains(name)
        && req.input[0].to_value()["tools"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|t| named(t) || t["tools"].as_array().is_some_and(|ts| ts.iter().any(named)));
    classic || lite
}

/// Adds the tool where the model will look for it. False when the request has
/// nowhere to put it (a lite request without a `functions` namespace).
pub fn inject(req: &mut ResponsesRequest, spec: RawJson) -> bool {
    match req.dialect() {
        Dialect::Classic => {
            let mut tools = req.tools.take().unwrap_or_default();
            tools.push(spec);
            req.set_tools(tools);
            true
        }
        Dialect::Lite => {
            let mut item = req.input[0].to_value();
            let Some(functions) = item["tools"]
                .as_array_mut()
                .and_then(|ts| {
                    ts.iter_mut()
                        .find(|t| t["type"] == "namespace" && t["name"] == "functions")
                })
                .and_then(|ns| ns["tools"].as_array_mut())
            else {
                return false;
            };
            functions.push(spec.to_value());
            req.input[0] = RawJson::from_value(&item);
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::request::fixture;
    use bytes::Bytes;

    fn agents() -> AgentSet {
        AgentSet::from_agents(crate::claude::builtin_agents::builtin_agents())
    }

    /// A new turn in workspace `cwd` with these `tools`, under a command's
    /// `allowed-tools` when `scope` is given.
    fn turn_in(cwd: &std::path::Path, tools: Value, scope: Option<&[&str]>) -> Turn {
        let body = Bytes::from(
            json!({"input": [{"type": "message", "role": "user", "content": [{"type": "input_text",
                "text": format!("<environment_context><cwd>{}</cwd></environment_context>", cwd.display())}]}],
                "tools": tools})
            .to_string(),
        );
        let (mut parts, ()) = http::Request::new(()).into_parts();
        if let Some(entries) = scope {
            let entries: Vec<String> = entries.iter().map(|e| e.to_string()).collect();
            parts
                .extensions
                .insert(crate::turn::slash::allowed_tools::ToolScope::from_claude(
                    &entries,
                ));
        }
        let req = ResponsesRequest::parse(&body).unwrap();
        Turn::new(crate::proxy::upstream::Backend::OpenAi, parts, body, req)
    }

    #[test]
    fn the_spec_lists_agents_in_claude_codes_form() {
        let spec = tool_spec(&agents());
        let desc = spec["description"].as_str().unwrap();
        assert!(desc.contains("- general-purpose: "), "{desc}");
        assert!(desc.contains("(Tools: All tools)"), "{desc}");
        assert!(desc.contains("- Explore: "), "{desc}");
        assert_eq!(
            spec["parameters"]["required"],
            json!(["description", "prompt"])
        );
        assert!(spec["parameters"]["properties"]["subagent_type"].is_object());
    }

    #[test]
    fn classic_requests_get_it_in_the_tools_array() {
        let mut req = fixture("classic-request.json");
        let before = req.tools.as_ref().unwrap().len();
        assert!(!has_tool(&req, "Task"));
        assert!(inject(&mut req, RawJson::from_value(&tool_spec(&agents()))));
        let tools = req.tools.as_ref().unwrap();
        assert_eq!(tools.len(), before + 1);
        assert_eq!(tools.last().unwrap().head().name.as_deref(), Some("Task"));
        assert!(has_tool(&req, "Task"));
        let body: Value = serde_json::from_slice(&req.to_bytes()).unwrap();
        assert_eq!(
            body["tools"].as_array().unwrap().last().unwrap()["name"],
            "Task"
        );
    }

    #[test]
    fn lite_requests_get_it_in_the_functions_namespace() {
        let mut req = fixture("lite-request.json");
        assert!(req.tools.is_none());
        assert!(!has_tool(&req, "Task"));
        assert!(inject(&mut req, RawJson::from_value(&tool_spec(&agents()))));
        assert!(
            req.tools.is_none(),
            "no top-level tools in the lite dialect"
        );
        let item = req.input[0].to_value();
        let functions = item["tools"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == "functions")
            .unwrap();
        assert_eq!(
            functions["tools"].as_array().unwrap().last().unwrap()["name"],
            "Task"
        );
        assert!(has_tool(&req, "Task"));
        // Only the first item changed.
        let original = fixture("lite-request.json");
        assert!(req.input[1..]
            .iter()
            .zip(&original.input[1..])
            .all(|(a, b)| a == b));
    }

    #[tokio::test]
    async fn a_slash_command_without_task_in_its_allowed_tools_gets_no_task_tool() {
        let home = tempfile::tempdir().unwrap();
        let catalogs = Arc::new(ClaudeCatalogs::new(crate::claude::Roots::with_home(
            home.path(),
        )));
        let step = TaskTool::new(catalogs, true, true);
        let turn = |scope: Option<&[&str]>| turn_in(home.path(), json!([]), scope);
        let narrowed = step.apply(turn(Some(&["Read"]))).await.unwrap();
        assert!(!has_tool(narrowed.request(), "Task"));
        let allowed = step.apply(turn(Some(&["Read", "Task"]))).await.unwrap();
        assert!(has_tool(allowed.request(), "Task"));
        let plain = step.apply(turn(None)).await.unwrap();
        assert!(has_tool(plain.request(), "Task"));
    }

    #[tokio::test]
    async fn send_message_comes_with_task_unless_the_request_has_its_own() {
        let home = tempfile::tempdir().unwrap();
        let catalogs = Arc::new(ClaudeCatalogs::new(crate::claude::Roots::with_home(
            home.path(),
        )));
        let step = TaskTool::new(catalogs, true, true);
        let turn = |tools: Value| turn_in(home.path(), tools, None);
        let t = step.apply(turn(json!([]))).await.unwrap();
        assert!(has_tool(t.request(), "Task") && has_tool(t.request(), "SendMessage"));
        assert!(t.answers.tasks && t.answers.send_message);
        let names: Vec<_> = t
            .request()
            .tools
            .iter()
            .flatten()
            .map(|t| t.head().name.clone().unwrap_or_default())
            .collect();
        assert_eq!(names, ["Task", "SendMessage"], "Task first, as before");
        let spec = send_message_spec().to_value();
        assert_eq!(spec["parameters"]["required"], json!(["to", "message"]));

        let own = json!([{"type": "function", "name": "SendMessage", "parameters": {}}]);
        let t = step.apply(turn(own)).await.unwrap();
        assert!(t.answers.tasks && !t.answers.send_message);
        let count = t
            .request()
            .tools
            .iter()
            .flatten()
            .filter(|t| t.head().name.as_deref() == Some("SendMessage"))
            .count();
        assert_eq!(count, 1, "the request's own, nothing added");
    }

    #[tokio::test]
    async fn the_skill_tool_lists_the_skills_the_model_may_load() {
        let home = tempfile::tempdir().unwrap();
        let ws = home.path().join("ws");
        let skill = |name: &str, extra: &str| {
            let dir = ws.join(".claude/skills").join(name);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(
                dir.join("SKILL.md"),
                format!("---\ndescription: About {name}\n{extra}---\nBody\n"),
            )
            .unwrap();
        };
        // Fresh catalogs for each look, so no reload timing is involved.
        let catalogs = || {
            Arc::new(ClaudeCatalogs::new(crate::claude::Roots::with_home(
                home.path().join("home"),
            )))
        };
        let turn = || turn_in(&ws, json!([]), None);
        // No skills: no Skill tool.
        std::fs::create_dir_all(&ws).unwrap();
        let step = TaskTool::new(catalogs(), true, true);
        let t = step.apply(turn()).await.unwrap();
        assert!(!has_tool(t.request(), "Skill") && !t.answers.skills);

        skill("pdf", "");
        skill("deploy", "disable-model-invocation: true\n");
        let step = TaskTool::new(catalogs(), true, true);
        let t = step.apply(turn()).await.unwrap();
        assert!(has_tool(t.request(), "Skill") && t.answers.skills);
        let spec = t
            .request()
            .tools
            .as_ref()
            .unwrap()
            .iter()
            .find(|t| t.head().name.as_deref() == Some("Skill"))
            .unwrap()
            .to_value();
        let description = spec["description"].as_str().unwrap();
        assert!(description.contains("- pdf: About pdf"), "{description}");
        assert!(!description.contains("deploy"), "{description}");
        assert_eq!(spec["parameters"]["required"], json!(["skill"]));

        // Commands off: no Skill tool, and the Task tool still comes.
        let step = TaskTool::new(catalogs(), true, false);
        let t = step.apply(turn()).await.unwrap();
        assert!(!has_tool(t.request(), "Skill") && has_tool(t.request(), "Task"));
    }

    #[test]
    fn a_tool_is_found_by_its_name_only() {
        let with = |tools: Value| {
            let body = json!({"model": "m", "input": [], "tools": tools}).to_string();
            ResponsesRequest::parse(&Bytes::from(body)).unwrap()
        };
        let mentions = json!({"type": "function", "name": "plan",
            "description": "Not \"Task\", nor Task: a plan.", "parameters": {}});
        assert!(!has_tool(&with(json!([mentions])), "Task"));
        let named_late = json!({"parameters": {"title": "Task"}, "type": "function",
            "name": "Task"});
        assert!(has_tool(&with(json!([mentions, named_late])), "Task"));
        let pretty = serde_json::to_string_pretty(&json!({"model": "m", "input": [],
            "tools": [{"type": "function", "name": "Task"}]}))
        .unwrap();
        let req = ResponsesRequest::parse(&Bytes::from(pretty)).unwrap();
        assert!(has_tool(&req, "Task"));
    }

    #[test]
    fn the_spec_is_built_once_per_agent_set() {
        let home = tempfile::tempdir().unwrap();
        let catalogs = Arc::new(ClaudeCatalogs::new(crate::claude::Roots::with_home(
            home.path(),
        )));
        let step = TaskTool::new(catalogs, true, true);
        let set = Arc::new(agents());
        let first = step.spec(set.clone());
        let again = step.spec(set.clone());
        assert_eq!(
            first.bytes().as_ptr(),
            again.bytes().as_ptr(),
            "shared, not rebuilt"
        );
        assert_eq!(first.to_value(), tool_spec(&set));
        // A reload is a new set: its spec says what it holds now.
        let reloaded = Arc::new(AgentSet::from_agents(
            crate::claude::builtin_agents::builtin_agents()
                .into_iter()
                .map(|mut a| {
                    a.description = format!("{} (edited)", a.name);
                    a
                })
                .collect(),
        ));
        let changed = step.spec(reloaded);
        assert!(!first.as_str().contains("- Plan: Plan (edited)"));
        assert!(changed.as_str().contains("- Plan: Plan (edited)"));
    }

    #[test]
    fn a_lite_request_without_a_functions_namespace_is_left_alone() {
        let body = json!({"input": [{"type": "additional_tools", "role": "developer", "tools": [{"type": "namespace", "name": "clock", "tools": []}]}]});
        let mut req = ResponsesRequest::parse(&Bytes::from(body.to_string())).unwrap();
        assert!(!inject(
            &mut req,
            RawJson::from_value(&tool_spec(&agents()))
        ));
    }
}
