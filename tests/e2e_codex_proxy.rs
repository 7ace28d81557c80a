//! The real Codex CLI through codex-plus against a mock upstream: the client is the
//! judge of protocol correctness.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed assumption is a failed test

mod support;

use codex_plus::wire::request::ResponsesRequest;
use serde_json::{json, Value};
use support::codex::Codex;
use support::mock::*;

/// Every body Codex sent must survive the proxy's parse → serialise unchanged.
fn assert_round_trips(mock: &MockUpstream) {
    for req in mock.responses_requests() {
        let parsed = ResponsesRequest::parse(&req.body).expect("Codex body parses");
        let again: Value = serde_json::from_slice(&parsed.to_bytes()).unwrap();
        assert_eq!(again, req.json(), "round trip of a real Codex body");
    }
}

#[tokio::test]
async fn api_key_mode_text_turn() {
    support::init_logs();
    let mock = MockUpstream::replying(answer("resp_1", "hello through codex-plus")).await;
    let home = tempfile::tempdir().unwrap();
    let proxy = support::proxy(&mock.url(), home.path()).await;
    let codex = Codex::api_mode(proxy.addr);

    let run = codex.exec("say hello", &[]).await;

    assert!(run.turn_completed(), "{}", run.dump());
    assert_eq!(
        run.last_message().as_deref(),
        Some("hello through codex-plus")
    );
    let reqs = mock.responses_requests();
    assert_eq!(reqs.len(), 1, "one model call");
    let req = &reqs[0];
    assert_eq!(req.path, "/v1/responses");
    assert_eq!(req.header("authorization"), Some("Bearer sk-test-key"));
    assert!(
        req.header("session-id").is_some(),
        "Codex headers pass through"
    );
    assert!(req.header("x-codex-turn-metadata").is_some());
    let user_text = req.text();
    assert!(user_text.contains("say hello"));
    assert!(
        user_text.contains(&codex.workspace().display().to_string()),
        "environment context reaches the upstream"
    );
    assert_round_trips(&mock);

    // The dashboard knows the session as Codex named it: its build, model and workspace.
    let session_id = req.header("session-id").unwrap().to_string();
    let snapshot: Value = reqwest::get(format!("http://{}/api/dashboard", proxy.addr))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let session = snapshot["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == session_id.as_str())
        .unwrap_or_else(|| panic!("session {session_id} in {snapshot}"))
        .clone();
    assert_eq!(session["client"]["name"], "codex_exec", "{session}");
    if std::env::var_os("CODEX_BIN").is_none() {
        assert_eq!(
            session["client"]["version"],
            support::codex::version().as_str()
        );
    }
    assert_eq!(session["model"], req.json()["model"]);
    assert_eq!(session["turns"], 1);
    assert_eq!(
        session["cwd"].as_str(),
        Some(codex.workspace().display().to_string().as_str())
    );
    proxy.stop().await;
}

#[tokio::test]
async fn api_key_mode_tool_round_trip_runs_the_command() {
    support::init_logs();
    let mock = MockUpstream::start(|req, n| match n {
        0 => Reply::sse(&[
            ev_created("resp_1"),
            ev_function_call(
                "call_1",
                "exec_command",
                &json!({"cmd": "echo codex-plus-was-here > proof.txt && cat proof.txt"}),
            ),
            ev_completed("resp_1"),
        ]),
        _ => {
            let saw_output = req.text().contains("codex-plus-was-here");
            Reply::sse(&answer(
                "resp_2",
                if saw_output {
                    "the command ran"
                } else {
                    "no command output"
                },
            ))
        }
    })
    .await;
    let home = tempfile::tempdir().unwrap();
    let proxy = support::proxy(&mock.url(), home.path()).await;
    let codex = Codex::api_mode(proxy.addr);

    let run = codex.exec("write a proof file", &["-m", "gpt-5.5"]).await;

    assert!(run.turn_completed(), "{}", run.dump());
    assert_eq!(run.last_message().as_deref(), Some("the command ran"));
    let proof = std::fs::read_to_string(codex.workspace().join("proof.txt")).unwrap();
    assert_eq!(proof.trim(), "codex-plus-was-here");
    let reqs = mock.responses_requests();
    assert_eq!(reqs.len(), 2);
    let output = reqs[1]
        .input()
        .into_iter()
        .find(|i| i["type"] == "function_call_output" && i["call_id"] == "call_1")
        .expect("the second request carries the command's output");
    assert!(output.to_string().contains("codex-plus-was-here"));
    assert!(
        reqs[1]
            .input()
            .iter()
            .any(|i| i["type"] == "function_call" && i["call_id"] == "call_1"),
        "the call is echoed back"
    );
    assert_round_trips(&mock);
    proxy.stop().await;
}

#[tokio::test]
async fn chatgpt_login_mode_over_https_with_zstd_bodies() {
    support::init_logs();
    // Features off: nothing changes the body, so the compressed bytes go up as they came.
    let mock = MockUpstream::replying(answer("resp_1", "hello over TLS")).await;
    let home = tempfile::tempdir().unwrap();
    let proxy = support::proxy_with(&mock.url(), home.path(), |c| {
        c.tasks.enabled = false;
        c.status_line.enabled = false;
    })
    .await;
    let ca = codex_plus::ca::CaFiles::under(home.path()).cert;
    let codex = Codex::chatgpt_mode(proxy.addr, &ca);

    let run = codex.exec("say hello", &[]).await;

    assert!(run.turn_completed(), "{}", run.dump());
    assert_eq!(run.last_message().as_deref(), Some("hello over TLS"));
    let requests = mock.requests();
    assert!(
        requests
            .iter()
            .any(|r| r.path == "/backend-api/wham/accounts/check"),
        "the accounts check passes through"
    );
    let reqs = mock.responses_requests();
    assert_eq!(reqs.len(), 1);
    let req = &reqs[0];
    assert_eq!(req.path, "/backend-api/codex/responses");
    assert_eq!(req.header("chatgpt-account-id"), Some("acct_test"));
    assert_eq!(
        req.header("content-encoding"),
        Some("zstd"),
        "an unchanged body goes upstream as the compressed bytes Codex sent"
    );
    assert!(req.raw_body != req.body, "the wire body is compressed");
    assert_round_trips(&mock);
    proxy.stop().await;

    // Features on: the body changes (Task tool, status line), so it goes up as plain JSON.
    let mock = MockUpstream::replying(answer("resp_1", "hello again")).await;
    let home = tempfile::tempdir().unwrap();
    let proxy = support::proxy(&mock.url(), home.path()).await;
    let ca = codex_plus::ca::CaFiles::under(home.path()).cert;
    let codex = Codex::chatgpt_mode(proxy.addr, &ca);
    let run = codex.exec("say hello", &[]).await;
    assert!(run.turn_completed(), "{}", run.dump());
    let req = &mock.responses_requests()[0];
    assert_eq!(
        req.header("content-encoding"),
        None,
        "re-serialised bodies are sent plain"
    );
    assert_eq!(req.raw_body, req.body);
    assert!(
        req.text().contains("\"name\":\"Task\""),
        "the Task tool was offered"
    );
    proxy.stop().await;
}

#[tokio::test]
async fn an_upstream_that_dies_mid_stream_ends_the_turn_with_the_reason() {
    let mock = MockUpstream::dying_mid_stream("resp_1", "partial").await;
    let home = tempfile::tempdir().unwrap();
    let proxy = support::proxy(&mock.url(), home.path()).await;
    let codex = Codex::api_mode(proxy.addr);

    let run = codex.exec("say hello", &[]).await;

    let message = run.failure_message();
    assert!(
        message.contains("codex-plus: the upstream stream broke"),
        "{message}"
    );
    proxy.stop().await;
}

#[tokio::test]
async fn an_upstream_that_never_answers_fails_the_turn_with_the_reason() {
    let mock = MockUpstream::start(|_, _| Reply::Silent).await;
    let home = tempfile::tempdir().unwrap();
    let proxy = support::proxy_with(&mock.url(), home.path(), |c| {
        c.upstream.idle_timeout_secs = 1
    })
    .await;
    let codex = Codex::api_mode(proxy.addr);

    let run = codex.exec("say hello", &[]).await;

    let message = run.failure_message();
    assert!(message.contains("504"), "{message}");
    assert!(
        message.contains("timed out: no answer within 1 s"),
        "{message}"
    );
    assert!(message.contains("upstream.idle_timeout_secs"), "{message}");
    proxy.stop().await;
}

/// `codex-plus codex-config` pasted whole is a Codex config that works: as printed by
/// default (API-key mode, ChatGPT-login mode's lines as comments), and with `--mode api`.
#[tokio::test]
async fn the_printed_codex_config_pasted_whole_is_accepted_by_codex() {
    use codex_plus::cli::codex_config::{render, Mode};
    support::init_logs();
    for mode in [None, Some(Mode::Api)] {
        let mock = MockUpstream::replying(answer("resp_1", "configured")).await;
        let home = tempfile::tempdir().unwrap();
        let proxy = support::proxy(&mock.url(), home.path()).await;
        let codex = Codex::api_mode(proxy.addr);
        let printed = render(mode, proxy.addr, &home.path().join("ca/ca.pem"));
        let parsed: toml::Table = printed.parse().expect("valid TOML");
        assert_eq!(parsed["model_provider"].as_str(), Some("codexplus"));
        std::fs::write(codex.home.path().join("config.toml"), &printed).unwrap();

        let run = codex.exec("say hello", &[]).await;

        assert!(run.turn_completed(), "{mode:?}: {}\n{printed}", run.dump());
        assert_eq!(run.last_message().as_deref(), Some("configured"));
        let stderr = run.stderr.to_lowercase();
        assert!(!stderr.contains("is ignored"), "{}", run.stderr);
        assert_eq!(mock.responses_requests().len(), 1);
        proxy.stop().await;
    }
}
