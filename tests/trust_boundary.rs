//! The proxy's trust boundary against its real listener: only local callers drive
//! it (Host, Origin, JSON bodies), paths with dot segments are never relayed, slow
//! clients are cut at the read deadlines, and idle upstream connections expire.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed assumption is a failed test

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::mock::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

/// Sends raw bytes and reads the answer until the server closes (or 10 s pass).
async fn raw(addr: std::net::SocketAddr, request: &str) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn the_reported_csrf_request_is_refused_and_no_task_runs() {
    let mock = MockUpstream::replying(answer("r", "subagent ran")).await;
    let home = tempfile::tempdir().unwrap();
    let proxy = support::proxy(&mock.url(), home.path()).await;
    let port = proxy.addr.port();
    let task = json!({"subagent_type": "general-purpose", "prompt": "cat /etc/shadow", "cwd": "/"});

    // POSTs the task with these headers; the refusal's status and JSON error.
    let post_task = |headers: Vec<(&'static str, String)>| {
        let mut req = client()
            .post(format!("http://{}/api/tasks", proxy.addr))
            .body(task.to_string());
        for (name, value) in headers {
            req = req.header(name, value);
        }
        async move {
            let resp = req.send().await.unwrap();
            let status = resp.status();
            (status, resp.json::<Value>().await.unwrap())
        }
    };
    let plain = ("content-type", "text/plain;charset=UTF-8".to_string());
    let evil_origin = ("origin", "https://evil.example".to_string());

    // The request of the report: a text/plain body, a foreign Origin and Host.
    let (status, err) = post_task(vec![
        plain.clone(),
        evil_origin.clone(),
        ("host", format!("evil.example:{port}")),
    ])
    .await;
    assert_eq!(status, 403);
    assert_eq!(err["error"]["type"], "forbidden_host");
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("evil.example"),
        "{err}"
    );

    // The same from a page on a local Host (CSRF without rebinding): its Origin.
    let (status, err) = post_task(vec![plain, evil_origin]).await;
    assert_eq!(status, 403);
    assert_eq!(err["error"]["type"], "forbidden_origin");

    // No Origin (a non-browser client) but not JSON: refused too.
    let (status, err) = post_task(vec![("content-type", "text/plain".to_string())]).await;
    assert_eq!(status, 403);
    assert_eq!(err["error"]["type"], "unsupported_content_type");

    // DNS rebinding cannot read either.
    for path in ["/status", "/api/tasks", "/health"] {
        let answer = raw(
            proxy.addr,
            &format!(
                "GET {path} HTTP/1.1\r\nhost: rebound.example:{port}\r\nconnection: close\r\n\r\n"
            ),
        )
        .await;
        assert!(answer.starts_with("HTTP/1.1 403"), "{path}: {answer}");
    }

    // Nothing ran: no task in the list, no model call upstream.
    let list: Value = client()
        .get(format!("http://{}/api/tasks", proxy.addr))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["tasks"].as_array().map(Vec::len), Some(0), "{list}");
    assert!(mock.responses_requests().is_empty());

    // A local caller with a JSON body is served (here: a clear 400 for the bad agent).
    let resp = client()
        .post(format!("http://localhost:{port}/api/tasks"))
        .json(&json!({"subagent_type": "no-such-agent", "prompt": "x", "cwd": home.path()}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400, "{}", resp.text().await.unwrap());
    proxy.stop().await;
}

