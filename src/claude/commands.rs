//! Slash command files (`.claude/commands/**/*.md`) and skills
//! (`.claude/skills/<name>/SKILL.md`), which Claude Code treats as one thing:
//! frontmatter read leniently into a `CommandDef`. A command's subfolders namespace
//! its name (`frontend/component.md` is `/frontend:component`); a skill is named by
//! its `name:` field, else its folder. Where both define a name in the same place,
//! the skill wins.

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use super::command_expand::parse_invocation;
use super::diagnostic::Diagnostic;
use super::discovery::{markdown_files, resolve, source_dirs, Candidate, Roots, Source};
use super::frontmatter::{unescape_newlines, unknown_key_fix, value_text, Field, Frontmatter};
use super::tools_spec::split_tool_list;

/// One slash command.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CommandDef {
    /// Without the slash: `commit`, `frontend:component`.
    pub name: String,
    /// `description`; see `display_description` for the fallback.
    pub description: Option<String>,
    /// `argument-hint` as written (`[message]`, `<env> [version]`).
    pub argument_hint: Option<String>,
    /// `allowed-tools` entries as written (`Bash(git add:*)`); `None` when absent.
    pub allowed_tools: Option<Vec<String>>,
    /// `model` as written.
    pub model: Option<String>,
    /// `disable-model-invocation`: only the user may invoke it.
    pub disable_model_invocation: bool,
    /// Names from `arguments`, usable as `$name` in the body, in positional order.
    pub arguments: Vec<String>,
    /// The prompt template.
    pub body: String,
    /// Where the file was found.
    pub source: Source,
    pub path: Option<PathBuf>,
    /// For a skill: its folder, which its body may refer to.
    pub skill_dir: Option<PathBuf>,
    /// `user-invocable` (skills): false keeps it out of `/name`.
    pub user_invocable: bool,
    /// `context:`: run it elsewhere, and the conversation gets the report.
    pub run_as: Option<RunAs>,
    pub diagnostics: Vec<Diagnostic>,
}

/// Where a command with `context:` runs instead of the conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunAs {
    /// `context: fork` (Claude Code's, for skills): a subagent of this type
    /// (`agent:`, else general-purpose).
    Fork { agent: String },
    /// `context: goal` (codex-plus's): a goal, planned into subtasks
    /// (`crate::goals`), the rendered text being the goal.
    Goal,
}

/// A command file that could not be read.
#[derive(Debug, thiserror::Error)]
#[error("{}: cannot read the command file: {source}", path.display())]
pub struct CommandFileError {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

const KNOWN_KEYS: [&str; 9] = [
    "description",
    "argument-hint",
    "allowed-tools",
    "model",
    "disable-model-invocation",
    "arguments",
    "name",
    "context",
    "agent",
];

/// Keys only a skill has, besides the command keys. `license`, `metadata` and
/// `version` are for people and catalogs, not for running it.
const SKILL_KEYS: [&str; 4] = ["user-invocable", "license", "metadata", "version"];

/// What a skill's folder must hold.
pub const SKILL_FILE: &str = "SKILL.md";

impl CommandDef {
    /// Reads the command file `path`, named `name`.
    pub fn load(name: &str, path: &Path, source: Source) -> Result<CommandDef, CommandFileError> {
        let text = std::fs::read_to_string(path).map_err(|e| CommandFileError {
            path: path.to_path_buf(),
            source: e,
        })?;
        Ok(Self::parse(name, &text, Some(path), source))
    }

    /// Reads a command from its text. Never fails: a file without frontmatter is a
    /// command whose body is the whole file.
    pub fn parse(name: &str, text: &str, path: Option<&Path>, source: Source) -> CommandDef {
        Self::parse_as(name, text, path, source, None)
    }

