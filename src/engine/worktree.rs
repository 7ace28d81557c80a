//! Worktree isolation (`isolation: "worktree"` in a Task call or an agent file): the
//! subagent gets a fresh `git worktree` on a new branch under the state directory
//! (or whatever the workspace's WorktreeCreate hooks make), and everything it does is
//! rooted there. When it ends, a worktree with no changes is removed with its branch;
//! one with changes stays, and the result names it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::process::Command;

/// How long one git command may take.
const GIT_TIMEOUT: Duration = Duration::from_secs(60);

/// Why a worktree could not be made.
#[derive(Debug, thiserror::Error)]
pub enum WorktreeError {
    #[error("worktree isolation needs a git repository, and {0} is not in one")]
    NotARepo(PathBuf),
    #[error(
        "worktree isolation needs a commit to start from, and the repository at {0} has none yet"
    )]
    NoCommit(PathBuf),
    #[error("`git {args}` failed: {reason}")]
    Git { args: String, reason: String },
    #[error("the WorktreeCreate hooks made no worktree: {0}")]
    Hook(String),
}

/// A worktree made for one subagent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Worktree {
    /// The worktree's top directory.
    pub path: PathBuf,
    /// Where the subagent works: the same place in the worktree as its cwd was in
    /// the repository.
    pub cwd: PathBuf,
    pub branch: String,
    /// The repository it was made from, and the commit it started at (git's).
    repo: PathBuf,
    base: String,
    /// Made by WorktreeCreate hooks: removing it is theirs too (WorktreeRemove).
    by_hook: bool,
}

/// What became of a worktree when its subagent ended.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum WorktreeEnd {
    /// No changes: removed, with its branch.
    Removed,
    /// Changes (or commits): kept for the caller to look at.
    Kept { path: PathBuf, branch: String },
    /// Changes could not be checked or the removal failed: kept, with the reason.
    Left {
        path: PathBuf,
        branch: String,
        reason: String,
    },
}

impl WorktreeEnd {
    /// The worktree, when it was kept.
    pub fn path(&self) -> Option<&Path> {
        match self {
            WorktreeEnd::Removed => None,
            WorktreeEnd::Kept { path, .. } | WorktreeEnd::Left { path, .. } => Some(path),
        }
    }

    /// What the model reads after the subagent's answer, if anything.
    pub fn note(&self) -> Option<String> {
        match self {
            WorktreeEnd::Removed => None,
            WorktreeEnd::Kept { path, branch } => Some(format!(
                "The agent's changes are in the worktree {} on branch {branch}.",
                path.display()
            )),
            WorktreeEnd::Left {
                path,
                branch,
                reason,
            } => Some(format!(
                "The agent's worktree {} (branch {branch}) was left in place: {reason}",
                path.display()
            )),
        }
    }
}

