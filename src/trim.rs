//! Handing freed memory back to the system once the proxy goes quiet.
//!
//! jemalloc keeps freed pages for reuse and returns them over ~10 s, but only while
//! it is being called: a proxy that goes quiet after a burst (streams opened, then
//! waiting on the model) would keep the burst's garbage resident. Returning pages on
//! every free costs ~20 µs per stream (docs/benchmarks.md); returning them once, when
//! no request has come for a moment, costs nothing while requests keep coming.
//!
//! Start-up's code is handed back too, once: see `drop_startup_code`.

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
    // The first tick is at once: start-up is over by the second.
    tick.tick().await;
    tick.tick().await;
    let dropped = drop_startup_code();
    tracing::debug!(bytes = dropped, "start-up's code unmapped");
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

/// Start-up's code (the command line, configuration, the CA, the ledger's schema)
/// never runs again, but its pages stay mapped and count as resident for the life
/// of the process: ~11 MB of the 19 MB a fresh proxy holds (docs/benchmarks.md).
/// So once start-up is over, the read-only mappings of the executable and its
/// libraries are emptied: what runs again faults back in from the page cache (minor
/// faults, no I/O), and what never runs again stays out. Returns the bytes unmapped.
#[cfg(target_os = "linux")]
pub fn drop_startup_code() -> usize {
    let Ok(smaps) = std::fs::read_to_string("/proc/self/smaps") else {
        return 0;
    };
    let mut dropped = 0;
    for m in read_only_file_mappings(&smaps) {
        // SAFETY: a private, read-only file mapping with no private (anonymous)
        // pages holds nothing but the file's own pages: emptying it loses nothing,
        // and its pages fault back in from the file on their next use.
        let rc = unsafe { libc::madvise(m.start as *mut libc::c_void, m.len, libc::MADV_DONTNEED) };
        if rc == 0 {
            dropped += m.len;
        }
    }
    dropped
}

#[cfg(not(target_os = "linux"))]
pub fn drop_startup_code() -> usize {
    0
}

/// A mapping from `/proc/self/smaps`.
#[derive(Debug, PartialEq)]
struct Mapping {
    start: usize,
    len: usize,
}

/// The private file mappings that are not writable and hold no anonymous pages
/// (so not the relocated ones, which were written once at load).
fn read_only_file_mappings(smaps: &str) -> Vec<Mapping> {
    let mut out = Vec::new();
    let mut current: Option<Mapping> = None;
    for line in smaps.lines() {
        let mut fields = line.split_whitespace();
        let (Some(first), Some(second)) = (fields.next(), fields.next()) else {
            continue;
        };
        if let Some((start, end)) = first.split_once('-') {
            // A mapping's first line: "start-end perms offset dev inode path".
            let (Ok(start), Ok(end)) = (
                usize::from_str_radix(start, 16),
                usize::from_str_radix(end, 16),
            ) else {
                current = None;
                continue;
            };
            let file = fields
                .nth(3)
                .map(|_| line.splitn(6, char::is_whitespace).last());
            let ours = file
                .flatten()
                .is_some_and(|f| f.trim_start().starts_with('/'));
            let read_only = second.as_bytes().get(1) == Some(&b'-') && second.ends_with('p');
            current = (ours && read_only && end > start).then(|| Mapping {
                start,
                len: end - start,
            });
        } else if first == "Anonymous:" {
            if let Some(m) = current.take() {
                if second == "0" {
                    out.push(m);
                }
            }
        }
    }
    out
}

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
    fn only_untouched_read_only_file_mappings_are_dropped() {
        let smaps = "\
55d000000000-55d000001000 r--p 00000000 fd:01 42                         /opt/codex plus/bin
Size:                  4 kB
Anonymous:             0 kB
55d000001000-55d000100000 r-xp 00001000 fd:01 42                         /opt/codex plus/bin
Rss:                 800 kB
Anonymous:             0 kB
55d000100000-55d000140000 r--p 00100000 fd:01 42                         /opt/codex plus/bin
Anonymous:           256 kB
55d000140000-55d000141000 rw-p 00140000 fd:01 42                         /opt/codex plus/bin
Anonymous:             4 kB
7f0000000000-7f0000100000 r-xp 00000000 fd:01 7                          /usr/lib/libc.so.6
Anonymous:             0 kB
7f0000200000-7f0000300000 rw-p 00000000 00:00 0 
Anonymous:          1024 kB
";
        let dropped = read_only_file_mappings(smaps);
        assert_eq!(
            dropped,
            [
                Mapping {
                    start: 0x55d000000000,
                    len: 0x1000
                },
                Mapping {
                    start: 0x55d000001000,
                    len: 0xff000
                },
                Mapping {
                    start: 0x7f0000000000,
                    len: 0x100000
                },
            ]
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn dropping_start_up_code_keeps_the_process_running() {
        assert!(drop_startup_code() > 0);
        // The code dropped includes this test's: it faults back in.
        assert_eq!(format!("{}", 6 * 7), "42");
    }

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
