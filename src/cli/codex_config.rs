//! `codex-plus codex-config [--install]`: the `~/.codex/config.toml` lines that point
//! Codex at the proxy, in API-key mode and in ChatGPT-login mode (current Codex
//! ignores `OPENAI_BASE_URL`, so it has to be its config file).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use toml_edit::{value, DocumentMut, Item, Table};

use super::CliError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// An API key (OPENAI_API_KEY) through a custom model provider.
    Api,
    /// ChatGPT login (auth.json) through the built-in provider, over HTTPS.
    Chatgpt,
}

const PROVIDER: &str = "codexplus";

/// The address Codex should dial: a wildcard listen address is reached on loopback.
fn dial(listen: SocketAddr) -> String {
    if listen.ip().is_unspecified() {
        format!("127.0.0.1:{}", listen.port())
    } else {
        listen.to_string()
    }
}

/// The config lines for one mode.
pub fn snippet(mode: Mode, listen: SocketAddr) -> String {
    let host = dial(listen);
    match mode {
        Mode::Api => format!(
            "model_provider = \"{PROVIDER}\"\n\n[model_providers.{PROVIDER}]\nname = \"codex-plus\"\nbase_url = \"http://{host}/v1\"\nenv_key = \"OPENAI_API_KEY\"\nwire_api = \"responses\"\n"
        ),
        Mode::Chatgpt => format!(
            "openai_base_url = \"https://{host}/backend-api/codex\"\nchatgpt_base_url = \"https://{host}/backend-api/\"\n"
        ),
    }
}

/// What `codex-plus codex-config` prints: both modes, with the one extra step each needs.
pub fn render(listen: SocketAddr, ca_cert: &Path) -> String {
    format!(
        "# ~/.codex/config.toml for codex-plus (or run: codex-plus codex-config --install)\n\
         \n\
         # --- API-key mode: Codex sends OPENAI_API_KEY; the proxy relays to the OpenAI API.\n\
         {api}\n\
         # --- ChatGPT-login mode: Codex uses ~/.codex/auth.json; HTTPS with the local CA.\n\
         {chatgpt}\
         # and in the shell that runs codex:\n\
         #   export CODEX_CA_CERTIFICATE={ca}\n",
        api = snippet(Mode::Api, listen),
        chatgpt = snippet(Mode::Chatgpt, listen),
        ca = ca_cert.display(),
    )
}

/// The mode that fits how the user signed in: ChatGPT tokens in auth.json mean ChatGPT mode.
pub fn detect_mode(codex_home: &Path) -> Mode {
    let auth = std::fs::read_to_string(codex_home.join("auth.json")).unwrap_or_default();
    match serde_json::from_str::<serde_json::Value>(&auth) {
        Ok(v) if v.get("tokens").is_some_and(|t| !t.is_null()) => Mode::Chatgpt,
        _ => Mode::Api,
    }
}

pub struct Installed {
    pub path: PathBuf,
    pub backup: Option<PathBuf>,
}

/// Writes the mode's settings into `<codex_home>/config.toml`, keeping every other
/// setting and comment, after copying the old file aside.
pub fn install(codex_home: &Path, mode: Mode, listen: SocketAddr) -> Result<Installed, CliError> {
    let path = codex_home.join("config.toml");
    let old = match std::fs::read_to_string(&path) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            return Err(CliError::Other(format!(
                "cannot read {}: {e}",
                path.display()
            )))
        }
    };
    let mut doc: DocumentMut = old
        .as_deref()
        .unwrap_or("")
        .parse()
        .map_err(|e| CliError::Other(format!("{} is not valid TOML: {e}", path.display())))?;
    apply(&mut doc, mode, listen);

    std::fs::create_dir_all(codex_home)
        .map_err(|e| CliError::Other(format!("cannot create {}: {e}", codex_home.display())))?;
    let backup = match old {
        Some(text) => {
            let stamp = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            let backup = codex_home.join(format!("config.toml.codex-plus-backup-{stamp}"));
            std::fs::write(&backup, text)
                .map_err(|e| CliError::Other(format!("cannot write {}: {e}", backup.display())))?;
            Some(backup)
        }
        None => None,
    };
    std::fs::write(&path, doc.to_string())
        .map_err(|e| CliError::Other(format!("cannot write {}: {e}", path.display())))?;
    Ok(Installed { path, backup })
}

