//! Claude Code settings files, merged in increasing precedence:
//! `~/.claude/settings.json` (or `$CLAUDE_CONFIG_DIR/settings.json`),
//! `<ws>/.claude/settings.json`, `<ws>/.claude/settings.local.json`,
//! `<ws>/.codexplus/settings.json`. A malformed file is reported and skipped; the
//! others still apply.

use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use serde::Serialize;
use serde_json::{Map, Value};

use super::diagnostic::Diagnostic;
use super::discovery::Roots;
use super::frontmatter::value_text;

/// One permission rule and the file it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PermissionRule {
    /// As written: `Bash(npm run test:*)`, `Read(./secrets/**)`.
    pub rule: String,
    pub source: PathBuf,
}

/// `permissions`, with the lists of every file concatenated (lowest precedence first).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Permissions {
    pub allow: Vec<PermissionRule>,
    pub deny: Vec<PermissionRule>,
    pub ask: Vec<PermissionRule>,
    /// Absolute; `~` expanded, relative entries resolved against the workspace.
    pub additional_directories: Vec<PathBuf>,
    /// `defaultMode` of the most precedent file that sets it.
    pub default_mode: Option<String>,
}

/// The raw `hooks` object of one file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HooksSource {
    pub path: PathBuf,
    pub value: Value,
}

/// `statusLine` of the most precedent file that sets it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatusLineSetting {
    pub command: String,
    pub padding: Option<u32>,
    pub source: PathBuf,
}

/// The `codexplus` section (any file; later files override per key).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CodexPlusSettings {
    /// `taskTool`: offer the Task tool to Codex.
    pub task_tool: Option<bool>,
    /// `statusLine`: run the status line command.
    pub status_line: Option<bool>,
    /// Keys this version does not know, kept as written.
    pub other: Map<String, Value>,
}

/// The merged settings of one workspace.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Settings {
    pub permissions: Permissions,
    /// In precedence order, lowest first.
    pub hooks_sources: Vec<HooksSource>,
    pub status_line: Option<StatusLineSetting>,
    /// `env` of all files; later files win per variable.
    pub env: IndexMap<String, String>,
    pub codexplus: CodexPlusSettings,
    /// The files that were read, lowest precedence first.
    pub files: Vec<PathBuf>,
    pub diagnostics: Vec<Diagnostic>,
}

impl Settings {
    /// The settings files for `workspace`, lowest precedence first (each listed once).
    pub fn paths(workspace: &Path, roots: &Roots) -> Vec<PathBuf> {
        let mut paths: Vec<PathBuf> = Vec::new();
        let candidates = [
            roots.claude_dir().map(|d| d.join("settings.json")),
            Some(workspace.join(".claude/settings.json")),
            Some(workspace.join(".claude/settings.local.json")),
            Some(workspace.join(".codexplus/settings.json")),
        ];
        for path in candidates.into_iter().flatten() {
            if !paths.contains(&path) {
                paths.push(path);
            }
        }
        paths
    }

