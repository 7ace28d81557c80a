//! The proxy benchmark: `cargo bench --bench proxy` (`-- --quick` for a short smoke
//! run, `-- --only 1,4` for some phases, `-- --dashboard` with the dashboard's event
//! stream open for the whole run).
//!
//! One run starts an in-process mock upstream (`proxy/mock.rs`), starts the release
//! `codex-plus serve` as a separate process pointed at it, and measures DIRECT
//! (client → mock) against PROXY (client → proxy → mock), interleaving the two so
//! machine drift hits both alike. It prints a table of figures with their targets
//! and writes them to `target/bench-proxy.json`. docs/benchmarks.md explains each one.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed assumption is a failed test

#[path = "proxy/bodies.rs"]
mod bodies;
#[path = "proxy/checks.rs"]
mod checks;
#[path = "proxy/client.rs"]
mod client;
#[path = "proxy/dashboard.rs"]
mod dashboard;
#[path = "proxy/mock.rs"]
mod mock;
#[path = "proxy/phases.rs"]
mod phases;
#[path = "proxy/process.rs"]
mod process;
#[path = "proxy/report.rs"]
mod report;
#[path = "proxy/request_check.rs"]
mod request_check;
#[path = "proxy/stats.rs"]
mod stats;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::{json, Value};

use mock::{Mock, Scenario, Template};
use phases::{
    latency_row, per_request, Shared, Target, BODY_16K, BODY_4M_PLAIN, BODY_4M_SESSION,
    CONCURRENCY, ERRORS, GAP_EVENTS, GAP_US, MISMATCH, SENT, STREAM,
};
use report::Row;

pub type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// How much of everything one run does; `--quick` scales it down.
struct Plan {
    quick: bool,
    warmup: usize,
    rounds_16k: usize,
    rounds_4m: usize,
    gap_rounds: usize,
    slices: usize,
    slice: Duration,
    idle_streams: usize,
    /// Upper bound for any one phase.
    phase_limit: Duration,
    /// Only these phases (`--only 1,4`); all when empty.
    only: Vec<String>,
    /// Keep the dashboard's event stream open on the proxy (`--dashboard`, or
    /// `PROXY_BENCH_DASHBOARD=1`).
    dashboard: bool,
}

impl Plan {
    fn from_args(args: &[String]) -> Plan {
        let quick = args.iter().any(|a| a == "--quick");
        let only = args
            .iter()
            .position(|a| a == "--only")
            .and_then(|i| args.get(i + 1))
            .map(|list| list.split(',').map(str::to_string).collect())
            .unwrap_or_default();
        let scale = |full: usize, small: usize| if quick { small } else { full };
        Plan {
            quick,
            warmup: scale(300, 30),
            rounds_16k: scale(3000, 200),
            rounds_4m: scale(300, 15),
            gap_rounds: scale(60, 5),
            slices: scale(5, 2),
            slice: Duration::from_millis(scale(2000, 500) as u64),
            idle_streams: scale(1000, 200),
            phase_limit: Duration::from_secs(scale(40, 10) as u64),
            only,
            dashboard: args.iter().any(|a| a == "--dashboard")
                || std::env::var("PROXY_BENCH_DASHBOARD").is_ok_and(|v| v == "1"),
        }
    }

    fn runs(&self, phase: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|p| p == phase)
    }
}

fn main() {
    // Cargo adds `--bench`; it means nothing here, like any other argument we do not know.
    let args: Vec<String> = std::env::args().skip(1).collect();
    let plan = Plan::from_args(&args);
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("proxy bench: cannot start the client runtime: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = rt.block_on(bench(plan)) {
        eprintln!("proxy bench failed: {e}");
        std::process::exit(1);
    }
}

/// One run: what it measures against, and the figures so far.
struct Run {
    plan: Plan,
    shared: Arc<Shared>,
    pid: u32,
    body_len: [usize; 3],
    rng: fastrand::Rng,
    rows: Vec<Row>,
    detail: serde_json::Map<String, Value>,
}

