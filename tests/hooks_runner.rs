//! Hook commands run for real through `sh`: protocol, timeouts, parallelism, records.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed assumption is a failed test

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use codex_plus::hooks::runner::{run_command, Exit, OutputLimits, RunError};
use codex_plus::hooks::{HookConfig, HookEvent, HookInput, HookRunner, PermissionDecision};
use codex_plus::store::HookRunOutcome;
use serde_json::{json, Value};

/// A runner whose settings are `hooks`, as if read from `<dir>/.claude/settings.json`.
fn runner(dir: &Path, hooks: Value) -> HookRunner {
    let (config, warnings) =
        HookConfig::from_settings(&[(dir.join(".claude/settings.json"), hooks)]);
    assert!(warnings.is_empty(), "{warnings:?}");
    HookRunner::new(config)
}

fn group(matcher: &str, commands: &[&str]) -> Value {
    let hooks: Vec<Value> = commands
        .iter()
        .map(|c| json!({"type": "command", "command": c, "timeout": 10}))
        .collect();
    json!({"matcher": matcher, "hooks": hooks})
}

fn input(event: HookEvent, cwd: &Path) -> Value {
    HookInput::new(event, "sess-9", Path::new("/tmp/t.jsonl"), cwd)
        .with("tool_name", "Bash")
        .with("tool_input", json!({"command": "rm -rf /"}))
        .into_value()
}

async fn run_one(command: &str, timeout: Duration) -> codex_plus::hooks::runner::CommandOutput {
    run_command(
        command,
        bytes::Bytes::from_static(b"{\"x\":1}"),
        Path::new("/"),
        timeout,
        OutputLimits::default(),
    )
    .await
    .expect("sh starts")
}

#[tokio::test]
async fn exit_0_with_json_denies_the_tool_call() {
    let dir = tempfile::tempdir().expect("tempdir");
    let r = runner(
        dir.path(),
        json!({"PreToolUse": [group("Bash", &[
            r#"echo '{"hookSpecificOutput":{"hookEventName":"PreToolUse","permissionDecision":"deny","permissionDecisionReason":"destructive"}}'"#
        ])]}),
    );
    let d = r
        .run(
            HookEvent::PreToolUse,
            input(HookEvent::PreToolUse, dir.path()),
            &["Bash"],
            dir.path(),
        )
        .await;
    assert_eq!(d.permission, Some(PermissionDecision::Deny));
    assert_eq!(d.block.as_deref(), Some("destructive"));
    assert_eq!(d.runs.len(), 1);
    let run = &d.runs[0];
    assert_eq!(
        (run.exit_code, run.outcome, run.timed_out),
        (Some(0), HookRunOutcome::Blocked, false)
    );
    assert_eq!(run.session_id.as_deref(), Some("sess-9"));
    assert_eq!(run.event, "PreToolUse");
    assert_eq!(run.matcher, "Bash");
    assert!(run.stdout_bytes > 50, "{run:?}");
}

#[tokio::test]
async fn exit_2_blocks_with_stderr_as_the_reason() {
    let dir = tempfile::tempdir().expect("tempdir");
    let r = runner(
        dir.path(),
        json!({"Stop": [group("", &["echo 'tests are failing, fix them' >&2; exit 2"])]}),
    );
    let d = r
        .run(
            HookEvent::Stop,
            input(HookEvent::Stop, dir.path()),
            &[],
            dir.path(),
        )
        .await;
    assert_eq!(d.block.as_deref(), Some("tests are failing, fix them"));
    assert_eq!(d.runs[0].exit_code, Some(2));
    assert_eq!(d.runs[0].stderr_excerpt, "tests are failing, fix them\n");
}

