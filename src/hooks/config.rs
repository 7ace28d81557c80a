//! Hook configuration: the `"hooks"` objects of settings files, parsed and checked.
//!
//! Every problem becomes a warning that names the file and the place in it; whatever
//! else is valid still loads.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Map, Value};

use super::event::HookEvent;
use super::matcher::Matcher;

/// How long a hook may run when its entry gives no `timeout`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// A `prompt` hook's default `timeout`, as in Claude Code (an `agent` hook's is
/// [`DEFAULT_TIMEOUT`]).
pub const PROMPT_TIMEOUT: Duration = Duration::from_secs(30);

/// One hook to run.
#[derive(Debug, Clone, PartialEq)]
pub struct HookCommand {
    /// What is shown and logged: the shell command, an `http` hook's URL, or a
    /// `prompt`/`agent` hook's prompt.
    pub command: String,
    /// How it runs.
    pub handler: Handler,
    /// When to give up on it.
    pub timeout: Duration,
    /// The settings file it came from.
    pub source: PathBuf,
}

/// The kinds of hook handler Claude Code has.
#[derive(Debug, Clone, PartialEq)]
pub enum Handler {
    /// `sh -c command`, the event JSON on stdin.
    Command,
    /// The event JSON is POSTed to `command`, the URL.
    Http(HttpHook),
    /// One model call judges the event.
    Prompt(Judged),
    /// A subagent with read-only tools judges the event.
    Agent(Judged),
}

/// A `prompt` or `agent` hook: the prompt (`$ARGUMENTS` is the event JSON) and the
/// model that judges (`None`: the session's own).
#[derive(Debug, Clone, PartialEq)]
pub struct Judged {
    pub prompt: String,
    pub model: Option<String>,
}

/// What an `http` hook sends besides the event: headers, where `$VAR` and `${VAR}`
/// are filled in only for the variables `allowedEnvVars` names (others stay empty,
/// so a settings file cannot send a secret it was not allowed).
#[derive(Debug, Clone, PartialEq)]
pub struct HttpHook {
    pub headers: Vec<(String, String)>,
    pub allowed_env: Vec<String>,
}

/// Commands that run when the matcher matches.
#[derive(Debug, Clone)]
pub struct HookGroup {
    /// What the group applies to.
    pub matcher: Matcher,
    /// Its commands, in file order.
    pub hooks: Vec<HookCommand>,
}

/// All hooks of a workspace, by event, in precedence order of their files.
#[derive(Debug, Clone, Default)]
pub struct HookConfig {
    events: BTreeMap<HookEvent, Vec<HookGroup>>,
}

/// A problem in a settings file's hooks; the entry it names was skipped or defaulted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigWarning {
    /// The settings file.
    pub source: PathBuf,
    /// Where in it, e.g. `hooks.PreToolUse[0].hooks[1].timeout`.
    pub location: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl fmt::Display for ConfigWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {}: {}",
            self.source.display(),
            self.location,
            self.message
        )
    }
}

impl HookConfig {
    /// Parses each file's `"hooks"` value, given as `(settings file, value)` in precedence
    /// order. Hooks from all files apply; nothing here is fatal.
    pub fn from_settings(sources: &[(PathBuf, Value)]) -> (Self, Vec<ConfigWarning>) {
        let mut parser = Parser::default();
        for (source, hooks) in sources {
            parser.file(source, hooks);
        }
        (
            Self {
                events: parser.events,
            },
            parser.warnings,
        )
    }

    /// The groups for `event`, in load order.
    pub fn groups(&self, event: HookEvent) -> &[HookGroup] {
        self.events.get(&event).map_or(&[], Vec::as_slice)
    }

    /// Whether no hook is configured at all.
    pub fn is_empty(&self) -> bool {
        self.events.values().all(Vec::is_empty)
    }
}

#[derive(Default)]
struct Parser {
    events: BTreeMap<HookEvent, Vec<HookGroup>>,
    warnings: Vec<ConfigWarning>,
}

impl Parser {
    fn warn(&mut self, source: &Path, location: String, message: String) {
        self.warnings.push(ConfigWarning {
            source: source.to_owned(),
            location,
            message,
        });
    }

