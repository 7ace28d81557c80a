//! Offers the model Claude Code's `Task` tool, listing the agents of the turn's
//! workspace, in whichever dialect the request uses: the top-level `tools` array
//! (classic) or the `functions` namespace of the `additional_tools` item (lite).
//!
//! A turn that got the tool is marked so the interceptor withholds its calls. A
//! request that already has a tool named `Task` is left alone: its owner answers it.

use std::sync::{Arc, Mutex, PoisonError};

use axum::response::Response;
use serde_json::{json, Value};

pub mod history;
pub mod resolver;

use crate::claude::{AgentSet, ClaudeCatalogs};
use crate::turn::pipeline::Step;
use crate::turn::Turn;
use crate::wire::request::{Dialect, RawJson, ResponsesRequest};

pub struct TaskTool {
    catalogs: Arc<ClaudeCatalogs>,
    /// `[tasks] enabled`; a workspace's `.codexplus/settings.json` may turn it off.
    enabled: bool,
    /// The serialised spec of the agent sets seen last: building it cost more than
    /// the rest of the request's pipeline, and it only changes with the agents.
    specs: Mutex<Vec<(Arc<AgentSet>, RawJson)>>,
}

/// Workspaces whose spec is kept; more are rebuilt on use.
const SPEC_CACHE: usize = 8;

impl TaskTool {
    pub fn new(catalogs: Arc<ClaudeCatalogs>, enabled: bool) -> TaskTool {
        TaskTool {
            catalogs,
            enabled,
            specs: Mutex::new(Vec::new()),
        }
    }

    /// The spec for this agent set, built once per set (a reload makes a new set).
    fn spec(&self, agents: Arc<AgentSet>) -> RawJson {
        let mut specs = self.specs.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((_, spec)) = specs.iter().find(|(a, _)| Arc::ptr_eq(a, &agents)) {
            return spec.clone();
        }
        let spec = RawJson::from_value(&tool_spec(&agents));
        if specs.len() == SPEC_CACHE {
            specs.remove(0);
        }
        specs.push((agents, spec.clone()));
        spec
    }
}

impl Step for TaskTool {
    fn concern(&self) -> crate::turn::kind::Concern {
        crate::turn::kind::Concern::TaskTool
    }

    async fn apply(&self, mut turn: Turn) -> Result<Turn, Response> {
        if !self.enabled {
            return Ok(turn);
        }
        let Some(env) = turn.env.clone() else {
            // No workspace, no agents to offer.
            return Ok(turn);
        };
        let settings = self.catalogs.settings.get(&env.cwd);
        if settings.codexplus.task_tool == Some(false)
            || has_tool(turn.request(), "Task")
            || !super::slash::allows_tool(&turn, "Task")
        {
            return Ok(turn);
        }
        let spec = self.spec(self.catalogs.agents.get(&env.cwd));
        if inject(turn.request_mut(), spec) {
            turn.intercept_tasks = true;
        }
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
    json!({
        "type": "function",
        "name": "Task",
        "description": description,
        "strict": false,
        "parameters": {
            "type": "object",
            "properties": {
                "description": {"type": "string", "description": "A short (3-5 word) description of the task"},
                "prompt": {"type": "string", "description": "The task for the subagent to perform"},
                "subagent_type": {"type": "string", "description": "The type of specialized agent to use for this task"},
                "model": {"type": "string", "description": "Optional model for this subagent (e.g. sonnet, opus, haiku, or a full model id); by default the agent's own"}
            },
            "required": ["description", "prompt"],
            "additionalProperties": false
        }
    })
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
        let step = TaskTool::new(catalogs, true);
        let body = Bytes::from(
            json!({"input": [{"type": "message", "role": "user", "content": [{"type": "input_text",
                "text": format!("<environment_context><cwd>{}</cwd></environment_context>", home.path().display())}]}],
                "tools": []})
            .to_string(),
        );
        let turn =
            |scope: Option<&[&str]>| {
                let (mut parts, ()) = http::Request::new(()).into_parts();
                if let Some(entries) = scope {
                    let entries: Vec<String> = entries.iter().map(|e| e.to_string()).collect();
                    parts.extensions.insert(
                        crate::turn::slash::allowed_tools::ToolScope::from_claude(&entries),
                    );
                }
                let req = ResponsesRequest::parse(&body).unwrap();
                Turn::new(
                    crate::proxy::upstream::Backend::OpenAi,
                    parts,
                    body.clone(),
                    req,
                )
            };
        let narrowed = step.apply(turn(Some(&["Read"]))).await.unwrap();
        assert!(!has_tool(narrowed.request(), "Task"));
        let allowed = step.apply(turn(Some(&["Read", "Task"]))).await.unwrap();
        assert!(has_tool(allowed.request(), "Task"));
        let plain = step.apply(turn(None)).await.unwrap();
        assert!(has_tool(plain.request(), "Task"));
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
        let step = TaskTool::new(catalogs, true);
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