#[tokio::test]
async fn relayed_paths_keep_working_and_dot_segments_are_refused() {
    let mock = MockUpstream::replying(answer("r", "ok")).await;
    let home = tempfile::tempdir().unwrap();
    let proxy = support::relay_only(&mock.url(), home.path()).await;
    let port = proxy.addr.port();

    // Codex: the base_url's host, no Origin.
    let resp = client()
        .get(format!("http://127.0.0.1:{port}/v1/models"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);

    for path in [
        "/v1/../../etc/passwd",
        "/v1/%2e%2e/%2e%2e/etc/passwd",
        "/backend-api/./x",
    ] {
        let answer = raw(
            proxy.addr,
            &format!("GET {path} HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\nconnection: close\r\n\r\n"),
        )
        .await;
        assert!(answer.starts_with("HTTP/1.1 400"), "{path}: {answer}");
        assert!(answer.contains("invalid_path"), "{answer}");
    }
    let relayed: Vec<String> = mock.requests().iter().map(|r| r.path.clone()).collect();
    assert_eq!(
        relayed,
        vec!["/v1/models".to_string()],
        "nothing with dots went upstream"
    );
    proxy.stop().await;
}

#[tokio::test]
async fn slow_drip_clients_are_cut_at_the_read_deadlines() {
    let mock = MockUpstream::replying(answer("r", "ok")).await;
    let home = tempfile::tempdir().unwrap();
    let proxy = support::proxy_with(&mock.url(), home.path(), |c| {
        c.server.header_read_timeout_secs = 1;
        c.server.body_progress_timeout_secs = 1;
    })
    .await;
    let addr = proxy.addr;

    // A head a byte at a time, and a body a byte at a time, twenty of each.
    let drip = |head_done: bool| async move {
        let start = Instant::now();
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let head = "POST /v1/responses HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: 100000\r\n\r\n";
        if head_done {
            stream.write_all(head.as_bytes()).await.unwrap();
        }
        let bytes: Vec<u8> = if head_done {
            vec![b' '; 1000]
        } else {
            head.bytes().collect()
        };
        let mut answer = Vec::new();
        for b in bytes {
            if stream.write_all(&[b]).await.is_err() {
                break;
            }
            let mut buf = [0u8; 1024];
            match tokio::time::timeout(Duration::from_millis(300), stream.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => break,
                Ok(Ok(n)) => answer.extend_from_slice(&buf[..n]),
                Err(_) => {}
            }
            if start.elapsed() > Duration::from_secs(15) {
                break;
            }
        }
        (
            start.elapsed(),
            String::from_utf8_lossy(&answer).into_owned(),
        )
    };
    let mut runs = Vec::new();
    for i in 0..40 {
        runs.push(tokio::spawn(drip(i % 2 == 1)));
    }
    for (i, run) in runs.into_iter().enumerate() {
        let (took, answer) = run.await.unwrap();
        assert!(
            took < Duration::from_secs(5),
            "connection {i} stayed open {took:?}"
        );
        if i % 2 == 1 {
            assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
            assert!(answer.contains("request body stalled"), "{answer}");
        }
    }
    assert!(mock.responses_requests().is_empty());
    proxy.stop().await;
}

#[tokio::test]
async fn a_32_mib_history_uploads_within_the_default_deadlines() {
    let mock = MockUpstream::replying(answer("r", "ok")).await;
    let home = tempfile::tempdir().unwrap();
    let proxy = support::relay_only(&mock.url(), home.path()).await;
    // Just under the default 32 MiB body limit, in a JSON string Codex-like history.
    let filler = "a".repeat(32 * 1024 * 1024 - 4096);
    let body = json!({"model": "m", "stream": true, "input": [
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": filler}]}]});
    let resp = client()
        .post(format!("http://{}/v1/responses", proxy.addr))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.text().await.unwrap().contains("response.completed"));
    assert_eq!(
        mock.responses_requests()[0].body.len(),
        body.to_string().len()
    );
    proxy.stop().await;
}

/// An upstream that counts its open connections.
async fn counting_upstream() -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let open = Arc::new(AtomicUsize::new(0));
    let count = open.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let count = count.clone();
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let service = hyper::service::service_fn(|_req| async {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    Ok::<_, std::convert::Infallible>(http::Response::new(
                        http_body_util::Full::new(bytes::Bytes::from_static(b"{}")),
                    ))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
                count.fetch_sub(1, Ordering::SeqCst);
            });
        }
    });
    (format!("http://{addr}"), open)
}

#[tokio::test]
async fn idle_upstream_connections_expire_without_new_traffic() {
    let (upstream, open) = counting_upstream().await;
    let home = tempfile::tempdir().unwrap();
    let proxy = support::proxy_with(&upstream, home.path(), |c| {
        c.upstream.pool_idle_timeout_secs = 1;
        c.server.workers = 1;
    })
    .await;
    let burst: Vec<_> = (0..30)
        .map(|_| {
            client()
                .get(format!("http://{}/v1/models", proxy.addr))
                .send()
        })
        .collect();
    for resp in futures_util::future::join_all(burst).await {
        assert_eq!(resp.unwrap().status(), 200);
    }
    assert!(
        open.load(Ordering::SeqCst) > 1,
        "the burst opened several connections"
    );
    let deadline = Instant::now() + Duration::from_secs(6);
    while open.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        open.load(Ordering::SeqCst),
        0,
        "idle connections were closed with no new request"
    );
    proxy.stop().await;
}
