//! Task calls in the Codex stream, end to end with the real Codex CLI: the proxy
//! withholds the call, runs the subagent against the same upstream (inherit), and
//! resumes the model's answer so Codex sees one turn.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed assumption is a failed test

mod support;

use serde_json::{json, Value};
use support::codex::{Codex, Run};
use support::mock::*;

const AGENT: &str = "---\nname: test-reviewer\ndescription: Reviews code for the tests\ntools: Read, Grep\n---\nYou are the test reviewer. Report what you find in one line.\n";
const AGENT_PROMPT: &str = "You are the test reviewer";

fn task_call(call_id: &str, agent: &str, description: &str) -> Value {
    ev_function_call(
        call_id,
        "Task",
        &json!({"description": description, "prompt": format!("Please {description} in this repo"), "subagent_type": agent}),
    )
}

fn with_agent(codex: &Codex) {
    let dir = codex.workspace().join(".claude/agents");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("test-reviewer.md"), AGENT).unwrap();
}

fn is_subagent(req: &Recorded) -> bool {
    req.text().contains(AGENT_PROMPT)
}

/// The `function_call_output` items a request carries, by call id.
fn outputs(req: &Recorded) -> Vec<(String, String)> {
    req.input()
        .iter()
        .filter(|i| i["type"] == "function_call_output")
        .map(|i| {
            (
                i["call_id"].as_str().unwrap_or_default().to_string(),
                i["output"].to_string(),
            )
        })
        .collect()
}

fn assert_codex_never_saw_task(run: &Run) {
    let text = run.stdout.to_lowercase() + &run.stderr.to_lowercase();
    assert!(!text.contains("unsupported call"), "{}", run.dump());
    assert!(!text.contains("unknown tool"), "{}", run.dump());
    assert!(
        !run.events
            .iter()
            .any(|e| e.to_string().contains("\"call_task")),
        "no Task call reached Codex: {}",
        run.dump()
    );
}

