//! `codex-plus commands list|sync`: the slash commands a workspace sees, and making them
//! reachable from the interactive Codex TUI.
//!
//! The TUI refuses an unknown `/name` itself, so `sync` writes one Codex skill per
//! command under `$CODEX_HOME/skills/codex-plus/<name>/` (see
//! `turn::slash::skill_entry`). In the TUI the user types `$name args`; Codex sends
//! the skill's text after the message and the proxy puts the expanded command there.
//!
//! Sync is idempotent (an entry is rewritten only when its text changes), touches only
//! entries it wrote (their SKILL.md carries a marker), and removes its entries whose
//! command is gone, but only for commands directories this workspace can see, so
//! syncing one project never removes another project's entries.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::claude::discovery::source_dirs;
use crate::claude::{commands_list, CommandDef, CommandSet, Roots};
use crate::turn::slash::skill_entry::{skill_md, Marker, OPENAI_YAML};

/// Where sync keeps its entries, under the Codex home.
pub fn sync_root(codex_home: &Path) -> PathBuf {
    codex_home.join("skills").join("codex-plus")
}

/// What `commands list` prints for `cwd`.
pub fn list(cwd: &Path, roots: &Roots) -> String {
    commands_list(&CommandSet::load(&workspace(cwd), roots))
}

/// What one sync did, by command name.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct SyncReport {
    pub root: PathBuf,
    pub created: Vec<String>,
    pub updated: Vec<String>,
    pub unchanged: Vec<String>,
    pub removed: Vec<String>,
    /// Commands not synced, and why.
    pub skipped: Vec<(String, String)>,
}

impl SyncReport {
    /// The report for the terminal.
    pub fn render(&self) -> String {
        let total = self.created.len() + self.updated.len() + self.unchanged.len();
        let mut out = format!(
            "{total} command(s) in {}; in the Codex TUI type $name args (e.g. ${}).\n",
            self.root.display(),
            self.created
                .iter()
                .chain(&self.updated)
                .chain(&self.unchanged)
                .next()
                .map_or("review", String::as_str)
        );
        let rows = [
            ("created", &self.created),
            ("updated", &self.updated),
            ("unchanged", &self.unchanged),
            ("removed", &self.removed),
        ];
        for (what, names) in rows {
            for name in names {
                out.push_str(&format!("  {what:<9} ${name}\n"));
            }
        }
        for (name, why) in &self.skipped {
            out.push_str(&format!("  skipped   /{name}: {why}\n"));
        }
        if !self.created.is_empty() || !self.removed.is_empty() {
            out.push_str("Codex sees new and removed entries in its next session.\n");
        }
        out
    }
}

