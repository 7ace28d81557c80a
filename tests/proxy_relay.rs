//! The relay against an in-process mock upstream: routing, headers, status codes,
//! streaming, and every upstream fault the proxy must turn into a clear answer.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed assumption is a failed test

mod support;

use std::io::Write;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{json, Value};
use support::mock::*;

fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

fn codex_body(text: &str) -> Value {
    json!({
        "model": "gpt-5.5",
        "stream": true,
        "input": [
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "<environment_context>\n  <cwd>/tmp/ws</cwd>\n</environment_context>"}]},
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}
        ],
        "tools": [],
        "future_member": {"kept": [1, 2, 3]}
    })
}

async fn post_responses(addr: std::net::SocketAddr, body: &Value) -> reqwest::Response {
    client()
        .post(format!("http://{addr}/v1/responses"))
        .header("authorization", "Bearer sk-secret-test")
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn every_method_path_and_query_is_relayed_with_headers() {
    let mock = MockUpstream::replying(vec![]).await;
    let home = tempfile::tempdir().unwrap();
    let proxy = support::relay_only(&mock.url(), home.path()).await;

    let resp = client()
        .request(
            reqwest::Method::PATCH,
            format!(
                "http://{}/backend-api/wham/settings/user?a=1&b=%20x",
                proxy.addr
            ),
        )
        .header("x-custom", "kept")
        .header("connection", "keep-alive, x-hop")
        .header("x-hop", "dropped")
        .body("{\"k\":1}")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let req = mock.requests().pop().unwrap();
    assert_eq!(req.method, "PATCH");
    assert_eq!(req.path, "/backend-api/wham/settings/user");
    assert_eq!(req.query.as_deref(), Some("a=1&b=%20x"));
    assert_eq!(req.header("x-custom"), Some("kept"));
    assert_eq!(
        req.header("x-hop"),
        None,
        "headers named by Connection stay behind"
    );
    assert_eq!(
        req.header("host"),
        Some(mock.addr.to_string().as_str()),
        "Host is the upstream's"
    );
    assert_eq!(&req.body[..], b"{\"k\":1}");

    let resp = client()
        .get(format!(
            "http://{}/v1/models?client_version=0.169.0",
            proxy.addr
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.json::<Value>().await.unwrap(), json!({"models": []}));
    proxy.stop().await;
}

#[tokio::test]
async fn a_stream_is_relayed_byte_for_byte_and_the_body_unchanged() {
    let events = vec![
        ev_created("resp_1"),
        ev_text_delta("msg_1", "hel"),
        ev_text_delta("msg_1", "lo"),
        ev_message("msg_1", "hello"),
        ev_completed("resp_1"),
    ];
    let expected: Vec<u8> = events.iter().flat_map(|e| sse_event(e).to_vec()).collect();
    let mock = MockUpstream::replying(events).await;
    let home = tempfile::tempdir().unwrap();
    let proxy = support::relay_only(&mock.url(), home.path()).await;

    let body = codex_body("hi");
    let resp = post_responses(proxy.addr, &body).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    assert!(resp.headers().get("content-encoding").is_none());
    assert_eq!(resp.bytes().await.unwrap().to_vec(), expected);
    let seen = &mock.responses_requests()[0];
    assert_eq!(seen.json(), body, "unknown members survive");
    assert_eq!(seen.header("authorization"), Some("Bearer sk-secret-test"));
    proxy.stop().await;
}

#[tokio::test]
async fn each_event_reaches_the_client_as_soon_as_it_is_read() {
    let mock = MockUpstream::start(|_, _| Reply::Sse {
        chunks: [
            ev_created("r"),
            ev_text_delta("m", "a"),
            ev_text_delta("m", "b"),
            ev_completed("r"),
        ]
        .iter()
        .map(sse_event)
        .collect(),
        gap: Duration::from_millis(300),
    })
    .await;
    let home = tempfile::tempdir().unwrap();
    let proxy = support::relay_only(&mock.url(), home.path()).await;

    let start = Instant::now();
    let resp = post_responses(proxy.addr, &codex_body("hi")).await;
    let mut stream = resp.bytes_stream();
    let mut arrivals = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap();
        arrivals.push((
            start.elapsed(),
            String::from_utf8_lossy(&chunk).into_owned(),
        ));
    }
    assert!(arrivals.len() >= 4, "one write per event: {arrivals:?}");
    assert!(
        arrivals[0].0 < Duration::from_millis(250),
        "first event not held back: {arrivals:?}"
    );
    let gaps: Vec<Duration> = arrivals.windows(2).map(|w| w[1].0 - w[0].0).collect();
    assert!(
        gaps.iter().all(|g| *g > Duration::from_millis(200)),
        "events spread as sent: {gaps:?}"
    );
    proxy.stop().await;
}

#[tokio::test]
async fn upstream_error_statuses_pass_through_unchanged() {
    let mock = MockUpstream::start(|_, n| match n {
        0 => Reply::json(500, json!({"error": {"message": "upstream broke"}})),
        _ => Reply::Json {
            status: 429,
            body: json!({"error": {"message": "slow down"}}),
            headers: vec![("retry-after", "7".into())],
        },
    })
    .await;
    let home = tempfile::tempdir().unwrap();
    let proxy = support::relay_only(&mock.url(), home.path()).await;

    let resp = post_responses(proxy.addr, &codex_body("hi")).await;
    assert_eq!(resp.status(), 500);
    assert_eq!(
        resp.json::<Value>().await.unwrap()["error"]["message"],
        "upstream broke"
    );
    let resp = post_responses(proxy.addr, &codex_body("hi")).await;
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["retry-after"], "7");
    proxy.stop().await;
}