/// Conditions around the measurement, for the header and the JSON.
struct Conditions {
    cores: usize,
    load_start: [f64; 3],
    busy_start: Duration,
    started: Instant,
    nofile: libc::rlim_t,
}

async fn bench(plan: Plan) -> Res<()> {
    let conditions = Conditions {
        cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
        load_start: process::loadavg(),
        busy_start: process::machine_busy(),
        started: Instant::now(),
        nofile: process::raise_nofile(8192 + 4 * plan.idle_streams as libc::rlim_t)?,
    };
    let load = conditions.load_start;
    eprintln!(
        "proxy bench: {} cores, load average {:.2} {:.2} {:.2}{}",
        conditions.cores,
        load[0],
        load[1],
        load[2],
        if load[0] > 1.0 {
            "  (busy machine: the figures will be noisy)"
        } else {
            ""
        }
    );

    let root = tempfile::tempdir()?;
    let workspace = root.path().join("workspace");
    make_workspace(&workspace)?;
    let cwd = workspace.to_string_lossy().to_string();
    let bodies = vec![
        Bytes::from(bodies::codex_turn(16 * 1024, &cwd)),
        Bytes::from(bodies::codex_turn(4 * 1024 * 1024, &cwd)),
        Bytes::from(bodies::plain_string(4 * 1024 * 1024)),
    ];
    checks::check_bodies(&bodies, &cwd)?;
    let body_len = [bodies[0].len(), bodies[1].len(), bodies[2].len()];

    let mock = Mock::start(bodies)?;
    let bin = process::find_binary()?;
    let mut proxy = process::Proxy::spawn(&bin, root.path(), mock.addr)?;
    proxy.wait_ready(Duration::from_secs(30)).await?;
    let pid = proxy.pid();
    eprintln!(
        "proxy bench: {} (pid {pid}) on {}, mock on {}",
        bin.display(),
        proxy.addr,
        mock.addr
    );
    let templates = [STREAM, gap_scenario(), hold_scenario()]
        .into_iter()
        .map(|sc| (sc, Template::new(&sc)))
        .collect();
    let shared = Arc::new(Shared {
        direct: mock.addr,
        proxy: proxy.addr,
        mock,
        templates,
        next_id: AtomicU64::new(1),
        tally: [Target::Direct, Target::Proxy]
            .into_iter()
            .map(|t| (t, Default::default()))
            .collect(),
    });
    checks::self_check(&shared).await?;
    let dashboard = match plan.dashboard {
        true => {
            let open = dashboard::Dashboard::open(proxy.addr).await?;
            eprintln!("proxy bench: the dashboard's event stream is open for the whole run");
            Some(open)
        }
        false => None,
    };

    let mut run = Run {
        plan,
        shared,
        pid,
        body_len,
        rng: fastrand::Rng::with_seed(20_251_121),
        rows: Vec::new(),
        detail: serde_json::Map::new(),
    };
    run.measure().await?;
    run.dashboard(dashboard.as_ref()).await?;
    let log_lines = std::fs::read_to_string(&proxy.log).map_or(0, |t| t.lines().count());
    let proxy_cpu = process::cpu_time(pid)?;
    drop(proxy);
    run.finish(&conditions, proxy_cpu, log_lines, &bin)
}

/// Paced events, their send times recorded: phase 3.
fn gap_scenario() -> Scenario {
    Scenario {
        gap_us: GAP_US,
        record: true,
        ..Scenario::new(GAP_EVENTS, 16)
    }
}

/// Held open after `response.created`: phase 6.
fn hold_scenario() -> Scenario {
    Scenario {
        hold_ms: 120_000,
        ..STREAM
    }
}

