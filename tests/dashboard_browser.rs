//! The dashboard in a real browser: headless Chromium (Debian's `chromium`), driven
//! through `chromedriver` (Debian's `chromium-driver`) with fantoccini. A Task the mock
//! model holds for a few seconds shows as running, then as completed; its transcript
//! opens from the keyboard; another Task is cancelled from the keyboard; axe-core
//! (vendored in tests/assets/axe-core) audits the page in light and dark mode, and
//! any violation fails the test. Screenshots go to `target/test-artifacts/`.
//!
//! `scripts/test.sh` installs both packages when they are missing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed assumption is a failed test

mod engine_mock;
mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use engine_mock::*;
use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const AXE: &str = include_str!("assets/axe-core/axe.min.js");
/// How long any one condition may take to show in the page.
const WAIT: Duration = Duration::from_secs(20);
/// How long the mock holds the Task that is watched from running to done.
const HELD: Duration = Duration::from_secs(4);

/// Where screenshots and the driver's log go.
fn artifacts() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    let dir = target.join("test-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// chromedriver on a free port; killed when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn driver() -> Driver {
    for path in [CHROMIUM, CHROMEDRIVER] {
        assert!(
            Path::new(path).exists(),
            "{path} is missing: install Debian's chromium and chromium-driver (scripts/test.sh does)"
        );
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let log = std::fs::File::create(artifacts().join("chromedriver.log")).unwrap();
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let driver = Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let http = reqwest::Client::new();
    let deadline = Instant::now() + WAIT;
    loop {
        let ready = http.get(format!("{}/status", driver.url)).send().await;
        if let Ok(resp) = ready {
            let status: Value = resp.json().await.unwrap_or_default();
            if status["value"]["ready"] == true {
                return driver;
            }
        }
        assert!(Instant::now() < deadline, "chromedriver did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A headless Chromium at 1280×800, `dark` or light, with a fresh profile.
async fn browser(driver: &Driver, profile: &Path, dark: bool) -> Client {
    let scheme = if dark { 0 } else { 1 };
    let args = [
        "--headless".to_string(),
        "--no-sandbox".into(),
        "--disable-gpu".into(),
        "--disable-quic".into(),
        "--no-first-run".into(),
        "--disable-background-networking".into(),
        "--disable-component-update".into(),
        "--disable-sync".into(),
        "--window-size=1280,800".into(),
        format!("--blink-settings=preferredColorScheme={scheme}"),
        format!("--user-data-dir={}", profile.display()),
    ];
    let caps = json!({
        "browserName": "chrome",
        "goog:chromeOptions": {"binary": CHROMIUM, "args": args},
    });
    let Value::Object(caps) = caps else {
        unreachable!()
    };
    let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a Chromium session");
    client.set_window_size(1280, 800).await.unwrap();
    client
}

async fn css(client: &Client, selector: &str) -> fantoccini::elements::Element {
    client
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css(selector))
        .await
        .unwrap_or_else(|e| panic!("`{selector}` did not show within {WAIT:?}: {e}"))
}

/// Waits until `script` (an expression) is true in the page.
async fn until(client: &Client, what: &str, script: &str) {
    let deadline = Instant::now() + WAIT;
    loop {
        let value = client
            .execute(&format!("return !!({script});"), vec![])
            .await
            .unwrap();
        if value == true {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: not within {WAIT:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn press(client: &Client, key: Key) {
    let keys = KeyActions::new("keyboard".into())
        .then(KeyAction::Down { value: key.into() })
        .then(KeyAction::Up { value: key.into() });
    client.perform_actions(keys).await.unwrap();
}

/// Presses Tab until the focused element matches `selector` (at most 60 times):
/// the way someone without a mouse reaches it.
async fn tab_to(client: &Client, selector: &str) {
    let check = format!(
        "return document.activeElement && document.activeElement.matches({});",
        json!(selector)
    );
    for _ in 0..60 {
        press(client, Key::Tab).await;
        if client.execute(&check, vec![]).await.unwrap() == true {
            return;
        }
    }
    panic!("Tab never reached `{selector}`");
}

/// Runs axe-core on the page; its violations, each with where it is. Fails when axe
/// checked too little to mean anything.
async fn axe(client: &Client) -> Vec<String> {
    client.execute(AXE, vec![]).await.unwrap();
    let run = r#"
        const done = arguments[arguments.length - 1];
        axe.run(document, {
            runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice']},
        }).then(
            (r) => done({passes: r.passes.length, violations: r.violations.map((v) => `${v.id} (${v.impact}): ${v.help} at ` +
                v.nodes.map((n) => n.target.join(' ') + ' [' + (n.failureSummary || '') + ']').join('; '))}),
            (e) => done({passes: 0, violations: ['axe failed: ' + e]}),
        );
    "#;
    let found = client.execute_async(run, vec![]).await.unwrap();
    let passes = found["passes"].as_u64().unwrap_or(0);
    let violations: Vec<String> = serde_json::from_value(found["violations"].clone()).unwrap();
    // Landmarks, contrast, names of controls, table headers, ARIA use, ...: dozens of
    // rules apply to this page; a handful would mean axe saw an empty page.
    assert!(
        passes >= 20 || !violations.is_empty(),
        "axe checked only {passes} rules"
    );
    violations
}

async fn screenshot(client: &Client, name: &str) {
    let png = client.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    std::fs::write(artifacts().join(name), png).unwrap();
}

async fn start_task(
    http: &reqwest::Client,
    base: &str,
    ws: &Path,
    prompt: &str,
    description: &str,
) -> String {
    let body = json!({"prompt": prompt, "description": description, "cwd": ws, "wait": false});
    let resp = http
        .post(format!("{base}/api/tasks"))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    let body: Value = resp.json().await.unwrap();
    body["id"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_follows_a_task_in_a_real_browser() {
    support::init_logs();
    let model = MockModel::start(|seen| {
        let prompt = seen.prompt();
        if prompt.starts_with("held") {
            Step::after(
                HELD,
                text("The notes are summarised: three open questions."),
            )
        } else if prompt.starts_with("hang") {
            Step::now(Reply::Hang)
        } else {
            Step::now(text("Hello from the model."))
        }
    })
    .await;
    let tmp = tempfile::tempdir().unwrap();
    let root = std::fs::canonicalize(tmp.path()).unwrap();
    let ws = root.join("project");
    std::fs::create_dir_all(&ws).unwrap();
    let proxy = support::proxy_with(&model.url, &root.join("state"), |c| {
        fast_providers(c);
        c.server.tls = false;
        c.server.shutdown_grace_secs = 2;
    })
    .await;
    let base = format!("http://{}", proxy.addr);
    let http = reqwest::Client::new();

    // A Codex session, so the sessions list has one.
    let turn = json!({"model": "gpt-5.5", "stream": true, "tools": [], "input": [
        {"type": "message", "role": "user", "content": [{"type": "input_text",
            "text": format!("<environment_context><cwd>{}</cwd></environment_context>", ws.display())}]},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hello"}]}]});
    let resp = http
        .post(format!("{base}/v1/responses"))
        .header("content-type", "application/json")
        .header("session-id", "0199a8c4-3f0e-7e41-9d1a-5c2b8f3e6a10")
        .header("user-agent", "codex_exec/0.169.0 (Debian 12; x86_64) dumb")
        .body(turn.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp.text().await.unwrap();

    let driver = driver().await;
    let profile = tempfile::tempdir().unwrap();
    let client = browser(&driver, profile.path(), false).await;
    client.goto(&format!("{base}/dashboard")).await.unwrap();
    css(&client, "#connection[data-state='live']").await;
    assert_eq!(client.title().await.unwrap(), "codex-plus dashboard");
    let session = css(&client, "#sessions-list li .client").await;
    assert_eq!(session.text().await.unwrap(), "0.169.0 (codex_exec)");

    // The held Task: running, with its agent and description.
    let held = start_task(
        &http,
        &base,
        &ws,
        "held: summarise the notes",
        "Summarise the notes",
    )
    .await;
    let row = format!("#running-rows tr[data-id='{held}']");
    let status = css(
        &client,
        &format!("{row} .status[data-status='running'] .words"),
    )
    .await;
    assert_eq!(status.text().await.unwrap(), "running");
    let text = client
        .find(Locator::Css(&row))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains("general-purpose") && text.contains("Summarise the notes"),
        "{text}"
    );

    // A second Task that never ends on its own, to cancel.
    let hung = start_task(&http, &base, &ws, "hang: wait forever", "Wait forever").await;
    css(
        &client,
        &format!("#running-rows tr[data-id='{hung}'] .status[data-status='running']"),
    )
    .await;
    screenshot(&client, "dashboard-running.png").await;
    let violations = axe(&client).await;
    assert!(
        violations.is_empty(),
        "axe, light, Tasks running:\n{}",
        violations.join("\n")
    );

    // The held Task ends: it leaves the running table and is listed as completed.
    let done = format!("#finished-rows tr[data-id='{held}']");
    let status = css(
        &client,
        &format!("{done} .status[data-status='completed'] .words"),
    )
    .await;
    assert_eq!(status.text().await.unwrap(), "completed");
    let preview = client
        .find(Locator::Css(&format!("{done} .preview")))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(preview, "The notes are summarised: three open questions.");
    until(
        &client,
        "the held Task left the running table",
        &format!("!document.querySelector(\"{row}\")"),
    )
    .await;

    // Keyboard only: Tab to its transcript button, Enter opens the transcript.
    tab_to(&client, &format!("{done} button.open-transcript")).await;
    press(&client, Key::Enter).await;
    css(&client, "dialog#transcript[open]").await;
    until(
        &client,
        "the transcript shows the Task's prompt and answer",
        "document.querySelector('#transcript-messages').textContent.includes('held: summarise the notes') && \
         document.querySelector('#transcript-messages').textContent.includes('three open questions')",
    )
    .await;
    let meta = client
        .find(Locator::Css("#transcript-meta"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(meta.contains("completed"), "{meta}");
    screenshot(&client, "dashboard-transcript.png").await;
    let violations = axe(&client).await;
    assert!(
        violations.is_empty(),
        "axe, transcript open:\n{}",
        violations.join("\n")
    );
    // Escape closes it and gives the focus back to the button that opened it.
    press(&client, Key::Escape).await;
    until(
        &client,
        "the transcript closed",
        "!document.querySelector('dialog#transcript').open",
    )
    .await;
    until(
        &client,
        "the focus went back to the Task",
        &format!("document.activeElement.closest(\"{done}\") !== null"),
    )
    .await;

    // Keyboard only: cancel the hung Task.
    tab_to(
        &client,
        &format!("#running-rows tr[data-id='{hung}'] button.cancel"),
    )
    .await;
    press(&client, Key::Enter).await;
    let status = css(
        &client,
        &format!("#finished-rows tr[data-id='{hung}'] .status[data-status='cancelled'] .words"),
    )
    .await;
    assert_eq!(status.text().await.unwrap(), "cancelled");
    until(
        &client,
        "the cancel was announced",
        "document.querySelector('#announcer').textContent.includes('Cancelling the Task Wait forever')",
    )
    .await;
    screenshot(&client, "dashboard-done.png").await;
    client.close().await.unwrap();

    // Dark: the page follows the preference, and passes the audit there too.
    let profile = tempfile::tempdir().unwrap();
    let client = browser(&driver, profile.path(), true).await;
    client.goto(&format!("{base}/dashboard")).await.unwrap();
    css(&client, &format!("#finished-rows tr[data-id='{hung}']")).await;
    let background = client
        .execute(
            "return getComputedStyle(document.body).backgroundColor;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(background, "rgb(15, 19, 23)", "the dark background");
    screenshot(&client, "dashboard-dark.png").await;
    let violations = axe(&client).await;
    assert!(
        violations.is_empty(),
        "axe, dark:\n{}",
        violations.join("\n")
    );
    client.close().await.unwrap();
    drop(driver);
    proxy.stop().await;
}
