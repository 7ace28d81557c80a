//! Claude Code's status line, for the model: each new turn gets one small developer
//! message at the end of its input,
//!
//! ```text
//! <status_line>
//! codex-plus | branch main (ahead 2 vs origin/main) | 3 changed
//! </status_line>
//! ```
//!
//! Appended, never inserted: the history before it is byte-identical to what Codex
//! sent. Codex never sees the message, so the proxy keeps it (in the session's
//! memory and the ledger) and puts it back at the same place in the turn's tool
//! follow-ups and in every later turn: the prompt-cache prefix never moves, and the
//! model sees the same history each time. Each turn adds one short line.
//!
//! The line is the stdout of the `statusLine` command from the merged settings, run
//! with Claude Code's JSON on stdin, or, without one (or when it fails), the built-in
//! line from `git_status`. `{"codexplus": {"statusLine": false}}` turns it off.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::response::Response;
use bytes::Bytes;
use serde_json::{json, Value};

pub mod git;

use crate::claude::{ClaudeCatalogs, StatusLineSetting};
use crate::config::StatusLineConfig;
use crate::hooks::runner::{run_command, Exit, OutputLimits, RunError};
use crate::hooks::sessions::Sessions;
use crate::store::Ledger;
use crate::turn::hooks::keep_item;
use crate::turn::pipeline::Step;
use crate::turn::Turn;
use crate::wire::environment::Environment;
use crate::wire::request::{RawJson, ResponsesRequest};
use git::{builtin_line, GitStatusCache};

/// Lines of command output kept.
const MAX_LINES: usize = 5;
/// Characters kept per line.
const MAX_LINE_CHARS: usize = 400;

pub struct StatusLine {
    catalogs: Arc<ClaudeCatalogs>,
    /// Where lines are kept for later requests; without it, each goes to its own
    /// request only.
    memory: Option<(Arc<Sessions>, Arc<Ledger>)>,
    enabled: bool,
    command_timeout: Duration,
    git: GitStatusCache,
    /// Commands that failed once already (workspace, command): logged once only.
    failed: Mutex<HashSet<(PathBuf, String)>>,
}

impl StatusLine {
    pub fn new(catalogs: Arc<ClaudeCatalogs>, config: &StatusLineConfig) -> StatusLine {
        StatusLine {
            catalogs,
            memory: None,
            enabled: config.enabled,
            command_timeout: config.command_timeout(),
            git: GitStatusCache::new(config.refresh(), config.first_wait()),
            failed: Mutex::default(),
        }
    }
}

impl StatusLine {
    /// Keeps each line for the session's later requests (see the module doc).
    pub fn keeping(mut self, sessions: Arc<Sessions>, ledger: Arc<Ledger>) -> StatusLine {
        self.memory = Some((sessions, ledger));
        self
    }
}

impl Step for StatusLine {
    fn concern(&self) -> crate::turn::kind::Concern {
        crate::turn::kind::Concern::StatusLine
    }

    async fn apply(&self, mut turn: Turn) -> Result<Turn, Response> {
        if !self.enabled || turn.new_turn_prompt().is_none() {
            return Ok(turn);
        }
        let Some(env) = turn.env.clone() else {
            return Ok(turn);
        };
        let settings = self.catalogs.settings.get(&env.cwd);
        if settings.codexplus.status_line == Some(false) {
            return Ok(turn);
        }
        let line = match &settings.status_line {
            Some(setting) => {
                let input = status_input(&turn, &env);
                match run_status_command(setting, &input, &env.cwd, self.command_timeout).await {
                    Ok(text) => Some(text),
                    Err(e) => {
                        self.log_once(&env.cwd, setting, &e);
                        self.builtin(&env.cwd).await
                    }
                }
            }
            None => self.builtin(&env.cwd).await,
        };
        if let Some(line) = line.filter(|l| !l.is_empty()) {
            let session = turn.session_id().map(str::to_string);
            match (&self.memory, session) {
                (Some((sessions, ledger)), Some(session)) => {
                    let at = turn.request().input.len();
                    keep_item(
                        sessions,
                        ledger,
                        &mut turn,
                        &session,
                        at,
                        status_item(&line),
                    );
                }
                _ => append_status(turn.request_mut(), &line),
            }
        }
        Ok(turn)
    }
}

impl StatusLine {
    async fn builtin(&self, cwd: &Path) -> Option<String> {
        let facts = self.git.get(cwd).await?;
        Some(builtin_line(cwd, facts.as_ref().as_ref()))
    }