/// Why sync stopped.
#[derive(Debug, thiserror::Error)]
#[error("cannot {action} {}: {source}", path.display())]
pub struct SyncError {
    pub action: &'static str,
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

fn io_error(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> SyncError {
    let path = path.to_path_buf();
    move |source| SyncError {
        action,
        path,
        source,
    }
}

/// Writes (or refreshes, or removes) the skill entries for the commands `cwd` sees.
pub fn sync(cwd: &Path, roots: &Roots, codex_home: &Path) -> Result<SyncReport, SyncError> {
    let cwd = workspace(cwd);
    let set = CommandSet::load(&cwd, roots);
    let visible: Vec<PathBuf> = ["skills", "commands"]
        .into_iter()
        .flat_map(|kind| source_dirs(&cwd, roots, kind))
        .map(|d| d.dir)
        .collect();
    let root = sync_root(codex_home);
    std::fs::create_dir_all(&root).map_err(io_error("create", &root))?;
    let mut report = SyncReport {
        root: root.clone(),
        ..SyncReport::default()
    };
    let mut synced = BTreeSet::new();
    // A skill the user may not invoke gets no entry: entries are for `$name`.
    for cmd in set.commands().iter().filter(|c| c.user_invocable) {
        if let Some(why) = unusable_name(&cmd.name) {
            report.skipped.push((cmd.name.clone(), why.to_string()));
            continue;
        }
        let dir = root.join(&cmd.name);
        let skill_file = dir.join("SKILL.md");
        let existing = read_optional(&skill_file)?;
        if dir.exists() && existing.as_deref().and_then(Marker::find).is_none() {
            report.skipped.push((
                cmd.name.clone(),
                format!(
                    "{} is not an entry codex-plus wrote; left alone",
                    dir.display()
                ),
            ));
            continue;
        }
        synced.insert(cmd.name.clone());
        let source = source_of(cmd);
        let text = skill_md(cmd, &source);
        let yaml_file = dir.join("agents").join("openai.yaml");
        let same = existing.as_deref() == Some(text.as_str())
            && read_optional(&yaml_file)?.as_deref() == Some(OPENAI_YAML);
        if same {
            report.unchanged.push(cmd.name.clone());
            continue;
        }
        write_file(&skill_file, &text)?;
        write_file(&yaml_file, OPENAI_YAML)?;
        match existing {
            Some(_) => report.updated.push(cmd.name.clone()),
            None => report.created.push(cmd.name.clone()),
        }
    }
    for (name, marker, dir) in own_entries(&root)? {
        if synced.contains(&name) || !visible.contains(&marker.source) {
            continue;
        }
        remove_entry(&dir)?;
        report.removed.push(name);
    }
    Ok(report)
}

/// The workspace as an absolute, canonical path, so every sync of it records the same
/// commands directories.
fn workspace(cwd: &Path) -> PathBuf {
    std::fs::canonicalize(cwd)
        .or_else(|_| std::path::absolute(cwd))
        .unwrap_or_else(|_| cwd.to_path_buf())
}

/// The commands directory a command was found in.
fn source_of(cmd: &CommandDef) -> PathBuf {
    cmd.source
        .dir()
        .map(Path::to_path_buf)
        .or_else(|| {
            cmd.path
                .as_deref()
                .and_then(Path::parent)
                .map(Path::to_path_buf)
        })
        .unwrap_or_default()
}

/// Command names that cannot be a directory of their own.
fn unusable_name(name: &str) -> Option<&'static str> {
    if name.starts_with('.') || name.contains(['/', '\\']) {
        Some("the name cannot be a skill directory (it starts with `.` or holds a slash)")
    } else if name.chars().any(char::is_whitespace) {
        Some("the name has whitespace, so `$name` cannot be typed")
    } else {
        None
    }
}

/// Entries under `root` whose SKILL.md carries the marker: (name, marker, directory).
fn own_entries(root: &Path) -> Result<Vec<(String, Marker, PathBuf)>, SyncError> {
    let mut entries = Vec::new();
    let listing = std::fs::read_dir(root).map_err(io_error("read", root))?;
    for entry in listing.flatten() {
        let dir = entry.path();
        let Some(text) = read_optional(&dir.join("SKILL.md")).ok().flatten() else {
            continue;
        };
        if let Some(marker) = Marker::find(&text) {
            entries.push((marker.name.clone(), marker, dir));
        }
    }
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(entries)
}

/// Removes the files sync writes, then the directories if nothing else is in them.
fn remove_entry(dir: &Path) -> Result<(), SyncError> {
    for file in [dir.join("SKILL.md"), dir.join("agents").join("openai.yaml")] {
        match std::fs::remove_file(&file) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_error("remove", &file)(e)),
        }
    }
    // Not empty means someone put files there: theirs to keep.
    let _ = std::fs::remove_dir(dir.join("agents"));
    let _ = std::fs::remove_dir(dir);
    Ok(())
}

fn read_optional(path: &Path) -> Result<Option<String>, SyncError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_error("read", path)(e)),
    }
}

