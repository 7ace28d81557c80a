//! How a slash command reaches the interactive Codex TUI, and how the proxy knows it again.
//!
//! The TUI refuses an unknown `/name` before sending anything. What Codex 0.169 offers a
//! user instead are skills: `$CODEX_HOME/skills/**/SKILL.md`, picked from the `$` popup
//! and sent as the typed message (`$greet Bob`) followed by a user item
//! `<skill>\n<name>greet</name>\n<path>…/SKILL.md</path>\n{the whole SKILL.md}\n</skill>`.
//! `codex-plus commands sync` writes one such skill per command whose body carries a
//! marker; the slash step finds the marker in that item, takes the arguments from the
//! typed message, and puts the rendered command in the item's place.
//!
//! Every entry also gets `agents/openai.yaml` with `allow_implicit_invocation: false`:
//! the entries are for the user to invoke, and this keeps them out of the skills list
//! Codex shows the model (and out of its size budget).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::claude::CommandDef;

const MARKER_OPEN: &str = "<!-- codex-plus:command ";
const MARKER_CLOSE: &str = " -->";

/// What the marker line of a synced entry records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Marker {
    /// The command's name, without the slash.
    pub name: String,
    /// The commands directory it was synced from; sync owns only entries whose
    /// directory it can see, so syncing one project never removes another's.
    pub source: PathBuf,
}

impl Marker {
    /// The marker line: an HTML comment holding JSON.
    pub fn line(&self) -> String {
        // A struct of strings always serialises.
        let json = serde_json::to_string(self).unwrap_or_default();
        format!("{MARKER_OPEN}{json}{MARKER_CLOSE}")
    }

    /// The marker in `text` (a SKILL.md, or the `<skill>` item Codex made of one).
    pub fn find(text: &str) -> Option<Marker> {
        let start = text.find(MARKER_OPEN)? + MARKER_OPEN.len();
        let len = text[start..].find(MARKER_CLOSE)?;
        serde_json::from_str(&text[start..start + len]).ok()
    }
}

/// The `SKILL.md` of `cmd`, synced from `source`.
pub fn skill_md(cmd: &CommandDef, source: &Path) -> String {
    let name = &cmd.name;
    let description = one_line(&cmd.display_description(), 300);
    let description = if description.is_empty() {
        format!("Slash command /{name}")
    } else {
        description
    };
    let mut front = format!(
        "---\nname: {}\ndescription: {}\n",
        yaml_string(name),
        yaml_string(&description)
    );
    if let Some(hint) = &cmd.argument_hint {
        front.push_str(&format!("argument-hint: {}\n", yaml_string(hint)));
    }
    front.push_str("---\n");
    let marker = Marker {
        name: name.clone(),
        source: source.to_path_buf(),
    };
    let file = cmd
        .path
        .as_deref()
        .map_or_else(|| source.display().to_string(), |p| p.display().to_string());
    format!(
        "{front}{}\n\
         This is the slash command `/{name}` from {file}, made available to Codex by \
         `codex-plus commands sync`. Invoke it as `${name} <arguments>`: codex-plus, the proxy \
         between Codex and the model, replaces this text with the command's prompt, with the \
         arguments put in and its `!` commands and `@` files resolved in the current workspace.\n\n\
         If you can read this, the request did not pass through codex-plus: read {file} and \
         follow it, taking the words after `${name}` in the user's message as its arguments \
         ($ARGUMENTS).\n",
        marker.line()
    )
}

/// `agents/openai.yaml` of every entry.
pub const OPENAI_YAML: &str = "# Written by `codex-plus commands sync`, which also removes it.\n\
policy:\n  allow_implicit_invocation: false\n";

/// A JSON string is a valid YAML double-quoted scalar.
fn yaml_string(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

fn one_line(text: &str, max: usize) -> String {
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() > max {
        let cut: String = line.chars().take(max - 1).collect();
        format!("{cut}…")
    } else {
        line
    }
}

/// The opening of a `<skill>` item up to where the SKILL.md text starts (the
/// `<name>` and `<path>` lines), so an expansion keeps Codex's shape.
pub fn skill_item_header(text: &str) -> Option<&str> {
    let rest = text.strip_prefix("<skill>")?;
    let end = ["</path>", "</name>"]
        .iter()
        .find_map(|tag| rest.find(tag).map(|i| i + tag.len()))?;
    let header = &text[..7 + end];
    Some(header)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::claude::Source;

    fn cmd(text: &str, name: &str) -> CommandDef {
        CommandDef::parse(
            name,
            text,
            Some(Path::new("/ws/.claude/commands/greet.md")),
            Source::Project {
                dir: PathBuf::from("/ws/.claude/commands"),
            },
        )
    }

    #[test]
    fn skill_md_has_codex_frontmatter_and_a_findable_marker() {
        let c = cmd(
            "---\ndescription: Say \"hi\" to: someone\nargument-hint: NAME [greeting]\n---\nHello $1\n",
            "team:greet",
        );
        let md = skill_md(&c, Path::new("/ws/.claude/commands"));
        assert!(md.starts_with(
            "---\nname: \"team:greet\"\ndescription: \"Say \\\"hi\\\" to: someone\"\nargument-hint: \"NAME [greeting]\"\n---\n"
        ), "{md}");
        let front: serde_json::Value =
            serde_norway::from_str(md.split("---\n").nth(1).unwrap()).unwrap();
        assert_eq!(front["name"], "team:greet");
        assert_eq!(front["description"], "Say \"hi\" to: someone");
        assert_eq!(
            Marker::find(&md),
            Some(Marker {
                name: "team:greet".into(),
                source: PathBuf::from("/ws/.claude/commands")
            })
        );
        assert!(md.contains("`$team:greet <arguments>`"));
        assert!(
            !md.contains("Hello $1"),
            "the body stays in the command file"
        );
    }

    #[test]
    fn a_command_without_description_gets_its_first_line_or_its_name() {
        let md = skill_md(
            &cmd("# Greets\nbody", "greet"),
            Path::new("/ws/.claude/commands"),
        );
        assert!(md.contains("description: \"Greets\"\n"), "{md}");
        let md = skill_md(&cmd("", "greet"), Path::new("/ws/.claude/commands"));
        assert!(
            md.contains("description: \"Slash command /greet\"\n"),
            "{md}"
        );
    }

    #[test]
    fn marker_round_trips_and_rejects_garbage() {
        let m = Marker {
            name: "a".into(),
            source: PathBuf::from("/p \"q\""),
        };
        assert_eq!(Marker::find(&format!("x\n{}\ny", m.line())), Some(m));
        assert_eq!(Marker::find("<!-- codex-plus:command {not json} -->"), None);
        assert_eq!(
            Marker::find("<!-- codex-plus:command {\"name\":\"a\""),
            None
        );
        assert_eq!(Marker::find("no marker"), None);
    }

    #[test]
    fn skill_item_header_is_the_name_and_path_lines() {
        let item = "<skill>\n<name>greet</name>\n<path>/h/skills/greet/SKILL.md</path>\n---\nname: greet\n---\nbody\n</skill>";
        assert_eq!(
            skill_item_header(item),
            Some("<skill>\n<name>greet</name>\n<path>/h/skills/greet/SKILL.md</path>")
        );
        assert_eq!(
            skill_item_header("<skill>\n<name>x</name>\nbody"),
            Some("<skill>\n<name>x</name>")
        );
        assert_eq!(skill_item_header("hello"), None);
    }
}
