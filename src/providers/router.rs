//! Picks who answers a subagent's model call: resolves a model spec to an ordered
//! list of candidates, then tries them in turn with retries, behind one circuit
//! breaker per provider.
//!
//! Answers are collected, never streamed to anyone, so any failure (even halfway
//! through a stream) can restart the call on the next candidate.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use http::HeaderMap;

use super::anthropic::{Anthropic, DEFAULT_MAX_TOKENS};
use super::breaker::{Admission, Breaker, BreakerConfig, BreakerSnapshot, BreakerState};
use super::chat_completions::ChatCompletions;
use super::config::{ConfigError, Endpoint, EnvLookup, ProviderKind, ProvidersConfig};
use super::gemini::Gemini;
use super::openai_responses::OpenAiResponses;
use super::pricing::PriceTable;
use super::retry::{RetryDecision, RetryPolicy};
use super::spec::{infer_provider, split_provider, Target, INHERIT};
use super::transport::{Timeouts, Transport};
use super::{ModelProvider, ModelRequest, ModelResponse, ProviderError};

/// The Codex session's own upstream, for `inherit`.
#[derive(Clone)]
pub struct InheritTarget {
    /// e.g. `https://api.openai.com/v1` or `https://chatgpt.com/backend-api/codex`.
    pub base_url: String,
    /// The session's credentials and routing headers (`authorization`,
    /// `chatgpt-account-id`, ...). Body framing headers are dropped before sending.
    pub headers: HeaderMap,
    /// The session's model.
    pub model: String,
}

impl fmt::Debug for InheritTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.headers.keys().map(|k| k.as_str()).collect();
        f.debug_struct("InheritTarget")
            .field("base_url", &self.base_url)
            .field("header_names", &names)
            .field("model", &self.model)
            .finish()
    }
}

/// How a candidate's provider can be reached.
#[derive(Clone)]
enum Route {
    Ready(Arc<dyn ModelProvider>),
    /// Not callable (no key, no base URL): skipped with a one-time warning.
    Unavailable(Unavailable),
}

/// One provider + model to try.
#[derive(Clone)]
pub struct Candidate {
    pub provider: String,
    pub model: String,
    route: Route,
}

impl Candidate {
    /// A candidate served by any provider (the engine's tests use fakes).
    pub fn new(provider: Arc<dyn ModelProvider>, model: impl Into<String>) -> Self {
        Self {
            provider: provider.name().to_owned(),
            model: model.into(),
            route: Route::Ready(provider),
        }
    }

    /// `provider:model`.
    pub fn label(&self) -> String {
        format!("{}:{}", self.provider, self.model)
    }

    /// False when the provider has no key or no base URL.
    pub fn is_available(&self) -> bool {
        matches!(self.route, Route::Ready(_))
    }
}

impl fmt::Debug for Candidate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Candidate")
            .field("provider", &self.provider)
            .field("model", &self.model)
            .field("available", &self.is_available())
            .finish()
    }
}

/// A provider that cannot be called as configured, and how to fix that.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unavailable {
    /// e.g. "no API key".
    pub reason: String,
    /// e.g. "set ANTHROPIC_API_KEY".
    pub fix: String,
}

/// Why a candidate was not called.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipReason {
    /// No key or no base URL.
    Unavailable(Unavailable),
    /// Its breaker is open (`retry_in` None: another call is probing it).
    CircuitOpen { retry_in: Option<Duration> },
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unavailable(u) => write!(f, "{}; {}", u.reason, u.fix),
            Self::CircuitOpen {
                retry_in: Some(wait),
            } => write!(
                f,
                "circuit open after repeated failures, next probe in {:.1}s",
                wait.as_secs_f64()
            ),
            Self::CircuitOpen { retry_in: None } => {
                f.write_str("circuit half-open, another call is probing it")
            }
        }
    }
}

/// How one candidate went.
#[derive(Debug, Clone)]
pub enum Outcome {
    Ok,
    Failed(ProviderError),
    Skipped(SkipReason),
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ok => f.write_str("ok"),
            Self::Failed(e) => write!(f, "{e}"),
            Self::Skipped(why) => write!(f, "skipped: {why}"),
        }
    }
}

