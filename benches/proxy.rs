//! The proxy benchmark: `cargo bench --bench proxy` (add `-- --quick` for a short smoke run).
//!
//! One run starts an in-process mock upstream (`proxy/mock.rs`), starts the release
//! `codex-plus serve` as a separate process pointed at it, and measures DIRECT
//! (client → mock) against PROXY (client → proxy → mock), interleaving the two so
//! machine drift hits both alike. It prints a table of figures with their targets
//! and writes them to `target/bench-proxy.json`. docs/benchmarks.md explains each one.

#[path = "proxy/bodies.rs"]
mod bodies;
#[path = "proxy/client.rs"]
mod client;
#[path = "proxy/mock.rs"]
mod mock;
#[path = "proxy/process.rs"]
mod process;
#[path = "proxy/report.rs"]
mod report;
#[path = "proxy/stats.rs"]
mod stats;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::{json, Value};

use client::{Conn, Outcome, Req, Until};
use mock::{bench_id, Mock, Scenario, Template};
use report::Row;
use stats::Samples;

pub type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// How much of everything one run does; `--quick` scales it down.
struct Plan {
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
}

impl Plan {
    fn full() -> Plan {
        Plan {
            warmup: 300,
            rounds_16k: 2000,
            rounds_4m: 150,
            gap_rounds: 40,
            slices: 5,
            slice: Duration::from_secs(2),
            idle_streams: 1000,
            phase_limit: Duration::from_secs(40),
            only: Vec::new(),
        }
    }

    fn quick() -> Plan {
        Plan {
            warmup: 30,
            rounds_16k: 200,
            rounds_4m: 15,
            gap_rounds: 5,
            slices: 2,
            slice: Duration::from_millis(500),
            idle_streams: 200,
            phase_limit: Duration::from_secs(10),
            only: Vec::new(),
        }
    }

    fn runs(&self, phase: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|p| p == phase)
    }
}

const CONCURRENCY: usize = 64;
const GAP_US: u32 = 2000;
const GAP_EVENTS: u32 = 50;
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// Request bodies, registered with the mock by index.
const BODY_16K: usize = 0;
const BODY_4M_SESSION: usize = 1;
const BODY_4M_PLAIN: usize = 2;
/// The default stream: 20 deltas of 16 characters, as in the Python kit.
const STREAM: Scenario = Scenario::new(20, 16);

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Target {
    Direct,
    Proxy,
}

impl Target {
    fn tag(self) -> &'static str {
        match self {
            Target::Direct => "direct",
            Target::Proxy => "proxy",
        }
    }
}

/// What every request needs: where the targets are, the expected streams, the tallies.
struct Shared {
    mock: Mock,
    direct: SocketAddr,
    proxy: SocketAddr,
    templates: HashMap<Scenario, Template>,
    next_id: AtomicU64,
    /// Per target: [sent, ok, body mismatches, errors].
    tally: HashMap<Target, [AtomicU64; 4]>,
}

const SENT: usize = 0;
const OK: usize = 1;
const MISMATCH: usize = 2;
const ERRORS: usize = 3;

impl Shared {
    fn addr(&self, t: Target) -> SocketAddr {
        match t {
            Target::Direct => self.direct,
            Target::Proxy => self.proxy,
        }
    }

    fn count(&self, t: Target, what: usize) -> u64 {
        self.tally[&t][what].load(Ordering::Relaxed)
    }