    /// Reads and merges the settings files of `workspace`; missing files are skipped.
    pub fn load(workspace: &Path, roots: &Roots) -> Settings {
        let mut sources = Vec::new();
        let mut read_errors = Vec::new();
        for path in Self::paths(workspace, roots) {
            match std::fs::read_to_string(&path) {
                Ok(text) => sources.push((path, text)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => read_errors.push(
                    Diagnostic::error(format!("cannot read the settings file: {e}"))
                        .in_file(&path)
                        .with_fix("check its permissions; the other settings files still apply"),
                ),
            }
        }
        let mut settings = Self::merge(&sources, workspace, roots);
        settings.diagnostics.splice(0..0, read_errors);
        settings
    }

    /// Merges settings texts given lowest precedence first. Pure.
    pub fn merge(sources: &[(PathBuf, String)], workspace: &Path, roots: &Roots) -> Settings {
        let mut settings = Settings::default();
        for (path, text) in sources {
            match parse_json(path, text) {
                Ok(object) => {
                    settings.files.push(path.clone());
                    settings.apply(path, &object, workspace, roots);
                }
                Err(d) => settings.diagnostics.push(d),
            }
        }
        settings
    }

    fn apply(&mut self, path: &Path, object: &Map<String, Value>, workspace: &Path, roots: &Roots) {
        let mut notes = Notes {
            path,
            out: Vec::new(),
        };
        if let Some(value) = object.get("permissions") {
            self.apply_permissions(value, workspace, roots, &mut notes);
        }
        if let Some(value) = object.get("hooks") {
            if value.is_object() {
                self.hooks_sources.push(HooksSource {
                    path: path.to_path_buf(),
                    value: value.clone(),
                });
            } else if !value.is_null() {
                notes.warn(
                    "`hooks` must be an object of events; ignored",
                    "write {\"hooks\": {\"PreToolUse\": [...]}}",
                );
            }
        }
        if let Some(value) = object.get("statusLine") {
            self.apply_status_line(value, path, &mut notes);
        }
        if let Some(value) = object.get("env") {
            match value {
                Value::Object(vars) => {
                    for (name, v) in vars {
                        match v {
                            Value::String(_) | Value::Number(_) | Value::Bool(_) => {
                                self.env.insert(name.clone(), value_text(v));
                            }
                            _ => notes.warn(
                                &format!("`env.{name}` must be a string; ignored"),
                                &format!("write \"{name}\": \"value\""),
                            ),
                        }
                    }
                }
                Value::Null => {}
                _ => notes.warn(
                    "`env` must be an object of strings; ignored",
                    "write {\"env\": {\"NAME\": \"value\"}}",
                ),
            }
        }
        if let Some(value) = object.get("codexplus") {
            self.apply_codexplus(value, &mut notes);
        }
        self.diagnostics.extend(notes.out);
    }

    fn apply_permissions(
        &mut self,
        value: &Value,
        workspace: &Path,
        roots: &Roots,
        notes: &mut Notes,
    ) {
        let Value::Object(perms) = value else {
            if !value.is_null() {
                notes.warn(
                    "`permissions` must be an object; ignored",
                    "write {\"permissions\": {\"allow\": [...]}}",
                );
            }
            return;
        };
        let lists = [
            ("allow", &mut self.permissions.allow),
            ("deny", &mut self.permissions.deny),
            ("ask", &mut self.permissions.ask),
        ];
        for (key, list) in lists {
            for rule in strings(perms.get(key), &format!("permissions.{key}"), notes) {
                list.push(PermissionRule {
                    rule,
                    source: notes.path.to_path_buf(),
                });
            }
        }
        for dir in strings(
            perms.get("additionalDirectories"),
            "permissions.additionalDirectories",
            notes,
        ) {
            let resolved = resolve_dir(&dir, workspace, roots);
            if !self.permissions.additional_directories.contains(&resolved) {
                self.permissions.additional_directories.push(resolved);
            }
        }
        if let Some(mode) = perms.get("defaultMode").and_then(Value::as_str) {
            self.permissions.default_mode = Some(mode.to_string());
        }
    }

    fn apply_status_line(&mut self, value: &Value, path: &Path, notes: &mut Notes) {
        let Value::Object(status) = value else {
            if !value.is_null() {
                notes.warn(
                    "`statusLine` must be an object; ignored",
                    "write {\"statusLine\": {\"type\": \"command\", \"command\": \"...\"}}",
                );
            }
            return;
        };
        let kind = status
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("command");
        if kind != "command" {
            notes.warn(
                &format!("`statusLine.type` `{kind}` is not supported; ignored"),
                "use \"type\": \"command\"",
            );
            return;
        }
        let Some(command) = status
            .get("command")
            .and_then(Value::as_str)
            .filter(|c| !c.trim().is_empty())
        else {
            notes.warn(
                "`statusLine` has no `command`; ignored",
                "add \"command\": \"path/to/statusline.sh\"",
            );
            return;
        };
        let padding = status
            .get("padding")
            .and_then(Value::as_u64)
            .and_then(|p| u32::try_from(p).ok());
        self.status_line = Some(StatusLineSetting {
            command: command.to_string(),
            padding,
            source: path.to_path_buf(),
        });
    }

    fn apply_codexplus(&mut self, value: &Value, notes: &mut Notes) {
        let Value::Object(section) = value else {
            if !value.is_null() {
                notes.warn(
                    "`codexplus` must be an object; ignored",
                    "write {\"codexplus\": {\"taskTool\": true}}",
                );
            }
            return;
        };
        for (key, v) in section {
            let target = match key.as_str() {
                "taskTool" | "task_tool" => &mut self.codexplus.task_tool,
                "statusLine" | "status_line" => &mut self.codexplus.status_line,
                _ => {
                    notes.warn(
                        &format!("unknown `codexplus` key `{key}`; kept but not used"),
                        "known keys: taskTool, statusLine",
                    );
                    self.codexplus.other.insert(key.clone(), v.clone());
                    continue;
                }
            };
            match v {
                Value::Bool(b) => *target = Some(*b),
                _ => notes.warn(
                    &format!("`codexplus.{key}` must be true or false; ignored"),
                    &format!("write \"{key}\": false"),
                ),
            }
        }
    }
}

/// Collects warnings about one file.
struct Notes<'a> {
    path: &'a Path,
    out: Vec<Diagnostic>,
}