#[tokio::test]
async fn exit_1_garbage_and_missing_commands_are_non_blocking_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let r = runner(
        dir.path(),
        json!({"PostToolUse": [group("*", &[
            "echo oops >&2; exit 1",
            "echo '{this is not json'",
            "/no/such/hook.sh",
        ])]}),
    );
    let d = r
        .run(
            HookEvent::PostToolUse,
            input(HookEvent::PostToolUse, dir.path()),
            &["Bash"],
            dir.path(),
        )
        .await;
    assert!(!d.is_blocked(), "{d:?}");
    assert_eq!(d.errors.len(), 3, "{:?}", d.errors);
    assert_eq!(
        d.errors[0],
        "hook `echo oops >&2; exit 1` exited with code 1: oops"
    );
    assert!(
        d.errors[1].starts_with(
            "hook `echo '{this is not json'` printed output that is not valid hook JSON"
        ),
        "{}",
        d.errors[1]
    );
    assert!(
        d.errors[2].starts_with("hook `/no/such/hook.sh` exited with code 127 (command not found)"),
        "{}",
        d.errors[2]
    );
    let outcomes: Vec<_> = d.runs.iter().map(|r| r.outcome).collect();
    assert_eq!(outcomes, [HookRunOutcome::Error; 3]);
}

#[tokio::test]
async fn a_hook_that_cannot_start_is_reported_not_fatal() {
    let missing = PathBuf::from("/definitely/not/a/dir");
    let r = runner(
        Path::new("/p"),
        json!({"SessionEnd": [group("", &["true"])]}),
    );
    let d = r
        .run(
            HookEvent::SessionEnd,
            json!({"session_id": "s"}),
            &[],
            &missing,
        )
        .await;
    assert_eq!(d.errors.len(), 1);
    assert!(
        d.errors[0].starts_with("hook `true` could not start `sh` in /definitely/not/a/dir"),
        "{}",
        d.errors[0]
    );
    assert_eq!(d.runs[0].exit_code, None);
    assert_eq!(d.runs[0].outcome, HookRunOutcome::Error);
    assert_eq!(d.runs[0].stderr_excerpt, d.errors[0]);

    let err = run_command(
        "true",
        bytes::Bytes::new(),
        &missing,
        Duration::from_secs(1),
        OutputLimits::default(),
    )
    .await
    .expect_err("no such directory");
    assert!(matches!(err, RunError::Spawn { .. }));
}

#[tokio::test]
async fn a_timeout_kills_the_process_group_promptly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let marker = dir.path().join("grandchild-survived");
    // The grandchild would create the marker after 2 s if the group were not killed.
    let command = format!("(sleep 2; touch {}) & sleep 30", marker.display());
    let started = Instant::now();
    let out = run_one(&command, Duration::from_secs(1)).await;
    let took = started.elapsed();
    assert_eq!(out.exit, Exit::TimedOut);
    assert!(took >= Duration::from_secs(1), "{took:?}");
    assert!(took < Duration::from_millis(1500), "took {took:?}");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(
        !marker.exists(),
        "the background grandchild outlived the timeout"
    );
}

#[tokio::test]
async fn a_background_child_holding_the_pipes_does_not_hold_up_the_hook() {
    let started = Instant::now();
    let out = run_one("echo done; sleep 10 &", Duration::from_secs(5)).await;
    let took = started.elapsed();
    assert_eq!(out.exit, Exit::Code(0));
    assert_eq!(out.stdout, "done\n");
    assert!(took < Duration::from_secs(1), "took {took:?}");
}

#[tokio::test]
async fn a_timed_out_hook_is_recorded_as_such() {
    let dir = tempfile::tempdir().expect("tempdir");
    let r = runner(
        dir.path(),
        json!({"UserPromptSubmit": [{"hooks": [
            {"type": "command", "command": "sleep 30", "timeout": 0.3}
        ]}]}),
    );
    let started = Instant::now();
    let d = r
        .run(
            HookEvent::UserPromptSubmit,
            input(HookEvent::UserPromptSubmit, dir.path()),
            &[],
            dir.path(),
        )
        .await;
    assert!(started.elapsed() < Duration::from_secs(1));
    assert!(!d.is_blocked());
    assert_eq!(
        d.errors,
        ["hook `sleep 30` timed out after 300ms and was killed"]
    );
    let run = &d.runs[0];
    assert!(run.timed_out);
    assert_eq!(run.exit_code, None);
    assert_eq!(run.outcome, HookRunOutcome::Error);
    assert!(run.duration_ms >= 300, "{run:?}");
}

