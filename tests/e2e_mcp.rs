//! An MCP tool in a Task's subagent, end to end with the real Codex CLI: Codex's model
//! calls Task, the proxy runs the subagent, whose model calls `mcp__demo__echo` on
//! the workspace's `.mcp.json` server (rmcp, streamable HTTP, in this process); the
//! tool's result reaches the subagent's next request, and the subagent's answer
//! reaches Codex.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed assumption is a failed test

mod mcp_demo;
mod support;

use serde_json::{json, Value};
use support::codex::Codex;
use support::mock::*;

const AGENT: &str = "---\nname: mcp-user\ndescription: Uses the demo MCP server\ntools: Read, mcp__demo__echo\n---\nYou are the MCP test agent.\n";

fn is_subagent(req: &Recorded) -> bool {
    req.text().contains("You are the MCP test agent")
}

fn output_of(req: &Recorded, call_id: &str) -> Option<String> {
    req.input()
        .iter()
        .find(|i| i["type"] == "function_call_output" && i["call_id"] == call_id)
        .map(|i| i["output"].as_str().unwrap_or_default().to_string())
}

fn tools(req: &Recorded) -> Vec<String> {
    let mut names: Vec<String> = req.json()["tools"]
        .as_array()
        .map(|t| {
            t.iter()
                .filter_map(|t| t["name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[tokio::test]
async fn a_tasks_subagent_calls_an_mcp_tool() {
    support::init_logs();
    let url = mcp_demo::serve_http(None).await;
    let mock = MockUpstream::start(|req, _| {
        if is_subagent(req) {
            return match output_of(req, "call_mcp_1") {
                None => Reply::sse(&[
                    ev_created("resp_sub_1"),
                    ev_function_call(
                        "call_mcp_1",
                        "mcp__demo__echo",
                        &json!({"text": "from the subagent"}),
                    ),
                    ev_completed("resp_sub_1"),
                ]),
                Some(out) => Reply::sse(&answer("resp_sub_2", &format!("SUB SAW: {out}"))),
            };
        }
        if let Some(out) = output_of(req, "call_task_1") {
            let text = if out.contains("SUB SAW: echo: from the subagent") {
                "The MCP tool answered."
            } else {
                "no answer"
            };
            return Reply::sse(&answer("resp_2", text));
        }
        Reply::sse(&[
            ev_created("resp_1"),
            ev_function_call(
                "call_task_1",
                "Task",
                &json!({"description": "Use MCP", "prompt": "Echo something", "subagent_type": "mcp-user"}),
            ),
            ev_completed("resp_1"),
        ])
    })
    .await;
    let home = tempfile::tempdir().unwrap();
    let proxy = support::proxy(&mock.url(), home.path()).await;
    let codex = Codex::api_mode(proxy.addr);
    let dir = codex.workspace().join(".claude/agents");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("mcp-user.md"), AGENT).unwrap();
    std::fs::write(
        codex.workspace().join(".mcp.json"),
        json!({"mcpServers": {"demo": {"type": "http", "url": url}}}).to_string(),
    )
    .unwrap();

    let run = codex.exec("use the MCP agent", &[]).await;

    assert!(run.turn_completed(), "{}", run.dump());
    assert_eq!(
        run.last_message().as_deref(),
        Some("The MCP tool answered."),
        "{}",
        run.dump()
    );
    let reqs = mock.responses_requests();
    let subs: Vec<&Recorded> = reqs.iter().filter(|r| is_subagent(r)).collect();
    assert_eq!(subs.len(), 2, "two subagent turns");
    assert_eq!(tools(subs[0]), ["Read", "mcp__demo__echo"]);
    assert_eq!(
        output_of(subs[1], "call_mcp_1").as_deref(),
        Some("echo: from the subagent")
    );
    // Codex never sees the MCP call: it is the subagent's.
    let main: Vec<Value> = reqs
        .iter()
        .filter(|r| !is_subagent(r))
        .flat_map(|r| r.input())
        .collect();
    assert!(!main.iter().any(|i| i["name"] == "mcp__demo__echo"));
    proxy.stop().await;
}