impl Run {
    async fn measure(&mut self) -> Res<()> {
        let rss_fresh = process::memory_kib(self.pid)?.0;
        eprintln!(
            "phase 0: warm-up ({} requests per target)",
            self.plan.warmup
        );
        let (warmup, limit) = (self.plan.warmup, self.plan.phase_limit);
        phases::latency(&self.shared, &mut self.rng, BODY_16K, warmup, limit).await?;
        if self.plan.runs("1") {
            self.latency_16k().await?;
        }
        if self.plan.runs("2") {
            self.latency_4m(
                BODY_4M_SESSION,
                "2",
                "4 MiB long Codex session",
                "4m_session",
            )
            .await?;
            self.latency_4m(
                BODY_4M_PLAIN,
                "2b",
                "4 MiB one plain string (kit)",
                "4m_plain",
            )
            .await?;
        }
        if self.plan.runs("3") {
            self.pacing().await?;
        }
        if self.plan.runs("4") {
            self.throughput().await?;
        }
        if self.plan.runs("6") {
            self.memory(rss_fresh).await?;
        }
        if self.plan.runs("7") {
            self.boundary_checks();
        }
        Ok(())
    }

    /// Phase 7: what the trust boundary's checks cost one request, timed in this
    /// process on the headers a Codex turn carries (a share of phase 5's CPU).
    fn boundary_checks(&mut self) {
        use codex_plus::guard::{has_dot_segments, Guard};
        use std::hint::black_box;
        let rounds: u32 = if self.plan.quick { 200_000 } else { 2_000_000 };
        eprintln!("phase 7: Host/Origin and path checks, in process ({rounds} rounds)");
        let guard = Guard::new(Some(self.shared.proxy), &[]);
        let mut headers = http::HeaderMap::new();
        for (name, value) in [
            ("host", self.shared.proxy.to_string()),
            ("content-type", "application/json".to_string()),
            ("authorization", "Bearer sk-bench".to_string()),
            ("accept", "text/event-stream".to_string()),
            (
                "session-id",
                "0199a8c4-3f0e-7e41-9d1a-5c2b8f3e6a10".to_string(),
            ),
            ("originator", "codex_exec".to_string()),
        ] {
            if let Ok(value) = value.parse() {
                headers.insert(name, value);
            }
        }
        let per = |start: Instant| start.elapsed().as_nanos() as f64 / f64::from(rounds);
        let start = Instant::now();
        for _ in 0..rounds {
            let _ = black_box(guard.check(
                black_box(&http::Method::POST),
                black_box("/v1/responses"),
                None,
                black_box(&headers),
            ));
        }
        let whole = per(start);
        let start = Instant::now();
        for _ in 0..rounds {
            black_box(has_dot_segments(black_box("/backend-api/codex/responses")));
        }
        let path = per(start);
        self.rows.extend([
            Row::new("7", "Host, Origin, path checks per request", "ns").proxy(whole),
            Row::new("7", "of which the dot-segment check", "ns").proxy(path),
        ]);
    }

    /// What the open dashboard received, in the table. It must still be open and
    /// following the run: a `state` event comes within a second or two of the turns
    /// (a short run may end before the first one, so it is waited for here).
    async fn dashboard(&mut self, open: Option<&dashboard::Dashboard>) -> Res<()> {
        let Some(open) = open else {
            self.detail
                .insert("dashboard".into(), json!({"open": false}));
            return Ok(());
        };
        let deadline = Instant::now() + Duration::from_secs(3);
        while open.received().0 < 2 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let (events, bytes) = open.received();
        if !open.open_still() || events < 2 {
            return Err(format!(
                "the dashboard stream did not follow the run: {events} events, still open: {}",
                open.open_still()
            )
            .into());
        }
        self.rows
            .push(Row::new("9", "dashboard stream open: events received", "").proxy(events as f64));
        self.detail.insert(
            "dashboard".into(),
            json!({"open": true, "events": events, "bytes": bytes}),
        );
        Ok(())
    }

