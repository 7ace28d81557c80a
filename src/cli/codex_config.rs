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

impl Mode {
    /// The mode in plain words, for messages.
    pub fn words(self) -> &'static str {
        match self {
            Mode::Api => "API-key mode",
            Mode::Chatgpt => "ChatGPT-login mode",
        }
    }
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

/// The top-level keys of one mode, then its tables (TOML puts every key after a
/// table header inside that table, so keys must come first).
fn parts(mode: Mode, listen: SocketAddr) -> (String, String) {
    let host = dial(listen);
    match mode {
        Mode::Api => (
            format!("model_provider = \"{PROVIDER}\"\n"),
            format!(
                "[model_providers.{PROVIDER}]\nname = \"codex-plus\"\nbase_url = \"http://{host}/v1\"\nenv_key = \"OPENAI_API_KEY\"\nwire_api = \"responses\"\n"
            ),
        ),
        Mode::Chatgpt => (
            format!(
                "openai_base_url = \"https://{host}/backend-api/codex\"\nchatgpt_base_url = \"https://{host}/backend-api/\"\n"
            ),
            String::new(),
        ),
    }
}

/// The config lines for one mode.
pub fn snippet(mode: Mode, listen: SocketAddr) -> String {
    let (keys, tables) = parts(mode, listen);
    if tables.is_empty() {
        keys
    } else {
        format!("{keys}\n{tables}")
    }
}

/// What `codex-plus codex-config [--mode M]` prints: valid TOML when pasted whole.
/// One mode when asked; else API-key mode, with ChatGPT-login mode's lines as
/// comments to use instead (two modes at once would contradict each other).
pub fn render(mode: Option<Mode>, listen: SocketAddr, ca_cert: &Path) -> String {
    let ca = format!(
        "# and in the shell that runs codex:\n#   export CODEX_CA_CERTIFICATE={}\n",
        ca_cert.display()
    );
    let head = "# ~/.codex/config.toml for codex-plus (or let `codex-plus codex-config --install` write it)\n";
    match mode {
        Some(Mode::Api) => format!(
            "{head}# {}: Codex sends OPENAI_API_KEY; the proxy relays to the OpenAI API.\n{}",
            Mode::Api.words(),
            snippet(Mode::Api, listen)
        ),
        Some(Mode::Chatgpt) => format!(
            "{head}# {}: Codex uses ~/.codex/auth.json, over HTTPS with the proxy's local CA.\n{}{ca}",
            Mode::Chatgpt.words(),
            snippet(Mode::Chatgpt, listen)
        ),
        None => {
            let (api_keys, api_tables) = parts(Mode::Api, listen);
            let (chat_keys, _) = parts(Mode::Chatgpt, listen);
            let chat: String = chat_keys.lines().map(|l| format!("# {l}\n")).collect();
            format!(
                "{head}# Two modes; --mode api or --mode chatgpt prints one alone.\n\n\
                 # --- {}: Codex sends OPENAI_API_KEY; the proxy relays to the OpenAI API.\n\
                 {api_keys}\n\
                 # --- {} instead (Codex uses ~/.codex/auth.json, over HTTPS): leave out the\n\
                 # API-key lines above and below, and use these:\n\
                 {chat}{ca}\n\
                 {api_tables}",
                Mode::Api.words(),
                Mode::Chatgpt.words(),
            )
        }
    }
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
    /// False when the file already held these settings: nothing was written.
    pub changed: bool,
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
    let text = doc.to_string();
    if old.as_deref() == Some(text.as_str()) {
        return Ok(Installed {
            path,
            backup: None,
            changed: false,
        });
    }

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
    std::fs::write(&path, text)
        .map_err(|e| CliError::Other(format!("cannot write {}: {e}", path.display())))?;
    Ok(Installed {
        path,
        backup,
        changed: true,
    })
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
    }

    #[test]
    fn the_printed_config_is_valid_toml_pasted_whole_in_each_form() {
        let ca = Path::new("/h/ca/ca.pem");
        let both: toml::Table = render(None, addr(), ca).parse().unwrap();
        assert_eq!(
            both["model_provider"].as_str(),
            Some("codexplus"),
            "a top-level key, not in the table"
        );
        let provider = both["model_providers"]["codexplus"].as_table().unwrap();
        assert_eq!(
            provider["base_url"].as_str(),
            Some("http://127.0.0.1:10000/v1")
        );
        assert!(!provider.contains_key("openai_base_url"));
        assert!(
            both.get("openai_base_url").is_none(),
            "the other mode is a comment"
        );
        let text = render(None, addr(), ca);
        assert!(text.contains("# openai_base_url = \"https://127.0.0.1:10000/backend-api/codex\""));
        assert!(text.contains("CODEX_CA_CERTIFICATE=/h/ca/ca.pem"));
        assert!(text.contains("API-key mode") && text.contains("ChatGPT-login mode"));

        let chat: toml::Table = render(Some(Mode::Chatgpt), addr(), ca).parse().unwrap();
        assert_eq!(chat.len(), 2, "{chat:?}");
        assert!(chat.get("model_provider").is_none());
        let api_text = render(Some(Mode::Api), addr(), ca);
        let api: toml::Table = api_text.parse().unwrap();
        assert_eq!(api["model_provider"].as_str(), Some("codexplus"));
        assert!(!api_text.contains("CODEX_CA_CERTIFICATE"));
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
        assert!(done.changed);

        // Again: the file already says so; nothing written, no backup.
        let again = install(dir.path(), Mode::Api, addr()).unwrap();
        assert!(!again.changed && again.backup.is_none());
        let backups = std::fs::read_dir(dir.path())
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .contains("backup")
            })
            .count();
        assert_eq!(backups, 1);

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
