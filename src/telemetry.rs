//! Traces, when `[telemetry] otlp_endpoint` is set: each turn, each upstream model
//! call, each subagent run and each of its tool calls becomes an OpenTelemetry span,
//! named and attributed by the GenAI semantic conventions (`chat {model}`,
//! `invoke_agent {agent}`, `execute_tool {tool}`), and sent over OTLP/HTTP.
//!
//! Off (the default) there is no tracer at all: every call here is a check of an
//! `Option`, and attributes are built by closures that never run.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use opentelemetry::trace::{SpanKind, Status, TraceContextExt, Tracer as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};

use crate::config::TelemetryConfig;

/// How long an export may take before it is given up.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("[telemetry] otlp_endpoint `{endpoint}` is not an http:// or https:// URL")]
    Endpoint { endpoint: String },
    #[error("cannot build the OTLP exporter: {0}")]
    Exporter(#[from] opentelemetry_otlp::ExporterBuildError),
    #[error("telemetry needs a running tokio runtime to send its spans")]
    NoRuntime(#[source] tokio::runtime::TryCurrentError),
}

/// The tracer, or nothing.
#[derive(Default)]
pub struct Telemetry {
    on: Option<On>,
}

struct On {
    provider: SdkTracerProvider,
    tracer: SdkTracer,
}

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Telemetry")
            .field("on", &self.on.is_some())
            .finish()
    }
}

impl Telemetry {
    /// No traces.
    pub fn off() -> Arc<Telemetry> {
        Arc::new(Telemetry::default())
    }

    /// Traces to `config.otlp_endpoint`, when it is set. Must run inside the tokio
    /// runtime: the exporter's requests are sent on it.
    pub fn start(config: &TelemetryConfig) -> Result<Arc<Telemetry>, TelemetryError> {
        let Some(endpoint) = config
            .otlp_endpoint
            .as_deref()
            .map(str::trim)
            .filter(|e| !e.is_empty())
        else {
            return Ok(Telemetry::off());
        };
        if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
            return Err(TelemetryError::Endpoint {
                endpoint: endpoint.to_string(),
            });
        }
        // Like OTEL_EXPORTER_OTLP_ENDPOINT: the base, to which the signal's path is added.
        let url = if endpoint.ends_with("/v1/traces") {
            endpoint.to_string()
        } else {
            format!("{}/v1/traces", endpoint.trim_end_matches('/'))
        };
        let client = Client {
            http: reqwest::Client::new(),
            runtime: tokio::runtime::Handle::try_current().map_err(TelemetryError::NoRuntime)?,
        };
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_http_client(client)
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(url)
            .with_timeout(EXPORT_TIMEOUT)
            .build()?;
        let resource = opentelemetry_sdk::Resource::builder()
            .with_service_name("codex-plus")
            .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
            .build();
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(resource)
            .build();
        let tracer = opentelemetry::trace::TracerProvider::tracer(&provider, "codex-plus");
        tracing::info!(endpoint, "sending traces over OTLP/HTTP");
        Ok(Arc::new(Telemetry {
            on: Some(On { provider, tracer }),
        }))
    }

    pub fn is_on(&self) -> bool {
        self.on.is_some()
    }

    /// A span of its own (a trace's root), or under `parent`.
    pub fn span(
        &self,
        parent: &Parent,
        kind: SpanKind,
        name: impl FnOnce() -> String,
        attributes: impl FnOnce() -> Vec<KeyValue>,
    ) -> Span {
        let Some(on) = &self.on else {
            return Span::default();
        };
        let builder = on
            .tracer
            .span_builder(Cow::Owned(name()))
            .with_kind(kind)
            .with_attributes(attributes());
        let span = match &parent.0 {
            Some(cx) => builder.start_with_context(&on.tracer, cx),
            None => builder.start_with_context(&on.tracer, &Context::new()),
        };
        Span(Some(Context::new().with_span(span)))
    }

    /// A model call, `chat {model}`, with the GenAI conventions' request attributes
    /// and `more`.
    pub fn chat(
        &self,
        parent: &Parent,
        provider: &str,
        model: &str,
        more: impl FnOnce() -> Vec<KeyValue>,
    ) -> Span {
        self.span(
            parent,
            SpanKind::Client,
            || format!("chat {model}"),
            || {
                let mut attributes = vec![
                    KeyValue::new("gen_ai.operation.name", "chat"),
                    KeyValue::new("gen_ai.provider.name", provider_name(provider).to_string()),
                    KeyValue::new("gen_ai.request.model", model.to_string()),
                ];
                attributes.extend(more());
                attributes
            },
        )
    }

    /// Sends what is still buffered and stops: at shutdown.
    pub fn shutdown(&self) {
        if let Some(on) = &self.on {
            if let Err(e) = on.provider.shutdown() {
                tracing::warn!("telemetry: the last spans could not be sent: {e}");
            }
        }
    }
}

