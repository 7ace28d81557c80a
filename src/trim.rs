//! Handing freed memory back to the system once the proxy goes quiet.
//!
//! jemalloc keeps freed pages for reuse and returns them over ~10 s, but only while
//! it is being called: a proxy that goes quiet after a burst (streams opened, then
//! waiting on the model) would keep the burst's garbage resident. Returning pages on
//! every free costs ~20 µs per stream (docs/benchmarks.md); returning them once, when
//! no request has come for a moment, costs nothing while requests keep coming.

use std::time::Duration;

use prometheus_client::metrics::counter::Counter;

/// No new request for this long is quiet.
const QUIET: Duration = Duration::from_millis(250);

/// Purges the allocator's unused pages each time requests stop coming; runs until
/// dropped. `requests` counts requests received.
pub async fn when_quiet(requests: Counter) {
    let mut tick = tokio::time::interval(QUIET);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut quiet = Quiet::new(requests.get());
    loop {
        tick.tick().await;
        if quiet.observe(requests.get()) {
            purge();
        }
    }
}

/// When to purge: on the first look that finds no new request since the one before,
/// and not again until requests have come and stopped again.
struct Quiet {
    seen: u64,
    purged: bool,
}

impl Quiet {
    /// Nothing to hand back before the first request.
    fn new(seen: u64) -> Quiet {
        Quiet { seen, purged: true }
    }

    fn observe(&mut self, requests: u64) -> bool {
        if requests != self.seen {
            self.seen = requests;
            self.purged = false;
            return false;
        }
        !std::mem::replace(&mut self.purged, true)
    }
}

/// Every arena's unused dirty pages, back to the system.
#[cfg(not(target_env = "msvc"))]
fn purge() {
    // MALLCTL_ARENAS_ALL is arena 4096.
    if let Err(rc) = run(c"arena.4096.purge") {
        tracing::debug!(rc, "the allocator did not purge");
    }
}

#[cfg(target_env = "msvc")]
fn purge() {}

/// Runs a jemalloc control that reads and writes nothing.
#[cfg(not(target_env = "msvc"))]
fn run(control: &std::ffi::CStr) -> Result<(), std::ffi::c_int> {
    let none = std::ptr::null_mut();
    // SAFETY: a NUL-terminated name and no buffers, which such a control takes.
    match unsafe { tikv_jemalloc_sys::mallctl(control.as_ptr(), none, none.cast(), none, 0) } {
        0 => Ok(()),
        rc => Err(rc),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purges_once_each_time_requests_stop() {
        let mut q = Quiet::new(0);
        assert!(!q.observe(0), "nothing came yet");
        assert!(!q.observe(3), "requests are coming");
        assert!(!q.observe(7), "still coming");
        assert!(q.observe(7), "they stopped");
        assert!(!q.observe(7), "already purged");
        assert!(!q.observe(8), "one more came");
        assert!(q.observe(8), "and stopped again");
    }

    #[cfg(not(target_env = "msvc"))]
    #[test]
    fn the_purge_control_is_one_jemalloc_knows() {
        assert_eq!(run(c"arena.4096.purge"), Ok(()));
        assert_eq!(run(c"arena.4096.no_such_control"), Err(libc::ENOENT));
    }
}
