//! Running one hook command: `sh -c`, JSON on stdin, capped output, a hard timeout.
//!
//! The command runs in its own process group so a timeout kills everything it started.
//! Output written before the shell exits is collected; a background process that keeps
//! the pipes open gets only a short grace, so it never holds up the hook.

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// How long to keep reading pipes after the shell has exited or been killed.
const PIPE_GRACE: Duration = Duration::from_millis(100);

/// How much output to keep; the rest is read and counted, not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputLimits {
    /// Bytes of stdout kept.
    pub stdout: usize,
    /// Bytes of stderr kept.
    pub stderr: usize,
}

impl Default for OutputLimits {
    fn default() -> Self {
        Self {
            stdout: 1024 * 1024,
            stderr: 64 * 1024,
        }
    }
}

/// How the command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// It exited with this code.
    Code(i32),
    /// A signal killed it (not ours).
    Signal(i32),
    /// It ran past its timeout and its process group was killed.
    TimedOut,
}

/// What a finished command left behind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandOutput {
    /// How it ended.
    pub exit: Exit,
    /// Its stdout, up to the limit (invalid UTF-8 replaced).
    pub stdout: String,
    /// Its stderr, up to the limit (invalid UTF-8 replaced).
    pub stderr: String,
    /// All stdout bytes read, including those past the limit.
    pub stdout_bytes: u64,
    /// Wall time from spawn to the end of output collection.
    pub duration: Duration,
}

impl CommandOutput {
    /// A hook given up on at its timeout, with nothing to show.
    fn timed_out(started: Instant) -> CommandOutput {
        CommandOutput {
            exit: Exit::TimedOut,
            stdout: String::new(),
            stderr: String::new(),
            stdout_bytes: 0,
            duration: started.elapsed(),
        }
    }
}

/// The command could not be started at all.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// `sh` could not be spawned (missing shell, missing working directory, ...).
    #[error("could not start `sh` in {cwd}: {source}")]
    Spawn {
        /// The working directory asked for.
        cwd: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Waiting for the shell failed.
    #[error("lost track of the hook process: {0}")]
    Wait(std::io::Error),
    /// An `http` hook's request failed or was refused.
    #[error("{0}")]
    Http(String),
    /// A `prompt` or `agent` hook's model gave no verdict.
    #[error("{0}")]
    Judge(String),
}

/// A `prompt` or `agent` hook: the judge's verdict as a command's exit (0 for `ok`,
/// 2 with the reason on stderr for a refusal), within the hook's timeout.
pub async fn run_judge(
    judge: Option<&dyn super::judge::Judge>,
    ask: super::judge::JudgeAsk,
) -> Result<CommandOutput, RunError> {
    use super::judge::{verdict, Verdict};
    let judge = judge.ok_or_else(|| {
        RunError::Judge("cannot run here: prompt and agent hooks need the proxy's engine".into())
    })?;
    let started = Instant::now();
    let timeout = ask.timeout;
    let kind = if ask.agent { "agent" } else { "prompt" };
    let text = match tokio::time::timeout(timeout, judge.judge(ask)).await {
        Err(_) => return Ok(CommandOutput::timed_out(started)),
        Ok(Err(why)) => return Err(RunError::Judge(format!("({kind}) failed: {why}"))),
        Ok(Ok(text)) => text,
    };
    let (code, stderr) =
        match verdict(&text).map_err(|e| RunError::Judge(format!("({kind}): {e}")))? {
            Verdict::Ok => (0, String::new()),
            Verdict::Refused(reason) => (2, reason),
        };
    Ok(CommandOutput {
        exit: Exit::Code(code),
        stdout: String::new(),
        stdout_bytes: 0,
        stderr,
        duration: started.elapsed(),
    })
}

/// POSTs the event (`stdin`) to an `http` hook's `url`, with its headers. A 2xx
/// answer's body is read as a command's stdout (exit code 0); anything else is a
/// non-blocking error, as Claude Code treats it.
pub async fn run_http(
    url: &str,
    hook: &super::config::HttpHook,
    stdin: Bytes,
    timeout: Duration,
    limits: OutputLimits,
) -> Result<CommandOutput, RunError> {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    let client = CLIENT.get_or_init(reqwest::Client::new);
    let started = Instant::now();
    let mut request = client
        .post(url)
        .header("content-type", "application/json")
        .body(stdin)
        .timeout(timeout);
    for (name, value) in &hook.headers {
        request = request.header(
            name,
            expand_allowed(value, &hook.allowed_env, &|v| std::env::var(v).ok()),
        );
    }
    let response = match request.send().await {
        Ok(r) => r,
        Err(e) if e.is_timeout() => return Ok(CommandOutput::timed_out(started)),
        Err(e) => {
            return Err(RunError::Http(format!(
                "could not be reached: {}",
                e.without_url()
            )))
        }
    };
    let status = response.status();
    let body = response
        .bytes()
        .await
        .map_err(|e| RunError::Http(format!("broke off its answer: {}", e.without_url())))?;
    if !status.is_success() {
        return Err(RunError::Http(format!("answered HTTP {status}")));
    }
    let kept = &body[..body.len().min(limits.stdout)];
    Ok(CommandOutput {
        exit: Exit::Code(0),
        stdout: String::from_utf8_lossy(kept).into_owned(),
        stderr: String::new(),
        stdout_bytes: body.len() as u64,
        duration: started.elapsed(),
    })
}