#[tokio::test]
async fn an_unreachable_upstream_is_a_502_that_names_it_and_the_cause() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let home = tempfile::tempdir().unwrap();
    let proxy = support::relay_only(&format!("http://{closed}"), home.path()).await;

    let resp = post_responses(proxy.addr, &codex_body("hi")).await;
    assert_eq!(resp.status(), 502);
    let err = resp.json::<Value>().await.unwrap()["error"].clone();
    assert_eq!(err["type"], "upstream_unreachable");
    assert_eq!(err["upstream"], format!("http://{closed}"));
    let cause = err["cause"].as_str().unwrap();
    assert!(cause.to_lowercase().contains("refused"), "{cause}");
    proxy.stop().await;
}

#[tokio::test]
async fn an_upstream_that_never_answers_is_a_504_and_the_request_is_cancelled() {
    let mock = MockUpstream::start(|_, _| Reply::Silent).await;
    let home = tempfile::tempdir().unwrap();
    let proxy = support::proxy_with(&mock.url(), home.path(), |c| {
        c.upstream.idle_timeout_secs = 1
    })
    .await;

    let start = Instant::now();
    let resp = tokio::time::timeout(
        Duration::from_secs(10),
        post_responses(proxy.addr, &codex_body("hi")),
    )
    .await
    .expect("the proxy answers instead of waiting forever");
    let took = start.elapsed();
    assert_eq!(resp.status(), 504);
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(5),
        "{took:?}"
    );
    let err = resp.json::<Value>().await.unwrap()["error"].clone();
    assert_eq!(err["type"], "upstream_timeout");
    assert_eq!(err["upstream"], mock.url());
    let message = err["message"].as_str().unwrap();
    assert!(message.contains("no answer within 1 s"), "{message}");
    assert!(message.contains("upstream.idle_timeout_secs"), "{message}");
    assert_all_closed(&mock).await;
    proxy.stop().await;
}

