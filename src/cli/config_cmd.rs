//! `codex-plus config [--get KEY]`: the effective configuration (defaults, user file,
//! env and flags applied) as TOML, or one value by its dotted key (`server.listen`).
//!
//! Scripts such as `proxy.sh` read settings through this, so every source counts
//! exactly as it does for `serve`.

use toml::{Table, Value};

use crate::config::Config;

/// Why `config` could not answer.
#[derive(Debug, thiserror::Error)]
pub enum ConfigCmdError {
    #[error("unknown configuration key `{key}`: {hint}")]
    UnknownKey { key: String, hint: String },
    #[error("cannot show the configuration as TOML: {0}")]
    Serialize(String),
}

/// The whole effective configuration as a TOML document, headed by where it came from.
pub fn render(config: &Config) -> Result<String, ConfigCmdError> {
    // Straight from the structs, so settings keep the order of config/default.toml.
    let body =
        toml::to_string_pretty(config).map_err(|e| ConfigCmdError::Serialize(e.to_string()))?;
    let home = config.home.display();
    Ok(format!(
        "# codex-plus effective configuration: defaults < {home}/config.toml < env < flags\n\
         # state directory (CODEX_PLUS_HOME, not a file setting): {home}\n\n{body}"
    ))
}

/// One value by dotted key. Strings print bare (for scripts), other values and
/// tables as TOML.
pub fn get(config: &Config, key: &str) -> Result<String, ConfigCmdError> {
    let root = as_table(config)?;
    match lookup(&root, key)? {
        Value::String(s) => Ok(s.clone()),
        Value::Table(t) => {
            let text =
                toml::to_string_pretty(t).map_err(|e| ConfigCmdError::Serialize(e.to_string()))?;
            Ok(text.trim_end().to_string())
        }
        other => Ok(other.to_string()),
    }
}

fn as_table(config: &Config) -> Result<Table, ConfigCmdError> {
    Table::try_from(config).map_err(|e| ConfigCmdError::Serialize(e.to_string()))
}

/// Walks `key` segment by segment; an unknown segment is reported with the keys that
/// exist at that level, so a typo is easy to fix.
fn lookup<'a>(root: &'a Table, key: &str) -> Result<&'a Value, ConfigCmdError> {
    let unknown = |hint: String| ConfigCmdError::UnknownKey {
        key: key.to_string(),
        hint,
    };
    let mut table = root;
    let mut walked: Vec<&str> = Vec::new();
    let mut segments = key.split('.').peekable();
    while let Some(segment) = segments.next() {
        let Some(value) = table.get(segment) else {
            let names: Vec<&str> = table.keys().map(String::as_str).collect();
            let place = if walked.is_empty() {
                "the top-level keys".to_string()
            } else {
                format!("`{}` has", walked.join("."))
            };
            return Err(unknown(format!(
                "{place} {} (see `codex-plus config`)",
                names.join(", ")
            )));
        };
        walked.push(segment);
        if segments.peek().is_none() {
            return Ok(value);
        }
        match value {
            Value::Table(inner) => table = inner,
            _ => {
                return Err(unknown(format!(
                    "`{}` is a single value, not a section",
                    walked.join(".")
                )))
            }
        }
    }
    // `split` yields at least one segment, so the loop always returns.
    Err(unknown("the key is empty".to_string()))
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::*;
    use crate::config::Overrides;

    fn config_with(user: &str) -> Config {
        let mut c = Config::from_sources(Some((Path::new("/u/config.toml"), user))).unwrap();
        c.home = PathBuf::from("/state");
        c
    }

    #[test]
    fn get_prints_strings_bare_and_other_values_as_toml() {
        let c = config_with("[server]\nbody_limit_mb = 7\ntls = false\n");
        assert_eq!(get(&c, "server.listen").unwrap(), "127.0.0.1:10000");
        assert_eq!(get(&c, "server.body_limit_mb").unwrap(), "7");
        assert_eq!(get(&c, "server.tls").unwrap(), "false");
        assert_eq!(
            get(&c, "upstream.openai").unwrap(),
            "https://api.openai.com"
        );
    }

    #[test]
    fn get_of_a_section_prints_its_table() {
        let c = config_with("[upstream]\nidle_timeout_secs = 5\n");
        let text = get(&c, "upstream").unwrap();
        let table: Table = text.parse().unwrap();
        assert_eq!(table["idle_timeout_secs"].as_integer(), Some(5));
        assert_eq!(table["chatgpt"].as_str(), Some("https://chatgpt.com"));
    }

    #[test]
    fn get_sees_the_user_file_and_overrides_as_load_applies_them() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("config.toml"),
            "[server]\nlisten = \"127.0.0.1:1\"\nbody_limit_mb = 3\n",
        )
        .unwrap();
        let c = Config::load(&Overrides {
            home: Some(dir.path().to_path_buf()),
            listen: Some("0.0.0.0:4242".parse().unwrap()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(get(&c, "server.listen").unwrap(), "0.0.0.0:4242");
        assert_eq!(get(&c, "server.body_limit_mb").unwrap(), "3");
    }

    #[test]
    fn unknown_key_names_the_key_and_the_keys_that_exist() {
        let c = config_with("");
        let err = get(&c, "server.lisen").unwrap_err().to_string();
        assert!(err.contains("`server.lisen`"), "{err}");
        assert!(
            err.contains("`server` has allowed_hosts, body_limit_mb, body_progress_timeout_secs,"),
            "{err}"
        );

        let err = get(&c, "sever").unwrap_err().to_string();
        assert!(err.contains("`sever`"), "{err}");
        assert!(
            err.contains("top-level keys") && err.contains("server") && err.contains("upstream"),
            "{err}"
        );

        let err = get(&c, "server.listen.port").unwrap_err().to_string();
        assert!(err.contains("`server.listen` is a single value"), "{err}");

        let err = get(&c, "").unwrap_err().to_string();
        assert!(err.contains("unknown configuration key ``"), "{err}");
    }

    #[test]
    fn render_is_a_config_file_that_reproduces_itself() {
        let c = config_with(
            "[server]\nlisten = \"127.0.0.1:1234\"\n[upstream]\nopenai = \"http://x\"\n",
        );
        let text = render(&c).unwrap();
        assert!(
            text.starts_with("# codex-plus effective configuration"),
            "{text}"
        );
        assert!(text.contains("/state/config.toml"), "{text}");
        let again = config_with(&text);
        assert_eq!(render(&again).unwrap(), text);
        assert_eq!(get(&again, "server.listen").unwrap(), "127.0.0.1:1234");
        assert_eq!(get(&again, "upstream.openai").unwrap(), "http://x");
    }
}