    fn file(&mut self, source: &Path, hooks: &Value) {
        let Some(hooks) = hooks.as_object() else {
            self.warn(
                source,
                "hooks".into(),
                format!(
                    "must be an object mapping event names to lists of groups, found {}",
                    kind(hooks)
                ),
            );
            return;
        };
        for (name, groups) in hooks {
            let location = format!("hooks.{name}");
            let Some(event) = HookEvent::parse(name) else {
                let known: Vec<_> = HookEvent::ALL.iter().map(|e| e.as_str()).collect();
                self.warn(
                    source,
                    location,
                    format!(
                        "unknown hook event {name:?}; known events: {}",
                        known.join(", ")
                    ),
                );
                continue;
            };
            let Some(groups) = groups.as_array() else {
                self.warn(
                    source,
                    location,
                    format!(
                        "must be a list of {{\"matcher\", \"hooks\"}} groups, found {}",
                        kind(groups)
                    ),
                );
                continue;
            };
            for (i, group) in groups.iter().enumerate() {
                if let Some(group) = self.group(source, &format!("{location}[{i}]"), group) {
                    self.events.entry(event).or_default().push(group);
                }
            }
        }
    }

    fn group(&mut self, source: &Path, location: &str, group: &Value) -> Option<HookGroup> {
        let Some(group) = group.as_object() else {
            self.warn(
                source,
                location.into(),
                format!(
                    "must be an object like {{\"matcher\": \"Bash\", \"hooks\": [...]}}, found {}",
                    kind(group)
                ),
            );
            return None;
        };
        let matcher = match group.get("matcher") {
            None | Some(Value::Null) => Matcher::all(),
            Some(Value::String(pattern)) => {
                let matcher = Matcher::new(pattern);
                if let Some(err) = matcher.error() {
                    self.warn(
                        source,
                        format!("{location}.matcher"),
                        format!(
                            "{pattern:?} is not a valid regex, so this group never runs: {err}"
                        ),
                    );
                }
                matcher
            }
            Some(other) => {
                self.warn(
                    source,
                    format!("{location}.matcher"),
                    format!(
                        "must be a string such as \"Bash|Edit\", found {}",
                        kind(other)
                    ),
                );
                return None;
            }
        };
        let Some(entries) = group.get("hooks").and_then(Value::as_array) else {
            self.warn(
                source,
                format!("{location}.hooks"),
                "must be a list of {\"type\": \"command\", \"command\": \"...\"} entries".into(),
            );
            return None;
        };
        let hooks: Vec<_> = entries
            .iter()
            .enumerate()
            .filter_map(|(i, entry)| self.command(source, &format!("{location}.hooks[{i}]"), entry))
            .collect();
        (!hooks.is_empty()).then_some(HookGroup { matcher, hooks })
    }

    fn command(&mut self, source: &Path, location: &str, entry: &Value) -> Option<HookCommand> {
        let Some(entry) = entry.as_object() else {
            self.warn(
                source,
                location.into(),
                format!(
                    "must be an object like {{\"type\": \"command\", \"command\": \"...\"}}, found {}",
                    kind(entry)
                ),
            );
            return None;
        };
        match entry.get("type") {
            Some(Value::String(t)) if t == "command" => {}
            Some(Value::String(t)) if t == "http" => return self.http(source, location, entry),
            Some(Value::String(t)) if t == "prompt" || t == "agent" => {
                return self.judged(source, location, entry, t == "agent")
            }
            Some(Value::String(t)) => {
                self.warn(
                    source,
                    format!("{location}.type"),
                    format!("unknown hook type {t:?} (one of \"command\", \"http\", \"prompt\", \"agent\"); skipped"),
                );
                return None;
            }
            None if entry.contains_key("command") => self.warn(
                source,
                format!("{location}.type"),
                "missing; assumed \"command\" (add \"type\": \"command\")".into(),
            ),
            _ => {
                self.warn(
                    source,
                    format!("{location}.type"),
                    "must be one of \"command\", \"http\", \"prompt\", \"agent\"; skipped".into(),
                );
                return None;
            }
        }
        let command = match entry.get("command") {
            Some(Value::String(c)) if !c.trim().is_empty() => c.clone(),
            other => {
                self.warn(
                    source,
                    format!("{location}.command"),
                    format!(
                        "must be a non-empty shell command string, found {}",
                        other.map_or("nothing", kind)
                    ),
                );
                return None;
            }
        };
        let timeout = self.timeout(source, location, entry, DEFAULT_TIMEOUT);
        Some(HookCommand {
            command,
            handler: Handler::Command,
            timeout,
            source: source.to_owned(),
        })
    }