/// An upstream on a raw socket: reads one request head, then writes `answer` and
/// closes, or (None) answers nothing. The handle ends when the proxy hangs up.
async fn raw_upstream(answer: Option<&'static [u8]>) -> (String, tokio::task::JoinHandle<()>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let served = tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        let mut head = Vec::new();
        let mut buf = [0u8; 4096];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = sock.read(&mut buf).await.unwrap();
            assert!(n > 0, "the proxy closed before its request head ended");
            head.extend_from_slice(&buf[..n]);
        }
        match answer {
            Some(bytes) => sock.write_all(bytes).await.unwrap(),
            None => while sock.read(&mut buf).await.unwrap_or(0) > 0 {},
        }
    });
    (url, served)
}

#[tokio::test]
async fn a_relayed_request_without_an_answer_times_out_too() {
    let (upstream, served) = raw_upstream(None).await;
    let home = tempfile::tempdir().unwrap();
    let proxy =
        support::proxy_with(&upstream, home.path(), |c| c.upstream.idle_timeout_secs = 1).await;

    let resp = client()
        .get(format!("http://{}/v1/models", proxy.addr))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .expect("the proxy answers instead of waiting forever");
    assert_eq!(resp.status(), 504);
    let err = resp.json::<Value>().await.unwrap()["error"].clone();
    assert_eq!(err["type"], "upstream_timeout");
    tokio::time::timeout(Duration::from_secs(5), served)
        .await
        .expect("the proxy hangs up on the silent upstream")
        .unwrap();
    proxy.stop().await;
}

#[tokio::test]
async fn an_upstream_that_answers_garbage_failed_it_is_not_unreachable() {
    let (upstream, _served) = raw_upstream(Some(b"HTTP/1.1 2x0 WAT\r\n\r\n")).await;
    let home = tempfile::tempdir().unwrap();
    let proxy = support::relay_only(&upstream, home.path()).await;

    let resp = post_responses(proxy.addr, &codex_body("hi")).await;
    assert_eq!(resp.status(), 502);
    let err = resp.json::<Value>().await.unwrap()["error"].clone();
    assert_eq!(err["type"], "upstream_failed");
    assert_eq!(err["upstream"], upstream);
    let message = err["message"].as_str().unwrap();
    assert!(message.contains("failed before answering"), "{message}");
    assert!(message.to_lowercase().contains("invalid http"), "{message}");
    proxy.stop().await;
}

fn failed_reason(body: &str) -> String {
    let last = body
        .split("\n\n")
        .filter(|e| !e.trim().is_empty())
        .last()
        .unwrap_or_default();
    assert!(
        last.starts_with("event: response.failed"),
        "last event: {last}"
    );
    let data: Value =
        serde_json::from_str(last.lines().nth(1).unwrap().trim_start_matches("data: ")).unwrap();
    data["response"]["error"]["message"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn an_upstream_that_dies_mid_stream_yields_response_failed() {
    let mock = MockUpstream::dying_mid_stream("resp_9", "par").await;
    let home = tempfile::tempdir().unwrap();
    let proxy = support::relay_only(&mock.url(), home.path()).await;

    let body = post_responses(proxy.addr, &codex_body("hi"))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        body.contains("\"delta\":\"par\""),
        "what arrived is kept: {body}"
    );
    let reason = failed_reason(&body);
    assert!(reason.contains("stream broke"), "{reason}");
    assert!(body.contains("\"id\":\"resp_9\""));
    proxy.stop().await;
}

#[tokio::test]
async fn a_stalled_upstream_is_cut_after_the_idle_timeout() {
    let mock =
        MockUpstream::start(|_, _| Reply::StallAfter(vec![sse_event(&ev_created("resp_1"))])).await;
    let home = tempfile::tempdir().unwrap();
    let proxy = support::proxy_with(&mock.url(), home.path(), |c| {
        c.upstream.idle_timeout_secs = 1
    })
    .await;

    let start = Instant::now();
    let body = post_responses(proxy.addr, &codex_body("hi"))
        .await
        .text()
        .await
        .unwrap();
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(5),
        "{took:?}"
    );
    assert!(failed_reason(&body).contains("sent nothing for 1 s"));
    proxy.stop().await;
}

