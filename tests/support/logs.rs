//! Log lines a test can read: a tracing subscriber for the test's thread that writes
//! into memory. Tests using it need a binary of their own, because tracing's
//! per-callsite interest is process-wide and parallel tests would race on it.

use std::io::Write;
use std::sync::{Arc, Mutex};

use tracing::subscriber::DefaultGuard;

/// Collects formatted tracing output.
#[derive(Clone, Default)]
pub struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    /// Captures what this thread logs at `level` and above, until the guard drops.
    pub fn start(level: tracing::Level) -> (Captured, DefaultGuard) {
        let logs = Captured::default();
        let writer = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_max_level(level)
            .with_ansi(false)
            .finish();
        (logs, tracing::subscriber::set_default(subscriber))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("lock")).into_owned()
    }

    /// The one line saying `what`.
    pub fn line(&self, what: &str) -> String {
        let text = self.text();
        let lines: Vec<&str> = text.lines().filter(|l| l.contains(what)).collect();
        assert_eq!(lines.len(), 1, "one line with {what:?} in:\n{text}");
        lines[0].to_string()
    }
}