/// One candidate tried (retries included), for the ledger and error reports.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub provider: String,
    pub model: String,
    pub outcome: Outcome,
    /// Time spent on this candidate, retries and backoff included.
    pub duration: Duration,
    /// Calls after the first.
    pub retries: u32,
}

impl Attempt {
    /// The outcome as text: `ok`, the error, or why it was skipped.
    pub fn outcome_text(&self) -> String {
        self.outcome.to_string()
    }

    fn summary(&self) -> String {
        let tries = match self.retries {
            0 => String::new(),
            n => format!(", {} tries", n + 1),
        };
        let what = match &self.outcome {
            Outcome::Ok => "ok".to_owned(),
            Outcome::Failed(e) => strip_provider(&e.to_string(), &self.provider).to_owned(),
            Outcome::Skipped(why) => format!("skipped: {why}"),
        };
        format!("{}:{} ({what}{tries})", self.provider, self.model)
    }
}

/// A model call that got an answer.
#[derive(Debug, Clone)]
pub struct Completion {
    pub response: ModelResponse,
    /// Every candidate tried, the successful one last.
    pub attempts: Vec<Attempt>,
    /// Estimated cost in USD, when the price table knows the model.
    pub cost_usd: Option<f64>,
}

/// Every candidate failed or was skipped.
#[derive(Debug, Clone, thiserror::Error)]
pub struct Exhausted {
    pub attempts: Vec<Attempt>,
}

impl Exhausted {
    /// The attempt that best explains the failure: the last real failure, else the last skip.
    pub fn cause(&self) -> Option<&Attempt> {
        self.attempts
            .iter()
            .rev()
            .find(|a| matches!(a.outcome, Outcome::Failed(_)))
            .or_else(|| self.attempts.last())
    }

    /// What the user could change, from the cause and any provider missing a key.
    pub fn suggestion(&self) -> String {
        let Some(cause) = self.cause() else {
            return "give a model spec that names at least one provider".to_owned();
        };
        let mut text = suggest(cause);
        let missing: Vec<String> = self
            .attempts
            .iter()
            .filter(|a| !std::ptr::eq(*a, cause))
            .filter_map(|a| match &a.outcome {
                Outcome::Skipped(SkipReason::Unavailable(u)) => {
                    Some(format!("{} for {}", u.fix, a.provider))
                }
                _ => None,
            })
            .collect();
        if !missing.is_empty() {
            text.push_str(&format!("; or {}", missing.join(", or ")));
        }
        text
    }
}

impl fmt::Display for Exhausted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(cause) = self.cause() else {
            writeln!(f, "Error: no model candidates to try")?;
            writeln!(f, "Cause: the model spec resolved to nothing")?;
            writeln!(f, "Suggestion: {}", self.suggestion())?;
            return write!(f, "Fallback: none");
        };
        let n = self.attempts.len();
        writeln!(
            f,
            "Error: no model provider could answer ({n} candidate{})",
            if n == 1 { "" } else { "s" }
        )?;
        let why = match &cause.outcome {
            Outcome::Failed(e) => strip_provider(&e.to_string(), &cause.provider).to_owned(),
            other => other.to_string(),
        };
        writeln!(f, "Cause: {}, {}: {why}", cause.provider, cause.model)?;
        writeln!(f, "Suggestion: {}", self.suggestion())?;
        let tried: Vec<String> = self.attempts.iter().map(Attempt::summary).collect();
        write!(f, "Fallback: tried {}", tried.join(" → "))
    }
}

fn strip_provider<'a>(text: &'a str, provider: &str) -> &'a str {
    text.strip_prefix(provider)
        .and_then(|t| t.strip_prefix(": "))
        .unwrap_or(text)
}

