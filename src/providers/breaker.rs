//! Circuit breaker per provider: stop calling a provider that keeps failing, so the
//! router moves to the next candidate at once instead of waiting out its retries.
//!
//! closed ──(error ratio ≥ threshold over the window, ≥ min requests)──▶ open
//! open ──(cooldown, or the provider's Retry-After if longer, elapsed)──▶ half-open
//! half-open ──(the one probe succeeds)──▶ closed, ──(it fails)──▶ open again
//!
//! Pure: the caller passes the clock, so every transition is a unit test.

use std::collections::VecDeque;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;

/// When a breaker opens and for how long.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BreakerConfig {
    /// Outcomes older than this no longer count.
    pub window: Duration,
    /// Fewer outcomes than this in the window never open the breaker.
    pub min_requests: u32,
    /// Failure share (0..=1) at which the breaker opens.
    pub error_ratio: f64,
    /// How long an open breaker rejects calls before letting one probe through.
    pub cooldown: Duration,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            window: Duration::from_secs(60),
            min_requests: 5,
            error_ratio: 0.5,
            cooldown: Duration::from_secs(30),
        }
    }
}

/// The three breaker states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

/// Whether a call may go to the provider now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Allowed,
    /// Allowed as the single half-open probe: its outcome decides the state.
    Probe,
    /// Skip this provider; `retry_in` is the rest of the cooldown (None: a probe is in flight).
    Rejected {
        retry_in: Option<Duration>,
    },
}

/// What `/status` and metrics show for one breaker.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BreakerSnapshot {
    pub state: BreakerState,
    /// Successes and failures inside the rolling window.
    pub successes: u32,
    pub failures: u32,
    /// When the breaker last opened (Unix ms), while it is open or half-open.
    pub opened_at_unix_ms: Option<u64>,
    /// Rest of the cooldown while open.
    pub retry_in_ms: Option<u64>,
    /// How many times it has opened since start.
    pub trips: u64,
    /// The failure that last counted against it.
    pub last_error: Option<String>,
}

/// One provider's breaker.
#[derive(Debug, Clone)]
pub struct Breaker {
    config: BreakerConfig,
    state: BreakerState,
    /// (when, succeeded) inside the window, oldest first.
    outcomes: VecDeque<(Instant, bool)>,
    opened_at: Option<Instant>,
    open_until: Option<Instant>,
    probing: bool,
    trips: u64,
    last_error: Option<String>,
}

impl Breaker {
    /// A closed breaker.
    pub fn new(config: BreakerConfig) -> Self {
        Self {
            config,
            state: BreakerState::Closed,
            outcomes: VecDeque::new(),
            opened_at: None,
            open_until: None,
            probing: false,
            trips: 0,
            last_error: None,
        }
    }

    /// The current state (an open breaker whose cooldown is over reads as open until `admit`).
    pub fn state(&self) -> BreakerState {
        self.state
    }

    /// Ask to send one call now.
    pub fn admit(&mut self, now: Instant) -> Admission {
        match self.state {
            BreakerState::Closed => Admission::Allowed,
            BreakerState::Open => match self.open_until {
                Some(until) if now < until => Admission::Rejected {
                    retry_in: Some(until - now),
                },
                _ => {
                    self.state = BreakerState::HalfOpen;
                    self.probing = true;
                    Admission::Probe
                }
            },
            BreakerState::HalfOpen if self.probing => Admission::Rejected { retry_in: None },
            BreakerState::HalfOpen => {
                self.probing = true;
                Admission::Probe
            }
        }
    }

    /// The provider answered (or failed in a way that is not its fault).
    pub fn record_success(&mut self, now: Instant) {
        match self.state {
            BreakerState::Closed => self.push(now, true),
            BreakerState::HalfOpen => {
                self.state = BreakerState::Closed;
                self.probing = false;
                self.outcomes.clear();
                self.opened_at = None;
                self.open_until = None;
            }
            // A call admitted before the breaker opened: too late to matter.
            BreakerState::Open => {}
        }
    }

