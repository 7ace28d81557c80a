//! Slash commands as Claude Code users know them: a new turn whose prompt starts with
//! `/name args` is sent as the command's expanded prompt, in place of what was typed.
//!
//! Recognised only in the prompt of a new turn (`Turn::new_turn_prompt`), at the start
//! of its text, and only for a command the request's workspace defines; anything else
//! is left as typed. From the Codex TUI, where an unknown `/name` never leaves the
//! client, a command arrives as a synced skill (see `skill_entry`): the typed message
//! `$name args` followed by the skill's `<skill>` item, which becomes the expansion.
//!
//! The command's `model` replaces the request's model and its `allowed-tools` narrows
//! the tools offered (see `allowed_tools`), for every request of that turn. Expanded
//! items are put back on later requests of the session (see `slash_memory`).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::response::Response;
use serde_json::Value;

pub mod allowed_tools;
pub mod fork;
pub mod memory;
pub mod skill_entry;

use crate::claude::{parse_invocation, render, ClaudeCatalogs, CommandDef};
use crate::config::CommandsConfig;
use crate::turn::pipeline::Step;
use crate::turn::Turn;
use crate::wire::request::RawJson;
use allowed_tools::{narrowed, ToolScope};
use memory::{restore, Expansion, SlashMemory, TurnScope};
use skill_entry::{skill_item_header, Marker};

pub struct Slash {
    catalogs: Arc<ClaudeCatalogs>,
    enabled: bool,
    shell_timeout: Duration,
    memory: SlashMemory,
    /// Runs `context: fork` skills; without it they expand in the conversation.
    forker: Option<fork::Forker>,
}

impl Slash {
    pub fn new(catalogs: Arc<ClaudeCatalogs>, config: &CommandsConfig) -> Slash {
        Slash {
            catalogs,
            enabled: config.enabled,
            shell_timeout: config.shell_timeout(),
            memory: SlashMemory::new(),
            forker: None,
        }
    }

    /// Runs `context: fork` skills as subagents.
    pub fn forking(mut self, forker: fork::Forker) -> Slash {
        self.forker = Some(forker);
        self
    }
}

impl Step for Slash {
    fn concern(&self) -> crate::turn::kind::Concern {
        crate::turn::kind::Concern::Slash
    }

    async fn apply(&self, mut turn: Turn) -> Result<Turn, Response> {
        if !self.enabled {
            return Ok(turn);
        }
        let session = turn.session_id().map(str::to_string);
        let turn_id = turn.meta.turn_id.clone();
        let mut restored = Vec::new();
        if let Some(session) = &session {
            let expansions = self.memory.expansions(session);
            if !expansions.is_empty() {
                // Items are shared bytes: the copy is cheap, and an untouched request
                // keeps going upstream as Codex sent it.
                let mut input = turn.request().input.clone();
                restored = restore(&mut input, &expansions);
                if !restored.is_empty() {
                    let prompt = turn.new_turn_prompt();
                    turn.request_mut().input = input;
                    // A retried turn: its prompt is the expansion again.
                    if let Some(prompt) = prompt.filter(|p| restored.contains(p)) {
                        turn.mark_prompt(prompt);
                    }
                }
            }
        }
        if let (Some(prompt), Some(env)) = (turn.new_turn_prompt(), turn.env.clone()) {
            let found = find_invocation(&turn.request().input, prompt)
                .filter(|inv| !restored.contains(&inv.item));
            if let Some(inv) = found {
                let commands = self.catalogs.commands.get(&env.cwd);
                if let Some(cmd) = commands.invocable(&inv.name) {
                    let scope = self
                        .expand(&mut turn, &inv, cmd, &env.cwd, session.as_deref())
                        .await;
                    if let Some(turn_id) = &turn_id {
                        self.memory.set_scope(turn_id, scope);
                    }
                }
            }
        }
        if let Some(scope) = turn_id.as_deref().and_then(|t| self.memory.scope(t)) {
            apply_scope(&mut turn, scope);
        }
        Ok(turn)
    }
}

