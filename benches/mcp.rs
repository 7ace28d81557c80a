//! MCP for subagents: what the first call in a workspace costs against a warm one, and
//! what an idle server connection holds in memory.
//!
//! `cargo bench --bench mcp` prints:
//! - first call: a stdio server's start (spawn, MCP handshake, tools/list) plus one
//!   `tools/call`, through the engine's pool, over fresh pools; and the same for a
//!   streamable-HTTP server in this process (handshake and list over HTTP, no spawn);
//! - warm call: one `tools/call` on the running connection;
//! - RSS per idle stdio connection: the proxy's side (this process's RSS growth per
//!   connection, after the handshake) and the child's (each server's VmRSS).
//!
//! The server is this bench binary itself (run with `MCP_DEMO_SERVER=stdio`): the
//! tests' small rmcp demo server (`tests/mcp_demo/`), so the child's figure is about
//! an rmcp server's floor (plus this binary's own code mapped in).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // bench code: a failed assumption is a failed bench

use std::path::Path;
use std::time::{Duration, Instant};

use codex_plus::engine::mcp::config::{ServerConfig, Transport};
use codex_plus::engine::mcp::McpPool;
use serde_json::json;

#[path = "../tests/mcp_demo/mod.rs"]
mod mcp_demo;

const FIRST_RUNS: usize = 10;
const WARM_CALLS: usize = 300;
const IDLE_SERVERS: usize = 20;

fn rss_kib(pid: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

fn stdio(name: &str, tag: usize) -> ServerConfig {
    ServerConfig {
        name: name.to_string(),
        transport: Transport::Stdio {
            command: std::env::current_exe().unwrap().display().to_string(),
            args: vec![],
            // A distinct configuration per tag: a distinct server in the pool.
            env: vec![
                ("MCP_DEMO_SERVER".into(), "stdio".into()),
                ("TAG".into(), tag.to_string()),
            ],
            cwd: None,
        },
        source: "bench".into(),
    }
}

fn pool() -> McpPool {
    McpPool::new(
        Duration::from_secs(3600),
        Duration::from_secs(30),
        reqwest::Client::new(),
    )
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

async fn first_and_warm(label: &str, config: impl Fn(usize) -> ServerConfig) {
    let ws = Path::new("/tmp");
    let mut firsts = Vec::new();
    let mut warm = Vec::new();
    for run in 0..FIRST_RUNS {
        let pool = pool();
        let slot = pool.slot(ws, &config(run));
        let started = Instant::now();
        let out = slot.call("echo", json!({"text": "hi"})).await.unwrap();
        firsts.push(started.elapsed());
        assert_eq!(out["content"][0]["text"], "echo: hi");
        if run == 0 {
            for _ in 0..WARM_CALLS {
                let started = Instant::now();
                slot.call("echo", json!({"text": "hi"})).await.unwrap();
                warm.push(started.elapsed());
            }
        }
        pool.shutdown().await;
    }
    firsts.sort();
    warm.sort();
    println!(
        "{label}: first call (start + call) p50 {:.1} ms, min {:.1}, max {:.1} over {FIRST_RUNS} fresh pools",
        ms(pct(&firsts, 0.5)),
        ms(firsts[0]),
        ms(firsts[firsts.len() - 1]),
    );
    println!(
        "{label}: warm call p50 {:.3} ms, p99 {:.3} ms over {WARM_CALLS} calls",
        ms(pct(&warm, 0.5)),
        ms(pct(&warm, 0.99)),
    );
}

fn main() {
    if std::env::var("MCP_DEMO_SERVER").as_deref() == Ok("stdio") {
        mcp_demo::serve_stdio();
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        first_and_warm("stdio", |run| stdio("demo", run)).await;
        let url = mcp_demo::serve_http(None).await;
        first_and_warm("http ", |_| ServerConfig {
            name: "remote".into(),
            transport: Transport::Http {
                url: url.clone(),
                headers: vec![],
            },
            source: "bench".into(),
        })
        .await;

        // Memory: many idle stdio connections, then each side's resident set.
        let pool = pool();
        // One connection first, so one-time costs (the runtime's pieces, rmcp's
        // statics, the first spawn) are not counted per connection.
        pool.slot(Path::new("/tmp"), &stdio("warmup", 9999))
            .connect()
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        let before = rss_kib("self");
        for i in 0..IDLE_SERVERS {
            pool.slot(Path::new("/tmp"), &stdio(&format!("s{i}"), i))
                .connect()
                .await
                .unwrap();
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        let after = rss_kib("self");
        let children: Vec<u64> = pool
            .running()
            .iter()
            .filter_map(|(_, pid)| *pid)
            .map(|pid| rss_kib(&pid.to_string()))
            .collect();
        let child_avg = children.iter().sum::<u64>() as f64 / children.len().max(1) as f64;
        println!(
            "RSS per idle stdio connection: proxy side {:.0} KiB ({IDLE_SERVERS} connections: {} → {} KiB), child {:.0} KiB (VmRSS of this rmcp demo server, average of {})",
            (after.saturating_sub(before)) as f64 / IDLE_SERVERS as f64,
            before,
            after,
            child_avg,
            children.len(),
        );
        pool.shutdown().await;
    });
}