    /// One exchange on `conn`, checked: status 200 and the body byte for byte.
    async fn run(
        &self,
        conn: &mut Conn,
        t: Target,
        sc: &Scenario,
        body_index: usize,
        track: bool,
        out: &mut Outcome,
    ) -> Res<[u8; mock::ID_LEN]> {
        let id = bench_id(self.next_id.fetch_add(1, Ordering::Relaxed));
        let req = Req {
            tag: t.tag(),
            scenario: sc,
            id: &id,
            body_index,
            body: self.mock.body(body_index),
        };
        let tally = &self.tally[&t];
        tally[SENT].fetch_add(1, Ordering::Relaxed);
        let sent =
            tokio::time::timeout(REQUEST_TIMEOUT, conn.exchange(&req, Until::End, track, out))
                .await;
        let result = match sent {
            Err(_) => {
                Err(format!("{} request timed out after {REQUEST_TIMEOUT:?}", t.tag()).into())
            }
            Ok(Err(e)) => Err(e),
            Ok(Ok(())) if out.status != 200 => Err(format!(
                "{} answered {}: {}",
                t.tag(),
                out.status,
                String::from_utf8_lossy(&out.body[..out.body.len().min(300)])
            )
            .into()),
            Ok(Ok(())) => Ok(()),
        };
        if let Err(e) = result {
            tally[ERRORS].fetch_add(1, Ordering::Relaxed);
            return Err(e);
        }
        let template = self
            .templates
            .get(sc)
            .ok_or("no template for the scenario")?;
        if template.matches(&out.body, &id) {
            tally[OK].fetch_add(1, Ordering::Relaxed);
        } else {
            tally[MISMATCH].fetch_add(1, Ordering::Relaxed);
        }
        Ok(id)
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick");
    // `--only 1,4` runs those phases (for profiling); cargo adds `--bench`, which means nothing here.
    let only = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1))
        .map(|list| list.split(',').map(str::to_string).collect())
        .unwrap_or_default();
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
    let mut plan = if quick { Plan::quick() } else { Plan::full() };
    plan.only = only;
    if let Err(e) = rt.block_on(bench(plan, quick)) {
        eprintln!("proxy bench failed: {e}");
        std::process::exit(1);
    }
}