    /// The provider failed; `retry_after` is how long it asked us to stay away.
    pub fn record_failure(&mut self, now: Instant, retry_after: Option<Duration>, error: &str) {
        self.last_error = Some(error.to_owned());
        match self.state {
            BreakerState::Closed => {
                self.push(now, false);
                if self.should_trip() {
                    self.trip(now, retry_after);
                }
            }
            BreakerState::HalfOpen => self.trip(now, retry_after),
            BreakerState::Open => {}
        }
    }

    /// A half-open probe ended without an outcome (cancelled): let another call probe.
    pub fn abandon_probe(&mut self) {
        if self.state == BreakerState::HalfOpen {
            self.probing = false;
        }
    }

    /// State and counts for `/status`; `wall_now` is the wall clock matching `now`.
    pub fn snapshot(&self, now: Instant, wall_now: SystemTime) -> BreakerSnapshot {
        let in_window = self
            .outcomes
            .iter()
            .filter(|(at, _)| now.saturating_duration_since(*at) <= self.config.window);
        let (mut successes, mut failures) = (0, 0);
        for (_, ok) in in_window {
            if *ok {
                successes += 1;
            } else {
                failures += 1;
            }
        }
        let opened_at_unix_ms = self.opened_at.and_then(|at| {
            let wall = wall_now.checked_sub(now.saturating_duration_since(at))?;
            let ms = wall.duration_since(UNIX_EPOCH).ok()?.as_millis();
            u64::try_from(ms).ok()
        });
        let retry_in_ms = match (self.state, self.open_until) {
            (BreakerState::Open, Some(until)) => {
                u64::try_from(until.saturating_duration_since(now).as_millis()).ok()
            }
            _ => None,
        };
        BreakerSnapshot {
            state: self.state,
            successes,
            failures,
            opened_at_unix_ms,
            retry_in_ms,
            trips: self.trips,
            last_error: self.last_error.clone(),
        }
    }

    fn push(&mut self, now: Instant, ok: bool) {
        self.outcomes.push_back((now, ok));
        while let Some((at, _)) = self.outcomes.front() {
            if now.saturating_duration_since(*at) > self.config.window {
                self.outcomes.pop_front();
            } else {
                break;
            }
        }
    }

    fn should_trip(&self) -> bool {
        let total = self.outcomes.len();
        if total == 0 || total < self.config.min_requests as usize {
            return false;
        }
        let failures = self.outcomes.iter().filter(|(_, ok)| !ok).count();
        failures as f64 / total as f64 >= self.config.error_ratio
    }

