//! MCP servers for subagents, through the engine and the mock model: an rmcp stdio
//! server (this test binary itself, run with `MCP_DEMO_SERVER=stdio`) and an rmcp
//! streamable-HTTP server in process.
//!
//! Its own `main` (harness = false): the binary must be able to be the server, and the
//! tests read the proxy's log lines, which needs one process-wide subscriber.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed assumption is a failed test

mod engine_mock;
mod mcp_demo;

use std::future::Future;
use std::io::Write;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use codex_plus::engine::access::SandboxMode;
use engine_mock::*;
use mcp_demo::{serve_http, serve_stdio, DOT};
use serde_json::{json, Value};

// ---------------------------------------------------------------- helpers

/// Formatted log lines of the whole process.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    fn take(&self) -> String {
        String::from_utf8_lossy(&std::mem::take(&mut *self.0.lock().unwrap())).into_owned()
    }
}

/// `.mcp.json` naming this binary as the stdio server `name`, with `env`.
fn stdio_server(h: &Harness, name: &str, env: Value) {
    let exe = std::env::current_exe().unwrap();
    let mut env = env;
    env["MCP_DEMO_SERVER"] = json!("stdio");
    write_mcp_json(
        h,
        json!({"mcpServers": {name: {"command": exe.display().to_string(), "env": env}}}),
    );
}

fn write_mcp_json(h: &Harness, value: Value) {
    std::fs::write(h.ws.join(".mcp.json"), value.to_string()).unwrap();
}

fn alive(pid: u32) -> bool {
    // A zombie is dead for our purposes.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| !s.contains(") Z "))
        .unwrap_or(false)
}

fn output_of(seen: &Seen, id: &str) -> String {
    seen.outputs()
        .into_iter()
        .find(|(c, _)| c == id)
        .map(|(_, o)| o)
        .unwrap_or_else(|| panic!("no output for {id} in {:?}", seen.outputs()))
}

fn full_access(h: &Harness, agent: &str, prompt: &str) -> codex_plus::engine::TaskRequest {
    let mut req = h.request(agent, prompt);
    req.workspace.sandbox = SandboxMode::DangerFullAccess;
    req
}

// ---------------------------------------------------------------- the tests

async fn an_agent_calls_an_mcp_tool_and_the_result_reaches_its_next_request(_logs: Logs) {
    let mock = MockModel::start(|seen| match seen.turn() {
        0 => Step::now(call("c1", "mcp__demo__echo", json!({"text": "hi there"}))),
        _ => Step::now(text("done")),
    })
    .await;
    let h = Harness::new(&mock.url, |_| {});
    stdio_server(&h, "demo", json!({}));
    h.agent("caller", "tools: mcp__demo__echo\n", "You call tools.");

    let result = h.engine.task(full_access(&h, "caller", "Echo")).await;

    assert_eq!(result.output, "done", "{:?}", result.error);
    assert_eq!(mock.request(0).unwrap().tools(), ["mcp__demo__echo"]);
    assert_eq!(output_of(&mock.request(1).unwrap(), "c1"), "echo: hi there");
    // One server for the workspace, still running for the next subagent.
    let running = h.engine.mcp().running();
    assert_eq!(running.len(), 1, "{running:?}");
    let pid = running[0].1.unwrap();
    assert!(alive(pid));
    let again = h.engine.task(full_access(&h, "caller", "Echo again")).await;
    assert_eq!(again.output, "done");
    assert_eq!(
        h.engine.mcp().running(),
        running,
        "the same process served both"
    );
    h.engine.mcp().shutdown().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!alive(pid), "stopped at shutdown");
}

async fn a_stdio_server_gets_its_env_but_not_the_proxys_keys(_logs: Logs) {
    // The proxy's own environment holds provider keys; a server must not see them.
    std::env::set_var("DEMO_PROVIDER_API_KEY", "sk-not-for-servers");
    let mock = MockModel::start(|seen| match seen.turn() {
        0 => Step::now(calls(
            None,
            &[
                (
                    "c1",
                    "mcp__demo__getenv",
                    json!({"name": "DEMO_PROVIDER_API_KEY"}),
                ),
                ("c2", "mcp__demo__getenv", json!({"name": "OWN"})),
                ("c3", "mcp__demo__getenv", json!({"name": "PATH"})),
            ],
        )),
        _ => Step::now(text("done")),
    })
    .await;
    let h = Harness::new(&mock.url, |_| {});
    stdio_server(
        &h,
        "demo",
        json!({"OWN": "${DEMO_PROVIDER_API_KEY:-x}-own"}),
    );
    h.agent("env", "tools: mcp__demo__getenv\n", "x");

    let r = h.engine.task(full_access(&h, "env", "go")).await;

    assert_eq!(r.output, "done", "{:?}", r.error);
    let next = mock.request(1).unwrap();
    assert_eq!(output_of(&next, "c1"), "(unset)");
    // What the configuration passes on purpose, it gets.
    assert_eq!(output_of(&next, "c2"), "sk-not-for-servers-own");
    assert_eq!(output_of(&next, "c3"), std::env::var("PATH").unwrap());
    h.engine.mcp().shutdown().await;
}