/// `$VAR` and `${VAR}` in `text` filled in from `env` for the names in `allowed`;
/// any other reference becomes empty.
pub fn expand_allowed(
    text: &str,
    allowed: &[String],
    env: &dyn Fn(&str) -> Option<String>,
) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let (name, len) = if let Some(inner) = after.strip_prefix('{') {
            match inner.find('}') {
                Some(end) => (&inner[..end], end + 2),
                None => ("", 0),
            }
        } else {
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            (&after[..end], end)
        };
        if name.is_empty() {
            out.push('$');
            rest = after;
            continue;
        }
        if allowed.iter().any(|a| a == name) {
            out.push_str(&env(name).unwrap_or_default());
        }
        rest = &after[len..];
    }
    out.push_str(rest);
    out
}

/// Runs `command` with `sh -c` in `cwd`, feeding `stdin` and then closing it, with
/// `CLAUDE_PROJECT_DIR` set to `cwd`. Returns within `timeout` plus a short grace.
pub async fn run_command(
    command: &str,
    stdin: Bytes,
    cwd: &Path,
    timeout: Duration,
    limits: OutputLimits,
) -> Result<CommandOutput, RunError> {
    let started = Instant::now();
    let deadline = started + timeout;
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(command)
        .current_dir(cwd)
        .env("CLAUDE_PROJECT_DIR", cwd)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|source| RunError::Spawn {
            cwd: cwd.to_owned(),
            source,
        })?;
    // Declared after `child` so it drops first: if this future is cancelled, the group
    // is killed while the shell is still unreaped and the group id cannot be reused.
    let mut group = GroupKiller(child.id().and_then(|id| i32::try_from(id).ok()));

    let feeder = child.stdin.take().map(|mut pipe| {
        tokio::spawn(async move {
            // A hook that never reads its input makes this fail; that is its choice.
            let _ = pipe.write_all(&stdin).await;
        })
    });
    let stdout = Capture::start(child.stdout.take(), limits.stdout);
    let stderr = Capture::start(child.stderr.take(), limits.stderr);

    let exit = match tokio::time::timeout_at(deadline, child.wait()).await {
        Ok(Ok(status)) => {
            group.disarm();
            match (status.code(), status.signal()) {
                (Some(code), _) => Exit::Code(code),
                (None, Some(signal)) => Exit::Signal(signal),
                (None, None) => Exit::Signal(0),
            }
        }
        Ok(Err(err)) => return Err(RunError::Wait(err)),
        Err(_) => {
            group.kill();
            // SIGKILL cannot be ignored; the bound only guards against a wedged kernel.
            let _ = tokio::time::timeout(PIPE_GRACE, child.wait()).await;
            Exit::TimedOut
        }
    };

    if let Some(feeder) = feeder {
        feeder.abort();
    }
    let until = Instant::now() + PIPE_GRACE;
    let (stdout, stdout_bytes) = stdout.finish(until).await;
    let (stderr, _) = stderr.finish(until).await;
    Ok(CommandOutput {
        exit,
        stdout,
        stderr,
        stdout_bytes,
        duration: started.elapsed(),
    })
}

/// Kills a process group when asked, or when dropped while still armed.
struct GroupKiller(Option<i32>);

impl GroupKiller {
    fn kill(&mut self) {
        if let Some(pgid) = self.0.take() {
            // SAFETY: killpg only sends a signal; a group that is already gone yields ESRCH.
            unsafe {
                libc::killpg(pgid, libc::SIGKILL);
            }
        }
    }

    fn disarm(&mut self) {
        self.0 = None;
    }
}

impl Drop for GroupKiller {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Bytes kept from one pipe and the total seen.
#[derive(Default)]
struct Captured {
    kept: Vec<u8>,
    total: u64,
}

/// Reads a pipe in the background so a chatty hook never blocks on a full pipe.
struct Capture {
    buffer: Arc<Mutex<Captured>>,
    reader: Option<JoinHandle<()>>,
}

impl Capture {
    fn start(pipe: Option<impl AsyncRead + Unpin + Send + 'static>, limit: usize) -> Self {
        let buffer = Arc::new(Mutex::new(Captured::default()));
        let reader = pipe.map(|mut pipe| {
            let buffer = Arc::clone(&buffer);
            tokio::spawn(async move {
                let mut chunk = [0u8; 8192];
                while let Ok(n @ 1..) = pipe.read(&mut chunk).await {
                    let mut captured = buffer.lock().unwrap_or_else(PoisonError::into_inner);
                    let room = limit.saturating_sub(captured.kept.len());
                    captured.kept.extend_from_slice(&chunk[..n.min(room)]);
                    captured.total += n as u64;
                }
            })
        });
        Self { buffer, reader }
    }

    /// Waits for end of file until `until`, then takes what was read.
    async fn finish(mut self, until: Instant) -> (String, u64) {
        if let Some(mut reader) = self.reader.take() {
            if tokio::time::timeout_at(until, &mut reader).await.is_err() {
                reader.abort();
            }
        }
        let captured =
            std::mem::take(&mut *self.buffer.lock().unwrap_or_else(PoisonError::into_inner));
        (
            String::from_utf8_lossy(&captured.kept).into_owned(),
            captured.total,
        )
    }
}
