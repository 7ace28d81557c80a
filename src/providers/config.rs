//! The `[providers]` section of the config file, and how it becomes runtime settings.
//!
//! The file holds no keys: each provider reads its key from an environment variable
//! or from a key file that only its owner can read. Everything here has a built-in
//! default, so an empty section works; entries given replace the defaults they name.
//! Environment lookups go through a closure so tests never touch the process env.

use std::path::{Path, PathBuf};
use std::time::Duration;

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use super::breaker::BreakerConfig;
use super::pricing::{Price, PriceTable};
use super::retry::RetryPolicy;
use super::spec::{self, Target, INHERIT};
use super::transport::Timeouts;
use super::Secret;

/// Reads one environment variable; `None` when unset. Inject a map in tests.
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The real process environment.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// The four built-in provider dialects and their names in `provider:model` specs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProviderKind {
    OpenAi,
    Anthropic,
    Gemini,
    Chat,
}

impl ProviderKind {
    /// Every kind, in the order they are listed to users.
    pub const ALL: [Self; 4] = [Self::OpenAi, Self::Anthropic, Self::Gemini, Self::Chat];

    /// The name used in specs, config sections, logs and breaker snapshots.
    pub fn name(self) -> &'static str {
        match self {
            Self::OpenAi => "openai",
            Self::Anthropic => "anthropic",
            Self::Gemini => "gemini",
            Self::Chat => "chat",
        }
    }

    /// The kind with this name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }

    /// Every provider name.
    pub fn names() -> [&'static str; 4] {
        Self::ALL.map(Self::name)
    }

    fn default_base_url(self) -> Option<&'static str> {
        match self {
            Self::OpenAi => Some("https://api.openai.com/v1"),
            Self::Anthropic => Some("https://api.anthropic.com"),
            Self::Gemini => Some("https://generativelanguage.googleapis.com"),
            // No sensible public default: the user says which server.
            Self::Chat => None,
        }
    }

    /// The env var that overrides the base URL.
    pub fn base_url_env(self) -> &'static str {
        match self {
            Self::OpenAi => "CODEX_PLUS_OPENAI_BASE_URL",
            Self::Anthropic => "CODEX_PLUS_ANTHROPIC_BASE_URL",
            Self::Gemini => "CODEX_PLUS_GEMINI_BASE_URL",
            Self::Chat => "CODEX_PLUS_CHAT_BASE_URL",
        }
    }

    fn default_key_env(self) -> &'static [&'static str] {
        match self {
            Self::OpenAi => &["OPENAI_API_KEY", "CODEX_API_KEY"],
            Self::Anthropic => &["ANTHROPIC_API_KEY"],
            Self::Gemini => &["GEMINI_API_KEY"],
            Self::Chat => &["CODEX_PLUS_CHAT_API_KEY"],
        }
    }
}

/// The `[providers]` section.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProvidersConfig {
    /// `[providers.openai]`: the OpenAI Responses API with an API key.
    pub openai: ProviderSettings,
    /// `[providers.anthropic]`: the Anthropic Messages API.
    pub anthropic: ProviderSettings,
    /// `[providers.gemini]`: the Google Gemini API.
    pub gemini: ProviderSettings,
    /// `[providers.chat]`: an OpenAI-compatible Chat Completions server
    /// (Cerebras, Groq, OpenRouter, Ollama, vLLM). Needs a `base_url`.
    pub chat: ProviderSettings,
    /// `[providers.aliases]`: name → ordered candidates (`provider:model`, `inherit`,
    /// `inherit:model`), tried in order on failure. Replaces a built-in alias of the
    /// same name (`haiku`, `sonnet`, `opus`).
    pub aliases: IndexMap<String, Vec<String>>,
    /// Providers tried in order for a bare model id whose provider its name does not
    /// tell (`claude-*` is Anthropic, `gemini-*` Gemini). Default `["inherit", "openai"]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_providers: Option<Vec<String>>,
    /// `[providers.prices."provider:model"]`: USD per million tokens, for cost
    /// estimates. Adds to or replaces the built-in table.
    pub prices: IndexMap<String, Price>,
    /// `[providers.retry]`: retries of one candidate.
    pub retry: RetrySettings,
    /// `[providers.breaker]`: per-provider circuit breaker.
    pub breaker: BreakerSettings,
    /// `[providers.timeouts]`: per-call timeouts.
    pub timeouts: TimeoutSettings,
}

