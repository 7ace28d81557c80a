//! A slash command from the REAL interactive Codex TUI, driven under tmux.
//!
//! The TUI refuses an unknown `/name` itself, so commands reach it as skills written
//! by `codex-plus commands sync`: the user types `$greet Bob`, Codex sends that message
//! plus the skill's marked text, and the proxy puts the expanded command in its place.
//! This test types exactly that and checks the upstream got the expansion and the
//! answer reached the screen. It needs tmux (`apt-get install -y tmux`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed assumption is a failed test

mod support;

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use support::codex::{self, Codex};
use support::mock::*;

const ANSWER: &str = "MOCK-TUI-ANSWER-42";

/// A tmux server of our own (its socket in a temporary directory, no user config),
/// killed when dropped.
struct Tmux {
    dir: tempfile::TempDir,
    session: String,
}

impl Tmux {
    fn start(workspace: &Path, command: &str) -> Tmux {
        let version = Command::new("tmux").arg("-V").output();
        assert!(
            version.as_ref().is_ok_and(|o| o.status.success()),
            "this test drives the Codex TUI with tmux, which is not installed: \
             apt-get install -y tmux ({version:?})"
        );
        let tmux = Tmux {
            dir: tempfile::tempdir().unwrap(),
            session: "codex".to_string(),
        };
        let workspace = workspace.to_str().unwrap();
        let out = tmux.run(&[
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-s",
            &tmux.session,
            "-x",
            "200",
            "-y",
            "50",
            "-c",
            workspace,
            command,
        ]);
        assert!(out.status.success(), "tmux new-session: {out:?}");
        tmux
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .arg("-S")
            .arg(self.dir.path().join("tmux.sock"))
            .args(args)
            .output()
            .expect("tmux runs")
    }

