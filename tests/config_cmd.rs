//! `codex-plus config` through the real binary: every source counts, in order
//! (defaults < user file < env < flags), and an unknown key fails by name.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed assumption is a failed test

use std::path::Path;
use std::process::{Command, Output};

fn config(home: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_codex-plus"));
    cmd.env_remove("CODEX_PLUS_LISTEN")
        .env_remove("CODEX_PLUS_OPENAI_UPSTREAM")
        .env_remove("CODEX_PLUS_CHATGPT_UPSTREAM")
        .env("CODEX_PLUS_HOME", home)
        .envs(env.iter().copied())
        .args(args);
    cmd.output().expect("codex-plus runs")
}

fn stdout(out: &Output) -> String {
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout).trim_end().to_string()
}

#[test]
fn get_follows_defaults_then_user_file_then_env_then_flag() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let get = ["config", "--get", "server.listen"];

    assert_eq!(stdout(&config(h, &[], &get)), "127.0.0.1:10000");

    std::fs::write(
        h.join("config.toml"),
        "[server]\nlisten = \"127.0.0.1:2001\"\n",
    )
    .unwrap();
    assert_eq!(stdout(&config(h, &[], &get)), "127.0.0.1:2001");

    let env = [("CODEX_PLUS_LISTEN", "127.0.0.1:2002")];
    assert_eq!(stdout(&config(h, &env, &get)), "127.0.0.1:2002");

    let with_flag = [
        "--listen",
        "127.0.0.1:2003",
        "config",
        "--get",
        "server.listen",
    ];
    assert_eq!(stdout(&config(h, &env, &with_flag)), "127.0.0.1:2003");
}

#[test]
fn the_whole_configuration_prints_as_toml_with_the_effective_values() {
    let home = tempfile::tempdir().unwrap();
    let env = [("CODEX_PLUS_OPENAI_UPSTREAM", "http://127.0.0.1:9")];
    let text = stdout(&config(home.path(), &env, &["config"]));
    let table: toml::Table = text.parse().expect("valid TOML");
    assert_eq!(
        table["upstream"]["openai"].as_str(),
        Some("http://127.0.0.1:9")
    );
    assert_eq!(table["server"]["tls"].as_bool(), Some(true));
    assert!(text.contains(&home.path().display().to_string()), "{text}");
}

#[test]
fn an_unknown_key_fails_naming_it() {
    let home = tempfile::tempdir().unwrap();
    let out = config(home.path(), &[], &["config", "--get", "server.port"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("`server.port`"), "{err}");
    assert!(err.contains("listen"), "{err}");
    assert!(out.stdout.is_empty());
}