impl Slash {
    /// Renders `cmd` into the invocation's item and returns what it changes for the turn.
    async fn expand(
        &self,
        turn: &mut Turn,
        inv: &Invocation,
        cmd: &CommandDef,
        cwd: &Path,
        session: Option<&str>,
    ) -> TurnScope {
        let rendered = render(cmd, &inv.args, cwd, self.shell_timeout).await;
        for note in &rendered.notes {
            tracing::warn!(command = %cmd.name, "slash command: {note}");
        }
        if let (Some(run_as), Some(forker)) = (&cmd.run_as, &self.forker) {
            // Its model and tools were the subagent's: the turn keeps its own.
            let report = forker.run(turn, cmd, run_as, &inv.args, rendered).await;
            self.put_expansion(turn, inv, &report, cmd, cwd, session);
            return TurnScope::default();
        }
        self.put_expansion(turn, inv, &rendered.text, cmd, cwd, session);
        let model = rendered
            .model
            .as_deref()
            .and_then(|m| match upstream_model(m) {
                Ok(model) => model,
                Err(why) => {
                    tracing::warn!(command = %cmd.name, "slash command: {why}");
                    None
                }
            });
        let tools = rendered.allowed_tools.as_deref().map(|entries| {
            let scope = ToolScope::from_claude(entries);
            for note in &scope.notes {
                tracing::info!(command = %cmd.name, "allowed-tools {note}");
            }
            scope
        });
        TurnScope { model, tools }
    }

    /// Puts `text` in the invocation's place (inside a synced skill's `<skill>`
    /// item, when it came as one), and remembers it for the session's later requests.
    fn put_expansion(
        &self,
        turn: &mut Turn,
        inv: &Invocation,
        text: &str,
        cmd: &CommandDef,
        cwd: &Path,
        session: Option<&str>,
    ) {
        let text = match &inv.skill_header {
            Some(header) => format!("{header}\n{text}\n</skill>"),
            None => text.to_string(),
        };
        let original = turn.request().input[inv.item].clone();
        if let Some(expanded) = with_first_text(&original, &text) {
            turn.replace_input(inv.item, expanded.clone());
            if let Some(session) = session {
                self.memory
                    .remember(session, Expansion { original, expanded });
            }
            tracing::info!(command = %cmd.name, workspace = %cwd.display(), "expanded slash command");
        }
    }
}

/// Applies a command's model and tools to a request of its turn. The tool scope also
/// travels in the request's extensions, for steps that add tools later (Task).
fn apply_scope(turn: &mut Turn, scope: TurnScope) {
    if let Some(model) = scope.model {
        if turn.request().model.as_deref() != Some(model.as_str()) {
            turn.request_mut().set_model(model);
        }
    }
    if let Some(tools) = scope.tools {
        if let Some((edit, removed)) = narrowed(turn.request(), &tools) {
            tracing::debug!(?removed, "tools narrowed by the slash command");
            edit.apply(turn.request_mut());
        }
        turn.parts.extensions.insert(tools);
    }
}

/// Whether a step that adds tools may add `name` (`Task`) to this turn.
pub fn allows_tool(turn: &Turn, name: &str) -> bool {
    turn.parts
        .extensions
        .get::<ToolScope>()
        .is_none_or(|scope| scope.allows(name))
}

/// A command's `model` as the Codex upstream can take it: `None` keeps the session's
/// model (`inherit`); Claude model names are refused, since the turn goes to Codex's
/// upstream, not to Anthropic.
pub fn upstream_model(model: &str) -> Result<Option<String>, String> {
    let model = model.trim();
    let lower = model.to_ascii_lowercase();
    if model.is_empty() || lower == "inherit" || lower == "default" {
        return Ok(None);
    }
    if matches!(lower.as_str(), "haiku" | "sonnet" | "opus" | "opusplan")
        || lower.starts_with("claude")
    {
        return Err(format!(
            "model `{model}` is a Claude model and this turn goes to Codex's upstream; \
             the session's model is kept (name an upstream model, e.g. `model: gpt-5.5`)"
        ));
    }
    Ok(Some(model.to_string()))
}

/// A command invocation found in a new turn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    /// The input item whose text becomes the expansion.
    pub item: usize,
    pub name: String,
    pub args: String,
    /// For a synced skill entry: the `<skill>` item's `<name>`/`<path>` lines, kept.
    pub skill_header: Option<String>,
}