    async fn latency_16k(&mut self) -> Res<()> {
        let rounds = self.plan.rounds_16k;
        eprintln!("phase 1: latency, 16 KiB body, c=1 ({rounds} rounds)");
        let cpu0 = process::cpu_time(self.pid)?;
        let sent0 = self.shared.count(Target::Proxy, SENT);
        let l = phases::latency(
            &self.shared,
            &mut self.rng,
            BODY_16K,
            rounds,
            self.plan.phase_limit,
        )
        .await?;
        let cpu = process::cpu_time(self.pid)? - cpu0;
        let cpu_c1 = per_request(cpu, self.shared.count(Target::Proxy, SENT) - sent0);
        let label = format!("16 KiB Codex turn ({} B), c=1", self.body_len[BODY_16K]);
        self.rows.extend([
            latency_row("1", &format!("TTFB p50, {label}"), &l.ttfb, 50.0),
            latency_row("1", &format!("TTFB p99, {label}"), &l.ttfb, 99.0).below(0.5),
            latency_row("1", &format!("total p50, {label}"), &l.total, 50.0),
            latency_row("1", &format!("total p99, {label}"), &l.total, 99.0),
            Row::new("5", "proxy CPU per stream, c=1 (16 KiB)", "us")
                .proxy(cpu_c1)
                .below(100.0),
        ]);
        self.detail.insert("latency_16k".into(), l.to_json());
        Ok(())
    }

    async fn latency_4m(
        &mut self,
        index: usize,
        key: &'static str,
        what: &str,
        name: &str,
    ) -> Res<()> {
        let rounds = self.plan.rounds_4m;
        eprintln!("phase 2: latency, {what} ({rounds} rounds)");
        let l = phases::latency(
            &self.shared,
            &mut self.rng,
            index,
            rounds,
            self.plan.phase_limit,
        )
        .await?;
        let esc = bodies::escapes_per_kib(self.shared.mock.body(index));
        let label = format!("{what}, {esc:.0} esc/KiB");
        self.rows.extend([
            latency_row(key, &format!("TTFB p50, {label}"), &l.ttfb, 50.0),
            latency_row(key, &format!("TTFB p99, {label}"), &l.ttfb, 99.0).below(5.0),
        ]);
        self.detail.insert(format!("latency_{name}"), l.to_json());
        Ok(())
    }

    async fn pacing(&mut self) -> Res<()> {
        let rounds = self.plan.gap_rounds;
        eprintln!(
            "phase 3: pacing, {rounds} streams x {GAP_EVENTS} events {} ms apart",
            GAP_US / 1000
        );
        let g = phases::gaps(
            &self.shared,
            &mut self.rng,
            &gap_scenario(),
            rounds,
            self.plan.phase_limit,
        )
        .await?;
        let side_by_side = |figure: String, s: &HashMap<Target, stats::Samples>, p: f64| {
            Row::new("3", figure, "ms")
                .direct(s[&Target::Direct].pct(p) / 1e3)
                .proxy(s[&Target::Proxy].pct(p) / 1e3)
                .added()
        };
        self.rows.extend([
            side_by_side(
                "gap between events p50 (sent every 2 ms)".into(),
                &g.gaps,
                50.0,
            ),
            side_by_side(
                "gap between events p99 (sent every 2 ms)".into(),
                &g.gaps,
                99.0,
            )
            .below(0.2),
            side_by_side(
                "event delay (mock write -> client) p50".into(),
                &g.delay,
                50.0,
            ),
            side_by_side(
                "event delay (mock write -> client) p99".into(),
                &g.delay,
                99.0,
            ),
        ]);
        self.detail.insert("gaps".into(), g.to_json());
        Ok(())
    }

    async fn throughput(&mut self) -> Res<()> {
        let (slices, slice) = (self.plan.slices, self.plan.slice);
        eprintln!("phase 4: throughput, c={CONCURRENCY}, {slices} slices of {slice:?} per target");
        let tp = phases::throughput(&self.shared, &mut self.rng, slices, slice, self.pid).await?;
        let both = |figure: String, unit, s: &HashMap<Target, f64>| {
            Row::new("4", figure, unit)
                .direct(s[&Target::Direct])
                .proxy(s[&Target::Proxy])
        };
        let p99 = |t: Target| tp.total[&t].pct(99.0) / 1e3;
        self.rows.extend([
            both(format!("streams/s, c={CONCURRENCY}"), "/s", &tp.rate)
                .ratio()
                .at_least_ratio(0.7),
            Row::new("4", format!("total p99 under load, c={CONCURRENCY}"), "ms")
                .direct(p99(Target::Direct))
                .proxy(p99(Target::Proxy))
                .added(),
            both(
                "bench CPU (client+mock) per stream".into(),
                "us",
                &tp.own_cpu_us,
            )
            .added(),
            Row::new("5", format!("proxy CPU per stream, c={CONCURRENCY}"), "us")
                .proxy(tp.proxy_cpu_us)
                .below(100.0),
            Row::new(
                "5",
                format!("  of which in the kernel, c={CONCURRENCY}"),
                "%",
            )
            .proxy(100.0 * tp.proxy_system_share),
        ]);
        self.detail.insert("throughput".into(), tp.to_json());
        Ok(())
    }

