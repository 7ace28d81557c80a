//! `codex-plus task` and `codex-plus agents` as a user runs them: the built binary,
//! a mock model as the OpenAI upstream, and a temporary home.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed assumption is a failed test

mod engine_mock;

use std::path::{Path, PathBuf};
use std::process::Output;

use engine_mock::*;
use serde_json::{json, Value};

struct Env {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    ws: PathBuf,
}

fn env() -> Env {
    let tmp = tempfile::tempdir().unwrap();
    let root = std::fs::canonicalize(tmp.path()).unwrap();
    let ws = root.join("ws");
    std::fs::create_dir_all(ws.join(".claude/agents")).unwrap();
    std::fs::create_dir_all(root.join("home")).unwrap();
    std::fs::write(
        ws.join(".claude/agents/reader.md"),
        "---\nname: reader\ndescription: Reads files\ntools: Read\n---\nYou read files.\n",
    )
    .unwrap();
    std::fs::write(ws.join("notes.txt"), "hello\n").unwrap();
    Env {
        _tmp: tmp,
        root,
        ws,
    }
}

async fn run(env: &Env, upstream: &str, args: &[&str]) -> Output {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_codex-plus"));
    command
        .args(args)
        .current_dir(&env.ws)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", env.root.join("home"))
        .env("CODEX_PLUS_HOME", env.root.join("state"))
        .env("CODEX_PLUS_OPENAI_UPSTREAM", upstream)
        .stdin(std::process::Stdio::null());
    tokio::task::spawn_blocking(move || command.output().expect("runs"))
        .await
        .unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn script(seen: &Seen) -> Step {
    if seen.prompt().contains("break") {
        return Step::now(Reply::Status(
            400,
            r#"{"error":{"message":"model not found","type":"invalid_request_error"}}"#.into(),
        ));
    }
    match seen.turn() {
        0 => Step::now(call("c1", "Read", json!({"file_path": "notes.txt"}))),
        _ => Step::now(text("The notes say hello.")),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_task_prints_progress_then_its_result() {
    let mock = MockModel::start(script).await;
    let env = env();
    let out = run(
        &env,
        &mock.url,
        &[
            "task",
            "reader",
            "What do the notes say?",
            "--description",
            "Read the notes",
        ],
    )
    .await;
    let text = stdout(&out);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "⏺ Task(reader): Read the notes");
    assert_eq!(lines[1], "  ⎿ Read(notes.txt)");
    assert!(lines[2].starts_with("  ⎿ Done · 1 tool use · "), "{text}");
    // Two model calls of 10 + 5 tokens, answered by the session's own model.
    assert!(
        lines[2].ends_with("s · 30 tokens · inherit:gpt-5.5"),
        "{text}"
    );
    assert_eq!(&lines[3..], ["", "The notes say hello."]);
    assert!(env.root.join("state/ledger.db").exists());
    let sent = &mock.requests()[0];
    assert_eq!(sent.uri, "/v1/responses");
    assert_eq!(sent.model(), "gpt-5.5");
    assert!(sent
        .system()
        .contains(&format!("Working directory: {}", env.ws.display())));
}

#[tokio::test(flavor = "multi_thread")]
async fn json_prints_only_the_result() {
    let mock = MockModel::start(script).await;
    let env = env();
    let out = run(
        &env,
        &mock.url,
        &["task", "reader", "notes?", "--json", "--model", "gpt-5"],
    )
    .await;
    assert!(out.status.success());
    let value: Value = serde_json::from_slice(&out.stdout).expect("only JSON on stdout");
    assert_eq!(value["status"], "completed");
    assert_eq!(value["output"], "The notes say hello.");
    assert_eq!(value["tool_uses"], 1);
    assert_eq!(
        mock.requests()[0].model(),
        "gpt-5",
        "--model wins over the agent's"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn several_tasks_run_in_parallel_and_a_failure_shows_the_provider_report() {
    let mock = MockModel::start(script).await;
    let env = env();
    let out = run(
        &env,
        &mock.url,
        &[
            "task",
            "--task",
            "reader=read the notes",
            "--task",
            "Explore=break it",
        ],
    )
    .await;
    let text = stdout(&out);
    assert!(!out.status.success(), "a failed task fails the command");
    assert!(
        text.contains("[reader] ⏺ Task(reader): read the notes\n"),
        "{text}"
    );
    assert!(text.contains("[reader]   ⎿ Read(notes.txt)\n"), "{text}");
    assert!(
        text.contains("[Explore]   ⎿ Failed: no model provider could answer (1 candidate)\n"),
        "{text}"
    );
    assert!(
        text.contains("── ⏺ Task(reader): read the notes ──\nThe notes say hello.\n"),
        "{text}"
    );
    let report = text
        .split("── ⏺ Task(Explore): break it ──\n")
        .nth(1)
        .unwrap_or("");
    assert!(report.starts_with("Error: no model provider could answer (1 candidate)\nCause: inherit, gpt-5.5: HTTP 400"), "{text}");
    assert!(
        report.contains("\nSuggestion: ") && report.contains("\nFallback: tried inherit:gpt-5.5"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_agent_is_refused_before_anything_runs() {
    let mock = MockModel::start(script).await;
    let env = env();
    let out = run(&env, &mock.url, &["task", "raeder", "hi"]).await;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "unknown agent `raeder`; available agents: Explore, general-purpose, Plan, reader"
        ),
        "{err}"
    );
    assert_eq!(mock.count(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_sandbox_flag_takes_codexs_modes_only() {
    let mock = MockModel::start(script).await;
    let env = env();
    let out = run(
        &env,
        &mock.url,
        &["task", "reader", "hi", "--sandbox", "full"],
    )
    .await;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("unknown sandbox mode `full`; use one of read-only, workspace-write, danger-full-access"),
        "{err}"
    );
    assert_eq!(mock.count(), 0);
    // read-only: the general-purpose agent is offered no writing tools.
    let args = [
        "task",
        "general-purpose",
        "notes?",
        "--json",
        "--sandbox",
        "read-only",
    ];
    let out = run(&env, &mock.url, &args).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tools = mock.requests()[0].tools();
    assert!(tools.contains(&"Read".to_string()), "{tools:?}");
    assert!(!tools.contains(&"Bash".to_string()), "{tools:?}");
    // The default, workspace-write, offers Bash (under the OS sandbox).
    let out = run(
        &env,
        &mock.url,
        &["task", "general-purpose", "notes?", "--json"],
    )
    .await;
    assert!(out.status.success());
    let tools = mock.requests().last().unwrap().tools();
    assert!(tools.contains(&"Bash".to_string()), "{tools:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn agents_list_and_validate() {
    let env = env();
    let out = run(&env, "http://127.0.0.1:9", &["agents", "list"]).await;
    assert!(out.status.success());
    let text = stdout(&out);
    assert!(
        text.lines()
            .any(|l| l.starts_with("reader ") && l.contains("project")),
        "{text}"
    );
    let out = run(
        &env,
        "http://127.0.0.1:9",
        &["agents", "list", "--json", "--cwd", "."],
    )
    .await;
    let value: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(value["agents"][3]["name"], "reader");

    let out = run(&env, "http://127.0.0.1:9", &["agents", "validate"]).await;
    assert!(out.status.success(), "{}", stdout(&out));
    let broken: &Path = &env.ws.join(".claude/agents/broken.md");
    std::fs::write(
        broken,
        "---\nname: broken\ndescription: x\ntools: Serch\n---\nx\n",
    )
    .unwrap();
    let out = run(
        &env,
        "http://127.0.0.1:9",
        &["agents", "validate", ".claude/agents/broken.md"],
    )
    .await;
    assert!(!out.status.success());
    assert!(
        stdout(&out).contains("Invalid tool specified: 'Serch'"),
        "{}",
        stdout(&out)
    );
}

#[tokio::test]
async fn goal_plans_runs_and_prints_the_combined_answer() {
    let mock = MockModel::start(|seen| {
        let prompt = seen.prompt();
        if prompt.contains("Split this goal into subtasks") {
            return Step::now(text(
                &json!({"subtasks": [
                    {"id": "read", "description": "Read notes", "prompt": "Please read notes.txt.", "subagent_type": "reader", "depends_on": [], "priority": 0}
                ]})
                .to_string(),
            ));
        }
        if prompt.contains("Write the final answer to the goal") {
            return Step::now(text("The goal is done: the notes say hello."));
        }
        Step::now(text("notes.txt says hello"))
    })
    .await;
    let env = env();
    let out = run(&env, &mock.url, &["goal", "summarise the notes"]).await;
    assert!(
        out.status.success(),
        "{:?} {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout(&out), "The goal is done: the notes say hello.\n");
    let progress = String::from_utf8_lossy(&out.stderr);
    assert!(
        progress.contains("⏺ Planned 1 subtask\n") && progress.contains("⎿ read: completed"),
        "{progress}"
    );

    let out = run(&env, &mock.url, &["goal", "--json", "summarise the notes"]).await;
    let goal: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(goal["status"], "completed");
    assert!(goal["graph_json"].as_str().unwrap().contains("\"read\""));
}

#[tokio::test]
async fn status_without_a_proxy_says_how_to_start_one() {
    let env = env();
    // Port 9 (discard) on loopback: nothing listens there.
    let out = run(
        &env,
        "http://127.0.0.1:9",
        &["--listen", "127.0.0.1:9", "status"],
    )
    .await;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "no codex-plus proxy is running at http://127.0.0.1:9/status (nothing answers there)"
        ),
        "{err}"
    );
    assert!(err.contains("./proxy.sh enable"), "{err}");
}

mod support;

/// `codex-plus tasks` against a running proxy: list, show with the transcript, tail a
/// running task to its end, and cancel (refused for one that ended).
#[tokio::test]
async fn tasks_list_show_tail_and_cancel_through_the_running_proxy() {
    let mock = MockModel::start(|seen| {
        if seen.prompt().contains("slowly") {
            return Step::after(std::time::Duration::from_millis(800), text("slow done"));
        }
        match seen.turn() {
            0 => Step::now(call("c1", "Read", json!({"file_path": "notes.txt"}))),
            _ => Step::now(text("The notes say hello.")),
        }
    })
    .await;
    let env = env();
    let proxy = support::proxy(&mock.url, &env.root.join("state")).await;
    let addr = proxy.addr.to_string();
    let http = reqwest::Client::new();
    let post = |body: Value| {
        http.post(format!("http://{addr}/api/tasks"))
            .json(&body)
            .send()
    };
    let done: Value =
        post(json!({"subagent_type": "reader", "prompt": "read the notes", "cwd": env.ws}))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    let id = done["id"].as_str().unwrap().to_string();
    let cli = |args: Vec<String>| {
        let mut all = vec!["--listen".to_string(), addr.clone()];
        all.extend(args);
        let env = &env;
        async move {
            let args: Vec<&str> = all.iter().map(String::as_str).collect();
            run(env, "http://127.0.0.1:9", &args).await
        }
    };
    let listed = cli(vec!["tasks".into(), "list".into()]).await;
    assert!(
        listed.status.success(),
        "{}",
        String::from_utf8_lossy(&listed.stderr)
    );
    assert!(stdout(&listed).contains(&id), "{}", stdout(&listed));

    let shown = cli(vec!["tasks".into(), "show".into(), id.clone()]).await;
    let text = stdout(&shown);
    assert!(
        text.contains("⏺ Task(reader)") && text.contains("assistant calls Read("),
        "{text}"
    );
    assert!(text.contains("hello"), "{text}");

    let refused = cli(vec!["tasks".into(), "cancel".into(), id.clone()]).await;
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("has already ended"));

    let running: Value = post(
        json!({"subagent_type": "reader", "prompt": "read slowly", "cwd": env.ws, "wait": false}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let tailed = cli(vec![
        "tasks".into(),
        "tail".into(),
        running["id"].as_str().unwrap().into(),
    ])
    .await;
    assert!(
        tailed.status.success(),
        "{}",
        String::from_utf8_lossy(&tailed.stderr)
    );
    assert!(
        stdout(&tailed)
            .trim_end()
            .ends_with("⎿ completed · 0 tool uses"),
        "{}",
        stdout(&tailed)
    );
    proxy.stop().await;
}

/// `codex-plus doctor` on a healthy setup (a running proxy, the real Codex CLI, Codex's
/// config from `codex-config`, a key) finds nothing; with the proxy gone it says so.
#[tokio::test]
async fn doctor_finds_nothing_wrong_with_a_healthy_setup_and_names_a_stopped_proxy() {
    let mock = MockModel::start(|_| Step::now(text("ok"))).await;
    let env = env();
    let proxy = support::proxy(&mock.url, &env.root.join("state")).await;
    let codex_home = env.root.join("codex-home");
    std::fs::create_dir_all(&codex_home).unwrap();
    std::fs::write(
        codex_home.join("config.toml"),
        codex_plus::cli::codex_config::render(
            Some(codex_plus::cli::codex_config::Mode::Api),
            proxy.addr,
            &env.root.join("ca.pem"),
        ),
    )
    .unwrap();
    let doctor = |addr: String| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_codex-plus"));
        command
            .args(["--listen", &addr, "doctor", "--cwd"])
            .arg(&env.ws)
            .current_dir(&env.ws)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", env.root.join("home"))
            .env("CODEX_PLUS_HOME", env.root.join("state"))
            .env("CODEX_HOME", &codex_home)
            .env("CODEX_BIN", support::codex::binary())
            .env("OPENAI_API_KEY", "sk-test");
        // Off the runtime's thread: the proxy in this process must go on answering.
        tokio::task::spawn_blocking(move || command.output().unwrap())
    };
    let out = doctor(proxy.addr.to_string()).await.unwrap();
    let text = stdout(&out);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("✓ running at"), "{text}");
    assert!(text.contains("✓ installed: codex-cli"), "{text}");
    assert!(
        text.contains("points Codex at codex-plus in API-key mode"),
        "{text}"
    );
    assert!(
        text.contains("agents: Explore, general-purpose, Plan, reader"),
        "{text}"
    );
    assert!(text.ends_with("No problems found.\n"), "{text}");
    let addr = proxy.addr.to_string();
    proxy.stop().await;

    let out = doctor(addr).await.unwrap();
    assert!(!out.status.success());
    let text = stdout(&out);
    assert!(text.contains("✗ no proxy answers at"), "{text}");
    assert!(text.contains("./proxy.sh enable"), "{text}");
}
