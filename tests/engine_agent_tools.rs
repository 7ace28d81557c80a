//! Tool patterns in an agent file's `tools` (`Bash(git diff:*)`), enforced on the
//! subagent's calls through the engine: matching calls run, others are refused with
//! an error result naming the allowed patterns.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed assumption is a failed test

mod engine_mock;

use std::process::Command;

use codex_plus::engine::access::SandboxMode;
use engine_mock::*;
use serde_json::json;

fn git(dir: &std::path::Path, args: &[&str]) {
    let status = Command::new("git")
        .args(args)
        .current_dir(dir)
        .status()
        .expect("git runs");
    assert!(status.success(), "git {args:?}");
}

#[tokio::test]
async fn a_bash_pattern_limits_the_subagent_to_matching_commands() {
    let mock = MockModel::start(|seen| match seen.turn() {
        0 => Step::now(calls(
            None,
            &[
                ("c_diff", "Bash", json!({"command": "git diff"})),
                ("c_rm", "Bash", json!({"command": "rm -rf x"})),
                ("c_chain", "Bash", json!({"command": "git diff && rm x"})),
                ("c_read", "Read", json!({"file_path": "x"})),
            ],
        )),
        _ => Step::now(text("done")),
    })
    .await;
    let h = Harness::new(&mock.url, |_| {});
    h.agent(
        "differ",
        "tools: Read, Bash(git diff:*)\n",
        "You look at diffs.",
    );
    git(&h.ws, &["init", "-q"]);
    std::fs::write(h.ws.join("x"), "keep me\n").unwrap();
    git(&h.ws, &["add", "x"]);
    std::fs::write(h.ws.join("x"), "keep me\nchanged line\n").unwrap();
    let mut req = h.request("differ", "Show the diff");
    // Unconfined, so only the agent's pattern can stop `rm`.
    req.workspace.sandbox = SandboxMode::DangerFullAccess;

    let result = h.engine.task(req).await;

    assert_eq!(result.output, "done", "{:?}", result.error);
    let first = mock.request(0).unwrap();
    let mut offered = first.tools();
    offered.sort();
    assert_eq!(offered, ["Bash", "Read"]);
    let outputs = mock.request(1).unwrap().outputs();
    let output = |id: &str| outputs.iter().find(|(c, _)| c == id).unwrap().1.clone();
    let diff = output("c_diff");
    assert!(diff.contains("+changed line"), "git diff ran: {diff}");
    let rm = output("c_rm");
    assert!(
        rm.contains("the Bash command `rm -rf x` is not allowed")
            && rm.contains("Bash(git diff:*)"),
        "{rm}"
    );
    let chain = output("c_chain");
    assert!(
        chain.contains("`rm x` in the Bash command `git diff && rm x`")
            && chain.contains("Bash(git diff:*)"),
        "{chain}"
    );
    assert!(output("c_read").contains("changed line"));
    assert_eq!(
        std::fs::read_to_string(h.ws.join("x")).unwrap(),
        "keep me\nchanged line\n",
        "the file survives"
    );
    assert_eq!(result.tool_uses, 4);
}

#[tokio::test]
async fn a_malformed_pattern_gives_the_subagent_no_bash() {
    let mock = MockModel::start(|seen| match seen.turn() {
        0 => Step::now(call("c_rm", "Bash", json!({"command": "rm -f x"}))),
        _ => Step::now(text("done")),
    })
    .await;
    let h = Harness::new(&mock.url, |_| {});
    h.agent("broken", "tools: Read, Bash(\n", "You look at diffs.");
    std::fs::write(h.ws.join("x"), "keep me\n").unwrap();
    let mut req = h.request("broken", "Remove x");
    req.workspace.sandbox = SandboxMode::DangerFullAccess;

    let result = h.engine.task(req).await;

    assert_eq!(result.output, "done", "{:?}", result.error);
    assert_eq!(mock.request(0).unwrap().tools(), ["Read"]);
    let outputs = mock.request(1).unwrap().outputs();
    assert!(
        outputs[0]
            .1
            .contains("Bash is not one of this agent's tools"),
        "{outputs:?}"
    );
    assert!(h.ws.join("x").exists());
}