    /// Reads the skill in folder `dir` (its `SKILL.md`): named by its `name:`
    /// field when that is a usable name, else by the folder.
    pub fn load_skill(dir: &Path, source: Source) -> Result<CommandDef, CommandFileError> {
        let path = dir.join(SKILL_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| CommandFileError {
            path: path.clone(),
            source: e,
        })?;
        let folder = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        Ok(Self::parse_as(
            &folder,
            &text,
            Some(&path),
            source,
            Some(dir),
        ))
    }

    fn parse_as(
        name: &str,
        text: &str,
        path: Option<&Path>,
        source: Source,
        skill_dir: Option<&Path>,
    ) -> CommandDef {
        let fm = Frontmatter::parse(text);
        let mut diagnostics = fm.diagnostics.clone();
        let mut cmd = CommandDef {
            name: name.to_string(),
            description: None,
            argument_hint: None,
            allowed_tools: None,
            model: None,
            disable_model_invocation: false,
            arguments: Vec::new(),
            body: fm.body.clone(),
            source,
            path: path.map(Path::to_path_buf),
            skill_dir: skill_dir.map(Path::to_path_buf),
            user_invocable: true,
            run_as: None,
            diagnostics: Vec::new(),
        };
        let skill = skill_dir.is_some();
        let mut agent = None;
        for (key, field) in &fm.fields {
            match normalize_key(key).as_str() {
                "name" if skill => match text_of(key, field, &mut diagnostics) {
                    Some(n) if is_skill_name(&n) => cmd.name = n,
                    Some(n) => diagnostics.push(
                        Diagnostic::warning(format!(
                            "skill name `{n}` is not lowercase letters, digits and hyphens; the folder name `{name}` is used"
                        ))
                        .at_line(field.line),
                    ),
                    None => {}
                },
                "user-invocable" if skill => match field.as_bool(key) {
                    Ok(b) => cmd.user_invocable = b.unwrap_or(true),
                    Err(d) => diagnostics.push(d),
                },
                "context" => match text_of(key, field, &mut diagnostics).as_deref() {
                    Some("fork") => {
                        cmd.run_as = Some(RunAs::Fork {
                            agent: "general-purpose".into(),
                        })
                    }
                    Some("goal") => cmd.run_as = Some(RunAs::Goal),
                    Some(other) => diagnostics.push(
                        Diagnostic::warning(format!(
                            "`context: {other}` is neither `fork` (a subagent) nor `goal` (planned subtasks); it runs in the conversation"
                        ))
                        .at_line(field.line),
                    ),
                    None => {}
                },
                "agent" => agent = text_of(key, field, &mut diagnostics),
                "license" | "metadata" | "version" if skill => {}
                "description" => {
                    cmd.description = text_of(key, field, &mut diagnostics)
                        .map(|d| unescape_newlines(&d).trim().to_string())
                }
                "argument-hint" => cmd.argument_hint = text_of(key, field, &mut diagnostics),
                "allowed-tools" => cmd.allowed_tools = Some(tool_list(&field.value)),
                "model" => cmd.model = text_of(key, field, &mut diagnostics),
                "disable-model-invocation" => match field.as_bool(key) {
                    Ok(b) => cmd.disable_model_invocation = b.unwrap_or(false),
                    Err(d) => diagnostics.push(d),
                },
                "arguments" => cmd.arguments = argument_names(field, &mut diagnostics),
                // The path gives the name; a `name:` key is allowed but not used.
                "name" => {}
                _ if skill => diagnostics.push(
                    Diagnostic::warning(format!("unknown frontmatter key `{key}`; ignored"))
                        .at_line(field.line)
                        .with_fix(unknown_key_fix(
                            key,
                            &[KNOWN_KEYS.as_slice(), SKILL_KEYS.as_slice()].concat(),
                        )),
                ),
                _ => diagnostics.push(
                    Diagnostic::warning(format!("unknown frontmatter key `{key}`; ignored"))
                        .at_line(field.line)
                        .with_fix(unknown_key_fix(key, &KNOWN_KEYS)),
                ),
            }
        }
        if let (Some(RunAs::Fork { agent: fork }), Some(agent)) = (&mut cmd.run_as, agent) {
            *fork = agent;
        }
        if let Some(path) = path {
            diagnostics = diagnostics.into_iter().map(|d| d.in_file(path)).collect();
        }
        cmd.diagnostics = diagnostics;
        cmd
    }

