//! Slash commands and the status line with the real Codex CLI (`codex exec`) through a
//! proxy running those steps, against a mock upstream.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed assumption is a failed test

mod support;

use std::path::Path;

use serde_json::{json, Value};
use support::codex::Codex;
use support::mock::*;

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// The text of a message item's first text part.
fn text(item: &Value) -> &str {
    item["content"][0]["text"].as_str().unwrap_or_default()
}

fn user_texts(req: &Recorded) -> Vec<String> {
    req.input()
        .iter()
        .filter(|i| i["type"] == "message" && i["role"] == "user")
        .map(|i| text(i).to_string())
        .collect()
}

fn tool_names(req: &Recorded) -> Vec<String> {
    req.json()["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| {
            t["name"]
                .as_str()
                .or(t["type"].as_str())
                .unwrap_or_default()
                .to_string()
        })
        .collect()
}

const GREET: &str =
    "---\ndescription: Greet someone\nargument-hint: NAME\n---\nGreet $ARGUMENTS warmly; the shell says !`echo shell-ran`.\n";

#[tokio::test]
async fn a_slash_command_reaches_the_upstream_expanded() {
    support::init_logs();
    let mock = MockUpstream::replying(answer("resp_1", "greeted")).await;
    let (state, user) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let proxy = support::stack::proxy(&mock.url(), state.path(), user.path(), |c| {
        c.status_line.enabled = false
    })
    .await;
    let codex = Codex::api_mode(proxy.addr);
    write(&codex.workspace().join(".claude/commands/greet.md"), GREET);

    let run = codex.exec("/greet Bob", &[]).await;

    assert!(run.turn_completed(), "{}", run.dump());
    assert_eq!(run.last_message().as_deref(), Some("greeted"));
    let reqs = mock.responses_requests();
    assert_eq!(reqs.len(), 1);
    let texts = user_texts(&reqs[0]);
    assert_eq!(
        texts.last().map(String::as_str),
        Some("Greet Bob warmly; the shell says shell-ran."),
        "{texts:?}"
    );
    assert!(
        !reqs[0].text().contains("/greet Bob"),
        "the typed command is replaced"
    );
}

#[tokio::test]
async fn a_claude_skill_is_a_slash_command() {
    support::init_logs();
    let mock = MockUpstream::replying(answer("resp_1", "noted")).await;
    let (state, user) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let proxy = support::stack::proxy(&mock.url(), state.path(), user.path(), |c| {
        c.status_line.enabled = false
    })
    .await;
    let codex = Codex::api_mode(proxy.addr);
    let skill = codex.workspace().join(".claude/skills/release-notes");
    write(
        &skill.join("SKILL.md"),
        "---\nname: notes\ndescription: Write release notes\n---\nWrite notes for $ARGUMENTS from template.md.\n",
    );
    // A skill the user may not invoke stays as typed.
    write(
        &codex.workspace().join(".claude/skills/style/SKILL.md"),
        "---\ndescription: House style\nuser-invocable: false\n---\nShort sentences.\n",
    );

    let run = codex.exec("/notes v2.1", &[]).await;

    assert!(run.turn_completed(), "{}", run.dump());
    let reqs = mock.responses_requests();
    assert_eq!(reqs.len(), 1);
    let texts = user_texts(&reqs[0]);
    let expected = format!(
        "Base directory for this skill: {}\n\nWrite notes for v2.1 from template.md.",
        skill.display()
    );
    assert_eq!(texts.last(), Some(&expected), "{texts:?}");

    let run = codex.exec("/style now", &[]).await;
    assert!(run.turn_completed(), "{}", run.dump());
    let reqs = mock.responses_requests();
    let texts = user_texts(&reqs[1]);
    assert_eq!(
        texts.last().map(String::as_str),
        Some("/style now"),
        "{texts:?}"
    );
}

#[tokio::test]
async fn a_synced_skill_mention_reaches_the_upstream_expanded() {
    support::init_logs();
    let mock = MockUpstream::replying(answer("resp_1", "greeted")).await;
    let (state, user) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let proxy = support::stack::proxy(&mock.url(), state.path(), user.path(), |c| {
        c.status_line.enabled = false
    })
    .await;
    let codex = Codex::api_mode(proxy.addr);
    write(&codex.workspace().join(".claude/commands/greet.md"), GREET);
    let roots = codex_plus::claude::Roots::with_home(user.path());
    let report =
        codex_plus::cli::commands::sync(codex.workspace(), &roots, codex.home.path()).unwrap();
    assert_eq!(report.created, ["greet"]);

    let run = codex.exec("$greet Bob", &[]).await;

    assert!(run.turn_completed(), "{}", run.dump());
    let reqs = mock.responses_requests();
    let texts = user_texts(&reqs[0]);
    let n = texts.len();
    assert_eq!(texts[n - 2], "$greet Bob", "the typed message stays");
    let skill = &texts[n - 1];
    assert!(
        skill.starts_with("<skill>\n<name>greet</name>\n<path>"),
        "{skill}"
    );
    assert!(
        skill.ends_with("\nGreet Bob warmly; the shell says shell-ran.\n</skill>"),
        "Codex's skill item carries the expansion: {skill}"
    );
    assert!(
        !reqs[0].text().contains("codex-plus:command"),
        "the marker is gone"
    );
}