impl Notes<'_> {
    fn warn(&mut self, message: &str, fix: &str) {
        self.out.push(
            Diagnostic::warning(message)
                .in_file(self.path)
                .with_fix(fix),
        );
    }
}

fn parse_json(path: &Path, text: &str) -> Result<Map<String, Value>, Diagnostic> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.trim().is_empty() {
        return Ok(Map::new());
    }
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err(
            Diagnostic::error("settings must be a JSON object; file ignored")
                .in_file(path)
                .with_fix("wrap the settings in { ... }"),
        ),
        Err(e) => {
            let full = e.to_string();
            let reason = full.split(" at line ").next().unwrap_or(&full);
            Err(Diagnostic::error(format!(
                "invalid JSON (column {}): {reason}; file ignored",
                e.column()
            ))
            .in_file(path)
            .at_line(e.line())
            .with_fix("fix the JSON syntax (no comments or trailing commas); the other settings files still apply"))
        }
    }
}

fn strings(value: Option<&Value>, key: &str, notes: &mut Notes) -> Vec<String> {
    match value {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|item| match item {
                Value::String(s) => Some(s.clone()),
                other => {
                    notes.warn(
                        &format!("`{key}` entry {other} is not a string; ignored"),
                        "quote each entry",
                    );
                    None
                }
            })
            .collect(),
        Some(Value::String(s)) => {
            notes.warn(
                &format!("`{key}` should be a list; read as one entry"),
                &format!("write [\"{s}\"]"),
            );
            vec![s.clone()]
        }
        Some(other) => {
            notes.warn(
                &format!("`{key}` should be a list of strings, found {other}; ignored"),
                "write [\"...\"]",
            );
            Vec::new()
        }
    }
}

