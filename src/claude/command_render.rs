//! The I/O half of slash commands. After the arguments are put in, `` !`cmd` `` runs in
//! the workspace and is replaced by its output, and `@path` is replaced by the file's
//! content when the file lies inside the workspace. Code fences are left alone, and
//! text produced here is never scanned again.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};

use super::command_expand::{expand_arguments, fenced_lines};
use super::commands::CommandDef;
use super::diagnostic::Diagnostic;

/// Bytes of a command's output kept.
const SHELL_OUTPUT_CAP: usize = 30_000;
/// Bytes of an included file kept.
const INCLUDE_CAP: usize = 256 * 1024;
/// How long to wait for output pipes after the shell ended (a background child may
/// still hold them).
const PIPE_GRACE: Duration = Duration::from_millis(200);

/// A command ready to send as the user's prompt.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    pub text: String,
    /// The command's `model`, as written.
    pub model: Option<String>,
    /// The command's `allowed-tools`, as written.
    pub allowed_tools: Option<Vec<String>>,
    /// Failed or timed-out shell commands, refused includes, argument problems.
    pub notes: Vec<Diagnostic>,
}

/// Expands `cmd` with `args`, runs its `` !`...` `` commands in `workspace` (each
/// killed after `timeout`) and pulls in its `@path` files.
pub async fn render(cmd: &CommandDef, args: &str, workspace: &Path, timeout: Duration) -> Rendered {
    let expansion = expand_arguments(&cmd.body, args, &cmd.arguments);
    let mut notes = expansion.notes;
    let mut text = resolve_inline(&expansion.text, workspace, timeout, &mut notes).await;
    if let Some(dir) = &cmd.skill_dir {
        // As Claude Code loads a skill: the files its body names are in its folder.
        text = format!("{}{text}", skill_base_line(dir));
    }
    Rendered {
        text,
        model: cmd.model.clone(),
        allowed_tools: cmd.allowed_tools.clone(),
        notes,
    }
}

/// The line a skill's text starts with, naming its folder.
pub fn skill_base_line(dir: &Path) -> String {
    format!("Base directory for this skill: {}\n\n", dir.display())
}