#[tokio::test]
async fn garbage_and_a_missing_completion_still_end_the_stream_cleanly() {
    let mock = MockUpstream::start(|_, _| Reply::Sse {
        chunks: vec![
            bytes::Bytes::from_static(b"data: {not json\n\n"),
            bytes::Bytes::from_static(b"\x00\xff\xfe garbage without a blank line"),
        ],
        gap: Duration::ZERO,
    })
    .await;
    let home = tempfile::tempdir().unwrap();
    let proxy = support::relay_only(&mock.url(), home.path()).await;

    let body = post_responses(proxy.addr, &codex_body("hi"))
        .await
        .bytes()
        .await
        .unwrap();
    assert!(
        body.starts_with(b"data: {not json\n\n\x00\xff\xfe garbage"),
        "relayed as it came"
    );
    let text = String::from_utf8_lossy(&body);
    assert!(text.contains("before response.completed"), "{text}");
    proxy.stop().await;
}

#[tokio::test]
async fn a_client_that_disconnects_cancels_its_upstream_request() {
    let mock =
        MockUpstream::start(|_, _| Reply::StallAfter(vec![sse_event(&ev_created("resp_1"))])).await;
    let home = tempfile::tempdir().unwrap();
    let proxy = support::relay_only(&mock.url(), home.path()).await;

    let resp = post_responses(proxy.addr, &codex_body("hi")).await;
    let mut stream = resp.bytes_stream();
    let first = stream.next().await.unwrap().unwrap();
    assert!(first.starts_with(b"event: response.created"));
    let before = mock.open_streams();
    assert_eq!(before, 1, "the upstream stream is open");
    drop(stream);
    assert_all_closed(&mock).await;
    proxy.stop().await;
}

/// Within a few seconds the mock holds nothing open: the proxy dropped its requests.
async fn assert_all_closed(mock: &MockUpstream) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while mock.open_streams() > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(mock.open_streams(), 0, "the upstream request was dropped");
}

#[tokio::test]
async fn bodies_over_the_limit_get_413_and_non_json_is_relayed_as_it_came() {
    let mock = MockUpstream::replying(answer("r", "ok")).await;
    let home = tempfile::tempdir().unwrap();
    let proxy = support::proxy_with(&mock.url(), home.path(), |c| c.server.body_limit_mb = 1).await;

    let big = "x".repeat(1024 * 1024 + 10);
    let resp = client()
        .post(format!("http://{}/v1/responses", proxy.addr))
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);
    let err: Value = resp.json().await.unwrap();
    assert!(err["error"]["message"]
        .as_str()
        .unwrap()
        .contains("body_limit_mb"));

    let resp = client()
        .post(format!("http://{}/v1/responses", proxy.addr))
        .body("this is { not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        &mock.responses_requests()[0].body[..],
        b"this is { not json"
    );
    proxy.stop().await;
}