#[tokio::test]
async fn the_hook_reads_the_event_on_stdin_and_sees_the_project_dir() {
    let dir = tempfile::tempdir().expect("tempdir");
    let r = runner(
        dir.path(),
        json!({"UserPromptSubmit": [group("", &[
            r#"cat > "$CLAUDE_PROJECT_DIR/stdin.json"; pwd > "$CLAUDE_PROJECT_DIR/pwd.txt"; echo "context from $CLAUDE_PROJECT_DIR""#
        ])]}),
    );
    let mut event_input = input(HookEvent::UserPromptSubmit, dir.path());
    event_input["hook_event_name"] = json!("Wrong");
    event_input["prompt"] = json!("hello");
    let d = r
        .run(
            HookEvent::UserPromptSubmit,
            event_input.clone(),
            &[],
            dir.path(),
        )
        .await;
    assert!(d.errors.is_empty(), "{:?}", d.errors);
    let root = dir.path().display().to_string();
    assert_eq!(d.additional_context, Some(format!("context from {root}")));

    let stdin: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("stdin.json")).expect("hook wrote its stdin"),
    )
    .expect("stdin is JSON");
    event_input["hook_event_name"] = json!("UserPromptSubmit");
    assert_eq!(stdin, event_input);
    let pwd = std::fs::read_to_string(dir.path().join("pwd.txt")).expect("pwd");
    let canonical = dir.path().canonicalize().expect("canonical");
    assert_eq!(
        Path::new(pwd.trim()).canonicalize().expect("pwd path"),
        canonical
    );
}

#[tokio::test]
async fn hooks_run_in_parallel_and_their_answers_combine() {
    let dir = tempfile::tempdir().expect("tempdir");
    let r = runner(
        dir.path(),
        json!({"PreToolUse": [
            group("Bash", &[
                r#"sleep 0.6; echo '{"hookSpecificOutput":{"permissionDecision":"allow","updatedInput":{"command":"ls"},"additionalContext":"first"}}'"#,
                r#"sleep 0.6; echo 'no sudo' >&2; exit 2"#,
            ]),
            group("exec_command|shell", &[
                r#"sleep 0.6; echo '{"systemMessage":"checked","hookSpecificOutput":{"additionalContext":"second"}}'"#,
            ]),
            group("Edit", &["echo never-runs >&2; exit 2"]),
        ]}),
    );
    let started = Instant::now();
    let d = r
        .run(
            HookEvent::PreToolUse,
            input(HookEvent::PreToolUse, dir.path()),
            &["Bash", "exec_command"],
            dir.path(),
        )
        .await;
    let took = started.elapsed();
    assert!(
        took < Duration::from_millis(1500),
        "ran one after another: {took:?}"
    );
    assert_eq!(d.runs.len(), 3, "the Edit group does not match");
    assert_eq!(d.permission, Some(PermissionDecision::Deny));
    assert_eq!(d.block.as_deref(), Some("no sudo"));
    assert_eq!(d.updated_input, None);
    assert_eq!(d.additional_context.as_deref(), Some("first\nsecond"));
    assert_eq!(d.system_messages, ["checked"]);
    let matchers: Vec<_> = d.runs.iter().map(|r| r.matcher.as_str()).collect();
    assert_eq!(matchers, ["Bash", "Bash", "exec_command|shell"]);
}

#[tokio::test]
async fn identical_commands_run_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("count");
    let command = format!("echo x >> {}", log.display());
    let sources = [
        (
            dir.path().join("user.json"),
            json!({"Stop": [group("", &[&command])]}),
        ),
        (
            dir.path().join("project.json"),
            json!({"Stop": [group("*", &[&command])]}),
        ),
    ];
    let (config, _) = HookConfig::from_settings(&sources);
    let r = HookRunner::new(config);
    assert!(r.has_hooks(HookEvent::Stop, &[]));
    assert!(!r.has_hooks(HookEvent::SessionStart, &[]));
    let d = r.run(HookEvent::Stop, json!({}), &[], dir.path()).await;
    assert_eq!(d.runs.len(), 1);
    assert_eq!(std::fs::read_to_string(&log).expect("ran"), "x\n");
}

