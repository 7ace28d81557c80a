//! Slash command rendering against a real workspace: `!`cmd`` runs in a shell with a
//! timeout, `@path` includes files only from inside the workspace.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed assumption is a failed test

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use codex_plus::claude::command_render::render;
use codex_plus::claude::commands::CommandDef;
use codex_plus::claude::discovery::Source;

fn command(body: &str) -> CommandDef {
    CommandDef::parse(
        "test",
        body,
        None,
        Source::Project {
            dir: PathBuf::from("/ws/.claude/commands"),
        },
    )
}

struct Workspace {
    _tmp: tempfile::TempDir,
    outside: PathBuf,
    ws: PathBuf,
}

fn workspace() -> std::io::Result<Workspace> {
    let tmp = tempfile::tempdir()?;
    let ws = tmp.path().join("ws");
    fs::create_dir_all(ws.join("src"))?;
    fs::write(ws.join("src/main.rs"), "fn main() {}\n")?;
    fs::write(ws.join("notes.md"), "remember ```this```")?;
    let outside = tmp.path().join("secret.txt");
    fs::write(&outside, "TOP SECRET")?;
    Ok(Workspace {
        outside,
        ws,
        _tmp: tmp,
    })
}

async fn run(body: &str, args: &str, ws: &Path) -> codex_plus::claude::command_render::Rendered {
    render(&command(body), args, ws, Duration::from_secs(5)).await
}

#[tokio::test]
async fn includes_workspace_files_in_labelled_fences() -> std::io::Result<()> {
    let w = workspace()?;
    let main = w.ws.join("src/main.rs");
    let body = format!(
        "Review @src/main.rs please.\n@notes.md.\nAbsolute: @{}",
        main.display()
    );
    let out = run(&body, "", &w.ws).await;
    let expected = format!(
        "Review \n```src/main.rs\nfn main() {{}}\n```\n please.\n````notes.md\nremember ```this```\n````\n.\nAbsolute: \n```{0}\nfn main() {{}}\n```",
        main.display()
    );
    assert_eq!(out.text, expected);
    assert!(out.notes.is_empty(), "{:?}", out.notes);
    Ok(())
}

#[tokio::test]
async fn refuses_paths_outside_the_workspace() -> std::io::Result<()> {
    let w = workspace()?;
    std::os::unix::fs::symlink(&w.outside, w.ws.join("link.txt"))?;
    let body = format!(
        "A @../secret.txt B @src/../../secret.txt C @link.txt D @{}",
        w.outside.display()
    );
    let out = run(&body, "", &w.ws).await;
    assert_eq!(out.text, body, "nothing may be replaced");
    assert!(!out.text.contains("TOP SECRET"));
    assert_eq!(out.notes.len(), 4, "{:?}", out.notes);
    assert!(out
        .notes
        .iter()
        .all(|n| n.message.contains("outside the workspace")));
    Ok(())
}

#[tokio::test]
async fn leaves_mentions_emails_fences_and_directories_alone() -> std::io::Result<()> {
    let w = workspace()?;
    let body = "Ask @someone, mail a@notes.md, dir @src\n```\n@notes.md !`echo no`\n```";
    let out = run(body, "", &w.ws).await;
    assert_eq!(out.text, body);
    Ok(())
}

#[tokio::test]
async fn runs_shell_commands_in_the_workspace() -> std::io::Result<()> {
    let w = workspace()?;
    let out = run(
        "Dir: !`pwd`\nFiles: !`ls src`\nArg: !`echo $1`",
        "hello",
        &w.ws,
    )
    .await;
    let real = fs::canonicalize(&w.ws)?;
    assert_eq!(
        out.text,
        format!("Dir: {}\nFiles: main.rs\nArg: hello", real.display())
    );
    assert!(out.notes.is_empty());
    Ok(())
}

#[tokio::test]
async fn failing_commands_show_stderr_and_status() -> std::io::Result<()> {
    let w = workspace()?;
    let out = run("X: !`echo out; echo err >&2; exit 3`", "", &w.ws).await;
    assert_eq!(
        out.text,
        "X: out\nerr\n[`echo out; echo err >&2; exit 3` exited with status 3]"
    );
    assert_eq!(out.notes.len(), 1);
    Ok(())
}

#[tokio::test]
async fn output_of_a_command_is_not_scanned_again() -> std::io::Result<()> {
    let w = workspace()?;
    let out = run("!`echo @notes.md`", "", &w.ws).await;
    assert_eq!(out.text, "@notes.md");
    Ok(())
}

#[tokio::test]
async fn timeouts_kill_the_whole_process_group_and_keep_partial_output() -> std::io::Result<()> {
    let w = workspace()?;
    let body = "T: !`echo partial; sleep 30 & echo $! > bg.pid; sleep 30`";
    let started = Instant::now();
    let out = render(&command(body), "", &w.ws, Duration::from_millis(400)).await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    assert!(
        out.text.starts_with("T: partial\n[`echo partial;"),
        "{}",
        out.text
    );
    assert!(
        out.text.ends_with("timed out after 0.4s and was killed]"),
        "{}",
        out.text
    );
    assert_eq!(out.notes.len(), 1);

    let pid: i32 = fs::read_to_string(w.ws.join("bg.pid"))?
        .trim()
        .parse()
        .unwrap_or(0);
    assert!(pid > 0);
    // The background sleep belonged to the killed group; wait (bounded) for it to go.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        // SAFETY: signal 0 only checks that the process exists.
        let alive = unsafe { libc::kill(pid, 0) } == 0 && !is_zombie(pid);
        if !alive {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "background process {pid} survived"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

fn is_zombie(pid: i32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            s.rsplit(')')
                .next()
                .is_some_and(|rest| rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}

#[tokio::test]
async fn model_allowed_tools_and_arguments_come_through() -> std::io::Result<()> {
    let w = workspace()?;
    let cmd = CommandDef::parse(
        "commit",
        "---\nmodel: haiku\nallowed-tools: Bash(git commit:*)\n---\nCommit with message: $ARGUMENTS",
        None,
        Source::Builtin,
    );
    let out = render(&cmd, "fix the bug", &w.ws, Duration::from_secs(1)).await;
    assert_eq!(out.text, "Commit with message: fix the bug");
    assert_eq!(out.model.as_deref(), Some("haiku"));
    assert_eq!(
        out.allowed_tools,
        Some(vec!["Bash(git commit:*)".to_string()])
    );
    Ok(())
}