async fn one_task_turn(extra: &[&str]) {
    support::init_logs();
    let mock = MockUpstream::start(|req, _| {
        if is_subagent(req) {
            return Reply::sse(&answer("resp_sub", "REVIEW: no problems found"));
        }
        let outs = outputs(req);
        if let Some((_, out)) = outs.iter().find(|(id, _)| id == "call_task_1") {
            let text = if out.contains("REVIEW: no problems found") {
                "The reviewer found no problems."
            } else {
                "no review"
            };
            return Reply::sse(&answer("resp_2", text));
        }
        Reply::sse(&[
            ev_created("resp_1"),
            ev_message("msg_pre", "Delegating the review."),
            task_call("call_task_1", "test-reviewer", "Review the repo"),
            ev_completed("resp_1"),
        ])
    })
    .await;
    let home = tempfile::tempdir().unwrap();
    let proxy = support::proxy(&mock.url(), home.path()).await;
    let codex = Codex::api_mode(proxy.addr);
    with_agent(&codex);

    let run = codex.exec("review this repo", extra).await;

    assert!(run.turn_completed(), "{}", run.dump());
    assert_eq!(
        run.last_message().as_deref(),
        Some("The reviewer found no problems."),
        "{}",
        run.dump()
    );
    let messages = run.agent_messages().join("\n");
    assert!(
        messages.contains("⏺ Task(test-reviewer): Review the repo"),
        "{messages}"
    );
    assert!(messages.contains("⎿ Done · 0 tool uses"), "{messages}");
    assert_codex_never_saw_task(&run);

    let reqs = mock.responses_requests();
    let first = &reqs[0];
    assert!(
        first.text().contains("\"name\":\"Task\""),
        "the Task tool is offered"
    );
    assert!(first
        .text()
        .contains("- test-reviewer: Reviews code for the tests (Tools: Read, Grep)"));

    // The subagent's own request: its system prompt, the Task prompt, only its tools.
    let sub = reqs
        .iter()
        .find(|r| is_subagent(r))
        .expect("the subagent called the model");
    assert_eq!(
        sub.header("authorization"),
        Some("Bearer sk-test-key"),
        "inherits the session's credentials"
    );
    assert!(sub.text().contains("Please Review the repo in this repo"));
    assert!(
        !sub.text().contains("review this repo\""),
        "nothing of the parent's conversation leaks in"
    );
    let mut tools: Vec<String> = sub.json()["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect();
    tools.sort();
    assert_eq!(tools, ["Grep", "Read"]);

    // The continuation carries the call and its result.
    let cont = reqs
        .iter()
        .find(|r| !is_subagent(r) && !outputs(r).is_empty())
        .unwrap();
    assert!(cont
        .input()
        .iter()
        .any(|i| i["type"] == "function_call" && i["name"] == "Task"));
    let out = &outputs(cont)[0].1;
    assert!(
        out.contains("REVIEW: no problems found") && out.contains("agentId:"),
        "{out}"
    );
    proxy.stop().await;
}

#[tokio::test]
async fn task_in_the_classic_dialect() {
    one_task_turn(&["-m", "gpt-5.5"]).await;
}

#[tokio::test]
async fn task_in_the_lite_dialect() {
    one_task_turn(&[]).await;
}

#[tokio::test]
async fn two_parallel_tasks_then_a_second_turn_that_sees_the_real_calls() {
    support::init_logs();
    let mock = MockUpstream::start(|req, _| {
        if is_subagent(req) {
            let which = if req.text().contains("Check A") {
                "A"
            } else {
                "B"
            };
            return Reply::sse(&answer("resp_sub", &format!("finding {which}")));
        }
        if req.text().contains("second turn") {
            return Reply::sse(&answer("resp_4", "second answer"));
        }
        let outs = outputs(req);
        if outs.len() >= 2 {
            return Reply::sse(&answer("resp_2", "both checks done"));
        }
        Reply::sse(&[
            ev_created("resp_1"),
            task_call("call_task_a", "test-reviewer", "Check A"),
            task_call("call_task_b", "test-reviewer", "Check B"),
            ev_completed("resp_1"),
        ])
    })
    .await;
    let home = tempfile::tempdir().unwrap();
    let proxy = support::proxy(&mock.url(), home.path()).await;
    let codex = Codex::api_mode(proxy.addr);
    with_agent(&codex);

    let run = codex.exec("run two checks", &["-m", "gpt-5.5"]).await;
    assert!(run.turn_completed(), "{}", run.dump());
    assert_eq!(run.last_message().as_deref(), Some("both checks done"));
    let subs = mock
        .responses_requests()
        .into_iter()
        .filter(is_subagent)
        .count();
    assert_eq!(subs, 2, "one subagent per Task call");
    let cont = mock
        .responses_requests()
        .into_iter()
        .find(|r| outputs(r).len() == 2)
        .unwrap();
    let outs = outputs(&cont);
    assert!(outs
        .iter()
        .any(|(id, o)| id == "call_task_a" && o.contains("finding A")));
    assert!(outs
        .iter()
        .any(|(id, o)| id == "call_task_b" && o.contains("finding B")));

    // Next turn: Codex re-sends the history; the progress message is replaced by
    // the real calls and outputs from the ledger.
    let run = codex
        .exec_resume_last("second turn", &["-m", "gpt-5.5"])
        .await;
    assert!(run.turn_completed(), "{}", run.dump());
    let last = mock
        .responses_requests()
        .into_iter()
        .rfind(|r| r.text().contains("second turn"))
        .unwrap();
    let input = last.input();
    assert!(
        !input.iter().any(|i| i["id"]
            .as_str()
            .is_some_and(|id| id.starts_with("msg_cxp_"))),
        "the progress message is gone"
    );
    let calls: Vec<&Value> = input
        .iter()
        .filter(|i| i["type"] == "function_call" && i["name"] == "Task")
        .collect();
    assert_eq!(calls.len(), 2, "both real calls are back");
    let outs = outputs(&last);
    assert!(outs
        .iter()
        .any(|(id, o)| id == "call_task_a" && o.contains("finding A")));
    assert!(outs
        .iter()
        .any(|(id, o)| id == "call_task_b" && o.contains("finding B")));
    proxy.stop().await;
}

#[tokio::test]
async fn task_next_to_exec_command() {
    support::init_logs();
    let mock = MockUpstream::start(|req, _| {
        if is_subagent(req) {
            return Reply::sse(&answer("resp_sub", "subagent says hi"));
        }
        let outs = outputs(req);
        if outs.iter().any(|(id, _)| id == "call_exec") {
            return Reply::sse(&answer("resp_2", "both are done"));
        }
        Reply::sse(&[
            ev_created("resp_1"),
            task_call("call_task_1", "test-reviewer", "Look around"),
            ev_function_call(
                "call_exec",
                "exec_command",
                &json!({"cmd": "echo from-codex > codex.txt"}),
            ),
            ev_completed("resp_1"),
        ])
    })
    .await;
    let home = tempfile::tempdir().unwrap();
    let proxy = support::proxy(&mock.url(), home.path()).await;
    let codex = Codex::api_mode(proxy.addr);
    with_agent(&codex);

    let run = codex.exec("do both", &["-m", "gpt-5.5"]).await;

    assert!(run.turn_completed(), "{}", run.dump());
    assert_eq!(run.last_message().as_deref(), Some("both are done"));
    assert_eq!(
        std::fs::read_to_string(codex.workspace().join("codex.txt"))
            .unwrap()
            .trim(),
        "from-codex"
    );
    // Codex's own next request carries the Task's call and result where the model made
    // them: both calls in the model's order, then their outputs, as Codex records
    // parallel calls itself.
    let next = mock
        .responses_requests()
        .into_iter()
        .find(|r| outputs(r).iter().any(|(id, _)| id == "call_exec"))
        .unwrap();
    let kinds: Vec<(String, String)> = next
        .input()
        .iter()
        .filter(|i| {
            matches!(
                i["type"].as_str(),
                Some("function_call" | "function_call_output")
            )
        })
        .map(|i| {
            (
                i["type"].as_str().unwrap().to_string(),
                i["call_id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("function_call".to_string(), "call_task_1".to_string()),
            ("function_call".to_string(), "call_exec".to_string()),
            (
                "function_call_output".to_string(),
                "call_task_1".to_string()
            ),
            ("function_call_output".to_string(), "call_exec".to_string()),
        ]
    );
    assert!(outputs(&next)
        .iter()
        .any(|(id, o)| id == "call_task_1" && o.contains("subagent says hi")));
    proxy.stop().await;
}

#[tokio::test]
async fn a_failed_subagent_is_reported_to_the_model() {
    support::init_logs();
    let mock = MockUpstream::start(|req, _| {
        if is_subagent(req) {
            return Reply::json(
                400,
                json!({"error": {"message": "model not available for this key"}}),
            );
        }
        let outs = outputs(req);
        if let Some((_, out)) = outs.first() {
            let told = out.contains("model not available for this key");
            return Reply::sse(&answer(
                "resp_2",
                if told {
                    "The subagent failed; telling you why."
                } else {
                    "no failure seen"
                },
            ));
        }
        Reply::sse(&[
            ev_created("resp_1"),
            task_call("call_task_1", "test-reviewer", "Review"),
            ev_completed("resp_1"),
        ])
    })
    .await;
    let home = tempfile::tempdir().unwrap();
    let proxy = support::proxy(&mock.url(), home.path()).await;
    let codex = Codex::api_mode(proxy.addr);
    with_agent(&codex);

    let run = codex
        .exec("please review the code", &["-m", "gpt-5.5"])
        .await;

    assert!(run.turn_completed(), "{}", run.dump());
    assert_eq!(
        run.last_message().as_deref(),
        Some("The subagent failed; telling you why."),
        "{}",
        run.dump()
    );
    assert!(
        run.agent_messages().join("\n").contains("⎿ Failed:"),
        "{}",
        run.dump()
    );
    proxy.stop().await;
}

#[tokio::test]
async fn a_subagent_slower_than_codexs_idle_timeout_does_not_cut_the_turn() {
    support::init_logs();
    let mock = MockUpstream::start(|req, _| {
        if is_subagent(req) {
            // About 3 s of subagent work, more than Codex's idle timeout below.
            return Reply::Sse {
                chunks: answer("resp_sub", "slow but done")
                    .iter()
                    .map(sse_event)
                    .collect(),
                gap: std::time::Duration::from_millis(1500),
            };
        }
        if !outputs(req).is_empty() {
            return Reply::sse(&answer("resp_2", "the slow task finished"));
        }
        Reply::sse(&[
            ev_created("resp_1"),
            task_call("call_slow", "test-reviewer", "Take time"),
            ev_completed("resp_1"),
        ])
    })
    .await;
    let home = tempfile::tempdir().unwrap();
    let proxy = support::proxy_with(&mock.url(), home.path(), |c| {
        c.server.stream_keepalive_secs = 1
    })
    .await;
    let codex = Codex::api_mode(proxy.addr);
    with_agent(&codex);
    let config = codex.home.path().join("config.toml");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str("stream_idle_timeout_ms = 2000\n");
    std::fs::write(&config, text).unwrap();

    let run = codex.exec("do the slow thing", &["-m", "gpt-5.5"]).await;

    assert!(run.turn_completed(), "{}", run.dump());
    assert_eq!(
        run.last_message().as_deref(),
        Some("the slow task finished")
    );
    assert_eq!(
        mock.responses_requests()
            .iter()
            .filter(|r| is_subagent(r))
            .count(),
        1,
        "ran once, no retry"
    );
    proxy.stop().await;
}

#[tokio::test]
async fn a_task_after_a_quiet_spell_continues_from_the_packed_request() {
    support::init_logs();
    let mock = MockUpstream::start(|req, _| {
        if is_subagent(req) {
            return Reply::sse(&answer("resp_sub", "REVIEW: fine"));
        }
        if !outputs(req).is_empty() {
            return Reply::sse(&answer("resp_2", "reviewed after a pause"));
        }
        // The model "thinks" between events, longer than the proxy waits to pack.
        Reply::Sse {
            chunks: [
                ev_created("resp_1"),
                ev_message("msg_pre", "Thinking it over."),
                task_call("call_task_1", "test-reviewer", "Review the repo"),
                ev_completed("resp_1"),
            ]
            .iter()
            .map(sse_event)
            .collect(),
            gap: std::time::Duration::from_millis(400),
        }
    })
    .await;
    let home = tempfile::tempdir().unwrap();
    let proxy = support::proxy_with(&mock.url(), home.path(), |c| {
        c.server.pack_request_after_ms = 100
    })
    .await;
    let codex = Codex::api_mode(proxy.addr);
    with_agent(&codex);

    let run = codex.exec("review this repo", &["-m", "gpt-5.5"]).await;

    assert!(run.turn_completed(), "{}", run.dump());
    assert_eq!(
        run.last_message().as_deref(),
        Some("reviewed after a pause")
    );
    let status: Value = reqwest::get(format!("http://{}/status", proxy.addr))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        status["requests"]["packed"].as_u64() >= Some(1),
        "the quiet stream's request was packed: {status}"
    );
    // The continuation is the first request, every member and item as sent, plus
    // the call and its result.
    let reqs = mock.responses_requests();
    let main: Vec<&Recorded> = reqs.iter().filter(|r| !is_subagent(r)).collect();
    let (first, cont) = (main[0].json(), main[1].json());
    let (first_input, cont_input) = (
        first["input"].as_array().unwrap(),
        cont["input"].as_array().unwrap(),
    );
    assert_eq!(&cont_input[..first_input.len()], &first_input[..]);
    assert!(cont_input[first_input.len()..]
        .iter()
        .any(|i| i["type"] == "function_call" && i["name"] == "Task"));
    let members = |v: &Value| {
        let mut v = v.clone();
        v.as_object_mut().unwrap().remove("input");
        v
    };
    assert_eq!(members(&cont), members(&first));
    proxy.stop().await;
}

/// One turn whose model calls `Skill` for `skill`: the run, the turn's first
/// request, and the output the continuation carried.
async fn skill_turn(skill: &'static str) -> (Run, Recorded, String, std::path::PathBuf) {
    support::init_logs();
    let mock = MockUpstream::start(move |req, _| {
        let outs = outputs(req);
        if let Some((_, out)) = outs.first() {
            let loaded = out.contains("Write in short sentences. Mode: strict");
            return Reply::sse(&answer(
                "resp_2",
                if loaded { "Styled." } else { "no skill text" },
            ));
        }
        Reply::sse(&[
            ev_created("resp_1"),
            ev_function_call(
                "call_skill_1",
                "Skill",
                &json!({"skill": skill, "args": "strict"}),
            ),
            ev_completed("resp_1"),
        ])
    })
    .await;
    let home = tempfile::tempdir().unwrap();
    let proxy = support::proxy(&mock.url(), home.path()).await;
    let codex = Codex::api_mode(proxy.addr);
    let dir = codex.workspace().join(".claude/skills/house-style");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("SKILL.md"),
        "---\nname: house-style\ndescription: How we write prose\n---\nWrite in short sentences. Mode: $ARGUMENTS\n",
    )
    .unwrap();

    let run = codex.exec("tidy the README", &["-m", "gpt-5.5"]).await;

    assert!(run.turn_completed(), "{}", run.dump());
    let reqs = mock.responses_requests();
    assert_eq!(reqs.len(), 2, "one turn, one continuation");
    let (_, output) = outputs(&reqs[1]).into_iter().next().unwrap();
    proxy.stop().await;
    (run, reqs[0].clone(), output, dir)
}

/// Claude Code's Skill tool: offered with the workspace's skills, answered by the
/// proxy with the skill's text, and the model's answer resumed in the same turn.
#[tokio::test]
async fn a_skill_call_loads_the_skill_into_the_turn() {
    let (run, first, output, dir) = skill_turn("house-style").await;
    assert_eq!(
        run.last_message().as_deref(),
        Some("Styled."),
        "{}",
        run.dump()
    );
    let skill_tool = first.json()["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|t| t["name"] == "Skill")
        .cloned()
        .unwrap_or_default();
    assert!(
        skill_tool["description"]
            .as_str()
            .unwrap_or_default()
            .contains("- house-style: How we write prose"),
        "{skill_tool}"
    );
    assert!(
        output.contains(&format!("Base directory for this skill: {}", dir.display())),
        "{output}"
    );
}

#[tokio::test]
async fn an_unknown_skill_is_an_error_result_that_lists_the_skills() {
    let (run, _, output, _) = skill_turn("house-styel").await;
    assert_eq!(
        run.last_message().as_deref(),
        Some("no skill text"),
        "{}",
        run.dump()
    );
    assert!(
        output.contains("unknown skill `house-styel`; available: house-style"),
        "{output}"
    );
}

/// A Task's `cwd`: the subagent works there; one outside the workspace is an error
/// result, and nothing runs.
#[tokio::test]
async fn a_task_runs_in_the_cwd_it_names_inside_the_workspace() {
    support::init_logs();
    let home = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let mock_cwds = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let asked = mock_cwds.clone();
    let mock = MockUpstream::start(move |req, _| {
        if is_subagent(req) {
            return Reply::sse(&answer("resp_sub", "looked around"));
        }
        let outs = outputs(req);
        if !outs.is_empty() {
            let text: Vec<String> = outs.into_iter().map(|(_, o)| o).collect();
            return Reply::sse(&answer("resp_2", &text.join(" | ")));
        }
        let cwds = asked.lock().unwrap().clone();
        let mut events = vec![ev_created("resp_1")];
        for (i, cwd) in cwds.iter().enumerate() {
            events.push(ev_function_call(
                &format!("call_task_{i}"),
                "Task",
                &json!({"description": "Look", "prompt": "Look around here", "subagent_type": "test-reviewer", "cwd": cwd}),
            ));
        }
        events.push(ev_completed("resp_1"));
        Reply::sse(&events)
    })
    .await;
    let proxy = support::proxy(&mock.url(), home.path()).await;
    let codex = Codex::api_mode(proxy.addr);
    with_agent(&codex);
    let sub = codex.workspace().join("crates/core");
    std::fs::create_dir_all(&sub).unwrap();
    *mock_cwds.lock().unwrap() = vec![
        sub.display().to_string(),
        outside.path().display().to_string(),
    ];

    let run = codex.exec("look in crates/core", &["-m", "gpt-5.5"]).await;

    assert!(run.turn_completed(), "{}", run.dump());
    let reqs = mock.responses_requests();
    let subagents: Vec<&Recorded> = reqs.iter().filter(|r| is_subagent(r)).collect();
    assert_eq!(
        subagents.len(),
        1,
        "only the Task inside the workspace runs"
    );
    let real = std::fs::canonicalize(&sub).unwrap();
    assert!(
        subagents[0]
            .text()
            .contains(&format!("Working directory: {}", real.display())),
        "{}",
        subagents[0].text()
    );
    let told = run.last_message().unwrap_or_default();
    assert!(told.contains("looked around"), "{told}");
    assert!(
        told.contains("is outside this session's workspace"),
        "{told}"
    );
    proxy.stop().await;
}

/// `isolation: "worktree"` through Codex: the subagent runs in a worktree of the
/// session's repository (its system prompt says so), and `cwd` with it is refused.
#[tokio::test]
async fn a_worktree_task_runs_in_a_worktree_and_refuses_a_cwd_beside_it() {
    support::init_logs();
    let home = tempfile::tempdir().unwrap();
    let ws_path = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let asked = ws_path.clone();
    let mock = MockUpstream::start(move |req, _| {
        if is_subagent(req) {
            return Reply::sse(&answer("resp_sub", "looked in the worktree"));
        }
        let outs = outputs(req);
        if !outs.is_empty() {
            let text: Vec<String> = outs.into_iter().map(|(_, o)| o).collect();
            return Reply::sse(&answer("resp_2", &text.join(" | ")));
        }
        let ws = asked.lock().unwrap().clone();
        Reply::sse(&[
            ev_created("resp_1"),
            ev_function_call(
                "call_task_0",
                "Task",
                &json!({"description": "Look", "prompt": "Look around", "subagent_type": "test-reviewer", "isolation": "worktree"}),
            ),
            ev_function_call(
                "call_task_1",
                "Task",
                &json!({"description": "Look", "prompt": "Look here", "subagent_type": "test-reviewer", "isolation": "worktree", "cwd": ws}),
            ),
            ev_completed("resp_1"),
        ])
    })
    .await;
    let proxy = support::proxy(&mock.url(), home.path()).await;
    let codex = Codex::api_mode(proxy.addr);
    with_agent(&codex);
    let ws = codex.workspace().to_path_buf();
    support::git_repo(&ws);
    *ws_path.lock().unwrap() = ws.display().to_string();

    let run = codex.exec("look in a worktree", &["-m", "gpt-5.5"]).await;

    assert!(run.turn_completed(), "{}", run.dump());
    let reqs = mock.responses_requests();
    let subagents: Vec<&Recorded> = reqs.iter().filter(|r| is_subagent(r)).collect();
    assert_eq!(subagents.len(), 1, "only the Task without a cwd runs");
    let text = subagents[0].text();
    // The state directory's worktrees, not the session's checkout.
    let worktrees = home.path().join("worktrees");
    assert!(
        text.contains(&format!("Working directory: {}", worktrees.display())),
        "{text}"
    );
    let told = run.last_message().unwrap_or_default();
    assert!(
        told.contains("cwd cannot be combined with isolation"),
        "{told}"
    );
    // It changed nothing: the worktree and its branch are gone.
    let branches = std::process::Command::new("git")
        .arg("-C")
        .arg(&ws)
        .args(["branch", "--list", "codex-plus/*"])
        .output()
        .unwrap();
    assert!(
        branches.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&branches.stdout)
    );
    proxy.stop().await;
}

/// `run_in_background`: the turn goes on at once; the agent runs on, and the
/// session's next request carries its notification, which stays in place after.
#[tokio::test]
async fn a_background_agent_is_announced_in_the_sessions_next_request() {
    background_turn(false).await;
}

/// The same, asked for by the agent file's `background: true`.
#[tokio::test]
async fn an_agent_file_can_run_in_the_background_by_default() {
    background_turn(true).await;
}

async fn background_turn(by_file: bool) {
    support::init_logs();
    let mock = MockUpstream::start(move |req, _| {
        if is_subagent(req) {
            // 4 s or more of subagent work: two 2 s gaps between three events.
            return Reply::Sse {
                chunks: answer("resp_sub", "background findings: 2 issues")
                    .iter()
                    .map(sse_event)
                    .collect(),
                gap: std::time::Duration::from_millis(2000),
            };
        }
        if req.text().contains("first question") && outputs(req).is_empty() {
            return Reply::sse(&[
                ev_created("resp_1"),
                ev_function_call(
                    "call_bg",
                    "Task",
                    &if by_file {
                        json!({"description": "Scan", "prompt": "Please scan in this repo", "subagent_type": "test-reviewer"})
                    } else {
                        json!({"description": "Scan", "prompt": "Please scan in this repo", "subagent_type": "test-reviewer", "run_in_background": true})
                    },
                ),
                ev_completed("resp_1"),
            ]);
        }
        Reply::sse(&answer("resp_n", "ok"))
    })
    .await;
    let home = tempfile::tempdir().unwrap();
    let proxy = support::proxy(&mock.url(), home.path()).await;
    let codex = Codex::api_mode(proxy.addr);
    with_agent(&codex);
    if by_file {
        let file = codex.workspace().join(".claude/agents/test-reviewer.md");
        let text = std::fs::read_to_string(&file).unwrap();
        std::fs::write(&file, text.replacen("---\n", "---\nbackground: true\n", 1)).unwrap();
    }

    let started = std::time::Instant::now();
    let run = codex.exec("first question", &["-m", "gpt-5.5"]).await;
    assert!(run.turn_completed(), "{}", run.dump());
    assert!(
        started.elapsed() < std::time::Duration::from_millis(3500),
        "the turn did not wait for the agent: {:?}",
        started.elapsed()
    );
    let continuation = mock
        .responses_requests()
        .into_iter()
        .find(|r| !is_subagent(r) && !outputs(r).is_empty())
        .expect("the turn was continued with the launch result");
    let (_, launched) = outputs(&continuation).into_iter().next().unwrap();
    assert!(
        launched.contains("Async agent launched successfully"),
        "{launched}"
    );

    // Let the agent finish, then resume the session.
    tokio::time::sleep(std::time::Duration::from_millis(6500)).await;
    let second = codex
        .exec_resume_last("second question", &["-m", "gpt-5.5"])
        .await;
    assert!(second.turn_completed(), "{}", second.dump());
    let third = codex
        .exec_resume_last("third question", &["-m", "gpt-5.5"])
        .await;
    assert!(third.turn_completed(), "{}", third.dump());

    let turns: Vec<Recorded> = mock
        .responses_requests()
        .into_iter()
        .filter(|r| !is_subagent(r))
        .collect();
    let notified = |r: &Recorded| r.text().matches("<task-notification>").count();
    let second_req = turns
        .iter()
        .find(|r| r.text().contains("second question"))
        .unwrap();
    let third_req = turns
        .iter()
        .find(|r| r.text().contains("third question"))
        .unwrap();
    assert_eq!(notified(second_req), 1, "{}", second_req.text());
    assert!(second_req.text().contains("background findings: 2 issues"));
    assert_eq!(notified(third_req), 1, "delivered once, kept in place");
    // Before the prompt it came with.
    let texts: Vec<String> = second_req
        .input()
        .iter()
        .filter(|i| i["role"] == "user")
        .map(|i| {
            i["content"][0]["text"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    let at = texts
        .iter()
        .position(|t| t.starts_with("<task-notification>"))
        .unwrap();
    assert_eq!(texts[at + 1], "second question", "{texts:?}");
    proxy.stop().await;
}

/// The agent id a background Task call returned, from a request's history.
fn launched_id(req: &Recorded) -> Option<String> {
    let text = req.text();
    let at = text.find("agentId: ")? + "agentId: ".len();
    Some(text[at..].split_whitespace().next()?.to_string())
}

/// TaskOutput waits for a background agent's result; TaskStop on one that ended,
/// and TaskOutput on another session's id, are error results. Both tools come only
/// once the session has a background agent.
#[tokio::test]
async fn task_output_waits_for_a_background_agent_and_task_stop_refuses_a_finished_one() {
    support::init_logs();
    let mock = MockUpstream::start(|req, _| {
        if is_subagent(req) {
            return Reply::Sse {
                chunks: answer("resp_sub", "background result 42")
                    .iter()
                    .map(sse_event)
                    .collect(),
                gap: std::time::Duration::from_millis(700),
            };
        }
        let outs = outputs(req);
        let last_out = outs.last().map(|(id, _)| id.clone()).unwrap_or_default();
        let call = |id: &str, name: &str, args: Value| {
            Reply::sse(&[ev_created("resp_c"), ev_function_call(id, name, &args), ev_completed("resp_c")])
        };
        if req.text().contains("start it") && outs.is_empty() {
            return call(
                "call_bg",
                "Task",
                json!({"description": "Scan", "prompt": "Please scan in this repo", "subagent_type": "test-reviewer", "run_in_background": true}),
            );
        }
        if req.text().contains("wait for it") {
            let id = launched_id(req).unwrap_or_default();
            return match last_out.as_str() {
                "call_bg" => call("call_out", "TaskOutput", json!({"task_id": id})),
                "call_out" => call("call_stop", "TaskStop", json!({"task_id": id})),
                "call_stop" => call("call_other", "TaskOutput", json!({"task_id": "task_elsewhere", "block": false})),
                _ => Reply::sse(&answer("resp_done", "done")),
            };
        }
        Reply::sse(&answer("resp_n", "launched"))
    })
    .await;
    let home = tempfile::tempdir().unwrap();
    let proxy = support::proxy(&mock.url(), home.path()).await;
    let codex = Codex::api_mode(proxy.addr);
    with_agent(&codex);

    let first = codex.exec("start it", &["-m", "gpt-5.5"]).await;
    assert!(first.turn_completed(), "{}", first.dump());
    let tools = |r: &Recorded| -> Vec<String> {
        r.json()["tools"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t["name"].as_str().map(str::to_string))
            .collect()
    };
    let reqs = mock.responses_requests();
    assert!(
        !tools(&reqs[0]).contains(&"TaskOutput".to_string()),
        "not before a background agent exists"
    );

    let second = codex
        .exec_resume_last("wait for it", &["-m", "gpt-5.5"])
        .await;
    assert!(second.turn_completed(), "{}", second.dump());
    let reqs: Vec<Recorded> = mock
        .responses_requests()
        .into_iter()
        .filter(|r| !is_subagent(r))
        .collect();
    let asked = reqs
        .iter()
        .find(|r| r.text().contains("wait for it"))
        .unwrap();
    assert!(
        tools(asked).contains(&"TaskOutput".to_string())
            && tools(asked).contains(&"TaskStop".to_string())
    );
    let all: Vec<(String, String)> = reqs.iter().flat_map(outputs).collect();
    let out = |id: &str| {
        all.iter()
            .rev()
            .find(|(c, _)| c == id)
            .map(|(_, o)| o.clone())
            .unwrap_or_default()
    };
    assert!(
        out("call_out").contains("<status>completed</status>"),
        "{}",
        out("call_out")
    );
    assert!(
        out("call_out").contains("background result 42"),
        "{}",
        out("call_out")
    );
    assert!(
        out("call_stop").contains("is not running"),
        "{}",
        out("call_stop")
    );
    assert!(
        out("call_other").contains("no background agent `task_elsewhere` in this session"),
        "{}",
        out("call_other")
    );
    proxy.stop().await;
}

/// SendMessage continues a finished agent by its name, after a proxy restart, with
/// its whole earlier context; an unknown recipient is an error result that lists
/// the agents the session can continue.
#[tokio::test]
async fn send_message_continues_a_named_agent_with_its_context_after_a_restart() {
    support::init_logs();
    let mock = MockUpstream::start(|req, _| {
        if is_subagent(req) {
            let text = if req.text().contains("now fix it") {
                "FIXED: a.rs line 3"
            } else {
                "SCOUT: the bug is in a.rs line 3"
            };
            return Reply::sse(&answer("resp_sub", text));
        }
        let outs = outputs(req);
        if req.text().contains("find the bug") && outs.is_empty() {
            return Reply::sse(&[
                ev_created("resp_1"),
                ev_function_call(
                    "call_scout",
                    "Task",
                    &json!({"description": "Find the bug", "prompt": "Please find the bug in this repo", "subagent_type": "test-reviewer", "name": "scout"}),
                ),
                ev_completed("resp_1"),
            ]);
        }
        if req.text().contains("fix it now") && !outs.iter().any(|(id, _)| id == "call_send") {
            return Reply::sse(&[
                ev_created("resp_2"),
                ev_function_call("call_send", "SendMessage", &json!({"to": "scout", "message": "now fix it"})),
                ev_function_call("call_nobody", "SendMessage", &json!({"to": "nobody", "message": "hello"})),
                ev_completed("resp_2"),
            ]);
        }
        Reply::sse(&answer("resp_n", "ok"))
    })
    .await;
    let home = tempfile::tempdir().unwrap();
    let proxy = support::proxy(&mock.url(), home.path()).await;
    let codex = Codex::api_mode(proxy.addr);
    with_agent(&codex);

    let first = codex.exec("find the bug", &["-m", "gpt-5.5"]).await;
    assert!(first.turn_completed(), "{}", first.dump());
    let offered = &mock.responses_requests()[0];
    assert!(offered.text().contains("\"name\":\"SendMessage\""));
    let agent_id = mock
        .responses_requests()
        .iter()
        .filter(|r| !is_subagent(r))
        .find_map(launched_id)
        .expect("the Task result names its agent");

    // A new proxy process on the same state: the transcript comes from the ledger.
    let old = proxy.addr;
    proxy.stop().await;
    let proxy = support::proxy(&mock.url(), home.path()).await;
    let config = codex.home.path().join("config.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace(&old.to_string(), &proxy.addr.to_string()),
    )
    .unwrap();

    let second = codex
        .exec_resume_last("fix it now", &["-m", "gpt-5.5"])
        .await;
    assert!(second.turn_completed(), "{}", second.dump());
    assert_codex_never_saw_task(&second);

    // The agent's next request holds its earlier prompt and answer, then the message.
    let resumed = mock
        .responses_requests()
        .into_iter()
        .find(|r| is_subagent(r) && r.text().contains("now fix it"))
        .expect("the agent was continued");
    let text = resumed.text();
    let (prompt, answer_at, message) = (
        text.find("Please find the bug in this repo")
            .expect("its first prompt"),
        text.find("SCOUT: the bug is in a.rs line 3")
            .expect("its own answer"),
        text.find("now fix it").unwrap(),
    );
    assert!(prompt < answer_at && answer_at < message, "{text}");

    let all: Vec<(String, String)> = mock
        .responses_requests()
        .iter()
        .filter(|r| !is_subagent(r))
        .flat_map(outputs)
        .collect();
    let out = |id: &str| {
        all.iter()
            .rev()
            .find(|(c, _)| c == id)
            .map(|(_, o)| o.clone())
            .unwrap()
    };
    let sent = out("call_send");
    assert!(sent.contains("FIXED: a.rs line 3"), "{sent}");
    assert!(
        sent.contains(&format!("agentId: {agent_id}")),
        "the same agent: {sent}"
    );
    let nobody = out("call_nobody");
    assert!(
        nobody.contains("no agent `nobody` in this session"),
        "{nobody}"
    );
    assert!(
        nobody.contains(&format!("scout ({agent_id}, test-reviewer)")),
        "{nobody}"
    );
    proxy.stop().await;
}

/// A background agent that ends while its turn still streams (waiting on a slower
/// foreground Task) is announced in that turn's continuation, once, and the
/// session's next request has it in the same place.
#[tokio::test]
async fn a_background_agent_that_ends_mid_turn_is_announced_in_the_continuation() {
    support::init_logs();
    let mock = MockUpstream::start(|req, _| {
        if is_subagent(req) && req.text().contains("Please review slowly") {
            return Reply::Sse {
                chunks: answer("resp_slow", "slow review done")
                    .iter()
                    .map(sse_event)
                    .collect(),
                gap: std::time::Duration::from_millis(700),
            };
        }
        if is_subagent(req) {
            return Reply::sse(&answer("resp_quick", "quick scan result: 1 issue"));
        }
        if req.text().contains("first question") && outputs(req).is_empty() {
            return Reply::sse(&[
                ev_created("resp_1"),
                ev_function_call(
                    "call_bg",
                    "Task",
                    &json!({"description": "Scan", "prompt": "Please scan quickly", "subagent_type": "test-reviewer", "run_in_background": true}),
                ),
                ev_function_call(
                    "call_fg",
                    "Task",
                    &json!({"description": "Review", "prompt": "Please review slowly", "subagent_type": "test-reviewer"}),
                ),
                ev_completed("resp_1"),
            ]);
        }
        Reply::sse(&answer("resp_n", "ok"))
    })
    .await;
    let home = tempfile::tempdir().unwrap();
    let proxy = support::proxy(&mock.url(), home.path()).await;
    let codex = Codex::api_mode(proxy.addr);
    with_agent(&codex);

    let first = codex.exec("first question", &["-m", "gpt-5.5"]).await;
    assert!(first.turn_completed(), "{}", first.dump());
    let second = codex
        .exec_resume_last("second question", &["-m", "gpt-5.5"])
        .await;
    assert!(second.turn_completed(), "{}", second.dump());

    let turns: Vec<Recorded> = mock
        .responses_requests()
        .into_iter()
        .filter(|r| !is_subagent(r))
        .collect();
    let notified = |r: &Recorded| r.text().matches("<task-notification>").count();
    let continuation = turns
        .iter()
        .find(|r| !outputs(r).is_empty() && !r.text().contains("second question"))
        .expect("the turn was continued");
    assert_eq!(notified(continuation), 1, "{}", continuation.text());
    assert!(continuation.text().contains("quick scan result: 1 issue"));
    let next = turns
        .iter()
        .find(|r| r.text().contains("second question"))
        .unwrap();
    assert_eq!(notified(next), 1, "delivered once, kept: {}", next.text());
    // In the same place: right after the same item.
    let before = |r: &Recorded| {
        let input = r.input();
        let at = input
            .iter()
            .position(|i| i.to_string().contains("<task-notification>"))
            .unwrap();
        (
            input[at - 1]["type"].clone(),
            input[at - 1]["call_id"].clone(),
        )
    };
    assert_eq!(before(continuation), before(next));
    assert_eq!(before(next).0, "function_call_output");
    proxy.stop().await;
}

/// A skill with `context: fork` runs as a subagent of its `agent:` type, typed as
/// `/name` (the prompt becomes its report) and called through the Skill tool (the
/// report is the call's result).
#[tokio::test]
async fn a_forked_skill_runs_as_a_subagent_typed_or_called() {
    support::init_logs();
    let mock = MockUpstream::start(|req, _| {
        if is_subagent(req) {
            let to = if req.text().contains("Deploy to prod now") {
                "prod"
            } else {
                "staging"
            };
            return Reply::sse(&answer("resp_sub", &format!("DEPLOYED to {to}")));
        }
        if req.text().contains("ship it") && outputs(req).is_empty() {
            return Reply::sse(&[
                ev_created("resp_1"),
                ev_function_call(
                    "call_skill",
                    "Skill",
                    &json!({"skill": "deploy", "args": "prod"}),
                ),
                ev_completed("resp_1"),
            ]);
        }
        Reply::sse(&answer("resp_n", "ok"))
    })
    .await;
    let home = tempfile::tempdir().unwrap();
    let proxy = support::proxy(&mock.url(), home.path()).await;
    let codex = Codex::api_mode(proxy.addr);
    with_agent(&codex);
    let dir = codex.workspace().join(".claude/skills/deploy");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("SKILL.md"),
        "---\ndescription: Deploys the app\ncontext: fork\nagent: test-reviewer\n---\nDeploy to $ARGUMENTS now.\n",
    )
    .unwrap();

    let typed = codex.exec("/deploy staging", &["-m", "gpt-5.5"]).await;
    assert!(typed.turn_completed(), "{}", typed.dump());
    let reqs = mock.responses_requests();
    let sub = reqs
        .iter()
        .find(|r| is_subagent(r))
        .expect("the skill ran as a subagent");
    assert!(
        sub.text().contains("Deploy to staging now."),
        "{}",
        sub.text()
    );
    let turn = reqs.iter().find(|r| !is_subagent(r)).unwrap();
    let prompt = turn.text();
    assert!(
        prompt.contains("<command-name>/deploy</command-name>"),
        "{prompt}"
    );
    assert!(prompt.contains("DEPLOYED to staging"), "{prompt}");
    assert!(
        !prompt.contains("Deploy to staging now."),
        "the body went to the subagent: {prompt}"
    );

    let called = codex.exec_resume_last("ship it", &["-m", "gpt-5.5"]).await;
    assert!(called.turn_completed(), "{}", called.dump());
    let (_, output) = mock
        .responses_requests()
        .iter()
        .filter(|r| !is_subagent(r))
        .flat_map(outputs)
        .find(|(id, _)| id == "call_skill")
        .expect("the Skill call was answered");
    assert!(
        output.contains("DEPLOYED to prod") && output.contains("agentId:"),
        "{output}"
    );
    proxy.stop().await;
}

/// The shipped `/consensus` in a fresh project after `codex-plus init`: the command
/// expands, the model's three parallel Task calls run the shipped agents, and the
/// verdict comes back in one turn.
#[tokio::test]
async fn consensus_works_in_a_fresh_project_after_init() {
    support::init_logs();
    let reviewers = [
        ("code-reviewer", "You are a senior code reviewer."),
        (
            "security-auditor",
            "You are an application security auditor.",
        ),
        ("performance-optimizer", "You are a performance engineer."),
    ];
    let mock = MockUpstream::start(move |req, _| {
        let text = req.text();
        if let Some((agent, _)) = reviewers.iter().find(|(_, p)| text.contains(p)) {
            return Reply::sse(&answer("resp_sub", &format!("{agent}: no findings")));
        }
        let outs = outputs(req);
        if outs.len() == 3 {
            let all = outs.iter().all(|(_, o)| o.contains("no findings"));
            return Reply::sse(&answer("resp_v", if all { "Verdict: ship" } else { "missing reports" }));
        }
        if text.contains("Get a consensus review of") {
            let call = |i: usize| {
                let (agent, _) = reviewers[i];
                ev_function_call(
                    &format!("call_{i}"),
                    "Task",
                    &json!({"description": format!("Review as {agent}"), "prompt": "Review the last commit", "subagent_type": agent}),
                )
            };
            return Reply::sse(&[ev_created("resp_1"), call(0), call(1), call(2), ev_completed("resp_1")]);
        }
        Reply::sse(&answer("resp_n", "no command was expanded"))
    })
    .await;
    let home = tempfile::tempdir().unwrap();
    let proxy = support::proxy(&mock.url(), home.path()).await;
    let codex = Codex::api_mode(proxy.addr);
    support::git_repo(codex.workspace());
    assert!(
        !codex.workspace().join(".claude").exists(),
        "a fresh project"
    );
    let init = std::process::Command::new(env!("CARGO_BIN_EXE_codex-plus"))
        .args(["init", "--cwd"])
        .arg(codex.workspace())
        .output()
        .unwrap();
    assert!(
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );
    assert!(String::from_utf8_lossy(&init.stdout).contains("consensus.md"));

    let run = codex.exec("/consensus", &["-m", "gpt-5.5"]).await;

    assert!(run.turn_completed(), "{}", run.dump());
    assert_eq!(
        run.last_message().as_deref(),
        Some("Verdict: ship"),
        "{}",
        run.dump()
    );
    assert_codex_never_saw_task(&run);
    let subagents = mock
        .responses_requests()
        .iter()
        .filter(|r| reviewers.iter().any(|(_, p)| r.text().contains(p)))
        .count();
    assert_eq!(subagents, 3, "each shipped reviewer ran");
    proxy.stop().await;
}