#[tokio::test]
async fn compressed_bodies_go_upstream_unchanged_and_bad_ones_as_they_came() {
    let mock = MockUpstream::replying(answer("r", "ok")).await;
    let home = tempfile::tempdir().unwrap();
    let proxy = support::relay_only(&mock.url(), home.path()).await;

    let body = codex_body("zstd please").to_string();
    let zstd = zstd::encode_all(body.as_bytes(), 3).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(body.as_bytes()).unwrap();
    let gzip = gz.finish().unwrap();
    for (encoding, wire) in [
        ("zstd", zstd),
        ("gzip", gzip),
        ("zstd", b"not zstd".to_vec()),
    ] {
        let resp = client()
            .post(format!("http://{}/backend-api/codex/responses", proxy.addr))
            .header("content-encoding", encoding)
            .body(wire.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        resp.bytes().await.unwrap();
        let seen = mock.requests().pop().unwrap();
        assert_eq!(
            seen.raw_body.to_vec(),
            wire,
            "{encoding}: the original bytes"
        );
        assert_eq!(seen.header("content-encoding"), Some(encoding));
    }
    proxy.stop().await;
}

#[tokio::test]
async fn websocket_upgrades_on_responses_get_426() {
    let mock = MockUpstream::replying(vec![]).await;
    let home = tempfile::tempdir().unwrap();
    let proxy = support::relay_only(&mock.url(), home.path()).await;
    let resp = client()
        .get(format!("http://{}/backend-api/codex/responses", proxy.addr))
        .header("connection", "Upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 426);
    assert!(mock.requests().is_empty(), "not forwarded");
    proxy.stop().await;
}

#[tokio::test]
async fn own_endpoints_and_unknown_paths() {
    let mock = MockUpstream::replying(answer("r", "ok")).await;
    let home = tempfile::tempdir().unwrap();
    let proxy = support::relay_only(&mock.url(), home.path()).await;
    let base = format!("http://{}", proxy.addr);

    let health: Value = client()
        .get(format!("{base}/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "ok");
    post_responses(proxy.addr, &codex_body("hi"))
        .await
        .bytes()
        .await
        .unwrap();
    let status: Value = client()
        .get(format!("{base}/status"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["upstreams"]["openai"], mock.url());
    assert_eq!(status["requests"]["responses"], 1);
    assert_eq!(status["open_streams"], 0);
    assert!(status["listen"][0]
        .as_str()
        .unwrap()
        .starts_with("http://127.0.0.1:"));
    assert!(status["uptime_secs"].is_u64() && status["version"].is_string());
    let metrics = client()
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("codex_plus_responses_requests_total 1"),
        "{metrics}"
    );

    let resp = client()
        .get(format!("{base}/nowhere"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    let err: Value = resp.json().await.unwrap();
    assert!(err["error"]["message"]
        .as_str()
        .unwrap()
        .contains("/backend-api/"));
    proxy.stop().await;
}

#[tokio::test]
async fn tls_and_plain_http_share_the_port() {
    let mock = MockUpstream::replying(vec![]).await;
    let home = tempfile::tempdir().unwrap();
    let proxy = support::relay_only(&mock.url(), home.path()).await;
    let ca = std::fs::read(codex_plus::ca::CaFiles::under(home.path()).cert).unwrap();
    let tls_client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
        .no_proxy()
        .build()
        .unwrap();
    for host in ["127.0.0.1", "localhost"] {
        let url = format!("https://{host}:{}/health", proxy.addr.port());
        let resp = tls_client.get(url).send().await.unwrap();
        assert_eq!(resp.status(), 200, "{host}");
    }
    let resp = client()
        .get(format!("http://{}/health", proxy.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    proxy.stop().await;
}

#[tokio::test]
async fn shutdown_lets_an_open_stream_finish() {
    let mock = MockUpstream::start(|_, _| Reply::Sse {
        chunks: [
            ev_created("r"),
            ev_text_delta("m", "a"),
            ev_text_delta("m", "b"),
            ev_completed("r"),
        ]
        .iter()
        .map(sse_event)
        .collect(),
        gap: Duration::from_millis(150),
    })
    .await;
    let home = tempfile::tempdir().unwrap();
    let proxy = support::relay_only(&mock.url(), home.path()).await;
    let addr = proxy.addr;

    let resp = post_responses(addr, &codex_body("hi")).await;
    let stopping = tokio::spawn(proxy.stop());
    let body = resp.text().await.unwrap();
    assert!(body.contains("response.completed"), "{body}");
    stopping.await.unwrap();
    assert!(
        client()
            .get(format!("http://{addr}/health"))
            .send()
            .await
            .is_err(),
        "no new connections after shutdown"
    );
}