fn suggest(a: &Attempt) -> String {
    let (p, m) = (&a.provider, &a.model);
    let failing = format!(
        "{p} is failing or unreachable; try again later, or add another candidate to the alias (or to default_providers)"
    );
    match &a.outcome {
        Outcome::Ok => String::new(),
        Outcome::Skipped(SkipReason::Unavailable(u)) => format!("{} for {p}", u.fix),
        Outcome::Skipped(SkipReason::CircuitOpen { .. }) => format!(
            "{p} failed repeatedly and is paused; wait for the next probe, or add another candidate"
        ),
        Outcome::Failed(e) => match e {
            ProviderError::MissingKey { env_var, .. } => format!("set {env_var} for {p}"),
            ProviderError::Status { status: 401 | 403, .. } if p == "inherit" => {
                "the upstream refused the credentials (or their absence): inherit sends a Codex \
                 session's own; outside a session (the CLI, /api/tasks, goals) it sends \
                 OPENAI_API_KEY, else CODEX_API_KEY, from the proxy's environment, so set one"
                    .to_string()
            }
            ProviderError::Status { status: 401 | 403, .. } => {
                format!("check the API key for {p}: it was refused")
            }
            ProviderError::Status { status: 404, .. } => {
                format!("check the model id `{m}` and the base URL of {p}")
            }
            ProviderError::Status { status: 429, .. } => {
                format!("{p} is rate limiting; wait, or add another candidate to the alias")
            }
            ProviderError::Status { status, .. } if *status < 500 && *status != 408 => format!(
                "{p} rejected the request; check the model id `{m}` and the agent's tools, or pick another model"
            ),
            ProviderError::Timeout { .. } => format!(
                "{failing}; if the model is only slow, raise [providers.timeouts]"
            ),
            ProviderError::Decode { .. } => format!(
                "{p} sent an answer that is not its API's format; check that its base URL points at the right API"
            ),
            ProviderError::Unsupported { .. } => {
                "use a model whose provider supports it, or leave it out of the request".into()
            }
            ProviderError::InvalidRequest { .. } => format!(
                "the conversation cannot be sent to {p} as it is; pick another model for this agent"
            ),
            ProviderError::Api {
                retryable: false, ..
            } => format!("{p} refused this call; change the prompt or pick another model"),
            ProviderError::Resolve { .. } => "check the agent's `model:` value".into(),
            _ => failing,
        },
    }
}

/// The providers, their breakers, and the rules for choosing between them.
pub struct ProviderRouter {
    routes: HashMap<&'static str, Route>,
    aliases: indexmap::IndexMap<String, Vec<Target>>,
    default_providers: Vec<String>,
    prices: PriceTable,
    retry: RetryPolicy,
    breaker_config: BreakerConfig,
    timeouts: Timeouts,
    transport: Transport,
    breakers: Mutex<HashMap<String, Breaker>>,
    warned: Mutex<HashSet<String>>,
}

impl fmt::Debug for ProviderRouter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut routes: Vec<(&str, bool)> = self
            .routes
            .iter()
            .map(|(k, r)| (*k, matches!(r, Route::Ready(_))))
            .collect();
        routes.sort();
        f.debug_struct("ProviderRouter")
            .field("routes_ready", &routes)
            .field("aliases", &self.aliases.keys().collect::<Vec<_>>())
            .field("retry", &self.retry)
            .field("timeouts", &self.timeouts)
            .finish_non_exhaustive()
    }
}

