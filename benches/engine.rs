//! The agent engine's costs, each next to its target. Run: `cargo bench --bench engine`.
//!
//! - dispatch overhead: `spawn` called → the first model request arrives at a local
//!   mock model (ledger row, agent lookup, policy, prompt, HTTP send included);
//! - 10 tasks whose model takes 1 s, limit 10: total wall time;
//! - 100 such tasks, limit 10: total wall time (ten rounds);
//! - memory per running subagent: RSS growth with 200 subagents parked in a model
//!   call (the mock runs in a child process so its memory is not counted);
//! - loading 200 agent files with a fresh `AgentSet::load`;
//! - the OS sandbox's start-up cost per Bash call: `true` through `run_command`,
//!   unconfined and under workspace-write (alone: `cargo bench --bench engine -- sandbox`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed assumption is a failed test

#[path = "../tests/engine_mock/mod.rs"]
mod engine_mock;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use codex_plus::claude::{AgentSet, Roots};
use codex_plus::engine::access::SandboxMode;
use codex_plus::engine::tools::bash::{run_command, Ending};
use codex_plus::engine::tools::sandbox::{self, Prepared, SandboxPolicy};
use codex_plus::engine::TaskStatus;
use engine_mock::{text, Harness, MockModel, Reply, Step};
use futures_util::future::join_all;

/// Set in the child process that serves as the parked subagents' model.
const MOCK_ENV: &str = "ENGINE_BENCH_HANGING_MOCK";

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    if std::env::var_os(MOCK_ENV).is_some() {
        runtime.block_on(hanging_mock());
        return;
    }
    if std::env::args().skip(1).any(|a| a == "sandbox") {
        print_rows(runtime.block_on(sandbox_start_up(SANDBOX_RUNS)));
        return;
    }
    let mut rows: Vec<(&str, String, &str)> = Vec::new();
    // The same measure on one thread: the engine's own work, without the hops
    // between worker threads (which a loaded machine makes slow).
    let single = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let one_thread = single.block_on(dispatch_overhead(500));
    drop(single);
    runtime.block_on(async {
        let d = dispatch_overhead(500).await;
        rows.push((
            "dispatch overhead p50 (spawn → model request)",
            ms(d.p50),
            "-",
        ));
        rows.push(("dispatch overhead p99", ms(d.p99), "< 1 ms"));
        rows.push(("  spawn() call itself, p99", ms(d.spawn_p99), "-"));
        rows.push((
            "dispatch overhead p50, one-thread runtime",
            ms(one_thread.p50),
            "-",
        ));
        rows.push((
            "dispatch overhead p99, one-thread runtime",
            ms(one_thread.p99),
            "< 1 ms",
        ));
        let ten = wall_time(10, 10).await;
        rows.push(("10 tasks × 1 s model, limit 10", secs(ten), "< 1.1 s"));
        let hundred = wall_time(100, 10).await;
        rows.push(("100 tasks × 1 s model, limit 10", secs(hundred), "≈ 10 s"));
        let per_task = memory_per_parked_subagent(200).await;
        rows.push((
            "memory per running subagent (200 parked)",
            format!("{:.3} MB", per_task / (1024.0 * 1024.0)),
            "< 2 MB",
        ));
    });
    let (best, median) = load_agent_files(200, 7);
    rows.push((
        "load 200 agent files, fresh AgentSet::load (median)",
        ms(median),
        "< 20 ms",
    ));
    rows.push(("load 200 agent files (best of 7)", ms(best), "-"));
    rows.extend(runtime.block_on(sandbox_start_up(SANDBOX_RUNS)));
    print_rows(rows);
}

/// Mean time to spawn and reap `bash -c true` with posix_spawn (what an unconfined
/// call uses) and with fork (what a `pre_exec` step, such as the sandbox's, forces).
async fn spawn_ways(n: usize) -> (Duration, Duration) {
    let once = |fork: bool| async move {
        let mut command = tokio::process::Command::new("bash");
        command.args(["-c", "true"]).stdin(Stdio::null());
        if fork {
            // SAFETY: the closure makes one system call and touches no memory.
            unsafe {
                command.pre_exec(|| {
                    libc::setsid();
                    Ok(())
                });
            }
        } else {
            command.process_group(0);
        }
        let started = Instant::now();
        let out = command.output().await.expect("bash runs");
        assert!(out.status.success());
        started.elapsed()
    };
    let (mut spawned, mut forked) = (Duration::ZERO, Duration::ZERO);
    for _ in 0..n {
        spawned += once(false).await;
        forked += once(true).await;
    }
    (spawned / n as u32, forked / n as u32)
}