/// The invocation in the new turn whose prompt is `input[prompt]`: `/name args` at
/// the start of the prompt, or, for a prompt starting with `$name args`, the synced
/// skill item Codex put after it. Whether the name is a command is the caller's business.
pub fn find_invocation(input: &[RawJson], prompt: usize) -> Option<Invocation> {
    let item = input.get(prompt)?;
    // Most prompts are not invocations: their start says so without reading them whole.
    if !(item.user_text_begins("/")? || item.user_text_begins("$")?) {
        return None;
    }
    let text = item.user_text()?;
    if let Some((name, args)) = parse_invocation(&text) {
        return Some(Invocation {
            item: prompt,
            name: name.to_string(),
            args: args.to_string(),
            skill_header: None,
        });
    }
    let mention = text.trim_start().strip_prefix('$')?;
    let (name, args) =
        parse_invocation(&format!("/{mention}")).map(|(n, a)| (n.to_string(), a.to_string()))?;
    // Codex puts one `<skill>` item per mentioned skill right after the typed message.
    input[prompt + 1..]
        .iter()
        .enumerate()
        .map_while(|(i, item)| {
            let text = item.user_text()?;
            text.starts_with("<skill>")
                .then_some((prompt + 1 + i, text))
        })
        .find_map(|(item, text)| {
            let marker = Marker::find(&text)?;
            (marker.name == name).then(|| Invocation {
                item,
                name: name.clone(),
                args: args.clone(),
                skill_header: skill_item_header(&text).map(str::to_string),
            })
        })
}

