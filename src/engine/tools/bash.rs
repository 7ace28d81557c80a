//! `Bash`: run a shell command in the workspace with a timeout and an output cap,
//! under the OS sandbox of the session's sandbox mode (`sandbox.rs`).

use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::io::AsyncReadExt;
use tokio::process::{Child, Command};

use super::input::{opt_u64, parse};
use super::output::HeadTail;
use super::sandbox::{refused, Prepared, SandboxPolicy};
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
        let sandbox = SandboxPolicy::for_session(ctx.access.sandbox(), &ctx.roots, ctx.network);
        let cap = ctx.limits.output_cap;
        let run = run_command(&input.command, &ctx.cwd, &sandbox, timeout, cap).await?;
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

/// Runs `command` in `cwd` under `sandbox`; stdout and stderr are merged in arrival
/// order and capped at `cap` bytes (start and end kept). A confined command that
/// cannot be confined here is refused, never run.
pub async fn run_command(
    command: &str,
    cwd: &Path,
    sandbox: &SandboxPolicy,
    timeout: Duration,
    cap: usize,
) -> Result<CommandRun, ToolError> {
    let confined = match sandbox {
        SandboxPolicy::Unconfined => None,
        SandboxPolicy::Confined(c) => {
            Some(Arc::new(Prepared::new(c).map_err(|e| refused(c.mode, &e))?))
        }
    };
    let mut child = spawn_shell(command, cwd, confined.as_ref())?;
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

fn spawn_shell(
    command: &str,
    cwd: &Path,
    sandbox: Option<&Arc<Prepared>>,
) -> Result<Child, ToolError> {
    let mut last_error = None;
    for shell in ["bash", "sh"] {
        let mut cmd = Command::new(shell);
        cmd.arg("-c")
            .arg(command)
            .current_dir(cwd)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        // Its own process group, so a timeout can kill everything it started (the
        // sandbox gives it a session of its own, which is one too).
        match sandbox {
            Some(sandbox) => Arc::clone(sandbox).install(&mut cmd),
            None => {
                cmd.process_group(0);
            }
        }
        for (name, _) in std::env::vars_os() {
            if is_secret_name(&name.to_string_lossy()) {
                cmd.env_remove(&name);
            }
        }
        match cmd.spawn() {
            Ok(child) => return Ok(child),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => last_error = Some(e),
            Err(e) if sandbox.is_some() => {
                return Err(ToolError::Failed(format!(
                    "cannot start {shell} in the sandbox: {e}"
                )))
            }
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
        let policy = SandboxPolicy::Unconfined;
        run_command(
            command,
            &dir,
            &policy,
            Duration::from_millis(timeout_ms),
            cap,
        )
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
        let policy = SandboxPolicy::Unconfined;
        let got = run_command(
            "pwd; cat; echo end",
            &real,
            &policy,
            Duration::from_secs(5),
            1000,
        )
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

    mod sandboxed {
        use super::*;
        use crate::engine::access::SandboxMode;
        use crate::engine::tools::sandbox::{self, temp_dirs, SandboxError};

        /// A directory outside /tmp and $TMPDIR, which workspace-write may write to:
        /// a write refused there is the sandbox's doing. The repository may itself be
        /// under /tmp (a CI clone): the first usable of its `target/`, `/var/tmp` and
        /// `~/.cache` (as `tests/support`'s `outside_temp_dirs`).
        fn scratch() -> tempfile::TempDir {
            let candidates = [
                Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("target/sandbox-tests")),
                Some(std::path::PathBuf::from(
                    "/var/tmp/codex-plus-sandbox-tests",
                )),
                dirs::home_dir().map(|h| h.join(".cache/codex-plus-sandbox-tests")),
            ];
            let temps = temp_dirs();
            let base = candidates
                .into_iter()
                .flatten()
                .filter(|b| std::fs::create_dir_all(b).is_ok())
                .filter_map(|b| std::fs::canonicalize(b).ok())
                .find(|b| !temps.iter().any(|t| b.starts_with(t)))
                .unwrap_or_else(|| panic!("no directory outside the temp dirs {temps:?}"));
            tempfile::tempdir_in(base).unwrap()
        }

        fn policy(mode: SandboxMode, root: &Path, network: bool) -> SandboxPolicy {
            SandboxPolicy::for_session(mode, &[root.to_path_buf()], network)
        }

        async fn sh(
            command: &str,
            cwd: &Path,
            policy: &SandboxPolicy,
        ) -> Result<CommandRun, ToolError> {
            run_command(command, cwd, policy, Duration::from_secs(20), 10_000).await
        }

        async fn ok(command: &str, cwd: &Path, policy: &SandboxPolicy) -> String {
            let run = sh(command, cwd, policy).await.unwrap();
            assert_eq!(run.ending, Ending::Exited(0), "{command}: {run:?}");
            run.output
        }

        async fn refused_by_os(command: &str, cwd: &Path, policy: &SandboxPolicy, errno: &str) {
            let run = sh(command, cwd, policy).await.unwrap();
            assert_ne!(run.ending, Ending::Exited(0), "{command}: {run:?}");
            assert!(run.output.contains(errno), "{command}: {run:?}");
        }

        /// Without a usable Landlock, a confined command is refused with the reason.
        fn assert_refusal(result: Result<CommandRun, ToolError>, why: &SandboxError) {
            let text = result.unwrap_err().to_string();
            assert!(text.contains(&why.to_string()), "{text}");
            assert!(text.contains("danger-full-access"), "{text}");
        }

        #[tokio::test]
        async fn workspace_write_writes_only_inside_the_roots_and_temp_dirs() {
            let (root, outside) = (scratch(), scratch());
            let (root, outside) = (root.path(), outside.path());
            let control = outside.join("control.txt");
            let escape = outside.join("escape.txt");
            // Unconfined, the outside directory is writable: what fails below is the sandbox.
            let write_control = format!("echo x > '{}'", control.display());
            ok(&write_control, root, &SandboxPolicy::Unconfined).await;

            let ws = policy(SandboxMode::WorkspaceWrite, root, false);
            let escaping = format!("echo x > '{}'", escape.display());
            match sandbox::support() {
                Ok(_) => {
                    refused_by_os(&escaping, root, &ws, "Permission denied").await;
                    let control = control.display();
                    refused_by_os(&format!("rm '{control}'"), root, &ws, "Permission denied").await;
                    refused_by_os(
                        &format!("truncate -s 0 '{control}'"),
                        root,
                        &ws,
                        "Permission denied",
                    )
                    .await;
                    let inside =
                        "echo in > a.txt && mkdir -p d/e && mv a.txt d/e/ && cat d/e/a.txt";
                    assert_eq!(ok(inside, root, &ws).await, "in\n");
                    assert_eq!(
                        std::fs::read_to_string(root.join("d/e/a.txt")).unwrap(),
                        "in\n"
                    );
                    let temp = r#"f=$(mktemp) && echo t > "$f" && cat "$f" && rm "$f" && echo x > /dev/null"#;
                    assert_eq!(ok(temp, root, &ws).await, "t\n");
                }
                Err(why) => assert_refusal(sh(&escaping, root, &ws).await, &why),
            }
            assert!(!escape.exists());
            assert_eq!(std::fs::read_to_string(&control).unwrap(), "x\n");
        }

        #[tokio::test]
        async fn read_only_writes_nowhere_but_device_nodes() {
            let root = scratch();
            let root = root.path();
            let ro = policy(SandboxMode::ReadOnly, root, false);
            let in_tmp = format!("/tmp/codex-plus-read-only-{}", std::process::id());
            match sandbox::support() {
                Ok(_) => {
                    refused_by_os("echo x > inside.txt", root, &ro, "Permission denied").await;
                    refused_by_os(
                        &format!("echo x > {in_tmp}"),
                        root,
                        &ro,
                        "Permission denied",
                    )
                    .await;
                    refused_by_os("mkdir sub", root, &ro, "Permission denied").await;
                    // Reads stay allowed everywhere.
                    let reads =
                        "ls / > /dev/null && head -c 1 /etc/hostname > /dev/null && echo read";
                    assert_eq!(ok(reads, root, &ro).await, "read\n");
                }
                Err(why) => assert_refusal(sh("echo x > inside.txt", root, &ro).await, &why),
            }
            assert!(!root.join("inside.txt").exists());
            assert!(!root.join("sub").exists());
            assert!(!Path::new(&in_tmp).exists());
        }

        #[tokio::test]
        async fn the_network_is_restricted_unless_the_session_allows_it() {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let port = listener.local_addr().unwrap().port();
            let root = scratch();
            let root = root.path();
            let connect = format!("exec 3<>/dev/tcp/127.0.0.1/{port} && echo connected");
            let free = policy(SandboxMode::DangerFullAccess, root, false);
            assert_eq!(ok(&connect, root, &free).await, "connected\n");
            let closed = policy(SandboxMode::WorkspaceWrite, root, false);
            match sandbox::support() {
                Ok(_) => {
                    refused_by_os(&connect, root, &closed, "Operation not permitted").await;
                    // Unix sockets by path too (a session bus or a Docker socket).
                    let sock = root.join("s.sock");
                    let _server = std::os::unix::net::UnixListener::bind(&sock).unwrap();
                    let unix = format!(
                        "python3 -c 'import socket; s = socket.socket(socket.AF_UNIX); s.connect(\"{}\")'",
                        sock.display()
                    );
                    let python = "command -v python3 > /dev/null && echo y || echo n";
                    if ok(python, root, &free).await == "y\n" {
                        assert_eq!(
                            ok(&format!("{unix} && echo connected"), root, &free).await,
                            "connected\n"
                        );
                        refused_by_os(&unix, root, &closed, "Operation not permitted").await;
                    }
                    let open = policy(SandboxMode::WorkspaceWrite, root, true);
                    assert_eq!(ok(&connect, root, &open).await, "connected\n");
                }
                Err(why) => assert_refusal(sh(&connect, root, &closed).await, &why),
            }
        }

        #[tokio::test]
        async fn a_confined_command_cannot_signal_the_proxy_and_dies_whole_on_timeout() {
            let root = scratch();
            let root = root.path();
            let ws = policy(SandboxMode::WorkspaceWrite, root, false);
            let abi = match sandbox::support() {
                Ok(abi) => abi,
                Err(why) => return assert_refusal(sh("true", root, &ws).await, &why),
            };
            let signal = format!("kill -0 {}", std::process::id());
            ok(&signal, root, &SandboxPolicy::Unconfined).await;
            if abi >= 6 {
                refused_by_os(&signal, root, &ws, "not permitted").await;
            }
            // setsid: the shell leads its own session and process group.
            let ids = ok("ps -o sid= -o pgid= -p $$; echo $$", root, &ws).await;
            let numbers: Vec<&str> = ids.split_whitespace().collect();
            assert_eq!(numbers.len(), 3, "{ids}");
            assert!(numbers.iter().all(|n| *n == numbers[2]), "{ids}");

            let start = Instant::now();
            let command = "sleep 30 & echo $! > bg.pid; sleep 30";
            let got = run_command(command, root, &ws, Duration::from_millis(300), 1000)
                .await
                .unwrap();
            assert_eq!(got.ending, Ending::TimedOut);
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "{:?}",
                start.elapsed()
            );
            let pid = std::fs::read_to_string(root.join("bg.pid")).unwrap();
            let proc = Path::new("/proc").join(pid.trim());
            let gone = Instant::now();
            while proc.join("stat").exists() && gone.elapsed() < Duration::from_secs(3) {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            // Killed; at most a zombie until its new parent reaps it.
            let state = std::fs::read_to_string(proc.join("stat")).unwrap_or_default();
            assert!(state.is_empty() || state.contains(") Z"), "{state}");
        }
    }
}