    /// A `prompt` or `agent` hook: `prompt` (required), optional `model`.
    fn judged(
        &mut self,
        source: &Path,
        location: &str,
        entry: &Map<String, Value>,
        agent: bool,
    ) -> Option<HookCommand> {
        let prompt = match entry.get("prompt") {
            Some(Value::String(p)) if !p.trim().is_empty() => p.clone(),
            other => {
                self.warn(
                    source,
                    format!("{location}.prompt"),
                    format!(
                        "must be the prompt that judges the event ($ARGUMENTS stands for its JSON), found {}",
                        other.map_or("nothing", kind)
                    ),
                );
                return None;
            }
        };
        let model = match entry.get("model") {
            None | Some(Value::Null) => None,
            Some(Value::String(m)) if !m.trim().is_empty() => Some(m.trim().to_string()),
            Some(other) => {
                self.warn(
                    source,
                    format!("{location}.model"),
                    format!(
                        "must be a model name such as \"openai:gpt-5-mini\", found {}; the session's model is used",
                        kind(other)
                    ),
                );
                None
            }
        };
        let default = if agent {
            DEFAULT_TIMEOUT
        } else {
            PROMPT_TIMEOUT
        };
        let timeout = self.timeout(source, location, entry, default);
        let judged = Judged {
            prompt: prompt.clone(),
            model,
        };
        Some(HookCommand {
            command: prompt,
            handler: if agent {
                Handler::Agent(judged)
            } else {
                Handler::Prompt(judged)
            },
            timeout,
            source: source.to_owned(),
        })
    }

    /// An `http` hook: `url` (http or https), optional `headers` and `allowedEnvVars`.
    fn http(
        &mut self,
        source: &Path,
        location: &str,
        entry: &Map<String, Value>,
    ) -> Option<HookCommand> {
        let url = match entry.get("url") {
            Some(Value::String(u)) if u.starts_with("http://") || u.starts_with("https://") => {
                u.clone()
            }
            other => {
                self.warn(
                    source,
                    format!("{location}.url"),
                    format!(
                        "must be an http:// or https:// URL, found {}",
                        other.map_or("nothing".to_string(), |v| v.to_string())
                    ),
                );
                return None;
            }
        };
        let headers = entry
            .get("headers")
            .and_then(Value::as_object)
            .map(|h| {
                h.iter()
                    .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                    .collect()
            })
            .unwrap_or_default();
        let allowed_env = entry
            .get("allowedEnvVars")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        let timeout = self.timeout(source, location, entry, DEFAULT_TIMEOUT);
        Some(HookCommand {
            command: url,
            handler: Handler::Http(HttpHook {
                headers,
                allowed_env,
            }),
            timeout,
            source: source.to_owned(),
        })
    }

    fn timeout(
        &mut self,
        source: &Path,
        location: &str,
        entry: &Map<String, Value>,
        default: Duration,
    ) -> Duration {
        let Some(value) = entry.get("timeout").filter(|v| !v.is_null()) else {
            return default;
        };
        let parsed = value
            .as_f64()
            .filter(|secs| *secs > 0.0)
            .and_then(|secs| Duration::try_from_secs_f64(secs).ok());
        parsed.unwrap_or_else(|| {
            self.warn(
                source,
                format!("{location}.timeout"),
                format!(
                    "must be a positive number of seconds, found {value}; using {}s",
                    default.as_secs()
                ),
            );
            default
        })
    }
}