/// Locks even a poisoned mutex: the guarded maps stay consistent between statements.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl ProviderRouter {
    /// Build the providers from the `[providers]` section and the environment.
    pub fn new(config: &ProvidersConfig, env: EnvLookup) -> Result<Self, ConfigError> {
        let resolved = config.resolve(env)?;
        let transport =
            Transport::new(resolved.timeouts).map_err(|e| ConfigError::Client(e.to_string()))?;
        let mut routes = HashMap::new();
        let mut breakers = HashMap::new();
        for endpoint in &resolved.endpoints {
            let route = build_route(endpoint, &transport)?;
            if matches!(route, Route::Ready(_)) {
                breakers.insert(
                    endpoint.kind.name().to_owned(),
                    Breaker::new(resolved.breaker),
                );
            }
            routes.insert(endpoint.kind.name(), route);
        }
        Ok(Self {
            routes,
            aliases: resolved.aliases,
            default_providers: resolved.default_providers,
            prices: resolved.prices,
            retry: resolved.retry,
            breaker_config: resolved.breaker,
            timeouts: resolved.timeouts,
            transport,
            breakers: Mutex::new(breakers),
            warned: Mutex::new(HashSet::new()),
        })
    }

    /// The candidates for a model spec, in the order to try them.
    /// `None`, `""` and `inherit` mean the session's own upstream and model.
    pub fn resolve(
        &self,
        model_spec: Option<&str>,
        inherit: Option<&InheritTarget>,
    ) -> Result<Vec<Candidate>, ProviderError> {
        let spec = model_spec
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .unwrap_or(INHERIT);
        let mut seen = HashSet::new();
        let candidates: Vec<Candidate> = self
            .targets(spec)
            .into_iter()
            .filter_map(|t| self.candidate(t, inherit))
            .filter(|c| seen.insert(c.label()))
            .collect();
        if candidates.is_empty() {
            return Err(ProviderError::Resolve {
                spec: spec.to_owned(),
                message: "it resolves only to `inherit`, and this call has no Codex session upstream to inherit; give an explicit `provider:model`".into(),
            });
        }
        Ok(candidates)
    }

    fn targets(&self, spec: &str) -> Vec<Target> {
        if spec.eq_ignore_ascii_case(INHERIT) {
            return vec![Target::Inherit { model: None }];
        }
        if let Some(targets) = self.aliases.get(&spec.to_ascii_lowercase()) {
            return targets.clone();
        }
        if let Some((provider, model)) = split_provider(spec, &ProviderKind::names()) {
            let provider = provider.to_ascii_lowercase();
            return vec![if provider == INHERIT {
                Target::Inherit {
                    model: Some(model.to_owned()),
                }
            } else {
                Target::Provider {
                    provider,
                    model: model.to_owned(),
                }
            }];
        }
        if let Some(provider) = infer_provider(spec) {
            return vec![Target::Provider {
                provider: provider.to_owned(),
                model: spec.to_owned(),
            }];
        }
        self.default_providers
            .iter()
            .map(|p| {
                if p == INHERIT {
                    Target::Inherit {
                        model: Some(spec.to_owned()),
                    }
                } else {
                    Target::Provider {
                        provider: p.clone(),
                        model: spec.to_owned(),
                    }
                }
            })
            .collect()
    }

    fn candidate(&self, target: Target, inherit: Option<&InheritTarget>) -> Option<Candidate> {
        match target {
            Target::Inherit { model } => {
                let it = inherit?;
                let provider = OpenAiResponses::new(
                    INHERIT,
                    &it.base_url,
                    &it.headers,
                    self.transport.clone(),
                );
                Some(Candidate {
                    provider: INHERIT.to_owned(),
                    model: model.unwrap_or_else(|| it.model.clone()),
                    route: Route::Ready(Arc::new(provider)),
                })
            }
            Target::Provider { provider, model } => {
                let route = self.routes.get(provider.as_str())?.clone();
                Some(Candidate {
                    provider,
                    model,
                    route,
                })
            }
        }
    }

    /// Try the candidates in order until one answers.
    pub async fn complete(
        &self,
        candidates: &[Candidate],
        request: &ModelRequest,
    ) -> Result<Completion, Exhausted> {
        let mut attempts = Vec::with_capacity(candidates.len());
        for candidate in candidates {
            let started = Instant::now();
            let result = match &candidate.route {
                Route::Unavailable(u) => {
                    self.warn_once(&candidate.provider, u);
                    Err((Outcome::Skipped(SkipReason::Unavailable(u.clone())), 0))
                }
                Route::Ready(provider) => {
                    self.try_candidate(candidate, provider.as_ref(), request)
                        .await
                }
            };
            let attempt = |outcome, retries| Attempt {
                provider: candidate.provider.clone(),
                model: candidate.model.clone(),
                outcome,
                duration: started.elapsed(),
                retries,
            };
            match result {
                Ok((response, retries)) => {
                    attempts.push(attempt(Outcome::Ok, retries));
                    let cost_usd = self.cost(&response);
                    return Ok(Completion {
                        response,
                        attempts,
                        cost_usd,
                    });
                }
                Err((outcome, retries)) => attempts.push(attempt(outcome, retries)),
            }
        }
        Err(Exhausted { attempts })
    }

    /// One candidate with retries. Ok carries the retry count; Err the final outcome.
    async fn try_candidate(
        &self,
        candidate: &Candidate,
        provider: &dyn ModelProvider,
        request: &ModelRequest,
    ) -> Result<(ModelResponse, u32), (Outcome, u32)> {
        let mut request = request.clone();
        request.model = candidate.model.clone();
        let name = candidate.provider.as_str();
        let mut tries: u32 = 0;
        let mut last_error = None;
        loop {
            let admission = self.admit(name);
            if let Admission::Rejected { retry_in } = admission {
                // Opened by our own failures or a parallel call's: stop here either way.
                let outcome = match last_error {
                    Some(e) => Outcome::Failed(e),
                    None => Outcome::Skipped(SkipReason::CircuitOpen { retry_in }),
                };
                return Err((outcome, tries.saturating_sub(1)));
            }
            let probe = ProbeGuard {
                router: self,
                provider: name,
                armed: admission == Admission::Probe,
            };
            tries += 1;
            let total = self.timeouts.total;
            let result = tokio::time::timeout(total, provider.complete(&request))
                .await
                .unwrap_or_else(|_| {
                    Err(ProviderError::Timeout {
                        provider: name.to_owned(),
                        phase: "the whole answer",
                        after: total,
                    })
                });
            self.record(name, &result);
            probe.disarm();
            let error = match result {
                Ok(response) => return Ok((response, tries - 1)),
                Err(e) => e,
            };
            tracing::warn!(provider = name, model = %candidate.model, attempt = tries, error = %error, "model call failed");
            match self.retry.decide(tries, &error, fastrand::f64()) {
                RetryDecision::Retry(wait) => {
                    last_error = Some(error);
                    tokio::time::sleep(wait).await;
                }
                RetryDecision::GiveUp(_) => return Err((Outcome::Failed(error), tries - 1)),
            }
        }
    }

    fn admit(&self, provider: &str) -> Admission {
        let mut breakers = lock(&self.breakers);
        breakers
            .entry(provider.to_owned())
            .or_insert_with(|| Breaker::new(self.breaker_config))
            .admit(Instant::now())
    }

    /// Count an outcome against the provider's breaker; errors that are not the
    /// provider's fault (a 400, a missing image capability) count as it answering.
    fn record(&self, provider: &str, result: &Result<ModelResponse, ProviderError>) {
        let mut breakers = lock(&self.breakers);
        let breaker = breakers
            .entry(provider.to_owned())
            .or_insert_with(|| Breaker::new(self.breaker_config));
        let now = Instant::now();
        match result {
            Err(e) if e.is_provider_fault() => {
                let before = breaker.state();
                breaker.record_failure(now, e.retry_after(), &e.to_string());
                if before != BreakerState::Open && breaker.state() == BreakerState::Open {
                    tracing::warn!(provider, "circuit breaker opened after repeated failures");
                }
            }
            _ => breaker.record_success(now),
        }
    }

    fn warn_once(&self, provider: &str, u: &Unavailable) {
        if lock(&self.warned).insert(provider.to_owned()) {
            tracing::warn!(provider, "model provider skipped: {}; {}", u.reason, u.fix);
        }
    }

    /// Every breaker's state, for `/status` and metrics.
    pub fn breaker_snapshots(&self) -> BTreeMap<String, BreakerSnapshot> {
        let (now, wall) = (Instant::now(), SystemTime::now());
        lock(&self.breakers)
            .iter()
            .map(|(name, b)| (name.clone(), b.snapshot(now, wall)))
            .collect()
    }

    /// The price table used for cost estimates.
    pub fn prices(&self) -> &PriceTable {
        &self.prices
    }

    /// Estimated cost of a response in USD, when its model has a price.
    pub fn cost(&self, response: &ModelResponse) -> Option<f64> {
        self.prices
            .cost(&response.provider, &response.model, &response.usage)
    }
}