fn apply(doc: &mut DocumentMut, mode: Mode, listen: SocketAddr) {
    let host = dial(listen);
    match mode {
        Mode::Api => {
            doc["model_provider"] = value(PROVIDER);
            let providers = doc
                .entry("model_providers")
                .or_insert(Item::Table(Table::new()));
            if let Some(providers) = providers.as_table_mut() {
                providers.set_implicit(true);
                let mut p = Table::new();
                p["name"] = value("codex-plus");
                p["base_url"] = value(format!("http://{host}/v1"));
                p["env_key"] = value("OPENAI_API_KEY");
                p["wire_api"] = value("responses");
                providers.insert(PROVIDER, Item::Table(p));
            }
        }
        Mode::Chatgpt => {
            // The built-in provider must be the one in use for ChatGPT login.
            if doc.get("model_provider").and_then(|v| v.as_str()) == Some(PROVIDER) {
                doc.remove("model_provider");
            }
            doc["openai_base_url"] = value(format!("https://{host}/backend-api/codex"));
            doc["chatgpt_base_url"] = value(format!("https://{host}/backend-api/"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr() -> SocketAddr {
        "127.0.0.1:10000".parse().unwrap()
    }

    #[test]
    fn snippets_are_valid_toml_with_the_right_urls() {
        let api: toml::Table = snippet(Mode::Api, addr()).parse().unwrap();
        assert_eq!(api["model_provider"].as_str(), Some("codexplus"));
        assert_eq!(
            api["model_providers"]["codexplus"]["base_url"].as_str(),
            Some("http://127.0.0.1:10000/v1")
        );
        let chat: toml::Table = snippet(Mode::Chatgpt, "0.0.0.0:9".parse().unwrap())
            .parse()
            .unwrap();
        assert_eq!(
            chat["openai_base_url"].as_str(),
            Some("https://127.0.0.1:9/backend-api/codex")
        );
        assert_eq!(
            chat["chatgpt_base_url"].as_str(),
            Some("https://127.0.0.1:9/backend-api/")
        );
        assert!(
            render(addr(), Path::new("/h/ca/ca.pem")).contains("CODEX_CA_CERTIFICATE=/h/ca/ca.pem")
        );
    }

    #[test]
    fn install_keeps_other_settings_and_comments_and_backs_up() {
        let dir = tempfile::tempdir().unwrap();
        let original = "# my settings\nmodel = \"gpt-5.5\"\n\n[mcp_servers.x]\ncommand = \"y\"\n";
        std::fs::write(dir.path().join("config.toml"), original).unwrap();
        let done = install(dir.path(), Mode::Api, addr()).unwrap();
        let text = std::fs::read_to_string(&done.path).unwrap();
        assert!(text.contains("# my settings"));
        let t: toml::Table = text.parse().unwrap();
        assert_eq!(t["model"].as_str(), Some("gpt-5.5"));
        assert_eq!(t["mcp_servers"]["x"]["command"].as_str(), Some("y"));
        assert_eq!(t["model_provider"].as_str(), Some("codexplus"));
        assert_eq!(
            std::fs::read_to_string(done.backup.unwrap()).unwrap(),
            original
        );

        // Switching to ChatGPT mode drops the custom provider selection.
        install(dir.path(), Mode::Chatgpt, addr()).unwrap();
        let t: toml::Table = std::fs::read_to_string(dir.path().join("config.toml"))
            .unwrap()
            .parse()
            .unwrap();
        assert!(t.get("model_provider").is_none());
        assert!(t["openai_base_url"]
            .as_str()
            .unwrap()
            .starts_with("https://"));
        assert_eq!(t["model"].as_str(), Some("gpt-5.5"));
    }

    #[test]
    fn install_into_an_empty_home_and_detect_mode() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("codex");
        let done = install(&home, Mode::Api, addr()).unwrap();
        assert!(done.backup.is_none());
        assert_eq!(detect_mode(&home), Mode::Api);
        std::fs::write(home.join("auth.json"), r#"{"tokens":{"id_token":"x"}}"#).unwrap();
        assert_eq!(detect_mode(&home), Mode::Chatgpt);
    }

    #[test]
    fn invalid_existing_config_is_reported_not_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.toml"), "model = [").unwrap();
        let err = install(dir.path(), Mode::Api, addr())
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("not valid TOML"), "{err}");
        assert_eq!(
            std::fs::read_to_string(dir.path().join("config.toml")).unwrap(),
            "model = ["
        );
    }
}
