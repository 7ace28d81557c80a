//! The subagent tools end to end: access check, tool, and the outcome the model sees.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed assumption is a failed test

mod support;

use std::fs;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use codex_plus::engine::access::{
    AccessPolicy, PermissionRules, RuleKind, RuleOrigin, SandboxMode,
};
use codex_plus::engine::tools::sandbox;
use codex_plus::engine::tools::{all_tools, run_tool_call, ToolContext, ToolOutcome};
use serde_json::{json, Value};

struct Workspace {
    _dir: tempfile::TempDir,
    _outside: tempfile::TempDir,
    root: PathBuf,
    outside: PathBuf,
}

fn workspace() -> Workspace {
    let dir = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let root = fs::canonicalize(dir.path()).unwrap();
    let outside_path = fs::canonicalize(outside.path()).unwrap();
    fs::write(outside_path.join("secret.txt"), "top secret\n").unwrap();
    Workspace {
        _dir: dir,
        _outside: outside,
        root,
        outside: outside_path,
    }
}

impl Workspace {
    fn ctx(&self) -> ToolContext {
        self.ctx_with(&[], SandboxMode::WorkspaceWrite)
    }

    fn ctx_with(&self, deny: &[&str], sandbox: SandboxMode) -> ToolContext {
        let mut rules = PermissionRules::with_home(None);
        let origin = RuleOrigin {
            file: self.root.join(".claude/settings.json"),
            base_dir: self.root.clone(),
        };
        rules.add_all(RuleKind::Deny, deny.iter(), &origin);
        let names: Vec<String> = all_tools().iter().map(|t| t.name().to_string()).collect();
        let policy = AccessPolicy::new(&names, rules, sandbox, vec![self.root.clone()]);
        ToolContext::new(self.root.clone(), Arc::new(policy), reqwest::Client::new())
    }

    fn path(&self, rel: &str) -> String {
        self.root.join(rel).display().to_string()
    }
}

async fn call(ctx: &ToolContext, name: &str, input: Value) -> ToolOutcome {
    run_tool_call(&all_tools(), name, input, ctx).await
}

fn assert_error(outcome: &ToolOutcome, needle: &str) {
    assert!(outcome.is_error(), "expected an error, got {outcome:?}");
    assert!(
        outcome.output.contains(needle),
        "expected {needle:?} in {:?}",
        outcome.output
    );
}

#[tokio::test]
async fn traversal_is_refused_by_every_file_tool() {
    let ws = workspace();
    let ctx = ws.ctx();
    std::os::unix::fs::symlink(&ws.outside, ws.root.join("escape")).unwrap();
    let secret = ws.outside.join("secret.txt").display().to_string();
    let attempts = [
        ("Read", json!({"file_path": "../../../../../../etc/passwd"})),
        ("Read", json!({"file_path": secret})),
        ("Read", json!({"file_path": ws.path("escape/secret.txt")})),
        (
            "Write",
            json!({"file_path": ws.path("escape/new.txt"), "content": "x"}),
        ),
        (
            "Write",
            json!({"file_path": ws.path("missing/../escape/new.txt"), "content": "x"}),
        ),
        (
            "Edit",
            json!({"file_path": ws.path("escape/secret.txt"), "old_string": "top", "new_string": "no"}),
        ),
        (
            "Grep",
            json!({"pattern": "secret", "path": ws.path("escape")}),
        ),
        ("Glob", json!({"pattern": "*", "path": ws.outside})),
    ];
    for (tool, input) in attempts {
        let out = call(&ctx, tool, input.clone()).await;
        assert_error(&out, "outside the workspace roots");
        assert!(
            out.output.contains(&ws.root.display().to_string()),
            "{tool} {input}: {}",
            out.output
        );
    }
    assert!(!ws.outside.join("new.txt").exists());
    assert_eq!(
        fs::read_to_string(ws.outside.join("secret.txt")).unwrap(),
        "top secret\n"
    );
}

