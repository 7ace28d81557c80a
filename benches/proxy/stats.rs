//! Percentiles over samples in microseconds.

use std::time::Duration;

/// Samples (µs), sorted on demand.
#[derive(Debug, Clone, Default)]
pub struct Samples(Vec<f64>);

impl Samples {
    pub fn push(&mut self, d: Duration) {
        self.0.push(d.as_secs_f64() * 1e6);
    }

    pub fn push_us(&mut self, us: f64) {
        self.0.push(us);
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Nearest-rank percentile (p in 0..=100); NaN when empty.
    pub fn pct(&self, p: f64) -> f64 {
        if self.0.is_empty() {
            return f64::NAN;
        }
        let mut v = self.0.clone();
        v.sort_by(f64::total_cmp);
        let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
        v[rank.clamp(1, v.len()) - 1]
    }

    /// Share of samples below `us`.
    pub fn share_below(&self, us: f64) -> f64 {
        if self.0.is_empty() {
            return f64::NAN;
        }
        self.0.iter().filter(|&&x| x < us).count() as f64 / self.0.len() as f64
    }

    /// Every other sample, starting at `first` (0 or 1): two halves for an A/A check.
    pub fn half(&self, first: usize) -> Samples {
        Samples(self.0.iter().skip(first).step_by(2).copied().collect())
    }
}