/// One provider's section. Every field is optional; absent ones take the defaults.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawProviderSettings")]
pub struct ProviderSettings {
    /// API base URL (env `CODEX_PLUS_<PROVIDER>_BASE_URL` wins over this).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// Env vars holding the key, first set one wins (default per provider, e.g.
    /// `ANTHROPIC_API_KEY`). A string or a list.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_key_env: Option<Vec<String>>,
    /// A file holding the key, used when no env var is set. Must be mode 0600 or stricter.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_file: Option<PathBuf>,
    /// Whether calls need a key (default true; false for a local Ollama or vLLM).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub require_key: Option<bool>,
    /// Whether the endpoint accepts images (default true; false for `chat`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub images: Option<bool>,
    /// Output token limit when a request sets none (Anthropic requires one: default 8192).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
}

/// The file shape of `ProviderSettings`, so a key written into the file gets a
/// specific refusal instead of "unknown field".
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProviderSettings {
    #[serde(default)]
    base_url: Option<String>,
    #[serde(default)]
    api_key_env: Option<OneOrMany>,
    #[serde(default)]
    key_file: Option<PathBuf>,
    #[serde(default)]
    require_key: Option<bool>,
    #[serde(default)]
    images: Option<bool>,
    #[serde(default)]
    max_tokens: Option<u32>,
    #[serde(default)]
    api_key: Option<serde::de::IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl TryFrom<RawProviderSettings> for ProviderSettings {
    type Error = String;

    fn try_from(raw: RawProviderSettings) -> Result<Self, String> {
        if raw.api_key.is_some() {
            return Err("`api_key` is not read from the config file, so keys stay out of files that get copied and shared; \
                 set the provider's key variable (e.g. ANTHROPIC_API_KEY), or `api_key_env`, or `key_file` (mode 0600)"
                .into());
        }
        Ok(Self {
            base_url: raw.base_url,
            api_key_env: raw.api_key_env.map(|e| match e {
                OneOrMany::One(one) => vec![one],
                OneOrMany::Many(many) => many,
            }),
            key_file: raw.key_file,
            require_key: raw.require_key,
            images: raw.images,
            max_tokens: raw.max_tokens,
        })
    }
}

/// `[providers.retry]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetrySettings {
    /// Tries per candidate, the first included (default 3).
    pub max_attempts: u32,
    /// Ceiling of the first backoff in ms; doubles per retry (default 500).
    pub base_delay_ms: u64,
    /// Largest backoff ceiling in ms (default 8000).
    pub max_delay_ms: u64,
    /// Longest `Retry-After` slept through, in ms; longer moves on to the next
    /// candidate (default 30000).
    pub max_retry_after_ms: u64,
}

impl Default for RetrySettings {
    fn default() -> Self {
        let p = RetryPolicy::default();
        Self {
            max_attempts: p.max_attempts,
            base_delay_ms: millis(p.base_delay),
            max_delay_ms: millis(p.max_delay),
            max_retry_after_ms: millis(p.max_retry_after),
        }
    }
}

/// `[providers.breaker]`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BreakerSettings {
    /// Rolling window in ms over which the error ratio is measured (default 60000).
    pub window_ms: u64,
    /// Calls needed in the window before the breaker may open (default 5).
    pub min_requests: u32,
    /// Failure share that opens it, 0 < ratio ≤ 1 (default 0.5).
    pub error_ratio: f64,
    /// How long it stays open before one probe, in ms (default 30000; a longer
    /// `Retry-After` from the provider wins).
    pub cooldown_ms: u64,
}

impl Default for BreakerSettings {
    fn default() -> Self {
        let b = BreakerConfig::default();
        Self {
            window_ms: millis(b.window),
            min_requests: b.min_requests,
            error_ratio: b.error_ratio,
            cooldown_ms: millis(b.cooldown),
        }
    }
}

