//! What the relay logs: every line carries its request's span (id, method, path),
//! the event stream's own warnings included, and never a credential. Its own test
//! binary, because tracing's per-callsite interest is process-wide and parallel
//! tests would race on it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed assumption is a failed test

mod support;

use serde_json::json;
use support::logs::Captured;
use support::mock::*;

const SECRET: &str = "sk-secret-must-not-leak";

async fn post(addr: std::net::SocketAddr) -> reqwest::Response {
    let body = json!({
        "model": "gpt-5.5",
        "stream": true,
        "input": [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}],
    });
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .post(format!("http://{addr}/v1/responses?trace=1"))
        .header("authorization", format!("Bearer {SECRET}"))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap()
}

/// `request{id=N method=POST path=/v1/responses}`, and N.
fn request_id(line: &str) -> u64 {
    let span = line
        .split("request{")
        .nth(1)
        .and_then(|rest| rest.split('}').next())
        .unwrap_or_else(|| panic!("no request span in {line:?}"));
    assert!(
        span.contains("method=POST") && span.contains("path=/v1/responses"),
        "{span}"
    );
    assert!(!span.contains("trace=1"), "the query is not logged: {span}");
    span.split_whitespace()
        .find_map(|f| f.strip_prefix("id="))
        .and_then(|id| id.parse().ok())
        .unwrap_or_else(|| panic!("no id in {span:?}"))
}

#[tokio::test]
async fn log_lines_carry_their_request_and_never_a_credential() {
    let (logs, _guard) = Captured::start(tracing::Level::INFO);

    // An upstream that is not there: the handler's own warning, and the 502's.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let home = tempfile::tempdir().unwrap();
    let proxy = support::relay_only(&format!("http://{closed}"), home.path()).await;
    assert_eq!(post(proxy.addr).await.status(), 502);
    proxy.stop().await;
    let unreachable = request_id(&logs.line("is unreachable"));
    let failed = logs.line("response failed");
    assert_eq!(request_id(&failed), unreachable);
    assert!(failed.contains("502"), "{failed}");

    // An upstream that dies mid-stream: the relay warns while the body is polled,
    // outside the handler, and still under its request.
    let mock = MockUpstream::dying_mid_stream("resp_9", "par").await;
    let home = tempfile::tempdir().unwrap();
    let proxy = support::relay_only(&mock.url(), home.path()).await;
    let body = post(proxy.addr).await.text().await.unwrap();
    assert!(body.contains("response.failed"), "{body}");
    proxy.stop().await;
    let broken = request_id(&logs.line("upstream stream ended abnormally"));
    assert_ne!(broken, unreachable, "each request has its own id");

    let text = logs.text();
    assert!(!text.contains(SECRET), "a credential was logged:\n{text}");
}

/// A settings file that is not valid JSON loses its hooks and status line: the log
/// says so, naming the file, when the workspace's settings are read.
#[test]
fn a_broken_settings_file_is_logged_not_dropped_in_silence() {
    let (logs, _guard) = Captured::start(tracing::Level::WARN);
    let home = tempfile::tempdir().unwrap();
    let ws = tempfile::tempdir().unwrap();
    let file = ws.path().join(".claude/settings.json");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, "{\"hooks\": {,}}").unwrap();
    let catalogs =
        codex_plus::claude::ClaudeCatalogs::new(codex_plus::claude::Roots::with_home(home.path()));
    let settings = catalogs.settings.get(ws.path());
    assert!(settings.files.is_empty(), "the broken file is not applied");
    let line = logs.line(&file.display().to_string());
    assert!(line.contains("WARN"), "{line}");
    assert!(line.contains("invalid JSON"), "{line}");
    // Read once, told once.
    catalogs.settings.get(ws.path());
    assert_eq!(
        logs.text().matches("invalid JSON").count(),
        1,
        "{}",
        logs.text()
    );
}
