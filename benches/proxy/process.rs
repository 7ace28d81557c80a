//! The proxy under test as a separate process, and what `/proc` says about it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::Res;

/// The release binary: `CODEX_PLUS_BIN`, else the one cargo built for this bench,
/// else `target/release/codex-plus` (built with `cargo build --release` if missing).
pub fn find_binary() -> Res<PathBuf> {
    if let Some(bin) = std::env::var_os("CODEX_PLUS_BIN") {
        let bin = PathBuf::from(bin);
        return if bin.is_file() {
            Ok(bin)
        } else {
            Err(format!("CODEX_PLUS_BIN={} is not a file", bin.display()).into())
        };
    }
    // Cargo builds the package's binaries for benches and tells us where.
    if let Some(bin) = option_env!("CARGO_BIN_EXE_codex-plus").map(PathBuf::from) {
        if bin.is_file() {
            return Ok(bin);
        }
    }
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let bin = manifest.join("target/release/codex-plus");
    if !bin.is_file() {
        eprintln!("building the release binary (cargo build --release) ...");
        let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(["build", "--release", "--bin", "codex-plus"])
            .current_dir(manifest)
            .status()?;
        if !status.success() {
            return Err("cargo build --release failed".into());
        }
    }
    Ok(bin)
}

/// The proxy process; killed when dropped, so it never outlives the bench.
pub struct Proxy {
    child: Child,
    pub addr: SocketAddr,
    pub log: PathBuf,
}

impl Proxy {
    /// Starts `codex-plus serve` on a free loopback port, its `/v1` going to `upstream`.
    /// Under `root`: `state/` is its `CODEX_PLUS_HOME` (log, ledger, CA) and `home/`
    /// an empty `HOME`, so no user-level Claude settings, agents, commands or hooks of
    /// the machine take part, and its own writes land outside every directory it
    /// watches. A config file named by `PROXY_BENCH_CONFIG` becomes its `config.toml`.
    pub fn spawn(bin: &Path, root: &Path, upstream: SocketAddr) -> Res<Proxy> {
        let (state, home) = (root.join("state"), root.join("home"));
        std::fs::create_dir_all(&state)?;
        std::fs::create_dir_all(&home)?;
        if let Some(config) = std::env::var_os("PROXY_BENCH_CONFIG") {
            std::fs::copy(&config, state.join("config.toml"))
                .map_err(|e| format!("PROXY_BENCH_CONFIG={}: {e}", Path::new(&config).display()))?;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let log = state.join("proxy.log");
        let child = Command::new(bin)
            .args(["serve", "--listen", &addr.to_string()])
            .args(["--openai-upstream", &format!("http://{upstream}")])
            .env("CODEX_PLUS_HOME", &state)
            .env("HOME", &home)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log)?)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
        Ok(Proxy { child, addr, log })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits until `GET /health` answers 200.
    pub async fn wait_ready(&mut self, limit: Duration) -> Res<()> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Err(format!(
                    "the proxy exited at start ({status}); its log: {}",
                    self.log.display()
                )
                .into());
            }
            if health(self.addr).await.unwrap_or(false) {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!("the proxy did not answer /health within {limit:?}").into());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Proxy {
    /// SIGTERM first (the proxy shuts down gracefully; a profiler wrapping it via
    /// `CODEX_PLUS_BIN` gets to write its data), SIGKILL after a few seconds.
    fn drop(&mut self) {
        if let Ok(pid) = libc::pid_t::try_from(self.child.id()) {
            // SAFETY: signalling our own child, which has not been reaped yet.
            unsafe { libc::kill(pid, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn health(addr: SocketAddr) -> Res<bool> {
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    // The proxy answers only its own Host (src/guard.rs).
    let probe = format!("GET /health HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n");
    s.write_all(probe.as_bytes()).await?;
    let mut head = [0u8; 12];
    s.read_exact(&mut head).await?;
    Ok(&head[9..12] == b"200")
}

/// CPU time (user + system, all threads, dead ones included) of a process.
pub fn cpu_time(pid: u32) -> Res<Duration> {
    let (user, system) = cpu_split(pid)?;
    Ok(user + system)
}

/// User and system CPU time of a process (`utime`, `stime` of /proc/PID/stat).
pub fn cpu_split(pid: u32) -> Res<(Duration, Duration)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name, which may hold spaces: utime and stime are 14 and 15.
    let rest = stat.rsplit_once(')').ok_or("odd /proc/pid/stat")?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| -> Res<Duration> {
        let n: u64 = f.get(i).ok_or("short /proc/pid/stat")?.parse()?;
        Ok(Duration::from_secs_f64(n as f64 / clock_ticks()))
    };
    Ok((ticks(11)?, ticks(12)?))
}

/// Our own process (client and mock).
pub fn own_cpu_time() -> Res<Duration> {
    cpu_time(std::process::id())
}

fn clock_ticks() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

/// `VmRSS` and `VmHWM` (peak) of a process, in KiB.
pub fn memory_kib(pid: u32) -> Res<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| -> Res<u64> {
        let line = status
            .lines()
            .find(|l| l.starts_with(name))
            .ok_or_else(|| format!("no {name} in /proc/{pid}/status"))?;
        Ok(line[name.len()..]
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()?)
    };
    Ok((field("VmRSS:")?, field("VmHWM:")?))
}

/// Open file descriptors of a process.
pub fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

/// Raises this process's open-file limit to `want` (or the hard limit); children inherit it.
pub fn raise_nofile(want: libc::rlim_t) -> Res<libc::rlim_t> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: a valid pointer to a rlimit struct.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(std::io::Error::last_os_error().into());
    }
    let target = want.min(lim.rlim_max);
    if lim.rlim_cur < target {
        lim.rlim_cur = target;
        // SAFETY: as above.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } != 0 {
            return Err(std::io::Error::last_os_error().into());
        }
    }
    Ok(lim.rlim_cur)
}

/// The 1, 5 and 15 minute load averages.
pub fn loadavg() -> [f64; 3] {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let mut it = text
        .split_whitespace()
        .map(|s| s.parse().unwrap_or(f64::NAN));
    [
        it.next().unwrap_or(f64::NAN),
        it.next().unwrap_or(f64::NAN),
        it.next().unwrap_or(f64::NAN),
    ]
}

/// CPU time all processes of the machine have used (busy, not idle/iowait).
pub fn machine_busy() -> Duration {
    let text = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let line = text.lines().next().unwrap_or("");
    let f: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|s| s.parse().unwrap_or(0))
        .collect();
    // user nice system idle iowait irq softirq steal
    let busy: u64 = f
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 3 && *i != 4 && *i < 8)
        .map(|(_, v)| v)
        .sum();
    Duration::from_secs_f64(busy as f64 / clock_ticks())
}