#[tokio::test]
async fn output_past_the_limit_is_counted_but_not_kept() {
    let out = run_command(
        "head -c 100000 /dev/zero | tr '\\0' a; echo oops >&2",
        bytes::Bytes::new(),
        Path::new("/"),
        Duration::from_secs(5),
        OutputLimits {
            stdout: 10,
            stderr: 2,
        },
    )
    .await
    .expect("runs");
    assert_eq!(out.exit, Exit::Code(0));
    assert_eq!(out.stdout, "aaaaaaaaaa");
    assert_eq!(out.stdout_bytes, 100_000);
    assert_eq!(out.stderr, "oo");
}

#[tokio::test]
async fn a_hook_that_ignores_a_large_stdin_still_finishes() {
    let big = bytes::Bytes::from(vec![b' '; 1024 * 1024]);
    let started = Instant::now();
    let out = run_command(
        "exit 0",
        big,
        Path::new("/"),
        Duration::from_secs(5),
        OutputLimits::default(),
    )
    .await
    .expect("runs");
    assert_eq!(out.exit, Exit::Code(0));
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[tokio::test]
async fn a_hook_killed_by_a_signal_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let r = runner(
        dir.path(),
        json!({"Notification": [group("", &["kill -TERM $$"])]}),
    );
    let d = r
        .run(HookEvent::Notification, json!({}), &[], dir.path())
        .await;
    assert_eq!(d.errors, ["hook `kill -TERM $$` was killed by signal 15"]);
    assert_eq!(d.runs[0].exit_code, None);
}

/// An `http` hook: the event JSON is POSTed with its headers (an allowed variable
/// filled in, another left empty), and the answer is read as a command's output. A
/// refused or unreachable hook is a non-blocking error that names it.
#[tokio::test]
async fn an_http_hook_posts_the_event_and_its_answer_decides() {
    use wiremock::matchers::{body_partial_json, header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let server = MockServer::start().await;
    let home = std::env::var("HOME").unwrap_or_default();
    Mock::given(method("POST"))
        .and(path("/hook"))
        .and(header("x-token", format!("tok-{home}").as_str()))
        .and(header("x-other", "v="))
        .and(body_partial_json(json!({"hook_event_name": "PreToolUse", "tool_name": "Bash"})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "hookSpecificOutput": {"hookEventName": "PreToolUse", "permissionDecision": "deny", "permissionDecisionReason": "no rm over http"}
        })))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/broken"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let http = |url: String| {
        json!({"matcher": "Bash", "hooks": [{"type": "http", "url": url, "timeout": 5,
            "headers": {"x-token": "tok-$HOME", "x-other": "v=${PATH}"},
            "allowedEnvVars": ["HOME"]}]})
    };
    let expanded =
        codex_plus::hooks::runner::expand_allowed("a $X b ${Y} c $ d", &["X".to_string()], &|v| {
            Some(format!("<{v}>"))
        });
    assert_eq!(
        expanded, "a <X> b  c $ d",
        "only allowed names are filled in"
    );

    let r = runner(
        dir.path(),
        json!({"PreToolUse": [http(format!("{}/hook", server.uri()))]}),
    );
    let d = r
        .run(
            HookEvent::PreToolUse,
            input(HookEvent::PreToolUse, dir.path()),
            &["Bash"],
            dir.path(),
        )
        .await;
    assert_eq!(d.permission, Some(PermissionDecision::Deny), "{d:?}");
    assert_eq!(d.block.as_deref(), Some("no rm over http"));

    let r = runner(
        dir.path(),
        json!({"PreToolUse": [http(format!("{}/broken", server.uri()))]}),
    );
    let d = r
        .run(
            HookEvent::PreToolUse,
            input(HookEvent::PreToolUse, dir.path()),
            &["Bash"],
            dir.path(),
        )
        .await;
    assert_eq!(d.permission, None);
    assert!(
        d.errors
            .iter()
            .any(|e| e.contains("/broken` answered HTTP 500")),
        "{:?}",
        d.errors
    );

    let r = runner(
        dir.path(),
        json!({"PreToolUse": [http("http://127.0.0.1:9/hook".into())]}),
    );
    let d = r
        .run(
            HookEvent::PreToolUse,
            input(HookEvent::PreToolUse, dir.path()),
            &["Bash"],
            dir.path(),
        )
        .await;
    assert_eq!(d.permission, None, "a closed port blocks nothing");
    assert!(
        d.errors.iter().any(|e| e.contains("could not be reached")),
        "{:?}",
        d.errors
    );
}