#[tokio::test]
async fn a_commands_model_and_tools_hold_across_its_tool_calls() {
    support::init_logs();
    let mock = MockUpstream::start(|_, n| match n {
        0 => Reply::sse(&[
            ev_created("resp_1"),
            ev_function_call(
                "call_1",
                "exec_command",
                &json!({"cmd": "echo looked-around"}),
            ),
            ev_completed("resp_1"),
        ]),
        _ => Reply::sse(&answer("resp_2", "done looking")),
    })
    .await;
    let (state, user) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let proxy = support::stack::proxy(&mock.url(), state.path(), user.path(), |c| {
        c.status_line.enabled = false
    })
    .await;
    let codex = Codex::api_mode(proxy.addr);
    write(
        &codex.workspace().join(".claude/commands/look.md"),
        "---\nmodel: gpt-5.5-mini\nallowed-tools: Bash(echo:*)\n---\nLook around: $ARGUMENTS\n",
    );

    let run = codex.exec("/look here", &["-m", "gpt-5.5"]).await;

    assert!(run.turn_completed(), "{}", run.dump());
    assert_eq!(run.last_message().as_deref(), Some("done looking"));
    let reqs = mock.responses_requests();
    assert_eq!(
        reqs.len(),
        2,
        "the command, then the follow-up after the tool call"
    );
    for (i, req) in reqs.iter().enumerate() {
        assert_eq!(req.json()["model"], "gpt-5.5-mini", "request {i}");
        let tools = tool_names(req);
        assert!(
            tools.contains(&"exec_command".to_string()),
            "request {i}: {tools:?}"
        );
        assert!(
            !tools.contains(&"apply_patch".to_string()),
            "request {i}: {tools:?}"
        );
        assert!(
            user_texts(req).iter().any(|t| t == "Look around: here"),
            "request {i} keeps the expansion"
        );
    }
    assert!(reqs[1].text().contains("looked-around"), "the tool ran");
}

#[tokio::test]
async fn the_status_line_command_output_ends_the_request() {
    support::init_logs();
    let mock = MockUpstream::replying(answer("resp_1", "ok")).await;
    let (state, user) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let proxy = support::stack::proxy(&mock.url(), state.path(), user.path(), |_| {}).await;
    let codex = Codex::api_mode(proxy.addr);
    // Prints the session id it read from its stdin JSON.
    let command = r#"sed -n 's/.*"session_id":"\([^"]*\)".*/session \1/p'"#;
    write(
        &codex.workspace().join(".claude/settings.json"),
        &json!({"statusLine": {"type": "command", "command": command}}).to_string(),
    );

    let run = codex.exec("hello", &[]).await;

    assert!(run.turn_completed(), "{}", run.dump());
    let req = &mock.responses_requests()[0];
    let session = req
        .header("session-id")
        .expect("Codex sends its session id");
    let input = req.input();
    let last = input.last().unwrap();
    assert_eq!(last["role"], "developer");
    assert_eq!(
        text(last),
        format!("<status_line>\nsession {session}\n</status_line>")
    );
    assert_eq!(
        text(&input[input.len() - 2]),
        "hello",
        "right after the prompt"
    );
}

#[tokio::test]
async fn the_built_in_status_line_shows_the_git_state() {
    support::init_logs();
    let mock = MockUpstream::replying(answer("resp_1", "ok")).await;
    let (state, user) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let proxy = support::stack::proxy(&mock.url(), state.path(), user.path(), |c| {
        // Wait for the first git probe, so the test does not race it.
        c.status_line.first_wait_ms = 10_000;
    })
    .await;
    let codex = Codex::api_mode(proxy.addr);
    let ws = codex.workspace();
    let git = |args: &[&str]| {
        let out = std::process::Command::new("git")
            .args([
                "-c",
                "user.name=t",
                "-c",
                "user.email=t@example.com",
                "-c",
                "init.defaultBranch=main",
            ])
            .args(args)
            .current_dir(ws)
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}");
    };
    git(&["init", "-q"]);
    write(&ws.join("README.md"), "hi\n");
    git(&["add", "README.md"]);
    git(&["commit", "-q", "-m", "first"]);
    write(&ws.join("notes.txt"), "untracked\n");

    let run = codex.exec("hello", &[]).await;

    assert!(run.turn_completed(), "{}", run.dump());
    let input = mock.responses_requests()[0].input();
    let name = ws.file_name().unwrap().to_string_lossy();
    assert_eq!(
        text(input.last().unwrap()),
        format!("<status_line>\n{name} | branch main | 1 untracked\n</status_line>")
    );
}