    fn screen(&self) -> String {
        let out = self.run(&["capture-pane", "-p", "-t", &self.session]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn type_text(&self, text: &str) {
        assert!(self
            .run(&["send-keys", "-t", &self.session, "-l", text])
            .status
            .success());
    }

    fn press(&self, key: &str) {
        assert!(self
            .run(&["send-keys", "-t", &self.session, key])
            .status
            .success());
    }

    /// Waits until the screen shows `needle`; fails with the screen after `limit`.
    async fn wait_for_screen(&self, needle: &str, limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            let screen = self.screen();
            if screen.contains(needle) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the TUI did not show {needle:?} within {limit:?}; screen:\n{screen}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        // Only our own server: its socket is in our temporary directory.
        let _ = self.run(&["kill-server"]);
    }
}

fn quote(s: &str) -> String {
    shell_words::quote(s).into_owned()
}

#[tokio::test]
async fn a_synced_command_typed_in_the_tui_reaches_the_upstream_expanded() {
    support::init_logs();
    let started = Instant::now();
    let mock = MockUpstream::replying(answer("resp_tui", ANSWER)).await;
    let (state, user) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let proxy = support::stack::proxy(&mock.url(), state.path(), user.path(), |_| {}).await;
    let codex = Codex::api_mode(proxy.addr);
    let workspace = std::fs::canonicalize(codex.workspace()).unwrap();
    let home = codex.home.path();
    let greet = workspace.join(".claude/commands/greet.md");
    std::fs::create_dir_all(greet.parent().unwrap()).unwrap();
    std::fs::write(
        &greet,
        "---\ndescription: Greet someone\nargument-hint: NAME\n---\nSay hello to $ARGUMENTS from the TUI (!`echo via-shell`).\n",
    )
    .unwrap();
    // Skip the trust prompt for this workspace.
    let mut config = std::fs::read_to_string(home.join("config.toml")).unwrap();
    config.push_str(&format!(
        "\n[projects.{}]\ntrust_level = \"trusted\"\n",
        toml_key(workspace.to_str().unwrap())
    ));
    std::fs::write(home.join("config.toml"), config).unwrap();

    // The real CLI, as a user would run it.
    let sync = Command::new(env!("CARGO_BIN_EXE_codex-plus"))
        .args(["commands", "sync", "--cwd"])
        .arg(&workspace)
        .arg("--codex-home")
        .arg(home)
        .env("HOME", user.path())
        .env("CODEX_PLUS_HOME", state.path())
        .env_remove("CLAUDE_CONFIG_DIR")
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&sync.stdout);
    assert!(sync.status.success(), "sync: {sync:?}");
    assert!(report.contains("created   $greet"), "{report}");

    let command = format!(
        "env -u OPENAI_BASE_URL CODEX_HOME={} OPENAI_API_KEY=sk-test-key RUST_LOG=warn {} --no-daemon",
        quote(home.to_str().unwrap()),
        quote(codex::binary().to_str().unwrap()),
    );
    let tui = Tmux::start(&workspace, &command);
    tui.wait_for_screen("Ask Codex to do anything", Duration::from_secs(30))
        .await;

    tui.type_text("$greet Bob");
    tokio::time::sleep(Duration::from_millis(300)).await;
    tui.press("Enter");

    let expanded = "Say hello to Bob from the TUI (via-shell).";
    let deadline = Instant::now() + Duration::from_secs(30);
    let request = loop {
        if let Some(req) = mock
            .responses_requests()
            .into_iter()
            .find(|r| r.text().contains(expanded))
        {
            break req;
        }
        assert!(
            Instant::now() < deadline,
            "the upstream never received the expanded command; requests: {:#?}\nscreen:\n{}",
            mock.responses_requests()
                .iter()
                .map(|r| r.text())
                .collect::<Vec<_>>(),
            tui.screen()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let texts: Vec<String> = request
        .input()
        .iter()
        .filter(|i| i["role"] == "user")
        .filter_map(|i| i["content"][0]["text"].as_str().map(str::to_string))
        .collect();
    assert!(
        texts.iter().any(|t| t == "$greet Bob"),
        "the typed message: {texts:?}"
    );
    assert!(
        texts
            .last()
            .is_some_and(|t| t.starts_with("<skill>") && t.contains(expanded)),
        "the skill item carries the expansion: {texts:?}"
    );
    assert!(
        !request.text().contains("codex-plus:command"),
        "no marker left"
    );

    tui.wait_for_screen(ANSWER, Duration::from_secs(30)).await;
    drop(tui);
    eprintln!("TUI test took {:?}", started.elapsed());
}

/// A TOML key for a path (a basic string).
fn toml_key(path: &str) -> String {
    toml::Value::String(path.to_string()).to_string()
}

/// A whole Claude Code setup in the interactive TUI, through the full proxy: an
/// agent, a synced command typed as `$greet`, a prompt hook that adds context, and a
/// status line all show in the user's turn, while the TUI's own thread-title request
/// reaches the upstream exactly as Codex sent it.
#[tokio::test]
async fn the_whole_setup_in_the_tui_and_its_title_request_left_alone() {
    support::init_logs();
    let mock = MockUpstream::start(|req, _| {
        let meta = req.header("x-codex-turn-metadata").unwrap_or("");
        if meta.contains("thread_title") {
            return Reply::sse(&answer("resp_title", r#"{"title":"Greet Bob"}"#));
        }
        Reply::sse(&answer("resp_tui", ANSWER))
    })
    .await;
    let state = tempfile::tempdir().unwrap();
    let proxy = support::proxy(&mock.url(), state.path()).await;
    let codex = Codex::api_mode(proxy.addr);
    let workspace = std::fs::canonicalize(codex.workspace()).unwrap();
    let home = codex.home.path();
    let claude = workspace.join(".claude");
    std::fs::create_dir_all(claude.join("commands")).unwrap();
    std::fs::create_dir_all(claude.join("agents")).unwrap();
    std::fs::write(
        claude.join("commands/greet.md"),
        "---\ndescription: Greet someone\n---\nSay hello to $ARGUMENTS from the whole setup.\n",
    )
    .unwrap();
    std::fs::write(
        claude.join("agents/setup-agent.md"),
        "---\nname: setup-agent\ndescription: The whole-setup agent\ntools: Read\n---\nYou help.\n",
    )
    .unwrap();
    std::fs::write(
        claude.join("settings.json"),
        serde_json::json!({
            "statusLine": {"type": "command", "command": "echo TUI-STATUS-LINE"},
            "hooks": {"UserPromptSubmit": [{"hooks": [{"type": "command", "command": "echo TUI-PROMPT-CONTEXT"}]}]}
        })
        .to_string(),
    )
    .unwrap();
    let mut config = std::fs::read_to_string(home.join("config.toml")).unwrap();
    config.push_str(&format!(
        "\n[projects.{}]\ntrust_level = \"trusted\"\n",
        toml_key(workspace.to_str().unwrap())
    ));
    std::fs::write(home.join("config.toml"), config).unwrap();
    let sync = Command::new(env!("CARGO_BIN_EXE_codex-plus"))
        .args(["commands", "sync", "--cwd"])
        .arg(&workspace)
        .arg("--codex-home")
        .arg(home)
        .env("CODEX_PLUS_HOME", state.path())
        .output()
        .unwrap();
    assert!(sync.status.success(), "sync: {sync:?}");

    let command = format!(
        "env -u OPENAI_BASE_URL CODEX_HOME={} OPENAI_API_KEY=sk-test-key RUST_LOG=warn {} --no-daemon",
        quote(home.to_str().unwrap()),
        quote(codex::binary().to_str().unwrap()),
    );
    let tui = Tmux::start(&workspace, &command);
    tui.wait_for_screen("Ask Codex to do anything", Duration::from_secs(30))
        .await;
    tui.type_text("$greet Bob");
    tokio::time::sleep(Duration::from_millis(300)).await;
    tui.press("Enter");
    tui.wait_for_screen(ANSWER, Duration::from_secs(30)).await;

    let is_title = |r: &Recorded| {
        r.header("x-codex-turn-metadata")
            .is_some_and(|m| m.contains("thread_title"))
    };
    let turn = mock
        .responses_requests()
        .into_iter()
        .find(|r| !is_title(r))
        .unwrap();
    let text = turn.text();
    assert!(
        text.contains("Say hello to Bob from the whole setup."),
        "{text}"
    );
    assert!(text.contains("TUI-PROMPT-CONTEXT"), "the hook's context");
    assert!(text.contains("TUI-STATUS-LINE"), "the status line");
    assert!(
        text.contains("setup-agent"),
        "the Task tool lists the agent"
    );
    // The title request comes a little after the turn.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !mock.responses_requests().iter().any(is_title) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(tui);
    let titles: Vec<_> = mock
        .responses_requests()
        .into_iter()
        .filter(is_title)
        .collect();
    assert!(!titles.is_empty(), "the TUI asked for a thread title");
    for title in titles {
        let text = title.text();
        for added in [
            "TUI-PROMPT-CONTEXT",
            "TUI-STATUS-LINE",
            "setup-agent",
            "Say hello to Bob",
        ] {
            assert!(
                !text.contains(added),
                "the title request got {added}: {text}"
            );
        }
    }
    proxy.stop().await;
}