/// A judge that answers from a script, or hangs.
struct Scripted(Option<&'static str>);

#[async_trait::async_trait]
impl codex_plus::hooks::judge::Judge for Scripted {
    async fn judge(&self, ask: codex_plus::hooks::judge::JudgeAsk) -> Result<String, String> {
        assert!(
            ask.prompt.contains("\"tool_name\":\"Bash\""),
            "{}",
            ask.prompt
        );
        match self.0 {
            Some(answer) => Ok(answer.to_string()),
            None => std::future::pending().await,
        }
    }
}

fn judged(dir: &Path, judge: Option<Scripted>, timeout: f64) -> HookRunner {
    let (config, _) = HookConfig::from_settings(&[(
        dir.join(".claude/settings.json"),
        json!({"PreToolUse": [{"matcher": "Bash", "hooks": [
            {"type": "prompt", "prompt": "Is this safe? $ARGUMENTS", "timeout": timeout}
        ]}]}),
    )]);
    HookRunner::new(config).with_judge(
        judge
            .map(|j| std::sync::Arc::new(j) as std::sync::Arc<dyn codex_plus::hooks::judge::Judge>),
    )
}

#[tokio::test]
async fn a_prompt_hooks_refusal_denies_and_its_failures_never_block() {
    let dir = tempfile::tempdir().unwrap();
    let run = |r: HookRunner| {
        let input = input(HookEvent::PreToolUse, dir.path());
        let cwd = dir.path().to_path_buf();
        async move { r.run(HookEvent::PreToolUse, input, &["Bash"], &cwd).await }
    };

    let d = run(judged(
        dir.path(),
        Some(Scripted(Some(
            r#"{"ok": false, "reason": "rm -rf / is destructive"}"#,
        ))),
        5.0,
    ))
    .await;
    assert_eq!(d.permission, Some(PermissionDecision::Deny));
    assert_eq!(d.block.as_deref(), Some("rm -rf / is destructive"));

    let d = run(judged(
        dir.path(),
        Some(Scripted(Some(r#"{"ok": true}"#))),
        5.0,
    ))
    .await;
    assert!(!d.is_blocked() && d.errors.is_empty(), "{d:?}");

    // Each failure is a non-blocking error that says what went wrong.
    let started = Instant::now();
    let d = run(judged(dir.path(), Some(Scripted(None)), 0.3)).await;
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(!d.is_blocked());
    assert!(d.errors[0].contains("timed out"), "{:?}", d.errors);
    let d = run(judged(
        dir.path(),
        Some(Scripted(Some("Looks fine to me."))),
        5.0,
    ))
    .await;
    assert!(!d.is_blocked());
    assert!(
        d.errors[0].contains("did not answer with {\"ok\": …} JSON: \"Looks fine to me.\""),
        "{:?}",
        d.errors
    );
    let d = run(judged(dir.path(), None, 5.0)).await;
    assert!(!d.is_blocked());
    assert!(
        d.errors[0].contains("need the proxy's engine"),
        "{:?}",
        d.errors
    );
}