/// Writes through a temporary file and a rename, so Codex never reads half a file.
fn write_file(path: &Path, text: &str) -> Result<(), SyncError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io_error("create", parent))?;
    }
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).map_err(io_error("write", &tmp))?;
    std::fs::rename(&tmp, path).map_err(io_error("replace", path))
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Setup {
        _tmp: tempfile::TempDir,
        roots: Roots,
        ws: PathBuf,
        codex: PathBuf,
    }

    fn setup() -> Setup {
        let tmp = tempfile::tempdir().unwrap();
        let base = std::fs::canonicalize(tmp.path()).unwrap();
        let home = base.join("home");
        let ws = base.join("proj");
        let codex = base.join("codex");
        for dir in [&home, &ws, &codex] {
            std::fs::create_dir_all(dir).unwrap();
        }
        Setup {
            roots: Roots::with_home(&home),
            _tmp: tmp,
            ws,
            codex,
        }
    }

    fn command(dir: &Path, rel: &str, text: &str) {
        let path = dir.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    #[test]
    fn skills_get_entries_unless_the_user_may_not_invoke_them() {
        let s = setup();
        command(
            &s.ws,
            ".claude/skills/notes/SKILL.md",
            "---\ndescription: Notes\n---\nNotes\n",
        );
        command(
            &s.ws,
            ".claude/skills/style/SKILL.md",
            "---\ndescription: Style\nuser-invocable: false\n---\nStyle\n",
        );
        let first = sync(&s.ws, &s.roots, &s.codex).unwrap();
        assert_eq!(first.created, ["notes"]);
        let root = sync_root(&s.codex);
        let notes = std::fs::read_to_string(root.join("notes/SKILL.md")).unwrap();
        assert_eq!(
            Marker::find(&notes).map(|m| m.source),
            Some(s.ws.join(".claude/skills"))
        );
        // The skill's folder is visible to sync: removing the skill removes its entry.
        std::fs::remove_dir_all(s.ws.join(".claude/skills/notes")).unwrap();
        sync(&s.ws, &s.roots, &s.codex).unwrap();
        assert!(!root.join("notes").exists());
    }

    #[test]
    fn writes_marked_entries_and_is_idempotent() {
        let s = setup();
        command(
            &s.ws,
            ".claude/commands/greet.md",
            "---\ndescription: Greet\n---\nHi $ARGUMENTS\n",
        );
        command(
            &s.ws,
            ".claude/commands/frontend/component.md",
            "Make a component\n",
        );
        let home = s.roots.home.clone().unwrap();
        command(&home, ".claude/commands/mine.md", "mine\n");
        let first = sync(&s.ws, &s.roots, &s.codex).unwrap();
        assert_eq!(first.created, ["frontend:component", "greet", "mine"]);
        let root = sync_root(&s.codex);
        let greet = std::fs::read_to_string(root.join("greet/SKILL.md")).unwrap();
        assert_eq!(
            Marker::find(&greet),
            Some(Marker {
                name: "greet".into(),
                source: s.ws.join(".claude/commands")
            })
        );
        assert!(greet.starts_with("---\nname: \"greet\"\ndescription: \"Greet\"\n"));
        assert_eq!(
            std::fs::read_to_string(root.join("frontend:component/agents/openai.yaml")).unwrap(),
            OPENAI_YAML
        );
        let mtime = std::fs::metadata(root.join("greet/SKILL.md"))
            .unwrap()
            .modified()
            .unwrap();
        let second = sync(&s.ws, &s.roots, &s.codex).unwrap();
        assert_eq!(second.unchanged, ["frontend:component", "greet", "mine"]);
        assert!(
            second.created.is_empty() && second.updated.is_empty() && second.removed.is_empty()
        );
        assert_eq!(
            std::fs::metadata(root.join("greet/SKILL.md"))
                .unwrap()
                .modified()
                .unwrap(),
            mtime,
            "unchanged entries are not rewritten"
        );
        command(
            &s.ws,
            ".claude/commands/greet.md",
            "---\ndescription: Greet warmly\n---\nHi\n",
        );
        let third = sync(&s.ws, &s.roots, &s.codex).unwrap();
        assert_eq!(third.updated, ["greet"]);
        assert!(
            third.render().contains("  updated   $greet\n"),
            "{}",
            third.render()
        );
    }

    #[test]
    fn removes_only_its_own_stale_entries_of_visible_directories() {
        let s = setup();
        command(&s.ws, ".claude/commands/old.md", "old\n");
        command(&s.ws, ".claude/commands/keep.md", "keep\n");
        sync(&s.ws, &s.roots, &s.codex).unwrap();
        // Another project's entry, a skill of the user's own, and a user file in our entry.
        let other = s.ws.parent().unwrap().join("other");
        command(&other, ".claude/commands/theirs.md", "theirs\n");
        sync(&other, &s.roots, &s.codex).unwrap();
        let root = sync_root(&s.codex);
        command(
            &root,
            "handmade/SKILL.md",
            "---\nname: handmade\ndescription: mine\n---\nbody\n",
        );
        command(&root, "keep/notes.txt", "user notes");

        std::fs::remove_file(s.ws.join(".claude/commands/old.md")).unwrap();
        std::fs::remove_file(s.ws.join(".claude/commands/keep.md")).unwrap();
        let report = sync(&s.ws, &s.roots, &s.codex).unwrap();
        assert_eq!(report.removed, ["keep", "old"]);
        assert!(!root.join("old").exists());
        assert!(
            root.join("keep/notes.txt").exists(),
            "files sync did not write stay"
        );
        assert!(!root.join("keep/SKILL.md").exists());
        assert!(
            root.join("theirs/SKILL.md").exists(),
            "another project's entry stays"
        );
        assert!(
            root.join("handmade/SKILL.md").exists(),
            "a skill sync did not write stays"
        );
    }

    #[test]
    fn never_overwrites_a_skill_it_did_not_write() {
        let s = setup();
        command(&s.ws, ".claude/commands/review.md", "review\n");
        command(&s.ws, ".claude/commands/...md", "dots\n");
        let root = sync_root(&s.codex);
        command(
            &root,
            "review/SKILL.md",
            "---\nname: review\n---\nthe user's own\n",
        );
        let report = sync(&s.ws, &s.roots, &s.codex).unwrap();
        assert!(report.created.is_empty(), "{report:?}");
        let reasons: Vec<&str> = report.skipped.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(reasons, ["..", "review"]);
        assert_eq!(
            std::fs::read_to_string(root.join("review/SKILL.md")).unwrap(),
            "---\nname: review\n---\nthe user's own\n"
        );
        assert!(!s.codex.join("skills/..").join("SKILL.md").exists());
    }

    #[test]
    fn list_shows_the_workspace_commands() {
        let s = setup();
        command(
            &s.ws,
            ".codexplus/commands/explain.md",
            "---\ndescription: Explain code\nargument-hint: PATH\n---\nExplain $1\n",
        );
        let out = list(&s.ws, &s.roots);
        assert!(out.contains("/explain PATH"), "{out}");
        assert!(out.contains("Explain code"), "{out}");
    }
}