    async fn memory(&mut self, rss_fresh: u64) -> Res<()> {
        let n = self.plan.idle_streams;
        eprintln!("phase 6: memory with {n} open idle streams");
        let m = phases::idle_memory(
            &self.shared,
            &hold_scenario(),
            n,
            self.pid,
            self.plan.phase_limit,
        )
        .await?;
        let mb = |kib: u64| kib as f64 / 1024.0;
        let per_stream = (m.with_kib as f64 - m.before_kib as f64) / m.streams.max(1) as f64;
        self.rows.extend([
            Row::new("6", "proxy RSS at start, idle", "MB").proxy(mb(rss_fresh)),
            Row::new("6", "proxy RSS idle, after the load phases", "MB").proxy(mb(m.before_kib)),
            Row::new(
                "6",
                format!("proxy RSS with {} open idle streams", m.streams),
                "MB",
            )
            .proxy(mb(m.with_kib))
            .below(64.0),
            Row::new("6", "proxy RSS per open stream", "KiB").proxy(per_stream),
        ]);
        self.detail.insert("memory".into(), m.to_json(rss_fresh));
        Ok(())
    }

    /// The totals over every phase, the table, the JSON file.
    fn finish(
        mut self,
        c: &Conditions,
        proxy_cpu: Duration,
        log_lines: usize,
        bin: &std::path::Path,
    ) -> Res<()> {
        let shared = &self.shared;
        let count = |t: Target, what: usize| shared.count(t, what);
        let counters = &shared.mock.counters;
        let request_mismatches = counters.request_mismatches.load(Ordering::Relaxed);
        let request_extended = counters.request_extended.load(Ordering::Relaxed);
        self.rows.extend([
            Row::new("4", "response bodies not byte-identical (all phases)", "")
                .direct(count(Target::Direct, MISMATCH) as f64)
                .proxy(count(Target::Proxy, MISMATCH) as f64)
                .equals(0.0),
            Row::new("4", "request bodies with anything lost or changed", "")
                .proxy(request_mismatches as f64)
                .equals(0.0),
            Row::new("4", "  extended by the proxy (status line, Task tool)", "")
                .proxy(request_extended as f64),
        ]);
        self.rows.sort_by_key(|r| r.key);
        let errors = count(Target::Direct, ERRORS) + count(Target::Proxy, ERRORS);
        let (sent_direct, sent_proxy) = (count(Target::Direct, SENT), count(Target::Proxy, SENT));
        let upstream_proxy = shared.mock.counters.tag_count("proxy");
        let load_end = process::loadavg();
        let elapsed = c.started.elapsed();
        // Whatever the machine did besides this process and the proxy: the neighbours.
        let ours = process::own_cpu_time()? + proxy_cpu;
        let others = process::machine_busy()
            .saturating_sub(c.busy_start)
            .saturating_sub(ours);
        let others_cores = others.as_secs_f64() / elapsed.as_secs_f64();
        let log_filter =
            std::env::var("CODEX_PLUS_LOG").unwrap_or_else(|_| "default filter: info".into());

        println!();
        println!(
            "codex-plus proxy benchmark{}{}: {} cores shared by the client, the mock (this process) and the proxy",
            if self.plan.quick { " (--quick: small samples)" } else { "" },
            if self.plan.dashboard { " with a dashboard open" } else { "" },
            c.cores
        );
        println!(
            "load average {:.2} -> {:.2}; other processes used {others_cores:.2} cores on average; {:.0} s; proxy log: {log_lines} lines ({log_filter})",
            c.load_start[0],
            load_end[0],
            elapsed.as_secs_f64(),
        );
        println!();
        report::print_table(&self.rows);
        println!();
        println!(
            "requests: direct {sent_direct} / proxy {sent_proxy} sent; proxy made {upstream_proxy} upstream requests; errors {errors}; fd limit {}",
            c.nofile
        );
        let noise = |phase: &str, key: &str| {
            let v = self.detail.get(phase)?.get(key)?.as_f64()?;
            Some(report::num(v))
        };
        if let (Some(ttfb), Some(gap)) = (
            noise("latency_16k", "aa_noise_ttfb_p99_ms"),
            noise("gaps", "aa_noise_gap_p99_ms"),
        ) {
            println!(
                "A/A noise floor (direct against direct, two halves of its samples): TTFB p99 {ttfb} ms, gap p99 {gap} ms"
            );
        }
        let missed: Vec<&str> = self
            .rows
            .iter()
            .filter(|r| r.goal.as_ref().is_some_and(|g| !g.met))
            .map(|r| r.figure.as_str())
            .collect();
        let with_goal = self.rows.iter().filter(|r| r.goal.is_some()).count();
        println!(
            "targets: {} of {with_goal} met{}",
            with_goal - missed.len(),
            if missed.is_empty() {
                String::new()
            } else {
                format!("; missed: {}", missed.join("; "))
            }
        );

        let out = json!({
            "quick": self.plan.quick,
            "dashboard_open": self.plan.dashboard,
            "cores": c.cores,
            "loadavg_start": c.load_start,
            "loadavg_end": load_end,
            "other_processes_cores": others_cores,
            "seconds": elapsed.as_secs_f64(),
            "proxy_binary": bin.display().to_string(),
            "proxy_log_lines": log_lines,
            "requests": {"direct": sent_direct, "proxy": sent_proxy,
                         "proxy_upstream": upstream_proxy, "errors": errors},
            "body_bytes": {"16k": self.body_len[BODY_16K], "4m_session": self.body_len[BODY_4M_SESSION],
                           "4m_plain": self.body_len[BODY_4M_PLAIN]},
            "figures": report::rows_json(&self.rows),
            "detail": Value::Object(self.detail),
        });
        let path = target_dir().join("bench-proxy.json");
        std::fs::write(&path, serde_json::to_string_pretty(&out)?)?;
        println!("wrote {}", path.display());
        if upstream_proxy != sent_proxy {
            return Err(format!(
                "the proxy made {upstream_proxy} upstream requests for {sent_proxy} client requests"
            )
            .into());
        }
        Ok(())
    }
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"))
}

/// The workspace every Codex body names, as in a real project and in
/// `scripts/bench-crosscheck.sh`: `benches/workspace`'s seven agents (so the Task
/// tool lists them) in a git repository (so the built-in status line has a line).
fn make_workspace(to: &std::path::Path) -> Res<()> {
    fn copy(from: &std::path::Path, to: &std::path::Path) -> std::io::Result<()> {
        std::fs::create_dir_all(to)?;
        for entry in std::fs::read_dir(from)? {
            let entry = entry?;
            let target = to.join(entry.file_name());
            if entry.file_type()?.is_dir() {
                copy(&entry.path(), &target)?;
            } else {
                std::fs::copy(entry.path(), &target)?;
            }
        }
        Ok(())
    }
    copy(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/workspace"),
        to,
    )?;
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(["-c", "user.name=bench", "-c", "user.email=bench@localhost"])
            .args(args)
            .current_dir(to)
            .output()
            .map(|o| o.status.success())
    };
    if !(git(&["init", "-q"])? && git(&["commit", "-q", "--allow-empty", "-m", "start"])?) {
        return Err("git init in the bench workspace failed".into());
    }
    Ok(())
}
