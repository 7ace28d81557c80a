//! The built-in status line: the workspace's directory, git branch, ahead/behind its
//! upstream and changed files, from one `git status --porcelain=v2 --branch`.
//!
//! Never on the request's clock: facts are cached per workspace and refreshed in the
//! background once older than the refresh interval (the request gets the last value).
//! Only the first request of a workspace waits, briefly, for the first probe.

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::watch;

use crate::claude::discovery::WorkspaceMap;
use crate::hooks::runner::{run_command, Exit, OutputLimits};

/// How long one `git status` may take.
const GIT_TIMEOUT: Duration = Duration::from_secs(5);
/// Workspaces cached; the least recently refreshed goes first.
const MAX_WORKSPACES: usize = 256;
/// `--no-optional-locks`: never take the index lock under the user's own git.
const GIT_STATUS: &str = "git --no-optional-locks status --porcelain=v2 --branch";

/// What `git status` says about a workspace.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GitSummary {
    /// The branch; `None` on a detached HEAD.
    pub branch: Option<String>,
    /// The commit, abbreviated; `None` before the first commit.
    pub head: Option<String>,
    /// The upstream branch, when one is set.
    pub upstream: Option<String>,
    pub ahead: u64,
    pub behind: u64,
    /// Tracked files with changes (staged, unstaged or in conflict).
    pub changed: usize,
    pub untracked: usize,
}

/// Reads `git status --porcelain=v2 --branch` output.
pub fn parse_porcelain_v2(out: &str) -> GitSummary {
    let mut summary = GitSummary::default();
    for line in out.lines() {
        if let Some(header) = line.strip_prefix("# ") {
            let (key, value) = header.split_once(' ').unwrap_or((header, ""));
            match key {
                "branch.oid" if value != "(initial)" => {
                    summary.head = Some(value.chars().take(7).collect())
                }
                "branch.head" if value != "(detached)" => summary.branch = Some(value.to_string()),
                "branch.upstream" => summary.upstream = Some(value.to_string()),
                "branch.ab" => {
                    for part in value.split_whitespace() {
                        if let Some(n) = part.strip_prefix('+') {
                            summary.ahead = n.parse().unwrap_or(0);
                        } else if let Some(n) = part.strip_prefix('-') {
                            summary.behind = n.parse().unwrap_or(0);
                        }
                    }
                }
                _ => {}
            }
        } else if line.starts_with("? ") {
            summary.untracked += 1;
        } else if ["1 ", "2 ", "u "].iter().any(|p| line.starts_with(p)) {
            summary.changed += 1;
        }
    }
    summary
}