async fn tools_name_whole_servers_and_no_tools_field_inherits_every_mcp_tool(_logs: Logs) {
    let mock = MockModel::start(|_| Step::now(text("ok"))).await;
    let h = Harness::new(&mock.url, |_| {});
    stdio_server(&h, "demo", json!({}));
    h.agent("whole", "tools: Read, mcp__demo\n", "x");
    h.agent("everything", "", "x");
    h.agent("none", "tools: Read\n", "x");
    h.agent("but", "disallowedTools: mcp__demo__touch\n", "x");

    for agent in ["whole", "everything", "none", "but"] {
        let r = h.engine.task(full_access(&h, agent, "go")).await;
        assert_eq!(r.output, "ok", "{agent}: {:?}", r.error);
    }

    let mcp = |i: usize| -> Vec<String> {
        let mut t: Vec<String> = mock
            .request(i)
            .unwrap()
            .tools()
            .into_iter()
            .filter(|t| t.starts_with("mcp__"))
            .collect();
        t.sort();
        t
    };
    let all = [
        "mcp__demo__crash",
        "mcp__demo__echo",
        "mcp__demo__getenv",
        "mcp__demo__picture",
        "mcp__demo__pid",
        "mcp__demo__touch",
    ];
    assert_eq!(mcp(0), all);
    assert!(mock
        .request(0)
        .unwrap()
        .tools()
        .contains(&"Read".to_string()));
    assert_eq!(mcp(1), all);
    assert!(mcp(2).is_empty());
    assert_eq!(
        mcp(3),
        [
            "mcp__demo__crash",
            "mcp__demo__echo",
            "mcp__demo__getenv",
            "mcp__demo__picture",
            "mcp__demo__pid"
        ]
    );
    h.engine.mcp().shutdown().await;
}

async fn a_read_only_session_gets_only_read_only_mcp_tools(_logs: Logs) {
    let mock = MockModel::start(|seen| match seen.turn() {
        0 => Step::now(call("c1", "mcp__demo__touch", json!({}))),
        _ => Step::now(text("done")),
    })
    .await;
    let h = Harness::new(&mock.url, |_| {});
    stdio_server(&h, "demo", json!({}));
    h.agent("looker", "", "x");
    let mut req = h.request("looker", "go");
    req.workspace.sandbox = SandboxMode::ReadOnly;

    let r = h.engine.task(req).await;

    assert_eq!(r.output, "done", "{:?}", r.error);
    let mut offered: Vec<String> = mock
        .request(0)
        .unwrap()
        .tools()
        .into_iter()
        .filter(|t| t.starts_with("mcp__"))
        .collect();
    offered.sort();
    assert_eq!(
        offered,
        [
            "mcp__demo__echo",
            "mcp__demo__getenv",
            "mcp__demo__picture",
            "mcp__demo__pid"
        ]
    );
    let out = output_of(&mock.request(1).unwrap(), "c1");
    assert!(out.contains("No tool named \"mcp__demo__touch\""), "{out}");
    h.engine.mcp().shutdown().await;
}

async fn images_follow_the_tool_results(_logs: Logs) {
    let mock = MockModel::start(|seen| match seen.turn() {
        0 => Step::now(call("c1", "mcp__demo__picture", json!({}))),
        _ => Step::now(text("done")),
    })
    .await;
    let h = Harness::new(&mock.url, |_| {});
    stdio_server(&h, "demo", json!({}));
    h.agent("painter", "tools: mcp__demo__picture\n", "x");

    let r = h.engine.task(full_access(&h, "painter", "draw")).await;

    assert_eq!(r.output, "done", "{:?}", r.error);
    let next = mock.request(1).unwrap();
    assert_eq!(
        output_of(&next, "c1"),
        "a dot\n[image 1 (image/png) attached after the tool results]"
    );
    let input = next.body["input"].as_array().unwrap().clone();
    let at = input
        .iter()
        .position(|i| i["type"] == "function_call_output")
        .unwrap();
    let image = &input[at + 1];
    assert_eq!(image["role"], "user");
    assert_eq!(image["content"][0]["type"], "input_image");
    assert_eq!(
        image["content"][0]["image_url"],
        format!("data:image/png;base64,{DOT}")
    );
    h.engine.mcp().shutdown().await;
}

