//! `WebFetch`: download a page and return it as readable text.
//!
//! Claude Code runs a small model over the page with the prompt; there is none here,
//! so the text itself goes back, headed by the prompt, for the calling model to use.

use async_trait::async_trait;
use reqwest::header::{CONTENT_TYPE, LOCATION};
use reqwest::{Client, Url};
use serde::Deserialize;
use serde_json::{json, Value};

use super::html_text::html_to_text;
use super::input::parse;
use super::output::{cap_head, prefix_at_boundary};
use super::{Tool, ToolContext, ToolError, ToolLimits};

/// Fetches an http(s) URL and returns its text.
pub struct WebFetch;

#[derive(Deserialize)]
struct Input {
    url: String,
    prompt: String,
}

#[async_trait]
impl Tool for WebFetch {
    fn name(&self) -> &'static str {
        "WebFetch"
    }

    fn description(&self) -> &'static str {
        "Fetch a web page (http or https URL) and return its content as plain text \
         (HTML is converted; headings, lists and links kept). prompt says what you want \
         from the page; it is echoed back with the text, and you extract the answer \
         yourself. Long pages are truncated. A redirect to another host is reported \
         instead of followed."
    }

    fn input_schema(&self) -> Value {
        json!({
            "type": "object",
            "properties": {
                "url": {"type": "string", "format": "uri", "description": "The http(s) URL to fetch"},
                "prompt": {"type": "string", "description": "What to look for in the page"}
            },
            "required": ["url", "prompt"],
            "additionalProperties": false
        })
    }

    fn read_only(&self) -> bool {
        true
    }

    async fn call(&self, input: Value, ctx: &ToolContext) -> Result<String, ToolError> {
        let input: Input = parse(self.name(), input)?;
        let url = parse_url(&input.url)?;
        fetch(&ctx.http, url, &input.prompt, &ctx.limits).await
    }
}

/// Parses `raw` and accepts only http and https.
pub fn parse_url(raw: &str) -> Result<Url, ToolError> {
    let url = Url::parse(raw.trim())
        .map_err(|e| ToolError::invalid("WebFetch", format!("{raw:?} is not a valid URL: {e}")))?;
    match url.scheme() {
        "http" | "https" => Ok(url),
        other => Err(ToolError::invalid(
            "WebFetch",
            format!("only http and https URLs can be fetched, not {other}:"),
        )),
    }
}

/// Downloads `url` (at most `web_fetch_max_bytes`, within `web_fetch_timeout`) and
/// renders the result for the model.
pub async fn fetch(
    client: &Client,
    url: Url,
    prompt: &str,
    limits: &ToolLimits,
) -> Result<String, ToolError> {
    let failed = |e: reqwest::Error| {
        let why = if e.is_timeout() {
            format!("no answer within {} s", limits.web_fetch_timeout.as_secs())
        } else {
            e.without_url().to_string()
        };
        ToolError::Failed(format!("fetching {url} failed: {why}"))
    };
    let mut response = client
        .get(url.clone())
        .timeout(limits.web_fetch_timeout)
        .header(
            reqwest::header::ACCEPT,
            "text/html, text/plain, text/markdown, application/json;q=0.9, */*;q=0.5",
        )
        .send()
        .await
        .map_err(failed)?;

    let status = response.status();
    if status.is_redirection() {
        let target = response
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|loc| url.join(loc).ok());
        return Ok(match target {
            Some(to) => redirected(&url, &to),
            None => format!("{url} answered HTTP {status} without a usable Location."),
        });
    }
    let final_url = response.url().clone();
    if final_url.host_str() != url.host_str() {
        return Ok(redirected(&url, &final_url));
    }

    let content_type = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let mut body = Vec::new();
    let mut truncated = false;
    while let Some(chunk) = response.chunk().await.map_err(failed)? {
        let room = limits.web_fetch_max_bytes - body.len();
        if chunk.len() > room {
            body.extend_from_slice(&chunk[..room]);
            truncated = true;
            break;
        }
        body.extend_from_slice(&chunk);
    }
    let raw = String::from_utf8_lossy(&body);

    if !status.is_success() {
        let excerpt = to_text(&raw, &content_type);
        return Err(ToolError::Failed(format!(
            "{final_url} answered HTTP {status}. Start of the response:\n{}",
            prefix_at_boundary(excerpt.trim(), 1000)
        )));
    }
    if !is_textual(&content_type, &body) {
        return Err(ToolError::Failed(format!(
            "{final_url} returned {content_type}, which is not text; WebFetch only reads \
             text pages (HTML, plain text, JSON, XML)."
        )));
    }

    let mut text = to_text(&raw, &content_type);
    if truncated {
        text.push_str(&format!(
            "\n\n[Only the first {} bytes of the page were downloaded.]",
            limits.web_fetch_max_bytes
        ));
    }
    let header = format!(
        "URL: {final_url}\nPrompt: {prompt}\nNote: no second model runs in this tool, so \
         the prompt has not been applied; the page text follows. Answer the prompt from it \
         yourself.\n\n"
    );
    Ok(cap_head(&format!("{header}{text}"), limits.output_cap))
}