async fn bench(plan: Plan, quick: bool) -> Res<()> {
    let t_run = Instant::now();
    let nofile = process::raise_nofile(8192 + 4 * plan.idle_streams as libc::rlim_t)?;
    let load_start = process::loadavg();
    let busy_start = process::machine_busy();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    eprintln!(
        "proxy bench: {cores} cores, load average {:.2} {:.2} {:.2}{}",
        load_start[0],
        load_start[1],
        load_start[2],
        if load_start[0] > 1.0 {
            "  (busy machine: the figures will be noisy)"
        } else {
            ""
        }
    );

    let home = tempfile::tempdir()?;
    let workspace = home.path().join("workspace");
    std::fs::create_dir_all(&workspace)?;
    let cwd = workspace.to_string_lossy().to_string();
    let bodies = vec![
        Bytes::from(bodies::codex_turn(16 * 1024, &cwd)),
        Bytes::from(bodies::codex_turn(4 * 1024 * 1024, &cwd)),
        Bytes::from(bodies::plain_string(4 * 1024 * 1024)),
    ];
    check_bodies(&bodies, &cwd)?;

    let mock = Mock::start(bodies.clone())?;
    let bin = process::find_binary()?;
    let mut proxy = process::Proxy::spawn(&bin, home.path(), mock.addr)?;
    proxy.wait_ready(Duration::from_secs(30)).await?;
    let pid = proxy.pid();
    let (rss_fresh, _) = process::memory_kib(pid)?;
    eprintln!(
        "proxy bench: {} (pid {pid}) on {}, mock on {}",
        bin.display(),
        proxy.addr,
        mock.addr
    );

    let gap_sc = Scenario {
        gap_us: GAP_US,
        record: true,
        ..Scenario::new(GAP_EVENTS, 16)
    };
    let hold_sc = Scenario {
        hold_ms: 120_000,
        ..STREAM
    };
    let templates = [STREAM, gap_sc, hold_sc]
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
    self_check(&shared).await?;

    let mut rng = fastrand::Rng::with_seed(20_251_121);
    let mut rows = Vec::new();
    let mut extra = serde_json::Map::new();

    eprintln!("phase 0: warm-up ({} requests per target)", plan.warmup);
    latency(&shared, &mut rng, BODY_16K, plan.warmup, plan.phase_limit).await?;

    if plan.runs("1") {
        eprintln!(
            "phase 1: latency, 16 KiB body, c=1 ({} rounds)",
            plan.rounds_16k
        );
        let cpu0 = process::cpu_time(pid)?;
        let sent0 = shared.count(Target::Proxy, SENT);
        let l16 = latency(
            &shared,
            &mut rng,
            BODY_16K,
            plan.rounds_16k,
            plan.phase_limit,
        )
        .await?;
        let cpu_c1 = per_request(
            process::cpu_time(pid)? - cpu0,
            shared.count(Target::Proxy, SENT) - sent0,
        );
        let label = format!("16 KiB Codex turn ({} B), c=1", bodies[BODY_16K].len());
        rows.push(latency_row(
            "1",
            &format!("TTFB p50, {label}"),
            &l16.ttfb,
            50.0,
        ));
        rows.push(latency_row("1", &format!("TTFB p99, {label}"), &l16.ttfb, 99.0).below(0.5));
        rows.push(latency_row(
            "1",
            &format!("total p50, {label}"),
            &l16.total,
            50.0,
        ));
        rows.push(latency_row(
            "1",
            &format!("total p99, {label}"),
            &l16.total,
            99.0,
        ));
        extra.insert("latency_16k".into(), l16.to_json());
        rows.push(
            Row::new("5", "proxy CPU per stream, c=1 (16 KiB)", "us")
                .proxy(cpu_c1)
                .below(100.0),
        );
    }

    for (key, index, what) in if plan.runs("2") {
        &[
            ("2", BODY_4M_SESSION, "4 MiB long Codex session"),
            ("2b", BODY_4M_PLAIN, "4 MiB one plain string (kit)"),
        ][..]
    } else {
        &[]
    } {
        let (key, index, what) = (*key, *index, *what);
        eprintln!("phase 2: latency, {what} ({} rounds)", plan.rounds_4m);
        let l = latency(&shared, &mut rng, index, plan.rounds_4m, plan.phase_limit).await?;
        let esc = bodies::escapes_per_kib(&bodies[index]);
        let label = format!("{what}, {esc:.0} esc/KiB");
        rows.push(latency_row(
            key,
            &format!("TTFB p50, {label}"),
            &l.ttfb,
            50.0,
        ));
        rows.push(latency_row(key, &format!("TTFB p99, {label}"), &l.ttfb, 99.0).below(5.0));
        extra.insert(
            format!(
                "latency_{}",
                if index == BODY_4M_PLAIN {
                    "4m_plain"
                } else {
                    "4m_session"
                }
            ),
            l.to_json(),
        );
    }

    if plan.runs("3") {
        eprintln!(
            "phase 3: pacing, {} streams x {GAP_EVENTS} events {} ms apart",
            plan.gap_rounds,
            GAP_US / 1000
        );
        let g = gaps(
            &shared,
            &mut rng,
            &gap_sc,
            plan.gap_rounds,
            plan.phase_limit,
        )
        .await?;
        for p in [50.0, 99.0] {
            let row = Row::new(
                "3",
                format!("gap between events p{p:.0} (sent every 2 ms)"),
                "ms",
            )
            .direct(g.gaps[&Target::Direct].pct(p) / 1e3)
            .proxy(g.gaps[&Target::Proxy].pct(p) / 1e3)
            .added();
            rows.push(if p > 50.0 { row.below(0.2) } else { row });
        }
        for p in [50.0, 99.0] {
            rows.push(
                Row::new(
                    "3",
                    format!("event delay (mock write -> client) p{p:.0}"),
                    "ms",
                )
                .direct(g.delay[&Target::Direct].pct(p) / 1e3)
                .proxy(g.delay[&Target::Proxy].pct(p) / 1e3)
                .added(),
            );
        }
        extra.insert("gaps".into(), g.to_json());
    }

    if plan.runs("4") {
        eprintln!(
            "phase 4: throughput, c={CONCURRENCY}, {} slices of {:?} per target",
            plan.slices, plan.slice
        );
        let tp = throughput(&shared, &mut rng, &plan, pid).await?;
        rows.push(
            Row::new("4", format!("streams/s, c={CONCURRENCY}"), "/s")
                .direct(tp.rate[&Target::Direct])
                .proxy(tp.rate[&Target::Proxy])
                .ratio()
                .at_least_ratio(0.7),
        );
        rows.push(
            Row::new("4", format!("total p99 under load, c={CONCURRENCY}"), "ms")
                .direct(tp.total[&Target::Direct].pct(99.0) / 1e3)
                .proxy(tp.total[&Target::Proxy].pct(99.0) / 1e3)
                .added(),
        );
        rows.push(
            Row::new("4", "bench CPU (client+mock) per stream", "us")
                .direct(tp.own_cpu_us[&Target::Direct])
                .proxy(tp.own_cpu_us[&Target::Proxy])
                .added(),
        );
        rows.push(
            Row::new("5", format!("proxy CPU per stream, c={CONCURRENCY}"), "us")
                .proxy(tp.proxy_cpu_us)
                .below(100.0),
        );
        rows.push(
            Row::new(
                "5",
                format!("  of which in the kernel, c={CONCURRENCY}"),
                "%",
            )
            .proxy(100.0 * tp.proxy_system_share),
        );
        extra.insert("throughput".into(), tp.to_json());
    }

    if plan.runs("6") {
        eprintln!(
            "phase 6: memory with {} open idle streams",
            plan.idle_streams
        );
        let m = idle_memory(&shared, &hold_sc, plan.idle_streams, pid, plan.phase_limit).await?;
        rows.push(Row::new("6", "proxy RSS at start, idle", "MB").proxy(rss_fresh as f64 / 1024.0));
        rows.push(
            Row::new("6", "proxy RSS idle, after the load phases", "MB")
                .proxy(m.before_kib as f64 / 1024.0),
        );
        rows.push(
            Row::new(
                "6",
                format!("proxy RSS with {} open idle streams", m.streams),
                "MB",
            )
            .proxy(m.with_kib as f64 / 1024.0)
            .below(64.0),
        );
        rows.push(
            Row::new("6", "proxy RSS per open stream", "KiB")
                .proxy((m.with_kib as f64 - m.before_kib as f64) / m.streams.max(1) as f64),
        );
        extra.insert("memory".into(), m.to_json(rss_fresh));
    }

    // Totals over every phase: the body checks and one upstream request per proxied one.
    let (d_mis, p_mis) = (
        shared.count(Target::Direct, MISMATCH),
        shared.count(Target::Proxy, MISMATCH),
    );
    rows.push(
        Row::new("4", "response bodies not byte-identical (all phases)", "")
            .direct(d_mis as f64)
            .proxy(p_mis as f64)
            .equals(0.0),
    );
    let req_mis = shared
        .mock
        .counters
        .request_mismatches
        .load(Ordering::Relaxed);
    rows.push(
        Row::new("4", "request bodies altered on the way (all phases)", "")
            .proxy(req_mis as f64)
            .equals(0.0),
    );
    let errors = shared.count(Target::Direct, ERRORS) + shared.count(Target::Proxy, ERRORS);
    let sent_proxy = shared.count(Target::Proxy, SENT);
    let upstream_proxy = shared.mock.counters.tag_count("proxy");

    let load_end = process::loadavg();
    let elapsed = t_run.elapsed();
    let ours = process::own_cpu_time()? + process::cpu_time(pid)?;
    let others = process::machine_busy()
        .saturating_sub(busy_start)
        .saturating_sub(ours);
    let others_cores = others.as_secs_f64() / elapsed.as_secs_f64();
    let log_lines = std::fs::read_to_string(&proxy.log).map_or(0, |t| t.lines().count());
    drop(proxy);

    println!();
    println!(
        "codex-plus proxy benchmark{}: {cores} cores shared by the client, the mock (this process) and the proxy",
        if quick { " (--quick: small samples)" } else { "" }
    );
    println!(
        "load average {:.2} -> {:.2}; other processes used {:.2} cores on average; {:.0} s; proxy log: {} lines ({})",
        load_start[0],
        load_end[0],
        others_cores,
        elapsed.as_secs_f64(),
        log_lines,
        std::env::var("CODEX_PLUS_LOG").unwrap_or_else(|_| "default filter: info".into()),
    );
    rows.sort_by_key(|r| r.key);
    println!();
    report::print_table(&rows);
    println!();
    println!(
        "requests: direct {} / proxy {} sent; proxy made {upstream_proxy} upstream requests; errors {errors}; fd limit {nofile}",
        shared.count(Target::Direct, SENT),
        sent_proxy
    );
    let noise = |phase: &str, key: &str| {
        extra
            .get(phase)
            .and_then(|v| v.get(key))
            .and_then(Value::as_f64)
            .map(report::num)
    };
    if let (Some(ttfb), Some(gap)) = (
        noise("latency_16k", "aa_noise_ttfb_p99_ms"),
        noise("gaps", "aa_noise_gap_p99_ms"),
    ) {
        println!(
            "A/A noise floor (direct against direct, two halves of its samples): TTFB p99 {ttfb} ms, gap p99 {gap} ms"
        );
    }
    let missed: Vec<&str> = rows
        .iter()
        .filter(|r| r.goal.as_ref().is_some_and(|g| !g.met))
        .map(|r| r.figure.as_str())
        .collect();
    println!(
        "targets: {} of {} met{}",
        rows.iter()
            .filter(|r| r.goal.as_ref().is_some_and(|g| g.met))
            .count(),
        rows.iter().filter(|r| r.goal.is_some()).count(),
        if missed.is_empty() {
            String::new()
        } else {
            format!("; missed: {}", missed.join("; "))
        }
    );

    let out = json!({
        "quick": quick,
        "cores": cores,
        "loadavg_start": load_start,
        "loadavg_end": load_end,
        "other_processes_cores": others_cores,
        "seconds": elapsed.as_secs_f64(),
        "proxy_binary": bin.display().to_string(),
        "proxy_log_lines": log_lines,
        "requests": {"direct": shared.count(Target::Direct, SENT), "proxy": sent_proxy,
                     "proxy_upstream": upstream_proxy, "errors": errors},
        "body_bytes": {"16k": bodies[BODY_16K].len(), "4m_session": bodies[BODY_4M_SESSION].len(),
                       "4m_plain": bodies[BODY_4M_PLAIN].len()},
        "figures": report::rows_json(&rows),
        "detail": Value::Object(extra),
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

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"))
}

fn per_request(cpu: Duration, requests: u64) -> f64 {
    cpu.as_secs_f64() * 1e6 / requests.max(1) as f64
}

/// The bodies are what the proxy's pipeline understands (so the bench measures the
/// pipeline, not the relay-unchanged fallback) and have the intended shape.
fn check_bodies(bodies: &[Bytes], cwd: &str) -> Res<()> {
    use codex_plus::wire::environment::Environment;
    use codex_plus::wire::request::ResponsesRequest;
    for (i, body) in bodies.iter().enumerate() {
        serde_json::from_slice::<Value>(body).map_err(|e| format!("body {i} is not JSON: {e}"))?;
        let req = ResponsesRequest::parse(body)
            .map_err(|e| format!("body {i}: the proxy's parser refuses it: {e}"))?;
        if req.stream != Some(true) || req.input.is_empty() {
            return Err(format!("body {i}: not a streamed request with input").into());
        }
        if i != BODY_4M_PLAIN {
            let env = Environment::from_request(&req)
                .ok_or(format!("body {i}: no <environment_context>"))?;
            if env.cwd.to_string_lossy() != cwd || req.tools.as_ref().is_none_or(|t| t.is_empty()) {
                return Err(format!("body {i}: wrong workspace or no tools").into());
            }
        }
    }
    let session = &bodies[BODY_4M_SESSION];
    if bodies::escapes_per_kib(session) < 20.0 || req_items(session)? < 1000 {
        return Err("the 4 MiB session body is not a long, escape-dense history".into());
    }
    Ok(())
}

fn req_items(body: &Bytes) -> Res<usize> {
    Ok(codex_plus::wire::request::ResponsesRequest::parse(body)?
        .input
        .len())
}

/// The checks can fail: a stream for another id or with one byte changed is caught,
/// and each target relays one stream intact.
async fn self_check(shared: &Shared) -> Res<()> {
    let t = &shared.templates[&STREAM];
    let (a, b) = (bench_id(1), bench_id(2));
    let body = t.render(&a);
    let mut altered = body.to_vec();
    altered[body.len() / 2] ^= 1;
    if !t.matches(&body, &a)
        || t.matches(&body, &b)
        || t.matches(&altered, &a)
        || t.matches(&body[1..], &a)
    {
        return Err("self-check: the body comparison does not tell streams apart".into());
    }
    for target in [Target::Direct, Target::Proxy] {
        let mut conn = Conn::connect(shared.addr(target)).await?;
        let mut out = Outcome::default();
        shared
            .run(&mut conn, target, &STREAM, BODY_16K, true, &mut out)
            .await?;
        if shared.count(target, OK) != 1 || out.events.len() != t.event_count() {
            return Err(format!(
                "self-check: {} relayed {} bytes / {} events; expected {} bytes / {} events",
                target.tag(),
                out.body.len(),
                out.events.len(),
                t.len(),
                t.event_count()
            )
            .into());
        }
    }
    if shared
        .mock
        .counters
        .request_mismatches
        .load(Ordering::Relaxed)
        != 0
    {
        return Err("self-check: the mock received an altered request body".into());
    }
    Ok(())
}

/// Latency samples of one c=1 phase, per target, in rounds.
struct Latency {
    ttfb: HashMap<Target, Samples>,
    total: HashMap<Target, Samples>,
    /// proxy − direct within a round.
    pair_ttfb: Samples,
}

impl Latency {
    fn to_json(&self) -> Value {
        let q = |s: &Samples| {
            json!({"n": s.len(), "p50_ms": s.pct(50.0) / 1e3, "p90_ms": s.pct(90.0) / 1e3,
                                      "p99_ms": s.pct(99.0) / 1e3, "max_ms": s.pct(100.0) / 1e3})
        };
        let d = &self.ttfb[&Target::Direct];
        json!({
            "ttfb": {"direct": q(d), "proxy": q(&self.ttfb[&Target::Proxy])},
            "total": {"direct": q(&self.total[&Target::Direct]), "proxy": q(&self.total[&Target::Proxy])},
            "pairwise_added_ttfb": q(&self.pair_ttfb),
            "aa_noise_ttfb_p99_ms": (d.half(0).pct(99.0) - d.half(1).pct(99.0)) / 1e3,
        })
    }
}

fn latency_row(key: &'static str, figure: &str, s: &HashMap<Target, Samples>, p: f64) -> Row {
    Row::new(key, figure, "ms")
        .direct(s[&Target::Direct].pct(p) / 1e3)
        .proxy(s[&Target::Proxy].pct(p) / 1e3)
        .added()
}

/// Concurrency 1: each round sends one request per target, in random order.
async fn latency(
    shared: &Shared,
    rng: &mut fastrand::Rng,
    body_index: usize,
    rounds: usize,
    limit: Duration,
) -> Res<Latency> {
    let deadline = Instant::now() + limit;
    let mut conns = HashMap::new();
    for t in [Target::Direct, Target::Proxy] {
        conns.insert(t, Conn::connect(shared.addr(t)).await?);
    }
    let mut lat = Latency {
        ttfb: HashMap::new(),
        total: HashMap::new(),
        pair_ttfb: Samples::default(),
    };
    let mut out = Outcome::default();
    for _ in 0..rounds {
        let mut order = [Target::Direct, Target::Proxy];
        rng.shuffle(&mut order);
        let mut ttfb = HashMap::new();
        for t in order {
            let conn = conns.get_mut(&t).ok_or("no connection")?;
            shared
                .run(conn, t, &STREAM, body_index, false, &mut out)
                .await?;
            let (Some(first), Some(total)) = (out.ttfb(), out.total()) else {
                return Err("a response without body".into());
            };
            lat.ttfb.entry(t).or_default().push(first);
            lat.total.entry(t).or_default().push(total);
            ttfb.insert(t, first);
        }
        let added = ttfb[&Target::Proxy].as_secs_f64() - ttfb[&Target::Direct].as_secs_f64();
        lat.pair_ttfb.push_us(added * 1e6);
        if Instant::now() > deadline {
            eprintln!(
                "  (time limit reached after {} rounds)",
                lat.pair_ttfb.len()
            );
            break;
        }
    }
    Ok(lat)
}

/// Inter-event gaps and per-event delays of paced streams.
struct Gaps {
    gaps: HashMap<Target, Samples>,
    delay: HashMap<Target, Samples>,
}

impl Gaps {
    fn to_json(&self) -> Value {
        let mut v = serde_json::Map::new();
        for t in [Target::Direct, Target::Proxy] {
            let (g, d) = (&self.gaps[&t], &self.delay[&t]);
            v.insert(
                t.tag().into(),
                json!({"gaps": g.len(), "gap_p50_ms": g.pct(50.0) / 1e3, "gap_p90_ms": g.pct(90.0) / 1e3,
                       "gap_p99_ms": g.pct(99.0) / 1e3, "gap_max_ms": g.pct(100.0) / 1e3,
                       "coalesced_share": g.share_below(300.0),
                       "delay_p50_ms": d.pct(50.0) / 1e3, "delay_p99_ms": d.pct(99.0) / 1e3,
                       "delay_max_ms": d.pct(100.0) / 1e3}),
            );
        }
        let d = &self.gaps[&Target::Direct];
        v.insert(
            "aa_noise_gap_p99_ms".into(),
            json!((d.half(0).pct(99.0) - d.half(1).pct(99.0)) / 1e3),
        );
        Value::Object(v)
    }
}

async fn gaps(
    shared: &Shared,
    rng: &mut fastrand::Rng,
    sc: &Scenario,
    rounds: usize,
    limit: Duration,
) -> Res<Gaps> {
    let deadline = Instant::now() + limit;
    let mut g = Gaps {
        gaps: HashMap::new(),
        delay: HashMap::new(),
    };
    let mut conns = HashMap::new();
    for t in [Target::Direct, Target::Proxy] {
        conns.insert(t, Conn::connect(shared.addr(t)).await?);
    }
    let mut out = Outcome::default();
    for _ in 0..rounds {
        let mut order = [Target::Direct, Target::Proxy];
        rng.shuffle(&mut order);
        for t in order {
            let conn = conns.get_mut(&t).ok_or("no connection")?;
            let id = shared.run(conn, t, sc, BODY_16K, true, &mut out).await?;
            let sent = shared
                .mock
                .sent_times(&id)
                .ok_or("the mock recorded no send times")?;
            if sent.len() != out.events.len() {
                return Err(
                    format!("{} events sent, {} received", sent.len(), out.events.len()).into(),
                );
            }
            let gaps = g.gaps.entry(t).or_default();
            for w in out.events.windows(2) {
                gaps.push(w[1] - w[0]);
            }
            let delay = g.delay.entry(t).or_default();
            for (s, r) in sent.iter().zip(&out.events) {
                delay.push(r.saturating_duration_since(*s));
            }
        }
        if Instant::now() > deadline {
            break;
        }
    }
    Ok(g)
}

/// Time-sliced throughput at fixed concurrency.
struct Throughput {
    rate: HashMap<Target, f64>,
    total: HashMap<Target, Samples>,
    own_cpu_us: HashMap<Target, f64>,
    proxy_cpu_us: f64,
    /// Share of the proxy's CPU time spent in the kernel.
    proxy_system_share: f64,
    detail: Value,
}

impl Throughput {
    fn to_json(&self) -> Value {
        self.detail.clone()
    }
}

async fn throughput(
    shared: &Arc<Shared>,
    rng: &mut fastrand::Rng,
    plan: &Plan,
    pid: u32,
) -> Res<Throughput> {
    let mut ok: HashMap<Target, u64> = HashMap::new();
    let mut secs: HashMap<Target, f64> = HashMap::new();
    let mut own: HashMap<Target, Duration> = HashMap::new();
    let mut total: HashMap<Target, Samples> = HashMap::new();
    let mut proxy_cpu = Duration::ZERO;
    let mut proxy_system = Duration::ZERO;
    let mut slices = Vec::new();
    for _ in 0..plan.slices {
        let mut order = [Target::Direct, Target::Proxy];
        rng.shuffle(&mut order);
        for t in order {
            let ok0 = shared.count(t, OK);
            let (own0, (user0, sys0)) = (process::own_cpu_time()?, process::cpu_split(pid)?);
            let started = Instant::now();
            let lat = slice(shared, t, plan.slice).await?;
            let elapsed = started.elapsed().as_secs_f64();
            let done = shared.count(t, OK) - ok0;
            *own.entry(t).or_default() += process::own_cpu_time()? - own0;
            if t == Target::Proxy {
                let (user, sys) = process::cpu_split(pid)?;
                proxy_cpu += (user + sys) - (user0 + sys0);
                proxy_system += sys - sys0;
            }
            *ok.entry(t).or_default() += done;
            *secs.entry(t).or_default() += elapsed;
            slices.push(json!({"target": t.tag(), "ok": done, "seconds": elapsed, "rate": done as f64 / elapsed}));
            let all = total.entry(t).or_default();
            for d in lat {
                all.push(d);
            }
        }
    }
    let rate = |t: Target| ok[&t] as f64 / secs[&t];
    let targets = [Target::Direct, Target::Proxy];
    let proxy_cpu_us = per_request(proxy_cpu, ok[&Target::Proxy]);
    let proxy_system_share = proxy_system.as_secs_f64() / proxy_cpu.as_secs_f64().max(1e-9);
    Ok(Throughput {
        rate: targets.iter().map(|&t| (t, rate(t))).collect(),
        own_cpu_us: targets
            .iter()
            .map(|&t| (t, per_request(own[&t], ok[&t])))
            .collect(),
        detail: json!({"concurrency": CONCURRENCY, "slices": slices,
                       "direct_rate": rate(Target::Direct), "proxy_rate": rate(Target::Proxy),
                       "proxy_cpu_seconds": proxy_cpu.as_secs_f64(), "proxy_cpu_us_per_stream": proxy_cpu_us,
                       "proxy_system_share": proxy_system_share}),
        total,
        proxy_cpu_us,
        proxy_system_share,
    })
}

/// CONCURRENCY workers on fresh keep-alive connections until the slice ends.
async fn slice(shared: &Arc<Shared>, t: Target, length: Duration) -> Res<Vec<Duration>> {
    let end = Instant::now() + length;
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..CONCURRENCY {
        let shared = shared.clone();
        workers.spawn(async move {
            let mut lat = Vec::new();
            let mut conn = Conn::connect(shared.addr(t)).await?;
            let mut out = Outcome::default();
            // Bounded by time and by count (no loop runs away on a fast failure).
            for _ in 0..1_000_000 {
                if Instant::now() >= end {
                    break;
                }
                shared
                    .run(&mut conn, t, &STREAM, BODY_16K, false, &mut out)
                    .await?;
                lat.extend(out.total());
            }
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(lat)
        });
    }
    let mut all = Vec::new();
    while let Some(joined) = workers.join_next().await {
        all.extend(joined??);
    }
    Ok(all)
}

/// Proxy memory with many streams held open after `response.created`.
struct Memory {
    streams: usize,
    before_kib: u64,
    with_kib: u64,
    peak_kib: u64,
    after_kib: u64,
    fds: usize,
    mock_open: u64,
    mock_open_after: u64,
}

impl Memory {
    fn to_json(&self, fresh: u64) -> Value {
        json!({"streams": self.streams, "rss_fresh_kib": fresh, "rss_idle_kib": self.before_kib,
               "rss_with_streams_kib": self.with_kib, "rss_peak_kib": self.peak_kib,
               "rss_after_close_kib": self.after_kib, "proxy_fds_with_streams": self.fds,
               "mock_open_streams": self.mock_open, "mock_open_after_close": self.mock_open_after})
    }
}

async fn idle_memory(
    shared: &Arc<Shared>,
    sc: &Scenario,
    n: usize,
    pid: u32,
    limit: Duration,
) -> Res<Memory> {
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (before_kib, _) = process::memory_kib(pid)?;
    let open0 = shared.mock.counters.open_streams.load(Ordering::Relaxed);
    let deadline = Instant::now() + limit;
    let mut conns = Vec::with_capacity(n);
    // Opened 50 at a time, as a busy client would, each read up to response.created.
    while conns.len() < n {
        let mut batch = tokio::task::JoinSet::new();
        for _ in 0..(n - conns.len()).min(50) {
            let shared = shared.clone();
            let sc = *sc;
            batch.spawn(async move {
                let mut conn = Conn::connect(shared.proxy).await?;
                let id = bench_id(shared.next_id.fetch_add(1, Ordering::Relaxed));
                let req = Req {
                    tag: "idle",
                    scenario: &sc,
                    id: &id,
                    body_index: BODY_16K,
                    body: shared.mock.body(BODY_16K),
                };
                let mut out = Outcome::default();
                tokio::time::timeout(
                    REQUEST_TIMEOUT,
                    conn.exchange(&req, Until::FirstEvent, false, &mut out),
                )
                .await
                .map_err(|_| "an idle stream did not start in time")??;
                if out.status != 200 {
                    return Err(format!("idle stream answered {}", out.status).into());
                }
                Ok::<_, Box<dyn std::error::Error + Send + Sync>>(conn)
            });
        }
        while let Some(joined) = batch.join_next().await {
            conns.push(joined??);
        }
        if Instant::now() > deadline {
            eprintln!("  (time limit reached with {} streams open)", conns.len());
            break;
        }
    }
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let (with_kib, peak_kib) = process::memory_kib(pid)?;
    let fds = process::open_fds(pid);
    let mock_open = shared.mock.counters.open_streams.load(Ordering::Relaxed) - open0;
    let streams = conns.len();
    drop(conns);
    // Closing the client side must end the upstream streams too.
    let wait_until = Instant::now() + Duration::from_secs(10);
    while shared.mock.counters.open_streams.load(Ordering::Relaxed) > open0
        && Instant::now() < wait_until
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (after_kib, _) = process::memory_kib(pid)?;
    Ok(Memory {
        streams,
        before_kib,
        with_kib,
        peak_kib,
        after_kib,
        fds,
        mock_open,
        mock_open_after: shared.mock.counters.open_streams.load(Ordering::Relaxed) - open0,
    })
}