/// `[providers.timeouts]`, all in ms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TimeoutSettings {
    /// TCP + TLS connect (default 10000).
    pub connect_ms: u64,
    /// Request sent → first byte of the answer (default 120000).
    pub first_byte_ms: u64,
    /// Longest silence between chunks (default 300000).
    pub idle_ms: u64,
    /// One whole attempt (default 1800000).
    pub total_ms: u64,
}

impl Default for TimeoutSettings {
    fn default() -> Self {
        let t = Timeouts::default();
        Self {
            connect_ms: millis(t.connect),
            first_byte_ms: millis(t.first_byte),
            idle_ms: millis(t.idle),
            total_ms: millis(t.total),
        }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// A config problem, with where it is and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("providers.{provider}.key_file {}: {problem}", path.display())]
    KeyFile {
        provider: &'static str,
        path: PathBuf,
        problem: String,
    },
    #[error("{origin} = `{url}` is not a usable base URL: {problem}")]
    BaseUrl {
        origin: String,
        url: String,
        problem: String,
    },
    #[error("providers.aliases.{alias}: {problem}")]
    Alias { alias: String, problem: String },
    #[error("providers.{field}: {problem}")]
    Setting {
        field: &'static str,
        problem: String,
    },
    #[error("the {provider} API key: {problem}")]
    Key {
        provider: &'static str,
        problem: String,
    },
    #[error("cannot build the HTTP client for model providers: {0}")]
    Client(String),
}

/// One provider ready to build: where it is and its credentials.
#[derive(Debug, Clone, PartialEq)]
pub struct Endpoint {
    pub kind: ProviderKind,
    /// None when nothing configures one (only `chat` has no default).
    pub base_url: Option<String>,
    /// None when no env var or key file has one.
    pub key: Option<Secret>,
    /// Where a key would be read from, for the "no key" warning.
    pub key_sources: String,
    pub require_key: bool,
    pub images: bool,
    pub max_tokens: Option<u32>,
}

/// The section after defaults, env overrides, key loading and validation.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// One per `ProviderKind`, in `ProviderKind::ALL` order.
    pub endpoints: Vec<Endpoint>,
    /// Lower-case alias name → candidates, built-ins overlaid by the config.
    pub aliases: IndexMap<String, Vec<Target>>,
    /// Provider names (maybe `inherit`) for bare model ids.
    pub default_providers: Vec<String>,
    pub prices: PriceTable,
    pub retry: RetryPolicy,
    pub breaker: BreakerConfig,
    pub timeouts: Timeouts,
}

/// The built-in aliases. Each ends with `inherit`, so a session without other
/// keys still gets an answer from its own model.
pub fn builtin_aliases() -> IndexMap<String, Vec<String>> {
    let alias = |name: &str, first: &str, second: &str| {
        (
            name.to_owned(),
            vec![first.to_owned(), second.to_owned(), INHERIT.to_owned()],
        )
    };
    IndexMap::from([
        alias("haiku", "anthropic:claude-haiku-4-5", "openai:gpt-5-mini"),
        alias("sonnet", "anthropic:claude-sonnet-4-5", "openai:gpt-5"),
        alias("opus", "anthropic:claude-opus-4-5", "openai:gpt-5"),
    ])
}

impl ProvidersConfig {
    /// The settings of one provider's section.
    pub fn settings(&self, kind: ProviderKind) -> &ProviderSettings {
        match kind {
            ProviderKind::OpenAi => &self.openai,
            ProviderKind::Anthropic => &self.anthropic,
            ProviderKind::Gemini => &self.gemini,
            ProviderKind::Chat => &self.chat,
        }
    }

