//! The dashboard's endpoints through a real listener: the page and its assets under a
//! strict Content-Security-Policy, the snapshot, the all-tasks event stream, and the
//! trust boundary's refusals on every new route.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed assumption is a failed test

mod engine_mock;
mod support;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use codex_plus::cli::serve::Running;
use engine_mock::*;
use futures_util::StreamExt;
use serde_json::{json, Value};

const ROUTES: [&str; 5] = [
    "/dashboard",
    "/dashboard/app.js",
    "/dashboard/app.css",
    "/api/dashboard",
    "/api/dashboard/events",
];

/// A proxy whose upstream and Task model is `mock`, with a workspace to run Tasks in.
struct Dash {
    proxy: Running,
    base: String,
    ws: PathBuf,
    http: reqwest::Client,
    _tmp: tempfile::TempDir,
}

async fn dash(mock: &MockModel) -> Dash {
    support::init_logs();
    let tmp = tempfile::tempdir().unwrap();
    let root = std::fs::canonicalize(tmp.path()).unwrap();
    let ws = root.join("ws");
    std::fs::create_dir_all(&ws).unwrap();
    let proxy = support::proxy_with(&mock.url, &root.join("state"), |c| {
        fast_providers(c);
        c.server.tls = false;
        // Longer than any test waits: a stream that held shutdown up would show.
        c.server.shutdown_grace_secs = 30;
    })
    .await;
    Dash {
        base: format!("http://{}", proxy.addr),
        proxy,
        ws,
        http: reqwest::Client::new(),
        _tmp: tmp,
    }
}

impl Dash {
    async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap()
    }

    async fn snapshot(&self) -> Value {
        let resp = self.get("/api/dashboard").await;
        assert_eq!(resp.status(), 200);
        resp.json().await.unwrap()
    }

    /// Starts a general-purpose Task without waiting; its id.
    async fn start_task(&self, prompt: &str, description: &str) -> String {
        let body =
            json!({"prompt": prompt, "description": description, "cwd": self.ws, "wait": false});
        let resp = self
            .http
            .post(format!("{}/api/tasks", self.base))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 202);
        let body: Value = resp.json().await.unwrap();
        body["id"].as_str().unwrap().to_string()
    }

    /// One Codex turn of session `session`, as Codex 0.169.0's `exec` sends it.
    async fn codex_turn(&self, session: &str, model: &str) {
        let body = json!({"model": model, "stream": true, "tools": [], "input": [
            {"type": "message", "role": "user", "content": [{"type": "input_text",
                "text": format!("<environment_context><cwd>{}</cwd></environment_context>", self.ws.display())}]},
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hello"}]}]});
        let resp = self
            .http
            .post(format!("{}/v1/responses", self.base))
            .header("authorization", "Bearer sk-test")
            .header("content-type", "application/json")
            .header("session-id", session)
            .header("user-agent", "codex_exec/0.169.0 (Debian 12; x86_64) dumb")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let text = resp.text().await.unwrap();
        assert!(text.contains("response.completed"), "{text}");
    }
}

/// The event stream, read event by event.
struct Events {
    body: futures_util::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    buf: String,
}

impl Events {
    async fn open(dash: &Dash) -> Events {
        let resp = dash.get("/api/dashboard/events").await;
        assert_eq!(resp.status(), 200);
        assert_eq!(
            resp.headers()["content-type"].to_str().unwrap(),
            "text/event-stream"
        );
        Events {
            body: resp.bytes_stream().boxed(),
            buf: String::new(),
        }
    }

    /// The next event other than keep-alive comments: its name and data.
    async fn next(&mut self) -> (String, Value) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let frame: String = self.buf.drain(..end + 2).collect();
                let (mut name, mut data) = (String::new(), String::new());
                for line in frame.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        name = v.trim().to_string();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim_start());
                    }
                }
                if name.is_empty() {
                    continue;
                }
                return (name, serde_json::from_str(&data).unwrap());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            let chunk = tokio::time::timeout(left, self.body.next())
                .await
                .expect("no dashboard event within 20 s")
                .expect("the event stream ended")
                .unwrap();
            self.buf.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }

    /// Events until `stop` says so; `state` events are skipped unless `stop` wants them.
    async fn until(&mut self, mut stop: impl FnMut(&str, &Value) -> bool) -> Vec<(String, Value)> {
        let mut seen = Vec::new();
        loop {
            let (name, data) = self.next().await;
            let done = stop(&name, &data);
            seen.push((name, data));
            if done {
                return seen;
            }
        }
    }
}

