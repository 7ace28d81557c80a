//! Where Claude Code files live for one workspace, in precedence order, and how
//! same-named definitions from several places are resolved.

use std::borrow::Cow;
use std::collections::HashMap;
use std::ffi::OsString;
use std::fmt;
use std::path::{Component, Path, PathBuf};

use indexmap::IndexMap;
use serde::Serialize;

use super::diagnostic::Diagnostic;

/// The user-level directories, injectable so tests never touch the real home.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Roots {
    pub home: Option<PathBuf>,
    /// `$CLAUDE_CONFIG_DIR`: replaces `~/.claude` when set.
    pub claude_config_dir: Option<PathBuf>,
}

impl Roots {
    /// The real home directory and `$CLAUDE_CONFIG_DIR`.
    pub fn from_env() -> Self {
        Self {
            home: dirs::home_dir(),
            claude_config_dir: std::env::var_os("CLAUDE_CONFIG_DIR")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from),
        }
    }

    /// Roots with the given home and no `$CLAUDE_CONFIG_DIR`.
    pub fn with_home(home: impl Into<PathBuf>) -> Self {
        Self {
            home: Some(home.into()),
            claude_config_dir: None,
        }
    }

    /// `~/.claude`, or `$CLAUDE_CONFIG_DIR` when set.
    pub fn claude_dir(&self) -> Option<PathBuf> {
        self.claude_config_dir
            .clone()
            .or_else(|| self.home.as_ref().map(|h| h.join(".claude")))
    }

    /// `~/.codexplus`.
    pub fn codexplus_dir(&self) -> Option<PathBuf> {
        self.home.as_ref().map(|h| h.join(".codexplus"))
    }
}

/// Where a definition came from.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Source {
    /// Compiled into codex-plus.
    Builtin,
    /// A workspace (or ancestor) directory such as `/ws/.claude/agents`.
    Project { dir: PathBuf },
    /// A user directory such as `~/.claude/agents`.
    User { dir: PathBuf },
}

impl Source {
    /// `builtin`, `project` or `user`.
    pub fn kind(&self) -> &'static str {
        match self {
            Source::Builtin => "builtin",
            Source::Project { .. } => "project",
            Source::User { .. } => "user",
        }
    }

    /// The directory searched, if any.
    pub fn dir(&self) -> Option<&Path> {
        match self {
            Source::Builtin => None,
            Source::Project { dir } | Source::User { dir } => Some(dir),
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.dir() {
            Some(dir) => write!(f, "{} ({})", self.kind(), dir.display()),
            None => f.write_str(self.kind()),
        }
    }
}

/// One directory that may hold definitions. Lower `rank` wins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceDir {
    pub dir: PathBuf,
    pub source: Source,
    pub rank: usize,
}

/// The directories named `kind` (`agents`, `commands`) for `workspace`, highest
/// precedence first: the workspace and each ancestor (deeper first; `.codexplus`
/// before `.claude` in the same directory), then `~/.codexplus/<kind>` and
/// `~/.claude/<kind>`. An ancestor's directory that is also the user's is listed
/// once, as the user's; `~/.claude/<kind>` is never a project directory.
pub fn source_dirs(workspace: &Path, roots: &Roots, kind: &str) -> Vec<SourceDir> {
    let user: Vec<PathBuf> = [roots.codexplus_dir(), roots.claude_dir()]
        .into_iter()
        .flatten()
        .map(|d| normalize(&d.join(kind)))
        .collect();
    let home = roots.home.as_deref().map(normalize);
    let mut dirs: Vec<(PathBuf, Source)> = Vec::new();
    for ancestor in normalize(workspace).ancestors() {
        for hidden in [".codexplus", ".claude"] {
            let dir = ancestor.join(hidden).join(kind);
            // `~/.claude` is the user's config, never a project's, even when
            // $CLAUDE_CONFIG_DIR moved the user's config elsewhere.
            let home_config = hidden == ".claude" && home.as_deref() == Some(ancestor);
            if !user.contains(&dir) && !home_config {
                dirs.push((dir.clone(), Source::Project { dir }));
            }
        }
    }
    for dir in user {
        dirs.push((dir.clone(), Source::User { dir }));
    }
    dirs.into_iter()
        .enumerate()
        .map(|(rank, (dir, source))| SourceDir { dir, source, rank })
        .collect()
}

/// Removes `.` and resolves `..` lexically, so the same directory compares equal.
pub fn normalize(path: &Path) -> PathBuf {
    normalized(path).into_owned()
}

/// A map keyed by workspace directory, read several times on every turn. The key is
/// the path's bytes, hashed with foldhash: `Path`'s own hash walks the path component
/// by component, through SipHash, and cost ~1k instructions a lookup.
pub type WorkspaceMap<V> = HashMap<OsString, V, foldhash::fast::RandomState>;