/// Runs `git args` in `dir`; its trimmed stdout.
async fn git(dir: &Path, args: &[&str]) -> Result<String, WorktreeError> {
    let failed = |reason: String| WorktreeError::Git {
        args: args.join(" "),
        reason,
    };
    let mut cmd = Command::new("git");
    cmd.arg("-C").arg(dir).args(args).kill_on_drop(true);
    let out = tokio::time::timeout(GIT_TIMEOUT, cmd.output())
        .await
        .map_err(|_| failed(format!("no answer within {} s", GIT_TIMEOUT.as_secs())))?
        .map_err(|e| failed(format!("cannot run git: {e}")))?;
    if !out.status.success() {
        return Err(failed(
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Git's own bookkeeping of worktrees (`.git/worktrees/`) is not safe to change from
/// two processes at once: a parallel `worktree add` can read the other's half-made
/// entry. Adding and removing take turns.
static BOOKKEEPING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A new worktree of the repository `cwd` is in, at `under/<id>` on branch
/// `codex-plus/agent-<id>`, starting at the repository's HEAD.
pub async fn create(cwd: &Path, under: &Path, id: &str) -> Result<Worktree, WorktreeError> {
    let top = git(cwd, &["rev-parse", "--show-toplevel"])
        .await
        .map_err(|_| WorktreeError::NotARepo(cwd.to_path_buf()))?;
    let repo = PathBuf::from(top);
    let base = git(&repo, &["rev-parse", "--verify", "HEAD"])
        .await
        .map_err(|_| WorktreeError::NoCommit(repo.clone()))?;
    let path = under.join(id);
    let branch = format!("codex-plus/agent-{id}");
    let target = path.to_string_lossy().into_owned();
    {
        let _turn = BOOKKEEPING.lock().await;
        git(
            &repo,
            &["worktree", "add", "--quiet", "-b", &branch, &target, &base],
        )
        .await?;
    }
    // The same place in the worktree; symlinks resolved, as git reports the top.
    let inner = std::fs::canonicalize(cwd)
        .ok()
        .and_then(|real| real.strip_prefix(&repo).ok().map(Path::to_path_buf))
        .unwrap_or_default();
    let cwd = Some(path.join(&inner))
        .filter(|p| p.is_dir())
        .unwrap_or_else(|| path.clone());
    Ok(Worktree {
        path,
        cwd,
        branch,
        repo,
        base,
        by_hook: false,
    })
}

/// The worktree WorktreeCreate hooks made: the path they printed, which must be an
/// existing absolute directory. `errors`: what the hooks' runs reported.
pub fn from_hook(printed: Option<String>, errors: &[String]) -> Result<Worktree, WorktreeError> {
    let why = |what: String| {
        let detail = errors.join("; ");
        WorktreeError::Hook(if detail.is_empty() {
            what
        } else {
            format!("{what} ({detail})")
        })
    };
    let printed = printed.ok_or_else(|| why("no path on stdout".into()))?;
    let path = PathBuf::from(&printed);
    if !path.is_absolute() || !path.is_dir() {
        return Err(why(format!(
            "`{printed}` is not an absolute path to a directory"
        )));
    }
    Ok(Worktree {
        cwd: path.clone(),
        branch: String::new(),
        repo: PathBuf::new(),
        base: String::new(),
        by_hook: true,
        path,
    })
}

impl Worktree {
    /// Whether the subagent changed anything: files, or commits on its branch. A
    /// worktree git cannot read (a hook made it outside git) is an error.
    async fn changed(&self) -> Result<bool, String> {
        let status = git(&self.path, &["status", "--porcelain"]).await;
        let head = git(&self.path, &["rev-parse", "HEAD"]).await;
        match (status, head) {
            (Ok(status), Ok(head)) => {
                Ok(!status.is_empty() || (!self.by_hook && head != self.base))
            }
            (Err(e), _) | (_, Err(e)) => Err(format!("cannot check it for changes: {e}")),
        }
    }

    /// Removes the worktree and its branch (one the hooks made, they removed).
    async fn remove(&self) -> WorktreeEnd {
        if self.by_hook {
            return WorktreeEnd::Removed;
        }
        let target = self.path.to_string_lossy().into_owned();
        let _turn = BOOKKEEPING.lock().await;
        if let Err(e) = git(&self.repo, &["worktree", "remove", "--force", &target]).await {
            return self.left(e.to_string());
        }
        if let Err(e) = git(&self.repo, &["branch", "-D", &self.branch]).await {
            tracing::warn!(branch = %self.branch, "the worktree's branch could not be removed: {e}");
        }
        WorktreeEnd::Removed
    }

    /// Kept, because it has changes.
    fn kept(&self) -> WorktreeEnd {
        WorktreeEnd::Kept {
            path: self.path.clone(),
            branch: self.branch.clone(),
        }
    }

    /// Kept, because of `reason`.
    fn left(&self, reason: String) -> WorktreeEnd {
        WorktreeEnd::Left {
            path: self.path.clone(),
            branch: self.branch.clone(),
            reason,
        }
    }

    /// The end of its subagent: removed when unchanged, `before_remove` (the
    /// WorktreeRemove hooks) first; else kept.
    pub async fn finish<F: std::future::Future<Output = ()>>(
        self,
        before_remove: impl FnOnce(&Path) -> F,
    ) -> WorktreeEnd {
        match self.changed().await {
            Ok(false) => {
                before_remove(&self.path).await;
                self.remove().await
            }
            Ok(true) => self.kept(),
            Err(reason) => self.left(reason),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo(dir: &Path) {
        for args in [
            vec!["init", "-q"],
            vec![
                "-c",
                "user.name=t",
                "-c",
                "user.email=t@t",
                "commit",
                "-q",
                "--allow-empty",
                "-m",
                "start",
            ],
        ] {
            let ok = std::process::Command::new("git")
                .arg("-C")
                .arg(dir)
                .args(&args)
                .status()
                .unwrap()
                .success();
            assert!(ok, "git {args:?}");
        }
    }

    #[tokio::test]
    async fn an_unchanged_worktree_goes_and_a_changed_one_stays() {
        let tmp = tempfile::tempdir().unwrap();
        let ws = tmp.path().join("ws");
        std::fs::create_dir_all(ws.join("src")).unwrap();
        repo(&ws);
        let under = tmp.path().join("state/worktrees");

        let clean = create(&ws.join("src"), &under, "t1").await.unwrap();
        assert_eq!(clean.path, under.join("t1"));
        assert_eq!(clean.branch, "codex-plus/agent-t1");
        // `src` is empty, so git has no such folder in the worktree.
        assert_eq!(clean.cwd, under.join("t1"));
        assert_eq!(
            clean.clone().finish(|_| async {}).await,
            WorktreeEnd::Removed
        );
        assert!(!clean.path.exists());
        let branches = git(&ws, &["branch", "--list", "codex-plus/*"])
            .await
            .unwrap();
        assert!(branches.is_empty(), "{branches}");

        let dirty = create(&ws, &under, "t2").await.unwrap();
        std::fs::write(dirty.cwd.join("new.txt"), "x").unwrap();
        let end = dirty.clone().finish(|_| async {}).await;
        assert_eq!(
            end,
            WorktreeEnd::Kept {
                path: under.join("t2"),
                branch: "codex-plus/agent-t2".into()
            }
        );
        assert!(end
            .note()
            .unwrap()
            .contains("on branch codex-plus/agent-t2"));
        assert!(dirty.path.join("new.txt").exists());
        assert!(
            !ws.join("new.txt").exists(),
            "the main checkout is untouched"
        );
    }

    #[test]
    fn a_hooks_worktree_is_the_directory_it_printed() {
        let tmp = tempfile::tempdir().unwrap();
        let tree = from_hook(Some(tmp.path().display().to_string()), &[]).unwrap();
        assert_eq!(tree.cwd, tmp.path());
        let e = from_hook(None, &["hook `mk` exited with code 1".into()]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "the WorktreeCreate hooks made no worktree: no path on stdout (hook `mk` exited with code 1)"
        );
        let e = from_hook(Some("relative/dir".into()), &[]).unwrap_err();
        assert!(
            e.to_string()
                .contains("`relative/dir` is not an absolute path"),
            "{e}"
        );
    }

    #[tokio::test]
    async fn outside_a_repository_or_before_a_commit_is_a_clear_error() {
        let tmp = tempfile::tempdir().unwrap();
        let plain = tmp.path().join("plain");
        std::fs::create_dir_all(&plain).unwrap();
        let e = create(&plain, &tmp.path().join("wt"), "t")
            .await
            .unwrap_err();
        assert!(matches!(e, WorktreeError::NotARepo(_)), "{e}");
        assert!(e.to_string().contains("needs a git repository"), "{e}");

        std::process::Command::new("git")
            .arg("-C")
            .arg(&plain)
            .args(["init", "-q"])
            .status()
            .unwrap();
        let e = create(&plain, &tmp.path().join("wt"), "t")
            .await
            .unwrap_err();
        assert!(matches!(e, WorktreeError::NoCommit(_)), "{e}");
    }
}
