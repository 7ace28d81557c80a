//! `proxy.sh` driving the real binary: start, idempotence, a busy port, stop, stale pid
//! files, logs, failed starts. Every proxy a test starts is stopped by a guard, also
//! when the test fails. Nothing is proxied: the upstreams point at a closed port.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed assumption is a failed test
#![cfg(target_os = "linux")]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/proxy.sh");
const BIN: &str = env!("CARGO_BIN_EXE_codex-plus");
/// Upper bound for one proxy.sh run; its own waits are shorter.
const RUN_LIMIT: Duration = Duration::from_secs(60);

/// What one proxy.sh run did.
#[derive(Debug)]
struct Outcome {
    code: i32,
    stdout: String,
    stderr: String,
}

/// A state directory and a port for one proxy; dropping it stops the proxy.
struct Proxy {
    home: tempfile::TempDir,
    port: u16,
    upstream: String,
    bin: PathBuf,
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

impl Proxy {
    fn new() -> Proxy {
        Proxy::with_bin(PathBuf::from(BIN))
    }

    fn with_bin(bin: PathBuf) -> Proxy {
        Proxy {
            home: tempfile::tempdir().unwrap(),
            port: free_port(),
            // Bound and released: nothing listens there.
            upstream: format!("http://127.0.0.1:{}", free_port()),
            bin,
        }
    }

    fn home(&self) -> &Path {
        self.home.path()
    }

    fn pid_file(&self) -> PathBuf {
        self.home().join("proxy.pid")
    }

    fn pid(&self) -> Option<u32> {
        std::fs::read_to_string(self.pid_file())
            .ok()
            .and_then(|s| s.trim().parse().ok())
    }

    /// Runs `proxy.sh args...` with this proxy's environment, bounded in time.
    fn run(&self, args: &[&str]) -> Outcome {
        let mut child = Command::new(SCRIPT)
            .args(args)
            .env("CODEX_PLUS_BIN", &self.bin)
            .env("CODEX_PLUS_HOME", self.home())
            .env("CODEX_PLUS_LISTEN", format!("127.0.0.1:{}", self.port))
            .env("CODEX_PLUS_OPENAI_UPSTREAM", &self.upstream)
            .env("CODEX_PLUS_CHATGPT_UPSTREAM", &self.upstream)
            .env("CODEX_PLUS_START_TIMEOUT", "20")
            .env_remove("CODEX_PLUS_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("proxy.sh runs");
        let stdout = drain(child.stdout.take().unwrap());
        let stderr = drain(child.stderr.take().unwrap());
        let deadline = Instant::now() + RUN_LIMIT;
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("proxy.sh {args:?} did not finish within {RUN_LIMIT:?}");
            }
            thread::sleep(Duration::from_millis(20));
        };
        Outcome {
            code: status.code().unwrap_or(-1),
            stdout: stdout.join().unwrap(),
            stderr: stderr.join().unwrap(),
        }
    }

    fn get(&self, path: &str) -> Option<(u16, String)> {
        http_get(self.port, path)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.run(&["disable"]);
        // Should disable itself have failed, the process must still not outlive the test.
        if let Some(pid) = self.pid().filter(|&p| alive(p)) {
            unsafe {
                libc::kill(pid as libc::pid_t, libc::SIGKILL);
            }
        }
    }
}

fn drain(mut pipe: impl Read + Send + 'static) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut text = String::new();
        let _ = pipe.read_to_string(&mut text);
        text
    })
}

/// A process that exists and is not a zombie.
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| !rest.starts_with('Z')),
        Err(_) => false,
    }
}

fn wait_until_gone(pid: u32) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while alive(pid) {
        if Instant::now() > deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(20));
    }
    true
}

/// A minimal HTTP/1.1 GET: status code and body.
fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let code = response.split(' ').nth(1)?.parse().ok()?;
    let body = response.split_once("\r\n\r\n")?.1.to_string();
    Some((code, body))
}

