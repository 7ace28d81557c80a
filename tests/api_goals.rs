//! `/api/goals` over HTTP against a running proxy: a goal runs to its combined
//! answer, a bad request names the field, and a restart mid-run leaves the goal
//! `interrupted` until `resume` finishes it without redoing what completed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed assumption is a failed test

mod engine_mock;
mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use engine_mock::*;
use serde_json::{json, Value};

const PLANNING: &str = "Split this goal into subtasks";
const COMBINING: &str = "Write the final answer to the goal";

fn two_step_plan() -> Reply {
    text(
        &json!({"subtasks": [
            {"id": "a", "description": "Do a", "prompt": "Please do a.", "subagent_type": "general-purpose", "depends_on": [], "priority": 0},
            {"id": "b", "description": "Do b", "prompt": "Please do b.", "subagent_type": "general-purpose", "depends_on": ["a"], "priority": 0}
        ]})
        .to_string(),
    )
}

struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    fn new(addr: std::net::SocketAddr) -> Client {
        Client {
            http: reqwest::Client::new(),
            base: format!("http://{addr}"),
        }
    }

    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let url = format!("{}{path}", self.base);
        let req = match method {
            "POST" => self.http.post(url).json(&body.unwrap_or(json!({}))),
            _ => self.http.get(url),
        };
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// Polls the goal until `done` says so.
    async fn until(&self, id: &str, done: impl Fn(&Value) -> bool) -> Value {
        for _ in 0..500 {
            let (_, goal) = self.call("GET", &format!("/api/goals/{id}"), None).await;
            if done(&goal) {
                return goal;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("goal {id} never got there");
    }
}

fn subtask<'a>(goal: &'a Value, id: &str) -> &'a Value {
    goal["subtasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == id)
        .unwrap()
}

#[tokio::test]
async fn a_goal_over_http_waits_for_its_answer_and_names_a_missing_cwd() {
    let mock = MockModel::start(|seen| {
        let prompt = seen.prompt();
        if prompt.contains(PLANNING) {
            return Step::now(two_step_plan());
        }
        if prompt.contains(COMBINING) {
            return Step::now(text("All done: a, then b."));
        }
        Step::now(text(&format!("finished {}", &prompt[10..11])))
    })
    .await;
    let home = tempfile::tempdir().unwrap();
    let ws = tempfile::tempdir().unwrap();
    let proxy = support::proxy(&mock.url, home.path()).await;
    let api = Client::new(proxy.addr);

    let (status, body) = api
        .call("POST", "/api/goals", Some(json!({"goal": "do it"})))
        .await;
    assert_eq!(status, 400);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("`cwd` is missing"),
        "{body}"
    );

    let (status, goal) = api
        .call(
            "POST",
            "/api/goals?wait=true",
            Some(json!({"goal": "do a then b", "cwd": ws.path()})),
        )
        .await;
    assert_eq!(status, 200, "{goal}");
    assert_eq!(goal["status"], "completed", "{goal}");
    assert_eq!(goal["answer"], "All done: a, then b.");
    let b = subtask(&goal, "b");
    assert_eq!(b["state"], "completed");
    assert!(b["result"].as_str().unwrap().starts_with("finished b"));
    assert_eq!(b["task"]["status"], "completed");
    assert!(b["task"]["input_tokens"].as_u64().is_some());
    let (_, listed) = api.call("GET", "/api/goals", None).await;
    assert_eq!(listed["goals"][0]["id"], goal["id"]);
    proxy.stop().await;
}