fn task_events<'a>(seen: &'a [(String, Value)], id: &str) -> Vec<&'a Value> {
    seen.iter()
        .filter(|(name, data)| name == "task" && data["task"]["id"] == id)
        .map(|(_, data)| data)
        .collect()
}

/// Answers a Task whose prompt starts with "slow" after `slow`, anything else at once.
async fn mock(slow: Duration) -> MockModel {
    MockModel::start(move |seen| {
        if seen.prompt().starts_with("slow") {
            Step::after(slow, text("slow work done"))
        } else {
            Step::now(text("all done"))
        }
    })
    .await
}

#[tokio::test]
async fn the_page_and_its_assets_are_built_in_under_a_strict_policy() {
    let model = mock(Duration::ZERO).await;
    let d = dash(&model).await;
    for (path, kind) in [
        ("/dashboard", "text/html"),
        ("/dashboard/app.js", "text/javascript"),
        ("/dashboard/app.css", "text/css"),
    ] {
        let resp = d.get(path).await;
        assert_eq!(resp.status(), 200, "{path}");
        let headers = resp.headers().clone();
        assert!(
            headers["content-type"].to_str().unwrap().starts_with(kind),
            "{path}"
        );
        let csp = headers["content-security-policy"].to_str().unwrap();
        for directive in [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "connect-src 'self'",
            "frame-ancestors 'none'",
        ] {
            assert!(csp.contains(directive), "{path}: {csp}");
        }
        assert!(!csp.contains("unsafe"), "{path}: {csp}");
        assert_eq!(headers["x-content-type-options"], "nosniff");
        let body = resp.text().await.unwrap();
        // Nothing comes from the network: no absolute URL to anywhere.
        for scheme in ["http://", "https://", "//cdn", "@import"] {
            assert!(!body.contains(scheme), "{path} names {scheme}");
        }
        if path == "/dashboard" {
            // Every script is a file of its own (the policy would block inline ones).
            for script in body.split("<script").skip(1) {
                let tag = &script[..script.find('>').unwrap()];
                assert!(tag.contains("src=\"/dashboard/app.js\""), "{tag}");
                assert!(script[script.find('>').unwrap() + 1..].starts_with("</script>"));
            }
            assert!(!body.contains("<style") && !body.contains(" style="));
            for handler in ["onclick=", "onload=", "onerror=", "onkeydown=", "onsubmit="] {
                assert!(!body.contains(handler), "inline handler {handler}");
            }
            assert!(body.contains("<main") && body.contains("aria-live"));
        }
    }
    d.proxy.stop().await;
}

