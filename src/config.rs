//! Typed configuration: `config/default.toml` < `$CODEX_PLUS_HOME/config.toml` < env < flags.
//!
//! The defaults file is compiled in, so it is both the documentation of every
//! setting and the single source of default values.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

const DEFAULTS: &str = include_str!("../config/default.toml");

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    pub upstream: UpstreamConfig,
    /// The state directory (CA, ledger, pid and log files). Not a file setting:
    /// it is where the user file is found.
    #[serde(skip)]
    pub home: PathBuf,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub tls: bool,
    pub body_limit_mb: usize,
    pub shutdown_grace_secs: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamConfig {
    pub openai: String,
    pub chatgpt: String,
    pub connect_timeout_secs: u64,
    pub idle_timeout_secs: u64,
}

impl ServerConfig {
    pub fn body_limit(&self) -> usize {
        self.body_limit_mb.saturating_mul(1024 * 1024)
    }
}

impl UpstreamConfig {
    pub fn idle_timeout(&self) -> Duration {
        Duration::from_secs(self.idle_timeout_secs)
    }
}

/// Values from the environment and the command line; `None` leaves the file's value.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub home: Option<PathBuf>,
    pub listen: Option<SocketAddr>,
    pub openai_upstream: Option<String>,
    pub chatgpt_upstream: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {cause}")]
    Read { path: PathBuf, cause: String },
    #[error("{path} is not valid TOML: {cause}")]
    Syntax { path: PathBuf, cause: String },
    #[error("invalid configuration ({source_desc}): {cause}")]
    Invalid { source_desc: String, cause: String },
    #[error("no home directory: set CODEX_PLUS_HOME")]
    NoHome,
}

impl Config {
    /// The state directory: `CODEX_PLUS_HOME` (via overrides) or `~/.codex-plus`.
    pub fn home_dir(overrides: &Overrides) -> Result<PathBuf, ConfigError> {
        match &overrides.home {
            Some(home) => Ok(home.clone()),
            None => dirs::home_dir()
                .map(|h| h.join(".codex-plus"))
                .ok_or(ConfigError::NoHome),
        }
    }

    pub fn load(overrides: &Overrides) -> Result<Config, ConfigError> {
        let home = Self::home_dir(overrides)?;
        let user_file = home.join("config.toml");
        let user = match std::fs::read_to_string(&user_file) {
            Ok(text) => Some(text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => {
                return Err(ConfigError::Read {
                    path: user_file,
                    cause: e.to_string(),
                })
            }
        };
        let mut config = Self::from_sources(user.as_deref().map(|t| (user_file.as_path(), t)))?;
        config.home = home;
        config.apply(overrides);
        Ok(config)
    }

    /// Defaults merged with an optional user file (path, text). Pure, for tests.
    pub fn from_sources(user: Option<(&Path, &str)>) -> Result<Config, ConfigError> {
        let mut merged: toml::Table =
            DEFAULTS
                .parse()
                .map_err(|e: toml::de::Error| ConfigError::Syntax {
                    path: PathBuf::from("config/default.toml"),
                    cause: e.to_string(),
                })?;
        let mut source_desc = "config/default.toml".to_string();
        if let Some((path, text)) = user {
            let table: toml::Table =
                text.parse()
                    .map_err(|e: toml::de::Error| ConfigError::Syntax {
                        path: path.to_path_buf(),
                        cause: e.message().to_string(),
                    })?;
            merge(&mut merged, table);
            source_desc = format!("{} over the defaults", path.display());
        }
        merged
            .try_into()
            .map_err(|e: toml::de::Error| ConfigError::Invalid {
                source_desc,
                cause: e.message().trim().to_string(),
            })
    }

    fn apply(&mut self, o: &Overrides) {
        if let Some(listen) = o.listen {
            self.server.listen = listen;
        }
        if let Some(url) = &o.openai_upstream {
            self.upstream.openai = url.clone();
        }
        if let Some(url) = &o.chatgpt_upstream {
            self.upstream.chatgpt = url.clone();
        }
    }

    /// Defaults only, with the given home: for tests and tools that need no user file.
    pub fn defaults(home: PathBuf) -> Config {
        let mut config = Self::from_sources(None).expect("config/default.toml is valid");
        config.home = home;
        config
    }
}

/// Deep merge: tables merge key by key, anything else is replaced.
fn merge(base: &mut toml::Table, over: toml::Table) {
    for (key, value) in over {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, v) => {
                base.insert(key, v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_parse_and_match_the_documented_values() {
        let c = Config::from_sources(None).unwrap();
        assert_eq!(c.server.listen, "127.0.0.1:10000".parse().unwrap());
        assert_eq!(c.server.body_limit(), 32 * 1024 * 1024);
        assert_eq!(c.upstream.openai, "https://api.openai.com");
        assert_eq!(c.upstream.chatgpt, "https://chatgpt.com");
    }

    #[test]
    fn user_file_overrides_only_what_it_names() {
        let c = Config::from_sources(Some((
            Path::new("/u/config.toml"),
            "[upstream]\nidle_timeout_secs = 5\n",
        )))
        .unwrap();
        assert_eq!(c.upstream.idle_timeout(), Duration::from_secs(5));
        assert_eq!(c.upstream.openai, "https://api.openai.com");
        assert!(c.server.tls);
    }

    #[test]
    fn unknown_key_is_an_error_that_names_it_and_the_file() {
        let err = Config::from_sources(Some((
            Path::new("/u/config.toml"),
            "[server]\nlisten_addr = \"0.0.0.0:1\"\n",
        )))
        .unwrap_err()
        .to_string();
        assert!(err.contains("listen_addr"), "{err}");
        assert!(err.contains("/u/config.toml"), "{err}");
    }

    #[test]
    fn unknown_section_and_bad_syntax_are_named() {
        let err = Config::from_sources(Some((Path::new("/u/c.toml"), "[sever]\nx=1\n")))
            .unwrap_err()
            .to_string();
        assert!(err.contains("sever"), "{err}");
        let err = Config::from_sources(Some((Path::new("/u/c.toml"), "[server\n")))
            .unwrap_err()
            .to_string();
        assert!(err.contains("/u/c.toml") && err.contains("TOML"), "{err}");
    }

    #[test]
    fn overrides_win_over_files() {
        let mut c = Config::from_sources(None).unwrap();
        c.apply(&Overrides {
            listen: Some("0.0.0.0:9".parse().unwrap()),
            openai_upstream: Some("http://127.0.0.1:1".into()),
            ..Default::default()
        });
        assert_eq!(c.server.listen.port(), 9);
        assert_eq!(c.upstream.openai, "http://127.0.0.1:1");
    }
}
