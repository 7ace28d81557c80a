//! The upstreams: which one serves a path, and the HTTP client that reaches them.

use std::time::Duration;

use http::Uri;

use crate::config::UpstreamConfig;
use crate::error::ProxyError;

/// Which backend a request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// `/v1/...`: the OpenAI API (API-key mode).
    OpenAi,
    /// `/backend-api/...`: the ChatGPT backend (ChatGPT-login mode).
    ChatGpt,
}

impl Backend {
    pub fn for_path(path: &str) -> Option<Backend> {
        if path.starts_with("/v1/") || path == "/v1" {
            Some(Backend::OpenAi)
        } else if path.starts_with("/backend-api/") || path == "/backend-api" {
            Some(Backend::ChatGpt)
        } else {
            None
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Backend::OpenAi => "openai",
            Backend::ChatGpt => "chatgpt",
        }
    }
}

/// The configured upstreams and one shared client (connection pool) for all of them.
#[derive(Debug, Clone)]
pub struct Upstreams {
    openai: String,
    chatgpt: String,
    pub client: reqwest::Client,
}

impl Upstreams {
    pub fn new(config: &UpstreamConfig) -> Result<Upstreams, ProxyError> {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(config.connect_timeout_secs))
            // A proxy relays redirects; it does not follow them.
            .redirect(reqwest::redirect::Policy::none())
            .tcp_nodelay(true)
            .pool_idle_timeout(Duration::from_secs(90))
            .build()
            .map_err(|e| ProxyError::Internal(format!("cannot build the HTTP client: {e}")))?;
        Ok(Upstreams {
            openai: config.openai.trim_end_matches('/').to_string(),
            chatgpt: config.chatgpt.trim_end_matches('/').to_string(),
            client,
        })
    }

    pub fn base(&self, backend: Backend) -> &str {
        match backend {
            Backend::OpenAi => &self.openai,
            Backend::ChatGpt => &self.chatgpt,
        }
    }

    /// The upstream URL for a request: the base, then the request's path and query as they came.
    pub fn url(&self, backend: Backend, uri: &Uri) -> String {
        let pq = uri.path_and_query().map(|pq| pq.as_str()).unwrap_or("/");
        format!("{}{}", self.base(backend), pq)
    }

    pub fn unreachable(&self, backend: Backend, err: &reqwest::Error) -> ProxyError {
        ProxyError::UpstreamUnreachable {
            upstream: self.base(backend).to_string(),
            cause: describe(err),
        }
    }
}

/// A reqwest error with its causes, which is where the useful part (refused, DNS, TLS) is.
pub fn describe(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let c = cause.to_string();
        if !text.contains(&c) {
            text.push_str(": ");
            text.push_str(&c);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ups() -> Upstreams {
        Upstreams::new(&UpstreamConfig {
            openai: "http://o.test/".into(),
            chatgpt: "https://c.test/prefix".into(),
            connect_timeout_secs: 1,
            idle_timeout_secs: 1,
        })
        .unwrap()
    }

    #[test]
    fn routes_by_prefix() {
        assert_eq!(Backend::for_path("/v1/responses"), Some(Backend::OpenAi));
        assert_eq!(
            Backend::for_path("/backend-api/codex/responses"),
            Some(Backend::ChatGpt)
        );
        assert_eq!(Backend::for_path("/v1x/models"), None);
        assert_eq!(Backend::for_path("/health"), None);
    }

    #[test]
    fn urls_keep_path_and_query() {
        let u = ups();
        let uri: Uri = "/v1/models?client_version=0.169.0&x=%20".parse().unwrap();
        assert_eq!(
            u.url(Backend::OpenAi, &uri),
            "http://o.test/v1/models?client_version=0.169.0&x=%20"
        );
        let uri: Uri = "/backend-api/wham/accounts/check".parse().unwrap();
        assert_eq!(
            u.url(Backend::ChatGpt, &uri),
            "https://c.test/prefix/backend-api/wham/accounts/check"
        );
    }
}