/// A JSON value's kind, for messages.
fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn load(files: &[(&str, Value)]) -> (HookConfig, Vec<String>) {
        let sources: Vec<_> = files
            .iter()
            .map(|(path, value)| (PathBuf::from(path), value.clone()))
            .collect();
        let (config, warnings) = HookConfig::from_settings(&sources);
        (config, warnings.iter().map(ToString::to_string).collect())
    }

    fn commands(config: &HookConfig, event: HookEvent) -> Vec<(String, String, u64)> {
        config
            .groups(event)
            .iter()
            .flat_map(|g| {
                g.hooks.iter().map(|h| {
                    (
                        g.matcher.as_str().to_owned(),
                        h.command.clone(),
                        h.timeout.as_millis() as u64,
                    )
                })
            })
            .collect()
    }

    #[test]
    fn a_valid_file_loads_every_group_in_order() {
        let (config, warnings) = load(&[(
            "/p/.claude/settings.json",
            json!({
                "PreToolUse": [
                    {"matcher": "Bash", "hooks": [
                        {"type": "command", "command": "./a.sh", "timeout": 5},
                        {"type": "command", "command": "./b.sh", "timeout": 0.5}
                    ]},
                    {"hooks": [{"type": "command", "command": "./all.sh"}]}
                ],
                "Stop": [{"matcher": "", "hooks": [{"type": "command", "command": "./stop.sh"}]}]
            }),
        )]);
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(
            commands(&config, HookEvent::PreToolUse),
            [
                ("Bash".into(), "./a.sh".into(), 5000),
                ("Bash".into(), "./b.sh".into(), 500),
                (String::new(), "./all.sh".into(), 60_000)
            ]
        );
        assert_eq!(commands(&config, HookEvent::Stop).len(), 1);
        assert!(config.groups(HookEvent::SessionEnd).is_empty());
        assert_eq!(
            config.groups(HookEvent::Stop)[0].hooks[0].source,
            PathBuf::from("/p/.claude/settings.json")
        );
    }

    #[test]
    fn hooks_from_all_files_apply_in_precedence_order() {
        let group = |cmd: &str| json!({"Stop": [{"hooks": [{"type": "command", "command": cmd}]}]});
        let (config, warnings) = load(&[
            ("/home/.claude/settings.json", group("user")),
            ("/p/.claude/settings.json", group("project")),
        ]);
        assert!(warnings.is_empty(), "{warnings:?}");
        let cmds: Vec<_> = commands(&config, HookEvent::Stop)
            .into_iter()
            .map(|(_, c, _)| c)
            .collect();
        assert_eq!(cmds, ["user", "project"]);
        assert!(!config.is_empty());
        assert!(load(&[]).0.is_empty());
    }

    #[test]
    fn unknown_events_are_warned_about_with_the_file_and_others_load() {
        let (config, warnings) = load(&[(
            "/p/s.json",
            json!({
                "PreToolUs": [{"hooks": [{"type": "command", "command": "x"}]}],
                "Stop": [{"hooks": [{"type": "command", "command": "y"}]}]
            }),
        )]);
        assert_eq!(warnings.len(), 1);
        assert!(
            warnings[0].starts_with("/p/s.json: hooks.PreToolUs: unknown hook event \"PreToolUs\""),
            "{warnings:?}"
        );
        assert!(warnings[0].contains("PreToolUse"), "lists the known events");
        assert_eq!(commands(&config, HookEvent::Stop).len(), 1);
    }

    #[test]
    fn prompt_and_agent_hooks_are_read_and_an_unknown_type_is_named() {
        let (config, warnings) = load(&[(
            "/s.json",
            json!({"Stop": [{"hooks": [
                {"type": "prompt", "prompt": "Is it done? $ARGUMENTS"},
                {"type": "agent", "prompt": "Check that the tests pass.", "model": "openai:gpt-5-mini", "timeout": 90},
                {"type": "prompt"},
                {"type": "mcp_tool", "server": "x"},
                {"type": "command", "command": "ok"}
            ]}]}),
        )]);
        assert_eq!(
            warnings,
            [
                "/s.json: hooks.Stop[0].hooks[2].prompt: must be the prompt that judges the event ($ARGUMENTS stands for its JSON), found nothing",
                "/s.json: hooks.Stop[0].hooks[3].type: unknown hook type \"mcp_tool\" (one of \"command\", \"http\", \"prompt\", \"agent\"); skipped",
            ]
        );
        let hooks = &config.groups(HookEvent::Stop)[0].hooks;
        assert_eq!(hooks.len(), 3);
        assert_eq!(
            hooks[0].handler,
            Handler::Prompt(Judged {
                prompt: "Is it done? $ARGUMENTS".into(),
                model: None
            })
        );
        assert_eq!(hooks[0].timeout, PROMPT_TIMEOUT, "Claude Code's 30 s");
        assert_eq!(
            hooks[1].handler,
            Handler::Agent(Judged {
                prompt: "Check that the tests pass.".into(),
                model: Some("openai:gpt-5-mini".into())
            })
        );
        assert_eq!(hooks[1].timeout, Duration::from_secs(90));
        assert_eq!(hooks[2].handler, Handler::Command);
    }

    #[test]
    fn malformed_entries_are_reported_by_path_and_the_rest_loads() {
        let (config, warnings) = load(&[(
            "/s.json",
            json!({
                "PreToolUse": [
                    "not a group",
                    {"matcher": 5, "hooks": [{"type": "command", "command": "m"}]},
                    {"matcher": "Bash"},
                    {"matcher": "Edit(", "hooks": [{"type": "command", "command": "bad-regex"}]},
                    {"matcher": "Bash", "hooks": [
                        {"type": "command", "command": ""},
                        {"type": "command"},
                        {"command": "no-type"},
                        {"type": "command", "command": "slow", "timeout": "ten"},
                        {"type": "command", "command": "neg", "timeout": -1},
                        42
                    ]}
                ],
                "Stop": {"hooks": []}
            }),
        )]);
        let expected_locations = [
            "hooks.PreToolUse[0]:",
            "hooks.PreToolUse[1].matcher:",
            "hooks.PreToolUse[2].hooks:",
            "hooks.PreToolUse[3].matcher:",
            "hooks.PreToolUse[4].hooks[0].command:",
            "hooks.PreToolUse[4].hooks[1].command:",
            "hooks.PreToolUse[4].hooks[2].type:",
            "hooks.PreToolUse[4].hooks[3].timeout:",
            "hooks.PreToolUse[4].hooks[4].timeout:",
            "hooks.PreToolUse[4].hooks[5]:",
            "hooks.Stop:",
        ];
        assert_eq!(warnings.len(), expected_locations.len(), "{warnings:#?}");
        for (warning, location) in warnings.iter().zip(expected_locations) {
            assert!(
                warning.starts_with(&format!("/s.json: {location}")),
                "{warning} should be at {location}"
            );
        }
        assert!(
            warnings[7].contains("found \"ten\"; using 60s"),
            "{}",
            warnings[7]
        );
        // The bad-regex group loads but never matches; the defaulted entries still run.
        assert_eq!(
            commands(&config, HookEvent::PreToolUse),
            [
                ("Edit(".into(), "bad-regex".into(), 60_000),
                ("Bash".into(), "no-type".into(), 60_000),
                ("Bash".into(), "slow".into(), 60_000),
                ("Bash".into(), "neg".into(), 60_000)
            ]
        );
        assert!(!config.groups(HookEvent::PreToolUse)[0]
            .matcher
            .matches("Edit("));
    }

    #[test]
    fn a_hooks_value_that_is_not_an_object_is_one_warning() {
        let (config, warnings) = load(&[("/s.json", json!(["Stop"]))]);
        assert_eq!(
            warnings,
            ["/s.json: hooks: must be an object mapping event names to lists of groups, found a list"]
        );
        assert!(config.is_empty());
    }

    #[test]
    fn http_hooks_are_read_with_their_headers_and_a_bad_url_is_named() {
        let (config, warnings) = HookConfig::from_settings(&[(
            PathBuf::from("/s.json"),
            json!({"Stop": [{"hooks": [
                {"type": "http", "url": "https://hooks.example/stop", "headers": {"Authorization": "Bearer $TOKEN"}, "allowedEnvVars": ["TOKEN"], "timeout": 3},
                {"type": "http", "url": "ftp://nope"}
            ]}]}),
        )]);
        let hooks = &config.groups(HookEvent::Stop)[0].hooks;
        assert_eq!(hooks.len(), 1);
        assert_eq!(hooks[0].command, "https://hooks.example/stop");
        let Handler::Http(http) = &hooks[0].handler else {
            panic!("an http hook: {:?}", hooks[0].handler)
        };
        assert_eq!(
            http.headers,
            [("Authorization".to_string(), "Bearer $TOKEN".to_string())]
        );
        assert_eq!(http.allowed_env, ["TOKEN"]);
        assert_eq!(hooks[0].timeout, Duration::from_secs(3));
        assert_eq!(warnings.len(), 1);
        assert!(
            warnings[0]
                .to_string()
                .contains("hooks.Stop[0].hooks[1].url: must be an http:// or https:// URL"),
            "{}",
            warnings[0]
        );
    }
}