#[tokio::test]
async fn foreign_hosts_and_origins_are_refused_on_every_dashboard_route() {
    let model = mock(Duration::ZERO).await;
    let d = dash(&model).await;
    let port = d.proxy.addr.port();
    for route in ROUTES {
        let url = format!("{}{route}", d.base);
        let rebound = d
            .http
            .get(&url)
            .header("host", format!("evil.example:{port}"))
            .send()
            .await
            .unwrap();
        assert_eq!(rebound.status(), 403, "{route}");
        let body: Value = rebound.json().await.unwrap();
        assert_eq!(body["error"]["type"], "forbidden_host", "{route}");

        let cross = d
            .http
            .get(&url)
            .header("origin", "http://evil.example")
            .send()
            .await
            .unwrap();
        assert_eq!(cross.status(), 403, "{route}");
        let body: Value = cross.json().await.unwrap();
        assert_eq!(body["error"]["type"], "forbidden_origin", "{route}");

        // The page's own origin is served (the event stream is only opened, not read).
        let own = d
            .http
            .get(&url)
            .header("origin", d.base.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(own.status(), 200, "{route}");
    }
    // The page's cancel button: refused from another origin, or without a JSON body.
    let id = d.start_task("quick", "Quick").await;
    let cancel = format!("{}/api/tasks/{id}/cancel", d.base);
    let cross = d
        .http
        .post(&cancel)
        .header("origin", "http://evil.example")
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(cross.status(), 403);
    let form = d
        .http
        .post(&cancel)
        .header("origin", d.base.clone())
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 403);
    d.proxy.stop().await;
}

#[tokio::test]
async fn the_snapshot_shows_sessions_tasks_and_health() {
    let model = mock(Duration::ZERO).await;
    let d = dash(&model).await;
    let empty = d.snapshot().await;
    assert_eq!(empty["running"], json!([]));
    assert_eq!(empty["sessions"], json!([]));
    assert_eq!(empty["health"]["open_streams"], 0);
    assert_eq!(empty["version"], env!("CARGO_PKG_VERSION"));

    d.codex_turn("sess-1", "gpt-5.5").await;
    let id = d.start_task("quick: list the files", "List files").await;
    let ended = wait_for_end(&d, &id).await;
    assert_eq!(ended["status"], "completed");

    let snap = d.snapshot().await;
    let session = &snap["sessions"][0];
    assert_eq!(session["id"], "sess-1");
    assert_eq!(session["cwd"], json!(d.ws));
    assert_eq!(session["model"], "gpt-5.5");
    assert_eq!(
        session["client"],
        json!({"name": "codex_exec", "version": "0.169.0"})
    );
    assert_eq!(session["turns"], 1);
    assert!(session["last_turn_at"].as_i64().unwrap() > 0);
    let finished = snap["finished"].as_array().unwrap();
    let task = finished.iter().find(|t| t["id"] == id).expect("listed");
    assert_eq!(task["status"], "completed");
    assert_eq!(task["agent"], "general-purpose");
    assert_eq!(task["description"], "List files");
    assert_eq!(task["output"], "all done");
    assert_eq!(task["background"], false);
    assert!(task["duration_ms"].is_u64());
    assert_eq!(task["usage"]["input_tokens"], 10);
    // Relayed requests only: the API calls above are the proxy's own.
    assert_eq!(snap["health"]["requests"], 1);
    assert_eq!(snap["health"]["responses"], 1);
    assert!(snap["health"]["breakers"].is_object());
    d.proxy.stop().await;
}