fn print_rows(rows: Vec<(&str, String, &str)>) {
    println!("\n{:<55} {:>12}   target", "measure", "measured");
    println!("{}", "-".repeat(80));
    for (name, value, target) in rows {
        println!("{name:<55} {value:>12}   {target}");
    }
}

/// Bash calls timed per sandbox setting.
const SANDBOX_RUNS: usize = 500;

/// What the OS sandbox adds to one Bash call: `true` through `run_command`, unconfined
/// and under workspace-write, interleaved so the machine's drift hits both alike.
async fn sandbox_start_up(n: usize) -> Vec<(&'static str, String, &'static str)> {
    if let Err(e) = sandbox::support() {
        return vec![("bash sandbox start-up", format!("n/a: {e}"), "-")];
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let unconfined = SandboxPolicy::Unconfined;
    let confined = SandboxPolicy::for_session(
        SandboxMode::WorkspaceWrite,
        &[dir.path().to_path_buf()],
        false,
    );
    let path = dir.path();
    let time = |policy| async move {
        let started = Instant::now();
        let run = run_command("true", path, policy, Duration::from_secs(10), 1000)
            .await
            .expect("runs");
        assert_eq!(run.ending, Ending::Exited(0), "{}", run.output);
        started.elapsed()
    };
    for _ in 0..20 {
        time(&unconfined).await;
        time(&confined).await;
    }
    let (mut free, mut boxed) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for _ in 0..n {
        free.push(time(&unconfined).await);
        boxed.push(time(&confined).await);
    }
    let SandboxPolicy::Confined(confinement) = &confined else {
        return vec![("bash sandbox start-up", "n/a: unconfined".into(), "-")];
    };
    let started = Instant::now();
    for _ in 0..n {
        Prepared::new(confinement).expect("sandbox");
    }
    let prepare = started.elapsed() / n as u32;
    let (spawned, forked) = spawn_ways(n).await;
    free.sort();
    boxed.sort();
    let mean = |v: &[Duration]| v.iter().sum::<Duration>() / v.len() as u32;
    let (free_mean, boxed_mean) = (mean(&free), mean(&boxed));
    let (free_p99, boxed_p99) = (percentile(&free, 0.99), percentile(&boxed, 0.99));
    vec![
        ("bash `true`, unconfined: mean", ms(free_mean), "-"),
        ("bash `true`, unconfined: p99", ms(free_p99), "-"),
        (
            "bash `true`, workspace-write sandbox: mean",
            ms(boxed_mean),
            "-",
        ),
        (
            "bash `true`, workspace-write sandbox: p99",
            ms(boxed_p99),
            "-",
        ),
        (
            "sandbox start-up per call (difference of means)",
            ms(boxed_mean.saturating_sub(free_mean)),
            "-",
        ),
        (
            "sandbox start-up per call (difference of p99s)",
            ms(boxed_p99.saturating_sub(free_p99)),
            "-",
        ),
        ("  of which building the ruleset, mean", ms(prepare), "-"),
        (
            "  of which fork() instead of posix_spawn, mean",
            ms(forked.saturating_sub(spawned)),
            "-",
        ),
    ]
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}

fn secs(d: Duration) -> String {
    format!("{:.3} s", d.as_secs_f64())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

/// Percentiles of the dispatch overhead, and of the synchronous `spawn` call in it.
struct Dispatch {
    p50: Duration,
    p99: Duration,
    spawn_p99: Duration,
}

async fn dispatch_overhead(n: usize) -> Dispatch {
    let mock = MockModel::start(|_| Step::now(text("done"))).await;
    let h = Harness::watching(&mock.url, |c| c.tasks.max_concurrent = 10);
    h.agent("bench", "tools: Read, Grep, Glob\n", "You answer at once.");
    // Warm up: connections, the agent catalog, the ledger.
    for i in 0..20 {
        h.engine
            .task(h.request("bench", &format!("warm {i}")))
            .await;
    }
    let mut samples = Vec::with_capacity(n);
    let mut spawns = Vec::with_capacity(n);
    for i in 0..n {
        let before = mock.count();
        let request = h.request("bench", &format!("bench {i}"));
        let accepted = Instant::now();
        let handle = h.engine.spawn(request);
        spawns.push(accepted.elapsed());
        let result = handle.result().await;
        assert_eq!(result.status, TaskStatus::Completed, "{:?}", result.error);
        let seen = mock.request(before).expect("the model was called");
        samples.push(seen.at.duration_since(accepted));
    }
    samples.sort();
    spawns.sort();
    Dispatch {
        p50: percentile(&samples, 0.5),
        p99: percentile(&samples, 0.99),
        spawn_p99: percentile(&spawns, 0.99),
    }
}

async fn wall_time(tasks: usize, limit: usize) -> Duration {
    let mock = MockModel::start(|_| Step::after(Duration::from_secs(1), text("done"))).await;
    let h = Harness::watching(&mock.url, |c| c.tasks.max_concurrent = limit);
    let started = Instant::now();
    let handles: Vec<_> = (0..tasks)
        .map(|i| h.engine.spawn(h.request("Explore", &format!("task {i}"))))
        .collect();
    let results = join_all(handles.into_iter().map(|h| h.result())).await;
    let took = started.elapsed();
    assert!(results.iter().all(|r| r.status == TaskStatus::Completed));
    assert!(mock.max_in_flight() <= limit);
    took
}

/// Bytes of resident memory each subagent adds while it waits on its model.
async fn memory_per_parked_subagent(n: usize) -> f64 {
    let (mut child, url) = start_hanging_mock();
    let h = Harness::watching(&url, |c| c.tasks.max_concurrent = n);
    // Warm up one complete path (a different model answers quickly).
    let quick = MockModel::start(|_| Step::now(text("done"))).await;
    let warm = Harness::watching(&quick.url, |_| {});
    for i in 0..20 {
        warm.engine
            .task(warm.request("Explore", &format!("warm {i}")))
            .await;
    }
    let client = reqwest::Client::new();
    let count = || async {
        client
            .get(format!("{url}/count"))
            .send()
            .await
            .ok()?
            .text()
            .await
            .ok()?
            .parse::<usize>()
            .ok()
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = rss_bytes();
    let handles: Vec<_> = (0..n)
        .map(|i| h.engine.spawn(h.request("Explore", &format!("park {i}"))))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(20);
    while count().await.unwrap_or(0) < n && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let parked = count().await.unwrap_or(0);
    assert_eq!(parked, n, "every subagent reached its model call");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let after = rss_bytes();
    for handle in &handles {
        h.engine.cancel(&handle.id);
    }
    join_all(handles.into_iter().map(|h| h.result())).await;
    let _ = child.kill();
    let _ = child.wait();
    after.saturating_sub(before) as f64 / n as f64
}

/// This benchmark binary again, as a model that never answers; returns its URL.
fn start_hanging_mock() -> (Child, String) {
    let mut child = Command::new(std::env::current_exe().expect("own path"))
        .env(MOCK_ENV, "1")
        .stdout(Stdio::piped())
        .spawn()
        .expect("mock process");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("mock url");
    (child, line.trim().to_string())
}

/// The child process: parks every model call forever; `GET /count` says how many.
async fn hanging_mock() {
    let parked = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&parked);
    let mock = MockModel::start(move |seen| {
        if seen.uri.starts_with("/count") {
            Step::now(Reply::Page(counter.load(Ordering::SeqCst).to_string()))
        } else {
            counter.fetch_add(1, Ordering::SeqCst);
            Step::now(Reply::Hang)
        }
    })
    .await;
    println!("{}", mock.url);
    std::future::pending::<()>().await;
}

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    // SAFETY: sysconf only reads a system constant.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    pages * u64::try_from(page).unwrap_or(4096)
}

/// (best, median) time of a fresh `AgentSet::load` over `n` agent files.
fn load_agent_files(n: usize, runs: usize) -> (Duration, Duration) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("ws/.claude/agents");
    std::fs::create_dir_all(&dir).expect("dir");
    for i in 0..n {
        std::fs::write(
            dir.join(format!("agent-{i}.md")),
            format!(
                "---\nname: agent-{i}\ndescription: Agent number {i}; use it for task kind {i}\ntools: Read, Grep, Glob, Bash\nmodel: sonnet\nmaxTurns: 20\n---\nYou are agent {i}. Do the task you are given and report back.\n\n## Steps\n1. Read the code.\n2. Answer.\n"
            ),
        )
        .expect("agent file");
    }
    let roots = Roots::with_home(tmp.path().join("home"));
    let ws = tmp.path().join("ws");
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let started = Instant::now();
            let set = AgentSet::load(&ws, &roots);
            let took = started.elapsed();
            assert_eq!(set.agents().len(), n + 3);
            took
        })
        .collect();
    times.sort();
    (times[0], times[times.len() / 2])
}
