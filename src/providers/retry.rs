//! When to try a failed model call again, and how long to wait first.
//!
//! Pure: the caller passes the jitter and the clock, so every rule is a unit test.
//! Backoff is exponential with full jitter (a random wait between zero and the
//! ceiling), which spreads out subagents that failed together. A `Retry-After`
//! from the provider replaces the backoff; one longer than we are willing to wait
//! moves the call to the next candidate instead.

use std::time::{Duration, SystemTime};

use http::HeaderMap;

use super::ProviderError;

/// Bounds on retrying one candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Tries per candidate, the first included (1 = no retry).
    pub max_attempts: u32,
    /// Ceiling of the first backoff; doubles per retry.
    pub base_delay: Duration,
    /// Largest backoff ceiling.
    pub max_delay: Duration,
    /// Longest `Retry-After` we sleep through; longer ones fall through to the next candidate.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(8),
            max_retry_after: Duration::from_secs(30),
        }
    }
}

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryDecision {
    /// Wait this long, then try the same candidate again.
    Retry(Duration),
    /// Stop trying this candidate.
    GiveUp(GiveUp),
}

/// Why a candidate is not tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GiveUp {
    /// The error will not change on retry (e.g. 400, 401).
    NotRetryable,
    /// `max_attempts` used up.
    OutOfAttempts,
    /// The provider asked for a longer wait than `max_retry_after`.
    WaitTooLong(Duration),
}

impl RetryPolicy {
    /// Decide after attempt number `attempt` (1-based) failed with `err`.
    /// `jitter` is a uniform random number in `[0, 1)`.
    pub fn decide(&self, attempt: u32, err: &ProviderError, jitter: f64) -> RetryDecision {
        if !err.is_retryable() {
            return RetryDecision::GiveUp(GiveUp::NotRetryable);
        }
        if attempt >= self.max_attempts {
            return RetryDecision::GiveUp(GiveUp::OutOfAttempts);
        }
        match err.retry_after() {
            Some(wait) if wait > self.max_retry_after => {
                RetryDecision::GiveUp(GiveUp::WaitTooLong(wait))
            }
            Some(wait) => RetryDecision::Retry(wait),
            None => RetryDecision::Retry(self.backoff(attempt, jitter)),
        }
    }

    /// Full-jitter backoff after attempt `attempt` (1-based): `jitter * min(max, base * 2^(attempt-1))`.
    pub fn backoff(&self, attempt: u32, jitter: f64) -> Duration {
        let doublings = attempt.saturating_sub(1).min(31);
        let ceiling = self
            .base_delay
            .saturating_mul(1u32 << doublings)
            .min(self.max_delay);
        ceiling.mul_f64(jitter.clamp(0.0, 1.0))
    }
}

/// A `Retry-After` value: delay in seconds, or an HTTP date (a past date means now).
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// The wait a response asks for: `retry-after-ms` (OpenAI) or `Retry-After`.
pub fn retry_after_from_headers(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(ms) = header("retry-after-ms").and_then(|v| v.trim().parse::<u64>().ok()) {
        return Some(Duration::from_millis(ms));
    }
    header("retry-after").and_then(|v| parse_retry_after(v, now))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 4,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(1000),
            max_retry_after: Duration::from_secs(5),
        }
    }

    fn status(code: u16, retry_after: Option<Duration>) -> ProviderError {
        ProviderError::Status {
            provider: "p".into(),
            status: code,
            message: "m".into(),
            retry_after,
        }
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_and_scales_by_jitter() {
        let p = policy();
        assert_eq!(p.backoff(1, 1.0), Duration::from_millis(100));
        assert_eq!(p.backoff(2, 1.0), Duration::from_millis(200));
        assert_eq!(p.backoff(3, 1.0), Duration::from_millis(400));
        assert_eq!(p.backoff(5, 1.0), Duration::from_millis(1000), "capped");
        assert_eq!(
            p.backoff(40, 1.0),
            Duration::from_millis(1000),
            "no overflow"
        );
        assert_eq!(p.backoff(3, 0.5), Duration::from_millis(200));
        assert_eq!(
            p.backoff(3, 0.0),
            Duration::ZERO,
            "full jitter reaches zero"
        );
    }

    #[test]
    fn retries_transient_errors_until_attempts_run_out() {
        let p = policy();
        let e = status(503, None);
        assert_eq!(
            p.decide(1, &e, 1.0),
            RetryDecision::Retry(Duration::from_millis(100))
        );
        assert_eq!(
            p.decide(3, &e, 1.0),
            RetryDecision::Retry(Duration::from_millis(400))
        );
        assert_eq!(
            p.decide(4, &e, 1.0),
            RetryDecision::GiveUp(GiveUp::OutOfAttempts)
        );
    }

    #[test]
    fn never_retries_a_permanent_4xx() {
        assert_eq!(
            policy().decide(1, &status(400, None), 0.5),
            RetryDecision::GiveUp(GiveUp::NotRetryable)
        );
        assert_eq!(
            policy().decide(1, &status(401, Some(Duration::from_secs(1))), 0.5),
            RetryDecision::GiveUp(GiveUp::NotRetryable)
        );
    }

    #[test]
    fn retry_after_replaces_backoff_unless_too_long() {
        let p = policy();
        let soon = status(429, Some(Duration::from_secs(2)));
        assert_eq!(
            p.decide(1, &soon, 0.0),
            RetryDecision::Retry(Duration::from_secs(2))
        );
        let late = status(529, Some(Duration::from_secs(60)));
        assert_eq!(
            p.decide(1, &late, 0.0),
            RetryDecision::GiveUp(GiveUp::WaitTooLong(Duration::from_secs(60)))
        );
    }

    #[test]
    fn parses_retry_after_seconds_and_http_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777); // Sun, 06 Nov 1994 08:49:37 GMT
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after(" 0.25 ", now),
            Some(Duration::from_millis(250))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:47 GMT", now),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now),
            Some(Duration::ZERO),
            "a date in the past means retry now"
        );
        assert_eq!(parse_retry_after("-1", now), None);
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn reads_retry_after_headers() {
        let now = SystemTime::now();
        let mut h = HeaderMap::new();
        assert_eq!(retry_after_from_headers(&h, now), None);
        h.insert("retry-after", "3".parse().unwrap());
        assert_eq!(
            retry_after_from_headers(&h, now),
            Some(Duration::from_secs(3))
        );
        h.insert("retry-after-ms", "120".parse().unwrap());
        assert_eq!(
            retry_after_from_headers(&h, now),
            Some(Duration::from_millis(120)),
            "the millisecond header is more precise"
        );
    }
}