#[test]
fn enable_status_logs_disable_round_trip() {
    let proxy = Proxy::new();

    let out = proxy.run(&["enable"]);
    assert_eq!(out.code, 0, "{out:?}");
    let pid = proxy.pid().expect("enable writes the pid file");
    assert!(alive(pid), "pid {pid} from the pid file is running");
    assert!(
        out.stdout.contains(&format!("started (pid {pid})")),
        "{out:?}"
    );
    let (code, body) = proxy.get("/health").expect("the proxy answers");
    assert_eq!(code, 200);
    assert!(body.contains("\"status\":\"ok\""), "{body}");

    let out = proxy.run(&["status"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout.contains(&format!("running (pid {pid})")),
        "{out:?}"
    );
    assert!(
        out.stdout.contains(&format!("127.0.0.1:{}", proxy.port)),
        "{out:?}"
    );
    // The /status JSON, pretty or not, carries the same pid.
    assert!(
        out.stdout.contains(&format!("\"pid\": {pid}"))
            || out.stdout.contains(&format!("\"pid\":{pid}")),
        "{out:?}"
    );

    let out = proxy.run(&["enable"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("already running"), "{out:?}");
    assert_eq!(proxy.pid(), Some(pid), "a second enable starts nothing");

    let out = proxy.run(&["logs"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("codex-plus listening"), "{out:?}");
    assert!(!out.stdout.contains('\u{1b}'), "no colour codes in the log");

    let out = proxy.run(&["disable"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout.contains(&format!("stopped (pid {pid})")),
        "{out:?}"
    );
    assert!(wait_until_gone(pid), "pid {pid} exited");
    assert!(!proxy.pid_file().exists(), "disable removes the pid file");
    assert!(proxy.get("/health").is_none(), "nothing answers any more");

    let out = proxy.run(&["status"]);
    assert_eq!(out.code, 3, "{out:?}");
    assert!(out.stdout.contains("not running"), "{out:?}");

    let out = proxy.run(&["disable"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("not running"), "{out:?}");
}

#[test]
fn restart_replaces_the_process() {
    let proxy = Proxy::new();
    assert_eq!(proxy.run(&["enable"]).code, 0);
    let first = proxy.pid().unwrap();

    let out = proxy.run(&["restart"]);
    assert_eq!(out.code, 0, "{out:?}");
    let second = proxy.pid().unwrap();
    assert_ne!(first, second);
    assert!(wait_until_gone(first));
    assert!(alive(second));
    assert_eq!(proxy.get("/health").map(|(c, _)| c), Some(200));
}

#[test]
fn a_busy_port_is_refused_naming_the_holder() {
    let mut proxy = Proxy::new();
    // Held from the start: a port picked free and bound again could be taken between.
    let holder = TcpListener::bind("127.0.0.1:0").unwrap();
    proxy.port = holder.local_addr().unwrap().port();

    let out = proxy.run(&["enable"]);
    assert_ne!(out.code, 0, "{out:?}");
    assert!(
        out.stderr.contains(&format!("port {} ", proxy.port)),
        "{out:?}"
    );
    // The holder is this test process.
    assert!(
        out.stderr
            .contains(&format!("held by pid {}", std::process::id())),
        "{out:?}"
    );
    assert!(
        !proxy.pid_file().exists(),
        "no pid file for a refused start"
    );
    drop(holder);
}

#[test]
fn stale_pid_files_are_cleaned() {
    let proxy = Proxy::new();

    // A pid that no longer exists.
    let mut gone = Command::new("true").spawn().unwrap();
    let gone_pid = gone.id();
    gone.wait().unwrap();
    std::fs::write(proxy.pid_file(), format!("{gone_pid}\n")).unwrap();
    let out = proxy.run(&["status"]);
    assert_eq!(out.code, 3, "{out:?}");
    assert!(out.stderr.contains("stale pid file"), "{out:?}");
    assert!(!proxy.pid_file().exists());

    // A pid reused by another program: this test, which is no codex-plus.
    std::fs::write(proxy.pid_file(), format!("{}\n", std::process::id())).unwrap();
    let out = proxy.run(&["disable"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stderr.contains("another program"), "{out:?}");
    assert!(out.stdout.contains("not running"), "{out:?}");
    assert!(!proxy.pid_file().exists());

    // And enable goes ahead over a stale file.
    std::fs::write(proxy.pid_file(), format!("{gone_pid}\n")).unwrap();
    let out = proxy.run(&["enable"]);
    assert_eq!(out.code, 0, "{out:?}");
    let pid = proxy.pid().unwrap();
    assert_ne!(pid, gone_pid);
    assert!(alive(pid));
}

#[test]
fn a_failed_start_shows_the_log_and_leaves_no_pid_file() {
    let proxy = Proxy::new();
    // A CA that cannot be read makes `serve` exit after the configuration loaded.
    let ca = proxy.home().join("ca");
    std::fs::create_dir_all(&ca).unwrap();
    std::fs::write(ca.join("ca.pem"), "not a certificate").unwrap();
    std::fs::write(ca.join("ca-key.pem"), "not a key").unwrap();
    std::fs::set_permissions(
        ca.join("ca-key.pem"),
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();

    let out = proxy.run(&["enable"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("exited while starting"), "{out:?}");
    assert!(out.stderr.contains("certificate"), "the log tail: {out:?}");
    assert!(!proxy.pid_file().exists());
}

#[test]
fn a_bad_configuration_is_reported_before_starting() {
    let proxy = Proxy::new();
    std::fs::write(
        proxy.home().join("config.toml"),
        "[server]\nlisen = \"127.0.0.1:1\"\n",
    )
    .unwrap();
    let out = proxy.run(&["enable"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("lisen"), "{out:?}");
    assert!(!proxy.pid_file().exists());
    assert!(
        !proxy.home().join("proxy.log").exists(),
        "nothing was started"
    );
}

#[test]
fn logs_and_usage_without_a_proxy() {
    let proxy = Proxy::new();
    let out = proxy.run(&["logs"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("no log yet"), "{out:?}");

    let out = proxy.run(&["logs", "-x"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("unknown option '-x'"), "{out:?}");

    let out = proxy.run(&["frobnicate"]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("proxy.sh enable"), "usage: {out:?}");

    let missing = Proxy::with_bin(proxy.home().join("no-such-binary"));
    let out = missing.run(&["enable"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("CODEX_PLUS_BIN"), "{out:?}");
}

/// A stand-in `codex-plus` that ignores SIGTERM, to prove `disable` escalates. Its
/// command line reads `<dir>/codex-plus ... serve`, as the real one's does.
fn stubborn_binary(dir: &Path, port: u16, python: &str) -> PathBuf {
    let path = dir.join("codex-plus");
    let server = format!(
        r#"
import http.server, json, os, signal
signal.signal(signal.SIGTERM, signal.SIG_IGN)
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({{"status": "ok", "pid": os.getpid()}}, separators=(",", ":")).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
http.server.HTTPServer(("127.0.0.1", {port}), H).serve_forever()
"#
    );
    let script = format!(
        "#!/usr/bin/env bash\n\
         case \"$1 $3\" in\n\
         'config server.listen') echo 127.0.0.1:{port} ;;\n\
         'config server.shutdown_grace_secs') echo 0 ;;\n\
         'serve '*) exec -a \"$0\" {python} -c '{server}' serve ;;\n\
         *) exit 64 ;;\n\
         esac\n"
    );
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    path
}

#[test]
fn disable_kills_a_proxy_that_ignores_sigterm() {
    // The interpreter's real path: a launcher shim would re-exec under its own name.
    let python = Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    let Some(python) = python.filter(|p| !p.is_empty()) else {
        eprintln!("skipped: no python3 to play a stubborn proxy");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut proxy = Proxy::new();
    proxy.bin = stubborn_binary(dir.path(), proxy.port, &python);

    let out = proxy.run(&["enable"]);
    assert_eq!(out.code, 0, "{out:?}");
    let pid = proxy.pid().unwrap();

    let started = Instant::now();
    let out = proxy.run(&["disable"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("was killed"), "{out:?}");
    // Grace 0 s plus the 5 s margin, then SIGKILL.
    assert!(started.elapsed() >= Duration::from_secs(5));
    assert!(wait_until_gone(pid));
    assert!(!proxy.pid_file().exists());
}