/// Where a span goes in the tree: under another span, or at the root. Cheap to
/// clone and to carry (a Task's request carries its turn's).
#[derive(Clone, Default)]
pub struct Parent(Option<Context>);

impl std::fmt::Debug for Parent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "Parent(span)"
        } else {
            "Parent(none)"
        })
    }
}

/// One span; it ends when dropped (or at `end`). Nothing when telemetry is off.
#[derive(Default)]
pub struct Span(Option<Context>);

impl Span {
    /// No span: telemetry is off.
    pub fn is_none(&self) -> bool {
        self.0.is_none()
    }

    /// Spans started from here nest under this one.
    pub fn parent(&self) -> Parent {
        Parent(self.0.clone())
    }

    /// Adds attributes, built only when the span is real.
    pub fn set(&self, attributes: impl FnOnce() -> Vec<KeyValue>) {
        if let Some(cx) = &self.0 {
            cx.span().set_attributes(attributes());
        }
    }

    /// Marks the span failed, with the error's type (`error.type`) and message.
    pub fn fail(&self, kind: &'static str, message: impl FnOnce() -> String) {
        if let Some(cx) = &self.0 {
            let span = cx.span();
            span.set_attribute(KeyValue::new("error.type", kind));
            span.set_status(Status::error(message()));
        }
    }

    pub fn end(&mut self) {
        if let Some(cx) = self.0.take() {
            cx.span().end();
        }
    }
}

impl Drop for Span {
    fn drop(&mut self) {
        self.end();
    }
}

/// The GenAI conventions' name for a provider (`gen_ai.provider.name`).
pub fn provider_name(provider: &str) -> &str {
    match provider {
        "inherit" | "openai" => "openai",
        "gemini" => "gcp.gemini",
        other => other,
    }
}

/// The exporter's requests, sent with the crate's reqwest client on the proxy's
/// runtime (the SDK exports from a thread of its own, outside it).
#[derive(Debug)]
struct Client {
    http: reqwest::Client,
    runtime: tokio::runtime::Handle,
}

#[async_trait::async_trait]
impl opentelemetry_http::HttpClient for Client {
    async fn send_bytes(
        &self,
        request: http::Request<bytes::Bytes>,
    ) -> Result<http::Response<bytes::Bytes>, opentelemetry_http::HttpError> {
        let http = self.http.clone();
        let sent = self.runtime.spawn(async move {
            let request = reqwest::Request::try_from(request)?;
            let response = http.execute(request).await?;
            let status = response.status();
            let headers = response.headers().clone();
            let body = response.bytes().await?;
            let mut out = http::Response::new(body);
            *out.status_mut() = status;
            *out.headers_mut() = headers;
            Ok::<_, reqwest::Error>(out)
        });
        Ok(sent.await??)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_makes_no_spans_and_builds_no_attributes() {
        let t = Telemetry::default();
        let span = t.span(
            &Parent::default(),
            SpanKind::Internal,
            || unreachable!("no name is built when off"),
            || unreachable!("no attributes are built when off"),
        );
        span.set(|| unreachable!());
        assert!(span.parent().0.is_none());
    }

    #[test]
    fn a_bad_endpoint_is_named() {
        let e = Telemetry::start(&TelemetryConfig {
            otlp_endpoint: Some("localhost:4318".into()),
        })
        .unwrap_err();
        assert!(e
            .to_string()
            .contains("`localhost:4318` is not an http:// or https:// URL"));
    }

    #[test]
    fn providers_have_their_conventional_names() {
        assert_eq!(provider_name("inherit"), "openai");
        assert_eq!(provider_name("gemini"), "gcp.gemini");
        assert_eq!(provider_name("anthropic"), "anthropic");
    }
}
