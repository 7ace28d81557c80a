//! `Bash`: run a shell command in the workspace with a timeout and an output cap.

use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::io::AsyncReadExt;
use tokio::process::{Child, Command};

use super::input::{opt_u64, parse};
use super::output::HeadTail;
use super::{Tool, ToolContext, ToolError};

/// Runs a command with `bash -c` (or `sh -c` where bash is missing).
pub struct Bash;

#[derive(Deserialize)]
struct Input {
    command: String,
    #[serde(default, deserialize_with = "opt_u64")]
    timeout: Option<u64>,
    #[serde(default)]
    #[allow(dead_code)]
    description: Option<String>,
}

/// How long output may keep arriving after the shell exits: a background job that
/// inherited the pipes must not hold the call open until the timeout.
const DRAIN_GRACE: Duration = Duration::from_millis(200);

#[async_trait]
impl Tool for Bash {
    fn name(&self) -> &'static str {
        "Bash"
    }

    fn description(&self) -> &'static str {
        "Run a shell command with bash in the working directory and return its combined \
         stdout and stderr. Each call is a fresh shell (no state carries over, stdin is \
         empty, so interactive commands fail). timeout is in milliseconds (default \
         120000, max 600000); on expiry the command and its children are killed. Long \
         output keeps its start and end. A non-zero exit code is reported. Prefer Read, \
         Grep, Glob and Edit for files; give description a few words on what the \
         command does."
    }

    fn input_schema(&self) -> Value {
        json!({
            "type": "object",
            "properties": {
                "command": {"type": "string", "description": "The shell command to run"},
                "timeout": {"type": "integer", "minimum": 1, "maximum": 600000, "description": "Timeout in milliseconds (default 120000, max 600000)"},
                "description": {"type": "string", "description": "What the command does, in a few words"}
            },
            "required": ["command"],
            "additionalProperties": false
        })
    }

    fn read_only(&self) -> bool {
        false
    }

    async fn call(&self, input: Value, ctx: &ToolContext) -> Result<String, ToolError> {
        let input: Input = parse(self.name(), input)?;
        if input.command.trim().is_empty() {
            return Err(ToolError::invalid(self.name(), "command is empty"));
        }
        let timeout = match input.timeout {
            Some(ms) if ms > 0 => Duration::from_millis(ms).min(ctx.limits.bash_max_timeout),
            _ => ctx.limits.bash_default_timeout,
        };
        if !ctx.cwd.is_dir() {
            return Err(ToolError::Failed(format!(
                "the working directory {} does not exist",
                ctx.cwd.display()
            )));
        }
        let run = run_command(&input.command, &ctx.cwd, timeout, ctx.limits.output_cap).await?;
        run.into_result(timeout)
    }
}

/// How a command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// It exited with this code.
    Exited(i32),
    /// A signal ended it.
    Signalled(i32),
    /// It ran past its timeout and was killed.
    TimedOut,
}

/// A finished command: its (capped) combined output and how it ended.
#[derive(Debug)]
pub struct CommandRun {
    pub output: String,
    pub ending: Ending,
}

impl CommandRun {
    /// The text for the model: success for exit 0, an error otherwise.
    pub fn into_result(self, timeout: Duration) -> Result<String, ToolError> {
        let output = self.output.trim_end().to_string();
        let with = |note: String| {
            if output.is_empty() {
                note
            } else {
                format!("{output}\n\n{note}")
            }
        };
        match self.ending {
            Ending::Exited(0) if output.is_empty() => Ok("(no output)".into()),
            Ending::Exited(0) => Ok(output),
            Ending::Exited(code) => Err(ToolError::Failed(with(format!("Exit code {code}")))),
            Ending::Signalled(sig) => Err(ToolError::Failed(with(format!(
                "The command was killed by signal {sig}."
            )))),
            Ending::TimedOut => Err(ToolError::Failed(with(format!(
                "The command timed out after {} ms and was killed with all its child \
                 processes. Give a longer timeout (at most 600000 ms) or make it quicker.",
                timeout.as_millis()
            )))),
        }
    }
}

