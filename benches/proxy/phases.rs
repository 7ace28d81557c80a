//! The measuring phases: who the targets are, one checked exchange, and the loops
//! that collect latency, pacing, throughput and memory samples. Every loop is bounded
//! by a count and by a time limit.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::client::{Conn, Outcome, Req, Until};
use crate::mock::{self, bench_id, Mock, Scenario, Template};
use crate::process;
use crate::report::Row;
use crate::stats::Samples;
use crate::Res;

pub const CONCURRENCY: usize = 64;
pub const GAP_US: u32 = 2000;
pub const GAP_EVENTS: u32 = 50;
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// Request bodies, registered with the mock by index.
pub const BODY_16K: usize = 0;
pub const BODY_4M_SESSION: usize = 1;
pub const BODY_4M_PLAIN: usize = 2;
/// The default stream: 20 deltas of 16 characters, as in the Python kit.
pub const STREAM: Scenario = Scenario::new(20, 16);

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Target {
    Direct,
    Proxy,
}

impl Target {
    pub fn tag(self) -> &'static str {
        match self {
            Target::Direct => "direct",
            Target::Proxy => "proxy",
        }
    }
}

/// What every request needs: where the targets are, the expected streams, the tallies.
pub struct Shared {
    pub mock: Mock,
    pub direct: SocketAddr,
    pub proxy: SocketAddr,
    pub templates: HashMap<Scenario, Template>,
    pub next_id: AtomicU64,
    /// Per target: [sent, ok, body mismatches, errors].
    pub tally: HashMap<Target, [AtomicU64; 4]>,
}

pub const SENT: usize = 0;
pub const OK: usize = 1;
pub const MISMATCH: usize = 2;
pub const ERRORS: usize = 3;

impl Shared {
    pub fn addr(&self, t: Target) -> SocketAddr {
        match t {
            Target::Direct => self.direct,
            Target::Proxy => self.proxy,
        }
    }

    pub fn count(&self, t: Target, what: usize) -> u64 {
        self.tally[&t][what].load(Ordering::Relaxed)
    }

    /// One exchange on `conn`, checked: status 200 and the body byte for byte.
    pub async fn run(
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

/// CPU time per request, µs.
pub fn per_request(cpu: Duration, requests: u64) -> f64 {
    cpu.as_secs_f64() * 1e6 / requests.max(1) as f64
}

/// Latency samples of one c=1 phase, per target, in rounds.
pub struct Latency {
    pub ttfb: HashMap<Target, Samples>,
    pub total: HashMap<Target, Samples>,
    /// proxy − direct within a round.
    pub pair_ttfb: Samples,
}

impl Latency {
    pub fn to_json(&self) -> Value {
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

pub fn latency_row(key: &'static str, figure: &str, s: &HashMap<Target, Samples>, p: f64) -> Row {
    Row::new(key, figure, "ms")
        .direct(s[&Target::Direct].pct(p) / 1e3)
        .proxy(s[&Target::Proxy].pct(p) / 1e3)
        .added()
}

/// Concurrency 1: each round sends one request per target, in random order.
pub async fn latency(
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
pub struct Gaps {
    pub gaps: HashMap<Target, Samples>,
    pub delay: HashMap<Target, Samples>,
}

impl Gaps {
    pub fn to_json(&self) -> Value {
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

pub async fn gaps(
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
pub struct Throughput {
    pub rate: HashMap<Target, f64>,
    pub total: HashMap<Target, Samples>,
    pub own_cpu_us: HashMap<Target, f64>,
    pub proxy_cpu_us: f64,
    /// Share of the proxy's CPU time spent in the kernel.
    pub proxy_system_share: f64,
    detail: Value,
}

impl Throughput {
    pub fn to_json(&self) -> Value {
        self.detail.clone()
    }
}

pub async fn throughput(
    shared: &Arc<Shared>,
    rng: &mut fastrand::Rng,
    slices: usize,
    slice_len: Duration,
    pid: u32,
) -> Res<Throughput> {
    let mut ok: HashMap<Target, u64> = HashMap::new();
    let mut secs: HashMap<Target, f64> = HashMap::new();
    let mut own: HashMap<Target, Duration> = HashMap::new();
    let mut total: HashMap<Target, Samples> = HashMap::new();
    let mut proxy_cpu = Duration::ZERO;
    let mut proxy_system = Duration::ZERO;
    let mut per_slice = Vec::new();
    for _ in 0..slices {
        let mut order = [Target::Direct, Target::Proxy];
        rng.shuffle(&mut order);
        for t in order {
            let ok0 = shared.count(t, OK);
            let (own0, (user0, sys0)) = (process::own_cpu_time()?, process::cpu_split(pid)?);
            let started = Instant::now();
            let lat = slice(shared, t, slice_len).await?;
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
            per_slice.push(json!({"target": t.tag(), "ok": done, "seconds": elapsed, "rate": done as f64 / elapsed}));
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
        detail: json!({"concurrency": CONCURRENCY, "slices": per_slice,
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
pub struct Memory {
    pub streams: usize,
    pub before_kib: u64,
    pub with_kib: u64,
    peak_kib: u64,
    after_kib: u64,
    fds: usize,
    mock_open: u64,
    mock_open_after: u64,
}

impl Memory {
    pub fn to_json(&self, fresh: u64) -> Value {
        json!({"streams": self.streams, "rss_fresh_kib": fresh, "rss_idle_kib": self.before_kib,
               "rss_with_streams_kib": self.with_kib, "rss_peak_kib": self.peak_kib,
               "rss_after_close_kib": self.after_kib, "proxy_fds_with_streams": self.fds,
               "mock_open_streams": self.mock_open, "mock_open_after_close": self.mock_open_after})
    }
}

pub async fn idle_memory(
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
