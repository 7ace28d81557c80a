//! The upstreams: which one serves a path, and the HTTP client that reaches them.

use std::time::Duration;

use axum::response::{IntoResponse, Response};
use http::Uri;

use super::client::{Client, SendError, Timeouts};
use crate::config::UpstreamConfig;
use crate::error::ProxyError;
use crate::state::SharedState;

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
    pub client: Client,
}

/// An upstream's base URL: scheme and authority, and the path prefix requests go under.
#[derive(Debug, Clone)]
struct Base {
    text: String,
    /// `scheme://authority`.
    origin: String,
    /// The base's path without its trailing `/` (often empty).
    prefix: String,
}

impl Base {
    fn new(which: &str, text: &str) -> Result<Base, ProxyError> {
        let text = text.trim_end_matches('/').to_string();
        let invalid = |why: String| {
            ProxyError::Internal(format!("the {which} upstream {text:?} is not a URL: {why}"))
        };
        let uri: Uri = text
            .parse()
            .map_err(|e: http::uri::InvalidUri| invalid(e.to_string()))?;
        let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) else {
            return Err(invalid("it needs a scheme and a host".into()));
        };
        if scheme != "http" && scheme != "https" {
            return Err(invalid(format!("{scheme}: is neither http nor https")));
        }
        Ok(Base {
            origin: format!("{scheme}://{authority}"),
            prefix: uri.path().trim_end_matches('/').to_string(),
            text,
        })
    }
}

impl Upstreams {
    /// `workers`: the server's worker threads (each gets its own connection pool).
    pub fn new(config: &UpstreamConfig, workers: usize) -> Result<Upstreams, ProxyError> {
        let timeouts = Timeouts {
            connect: Duration::from_secs(config.connect_timeout_secs),
            answer: config.idle_timeout(),
            pool_idle: config.pool_idle_timeout(),
        };
        let client = Client::new(timeouts, workers);
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

    /// The upstream URL for a request: the base, then the request's path and query as
    /// they came (already URI bytes, so the join is one string).
    pub fn url(&self, backend: Backend, uri: &Uri) -> Result<Uri, ProxyError> {
        let base = self.upstream(backend);
        let tail = uri.path_and_query().map_or("/", |p| p.as_str());
        format!("{}{}{tail}", base.origin, base.prefix)
            .parse()
            .map_err(|e| ProxyError::Internal(format!("cannot join {} and {tail}: {e}", base.text)))
    }

    /// What the client is told when a request to `backend` got no answer.
    fn failure(&self, backend: Backend, err: &SendError) -> ProxyError {
        let upstream = self.base(backend).to_string();
        let cause = describe(err);
        match err {
            SendError::NoAnswer(_) => ProxyError::UpstreamTimeout { upstream, cause },
            SendError::Http(e) if e.is_connect() => {
                ProxyError::UpstreamUnreachable { upstream, cause }
            }
            SendError::Http(_) => ProxyError::UpstreamFailed { upstream, cause },
        }
    }
}

/// The client's answer when a request to `backend` got none; counted and logged.
pub fn no_answer(state: &SharedState, backend: Backend, err: &SendError) -> Response {
    state.stats.upstream_errors.inc();
    let error = state.upstreams.failure(backend, err);
    tracing::warn!(upstream = backend.name(), %error, "no answer from the upstream");
    error.into_response()
}

/// An error with its causes, which is where the useful part (refused, DNS, TLS) is.
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
        Upstreams::new(
            &UpstreamConfig {
                openai: "http://o.test/".into(),
                chatgpt: "https://c.test/prefix".into(),
                connect_timeout_secs: 1,
                idle_timeout_secs: 1,
                pool_idle_timeout_secs: 1,
            },
            1,
        )
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
            u.url(Backend::OpenAi, &uri).unwrap().to_string(),
            "http://o.test/v1/models?client_version=0.169.0&x=%20"
        );
        let uri: Uri = "/backend-api/wham/accounts/check".parse().unwrap();
        assert_eq!(
            u.url(Backend::ChatGpt, &uri).unwrap().to_string(),
            "https://c.test/prefix/backend-api/wham/accounts/check"
        );
        // Encoded bytes stay as the client sent them; the base's query is not kept.
        let uri: Uri = "/v1/files/a%2Fb%3F?".parse().unwrap();
        assert_eq!(
            u.url(Backend::OpenAi, &uri).unwrap().to_string(),
            "http://o.test/v1/files/a%2Fb%3F?"
        );
    }
}