async fn a_server_that_crashes_mid_call_gives_an_error_result_and_is_restarted(_logs: Logs) {
    let mock = MockModel::start(|seen| match seen.turn() {
        0 => Step::now(call("c1", "mcp__demo__pid", json!({}))),
        1 => Step::now(call("c2", "mcp__demo__crash", json!({}))),
        2 => Step::now(call("c3", "mcp__demo__pid", json!({}))),
        _ => Step::now(text("done")),
    })
    .await;
    let h = Harness::new(&mock.url, |_| {});
    stdio_server(&h, "demo", json!({}));
    h.agent("crasher", "tools: mcp__demo\n", "x");

    let r = h.engine.task(full_access(&h, "crasher", "go")).await;

    assert_eq!(r.output, "done", "{:?}", r.error);
    let last = mock.request(3).unwrap();
    let first_pid = output_of(&last, "c1");
    let crash = output_of(&last, "c2");
    assert!(
        crash.starts_with("Error: the MCP server `demo` stopped during the call (Transport closed); it is started again on the next call"),
        "{crash}"
    );
    assert!(crash.contains("demo server: crashing as asked"), "{crash}");
    let second_pid = output_of(&last, "c3");
    assert!(second_pid.parse::<u32>().is_ok(), "{second_pid}");
    assert_ne!(first_pid, second_pid, "a new process after the crash");
    let errors: Vec<bool> = last.body["input"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["type"] == "function_call_output")
        .map(|i| i["output"].as_str().unwrap().starts_with("Error"))
        .collect();
    assert_eq!(
        errors,
        [false, true, false],
        "only the crashed call is an error"
    );
    h.engine.mcp().shutdown().await;
}

async fn a_server_that_never_starts_is_reported_once_and_the_agent_runs(logs: Logs) {
    let mock = MockModel::start(|_| Step::now(text("fine without it"))).await;
    let h = Harness::new(&mock.url, |_| {});
    stdio_server(&h, "broken", json!({"DEMO_FAIL_START": "1"}));
    h.agent("hopeful", "tools: Read, mcp__broken__echo\n", "x");
    logs.take();

    for _ in 0..2 {
        let r = h.engine.task(full_access(&h, "hopeful", "go")).await;
        assert_eq!(r.output, "fine without it", "{:?}", r.error);
    }

    assert_eq!(mock.request(0).unwrap().tools(), ["Read"]);
    let text = logs.take();
    let warns: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("WARN") && l.contains("did not start"))
        .collect();
    assert_eq!(warns.len(), 1, "{text}");
    assert!(warns[0].contains("MCP server `broken`"), "{}", warns[0]);
    assert!(
        text.contains("demo server: cannot open the demo database"),
        "the stderr tail: {text}"
    );
}

async fn bad_configuration_is_named_and_the_agent_still_runs(logs: Logs) {
    let mock = MockModel::start(|_| Step::now(text("ok"))).await;
    let h = Harness::new(&mock.url, |_| {});
    h.agent("lister", "tools: Read, mcp__nowhere__x\n", "x");
    std::fs::write(
        h.ws.join(".mcp.json"),
        "{\n  \"mcpServers\": {\n    \"a\": {\"command\": \"x\",}\n  }\n}",
    )
    .unwrap();
    logs.take();

    let r = h.engine.task(full_access(&h, "lister", "go")).await;
    assert_eq!(r.output, "ok", "{:?}", r.error);
    let text = logs.take();
    assert!(
        text.contains(&format!(
            "{}:3:26: not valid JSON: trailing comma",
            h.ws.join(".mcp.json").display()
        )),
        "{text}"
    );
    assert!(
        text.contains(
            "its tools list `mcp__nowhere__x`, but no MCP server `nowhere` is configured"
        ),
        "{text}"
    );

    write_mcp_json(
        &h,
        json!({"mcpServers": {"old": {"type": "sse", "url": "http://127.0.0.1:1/sse"}}}),
    );
    let r = h.engine.task(full_access(&h, "lister", "go")).await;
    assert_eq!(r.output, "ok", "{:?}", r.error);
    let text = logs.take();
    assert!(
        text.contains("MCP server `old`: transport `sse` is not supported"),
        "{text}"
    );
}

async fn a_tool_schema_providers_reject_is_dropped_with_a_message(logs: Logs) {
    let mock = MockModel::start(|_| Step::now(text("ok"))).await;
    let h = Harness::new(&mock.url, |_| {});
    stdio_server(&h, "demo", json!({}));
    h.agent("all", "", "x");
    logs.take();

    let r = h.engine.task(full_access(&h, "all", "go")).await;

    assert_eq!(r.output, "ok", "{:?}", r.error);
    assert!(!mock
        .request(0)
        .unwrap()
        .tools()
        .contains(&"mcp__demo__badschema".to_string()));
    let text = logs.take();
    assert!(
        text.contains("MCP server `demo`: tool `badschema` is not offered to subagents: its input schema is not an object schema"),
        "{text}"
    );
    h.engine.mcp().shutdown().await;
}