    fn trip(&mut self, now: Instant, retry_after: Option<Duration>) {
        let cooldown = self
            .config
            .cooldown
            .max(retry_after.unwrap_or(Duration::ZERO));
        self.state = BreakerState::Open;
        self.probing = false;
        self.opened_at = Some(now);
        self.open_until = Some(now + cooldown);
        self.outcomes.clear();
        self.trips += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> BreakerConfig {
        BreakerConfig {
            window: Duration::from_secs(10),
            min_requests: 4,
            error_ratio: 0.5,
            cooldown: Duration::from_secs(5),
        }
    }

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn stays_closed_below_min_requests() {
        let t = Instant::now();
        let mut b = Breaker::new(config());
        for _ in 0..3 {
            b.record_failure(t, None, "boom");
        }
        assert_eq!(b.state(), BreakerState::Closed, "3 failures < min 4");
        assert_eq!(b.admit(t), Admission::Allowed);
    }

    #[test]
    fn opens_at_the_error_ratio_and_rejects_during_cooldown() {
        let t = Instant::now();
        let mut b = Breaker::new(config());
        b.record_success(t);
        b.record_success(t);
        b.record_failure(t, None, "boom");
        assert_eq!(b.state(), BreakerState::Closed, "1/3 below ratio");
        b.record_failure(t, None, "HTTP 503");
        assert_eq!(b.state(), BreakerState::Open, "2/4 = 0.5 reaches ratio");
        assert_eq!(
            b.admit(t + secs(1)),
            Admission::Rejected {
                retry_in: Some(secs(4))
            }
        );
        let snap = b.snapshot(t + secs(1), SystemTime::UNIX_EPOCH + secs(1000));
        assert_eq!(snap.state, BreakerState::Open);
        assert_eq!(snap.opened_at_unix_ms, Some(999_000));
        assert_eq!(snap.retry_in_ms, Some(4000));
        assert_eq!(snap.trips, 1);
        assert_eq!(snap.last_error.as_deref(), Some("HTTP 503"));
    }

    #[test]
    fn old_outcomes_leave_the_window() {
        let t = Instant::now();
        let mut b = Breaker::new(config());
        for _ in 0..3 {
            b.record_failure(t, None, "old");
        }
        // 11 s later the old failures no longer count: 1 failure + 3 successes.
        let later = t + secs(11);
        for _ in 0..3 {
            b.record_success(later);
        }
        b.record_failure(later, None, "new");
        assert_eq!(b.state(), BreakerState::Closed);
        let snap = b.snapshot(later, SystemTime::now());
        assert_eq!((snap.successes, snap.failures), (3, 1));
    }

    #[test]
    fn half_open_admits_one_probe_and_success_closes() {
        let t = Instant::now();
        let mut b = Breaker::new(config());
        for _ in 0..4 {
            b.record_failure(t, None, "boom");
        }
        let after = t + secs(5);
        assert_eq!(b.admit(after), Admission::Probe);
        assert_eq!(b.state(), BreakerState::HalfOpen);
        assert_eq!(
            b.admit(after),
            Admission::Rejected { retry_in: None },
            "only one probe at a time"
        );
        b.record_success(after);
        assert_eq!(b.state(), BreakerState::Closed);
        assert_eq!(b.admit(after), Admission::Allowed);
        assert_eq!(b.snapshot(after, SystemTime::now()).opened_at_unix_ms, None);
    }

    #[test]
    fn failed_probe_reopens_for_another_cooldown() {
        let t = Instant::now();
        let mut b = Breaker::new(config());
        for _ in 0..4 {
            b.record_failure(t, None, "boom");
        }
        let probe_at = t + secs(6);
        assert_eq!(b.admit(probe_at), Admission::Probe);
        b.record_failure(probe_at, None, "still down");
        assert_eq!(b.state(), BreakerState::Open);
        assert!(matches!(
            b.admit(probe_at + secs(4)),
            Admission::Rejected { retry_in: Some(_) }
        ));
        assert_eq!(b.admit(probe_at + secs(5)), Admission::Probe);
        assert_eq!(b.snapshot(probe_at, SystemTime::now()).trips, 2);
    }

    #[test]
    fn retry_after_longer_than_cooldown_keeps_it_open() {
        let t = Instant::now();
        let mut b = Breaker::new(config());
        for _ in 0..3 {
            b.record_failure(t, None, "boom");
        }
        b.record_failure(t, Some(secs(20)), "429");
        assert!(matches!(
            b.admit(t + secs(10)),
            Admission::Rejected { retry_in: Some(d) } if d == secs(10)
        ));
        assert_eq!(b.admit(t + secs(20)), Admission::Probe);
    }

    #[test]
    fn abandoned_probe_lets_another_call_probe() {
        let t = Instant::now();
        let mut b = Breaker::new(config());
        for _ in 0..4 {
            b.record_failure(t, None, "boom");
        }
        assert_eq!(b.admit(t + secs(5)), Admission::Probe);
        b.abandon_probe();
        assert_eq!(b.admit(t + secs(5)), Admission::Probe);
    }

    #[test]
    fn late_outcomes_while_open_change_nothing() {
        let t = Instant::now();
        let mut b = Breaker::new(config());
        for _ in 0..4 {
            b.record_failure(t, None, "boom");
        }
        b.record_success(t);
        assert_eq!(b.state(), BreakerState::Open);
        b.record_failure(t, Some(secs(100)), "late");
        assert_eq!(
            b.admit(t + secs(5)),
            Admission::Probe,
            "cooldown not extended"
        );
    }
}