#[tokio::test]
async fn write_read_edit_round_trip() {
    let ws = workspace();
    let ctx = ws.ctx();
    let file = ws.path("deep/dir/notes.txt");
    let out = call(
        &ctx,
        "Write",
        json!({"file_path": file, "content": "alpha\nbeta\nalpha\n"}),
    )
    .await;
    assert!(
        !out.is_error() && out.output.starts_with("Created"),
        "{out:?}"
    );

    let out = call(&ctx, "Read", json!({"file_path": file})).await;
    assert_eq!(out.output, "     1\talpha\n     2\tbeta\n     3\talpha");

    let out = call(
        &ctx,
        "Edit",
        json!({"file_path": file, "old_string": "alpha", "new_string": "gamma"}),
    )
    .await;
    assert_error(&out, "occurs 2 times");
    let out = call(
        &ctx,
        "Edit",
        json!({"file_path": file, "old_string": "beta", "new_string": "beta"}),
    )
    .await;
    assert_error(&out, "identical");
    let out = call(&ctx, "Edit", json!({"file_path": file, "old_string": "alpha", "new_string": "gamma", "replace_all": true})).await;
    assert!(
        !out.is_error() && out.output.contains("replaced 2 occurrences"),
        "{out:?}"
    );
    assert_eq!(
        fs::read_to_string(ws.root.join("deep/dir/notes.txt")).unwrap(),
        "gamma\nbeta\ngamma\n"
    );

    let out = call(
        &ctx,
        "Edit",
        json!({"file_path": ws.path("nope.txt"), "old_string": "a", "new_string": "b"}),
    )
    .await;
    assert_error(&out, "File does not exist");
    let out = call(&ctx, "Read", json!({"file_path": ws.path("nope.txt")})).await;
    assert_error(&out, "File does not exist");
}

#[tokio::test]
async fn edit_keeps_crlf_on_disk() {
    let ws = workspace();
    let ctx = ws.ctx();
    fs::write(ws.root.join("win.txt"), "one\r\ntwo\r\nthree\r\n").unwrap();
    let out = call(
        &ctx,
        "Edit",
        json!({"file_path": ws.path("win.txt"), "old_string": "one\ntwo", "new_string": "one\n1.5\ntwo"}),
    )
    .await;
    assert!(!out.is_error(), "{out:?}");
    assert_eq!(
        fs::read(ws.root.join("win.txt")).unwrap(),
        b"one\r\n1.5\r\ntwo\r\nthree\r\n"
    );
}

#[tokio::test]
async fn read_refuses_binary_and_huge_files() {
    let ws = workspace();
    let mut ctx = ws.ctx();
    ctx.limits.read_max_bytes = 1000;
    fs::write(ws.root.join("img.png"), [0x89, b'P', b'N', b'G', 0, 0, 1]).unwrap();
    fs::write(ws.root.join("big.log"), "line\n".repeat(1000)).unwrap();
    assert_error(
        &call(&ctx, "Read", json!({"file_path": ws.path("img.png")})).await,
        "binary file",
    );
    assert_error(
        &call(&ctx, "Read", json!({"file_path": ws.path("big.log")})).await,
        "offset and limit",
    );
    let part = call(
        &ctx,
        "Read",
        json!({"file_path": ws.path("big.log"), "offset": 500, "limit": 2}),
    )
    .await;
    assert!(
        part.output.starts_with("   500\tline\n   501\tline"),
        "{part:?}"
    );
}

#[tokio::test]
async fn bash_runs_in_the_workspace_with_timeout_and_exit_codes() {
    let ws = workspace();
    let ctx = ws.ctx();
    let out = call(
        &ctx,
        "Bash",
        json!({"command": "pwd", "description": "where"}),
    )
    .await;
    assert_eq!(out.output, ws.root.display().to_string());
    let out = call(&ctx, "Bash", json!({"command": "echo oops >&2; exit 7"})).await;
    assert_error(&out, "oops\n\nExit code 7");

    let start = Instant::now();
    let out = call(&ctx, "Bash", json!({"command": "sleep 20", "timeout": 300})).await;
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    assert_error(&out, "timed out after 300 ms");
}

#[tokio::test]
async fn bash_writes_only_inside_the_workspace_roots() {
    let ws = workspace();
    // Not under /tmp, which workspace-write may write to.
    let outside = support::outside_temp_dirs();
    let target = outside.path().join("escaped.txt");
    let escape = json!({"command": format!("echo x > '{}'", target.display())});
    let out = call(&ws.ctx(), "Bash", escape.clone()).await;
    match sandbox::support() {
        Ok(_) => {
            assert_error(&out, "Permission denied");
            let inside = json!({"command": "echo in > inside.txt && cat inside.txt"});
            assert_eq!(call(&ws.ctx(), "Bash", inside).await.output, "in");
        }
        Err(why) => {
            assert_error(&out, &why.to_string());
            assert_error(&out, "danger-full-access");
        }
    }
    assert!(!target.exists());
    // danger-full-access: unconfined, so the same command writes there.
    let free = ws.ctx_with(&[], SandboxMode::DangerFullAccess);
    let out = call(&free, "Bash", escape).await;
    assert!(!out.is_error(), "{out:?}");
    assert_eq!(fs::read_to_string(&target).unwrap(), "x\n");
}