    /// Apply defaults and env overrides, load keys, and check everything.
    pub fn resolve(&self, env: EnvLookup) -> Result<Resolved, ConfigError> {
        let endpoints = ProviderKind::ALL
            .into_iter()
            .map(|kind| endpoint(kind, self.settings(kind), env))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Resolved {
            endpoints,
            aliases: self.aliases()?,
            default_providers: self.default_providers()?,
            prices: {
                let mut prices = PriceTable::builtin();
                prices.extend(self.prices.iter().map(|(k, v)| (k.clone(), *v)));
                prices
            },
            retry: self.retry.policy()?,
            breaker: self.breaker.config()?,
            timeouts: self.timeouts.timeouts()?,
        })
    }

    fn aliases(&self) -> Result<IndexMap<String, Vec<Target>>, ConfigError> {
        let mut merged = builtin_aliases();
        for (name, entries) in &self.aliases {
            merged.insert(name.to_ascii_lowercase(), entries.clone());
        }
        let known = ProviderKind::names();
        merged
            .into_iter()
            .map(|(alias, entries)| {
                if entries.is_empty() {
                    return Err(ConfigError::Alias {
                        alias,
                        problem: "the list is empty; give at least one `provider:model`".into(),
                    });
                }
                let targets = entries
                    .iter()
                    .map(|e| spec::parse_explicit(e, &known))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|problem| ConfigError::Alias {
                        alias: alias.clone(),
                        problem,
                    })?;
                Ok((alias, targets))
            })
            .collect()
    }

    fn default_providers(&self) -> Result<Vec<String>, ConfigError> {
        let Some(list) = &self.default_providers else {
            return Ok(vec![INHERIT.into(), ProviderKind::OpenAi.name().into()]);
        };
        list.iter()
            .map(|p| {
                let p = p.trim().to_ascii_lowercase();
                if p == INHERIT || ProviderKind::from_name(&p).is_some() {
                    Ok(p)
                } else {
                    Err(ConfigError::Setting {
                        field: "default_providers",
                        problem: format!(
                            "unknown provider `{p}`; use {} or inherit",
                            ProviderKind::names().join(", ")
                        ),
                    })
                }
            })
            .collect()
    }
}

impl RetrySettings {
    /// The retry policy, checked.
    pub fn policy(&self) -> Result<RetryPolicy, ConfigError> {
        if self.max_attempts == 0 {
            return Err(ConfigError::Setting {
                field: "retry.max_attempts",
                problem: "must be at least 1 (1 means no retries)".into(),
            });
        }
        Ok(RetryPolicy {
            max_attempts: self.max_attempts,
            base_delay: Duration::from_millis(self.base_delay_ms),
            max_delay: Duration::from_millis(self.max_delay_ms),
            max_retry_after: Duration::from_millis(self.max_retry_after_ms),
        })
    }
}

impl BreakerSettings {
    /// The breaker configuration, checked.
    pub fn config(&self) -> Result<BreakerConfig, ConfigError> {
        if !(self.error_ratio > 0.0 && self.error_ratio <= 1.0) {
            return Err(ConfigError::Setting {
                field: "breaker.error_ratio",
                problem: format!("{} is outside 0 < ratio ≤ 1", self.error_ratio),
            });
        }
        if self.min_requests == 0 {
            return Err(ConfigError::Setting {
                field: "breaker.min_requests",
                problem: "must be at least 1".into(),
            });
        }
        Ok(BreakerConfig {
            window: Duration::from_millis(self.window_ms),
            min_requests: self.min_requests,
            error_ratio: self.error_ratio,
            cooldown: Duration::from_millis(self.cooldown_ms),
        })
    }
}

impl TimeoutSettings {
    /// The timeouts, checked (none may be zero).
    pub fn timeouts(&self) -> Result<Timeouts, ConfigError> {
        let fields = [
            ("timeouts.connect_ms", self.connect_ms),
            ("timeouts.first_byte_ms", self.first_byte_ms),
            ("timeouts.idle_ms", self.idle_ms),
            ("timeouts.total_ms", self.total_ms),
        ];
        if let Some((field, _)) = fields.iter().find(|(_, v)| *v == 0) {
            return Err(ConfigError::Setting {
                field,
                problem: "must be more than 0 ms".into(),
            });
        }
        Ok(Timeouts {
            connect: Duration::from_millis(self.connect_ms),
            first_byte: Duration::from_millis(self.first_byte_ms),
            idle: Duration::from_millis(self.idle_ms),
            total: Duration::from_millis(self.total_ms),
        })
    }
}