/// `normalize`, borrowing the path when it is already normal (nearly always): a
/// lookup by workspace on every request then allocates nothing.
pub fn normalized(path: &Path) -> Cow<'_, Path> {
    if is_normal(path) {
        Cow::Borrowed(path)
    } else {
        Cow::Owned(resolve_components(path))
    }
}

/// Nearly every workspace path is already normal: no `.` or `..` component, no `//`, no
/// trailing `/`. Hidden directories (`/tmp/.tmpXYZ`) are normal too.
fn is_normal(path: &Path) -> bool {
    let bytes = path.as_os_str().as_encoded_bytes();
    let rest = bytes.strip_prefix(b"/").unwrap_or(bytes);
    !rest.is_empty()
        && rest
            .split(|b| *b == b'/')
            .all(|part| !matches!(part, b"" | b"." | b".."))
}

fn resolve_components(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// All `*.md` files under `dir`, recursively, sorted by path, following symlinks.
/// A missing directory yields nothing; unreadable entries yield diagnostics.
pub fn markdown_files(dir: &Path) -> (Vec<PathBuf>, Vec<Diagnostic>) {
    let mut files = Vec::new();
    let mut diagnostics = Vec::new();
    if !dir.is_dir() {
        return (files, diagnostics);
    }
    let walker = ignore::WalkBuilder::new(dir)
        .standard_filters(false)
        .follow_links(true)
        .max_depth(Some(16))
        .build();
    for entry in walker {
        match entry {
            Ok(entry) => {
                let path = entry.path();
                let is_md = path
                    .extension()
                    .is_some_and(|e| e.eq_ignore_ascii_case("md"));
                if is_md && entry.file_type().is_some_and(|t| t.is_file()) {
                    files.push(path.to_path_buf());
                }
            }
            Err(e) => diagnostics.push(
                Diagnostic::warning(format!("cannot read part of {}: {e}", dir.display()))
                    .with_fix("check the permissions, or remove the broken link"),
            ),
        }
    }
    files.sort();
    (files, diagnostics)
}

/// A definition found in one place, before precedence is applied.
#[derive(Debug, Clone)]
pub struct Candidate<T> {
    pub name: String,
    pub rank: usize,
    pub path: PathBuf,
    pub item: T,
}

/// Keeps one definition per name: the lowest rank wins, then the first path in sorted
/// order. Duplicates within one rank are a warning naming both files; a definition
/// overridden by a higher-precedence place is an info note.
pub fn resolve<T>(
    mut candidates: Vec<Candidate<T>>,
    what: &str,
) -> (IndexMap<String, Candidate<T>>, Vec<Diagnostic>) {
    candidates.sort_by(|a, b| (a.rank, &a.path).cmp(&(b.rank, &b.path)));
    let mut chosen: IndexMap<String, Candidate<T>> = IndexMap::new();
    let mut diagnostics = Vec::new();
    for candidate in candidates {
        match chosen.get(&candidate.name) {
            Some(winner) if winner.rank == candidate.rank => diagnostics.push(
                Diagnostic::warning(format!(
                    "duplicate {what} name `{}` in {} and {}; the first is used",
                    candidate.name,
                    winner.path.display(),
                    candidate.path.display()
                ))
                .in_file(&candidate.path)
                .with_fix(
                    "rename one of them (the `name:` field is the identity, not the file name)",
                ),
            ),
            Some(winner) => diagnostics.push(
                Diagnostic::info(format!(
                    "{what} `{}` is overridden by {}",
                    candidate.name,
                    winner.path.display()
                ))
                .in_file(&candidate.path),
            ),
            None => {
                chosen.insert(candidate.name.clone(), candidate);
            }
        }
    }
    (chosen, diagnostics)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_dirs_order_deeper_first_codexplus_before_claude_then_user() {
        let roots = Roots::with_home("/home/u");
        let dirs: Vec<String> = source_dirs(Path::new("/home/u/p/sub"), &roots, "agents")
            .into_iter()
            .map(|d| format!("{} {}", d.source.kind(), d.dir.display()))
            .collect();
        assert_eq!(
            dirs,
            [
                "project /home/u/p/sub/.codexplus/agents",
                "project /home/u/p/sub/.claude/agents",
                "project /home/u/p/.codexplus/agents",
                "project /home/u/p/.claude/agents",
                "project /home/.codexplus/agents",
                "project /home/.claude/agents",
                "project /.codexplus/agents",
                "project /.claude/agents",
                "user /home/u/.codexplus/agents",
                "user /home/u/.claude/agents",
            ]
        );
    }

    #[test]
    fn claude_config_dir_replaces_dot_claude() {
        let roots = Roots {
            home: Some("/home/u".into()),
            claude_config_dir: Some("/cfg".into()),
        };
        assert_eq!(roots.claude_dir(), Some(PathBuf::from("/cfg")));
        let user: Vec<PathBuf> = source_dirs(Path::new("/w"), &roots, "commands")
            .into_iter()
            .filter(|d| d.source.kind() == "user")
            .map(|d| d.dir)
            .collect();
        assert_eq!(
            user,
            [
                PathBuf::from("/home/u/.codexplus/commands"),
                PathBuf::from("/cfg/commands")
            ]
        );
        // With the config dir elsewhere, ~/.claude is not read at all.
        let dirs = source_dirs(Path::new("/home/u/w"), &roots, "agents");
        assert!(!dirs
            .iter()
            .any(|d| d.dir == Path::new("/home/u/.claude/agents")));
        assert!(dirs
            .iter()
            .any(|d| d.dir == Path::new("/home/u/w/.claude/agents")));
    }

    #[test]
    fn normalize_resolves_dots() {
        assert_eq!(normalize(Path::new("/a/./b/../c")), PathBuf::from("/a/c"));
        for (path, normal) in [
            ("/work/main", "/work/main"),
            ("/work/main/", "/work/main"),
            ("/work//main", "/work/main"),
            ("/work/.hidden/x", "/work/.hidden/x"),
            ("/tmp/.tmpAb3/..", "/tmp"),
            ("/w/..x/.y", "/w/..x/.y"),
            ("/work/main/.", "/work/main"),
            ("./main", "main"),
            ("/", "/"),
        ] {
            assert_eq!(normalize(Path::new(path)), PathBuf::from(normal), "{path}");
        }
    }

    #[test]
    fn a_path_taken_as_normal_is_what_resolving_it_gives() {
        // Every path of up to five parts from these pieces, absolute and relative.
        let pieces = ["", ".", "..", "a", ".a", "..a"];
        let mut paths = vec![String::new()];
        for _ in 0..5 {
            let longer: Vec<String> = paths
                .iter()
                .flat_map(|p| pieces.iter().map(move |x| format!("{p}/{x}")))
                .collect();
            paths.extend(longer);
        }
        let mut normal = 0;
        for path in paths
            .iter()
            .flat_map(|p| [p.clone(), p.trim_start_matches('/').into()])
        {
            let path = Path::new(&path);
            if is_normal(path) {
                normal += 1;
                assert_eq!(resolve_components(path), path, "{}", path.display());
            }
        }
        assert!(
            normal > 1000,
            "the fast path was taken for {normal} paths only"
        );
    }

    fn candidate(name: &str, rank: usize, path: &str) -> Candidate<()> {
        Candidate {
            name: name.into(),
            rank,
            path: path.into(),
            item: (),
        }
    }

    #[test]
    fn resolve_prefers_rank_then_sorted_path_and_reports_both_kinds_of_clash() {
        let (chosen, diags) = resolve(
            vec![
                candidate("a", 1, "/u/a.md"),
                candidate("a", 0, "/p/z.md"),
                candidate("a", 0, "/p/b.md"),
                candidate("b", 1, "/u/b.md"),
            ],
            "agent",
        );
        assert_eq!(chosen["a"].path, PathBuf::from("/p/b.md"));
        assert_eq!(chosen["b"].path, PathBuf::from("/u/b.md"));
        assert_eq!(diags.len(), 2);
        assert!(diags[0].message.contains("/p/b.md") && diags[0].message.contains("/p/z.md"));
        assert_eq!(
            diags[0].severity,
            crate::claude::diagnostic::Severity::Warning
        );
        assert_eq!(diags[1].severity, crate::claude::diagnostic::Severity::Info);
    }

    #[test]
    fn markdown_files_recurses_sorted_and_ignores_other_files() -> std::io::Result<()> {
        let tmp = tempfile::tempdir()?;
        let dir = tmp.path().join("agents");
        std::fs::create_dir_all(dir.join("sub/.hidden"))?;
        for f in ["b.md", "a.MD", "notes.txt", "sub/c.md", "sub/.hidden/d.md"] {
            std::fs::write(dir.join(f), "x")?;
        }
        let (files, diags) = markdown_files(&dir);
        let rel: Vec<String> = files
            .iter()
            .filter_map(|f| f.strip_prefix(&dir).ok())
            .map(|p| p.display().to_string())
            .collect();
        assert_eq!(rel, ["a.MD", "b.md", "sub/.hidden/d.md", "sub/c.md"]);
        assert!(diags.is_empty());
        assert!(markdown_files(&tmp.path().join("missing")).0.is_empty());
        Ok(())
    }
}