    fn log_once(&self, cwd: &Path, setting: &StatusLineSetting, error: &StatusCommandError) {
        let key = (cwd.to_path_buf(), setting.command.clone());
        let first = self
            .failed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key);
        if first {
            tracing::warn!(
                command = %setting.command,
                settings = %setting.source.display(),
                workspace = %cwd.display(),
                "statusLine command failed, using the built-in line (logged once): {error}"
            );
        } else {
            tracing::debug!(command = %setting.command, "statusLine command failed: {error}");
        }
    }
}

/// The JSON Claude Code gives a status line command on stdin, with what the proxy
/// knows (no transcript file; no cost accounting, so zeros).
pub fn status_input(turn: &Turn, env: &Environment) -> Value {
    let model = turn
        .request()
        .model
        .clone()
        .or_else(|| turn.meta.model.clone())
        .unwrap_or_default();
    let project = env.roots.first().unwrap_or(&env.cwd);
    json!({
        "hook_event_name": "Status",
        "session_id": turn.session_id().unwrap_or_default(),
        "transcript_path": "",
        "cwd": env.cwd,
        "model": {"id": model, "display_name": model},
        "workspace": {"current_dir": env.cwd, "project_dir": project},
        "version": env!("CARGO_PKG_VERSION"),
        "output_style": {"name": "default"},
        "cost": {
            "total_cost_usd": 0.0,
            "total_duration_ms": 0,
            "total_api_duration_ms": 0,
            "total_lines_added": 0,
            "total_lines_removed": 0
        },
        "exceeds_200k_tokens": false
    })
}