    /// The description, or the body's first non-empty line when there is none.
    pub fn display_description(&self) -> String {
        self.description
            .clone()
            .or_else(|| {
                self.body
                    .lines()
                    .map(|l| l.trim().trim_start_matches('#').trim())
                    .find(|l| !l.is_empty())
                    .map(str::to_string)
            })
            .unwrap_or_default()
    }
}

/// `allowed_tools`, `allowedTools` and `allowed-tools` are the same key.
fn normalize_key(key: &str) -> String {
    let mut out = String::new();
    for c in key.chars() {
        if c == '_' {
            out.push('-');
        } else if c.is_ascii_uppercase() {
            if !out.is_empty() {
                out.push('-');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// Claude Code's rule for a skill's `name`: lowercase letters, digits and hyphens.
fn is_skill_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

fn text_of(key: &str, field: &Field, diagnostics: &mut Vec<Diagnostic>) -> Option<String> {
    let (text, note) = field.as_text(key);
    diagnostics.extend(note);
    text.map(|t| t.trim().to_string()).filter(|t| !t.is_empty())
}

fn tool_list(value: &Value) -> Vec<String> {
    match value {
        Value::Array(items) => items.iter().flat_map(tool_list).collect(),
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| format!("{k}: {}", value_text(v)))
            .collect(),
        Value::Null => Vec::new(),
        other => split_tool_list(&value_text(other)),
    }
}

fn argument_names(field: &Field, diagnostics: &mut Vec<Diagnostic>) -> Vec<String> {
    let raw: Vec<String> = match &field.value {
        Value::Array(items) => items
            .iter()
            .map(|item| match item {
                Value::Object(map) => map.get("name").map(value_text).unwrap_or_default(),
                other => value_text(other),
            })
            .collect(),
        Value::Null => Vec::new(),
        other => value_text(other)
            .split([',', ' '])
            .map(str::to_string)
            .collect(),
    };
    let mut names = Vec::new();
    for name in raw.iter().map(|n| n.trim()).filter(|n| !n.is_empty()) {
        let valid = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if valid {
            names.push(name.to_string());
        } else {
            diagnostics.push(
                Diagnostic::warning(format!(
                    "argument name `{name}` cannot be used as `$name`; skipped"
                ))
                .at_line(field.line)
                .with_fix("use letters, digits and underscores, starting with a letter"),
            );
        }
    }
    names
}

/// The command name of `file` under `dir`: path without `.md`, folders joined by `:`.
pub fn command_name(dir: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(dir).ok()?.with_extension("");
    let parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    (!parts.is_empty()).then(|| parts.join(":"))
}

/// The resolved slash commands for one workspace.
#[derive(Debug, Clone, PartialEq)]
pub struct CommandSet {
    commands: Vec<CommandDef>,
    diagnostics: Vec<Diagnostic>,
}

impl CommandSet {
    /// Discovers and reads the commands visible from `workspace`.
    pub fn load(workspace: &Path, roots: &Roots) -> Self {
        let mut candidates = Vec::new();
        let mut diagnostics = Vec::new();
        // The same places hold both; in each, a skill comes before a command.
        for source_dir in source_dirs(workspace, roots, "skills") {
            for dir in skill_dirs(&source_dir.dir) {
                match CommandDef::load_skill(&dir, source_dir.source.clone()) {
                    Ok(skill) => {
                        diagnostics.extend(skill.diagnostics.iter().cloned());
                        candidates.push(Candidate {
                            name: skill.name.clone(),
                            rank: source_dir.rank * 2,
                            path: dir.join(SKILL_FILE),
                            item: skill,
                        });
                    }
                    Err(e) => diagnostics.push(
                        Diagnostic::error(format!("cannot read the skill file: {}", e.source))
                            .in_file(&e.path),
                    ),
                }
            }
        }
        for source_dir in source_dirs(workspace, roots, "commands") {
            let (files, walk_diagnostics) = markdown_files(&source_dir.dir);
            diagnostics.extend(walk_diagnostics);
            for path in files {
                let Some(name) = command_name(&source_dir.dir, &path) else {
                    continue;
                };
                match CommandDef::load(&name, &path, source_dir.source.clone()) {
                    Ok(cmd) => {
                        diagnostics.extend(cmd.diagnostics.iter().cloned());
                        candidates.push(Candidate {
                            name,
                            rank: source_dir.rank * 2 + 1,
                            path,
                            item: cmd,
                        });
                    }
                    Err(e) => diagnostics.push(
                        Diagnostic::error(format!("cannot read the command file: {}", e.source))
                            .in_file(&e.path),
                    ),
                }
            }
        }
        let (chosen, clashes) = resolve(candidates, "command");
        diagnostics.extend(clashes);
        Self::new(chosen.into_values().map(|c| c.item).collect(), diagnostics)
    }

    /// A set of already resolved commands.
    pub fn new(mut commands: Vec<CommandDef>, diagnostics: Vec<Diagnostic>) -> Self {
        commands.sort_by(|a, b| a.name.cmp(&b.name));
        Self {
            commands,
            diagnostics,
        }
    }

    /// The command named `name` (no slash): exact first, then ignoring ASCII case.
    pub fn get(&self, name: &str) -> Option<&CommandDef> {
        self.commands.iter().find(|c| c.name == name).or_else(|| {
            self.commands
                .iter()
                .find(|c| c.name.eq_ignore_ascii_case(name))
        })
    }

    /// The command or skill the user may invoke as `/name`: `get`, without the
    /// skills that say `user-invocable: false`.
    pub fn invocable(&self, name: &str) -> Option<&CommandDef> {
        self.get(name).filter(|c| c.user_invocable)
    }

    /// The command invoked by `text` (`/name args`) and its argument string, when
    /// `text` is an invocation of a known command.
    pub fn match_invocation<'t>(&self, text: &'t str) -> Option<(&CommandDef, &'t str)> {
        let (name, args) = parse_invocation(text)?;
        Some((self.invocable(name)?, args))
    }

    /// The skills the model may load itself (not `disable-model-invocation`).
    pub fn model_skills(&self) -> impl Iterator<Item = &CommandDef> {
        self.commands
            .iter()
            .filter(|c| c.skill_dir.is_some() && !c.disable_model_invocation)
    }

    /// All commands, by name.
    pub fn commands(&self) -> &[CommandDef] {
        &self.commands
    }

    /// Problems found while loading.
    pub fn diagnostics(&self) -> &[Diagnostic] {
        &self.diagnostics
    }
}

/// The folders under `dir` that hold a `SKILL.md`, sorted.
fn skill_dirs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut dirs: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join(SKILL_FILE).is_file())
        .collect();
    dirs.sort();
    dirs
}

/// What `codex-plus commands list` prints: one line per command with its argument
/// hint, description and where it comes from, then any problems.
pub fn commands_list(set: &CommandSet) -> String {
    if set.commands.is_empty() {
        let mut out = String::from(
            "No slash commands or skills found. Add markdown files under .claude/commands/ (e.g. .claude/commands/review.md is /review) or skills as .claude/skills/<name>/SKILL.md.\n",
        );
        append_problems(&mut out, &set.diagnostics);
        return out;
    }
    let heads: Vec<String> = set
        .commands
        .iter()
        .map(|c| match &c.argument_hint {
            Some(hint) => format!("/{} {hint}", c.name),
            None => format!("/{}", c.name),
        })
        .collect();
    let width = heads.iter().map(|h| h.chars().count()).max().unwrap_or(0);
    let mut out = String::new();
    for (cmd, head) in set.commands.iter().zip(&heads) {
        let description = first_line(&cmd.display_description(), 72);
        let kind = match (&cmd.skill_dir, cmd.user_invocable) {
            (Some(_), true) => " skill",
            (Some(_), false) => " skill, for the model only",
            (None, _) => "",
        };
        let origin = match &cmd.path {
            Some(path) => format!("{}{kind}: {}", cmd.source.kind(), path.display()),
            None => format!("{}{kind}", cmd.source.kind()),
        };
        out.push_str(&format!(
            "{head:<width$}  {description}\n{:width$}  ({origin})\n",
            ""
        ));
    }
    append_problems(&mut out, &set.diagnostics);
    out
}

fn first_line(text: &str, max: usize) -> String {
    let line = text.lines().next().unwrap_or("").trim();
    if line.chars().count() > max {
        let cut: String = line.chars().take(max - 1).collect();
        format!("{cut}…")
    } else {
        line.to_string()
    }
}

fn append_problems(out: &mut String, diagnostics: &[Diagnostic]) {
    let shown: Vec<&Diagnostic> = diagnostics
        .iter()
        .filter(|d| d.severity != super::diagnostic::Severity::Info)
        .collect();
    if shown.is_empty() {
        return;
    }
    out.push_str("\nProblems:\n");
    for d in shown {
        out.push_str(&format!("  {}\n", d.to_string().replace('\n', "\n    ")));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    /// Writes `t` at `p`, making its folders.
    fn put(p: PathBuf, t: &str) -> std::io::Result<()> {
        fs::create_dir_all(p.parent().unwrap_or(Path::new("/")))?;
        fs::write(p, t)
    }

    fn project() -> Source {
        Source::Project {
            dir: PathBuf::from("/ws/.claude/commands"),
        }
    }

    #[test]
    fn reads_every_field_and_recovers_broken_yaml() {
        let cmd = CommandDef::parse(
            "commit",
            "---\ndescription: Commit: stage and write a message\nargument-hint: [scope] | --amend\nallowed-tools: Bash(git add:*), Bash(git commit:*), Read\nmodel: haiku\ndisable-model-invocation: true\narguments: [scope, flag]\n---\nCommit $scope\n",
            Some(Path::new("/ws/.claude/commands/commit.md")),
            project(),
        );
        assert_eq!(
            cmd.description.as_deref(),
            Some("Commit: stage and write a message")
        );
        assert_eq!(cmd.argument_hint.as_deref(), Some("[scope] | --amend"));
        assert_eq!(
            cmd.allowed_tools,
            Some(vec![
                "Bash(git add:*)".to_string(),
                "Bash(git commit:*)".to_string(),
                "Read".to_string()
            ])
        );
        assert_eq!(cmd.model.as_deref(), Some("haiku"));
        assert!(cmd.disable_model_invocation);
        assert_eq!(cmd.arguments, ["scope", "flag"]);
        assert_eq!(cmd.body, "Commit $scope");
        assert_eq!(cmd.diagnostics.len(), 2, "{:?}", cmd.diagnostics);
    }

    #[test]
    fn lists_where_strings_are_expected_are_read_as_text() {
        let cmd = CommandDef::parse(
            "x",
            "---\nargument-hint: [pr-number]\ndescription:\n  - one\n  - two\nallowed-tools:\n  - Read\n  - Grep\n---\nbody",
            None,
            project(),
        );
        assert_eq!(cmd.argument_hint.as_deref(), Some("[pr-number]"));
        assert_eq!(cmd.description.as_deref(), Some("one, two"));
        assert_eq!(
            cmd.allowed_tools,
            Some(vec!["Read".to_string(), "Grep".to_string()])
        );
    }

    #[test]
    fn file_without_frontmatter_is_all_body() {
        let cmd = CommandDef::parse("fix", "# Fix the bug\n\nFix $ARGUMENTS", None, project());
        assert_eq!(cmd.body, "# Fix the bug\n\nFix $ARGUMENTS");
        assert_eq!(cmd.display_description(), "Fix the bug");
        assert!(cmd.diagnostics.is_empty());
    }

    #[test]
    fn names_come_from_the_path() {
        let dir = Path::new("/ws/.claude/commands");
        assert_eq!(
            command_name(dir, &dir.join("frontend/component.md")).as_deref(),
            Some("frontend:component")
        );
        assert_eq!(
            command_name(dir, &dir.join("a/b/c.md")).as_deref(),
            Some("a:b:c")
        );
        assert_eq!(
            command_name(dir, &dir.join("review.md")).as_deref(),
            Some("review")
        );
    }

    #[test]
    fn bad_argument_names_and_unknown_keys_warn() {
        let cmd = CommandDef::parse(
            "x",
            "---\narguments: good, 9bad\nfoo: 1\n---\n",
            None,
            project(),
        );
        assert_eq!(cmd.arguments, ["good"]);
        assert_eq!(cmd.diagnostics.len(), 2);
    }

    #[test]
    fn discovery_namespaces_and_precedence() -> std::io::Result<()> {
        let tmp = tempfile::tempdir()?;
        let home = tmp.path().join("home");
        let ws = tmp.path().join("ws");
        put(
            ws.join(".claude/commands/frontend/component.md"),
            "---\ndescription: project claude\n---\nx",
        )?;
        put(
            ws.join(".codexplus/commands/review.md"),
            "---\ndescription: codexplus\n---\nx",
        )?;
        put(
            ws.join(".claude/commands/review.md"),
            "---\ndescription: claude\n---\nx",
        )?;
        put(
            home.join(".claude/commands/review.md"),
            "---\ndescription: user claude\n---\nx",
        )?;
        put(
            home.join(".codexplus/commands/mine.md"),
            "---\ndescription: user codexplus\n---\nx",
        )?;
        put(
            home.join(".claude/commands/mine.md"),
            "---\ndescription: user claude\n---\nx",
        )?;
        let set = CommandSet::load(&ws, &Roots::with_home(&home));
        let names: Vec<&str> = set.commands().iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["frontend:component", "mine", "review"]);
        let desc = |n: &str| {
            set.get(n)
                .and_then(|c| c.description.clone())
                .unwrap_or_default()
        };
        assert_eq!(desc("review"), "codexplus");
        assert_eq!(desc("mine"), "user codexplus");
        let (cmd, args) = set
            .match_invocation("/frontend:component Button --primary")
            .unwrap_or_else(|| panic!("no match"));
        assert_eq!(cmd.name, "frontend:component");
        assert_eq!(args, "Button --primary");
        assert!(set.match_invocation("/unknown x").is_none());

        let listing = commands_list(&set);
        assert!(
            listing.contains("/frontend:component  project claude"),
            "{listing}"
        );
        assert!(listing.contains(&format!(
            "(project: {})",
            ws.join(".codexplus/commands/review.md").display()
        )));
        assert!(!listing.contains("Problems"));
        Ok(())
    }

    #[test]
    fn skills_are_commands_and_win_over_a_command_of_their_name() -> std::io::Result<()> {
        let tmp = tempfile::tempdir()?;
        let home = tmp.path().join("home");
        let ws = tmp.path().join("ws");
        put(
            ws.join(".claude/skills/release-notes/SKILL.md"),
            "---\nname: notes\ndescription: Write release notes\nallowed-tools: Read\nlicense: MIT\n---\nNotes for $ARGUMENTS\n",
        )?;
        put(
            ws.join(".claude/commands/notes.md"),
            "---\ndescription: the command\n---\nx",
        )?;
        put(
            ws.join(".claude/skills/house-style/SKILL.md"),
            "---\nname: house-style\ndescription: How we write\nuser-invocable: false\n---\nShort sentences.\n",
        )?;
        put(
            ws.join(".claude/skills/deploy/SKILL.md"),
            "---\ndescription: Deploy\ndisable-model-invocation: true\ncontext: fork\nagent: Explore\n---\nDeploy it.\n",
        )?;
        // A folder without SKILL.md is not a skill.
        put(ws.join(".claude/skills/empty/README.md"), "nothing")?;
        put(
            home.join(".claude/skills/mine/SKILL.md"),
            "---\ndescription: user skill\nNAME_OOPS: 1\n---\nMine.\n",
        )?;
        let set = CommandSet::load(&ws, &Roots::with_home(&home));
        let names: Vec<&str> = set.commands().iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["deploy", "house-style", "mine", "notes"]);

        // The `name:` field names it; the skill beats the command in the same place.
        let notes = set.invocable("notes").expect("the skill is /notes");
        assert_eq!(notes.description.as_deref(), Some("Write release notes"));
        assert_eq!(
            notes.skill_dir.as_deref(),
            Some(ws.join(".claude/skills/release-notes").as_path())
        );
        assert_eq!(notes.allowed_tools, Some(vec!["Read".to_string()]));
        let overridden = set.diagnostics().iter().any(|d| {
            d.message.contains("command `notes` is overridden")
                && d.message.contains("release-notes")
        });
        assert!(overridden, "{:?}", set.diagnostics());

        // Not for the user: known, but no `/house-style`.
        assert!(set.get("house-style").is_some());
        assert!(set.invocable("house-style").is_none());
        assert!(set.match_invocation("/house-style now").is_none());
        // Not for the model: `/deploy` works, the model's list leaves it out.
        assert!(set.match_invocation("/deploy now").is_some());
        let for_model: Vec<&str> = set.model_skills().map(|c| c.name.as_str()).collect();
        assert_eq!(for_model, ["house-style", "mine", "notes"]);

        // Skill keys are known; what is not supported says so; typos still warn.
        let messages: Vec<String> = set
            .diagnostics()
            .iter()
            .map(|d| d.message.clone())
            .collect();
        assert!(
            !messages.iter().any(|m| m.contains("`license`")),
            "{messages:?}"
        );
        assert_eq!(
            set.get("deploy").unwrap().run_as,
            Some(RunAs::Fork {
                agent: "Explore".into()
            })
        );
        assert_eq!(set.get("notes").unwrap().run_as, None);
        assert!(
            !messages.iter().any(|m| m.contains("context")),
            "{messages:?}"
        );
        assert!(
            messages.iter().any(|m| m.contains("`NAME_OOPS`")),
            "{messages:?}"
        );

        let listing = commands_list(&set);
        assert!(
            listing.contains("(project skill, for the model only: "),
            "{listing}"
        );
        assert!(
            listing.contains(&format!(
                "(project skill: {})",
                ws.join(".claude/skills/release-notes/SKILL.md").display()
            )),
            "{listing}"
        );
        Ok(())
    }

