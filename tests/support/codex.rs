//! Runs the real Codex CLI (`codex exec`) against the proxy. `scripts/install-codex.sh`
//! installs every pinned version into `.tools/codex-<version>`; `CODEX_E2E_VERSION`
//! picks the one a test run drives (the oldest pinned one by default). A missing binary
//! fails the test with the install instruction rather than skipping it.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::{json, Value};

/// The pinned Codex versions, oldest first: the oldest supported and the newest on npm.
/// The same list as `PINNED` in `scripts/install-codex.sh` (checked by [`version`]).
pub const PINNED: &[&str] = &["0.169.0", "0.171.0"];

/// The Codex version this run drives: `CODEX_E2E_VERSION`, or the oldest pinned one.
pub fn version() -> String {
    let script = include_str!("../../scripts/install-codex.sh");
    let pinned = script
        .lines()
        .find_map(|l| l.strip_prefix("PINNED="))
        .map(|v| v.trim_matches('"').split_whitespace().collect::<Vec<_>>());
    assert_eq!(
        pinned.as_deref(),
        Some(PINNED),
        "tests/support/codex.rs PINNED and scripts/install-codex.sh PINNED differ"
    );
    match std::env::var("CODEX_E2E_VERSION") {
        Ok(v) if !v.trim().is_empty() => v.trim().to_string(),
        _ => PINNED[0].to_string(),
    }
}

/// The Codex binary: `CODEX_BIN`, or where `scripts/install-codex.sh` puts [`version`].
pub fn binary() -> PathBuf {
    if let Some(bin) = std::env::var_os("CODEX_BIN") {
        return PathBuf::from(bin);
    }
    let version = version();
    let (pkg, triple) = match std::env::consts::ARCH {
        "aarch64" => ("codex-linux-arm64", "aarch64-unknown-linux-musl"),
        _ => ("codex-linux-x64", "x86_64-unknown-linux-musl"),
    };
    let dir = format!(".tools/codex-{version}");
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(&dir)
        .join("node_modules/@openai")
        .join(pkg)
        .join("vendor")
        .join(triple)
        .join("bin/codex");
    let install = if PINNED.contains(&version.as_str()) {
        "scripts/install-codex.sh".to_string()
    } else {
        format!("CODEX_VERSION={version} scripts/install-codex.sh")
    };
    assert!(
        path.exists(),
        "the Codex CLI {version} is not installed at {}.\n\
         Install it with: {install}   (npm install @openai/codex@{version} into {dir})\n\
         or point CODEX_BIN at a codex {version} binary. \
         (CODEX_E2E_VERSION picks the version; pinned: {})",
        path.display(),
        PINNED.join(", ")
    );
    path
}

/// A Codex home and a workspace, configured to reach the proxy.
pub struct Codex {
    pub home: tempfile::TempDir,
    pub workspace: tempfile::TempDir,
    env: Vec<(String, String)>,
}

/// What one `codex exec --json` printed.
#[derive(Debug)]
pub struct Run {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
    pub events: Vec<Value>,
}

impl Codex {
    /// API-key mode: Codex reaches a custom model provider declared in its
    /// `config.toml` (`model_provider` and `[model_providers.<id>]` with `base_url`,
    /// `env_key` and `wire_api = "responses"`), sending the key from `env_key` as a
    /// bearer token; retries are off so failures show at once.
    pub fn api_mode(proxy: SocketAddr) -> Codex {
        let codex = Codex::empty();
        std::fs::write(
            codex.home.path().join("config.toml"),
            format!(
                "model_provider = \"codexplus\"\n\
                 [model_providers.codexplus]\n\
                 name = \"codex-plus\"\n\
                 base_url = \"http://{proxy}/v1\"\n\
                 env_key = \"OPENAI_API_KEY\"\n\
                 wire_api = \"responses\"\n\
                 request_max_retries = 0\n\
                 stream_max_retries = 0\n"
            ),
        )
        .unwrap();
        codex.with_env("OPENAI_API_KEY", "sk-test-key")
    }

    /// ChatGPT-login mode over HTTPS, trusting the proxy's CA, with a fake login.
    /// (The built-in provider cannot be reconfigured, so its retries stay on.)
    pub fn chatgpt_mode(proxy: SocketAddr, ca_cert: &Path) -> Codex {
        let codex = Codex::empty();
        let port = proxy.port();
        std::fs::write(
            codex.home.path().join("config.toml"),
            format!(
                "openai_base_url = \"https://127.0.0.1:{port}/backend-api/codex\"\n\
                 chatgpt_base_url = \"https://127.0.0.1:{port}/backend-api/\"\n"
            ),
        )
        .unwrap();
        std::fs::write(
            codex.home.path().join("auth.json"),
            fake_chatgpt_auth().to_string(),
        )
        .unwrap();
        codex.with_env("CODEX_CA_CERTIFICATE", &ca_cert.display().to_string())
    }