/// Releases a half-open probe slot if the call is cancelled before its outcome counts.
struct ProbeGuard<'a> {
    router: &'a ProviderRouter,
    provider: &'a str,
    armed: bool,
}

impl ProbeGuard<'_> {
    fn disarm(mut self) {
        self.armed = false;
    }
}

impl Drop for ProbeGuard<'_> {
    fn drop(&mut self) {
        if self.armed {
            if let Some(b) = lock(&self.router.breakers).get_mut(self.provider) {
                b.abandon_probe();
            }
        }
    }
}

fn build_route(endpoint: &Endpoint, transport: &Transport) -> Result<Route, ConfigError> {
    let kind = endpoint.kind;
    let name = kind.name();
    let Some(base_url) = endpoint.base_url.as_deref() else {
        return Ok(Route::Unavailable(Unavailable {
            reason: "no base URL".into(),
            fix: format!("set {} or providers.{name}.base_url", kind.base_url_env()),
        }));
    };
    let key = match (&endpoint.key, endpoint.require_key) {
        (None, true) => {
            return Ok(Route::Unavailable(Unavailable {
                reason: "no API key".into(),
                fix: format!("set {}", endpoint.key_sources),
            }))
        }
        (key, _) => key.as_ref(),
    };
    let key_error = |e: ProviderError| ConfigError::Key {
        provider: name,
        problem: e.to_string(),
    };
    let t = transport.clone();
    let provider: Arc<dyn ModelProvider> = match (kind, key) {
        (ProviderKind::OpenAi, Some(key)) => Arc::new(
            OpenAiResponses::with_api_key(name, base_url, key, t)
                .map_err(key_error)?
                .with_images(endpoint.images),
        ),
        (ProviderKind::OpenAi, None) => Arc::new(
            OpenAiResponses::new(name, base_url, &HeaderMap::new(), t)
                .with_sampling_params(true)
                .with_images(endpoint.images),
        ),
        (ProviderKind::Chat, key) => Arc::new(
            ChatCompletions::new(name, base_url, key, endpoint.images, t).map_err(key_error)?,
        ),
        (ProviderKind::Anthropic, key) => {
            let max_tokens = endpoint.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS);
            Arc::new(
                Anthropic::new(name, base_url, key, max_tokens, t)
                    .map_err(key_error)?
                    .with_images(endpoint.images),
            )
        }
        (ProviderKind::Gemini, key) => Arc::new(
            Gemini::new(name, base_url, key, t)
                .map_err(key_error)?
                .with_images(endpoint.images),
        ),
    };
    Ok(Route::Ready(provider))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::config::{BreakerSettings, RetrySettings};
    use crate::providers::{StopReason, Usage};
    use std::collections::VecDeque;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A provider that answers from a script and counts its calls.
    struct Scripted {
        name: &'static str,
        script: Mutex<VecDeque<Result<ModelResponse, ProviderError>>>,
        calls: AtomicUsize,
    }

    impl Scripted {
        fn new(
            name: &'static str,
            script: impl IntoIterator<Item = Result<ModelResponse, ProviderError>>,
        ) -> Arc<Self> {
            Arc::new(Self {
                name,
                script: Mutex::new(script.into_iter().collect()),
                calls: AtomicUsize::new(0),
            })
        }

        fn calls(&self) -> usize {
            self.calls.load(Ordering::SeqCst)
        }
    }

    #[async_trait::async_trait]
    impl ModelProvider for Scripted {
        fn name(&self) -> &str {
            self.name
        }

        async fn complete(&self, req: &ModelRequest) -> Result<ModelResponse, ProviderError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            let next = lock(&self.script).pop_front();
            next.unwrap_or_else(|| Ok(answer(self.name, &req.model)))
        }
    }

    fn answer(provider: &str, model: &str) -> ModelResponse {
        ModelResponse {
            content: vec![crate::providers::Block::Text { text: "hi".into() }],
            stop: StopReason::EndTurn,
            usage: Usage {
                input_tokens: 1_000_000,
                output_tokens: 0,
                cached_input_tokens: 0,
            },
            provider: provider.into(),
            model: model.into(),
        }
    }

    fn status(provider: &str, code: u16) -> ProviderError {
        ProviderError::Status {
            provider: provider.into(),
            status: code,
            message: "boom".into(),
            retry_after: None,
        }
    }

    fn router(env: &[(&str, &str)]) -> ProviderRouter {
        let config = ProvidersConfig {
            retry: RetrySettings {
                max_attempts: 3,
                base_delay_ms: 1,
                max_delay_ms: 2,
                max_retry_after_ms: 50,
            },
            breaker: BreakerSettings {
                window_ms: 60_000,
                min_requests: 4,
                error_ratio: 0.5,
                cooldown_ms: 60_000,
            },
            ..Default::default()
        };
        let map: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect();
        ProviderRouter::new(&config, &|k| map.get(k).cloned()).expect("valid config")
    }

    fn inherit() -> InheritTarget {
        let mut headers = HeaderMap::new();
        headers.insert("authorization", "Bearer session-token".parse().unwrap());
        InheritTarget {
            base_url: "https://chatgpt.com/backend-api/codex".into(),
            headers,
            model: "gpt-5.5".into(),
        }
    }

    fn labels(c: &[Candidate]) -> Vec<String> {
        c.iter()
            .map(|c| {
                format!(
                    "{}{}",
                    c.label(),
                    if c.is_available() {
                        ""
                    } else {
                        " (unavailable)"
                    }
                )
            })
            .collect()
    }

    #[test]
    fn resolves_every_kind_of_spec() {
        let r = router(&[("ANTHROPIC_API_KEY", "k")]);
        let it = inherit();
        let resolve = |spec: Option<&str>| labels(&r.resolve(spec, Some(&it)).expect("resolves"));
        assert_eq!(resolve(None), ["inherit:gpt-5.5"]);
        assert_eq!(resolve(Some(" Inherit ")), ["inherit:gpt-5.5"]);
        assert_eq!(
            resolve(Some("sonnet")),
            [
                "anthropic:claude-sonnet-4-5",
                "openai:gpt-5 (unavailable)",
                "inherit:gpt-5.5"
            ]
        );
        assert_eq!(resolve(Some("SONNET")).len(), 3, "aliases ignore case");
        assert_eq!(
            resolve(Some("claude-opus-4-5")),
            ["anthropic:claude-opus-4-5"]
        );
        assert_eq!(
            resolve(Some("gemini-2.5-pro")),
            ["gemini:gemini-2.5-pro (unavailable)"]
        );
        assert_eq!(
            resolve(Some("gpt-5-mini")),
            ["inherit:gpt-5-mini", "openai:gpt-5-mini (unavailable)"]
        );
        assert_eq!(resolve(Some("inherit:o3")), ["inherit:o3"]);
        assert_eq!(
            resolve(Some("chat:llama3:8b")),
            ["chat:llama3:8b (unavailable)"]
        );
    }

    #[test]
    fn inherit_without_a_session_upstream_is_a_clear_error() {
        let r = router(&[]);
        let e = r.resolve(None, None).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("model `inherit`: it resolves only to `inherit`"),
            "{e}"
        );
        // An alias still offers its other candidates.
        let c = r.resolve(Some("haiku"), None).expect("resolves");
        assert_eq!(
            labels(&c),
            [
                "anthropic:claude-haiku-4-5 (unavailable)",
                "openai:gpt-5-mini (unavailable)"
            ]
        );
    }

    #[test]
    fn debug_output_hides_credentials() {
        let r = router(&[("OPENAI_API_KEY", "sk-very-secret")]);
        let it = inherit();
        let c = r
            .resolve(Some("openai:gpt-5"), Some(&it))
            .expect("resolves");
        let text = format!("{r:?} {c:?} {it:?}");
        assert!(
            !text.contains("sk-very-secret") && !text.contains("session-token"),
            "{text}"
        );
        assert!(
            text.contains("authorization"),
            "header names are fine: {text}"
        );
    }

    #[tokio::test]
    async fn retries_then_falls_back_and_reports_every_attempt() {
        let r = router(&[]);
        let a = Scripted::new(
            "a",
            [
                Err(status("a", 503)),
                Err(status("a", 503)),
                Err(status("a", 503)),
            ],
        );
        let b = Scripted::new("b", []);
        let candidates = [
            Candidate::new(a.clone(), "m1"),
            Candidate::new(b.clone(), "m2"),
        ];
        let done = r
            .complete(&candidates, &ModelRequest::default())
            .await
            .expect("b answers");
        assert_eq!(a.calls(), 3, "max_attempts per candidate");
        assert_eq!(b.calls(), 1);
        assert_eq!(done.response.model, "m2", "the candidate's model is sent");
        let summary: Vec<(String, String, u32)> = done
            .attempts
            .iter()
            .map(|a| (a.provider.clone(), a.outcome_text(), a.retries))
            .collect();
        assert_eq!(
            summary,
            [
                ("a".into(), "a: HTTP 503: boom".into(), 2),
                ("b".into(), "ok".into(), 0)
            ]
        );
    }

    #[tokio::test]
    async fn permanent_errors_fall_back_without_retrying() {
        let r = router(&[]);
        let a = Scripted::new("a", [Err(status("a", 400))]);
        let b = Scripted::new("b", []);
        let candidates = [
            Candidate::new(a.clone(), "m"),
            Candidate::new(b.clone(), "m"),
        ];
        r.complete(&candidates, &ModelRequest::default())
            .await
            .expect("b answers");
        assert_eq!(a.calls(), 1);
    }

    #[tokio::test]
    async fn an_open_breaker_skips_the_provider_at_once() {
        let r = router(&[]);
        let a = Scripted::new("a", (0..6).map(|_| Err(status("a", 500))));
        let b = Scripted::new("b", []);
        let candidates = [
            Candidate::new(a.clone(), "m"),
            Candidate::new(b.clone(), "m"),
        ];
        // 3 failures, then 1 more opens it (min 4 requests, all failed).
        r.complete(&candidates, &ModelRequest::default())
            .await
            .expect("b");
        r.complete(&candidates, &ModelRequest::default())
            .await
            .expect("b");
        assert_eq!(
            a.calls(),
            4,
            "the breaker opened on the 4th failure and stopped the retries"
        );
        let snap = &r.breaker_snapshots()["a"];
        assert_eq!(snap.state, BreakerState::Open);
        let done = r
            .complete(&candidates, &ModelRequest::default())
            .await
            .expect("b");
        assert_eq!(a.calls(), 4, "skipped while open");
        assert!(matches!(
            done.attempts[0].outcome,
            Outcome::Skipped(SkipReason::CircuitOpen { retry_in: Some(_) })
        ));
    }

    #[tokio::test]
    async fn unavailable_providers_are_skipped_and_reported() {
        let r = router(&[]);
        let candidates = r.resolve(Some("opus"), None).expect("resolves");
        let err = r
            .complete(&candidates, &ModelRequest::default())
            .await
            .expect_err("nothing can answer");
        insta::assert_snapshot!(err.to_string());
    }

    #[tokio::test]
    async fn exhausted_names_the_cause_and_what_was_tried() {
        let r = router(&[]);
        let a = Scripted::new("anthropic", (0..3).map(|_| Err(status("anthropic", 529))));
        let missing = r
            .resolve(Some("openai:gpt-5"), None)
            .expect("resolves")
            .remove(0);
        let candidates = [Candidate::new(a, "claude-sonnet-4-5"), missing];
        let err = r
            .complete(&candidates, &ModelRequest::default())
            .await
            .expect_err("all fail");
        let text = err.to_string();
        insta::assert_snapshot!(text);
        assert_eq!(err.attempts.len(), 2);
    }

    #[tokio::test]
    async fn cost_is_estimated_from_the_price_table() {
        let r = router(&[]);
        let p = Scripted::new("anthropic", []);
        let done = r
            .complete(
                &[Candidate::new(p, "claude-sonnet-4-5")],
                &ModelRequest::default(),
            )
            .await
            .expect("ok");
        assert_eq!(done.cost_usd, Some(3.0), "1M input tokens at $3/M");
    }
}