/// The built-in line, e.g.
/// `codex-plus | branch main (ahead 2, behind 1 vs origin/main) | 3 changed, 1 untracked`.
pub fn builtin_line(cwd: &Path, git: Option<&GitSummary>) -> String {
    let dir = cwd.file_name().map_or_else(
        || cwd.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let Some(git) = git else {
        return format!("{dir} | not a git repository");
    };
    let mut branch = match (&git.branch, &git.head) {
        (Some(name), _) => format!("branch {name}"),
        (None, Some(head)) => format!("detached at {head}"),
        (None, None) => "no branch".to_string(),
    };
    if let Some(upstream) = &git.upstream {
        let position = match (git.ahead, git.behind) {
            (0, 0) => format!("up to date with {upstream}"),
            (a, 0) => format!("ahead {a} vs {upstream}"),
            (0, b) => format!("behind {b} vs {upstream}"),
            (a, b) => format!("ahead {a}, behind {b} vs {upstream}"),
        };
        branch.push_str(&format!(" ({position})"));
    }
    let changes = match (git.changed, git.untracked) {
        (0, 0) => "clean".to_string(),
        (c, 0) => format!("{c} changed"),
        (0, u) => format!("{u} untracked"),
        (c, u) => format!("{c} changed, {u} untracked"),
    };
    format!("{dir} | {branch} | {changes}")
}

/// Runs `git status` in `cwd`; `None` outside a repository, without git, or on timeout.
pub async fn probe(cwd: &Path, timeout: Duration) -> Option<GitSummary> {
    let limits = OutputLimits {
        stdout: 8 * 1024 * 1024,
        stderr: 4096,
    };
    let out = run_command(GIT_STATUS, Bytes::new(), cwd, timeout, limits)
        .await
        .ok()?;
    (out.exit == Exit::Code(0)).then(|| parse_porcelain_v2(&out.stdout))
}

/// What is known about a workspace: `None` until the first probe ends; then the
/// probe's result (`None` inside: no repository).
pub type Facts = Option<Arc<Option<GitSummary>>>;

/// Git facts per workspace, refreshed in the background.
#[derive(Clone)]
pub struct GitStatusCache {
    shared: Arc<Shared>,
}

struct Shared {
    entries: Mutex<WorkspaceMap<Entry>>,
    refresh: Duration,
    first_wait: Duration,
    git_timeout: Duration,
}

struct Entry {
    facts: watch::Sender<Facts>,
    refreshed: Option<Instant>,
    refreshing: bool,
}

impl GitStatusCache {
    /// Facts older than `refresh` are refreshed; a workspace's first request waits at
    /// most `first_wait`.
    pub fn new(refresh: Duration, first_wait: Duration) -> GitStatusCache {
        GitStatusCache {
            shared: Arc::new(Shared {
                entries: Mutex::default(),
                refresh,
                first_wait,
                git_timeout: GIT_TIMEOUT,
            }),
        }
    }

    /// The latest facts for `cwd`, starting a refresh when they are stale. `None`
    /// when the first probe has not ended within the first wait.
    pub async fn get(&self, cwd: &Path) -> Facts {
        let (mut facts, refresh) = {
            let mut entries = self.shared.lock();
            if !entries.contains_key(cwd.as_os_str()) && entries.len() >= MAX_WORKSPACES {
                let oldest = entries
                    .iter()
                    .filter(|(_, e)| !e.refreshing)
                    .min_by_key(|(_, e)| e.refreshed)
                    .map(|(k, _)| k.clone());
                if let Some(oldest) = oldest {
                    entries.remove(&oldest);
                }
            }
            let entry = match entries.get_mut(cwd.as_os_str()) {
                Some(entry) => entry,
                None => entries
                    .entry(cwd.as_os_str().to_owned())
                    .or_insert_with(|| Entry {
                        facts: watch::Sender::new(None),
                        refreshed: None,
                        refreshing: false,
                    }),
            };
            let stale = entry
                .refreshed
                .is_none_or(|t| t.elapsed() >= self.shared.refresh);
            let refresh = stale && !entry.refreshing;
            entry.refreshing |= refresh;
            (entry.facts.subscribe(), refresh)
        };
        if refresh {
            let shared = Arc::clone(&self.shared);
            let cwd = cwd.to_path_buf();
            tokio::spawn(async move {
                let summary = probe(&cwd, shared.git_timeout).await;
                let mut entries = shared.lock();
                if let Some(entry) = entries.get_mut(cwd.as_os_str()) {
                    entry.facts.send_replace(Some(Arc::new(summary)));
                    entry.refreshed = Some(Instant::now());
                    entry.refreshing = false;
                }
            });
        }
        let known = facts.borrow().clone();
        if known.is_some() {
            return known;
        }
        let first = tokio::time::timeout(self.shared.first_wait, async {
            facts
                .wait_for(Option::is_some)
                .await
                .ok()
                .and_then(|v| v.clone())
        });
        first.await.ok().flatten()
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, WorkspaceMap<Entry>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use std::process::Command;

    fn git(dir: &Path, args: &[&str]) {
        let out = Command::new("git")
            .args([
                "-c",
                "user.name=t",
                "-c",
                "user.email=t@example.com",
                "-c",
                "init.defaultBranch=main",
                "-c",
                "commit.gpgsign=false",
            ])
            .args(args)
            .current_dir(dir)
            .output()
            .expect("git runs");
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn commit(dir: &Path, file: &str, text: &str) {
        std::fs::write(dir.join(file), text).unwrap();
        git(dir, &["add", file]);
        git(dir, &["commit", "-q", "-m", file]);
    }

    /// A clone 2 commits ahead of and 1 behind its upstream, with 2 changed files
    /// (one staged, one not) and 1 untracked.
    fn repo() -> (tempfile::TempDir, PathBuf) {
        let tmp = tempfile::tempdir().unwrap();
        let up = tmp.path().join("up");
        std::fs::create_dir(&up).unwrap();
        git(&up, &["init", "-q"]);
        commit(&up, "a.txt", "one");
        git(tmp.path(), &["clone", "-q", "up", "ws"]);
        let ws = tmp.path().join("ws");
        commit(&ws, "b.txt", "two");
        commit(&ws, "c.txt", "three");
        commit(&up, "d.txt", "four");
        git(&ws, &["fetch", "-q"]);
        std::fs::write(ws.join("a.txt"), "changed").unwrap();
        std::fs::write(ws.join("b.txt"), "staged").unwrap();
        git(&ws, &["add", "b.txt"]);
        std::fs::write(ws.join("new.txt"), "untracked").unwrap();
        (tmp, ws)
    }

    #[test]
    fn parses_headers_and_entries() {
        let out = "# branch.oid 0123456789abcdef\n# branch.head feat/x\n# branch.upstream origin/feat/x\n# branch.ab +3 -0\n\
                   1 .M N... 100644 100644 100644 a a src/lib.rs\n2 R. N... 100644 100644 100644 a a R100 new.rs\told.rs\n\
                   u UU N... 100644 100644 100644 100644 a b c conflict.rs\n? notes.md\n? tmp/\n";
        assert_eq!(
            parse_porcelain_v2(out),
            GitSummary {
                branch: Some("feat/x".into()),
                head: Some("0123456".into()),
                upstream: Some("origin/feat/x".into()),
                ahead: 3,
                behind: 0,
                changed: 3,
                untracked: 2,
            }
        );
        let detached = parse_porcelain_v2("# branch.oid abcdef0123\n# branch.head (detached)\n");
        assert_eq!(detached.branch, None);
        assert_eq!(detached.head.as_deref(), Some("abcdef0"));
        let fresh = parse_porcelain_v2("# branch.oid (initial)\n# branch.head main\n");
        assert_eq!((fresh.branch.as_deref(), fresh.head), (Some("main"), None));
        assert_eq!(parse_porcelain_v2("garbage\n\n# x"), GitSummary::default());
    }

    #[test]
    fn the_line_reads_well_in_every_state() {
        let ws = Path::new("/home/u/proj");
        let mut s = GitSummary {
            branch: Some("main".into()),
            upstream: Some("origin/main".into()),
            ahead: 2,
            behind: 1,
            changed: 3,
            untracked: 1,
            ..GitSummary::default()
        };
        assert_eq!(
            builtin_line(ws, Some(&s)),
            "proj | branch main (ahead 2, behind 1 vs origin/main) | 3 changed, 1 untracked"
        );
        (s.ahead, s.behind, s.changed, s.untracked) = (0, 0, 0, 0);
        assert_eq!(
            builtin_line(ws, Some(&s)),
            "proj | branch main (up to date with origin/main) | clean"
        );
        let detached = GitSummary {
            head: Some("abc1234".into()),
            untracked: 2,
            ..GitSummary::default()
        };
        assert_eq!(
            builtin_line(ws, Some(&detached)),
            "proj | detached at abc1234 | 2 untracked"
        );
        assert_eq!(builtin_line(ws, None), "proj | not a git repository");
    }

    #[tokio::test]
    async fn probes_a_real_repository() {
        let (_tmp, ws) = repo();
        let summary = probe(&ws, GIT_TIMEOUT).await.expect("a git repository");
        assert_eq!(summary.branch.as_deref(), Some("main"));
        assert_eq!(summary.upstream.as_deref(), Some("origin/main"));
        assert_eq!((summary.ahead, summary.behind), (2, 1));
        assert_eq!((summary.changed, summary.untracked), (2, 1));
        assert_eq!(
            builtin_line(&ws, Some(&summary)),
            "ws | branch main (ahead 2, behind 1 vs origin/main) | 2 changed, 1 untracked"
        );
        let plain = tempfile::tempdir().unwrap();
        assert_eq!(probe(plain.path(), GIT_TIMEOUT).await, None);
    }

    #[tokio::test]
    async fn the_cache_answers_at_once_and_refreshes_in_the_background() {
        let (_tmp, ws) = repo();
        // A first wait too short for git: the first request goes without.
        let cache = GitStatusCache::new(Duration::ZERO, Duration::ZERO);
        assert!(cache.get(&ws).await.is_none());
        let first = wait_for(&cache, &ws, |s| s.is_some()).await;
        assert_eq!(first.as_ref().as_ref().unwrap().untracked, 1);

        std::fs::write(ws.join("another.txt"), "x").unwrap();
        // Stale at once (refresh 0): the old value comes back while git runs again.
        let started = Instant::now();
        let _ = cache.get(&ws).await;
        assert!(
            started.elapsed() < Duration::from_millis(50),
            "never waits for git"
        );
        let second = wait_for(&cache, &ws, |s| {
            s.as_ref().is_some_and(|g| g.untracked == 2)
        })
        .await;
        assert_eq!(second.as_ref().as_ref().unwrap().changed, 2);

        // Fresh facts are served without running git again.
        let cache = GitStatusCache::new(Duration::from_secs(3600), Duration::from_secs(5));
        let facts = cache.get(&ws).await.expect("waited for the first probe");
        std::fs::write(ws.join("third.txt"), "x").unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(cache.get(&ws).await, Some(facts), "cached, not re-probed");
    }

    async fn wait_for(
        cache: &GitStatusCache,
        ws: &Path,
        done: impl Fn(&Option<GitSummary>) -> bool,
    ) -> Arc<Option<GitSummary>> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(facts) = cache.get(ws).await {
                if done(&facts) {
                    return facts;
                }
            }
            assert!(
                Instant::now() < deadline,
                "the background refresh never landed"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}