fn redirected(from: &Url, to: &Url) -> String {
    format!(
        "{from} redirects to {to}, on a different host, so it was not followed. To read \
         it, call WebFetch again with that URL."
    )
}

fn is_html(content_type: &str, raw: &str) -> bool {
    content_type.contains("html")
        || (content_type.is_empty() && {
            let start = raw
                .trim_start()
                .get(..15)
                .unwrap_or("")
                .to_ascii_lowercase();
            start.starts_with("<!doctype html") || start.starts_with("<html")
        })
}

fn is_textual(content_type: &str, body: &[u8]) -> bool {
    if content_type.is_empty() {
        return !body.contains(&0);
    }
    content_type.starts_with("text/")
        || ["json", "xml", "javascript", "yaml", "toml", "csv"]
            .iter()
            .any(|t| content_type.contains(t))
}

fn to_text(raw: &str, content_type: &str) -> String {
    if is_html(content_type, raw) {
        html_to_text(raw)
    } else {
        raw.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    fn limits() -> ToolLimits {
        ToolLimits::default()
    }

    async fn get(
        server: &MockServer,
        route: &str,
        limits: &ToolLimits,
    ) -> Result<String, ToolError> {
        let url = parse_url(&format!("{}{route}", server.uri())).unwrap();
        fetch(&Client::new(), url, "find the title", limits).await
    }

    #[tokio::test]
    async fn html_becomes_text_headed_by_url_and_prompt() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/page"))
            .respond_with(ResponseTemplate::new(200).set_body_raw(
                "<html><body><h1>Title</h1><script>x()</script><p>Body &amp; more</p></body></html>",
                "text/html; charset=utf-8",
            ))
            .mount(&server)
            .await;
        let out = get(&server, "/page", &limits()).await.unwrap();
        assert!(
            out.starts_with(&format!(
                "URL: {}/page\nPrompt: find the title\n",
                server.uri()
            )),
            "{out}"
        );
        assert!(out.contains("no second model"), "{out}");
        assert!(out.ends_with("# Title\n\nBody & more"), "{out}");
        assert!(!out.contains("x()"), "{out}");
    }

    #[tokio::test]
    async fn size_cap_truncates_the_download() {
        let server = MockServer::start().await;
        Mock::given(path("/big"))
            .respond_with(ResponseTemplate::new(200).set_body_raw("z".repeat(50_000), "text/plain"))
            .mount(&server)
            .await;
        let limits = ToolLimits {
            web_fetch_max_bytes: 1000,
            ..limits()
        };
        let out = get(&server, "/big", &limits).await.unwrap();
        // The header text has no 'z', so every 'z' came from the body.
        assert_eq!(out.matches('z').count(), 1000);
        assert!(out.contains("Only the first 1000 bytes"), "{out}");
    }

    #[tokio::test]
    async fn errors_and_binary_bodies_are_reported() {
        let server = MockServer::start().await;
        Mock::given(path("/missing"))
            .respond_with(
                ResponseTemplate::new(404).set_body_raw("<p>no such page</p>", "text/html"),
            )
            .mount(&server)
            .await;
        Mock::given(path("/img"))
            .respond_with(ResponseTemplate::new(200).set_body_raw(vec![0u8, 1, 2], "image/png"))
            .mount(&server)
            .await;
        let err = get(&server, "/missing", &limits())
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("HTTP 404") && err.contains("no such page"),
            "{err}"
        );
        let err = get(&server, "/img", &limits())
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("image/png") && err.contains("not text"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn cross_host_redirects_are_reported_not_followed() {
        let server = MockServer::start().await;
        Mock::given(path("/moved"))
            .respond_with(
                ResponseTemplate::new(302).insert_header("location", "http://elsewhere.invalid/x"),
            )
            .mount(&server)
            .await;
        let client = Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let url = parse_url(&format!("{}/moved", server.uri())).unwrap();
        let out = fetch(&client, url, "p", &limits()).await.unwrap();
        assert!(
            out.contains("redirects to http://elsewhere.invalid/x"),
            "{out}"
        );
    }

    #[test]
    fn only_http_and_https_are_accepted() {
        for bad in [
            "file:///etc/passwd",
            "ftp://example.com/x",
            "javascript:alert(1)",
        ] {
            let err = parse_url(bad).unwrap_err().to_string();
            assert!(err.contains("only http and https"), "{bad}: {err}");
        }
        assert!(parse_url("not a url")
            .unwrap_err()
            .to_string()
            .contains("not a valid URL"));
        assert!(parse_url("https://example.com/a?b=c").is_ok());
    }
}