#[tokio::test]
async fn a_restart_mid_run_interrupts_the_goal_and_resume_finishes_it() {
    let slow = Arc::new(AtomicBool::new(true));
    let slow_b = slow.clone();
    let mock = MockModel::start(move |seen| {
        let prompt = seen.prompt();
        if prompt.contains(PLANNING) {
            return Step::now(two_step_plan());
        }
        if prompt.contains(COMBINING) {
            return Step::now(text("combined after resume"));
        }
        if prompt.starts_with("Please do b.") && slow_b.load(Ordering::SeqCst) {
            return Step::after(Duration::from_secs(60), text("too late"));
        }
        Step::now(text(&format!("finished {}", &prompt[10..11])))
    })
    .await;
    let home = tempfile::tempdir().unwrap();
    let ws = tempfile::tempdir().unwrap();
    let proxy = support::proxy(&mock.url, home.path()).await;
    let api = Client::new(proxy.addr);
    let (status, started) = api
        .call(
            "POST",
            "/api/goals",
            Some(json!({"goal": "do a then b", "cwd": ws.path()})),
        )
        .await;
    assert_eq!(status, 202, "{started}");
    let id = started["id"].as_str().unwrap().to_string();
    api.until(&id, |g| subtask_state(g, "b") == Some("running"))
        .await;
    proxy.stop().await;

    slow.store(false, Ordering::SeqCst);
    let proxy = support::proxy(&mock.url, home.path()).await;
    let api = Client::new(proxy.addr);
    let (_, goal) = api.call("GET", &format!("/api/goals/{id}"), None).await;
    assert_eq!(goal["status"], "interrupted", "{goal}");
    let (status, body) = api
        .call("POST", &format!("/api/goals/{id}/resume"), None)
        .await;
    assert_eq!(status, 202, "{body}");
    let goal = api.until(&id, |g| g["status"] == "completed").await;
    assert_eq!(goal["answer"], "combined after resume");
    let runs = |p: &str| {
        mock.requests()
            .iter()
            .filter(|s| s.prompt().starts_with(p))
            .count()
    };
    assert_eq!(runs("Please do a."), 1, "what completed is not run again");
    assert_eq!(runs("Please do b."), 2);
    let (status, body) = api
        .call("POST", &format!("/api/goals/{id}/resume"), None)
        .await;
    assert_eq!(status, 409, "{body}");
    proxy.stop().await;
}

fn subtask_state<'a>(goal: &'a Value, id: &str) -> Option<&'a str> {
    goal["subtasks"]
        .as_array()?
        .iter()
        .find(|s| s["id"] == id)?["state"]
        .as_str()
}

#[tokio::test]
async fn a_running_goals_events_stream_until_it_finishes() {
    let mock = MockModel::start(|seen| {
        let prompt = seen.prompt();
        if prompt.contains(PLANNING) {
            return Step::after(Duration::from_millis(300), two_step_plan());
        }
        if prompt.contains(COMBINING) {
            return Step::now(text("done"));
        }
        Step::after(Duration::from_millis(100), text("ok"))
    })
    .await;
    let home = tempfile::tempdir().unwrap();
    let ws = tempfile::tempdir().unwrap();
    let proxy = support::proxy(&mock.url, home.path()).await;
    let api = Client::new(proxy.addr);
    let (_, started) = api
        .call(
            "POST",
            "/api/goals",
            Some(json!({"goal": "g", "cwd": ws.path()})),
        )
        .await;
    let id = started["id"].as_str().unwrap();
    let events = tokio::time::timeout(
        Duration::from_secs(10),
        api.http
            .get(format!("{}/api/goals/{id}/events", api.base))
            .send(),
    )
    .await
    .unwrap()
    .unwrap()
    .text()
    .await
    .unwrap();
    let kinds: Vec<&str> = events
        .lines()
        .filter_map(|l| l.strip_prefix("event: "))
        .collect();
    assert_eq!(kinds.first(), Some(&"planned"), "{events}");
    assert_eq!(kinds.last(), Some(&"finished"), "{events}");
    assert_eq!(
        kinds.iter().filter(|k| **k == "subtask").count(),
        4,
        "{events}"
    );
    assert!(events.contains(r#""status":"completed""#), "{events}");
    // Over: the stream is for running goals; the record says how it ended.
    let (status, body) = api
        .call("GET", &format!("/api/goals/{id}/events"), None)
        .await;
    assert_eq!(status, 404, "{body}");
    proxy.stop().await;
}