/// Why a status line command gave no line.
#[derive(Debug, thiserror::Error)]
pub enum StatusCommandError {
    #[error(transparent)]
    Start(#[from] RunError),
    #[error("timed out after {0:?} and was killed")]
    TimedOut(Duration),
    #[error("exited with status {code}: {stderr}")]
    Failed { code: i32, stderr: String },
    #[error("killed by signal {0}")]
    Signal(i32),
}

/// Runs the `statusLine` command in `cwd` with `input` on stdin; its cleaned stdout.
pub async fn run_status_command(
    setting: &StatusLineSetting,
    input: &Value,
    cwd: &Path,
    timeout: Duration,
) -> Result<String, StatusCommandError> {
    let limits = OutputLimits {
        stdout: 16 * 1024,
        stderr: 4 * 1024,
    };
    let stdin = Bytes::from(input.to_string());
    let out = run_command(&setting.command, stdin, cwd, timeout, limits).await?;
    match out.exit {
        Exit::Code(0) => Ok(clean_output(&out.stdout)),
        Exit::Code(code) => Err(StatusCommandError::Failed {
            code,
            stderr: out.stderr.trim().chars().take(300).collect(),
        }),
        Exit::TimedOut => Err(StatusCommandError::TimedOut(timeout)),
        Exit::Signal(signal) => Err(StatusCommandError::Signal(signal)),
    }
}

/// Terminal output made fit for a prompt: colour and other escape sequences and
/// control characters removed, blank edges trimmed, at most a few short lines.
pub fn clean_output(stdout: &str) -> String {
    let plain = strip_escapes(stdout);
    let lines: Vec<String> = plain
        .lines()
        .map(|line| {
            let line: String = line
                .chars()
                .filter(|c| !c.is_control() || *c == '\t')
                .collect();
            let line = line.trim_end();
            if line.chars().count() > MAX_LINE_CHARS {
                let cut: String = line.chars().take(MAX_LINE_CHARS - 1).collect();
                format!("{cut}…")
            } else {
                line.to_string()
            }
        })
        .collect();
    let start = lines.iter().position(|l| !l.trim().is_empty());
    let end = lines.iter().rposition(|l| !l.trim().is_empty());
    match (start, end) {
        (Some(s), Some(e)) => lines[s..=e.min(s + MAX_LINES - 1)].join("\n"),
        _ => String::new(),
    }
}

/// Removes ANSI escape sequences: CSI (`ESC [ ... final`), OSC (`ESC ] ... BEL|ESC \`)
/// and two-character escapes.
fn strip_escapes(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\u{1b}' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('[') => {
                // Parameters and intermediates, then one final byte in @..~.
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
            Some(']') => {
                while let Some(c) = chars.next() {
                    if c == '\u{7}' || (c == '\u{1b}' && chars.next_if_eq(&'\\').is_some()) {
                        break;
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// The status line as Codex would send a developer message. Written directly: a
/// `Value` built and serialised for it cost five times as much, on every turn.
pub fn status_item(line: &str) -> RawJson {
    let text = format!("<status_line>\n{line}\n</status_line>");
    let mut item = Vec::with_capacity(text.len() + 96);
    item.extend_from_slice(
        br#"{"type":"message","role":"developer","content":[{"type":"input_text","text":"#,
    );
    // A string always serialises.
    let _ = serde_json::to_writer(&mut item, &text);
    item.extend_from_slice(b"}]}");
    RawJson::from_bytes_unchecked(Bytes::from(item))
}

/// Appends the status line as the last input item.
pub fn append_status(req: &mut ResponsesRequest, line: &str) {
    req.input.push(status_item(line));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::claude::Roots;
    use crate::proxy::upstream::Backend;
    use std::time::Instant;

    fn setting(command: &str) -> StatusLineSetting {
        StatusLineSetting {
            command: command.to_string(),
            padding: None,
            source: PathBuf::from("/ws/.claude/settings.json"),
        }
    }

    fn make_turn(input: Value, meta: Value) -> Turn {
        let (parts, ()) = http::Request::builder()
            .uri("/v1/responses")
            .header("session-id", "sess-9")
            .header("x-codex-turn-metadata", meta.to_string())
            .body(())
            .unwrap()
            .into_parts();
        let body = Bytes::from(
            json!({"model": "gpt-5.5", "input": input, "tools": [], "store": false}).to_string(),
        );
        let request = ResponsesRequest::parse(&body).unwrap();
        Turn::new(Backend::OpenAi, parts, body, request)
    }

    fn user(text: &str) -> Value {
        json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]})
    }

    fn env_item(ws: &Path) -> Value {
        user(&format!(
            "<environment_context><cwd>{}</cwd><filesystem><workspace_roots><root>{}</root></workspace_roots></filesystem></environment_context>",
            ws.display(),
            ws.display()
        ))
    }

    #[test]
    fn the_status_item_is_the_message_serde_json_would_write() {
        for line in [
            "main | 3 changed",
            "a \"quoted\" \\ path\t| é ✓",
            "\u{1}\u{1b}[0m",
            "",
        ] {
            let want = json!({"type": "message", "role": "developer", "content": [{"type": "input_text",
                "text": format!("<status_line>\n{line}\n</status_line>")}]});
            assert_eq!(status_item(line).as_str(), want.to_string(), "{line:?}");
        }
    }

    #[tokio::test]
    async fn the_command_gets_claude_codes_json_on_stdin() {
        let ws = tempfile::tempdir().unwrap();
        let turn = make_turn(
            json!([env_item(ws.path()), user("hi")]),
            json!({"model": "gpt-5.5", "turn_id": "t"}),
        );
        let env = turn.env.clone().unwrap();
        let input = status_input(&turn, &env);
        let out = run_status_command(
            &setting("cat > stdin.json; echo saved"),
            &input,
            ws.path(),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
        assert_eq!(out, "saved");
        let seen: Value =
            serde_json::from_slice(&std::fs::read(ws.path().join("stdin.json")).unwrap()).unwrap();
        assert_eq!(seen["session_id"], "sess-9");
        assert_eq!(seen["cwd"], ws.path().display().to_string());
        assert_eq!(seen["model"]["id"], "gpt-5.5");
        assert_eq!(seen["model"]["display_name"], "gpt-5.5");
        assert_eq!(
            seen["workspace"]["current_dir"],
            ws.path().display().to_string()
        );
        assert_eq!(
            seen["workspace"]["project_dir"],
            ws.path().display().to_string()
        );
        assert_eq!(seen["version"], env!("CARGO_PKG_VERSION"));
        assert_eq!(seen["transcript_path"], "");
        assert_eq!(seen["cost"]["total_cost_usd"], 0.0);
        let pwd = run_status_command(&setting("pwd"), &input, ws.path(), Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(
            std::fs::canonicalize(pwd).unwrap(),
            std::fs::canonicalize(ws.path()).unwrap(),
            "runs in the workspace"
        );
    }

    #[tokio::test]
    async fn a_hanging_command_is_killed_at_its_timeout() {
        let ws = tempfile::tempdir().unwrap();
        let started = Instant::now();
        let err = run_status_command(
            &setting("echo partial; sleep 30"),
            &json!({}),
            ws.path(),
            Duration::from_millis(300),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, StatusCommandError::TimedOut(_)), "{err}");
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
        let err = run_status_command(
            &setting("echo nope >&2; exit 3"),
            &json!({}),
            ws.path(),
            Duration::from_secs(5),
        )
        .await
        .unwrap_err()
        .to_string();
        assert_eq!(err, "exited with status 3: nope");
    }

    #[tokio::test]
    async fn garbage_output_is_cleaned() {
        let ws = tempfile::tempdir().unwrap();
        let out = run_status_command(
            &setting(r"printf '\n\033[1;32mgreen\033[0m \033]8;;http://x\033\\link\033]8;;\033\\ \377\001bell\n\n'"),
            &json!({}),
            ws.path(),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
        assert_eq!(out, "green link \u{fffd}bell");
        let many: String = (0..20).map(|i| format!("line {i}\n")).collect();
        assert_eq!(clean_output(&many).lines().count(), MAX_LINES);
        let long = "x".repeat(1000);
        assert_eq!(clean_output(&long).chars().count(), MAX_LINE_CHARS);
        assert_eq!(clean_output("\n \n"), "");
    }

    fn step(home: &Path, refresh_secs: u64, first_wait_ms: u64) -> StatusLine {
        let catalogs = Arc::new(ClaudeCatalogs::new(Roots::with_home(home)));
        StatusLine::new(
            catalogs,
            &StatusLineConfig {
                enabled: true,
                command_timeout_ms: 2000,
                refresh_secs,
                first_wait_ms,
            },
        )
    }

    fn write_settings(ws: &Path, file: &str, value: Value) {
        let path = ws.join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, value.to_string()).unwrap();
    }

    #[tokio::test]
    async fn appended_at_the_end_of_new_turns_only_and_nothing_else_changes() {
        let home = tempfile::tempdir().unwrap();
        let ws = tempfile::tempdir().unwrap();
        write_settings(
            ws.path(),
            ".claude/settings.json",
            json!({"statusLine": {"type": "command", "command": "printf 'on %s' \"$(basename \"$PWD\")\""}}),
        );
        let step = step(home.path(), 5, 2000);
        let input = json!([env_item(ws.path()), user("hi")]);
        let turn = step
            .apply(make_turn(input.clone(), json!({"turn_id": "t"})))
            .await
            .unwrap();
        let (body, _) = turn.body();
        let body: Value = serde_json::from_slice(&body).unwrap();
        let sent = body["input"].as_array().unwrap();
        assert_eq!(sent.len(), 3);
        assert_eq!(
            &sent[..2],
            input.as_array().unwrap().as_slice(),
            "history untouched"
        );
        let name = ws.path().file_name().unwrap().to_string_lossy();
        assert_eq!(
            sent[2],
            json!({"type": "message", "role": "developer", "content": [{"type": "input_text",
                "text": format!("<status_line>\non {name}\n</status_line>")}]})
        );
        let mut expected = json!({"model": "gpt-5.5", "input": input, "tools": [], "store": false});
        expected["input"]
            .as_array_mut()
            .unwrap()
            .push(sent[2].clone());
        assert_eq!(body, expected, "only the item was added");

        let follow_up = json!([env_item(ws.path()), user("hi"),
            {"type": "function_call", "call_id": "c", "name": "exec_command", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c", "output": "ok"}]);
        let turn = step
            .apply(make_turn(follow_up, json!({"turn_id": "t"})))
            .await
            .unwrap();
        assert!(!turn.changed(), "tool follow-ups get nothing");
        let title = step
            .apply(make_turn(
                input.clone(),
                json!({"turn_id": "x", "thread_source": "thread_title"}),
            ))
            .await
            .unwrap();
        assert!(!title.changed(), "the TUI's title request gets nothing");
    }

    #[tokio::test]
    async fn a_failing_command_falls_back_to_the_built_in_line_and_settings_turn_it_off() {
        let home = tempfile::tempdir().unwrap();
        let ws = tempfile::tempdir().unwrap();
        write_settings(
            ws.path(),
            ".claude/settings.json",
            json!({"statusLine": {"type": "command", "command": "exit 1"}}),
        );
        let step = step(home.path(), 5, 5000);
        let input = json!([env_item(ws.path()), user("hi")]);
        let turn = step
            .apply(make_turn(input.clone(), json!({})))
            .await
            .unwrap();
        let last = turn.request().input.last().unwrap().message_text().unwrap();
        let name = ws.path().file_name().unwrap().to_string_lossy();
        assert_eq!(
            last,
            format!("<status_line>\n{name} | not a git repository\n</status_line>")
        );

        write_settings(
            ws.path(),
            ".codexplus/settings.json",
            json!({"codexplus": {"statusLine": false}}),
        );
        step.catalogs.settings.invalidate(ws.path());
        let turn = step.apply(make_turn(input, json!({}))).await.unwrap();
        assert!(!turn.changed(), "turned off by the workspace");
    }
}