/// Env values that are set but blank count as unset.
fn lookup(env: EnvLookup, name: &str) -> Option<String> {
    env(name)
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

fn endpoint(
    kind: ProviderKind,
    settings: &ProviderSettings,
    env: EnvLookup,
) -> Result<Endpoint, ConfigError> {
    let (base_url, origin) = match lookup(env, kind.base_url_env()) {
        Some(url) => (Some(url), kind.base_url_env().to_owned()),
        None => (
            settings
                .base_url
                .clone()
                .or_else(|| kind.default_base_url().map(str::to_owned)),
            format!("providers.{}.base_url", kind.name()),
        ),
    };
    if let Some(url) = &base_url {
        check_base_url(url, &origin)?;
    }

    let key_env: Vec<String> = match &settings.api_key_env {
        Some(list) => list.clone(),
        None => kind
            .default_key_env()
            .iter()
            .map(|s| (*s).to_owned())
            .collect(),
    };
    let from_env = key_env.iter().find_map(|name| lookup(env, name));
    let key = match (from_env, &settings.key_file) {
        (Some(key), _) => Some(Secret::new(key)),
        (None, Some(path)) => Some(read_key_file(kind.name(), path)?),
        (None, None) => None,
    };
    let mut sources = key_env.join(" or ");
    if let Some(path) = &settings.key_file {
        sources.push_str(&format!(" or key_file {}", path.display()));
    }
    Ok(Endpoint {
        kind,
        base_url,
        key,
        key_sources: sources,
        require_key: settings.require_key.unwrap_or(true),
        images: settings.images.unwrap_or(kind != ProviderKind::Chat),
        max_tokens: settings.max_tokens,
    })
}

fn check_base_url(url: &str, origin: &str) -> Result<(), ConfigError> {
    let problem = match reqwest::Url::parse(url) {
        Err(e) => e.to_string(),
        Ok(u) if !matches!(u.scheme(), "http" | "https") => {
            format!("scheme `{}` is not http or https", u.scheme())
        }
        Ok(u) if u.query().is_some() || u.fragment().is_some() => {
            "a base URL takes no query or fragment".into()
        }
        Ok(_) => return Ok(()),
    };
    Err(ConfigError::BaseUrl {
        origin: origin.to_owned(),
        url: url.to_owned(),
        problem,
    })
}

/// Read a key file, refusing one that others can read or write.
fn read_key_file(provider: &'static str, path: &Path) -> Result<Secret, ConfigError> {
    let path = expand_home(path);
    let fail = |problem: String| ConfigError::KeyFile {
        provider,
        path: path.clone(),
        problem,
    };
    let meta = std::fs::metadata(&path).map_err(|e| fail(format!("cannot read it: {e}")))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(fail(format!(
                "mode {mode:03o} lets other users read or change the key; run `chmod 600 {}`",
                path.display()
            )));
        }
    }
    #[cfg(not(unix))]
    let _ = meta;
    let text = std::fs::read_to_string(&path).map_err(|e| fail(format!("cannot read it: {e}")))?;
    let key = text.trim();
    if key.is_empty() {
        return Err(fail("the file is empty; put the API key in it".into()));
    }
    Ok(Secret::new(key))
}