    fn empty() -> Codex {
        Codex {
            home: tempfile::tempdir().unwrap(),
            workspace: tempfile::tempdir().unwrap(),
            env: Vec::new(),
        }
    }

    pub fn with_env(mut self, key: &str, value: &str) -> Codex {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    pub fn workspace(&self) -> &Path {
        self.workspace.path()
    }

    /// `codex exec --json` in the workspace: sandbox and approvals off, stdin closed.
    pub async fn exec(&self, prompt: &str, extra: &[&str]) -> Run {
        let mut args: Vec<&str> = vec![
            "exec",
            "--json",
            "--skip-git-repo-check",
            "--dangerously-bypass-approvals-and-sandbox",
        ];
        args.extend_from_slice(extra);
        args.push(prompt);
        self.run(&args).await
    }

    /// `codex exec ... resume --last PROMPT`: the next turn of the latest session.
    pub async fn exec_resume_last(&self, prompt: &str, extra: &[&str]) -> Run {
        let mut args: Vec<&str> = vec![
            "exec",
            "--json",
            "--skip-git-repo-check",
            "--dangerously-bypass-approvals-and-sandbox",
        ];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["resume", "--last", prompt]);
        self.run(&args).await
    }

    /// `codex exec --json` in the workspace under Codex's sandbox `mode`
    /// (`read-only`, `workspace-write`), approvals never asked, stdin closed.
    pub async fn exec_sandboxed(&self, prompt: &str, mode: &str, extra: &[&str]) -> Run {
        let mut args: Vec<&str> =
            vec!["exec", "--json", "--skip-git-repo-check", "--sandbox", mode];
        args.extend_from_slice(extra);
        args.push(prompt);
        self.run(&args).await
    }

    /// Any codex command line, with this home and workspace.
    pub async fn run(&self, args: &[&str]) -> Run {
        let mut cmd = tokio::process::Command::new(binary());
        cmd.args(args)
            .current_dir(self.workspace.path())
            .env("CODEX_HOME", self.home.path())
            .env_remove("OPENAI_API_KEY")
            .env_remove("CODEX_API_KEY")
            .env_remove("OPENAI_BASE_URL")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("codex starts");
        let out = tokio::time::timeout(Duration::from_secs(90), child.wait_with_output())
            .await
            .expect("codex exec finished within 90 s")
            .expect("codex exec ran");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let events = stdout
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .collect();
        Run {
            success: out.status.success(),
            stdout,
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            events,
        }
    }
}

impl Run {
    /// Items Codex completed, of one `item.type`.
    pub fn items(&self, kind: &str) -> Vec<&Value> {
        self.events
            .iter()
            .filter(|e| e["type"] == "item.completed" && e["item"]["type"] == kind)
            .map(|e| &e["item"])
            .collect()
    }

    pub fn agent_messages(&self) -> Vec<String> {
        self.items("agent_message")
            .iter()
            .filter_map(|i| i["text"].as_str().map(str::to_string))
            .collect()
    }

    pub fn last_message(&self) -> Option<String> {
        self.agent_messages().pop()
    }

    /// The turn ended with `turn.completed` (not `turn.failed` / `error`).
    pub fn turn_completed(&self) -> bool {
        self.events.iter().any(|e| e["type"] == "turn.completed")
    }

    /// The error message of the turn, which must have failed.
    pub fn failure_message(&self) -> String {
        assert!(!self.turn_completed(), "{}", self.dump());
        let failure = self
            .events
            .iter()
            .find(|e| e["type"] == "turn.failed")
            .unwrap_or_else(|| panic!("turn.failed expected\n{}", self.dump()));
        failure["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Everything Codex printed, for assertion messages.
    pub fn dump(&self) -> String {
        format!(
            "success: {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.success, self.stdout, self.stderr
        )
    }
}

/// An `auth.json` as ChatGPT login writes it. Codex does not verify the token
/// signatures, so unsigned JWTs with the right claims are enough.
pub fn fake_chatgpt_auth() -> Value {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = json!({
        "email": "test@example.com",
        "exp": now + 86_400 * 30,
        "iat": now,
        "https://api.openai.com/auth": {
            "chatgpt_plan_type": "plus",
            "chatgpt_account_id": "acct_test",
            "chatgpt_user_id": "user_test",
            "user_id": "user_test",
        },
    });
    let jwt = format!(
        "{}.{}.{}",
        b64(&json!({"alg": "none", "typ": "JWT"}).to_string()),
        b64(&claims.to_string()),
        b64("sig")
    );
    json!({
        "OPENAI_API_KEY": null,
        "tokens": {
            "id_token": jwt,
            "access_token": jwt,
            "refresh_token": "rt_test",
            "account_id": "acct_test",
        },
        "last_refresh": time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap(),
    })
}

fn b64(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
}
