//! Shared by the integration and end-to-end tests: the mock upstream, an in-process
//! proxy, and a runner for the real Codex CLI.

#![allow(dead_code)]

pub mod codex;
pub mod logs;
pub mod mock;
pub mod stack;

use std::path::Path;

use codex_plus::cli::serve::{start, Running};
use codex_plus::config::Config;

/// A proxy in this process, listening on a free loopback port, relaying both
/// backends to `upstream`, with its state in `home`.
pub async fn proxy(upstream: &str, home: &Path) -> Running {
    proxy_with(upstream, home, |_| {}).await
}

pub async fn proxy_with(upstream: &str, home: &Path, edit: impl FnOnce(&mut Config)) -> Running {
    let mut config = Config::defaults(home.to_path_buf());
    config.server.listen = "127.0.0.1:0".parse().unwrap();
    config.upstream.openai = upstream.to_string();
    config.upstream.chatgpt = upstream.to_string();
    edit(&mut config);
    start(config).await.expect("proxy starts")
}

/// A proxy that only relays: no Task tool, no status line, no commands, no hooks.
pub async fn relay_only(upstream: &str, home: &Path) -> Running {
    proxy_with(upstream, home, |c| {
        c.tasks.enabled = false;
        c.status_line.enabled = false;
        c.commands.enabled = false;
        c.hooks.enabled = false;
    })
    .await
}

/// Logs to the test's output when RUST_LOG is set (`RUST_LOG=debug cargo test ...`).
pub fn init_logs() {
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
    }
}

/// A fresh directory outside every temp directory the workspace-write sandbox lets a
/// command write to (`/tmp`, `$TMPDIR`, `/dev/shm`): a write refused there is the
/// sandbox's doing. The repository itself may be under /tmp (a CI clone), so the
/// first usable of its `target/`, `/var/tmp` and `~/.cache` is taken.
pub fn outside_temp_dirs() -> tempfile::TempDir {
    use codex_plus::engine::tools::sandbox::temp_dirs;
    let candidates = [
        Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("target/sandbox-tests")),
        Some(std::path::PathBuf::from(
            "/var/tmp/codex-plus-sandbox-tests",
        )),
        dirs::home_dir().map(|h| h.join(".cache/codex-plus-sandbox-tests")),
    ];
    let temps = temp_dirs();
    for base in candidates.into_iter().flatten() {
        if std::fs::create_dir_all(&base).is_err() {
            continue;
        }
        let Ok(base) = std::fs::canonicalize(&base) else {
            continue;
        };
        if !temps.iter().any(|t| base.starts_with(t)) {
            return tempfile::tempdir_in(base).unwrap();
        }
    }
    panic!("no writable directory outside the temp directories {temps:?} for the sandbox tests");
}

/// Makes `dir` a git repository with one empty commit.
pub fn git_repo(dir: &std::path::Path) {
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
            .status();
        assert!(
            ok.is_ok_and(|s| s.success()),
            "git {args:?} in {}",
            dir.display()
        );
    }
}