fn resolve_dir(dir: &str, workspace: &Path, roots: &Roots) -> PathBuf {
    let expanded = match (dir.strip_prefix('~'), &roots.home) {
        (Some(rest), Some(home)) if rest.is_empty() || rest.starts_with('/') => {
            home.join(rest.trim_start_matches('/'))
        }
        _ => PathBuf::from(dir),
    };
    super::discovery::normalize(&workspace.join(expanded))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::claude::diagnostic::Severity;

    fn roots() -> Roots {
        Roots::with_home("/home/u")
    }

    fn merge(files: &[(&str, &str)]) -> Settings {
        let sources: Vec<(PathBuf, String)> = files
            .iter()
            .map(|(p, t)| (PathBuf::from(p), t.to_string()))
            .collect();
        Settings::merge(&sources, Path::new("/ws"), &roots())
    }

    #[test]
    fn paths_in_precedence_order_honour_claude_config_dir() {
        let roots = Roots {
            home: Some("/home/u".into()),
            claude_config_dir: Some("/cfg".into()),
        };
        assert_eq!(
            Settings::paths(Path::new("/ws"), &roots),
            [
                PathBuf::from("/cfg/settings.json"),
                PathBuf::from("/ws/.claude/settings.json"),
                PathBuf::from("/ws/.claude/settings.local.json"),
                PathBuf::from("/ws/.codexplus/settings.json"),
            ]
        );
        // Workspace = home: the user file is listed once.
        assert_eq!(
            Settings::paths(Path::new("/home/u"), &Roots::with_home("/home/u")).len(),
            3
        );
    }

    #[test]
    fn lists_concatenate_with_their_source_and_singletons_take_the_latest() {
        let s = merge(&[
            (
                "/home/u/.claude/settings.json",
                r#"{"permissions":{"allow":["Read"],"deny":["Bash(rm:*)"],"additionalDirectories":["~/shared","../lib"]},
                    "env":{"A":"user","B":"user"},"statusLine":{"type":"command","command":"user.sh"},
                    "hooks":{"Stop":[]}}"#,
            ),
            (
                "/ws/.claude/settings.json",
                r#"{"permissions":{"allow":["Bash(npm test:*)"],"ask":["WebFetch"],"defaultMode":"acceptEdits"},
                    "env":{"B":"project","N":3},"statusLine":{"command":"proj.sh","padding":2},
                    "hooks":{"PreToolUse":[]},"model":"opus"}"#,
            ),
        ]);
        let allow: Vec<(&str, &str)> = s
            .permissions
            .allow
            .iter()
            .map(|r| (r.rule.as_str(), r.source.to_str().unwrap_or("")))
            .collect();
        assert_eq!(
            allow,
            [
                ("Read", "/home/u/.claude/settings.json"),
                ("Bash(npm test:*)", "/ws/.claude/settings.json")
            ]
        );
        assert_eq!(s.permissions.deny.len(), 1);
        assert_eq!(s.permissions.ask[0].rule, "WebFetch");
        assert_eq!(
            s.permissions.additional_directories,
            [PathBuf::from("/home/u/shared"), PathBuf::from("/lib")]
        );
        assert_eq!(s.permissions.default_mode.as_deref(), Some("acceptEdits"));
        assert_eq!(s.env.get("A").map(String::as_str), Some("user"));
        assert_eq!(s.env.get("B").map(String::as_str), Some("project"));
        assert_eq!(s.env.get("N").map(String::as_str), Some("3"));
        let status = s
            .status_line
            .clone()
            .unwrap_or_else(|| panic!("status line"));
        assert_eq!(status.command, "proj.sh");
        assert_eq!(status.padding, Some(2));
        assert_eq!(status.source, PathBuf::from("/ws/.claude/settings.json"));
        let hook_files: Vec<&Path> = s.hooks_sources.iter().map(|h| h.path.as_path()).collect();
        assert_eq!(
            hook_files,
            [
                Path::new("/home/u/.claude/settings.json"),
                Path::new("/ws/.claude/settings.json")
            ]
        );
        assert!(s.diagnostics.is_empty(), "{:?}", s.diagnostics);
    }

    #[test]
    fn malformed_json_is_located_and_the_other_files_still_load() {
        let s = merge(&[
            (
                "/ws/.claude/settings.json",
                "{\n  \"env\": {\"A\": \"1\"},\n}\n",
            ),
            ("/ws/.claude/settings.local.json", r#"{"env":{"B":"2"}}"#),
        ]);
        assert_eq!(s.env.get("B").map(String::as_str), Some("2"));
        assert!(!s.env.contains_key("A"));
        assert_eq!(s.files, [PathBuf::from("/ws/.claude/settings.local.json")]);
        assert_eq!(s.diagnostics.len(), 1);
        let d = &s.diagnostics[0];
        assert_eq!(d.severity, Severity::Error);
        assert_eq!(d.line, Some(3));
        assert!(
            d.to_string().starts_with(
                "/ws/.claude/settings.json: line 3: invalid JSON (column 1): trailing comma"
            ),
            "{d}"
        );
    }

    #[test]
    fn codexplus_section() {
        let s = merge(&[
            (
                "/a/settings.json",
                r#"{"codexplus":{"taskTool":true,"statusLine":true,"future":1}}"#,
            ),
            (
                "/b/settings.json",
                r#"{"codexplus":{"taskTool":false,"statusLine":"no"}}"#,
            ),
        ]);
        assert_eq!(s.codexplus.task_tool, Some(false));
        assert_eq!(s.codexplus.status_line, Some(true));
        assert_eq!(s.codexplus.other.get("future"), Some(&serde_json::json!(1)));
        let messages: Vec<&str> = s.diagnostics.iter().map(|d| d.message.as_str()).collect();
        assert_eq!(
            messages,
            [
                "unknown `codexplus` key `future`; kept but not used",
                "`codexplus.statusLine` must be true or false; ignored"
            ]
        );
    }

    #[test]
    fn wrong_shapes_warn_and_are_skipped() {
        let s = merge(&[(
            "/a/settings.json",
            r#"{"permissions":{"allow":"Read","deny":[1,"Edit"]},"hooks":[],"statusLine":{"type":"text"},"env":[]}"#,
        )]);
        assert_eq!(s.permissions.allow[0].rule, "Read");
        assert_eq!(s.permissions.deny.len(), 1);
        assert!(s.hooks_sources.is_empty());
        assert!(s.status_line.is_none());
        assert_eq!(s.diagnostics.len(), 5, "{:?}", s.diagnostics);
        assert!(s
            .diagnostics
            .iter()
            .all(|d| d.severity == Severity::Warning));
        let top = merge(&[("/a/settings.json", "[1]")]);
        assert_eq!(top.diagnostics[0].severity, Severity::Error);
    }

    #[test]
    fn load_reads_files_from_disk_and_skips_missing_ones() -> std::io::Result<()> {
        let tmp = tempfile::tempdir()?;
        let home = tmp.path().join("home");
        let ws = tmp.path().join("ws");
        std::fs::create_dir_all(home.join(".claude"))?;
        std::fs::create_dir_all(ws.join(".codexplus"))?;
        std::fs::write(
            home.join(".claude/settings.json"),
            r#"{"env":{"X":"home"}}"#,
        )?;
        std::fs::write(
            ws.join(".codexplus/settings.json"),
            r#"{"env":{"X":"codexplus"}}"#,
        )?;
        let s = Settings::load(&ws, &Roots::with_home(&home));
        assert_eq!(s.env.get("X").map(String::as_str), Some("codexplus"));
        assert_eq!(s.files.len(), 2);
        assert!(s.diagnostics.is_empty());
        Ok(())
    }
}
