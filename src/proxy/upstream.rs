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
    openai: Base,
    chatgpt: Base,
    pub client: reqwest::Client,
}

/// An upstream's base URL, as configured and parsed once: a full URL parse per
/// request cost more than the rest of routing.
#[derive(Debug, Clone)]
struct Base {
    text: String,
    url: reqwest::Url,
}

impl Base {
    fn new(which: &str, text: &str) -> Result<Base, ProxyError> {
        let text = text.trim_end_matches('/').to_string();
        let url = reqwest::Url::parse(&text).map_err(|e| {
            ProxyError::Internal(format!("the {which} upstream {text:?} is not a URL: {e}"))
        })?;
        Ok(Base { text, url })
    }
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
            openai: Base::new("openai", &config.openai)?,
            chatgpt: Base::new("chatgpt", &config.chatgpt)?,
            client,
        })
    }

    fn upstream(&self, backend: Backend) -> &Base {
        match backend {
            Backend::OpenAi => &self.openai,
            Backend::ChatGpt => &self.chatgpt,
        }
    }

    pub fn base(&self, backend: Backend) -> &str {
        &self.upstream(backend).text
    }

    /// The upstream URL for a request: the base, then the request's path and query as they came.
    pub fn url(&self, backend: Backend, uri: &Uri) -> reqwest::Url {
        let mut url = self.upstream(backend).url.clone();
        let path = format!("{}{}", url.path().trim_end_matches('/'), uri.path());
        url.set_path(&path);
        url.set_query(uri.query());
        url
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
            u.url(Backend::OpenAi, &uri).as_str(),
            "http://o.test/v1/models?client_version=0.169.0&x=%20"
        );
        let uri: Uri = "/backend-api/wham/accounts/check".parse().unwrap();
        assert_eq!(
            u.url(Backend::ChatGpt, &uri).as_str(),
            "https://c.test/prefix/backend-api/wham/accounts/check"
        );
        // Encoded bytes stay as the client sent them; the base's query is not kept.
        let uri: Uri = "/v1/files/a%2Fb%3F?".parse().unwrap();
        assert_eq!(
            u.url(Backend::OpenAi, &uri).as_str(),
            "http://o.test/v1/files/a%2Fb%3F?"
        );
    }
}