/// Runs `command` in `cwd`; stdout and stderr are merged in arrival order and capped
/// at `cap` bytes (start and end kept).
pub async fn run_command(
    command: &str,
    cwd: &Path,
    timeout: Duration,
    cap: usize,
) -> Result<CommandRun, ToolError> {
    let mut child = spawn_shell(command, cwd)?;
    let pgid = child.id();
    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    let mut buffer = HeadTail::new(cap);
    let mut out_chunk = vec![0u8; 8192];
    let mut err_chunk = vec![0u8; 8192];
    let mut status: Option<ExitStatus> = None;

    let deadline = tokio::time::sleep(timeout);
    tokio::pin!(deadline);
    // Armed only once the shell has exited.
    let grace = tokio::time::sleep(Duration::from_secs(365 * 24 * 3600));
    tokio::pin!(grace);

    let timed_out = loop {
        if status.is_some() && stdout.is_none() && stderr.is_none() {
            break false;
        }
        tokio::select! {
            n = read_some(&mut stdout, &mut out_chunk), if stdout.is_some() => match n {
                Some(n) => buffer.push(&out_chunk[..n]),
                None => stdout = None,
            },
            n = read_some(&mut stderr, &mut err_chunk), if stderr.is_some() => match n {
                Some(n) => buffer.push(&err_chunk[..n]),
                None => stderr = None,
            },
            exit = child.wait(), if status.is_none() => {
                let exit = exit.map_err(|e| ToolError::Failed(format!("waiting for the command failed: {e}")))?;
                status = Some(exit);
                grace.as_mut().reset(tokio::time::Instant::now() + DRAIN_GRACE);
            },
            _ = &mut grace, if status.is_some() => break false,
            _ = &mut deadline => break status.is_none(),
        }
    };

    if timed_out {
        kill_group(pgid, &mut child).await;
        return Ok(CommandRun {
            output: buffer.finish(),
            ending: Ending::TimedOut,
        });
    }
    let ending = match status {
        Some(s) => ending_of(s),
        // The deadline passed while output was still draining after exit.
        None => Ending::TimedOut,
    };
    Ok(CommandRun {
        output: buffer.finish(),
        ending,
    })
}

fn spawn_shell(command: &str, cwd: &Path) -> Result<Child, ToolError> {
    let mut last_error = None;
    for shell in ["bash", "sh"] {
        let mut cmd = Command::new(shell);
        cmd.arg("-c")
            .arg(command)
            .current_dir(cwd)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own process group, so a timeout can kill everything it started.
            .process_group(0)
            .kill_on_drop(true);
        for (name, _) in std::env::vars_os() {
            if is_secret_name(&name.to_string_lossy()) {
                cmd.env_remove(&name);
            }
        }
        match cmd.spawn() {
            Ok(child) => return Ok(child),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => last_error = Some(e),
            Err(e) => return Err(ToolError::Failed(format!("cannot start {shell}: {e}"))),
        }
    }
    Err(ToolError::Failed(format!(
        "no shell found (tried bash and sh): {}",
        last_error.map_or_else(String::new, |e| e.to_string())
    )))
}

/// The proxy's environment holds upstream credentials; like Codex's default shell
/// policy, variables whose names mention KEY, SECRET or TOKEN are not passed on, so a
/// model cannot read them with `env`.
fn is_secret_name(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    ["KEY", "SECRET", "TOKEN"].iter().any(|w| upper.contains(w))
}

async fn read_some<R: tokio::io::AsyncRead + Unpin>(
    reader: &mut Option<R>,
    chunk: &mut [u8],
) -> Option<usize> {
    let reader = reader.as_mut()?;
    match reader.read(chunk).await {
        Ok(0) | Err(_) => None,
        Ok(n) => Some(n),
    }
}