#[tokio::test]
async fn bash_output_is_capped() {
    let ws = workspace();
    let mut ctx = ws.ctx();
    ctx.limits.output_cap = 1000;
    let out = call(&ctx, "Bash", json!({"command": "seq 1 50000"})).await;
    assert!(!out.is_error());
    assert!(
        out.output.starts_with("1\n2\n") && out.output.ends_with("50000"),
        "{}",
        out.output.len()
    );
    assert!(out.output.contains("truncated"));
    assert!(out.output.len() < 1300);
}

#[tokio::test]
async fn refusals_come_back_as_error_results() {
    let ws = workspace();
    let ctx = ws.ctx_with(&["Bash(rm:*)", "Read(./.env)"], SandboxMode::WorkspaceWrite);
    fs::write(ws.root.join(".env"), "KEY=1\n").unwrap();
    fs::write(ws.root.join("keep"), "x").unwrap();
    let out = call(&ctx, "Bash", json!({"command": "ls && rm keep"})).await;
    assert_error(&out, "deny rule `Bash(rm:*)`");
    assert!(ws.root.join("keep").exists());
    assert_error(
        &call(&ctx, "Read", json!({"file_path": ".env"})).await,
        "Read(./.env)",
    );
    // Grep over the whole workspace skips the denied file instead of failing.
    let out = call(&ctx, "Grep", json!({"pattern": "KEY"})).await;
    assert_eq!(out.output, "No files found");

    let ro = ws.ctx_with(&[], SandboxMode::ReadOnly);
    assert_error(
        &call(&ro, "Write", json!({"file_path": "a", "content": ""})).await,
        "read-only",
    );
    assert!(!ws.root.join("a").exists());

    assert_error(
        &call(&ctx, "Frobnicate", json!({})).await,
        "No tool named \"Frobnicate\"",
    );
    assert_error(&call(&ctx, "Read", json!({"path": "x"})).await, "file_path");
}

#[tokio::test]
async fn todo_write_stores_the_list() {
    let ws = workspace();
    let ctx = ws.ctx();
    let todos = json!([
        {"content": "Write tests", "status": "completed", "activeForm": "Writing tests"},
        {"content": "Fix bug", "status": "in_progress", "activeForm": "Fixing bug"}
    ]);
    let out = call(&ctx, "TodoWrite", json!({"todos": todos})).await;
    assert!(!out.is_error(), "{out:?}");
    assert_eq!(
        ctx.todos.lock().unwrap().as_slice(),
        todos.as_array().unwrap().as_slice()
    );
    let bad = call(
        &ctx,
        "TodoWrite",
        json!({"todos": [{"content": "x", "status": "done", "activeForm": "y"}]}),
    )
    .await;
    assert_error(&bad, "status must be one of");
    // A rejected list leaves the stored one alone.
    assert_eq!(ctx.todos.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn glob_and_grep_through_the_dispatcher() {
    let ws = workspace();
    let ctx = ws.ctx();
    fs::create_dir_all(ws.root.join("src")).unwrap();
    fs::write(ws.root.join("src/a.rs"), "fn alpha() {}\n").unwrap();
    fs::write(ws.root.join("src/b.py"), "def alpha(): pass\n").unwrap();
    let out = call(&ctx, "Glob", json!({"pattern": "**/*.rs"})).await;
    assert_eq!(out.output, ws.path("src/a.rs"));
    let out = call(
        &ctx,
        "Grep",
        json!({"pattern": "alpha", "type": "py", "output_mode": "content"}),
    )
    .await;
    assert_eq!(
        out.output,
        format!("{}:1:def alpha(): pass", ws.path("src/b.py"))
    );
}

#[tokio::test]
async fn webfetch_refuses_other_schemes_before_any_request() {
    let ws = workspace();
    let ctx = ws.ctx();
    let out = call(
        &ctx,
        "WebFetch",
        json!({"url": "file:///etc/passwd", "prompt": "p"}),
    )
    .await;
    assert_error(&out, "only http and https");
}