    #[test]
    fn a_bad_skill_name_falls_back_to_the_folder() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("lint");
        fs::create_dir_all(&dir).unwrap();
        fs::write(
            dir.join(SKILL_FILE),
            "---\nname: Lint Everything\n---\nLint.\n",
        )
        .unwrap();
        let skill = CommandDef::load_skill(&dir, project()).unwrap();
        assert_eq!(skill.name, "lint");
        assert!(
            skill.diagnostics[0].message.contains("`Lint Everything`"),
            "{:?}",
            skill.diagnostics
        );
        assert!(CommandDef::load_skill(&tmp.path().join("none"), project()).is_err());
    }

    #[test]
    fn listing_shows_hints_and_problems() {
        let mut cmd = CommandDef::parse(
            "fix",
            "---\nargument-hint: <issue>\nfoo: 1\n---\nFix it",
            Some(Path::new("/p/fix.md")),
            project(),
        );
        let diags = std::mem::take(&mut cmd.diagnostics);
        let listing = commands_list(&CommandSet::new(vec![cmd], diags));
        assert!(listing.starts_with("/fix <issue>  Fix it\n"), "{listing}");
        assert!(listing.contains("Problems:\n  /p/fix.md: line 3: unknown frontmatter key `foo`"));
        let empty = commands_list(&CommandSet::new(vec![], vec![]));
        assert!(empty.starts_with("No slash commands or skills found"));
    }
}