#[derive(Debug)]
enum Token<'a> {
    Shell(&'a str),
    /// `@` and everything up to the next whitespace, without the `@`.
    Include(&'a str),
}

/// Replaces `` !`cmd` `` and `@path` tokens outside code fences.
pub async fn resolve_inline(
    text: &str,
    workspace: &Path,
    timeout: Duration,
    notes: &mut Vec<Diagnostic>,
) -> String {
    let root = tokio::fs::canonicalize(workspace).await.ok();
    let mut out = String::with_capacity(text.len());
    let mut offset = 0;
    let mut tokens = Vec::new();
    for (line, in_fence) in fenced_lines(text) {
        if !in_fence {
            tokens.extend(
                find_tokens(line)
                    .into_iter()
                    .map(|(s, e, t)| (offset + s, offset + e, t)),
            );
        }
        offset += line.len();
    }
    let mut done = 0;
    for (start, end, token) in tokens {
        out.push_str(&text[done..start]);
        done = start;
        match token {
            Token::Shell(command) => {
                let result = run_shell(command, workspace, timeout).await;
                let (replacement, note) = shell_replacement(command, &result, timeout);
                notes.extend(note);
                out.push_str(&replacement);
                done = end;
            }
            Token::Include(path_text) => {
                let Some(root) = &root else { continue };
                if let Some((used, block)) = include(path_text, workspace, root, notes).await {
                    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
                    if !text[line_start..start].trim().is_empty() {
                        out.push('\n');
                    }
                    out.push_str(&block);
                    let after = start + 1 + used;
                    let line_end = text[after..].find('\n').map_or(text.len(), |i| after + i);
                    if !text[after..line_end].trim().is_empty() {
                        out.push('\n');
                    }
                    done = after;
                }
            }
        }
    }
    out.push_str(&text[done..]);
    out
}

/// `(start, end, token)` byte ranges within `line`, in order.
fn find_tokens(line: &str) -> Vec<(usize, usize, Token<'_>)> {
    let mut tokens = Vec::new();
    let mut chars = line.char_indices().peekable();
    let mut prev: Option<char> = None;
    while let Some((i, c)) = chars.next() {
        if c == '!' && line[i + 1..].starts_with('`') {
            if let Some(close) = line[i + 2..].find('`') {
                let command = &line[i + 2..i + 2 + close];
                if !command.trim().is_empty() {
                    let end = i + 2 + close + 1;
                    tokens.push((i, end, Token::Shell(command)));
                    while chars.peek().is_some_and(|(j, _)| *j < end) {
                        chars.next();
                    }
                    prev = Some('`');
                    continue;
                }
            }
        }
        let at_word_start = prev.is_none_or(|p| p.is_whitespace() || p == '(');
        if c == '@' && at_word_start {
            let end = line[i..]
                .find(char::is_whitespace)
                .map_or(line.len(), |j| i + j);
            if end > i + 1 {
                tokens.push((i, end, Token::Include(&line[i + 1..end])));
                while chars.peek().is_some_and(|(j, _)| *j < end) {
                    chars.next();
                }
                prev = line[..end].chars().next_back();
                continue;
            }
        }
        prev = Some(c);
    }
    tokens
}

/// The fenced block for `@path_text` and how many bytes of the token it used (a
/// trailing `.` or `,` is punctuation when the path without it exists). `None` leaves
/// the token as written.
async fn include(
    path_text: &str,
    workspace: &Path,
    root: &Path,
    notes: &mut Vec<Diagnostic>,
) -> Option<(usize, String)> {
    let trimmed =
        path_text.trim_end_matches(['.', ',', ';', ':', '!', '?', ')', ']', '}', '"', '\'']);
    let mut attempts = vec![path_text];
    if !trimmed.is_empty() && trimmed != path_text {
        attempts.push(trimmed);
    }
    for attempt in attempts {
        let candidate = Path::new(attempt);
        let full: PathBuf = if candidate.is_absolute() {
            candidate.to_path_buf()
        } else {
            workspace.join(candidate)
        };
        let Ok(real) = tokio::fs::canonicalize(&full).await else {
            continue;
        };
        if !real.starts_with(root) {
            notes.push(
                Diagnostic::warning(format!(
                    "`@{attempt}` is outside the workspace; not included"
                ))
                .with_fix("copy the file into the workspace, or paste the part you need"),
            );
            return None;
        }
        if !real.is_file() {
            notes.push(Diagnostic::info(format!(
                "`@{attempt}` is not a file; left as written"
            )));
            return None;
        }
        let bytes = match tokio::fs::read(&real).await {
            Ok(bytes) => bytes,
            Err(e) => {
                notes.push(Diagnostic::warning(format!(
                    "cannot read `@{attempt}`: {e}; left as written"
                )));
                return None;
            }
        };
        let total = bytes.len();
        let kept = &bytes[..total.min(INCLUDE_CAP)];
        let mut content = match std::str::from_utf8(kept) {
            Ok(text) => text.to_string(),
            Err(e) if total > INCLUDE_CAP && e.error_len().is_none() => {
                String::from_utf8_lossy(&kept[..e.valid_up_to()]).into_owned()
            }
            Err(_) => {
                notes.push(Diagnostic::info(format!(
                    "`@{attempt}` is not a text file; left as written"
                )));
                return None;
            }
        };
        if total > INCLUDE_CAP {
            content.push_str(&format!(
                "\n[truncated: the file has {total} bytes; the first {INCLUDE_CAP} are shown]"
            ));
            notes.push(Diagnostic::info(format!(
                "`@{attempt}` was truncated to {INCLUDE_CAP} bytes"
            )));
        }
        return Some((attempt.len(), fenced(attempt, &content)));
    }
    None
}

/// `content` in a code fence labelled `label`, with a fence longer than any backtick
/// run inside.
fn fenced(label: &str, content: &str) -> String {
    let mut longest = 0;
    let mut run = 0;
    for c in content.chars() {
        run = if c == '`' { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    let fence = "`".repeat((longest + 1).max(3));
    let newline = if content.ends_with('\n') { "" } else { "\n" };
    format!("{fence}{label}\n{content}{newline}{fence}")
}

/// What a shell command left behind.
#[derive(Debug, Default)]
struct ShellResult {
    stdout: Captured,
    stderr: Captured,
    /// Exit code; `None` when killed by a signal or not run.
    code: Option<i32>,
    timed_out: bool,
    spawn_error: Option<String>,
}

#[derive(Debug, Default, Clone)]
struct Captured {
    bytes: Vec<u8>,
    total: usize,
}

impl Captured {
    fn text(&self) -> String {
        let mut text = String::from_utf8_lossy(&self.bytes).trim_end().to_string();
        if self.total > self.bytes.len() {
            text.push_str(&format!(
                "\n[output truncated: {} of {} bytes shown]",
                self.bytes.len(),
                self.total
            ));
        }
        text
    }
}

async fn run_shell(command: &str, cwd: &Path, timeout: Duration) -> ShellResult {
    let mut cmd = tokio::process::Command::new("sh");
    cmd.arg("-c")
        .arg(command)
        .current_dir(cwd)
        .env("CLAUDE_PROJECT_DIR", cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    // Own process group, so a timeout kills the shell's children too.
    #[cfg(unix)]
    cmd.process_group(0);
    let mut child = match cmd.spawn() {
        Ok(child) => child,
        Err(e) => {
            return ShellResult {
                spawn_error: Some(e.to_string()),
                ..ShellResult::default()
            }
        }
    };
    let stdout = Arc::new(Mutex::new(Captured::default()));
    let stderr = Arc::new(Mutex::new(Captured::default()));
    let mut readers = Vec::new();
    if let Some(pipe) = child.stdout.take() {
        readers.push(tokio::spawn(capture(pipe, Arc::clone(&stdout))));
    }
    if let Some(pipe) = child.stderr.take() {
        readers.push(tokio::spawn(capture(pipe, Arc::clone(&stderr))));
    }
    let mut result = ShellResult::default();
    match tokio::time::timeout(timeout, child.wait()).await {
        Ok(Ok(status)) => result.code = status.code(),
        Ok(Err(e)) => result.spawn_error = Some(e.to_string()),
        Err(_) => {
            result.timed_out = true;
            kill_group(child.id());
            let _ = child.kill().await;
        }
    }
    for mut reader in readers {
        if tokio::time::timeout(PIPE_GRACE, &mut reader).await.is_err() {
            reader.abort();
        }
    }
    result.stdout = stdout.lock().map(|c| c.clone()).unwrap_or_default();
    result.stderr = stderr.lock().map(|c| c.clone()).unwrap_or_default();
    result
}

async fn capture<R: AsyncRead + Unpin>(mut pipe: R, into: Arc<Mutex<Captured>>) {
    let mut chunk = [0u8; 8192];
    loop {
        match pipe.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if let Ok(mut captured) = into.lock() {
                    let room = SHELL_OUTPUT_CAP.saturating_sub(captured.bytes.len());
                    captured.bytes.extend_from_slice(&chunk[..n.min(room)]);
                    captured.total += n;
                }
            }
        }
    }
}

#[cfg(unix)]
fn kill_group(pid: Option<u32>) {
    if let Some(pid) = pid.and_then(|p| i32::try_from(p).ok()) {
        // SAFETY: kill(2) takes no pointers; a negative pid addresses the process group
        // that `process_group(0)` created for this child.
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
        }
    }
}

#[cfg(not(unix))]
fn kill_group(_pid: Option<u32>) {}

fn shell_replacement(
    command: &str,
    result: &ShellResult,
    timeout: Duration,
) -> (String, Option<Diagnostic>) {
    if let Some(error) = &result.spawn_error {
        let text = format!("[could not run `{command}`: {error}]");
        return (text.clone(), Some(Diagnostic::warning(text)));
    }
    let stdout = result.stdout.text();
    let stderr = result.stderr.text();
    let join = |parts: &[&str]| {
        parts
            .iter()
            .filter(|p| !p.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join("\n")
    };
    if result.timed_out {
        let marker = format!(
            "[`{command}` timed out after {} and was killed]",
            seconds(timeout)
        );
        let text = join(&[&stdout, &stderr, &marker]);
        return (
            text,
            Some(
                Diagnostic::warning(marker)
                    .with_fix("make the command faster, or raise the slash command timeout"),
            ),
        );
    }
    match result.code {
        Some(0) => (stdout, None),
        code => {
            let status = code.map_or("was killed by a signal".to_string(), |c| {
                format!("exited with status {c}")
            });
            let marker = format!("[`{command}` {status}]");
            (
                join(&[&stdout, &stderr, &marker]),
                Some(Diagnostic::warning(marker)),
            )
        }
    }
}

fn seconds(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs.fract() == 0.0 {
        format!("{secs:.0}s")
    } else {
        format!("{secs:.1}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_skill_renders_after_a_line_naming_its_folder() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("notes");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("SKILL.md"),
            "---\nname: notes\n---\nNotes for $ARGUMENTS, see template.md\n",
        )
        .unwrap();
        let source = crate::claude::Source::Project {
            dir: tmp.path().to_path_buf(),
        };
        let skill = CommandDef::load_skill(&dir, source.clone()).unwrap();
        let out = render(&skill, "v2", tmp.path(), Duration::from_secs(5)).await;
        assert_eq!(
            out.text,
            format!(
                "Base directory for this skill: {}\n\nNotes for v2, see template.md",
                dir.display()
            )
        );
        // A command has no such line.
        let cmd = CommandDef::parse("notes", "Notes for $ARGUMENTS", None, source);
        assert_eq!(
            render(&cmd, "v2", tmp.path(), Duration::from_secs(5))
                .await
                .text,
            "Notes for v2"
        );
    }

    fn kinds(line: &str) -> Vec<String> {
        find_tokens(line)
            .into_iter()
            .map(|(s, e, t)| match t {
                Token::Shell(c) => format!("shell:{c}:{}", &line[s..e]),
                Token::Include(p) => format!("include:{p}:{}", &line[s..e]),
            })
            .collect()
    }

    #[test]
    fn tokens_are_found_at_word_starts_only() {
        assert_eq!(
            kinds("Status: !`git status` and @src/a.rs, mail me@x.com (@b.md)"),
            [
                "shell:git status:!`git status`",
                "include:src/a.rs,:@src/a.rs,",
                "include:b.md):@b.md)"
            ]
        );
        assert!(kinds("no !` closing").is_empty());
        assert!(kinds("empty !`` cmd and lone @ sign").is_empty());
        assert_eq!(kinds("é!`echo é`"), ["shell:echo é:!`echo é`"]);
    }

    #[test]
    fn random_lines_give_ordered_non_overlapping_tokens() {
        const PIECES: [&str; 9] = ["!", "`", "@", "é", " ", "(", "a", "/", "."];
        let mut rng = fastrand::Rng::with_seed(3);
        for _ in 0..3000 {
            let line: String = (0..rng.usize(0..25))
                .map(|_| PIECES[rng.usize(0..PIECES.len())])
                .collect();
            let mut last_end = 0;
            for (start, end, _) in find_tokens(&line) {
                assert!(
                    start >= last_end && start < end && end <= line.len(),
                    "{line:?}"
                );
                assert!(line.is_char_boundary(start) && line.is_char_boundary(end));
                last_end = end;
            }
        }
    }

    #[test]
    fn fence_is_longer_than_any_backtick_run() {
        assert_eq!(fenced("a.md", "x\n"), "```a.md\nx\n```");
        assert_eq!(fenced("b.md", "````\ny"), "`````b.md\n````\ny\n`````");
    }

    #[test]
    fn shell_replacement_texts() {
        let mut ok = ShellResult {
            code: Some(0),
            ..ShellResult::default()
        };
        ok.stdout.bytes = b"hello\n\n".to_vec();
        ok.stdout.total = 7;
        assert_eq!(
            shell_replacement("echo", &ok, Duration::from_secs(1)),
            ("hello".to_string(), None)
        );

        let mut failed = ShellResult {
            code: Some(3),
            ..ShellResult::default()
        };
        failed.stderr.bytes = b"boom".to_vec();
        failed.stderr.total = 4;
        let (text, note) = shell_replacement("false", &failed, Duration::from_secs(1));
        assert_eq!(text, "boom\n[`false` exited with status 3]");
        assert!(note.is_some());

        let timed_out = ShellResult {
            timed_out: true,
            ..ShellResult::default()
        };
        let (text, _) = shell_replacement("sleep 9", &timed_out, Duration::from_millis(1500));
        assert_eq!(text, "[`sleep 9` timed out after 1.5s and was killed]");
    }

    #[test]
    fn captured_output_reports_truncation() {
        let c = Captured {
            bytes: b"abc".to_vec(),
            total: 10,
        };
        assert_eq!(c.text(), "abc\n[output truncated: 3 of 10 bytes shown]");
    }
}