async fn idle_servers_are_stopped(_logs: Logs) {
    let mock = MockModel::start(|_| Step::now(text("ok"))).await;
    let h = Harness::new(&mock.url, |c| c.tasks.mcp_idle_timeout_secs = 1);
    stdio_server(&h, "demo", json!({}));
    h.agent("a", "tools: mcp__demo\n", "x");

    h.engine.task(full_access(&h, "a", "go")).await;
    let running = h.engine.mcp().running();
    assert_eq!(running.len(), 1);
    let pid = running[0].1.unwrap();
    assert!(alive(pid));
    tokio::time::sleep(Duration::from_millis(1800)).await;

    assert!(h.engine.mcp().running().is_empty());
    assert!(!alive(pid), "the idle server's process ended");
    // And it comes back on use.
    h.engine.task(full_access(&h, "a", "go")).await;
    assert_eq!(h.engine.mcp().running().len(), 1);
    h.engine.mcp().shutdown().await;
}

async fn a_streamable_http_server_with_headers_from_the_environment(_logs: Logs) {
    let url = serve_http(Some("Bearer t0ken")).await;
    let mock = MockModel::start(|seen| match seen.turn() {
        0 => Step::now(call(
            "c1",
            "mcp__remote__echo",
            json!({"text": "over http"}),
        )),
        _ => Step::now(text("done")),
    })
    .await;
    let h = Harness::new(&mock.url, |_| {});
    // Read when the subagent starts; tests run one at a time.
    std::env::set_var("DEMO_MCP_TOKEN", "t0ken");
    write_mcp_json(
        &h,
        json!({"mcpServers": {"remote": {"type": "http", "url": url, "headers": {"Authorization": "Bearer ${DEMO_MCP_TOKEN}"}}}}),
    );
    h.agent("remote", "tools: mcp__remote__echo\n", "x");

    let r = h.engine.task(full_access(&h, "remote", "go")).await;

    assert_eq!(r.output, "done", "{:?}", r.error);
    assert_eq!(mock.request(0).unwrap().tools(), ["mcp__remote__echo"]);
    assert_eq!(
        output_of(&mock.request(1).unwrap(), "c1"),
        "echo: over http"
    );
    h.engine.mcp().shutdown().await;
}

// ---------------------------------------------------------------- the runner

type Test = fn(Logs) -> Pin<Box<dyn Future<Output = ()> + Send>>;

macro_rules! tests {
    ($($name:ident),* $(,)?) => {
        vec![$((stringify!($name), (|logs| Box::pin($name(logs))) as Test)),*]
    };
}

fn main() {
    if std::env::var("MCP_DEMO_SERVER").as_deref() == Ok("stdio") {
        serve_stdio();
        return;
    }
    let logs = Logs::default();
    let writer = logs.clone();
    tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_max_level(tracing::Level::INFO)
        .with_ansi(false)
        .init();
    let tests: Vec<(&str, Test)> = tests![
        an_agent_calls_an_mcp_tool_and_the_result_reaches_its_next_request,
        tools_name_whole_servers_and_no_tools_field_inherits_every_mcp_tool,
        a_stdio_server_gets_its_env_but_not_the_proxys_keys,
        a_read_only_session_gets_only_read_only_mcp_tools,
        images_follow_the_tool_results,
        a_server_that_crashes_mid_call_gives_an_error_result_and_is_restarted,
        a_server_that_never_starts_is_reported_once_and_the_agent_runs,
        bad_configuration_is_named_and_the_agent_still_runs,
        a_tool_schema_providers_reject_is_dropped_with_a_message,
        idle_servers_are_stopped,
        a_streamable_http_server_with_headers_from_the_environment,
    ];
    // `cargo test --test engine_mcp -- NAME` runs the tests whose name has NAME.
    let filter: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let mut failed = Vec::new();
    let mut ran = 0;
    for (name, test) in tests {
        if filter.as_deref().is_some_and(|f| !name.contains(f)) {
            continue;
        }
        ran += 1;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let outcome = rt.block_on(async { tokio::spawn(test(logs.clone())).await });
        rt.shutdown_timeout(Duration::from_secs(2));
        match outcome {
            Ok(()) => println!("test {name} ... ok"),
            Err(e) => {
                println!("test {name} ... FAILED");
                failed.push((name, e));
            }
        }
    }
    println!("\n{} passed; {} failed", ran - failed.len(), failed.len());
    if !failed.is_empty() {
        for (name, e) in &failed {
            println!("failed: {name}: {e}");
        }
        std::process::exit(1);
    }
}