fn expand_home(path: &Path) -> PathBuf {
    match (path.strip_prefix("~"), dirs::home_dir()) {
        (Ok(rest), Some(home)) => home.join(rest),
        _ => path.to_path_buf(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k| map.get(k).cloned()
    }

    fn parse(toml_text: &str) -> Result<ProvidersConfig, String> {
        #[derive(Deserialize)]
        struct File {
            providers: ProvidersConfig,
        }
        toml::from_str::<File>(toml_text)
            .map(|f| f.providers)
            .map_err(|e| e.to_string())
    }

    fn endpoint_of(r: &Resolved, kind: ProviderKind) -> &Endpoint {
        r.endpoints
            .iter()
            .find(|e| e.kind == kind)
            .expect("every kind")
    }

    #[test]
    fn empty_section_gives_working_defaults() {
        let r = ProvidersConfig::default()
            .resolve(&env(&[]))
            .expect("defaults are valid");
        let anthropic = endpoint_of(&r, ProviderKind::Anthropic);
        assert_eq!(
            anthropic.base_url.as_deref(),
            Some("https://api.anthropic.com")
        );
        assert_eq!(anthropic.key, None);
        assert_eq!(anthropic.key_sources, "ANTHROPIC_API_KEY");
        assert!(endpoint_of(&r, ProviderKind::Chat).base_url.is_none());
        assert!(!endpoint_of(&r, ProviderKind::Chat).images);
        assert_eq!(r.default_providers, ["inherit", "openai"]);
        assert_eq!(
            r.aliases["sonnet"][0].to_string(),
            "anthropic:claude-sonnet-4-5"
        );
        assert_eq!(r.retry, RetryPolicy::default());
        assert_eq!(r.timeouts, Timeouts::default());
    }

    #[test]
    fn env_overrides_base_urls_and_supplies_keys() {
        let e = env(&[
            ("CODEX_PLUS_ANTHROPIC_BASE_URL", "http://127.0.0.1:9/"),
            ("ANTHROPIC_API_KEY", "sk-ant-1"),
            ("OPENAI_API_KEY", "  "),
            ("CODEX_API_KEY", "sk-codex"),
            ("CODEX_PLUS_CHAT_BASE_URL", "https://api.groq.com/openai/v1"),
            ("CODEX_PLUS_CHAT_API_KEY", "gsk"),
        ]);
        let cfg = parse("[providers.anthropic]\nbase_url = \"https://ignored.example\"\n")
            .expect("parses");
        let r = cfg.resolve(&e).expect("valid");
        let a = endpoint_of(&r, ProviderKind::Anthropic);
        assert_eq!(
            a.base_url.as_deref(),
            Some("http://127.0.0.1:9/"),
            "env beats file"
        );
        assert_eq!(a.key, Some(Secret::new("sk-ant-1")));
        assert_eq!(
            endpoint_of(&r, ProviderKind::OpenAi).key,
            Some(Secret::new("sk-codex")),
            "a blank OPENAI_API_KEY falls through to CODEX_API_KEY"
        );
        assert_eq!(
            endpoint_of(&r, ProviderKind::Chat).base_url.as_deref(),
            Some("https://api.groq.com/openai/v1")
        );
    }

    #[test]
    fn full_section_parses() {
        let cfg = parse(
            r#"
            [providers]
            default_providers = ["chat", "inherit"]
            [providers.chat]
            base_url = "http://localhost:11434/v1"
            require_key = false
            images = true
            api_key_env = "OLLAMA_KEY"
            [providers.aliases]
            fast = ["chat:llama3.2", "inherit:gpt-5-mini"]
            Sonnet = ["anthropic:claude-sonnet-4-5"]
            [providers.prices."chat:llama3.2"]
            input = 0.0
            output = 0.0
            [providers.retry]
            max_attempts = 2
            [providers.breaker]
            cooldown_ms = 100
            [providers.timeouts]
            idle_ms = 50
            "#,
        )
        .expect("parses");
        let r = cfg.resolve(&env(&[])).expect("valid");
        let chat = endpoint_of(&r, ProviderKind::Chat);
        assert!(!chat.require_key && chat.images);
        assert_eq!(chat.key_sources, "OLLAMA_KEY");
        assert_eq!(r.aliases["fast"].len(), 2);
        assert_eq!(r.aliases["sonnet"].len(), 1, "config replaces the built-in");
        assert_eq!(r.aliases["haiku"].len(), 3, "other built-ins stay");
        assert_eq!(r.default_providers, ["chat", "inherit"]);
        assert_eq!(r.retry.max_attempts, 2);
        assert_eq!(r.breaker.cooldown, Duration::from_millis(100));
        assert_eq!(r.timeouts.idle, Duration::from_millis(50));
        assert_eq!(
            r.prices.cost("chat", "llama3.2", &Default::default()),
            Some(0.0)
        );
    }

    #[test]
    fn a_key_in_the_file_is_refused_with_the_fix() {
        let err = parse("[providers.openai]\napi_key = \"sk-oops\"\n").unwrap_err();
        assert!(
            err.contains("`api_key` is not read from the config file"),
            "{err}"
        );
        assert!(
            !err.contains("sk-oops"),
            "the key must not echo back: {err}"
        );
        let err = parse("[providers.openai]\nbase_uri = \"x\"\n").unwrap_err();
        assert!(err.contains("unknown field `base_uri`"), "{err}");
        let err = parse("[providers]\nmodels = 1\n").unwrap_err();
        assert!(err.contains("unknown field `models`"), "{err}");
    }

    #[test]
    fn bad_values_are_named() {
        let bad_alias = parse("[providers.aliases]\nfast = [\"llama3\"]\n").expect("parses");
        let e = bad_alias.resolve(&env(&[])).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("providers.aliases.fast: `llama3` names no provider"),
            "{e}"
        );

        let bad_url = env(&[("CODEX_PLUS_GEMINI_BASE_URL", "ftp://x")]);
        let e = ProvidersConfig::default().resolve(&bad_url).unwrap_err();
        assert_eq!(
            e.to_string(),
            "CODEX_PLUS_GEMINI_BASE_URL = `ftp://x` is not a usable base URL: scheme `ftp` is not http or https"
        );

        let e = parse("[providers.breaker]\nerror_ratio = 1.5\n")
            .expect("parses")
            .resolve(&env(&[]))
            .unwrap_err();
        assert!(e.to_string().contains("breaker.error_ratio"), "{e}");
        let e = parse("[providers.retry]\nmax_attempts = 0\n")
            .expect("parses")
            .resolve(&env(&[]))
            .unwrap_err();
        assert!(e.to_string().contains("retry.max_attempts"), "{e}");
        let e = parse("[providers]\ndefault_providers = [\"mistral\"]\n")
            .expect("parses")
            .resolve(&env(&[]))
            .unwrap_err();
        assert!(e.to_string().contains("unknown provider `mistral`"), "{e}");
    }

    #[cfg(unix)]
    #[test]
    fn key_files_must_be_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("anthropic.key");
        std::fs::write(&path, "sk-ant-file\n").expect("write");
        let cfg = ProvidersConfig {
            anthropic: ProviderSettings {
                key_file: Some(path.clone()),
                ..Default::default()
            },
            ..Default::default()
        };

        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let e = cfg.resolve(&env(&[])).unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("mode 644") && text.contains("chmod 600"),
            "{text}"
        );
        assert!(!text.contains("sk-ant-file"));

        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        let r = cfg.resolve(&env(&[])).expect("private file is fine");
        assert_eq!(
            endpoint_of(&r, ProviderKind::Anthropic).key,
            Some(Secret::new("sk-ant-file"))
        );
        let with_env = cfg
            .resolve(&env(&[("ANTHROPIC_API_KEY", "sk-env")]))
            .expect("ok");
        assert_eq!(
            endpoint_of(&with_env, ProviderKind::Anthropic).key,
            Some(Secret::new("sk-env")),
            "the env var wins over the file"
        );

        let missing = ProvidersConfig {
            gemini: ProviderSettings {
                key_file: Some(dir.path().join("nope")),
                ..Default::default()
            },
            ..Default::default()
        };
        let e = missing.resolve(&env(&[])).unwrap_err();
        assert!(
            e.to_string().starts_with("providers.gemini.key_file"),
            "{e}"
        );
    }

    #[test]
    fn debug_output_never_shows_keys() {
        let r = ProvidersConfig::default()
            .resolve(&env(&[("GEMINI_API_KEY", "AIza-secret")]))
            .expect("ok");
        let debug = format!("{r:?}");
        assert!(!debug.contains("AIza-secret"), "{debug}");
        assert!(debug.contains("Secret(<redacted>)"));
    }
}