async fn wait_for_end(d: &Dash, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let task: Value = d
            .get(&format!("/api/tasks/{id}"))
            .await
            .json()
            .await
            .unwrap();
        if !matches!(task["status"].as_str(), Some("queued" | "running")) {
            return task;
        }
        assert!(Instant::now() < deadline, "task {id} did not end: {task}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn the_event_stream_starts_with_a_snapshot_then_follows_every_task() {
    let model = mock(Duration::from_millis(600)).await;
    let d = dash(&model).await;
    let done = d.start_task("quick", "Before the stream").await;
    wait_for_end(&d, &done).await;

    let mut events = Events::open(&d).await;
    let (name, snap) = events.next().await;
    assert_eq!(name, "snapshot");
    assert_eq!(snap["finished"][0]["id"], done, "{snap}");
    assert!(snap["now_ms"].as_i64().unwrap() > 0);

    // A slow Task: every step of it arrives, in order, with its counts.
    let slow = d.start_task("slow: summarise", "Summarise").await;
    let seen = events
        .until(|name, data| {
            name == "task" && data["task"]["id"] == slow && data["event"] == "finished"
        })
        .await;
    let steps: Vec<&str> = task_events(&seen, &slow)
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(steps, ["queued", "started", "model_call", "finished"]);
    let updates = task_events(&seen, &slow);
    assert_eq!(updates[0]["task"]["status"], "queued");
    assert_eq!(updates[1]["task"]["status"], "running");
    assert!(updates[1]["task"]["started_at"].is_i64());
    assert!(updates[2]["detail"].as_str().unwrap().contains(':'));
    assert_eq!(updates[2]["task"]["usage"]["output_tokens"], 5);
    let last = &updates[3]["task"];
    assert_eq!(last["status"], "completed");
    assert_eq!(last["output"], "slow work done");
    assert!(last["duration_ms"].as_u64().unwrap() >= 500);

    // Cancelled from the page's origin, with a JSON body: the stream says so.
    let cancelled = d.start_task("slow: never mind", "Never mind").await;
    events
        .until(|name, data| {
            name == "task" && data["task"]["id"] == cancelled && data["event"] == "started"
        })
        .await;
    let resp = d
        .http
        .post(format!("{}/api/tasks/{cancelled}/cancel", d.base))
        .header("origin", d.base.clone())
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let seen = events
        .until(|name, data| name == "task" && data["task"]["id"] == cancelled)
        .await;
    assert_eq!(seen.last().unwrap().1["event"], "finished");
    assert_eq!(seen.last().unwrap().1["task"]["status"], "cancelled");

    // A Codex turn: the sessions come as a `state` event, within the second.
    d.codex_turn("sess-live", "gpt-5.5").await;
    let seen = events
        .until(|name, data| {
            name == "state"
                && data["sessions"]
                    .as_array()
                    .is_some_and(|s| s.iter().any(|s| s["id"] == "sess-live"))
        })
        .await;
    let state = &seen.last().unwrap().1;
    assert_eq!(state["sessions"][0]["model"], "gpt-5.5");
    assert!(state["health"]["responses"].as_u64().unwrap() >= 1);
    d.proxy.stop().await;
}

#[tokio::test]
async fn a_background_task_is_marked_in_the_feed() {
    // A background Task comes from a Codex turn's Task call with run_in_background.
    let model = MockModel::start(|seen| {
        let is_codex = seen.body["input"].to_string().contains("environment_context");
        if is_codex && seen.outputs().is_empty() {
            Step::now(call(
                "call_1",
                "Task",
                json!({"description": "Watch the logs", "prompt": "slow: watch", "subagent_type": "general-purpose", "run_in_background": true}),
            ))
        } else if seen.prompt().starts_with("slow") {
            Step::after(Duration::from_millis(300), text("watched"))
        } else {
            Step::now(text("ok"))
        }
    })
    .await;
    let d = dash(&model).await;
    let mut events = Events::open(&d).await;
    assert_eq!(events.next().await.0, "snapshot");
    d.codex_turn("sess-bg", "gpt-5.5").await;
    let seen = events
        .until(|name, data| name == "task" && data["event"] == "finished")
        .await;
    let finished = &seen.last().unwrap().1["task"];
    assert_eq!(finished["description"], "Watch the logs");
    assert_eq!(finished["background"], true);
    assert_eq!(finished["session_id"], "sess-bg");
    let snap = d.snapshot().await;
    let listed = snap["finished"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == finished["id"])
        .cloned()
        .unwrap();
    assert_eq!(listed["background"], true);
    d.proxy.stop().await;
}

#[tokio::test]
async fn an_open_dashboard_does_not_hold_up_shutdown() {
    let model = mock(Duration::ZERO).await;
    let d = dash(&model).await;
    let mut events = Events::open(&d).await;
    assert_eq!(events.next().await.0, "snapshot");
    let started = Instant::now();
    d.proxy.stop().await;
    // The grace is 30 s: the stream ended when shutdown began.
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let rest = tokio::time::timeout(Duration::from_secs(5), events.body.next()).await;
    assert!(matches!(rest, Ok(None | Some(Err(_)))), "{rest:?}");
}