/// The item with its first text part's text replaced; every other field kept.
fn with_first_text(item: &RawJson, text: &str) -> Option<RawJson> {
    let mut value = item.to_value();
    let part = value["content"]
        .as_array_mut()?
        .iter_mut()
        .find(|part| part["text"].is_string())?;
    part["text"] = Value::String(text.to_string());
    Some(RawJson::from_value(&value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn user(text: &str) -> RawJson {
        RawJson::from_value(
            &json!({"type": "message", "role": "user", "id": format!("msg_{}", text.len()),
            "content": [{"type": "input_text", "text": text}]}),
        )
    }

    fn skill_item(name: &str, marked: bool) -> RawJson {
        let marker = Marker {
            name: name.into(),
            source: "/ws/.claude/commands".into(),
        };
        let body = if marked {
            marker.line()
        } else {
            "plain skill".into()
        };
        user(&format!(
            "<skill>\n<name>{name}</name>\n<path>/h/skills/codex-plus/{name}/SKILL.md</path>\n---\nname: \"{name}\"\n---\n{body}\n\n</skill>"
        ))
    }

    #[test]
    fn slash_at_the_start_of_the_prompt_is_an_invocation() {
        let input = [
            user("<environment_context></environment_context>"),
            user("  /greet Bob  "),
        ];
        assert_eq!(
            find_invocation(&input, 1),
            Some(Invocation {
                item: 1,
                name: "greet".into(),
                args: "Bob".into(),
                skill_header: None
            })
        );
        assert_eq!(
            find_invocation(&[user("/frontend:component Button $1,500")], 0)
                .map(|i| (i.name, i.args)),
            Some(("frontend:component".into(), "Button $1,500".into()))
        );
    }

    #[test]
    fn not_in_the_middle_of_text_nor_paths() {
        for text in [
            "please run /greet Bob",
            "/usr/bin/env ls",
            "see /greet",
            "/ greet",
            "$greet Bob",
        ] {
            assert_eq!(find_invocation(&[user(text)], 0), None, "{text}");
        }
        let call = RawJson::from_value(
            &json!({"type": "function_call_output", "call_id": "c", "output": "/greet Bob"}),
        );
        assert_eq!(find_invocation(&[call], 0), None, "not a user message");
        let assistant = RawJson::from_value(
            &json!({"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "/greet Bob"}]}),
        );
        assert_eq!(find_invocation(&[assistant], 0), None);
    }

    #[test]
    fn a_synced_skill_item_after_the_typed_mention_is_an_invocation() {
        let input = [
            user("$greet Alice \"two words\""),
            skill_item("imagegen", false),
            skill_item("greet", true),
        ];
        let inv = find_invocation(&input, 0).unwrap();
        assert_eq!(inv.item, 2);
        assert_eq!(inv.name, "greet");
        assert_eq!(inv.args, "Alice \"two words\"");
        assert_eq!(
            inv.skill_header.as_deref(),
            Some("<skill>\n<name>greet</name>\n<path>/h/skills/codex-plus/greet/SKILL.md</path>")
        );
        // The marked item need not be the last one.
        let input = [
            user("$greet Bob"),
            skill_item("greet", true),
            skill_item("imagegen", false),
        ];
        assert_eq!(find_invocation(&input, 0).map(|i| i.item), Some(1));
    }

    #[test]
    fn skill_items_without_a_leading_mention_or_marker_are_not() {
        // The TUI's title request: the skill item follows a generated prompt.
        let title = [
            user("Generate a concise, single-line task title...\n\nUser prompt:\n$greet Bob"),
            skill_item("greet", true),
        ];
        assert_eq!(find_invocation(&title, 0), None);
        assert_eq!(
            find_invocation(&[user("please $greet Bob"), skill_item("greet", true)], 0),
            None
        );
        assert_eq!(
            find_invocation(&[user("$greet Bob"), skill_item("greet", false)], 0),
            None
        );
        assert_eq!(
            find_invocation(&[user("$greeting Bob"), skill_item("greet", true)], 1),
            None
        );
        assert_eq!(find_invocation(&[skill_item("greet", true)], 0), None);
    }

    #[test]
    fn replacing_the_text_keeps_every_other_field_and_part() {
        let item = RawJson::from_value(
            &json!({"type": "message", "role": "user", "id": "msg_1", "x_future": [1],
            "content": [{"type": "input_image", "image_url": "data:x"}, {"type": "input_text", "text": "/greet Bob", "extra": true}]}),
        );
        let out = with_first_text(&item, "Hello Bob").unwrap().to_value();
        assert_eq!(
            out,
            json!({"type": "message", "role": "user", "id": "msg_1", "x_future": [1],
                "content": [{"type": "input_image", "image_url": "data:x"}, {"type": "input_text", "text": "Hello Bob", "extra": true}]})
        );
    }

    #[test]
    fn claude_models_are_not_sent_upstream() {
        assert_eq!(upstream_model("gpt-5.5"), Ok(Some("gpt-5.5".into())));
        assert_eq!(upstream_model("inherit"), Ok(None));
        assert_eq!(upstream_model(" "), Ok(None));
        for claude in ["haiku", "Sonnet", "claude-3-5-haiku-20241022"] {
            let err = upstream_model(claude).unwrap_err();
            assert!(err.contains("Claude model"), "{err}");
        }
    }

    // --- the step on whole requests ---

    use crate::claude::Roots;
    use crate::proxy::upstream::Backend;
    use crate::turn::Turn;
    use bytes::Bytes;
    use std::path::PathBuf;

    struct Fixture {
        _home: tempfile::TempDir,
        ws: tempfile::TempDir,
        slash: Slash,
    }

    fn setup(commands: &[(&str, &str)]) -> Fixture {
        let home = tempfile::tempdir().unwrap();
        let ws = tempfile::tempdir().unwrap();
        for (name, text) in commands {
            let path = ws.path().join(".claude/commands").join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        let catalogs = Arc::new(ClaudeCatalogs::new(Roots::with_home(home.path())));
        let config = CommandsConfig {
            enabled: true,
            shell_timeout_ms: 5000,
        };
        Fixture {
            slash: Slash::new(catalogs, &config),
            _home: home,
            ws,
        }
    }

    fn env_item(ws: &Path) -> Value {
        json!({"type": "message", "role": "user", "id": "msg_env", "content": [{"type": "input_text",
            "text": format!("<environment_context>\n  <cwd>{}</cwd>\n</environment_context>", ws.display())}]})
    }

    fn make_turn(body: &Value, turn_id: &str) -> Turn {
        let (parts, ()) = http::Request::builder()
            .uri("/v1/responses")
            .header("session-id", "sess-1")
            .header(
                "x-codex-turn-metadata",
                json!({"session_id": "sess-1", "turn_id": turn_id, "request_kind": "turn"})
                    .to_string(),
            )
            .body(())
            .unwrap()
            .into_parts();
        let bytes = Bytes::from(body.to_string());
        let request = crate::wire::request::ResponsesRequest::parse(&bytes).unwrap();
        Turn::new(Backend::OpenAi, parts, bytes, request)
    }

    /// A recorded Codex body with the workspace and the prompt replaced.
    fn fixture_body(name: &str, ws: &Path, prompt: &str) -> Value {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/codex-0.169.0")
            .join(name);
        let mut body: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        let input = body["input"].as_array_mut().unwrap();
        let n = input.len();
        input[n - 2] = env_item(ws);
        input[n - 1]["content"][0]["text"] = json!(prompt);
        body
    }

    fn body_of(input: Vec<Value>) -> Value {
        json!({"model": "gpt-6.1-sol", "input": input, "tools": []})
    }

    fn text_of(turn: &Turn, i: usize) -> String {
        turn.request().input[i].user_text().unwrap().to_string()
    }

    const GREET: &str = "---\ndescription: Greet\n---\nSay hello to $ARGUMENTS. Budget: $1,500. Shell: !`echo from-shell`\n";

    #[tokio::test]
    async fn expands_the_prompt_in_place_and_nothing_else() {
        let f = setup(&[("greet.md", GREET)]);
        let body = fixture_body("lite-request.json", f.ws.path(), "/greet Bob $1,500");
        let turn = f.slash.apply(make_turn(&body, "t1")).await.unwrap();
        let original = make_turn(&body, "t1");
        let n = turn.request().input.len();
        assert_eq!(
            text_of(&turn, n - 1),
            "Say hello to Bob $1,500. Budget: $1,500. Shell: from-shell"
        );
        let item = turn.request().input[n - 1].to_value();
        assert_eq!(
            item["id"],
            body["input"][n - 1]["id"],
            "the item keeps its id"
        );
        assert!(turn.request().input[..n - 1]
            .iter()
            .zip(&original.request().input[..n - 1])
            .all(|(a, b)| a == b));
        assert_eq!(turn.request().model, original.request().model);
        assert_eq!(turn.request().tools, original.request().tools);
        let (sent, _) = turn.body();
        let sent: Value = serde_json::from_slice(&sent).unwrap();
        let mut expected = body.clone();
        expected["input"][n - 1]["content"][0]["text"] =
            json!("Say hello to Bob $1,500. Budget: $1,500. Shell: from-shell");
        assert_eq!(sent, expected, "the body differs only in the prompt's text");
    }

    #[tokio::test]
    async fn unknown_commands_history_and_tool_follow_ups_are_left_alone() {
        let f = setup(&[("greet.md", GREET)]);
        let ws = f.ws.path();
        let unknown = body_of(vec![
            env_item(ws),
            serde_json::from_str(user("/nope Bob").as_str()).unwrap(),
        ]);
        let turn = f.slash.apply(make_turn(&unknown, "t1")).await.unwrap();
        assert!(!turn.changed(), "an unknown /name stays as typed");

        let history = body_of(vec![
            env_item(ws),
            serde_json::from_str(user("/greet Bob").as_str()).unwrap(),
            json!({"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "hi"}]}),
            serde_json::from_str(user("thanks").as_str()).unwrap(),
        ]);
        let turn = f.slash.apply(make_turn(&history, "t2")).await.unwrap();
        assert!(!turn.changed(), "a command in the history is not expanded");

        let follow_up = body_of(vec![
            env_item(ws),
            serde_json::from_str(user("/greet Bob").as_str()).unwrap(),
            json!({"type": "function_call", "call_id": "c1", "name": "exec_command", "arguments": "{}"}),
            json!({"type": "function_call_output", "call_id": "c1", "output": "ok"}),
        ]);
        let turn = f.slash.apply(make_turn(&follow_up, "t3")).await.unwrap();
        assert!(!turn.changed(), "a tool follow-up is no new turn");
    }

    #[tokio::test]
    async fn model_and_allowed_tools_hold_for_the_whole_turn() {
        let review = "---\nmodel: gpt-5.5-mini\nallowed-tools: Read, Grep, Bash(git diff:*)\n---\nReview $ARGUMENTS\n";
        let f = setup(&[("review.md", review)]);
        let body = fixture_body("classic-request.json", f.ws.path(), "/review src/");
        let turn = f.slash.apply(make_turn(&body, "t1")).await.unwrap();
        assert_eq!(turn.request().model.as_deref(), Some("gpt-5.5-mini"));
        let names: Vec<String> = turn
            .request()
            .tools
            .iter()
            .flatten()
            .map(|t| t.head().name.map(|n| n.into_owned()).unwrap_or_default())
            .collect();
        assert!(!names.contains(&"apply_patch".to_string()), "{names:?}");
        assert!(names.contains(&"exec_command".to_string()), "{names:?}");
        assert!(
            !allows_tool(&turn, "Task"),
            "the Task tool is not added later"
        );
        let n = turn.request().input.len();
        let expanded = turn.request().input[n - 1].clone();
        assert_eq!(text_of(&turn, n - 1), "Review src/");

        // The follow-up after a tool call: Codex sends the typed text again.
        let mut follow = body.clone();
        let input = follow["input"].as_array_mut().unwrap();
        input.push(json!({"type": "function_call", "call_id": "c1", "name": "exec_command", "arguments": "{}"}));
        input.push(json!({"type": "function_call_output", "call_id": "c1", "output": "ok"}));
        let turn = f.slash.apply(make_turn(&follow, "t1")).await.unwrap();
        assert_eq!(
            turn.request().input[n - 1],
            expanded,
            "the expansion is put back byte for byte"
        );
        assert_eq!(turn.request().model.as_deref(), Some("gpt-5.5-mini"));
        assert!(turn
            .request()
            .tools
            .iter()
            .flatten()
            .all(|t| t.head().name.as_deref() != Some("apply_patch")));

        // The next turn keeps the expansion in its history but not the model or tools.
        let mut next = follow.clone();
        next["input"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::from_str(user("thanks").as_str()).unwrap());
        let turn = f.slash.apply(make_turn(&next, "t2")).await.unwrap();
        assert_eq!(turn.request().input[n - 1], expanded);
        assert_eq!(turn.request().model.as_deref(), Some("gpt-5.5"));
        assert!(turn
            .request()
            .tools
            .iter()
            .flatten()
            .any(|t| t.head().name.as_deref() == Some("apply_patch")));
        assert!(allows_tool(&turn, "Task"));
    }

    #[tokio::test]
    async fn allowed_tools_narrow_the_lite_dialect() {
        let f = setup(&[(
            "status.md",
            "---\nallowed-tools: [\"Bash(git status:*)\"]\n---\nStatus\n",
        )]);
        let body = fixture_body("lite-request.json", f.ws.path(), "/status");
        let turn = f.slash.apply(make_turn(&body, "t1")).await.unwrap();
        let tools = turn.request().input[0].to_value();
        let namespaces: Vec<&str> = tools["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap())
            .collect();
        assert!(!namespaces.contains(&"collaboration"), "{namespaces:?}");
        assert!(namespaces.contains(&"functions") && namespaces.contains(&"clock"));
        assert_eq!(turn.request().model.as_deref(), Some("gpt-6.1-sol"));
    }

    #[tokio::test]
    async fn a_synced_skill_item_becomes_the_expansion() {
        let f = setup(&[("greet.md", GREET)]);
        let body = body_of(vec![
            env_item(f.ws.path()),
            serde_json::from_str(user("$greet Bob").as_str()).unwrap(),
            serde_json::from_str(skill_item("greet", true).as_str()).unwrap(),
        ]);
        let turn = f.slash.apply(make_turn(&body, "t1")).await.unwrap();
        assert_eq!(text_of(&turn, 1), "$greet Bob", "the typed message stays");
        assert_eq!(
            text_of(&turn, 2),
            "<skill>\n<name>greet</name>\n<path>/h/skills/codex-plus/greet/SKILL.md</path>\nSay hello to Bob. Budget: $1,500. Shell: from-shell\n</skill>"
        );
    }

    #[tokio::test]
    async fn disabled_does_nothing() {
        let mut f = setup(&[("greet.md", GREET)]);
        f.slash.enabled = false;
        let body = body_of(vec![
            env_item(f.ws.path()),
            serde_json::from_str(user("/greet Bob").as_str()).unwrap(),
        ]);
        assert!(!f
            .slash
            .apply(make_turn(&body, "t1"))
            .await
            .unwrap()
            .changed());
    }
}
