//! The CLI's client for a running proxy's own endpoints (`status`, `tasks`): local,
//! so never through an HTTP proxy; errors that say what to do.

use std::time::Duration;

use serde_json::Value;

use super::status::not_running;
use super::CliError;

/// Most a plain request may take (a followed stream has no limit).
const TIMEOUT: Duration = Duration::from_secs(5);

pub struct Remote {
    http: reqwest::Client,
    /// `http://host:port`.
    pub base: String,
}

impl Remote {
    /// The proxy listening at `host:port`.
    pub fn new(dial: &str) -> Result<Remote, CliError> {
        let http = reqwest::Client::builder()
            .no_proxy()
            .build()
            .map_err(|e| CliError::Other(format!("cannot make an HTTP client: {e}")))?;
        Ok(Remote {
            http,
            base: format!("http://{dial}"),
        })
    }

    pub async fn get(&self, path: &str) -> Result<Value, CliError> {
        let url = format!("{}{path}", self.base);
        let resp = self.http.get(&url).timeout(TIMEOUT).send().await;
        read(&url, resp).await
    }

    pub async fn post(&self, path: &str) -> Result<Value, CliError> {
        let url = format!("{}{path}", self.base);
        let resp = self
            .http
            .post(&url)
            .header("content-type", "application/json")
            .body("{}")
            .timeout(TIMEOUT)
            .send()
            .await;
        read(&url, resp).await
    }

    /// `path`'s JSON, or in a few words why there is none (for reports that say
    /// what to do themselves).
    pub async fn probe(&self, path: &str) -> Result<Value, String> {
        let url = format!("{}{path}", self.base);
        let resp = self
            .http
            .get(&url)
            .timeout(TIMEOUT)
            .send()
            .await
            .map_err(|e| reason(&e))?;
        if !resp.status().is_success() {
            return Err(format!("it answered HTTP {}", resp.status()));
        }
        resp.json()
            .await
            .map_err(|e| format!("its answer is not codex-plus's JSON ({e})"))
    }

    /// A response to read as it comes (server-sent events).
    pub async fn follow(&self, path: &str) -> Result<reqwest::Response, CliError> {
        let url = format!("{}{path}", self.base);
        let resp = self
            .http
            .get(&url)
            .send()
            .await
            .map_err(|e| unreachable(&url, &e))?;
        if resp.status().is_success() {
            Ok(resp)
        } else {
            Err(refusal(resp).await)
        }
    }
}

async fn read(
    url: &str,
    resp: Result<reqwest::Response, reqwest::Error>,
) -> Result<Value, CliError> {
    let resp = resp.map_err(|e| unreachable(url, &e))?;
    if !resp.status().is_success() {
        return Err(refusal(resp).await);
    }
    resp.json()
        .await
        .map_err(|e| CliError::Other(format!("{url} did not answer with codex-plus's JSON ({e})")))
}

fn unreachable(url: &str, e: &reqwest::Error) -> CliError {
    CliError::Other(not_running(url, &reason(e)))
}

/// Why a request got no answer, in a few words.
fn reason(e: &reqwest::Error) -> String {
    if e.is_connect() {
        "nothing answers there".to_string()
    } else if e.is_timeout() {
        format!("it did not answer within {} s", TIMEOUT.as_secs())
    } else {
        e.to_string()
    }
}

/// The proxy's own words for a refusal (`{"error": {"message"}}`), else the status.
async fn refusal(resp: reqwest::Response) -> CliError {
    let status = resp.status();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    let message = body["error"]["message"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| format!("HTTP {status}"));
    CliError::Other(message)
}