async fn kill_group(pgid: Option<u32>, child: &mut Child) {
    if let Some(pgid) = pgid.and_then(|p| libc::pid_t::try_from(p).ok()) {
        // SAFETY: killpg only sends a signal; the group id is our child's pid, which
        // we made a group leader with process_group(0) and have not reaped yet.
        unsafe {
            libc::killpg(pgid, libc::SIGKILL);
        }
    }
    let _ = child.start_kill();
    let _ = tokio::time::timeout(Duration::from_secs(2), child.wait()).await;
}

fn ending_of(status: ExitStatus) -> Ending {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => Ending::Exited(code),
        (None, Some(sig)) => Ending::Signalled(sig),
        (None, None) => Ending::Exited(-1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    async fn run(command: &str, timeout_ms: u64, cap: usize) -> CommandRun {
        let dir = std::env::temp_dir();
        run_command(command, &dir, Duration::from_millis(timeout_ms), cap)
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn merges_stdout_and_stderr_and_reports_exit_codes() {
        let got = run("echo out; echo err >&2; exit 3", 5000, 1000).await;
        assert_eq!(got.ending, Ending::Exited(3));
        assert!(
            got.output.contains("out\n") && got.output.contains("err\n"),
            "{got:?}"
        );
        let err = got
            .into_result(Duration::from_secs(5))
            .unwrap_err()
            .to_string();
        assert!(err.ends_with("Exit code 3"), "{err}");
        let ok = run("printf hi", 5000, 1000).await;
        assert_eq!(ok.into_result(Duration::ZERO).unwrap(), "hi");
        let quiet = run("true", 5000, 1000).await;
        assert_eq!(quiet.into_result(Duration::ZERO).unwrap(), "(no output)");
    }

    #[tokio::test]
    async fn runs_in_the_given_directory_with_no_stdin() {
        let dir = tempfile::tempdir().unwrap();
        let real = std::fs::canonicalize(dir.path()).unwrap();
        let got = run_command("pwd; cat; echo end", &real, Duration::from_secs(5), 1000)
            .await
            .unwrap();
        assert_eq!(got.output, format!("{}\nend\n", real.display()));
    }

    #[tokio::test]
    async fn timeout_kills_the_whole_process_group() {
        let start = Instant::now();
        let got = run("echo started; sleep 30 & sleep 30", 300, 1000).await;
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{:?}",
            start.elapsed()
        );
        assert_eq!(got.ending, Ending::TimedOut);
        let err = got
            .into_result(Duration::from_millis(300))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("started\n") && err.contains("timed out after 300 ms"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn a_background_job_does_not_hold_the_call_open() {
        let start = Instant::now();
        let got = run("sleep 3 & echo done", 20_000, 1000).await;
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "{:?}",
            start.elapsed()
        );
        assert_eq!(got.ending, Ending::Exited(0));
        assert_eq!(got.output, "done\n");
    }

    #[tokio::test]
    async fn output_is_capped_keeping_start_and_end() {
        let got = run("seq 1 100000", 10_000, 2000).await;
        assert!(got.output.starts_with("1\n2\n3\n"), "{}", &got.output[..50]);
        assert!(got.output.ends_with("99999\n100000\n"));
        assert!(got.output.contains("bytes of output truncated"));
        assert!(got.output.len() < 2300, "{}", got.output.len());
    }

    #[tokio::test]
    async fn signals_are_reported() {
        let got = run("kill -TERM $$", 5000, 1000).await;
        assert_eq!(got.ending, Ending::Signalled(libc::SIGTERM));
    }

    #[test]
    fn secret_looking_variables_are_recognised() {
        for name in ["OPENAI_API_KEY", "github_token", "AWS_SECRET_ACCESS_KEY"] {
            assert!(is_secret_name(name), "{name}");
        }
        for name in ["PATH", "HOME", "LANG"] {
            assert!(!is_secret_name(name), "{name}");
        }
    }
}
