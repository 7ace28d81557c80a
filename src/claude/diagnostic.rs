//! A finding about a file: what is wrong, where, and how to fix it.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;

/// How bad a finding is. `Error` means the file (or part of it) did not do what its
/// author meant; the loader still keeps whatever it could recover.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing; nothing was lost (a legacy name was mapped).
    Info,
    /// Something was off but was recovered (unquoted `: `, an unknown key).
    Warning,
    /// Part of the file did not take effect (an invalid tool, a missing field).
    Error,
}

/// One finding, with its location and a suggested fix when there is one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub severity: Severity,
    /// The file it concerns, when known.
    pub path: Option<PathBuf>,
    /// 1-based line in that file.
    pub line: Option<usize>,
    pub message: String,
    /// What to change, as an imperative sentence ("quote it: ...").
    pub fix: Option<String>,
}

impl Diagnostic {
    /// A finding of the given severity with no location yet.
    pub fn new(severity: Severity, message: impl Into<String>) -> Self {
        Self {
            severity,
            path: None,
            line: None,
            message: message.into(),
            fix: None,
        }
    }

    /// An informational note.
    pub fn info(message: impl Into<String>) -> Self {
        Self::new(Severity::Info, message)
    }

    /// Something was off but nothing was lost.
    pub fn warning(message: impl Into<String>) -> Self {
        Self::new(Severity::Warning, message)
    }

    /// Something the author meant did not take effect.
    pub fn error(message: impl Into<String>) -> Self {
        Self::new(Severity::Error, message)
    }

    /// Sets the 1-based line.
    pub fn at_line(mut self, line: usize) -> Self {
        self.line = Some(line);
        self
    }

    /// Sets the suggested fix.
    pub fn with_fix(mut self, fix: impl Into<String>) -> Self {
        self.fix = Some(fix.into());
        self
    }

    /// Sets the file, keeping an earlier one.
    pub fn in_file(mut self, path: &Path) -> Self {
        if self.path.is_none() {
            self.path = Some(path.to_path_buf());
        }
        self
    }

    /// The finding without its path: `line N: message; fix`.
    pub fn describe(&self) -> String {
        let mut out = String::new();
        if let Some(line) = self.line {
            out.push_str(&format!("line {line}: "));
        }
        out.push_str(&self.message);
        if let Some(fix) = &self.fix {
            out.push_str("; ");
            out.push_str(fix);
        }
        out
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(path) = &self.path {
            write!(f, "{}: ", path.display())?;
        }
        f.write_str(&self.describe())
    }
}

/// Whether any finding is an error.
pub fn has_errors(diagnostics: &[Diagnostic]) -> bool {
    diagnostics.iter().any(|d| d.severity == Severity::Error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_puts_path_line_message_and_fix_in_order() {
        let d = Diagnostic::warning("value contains ': '")
            .at_line(3)
            .with_fix("quote it: description: \"a: b\"")
            .in_file(Path::new("/ws/.claude/agents/x.md"));
        assert_eq!(
            d.to_string(),
            "/ws/.claude/agents/x.md: line 3: value contains ': '; quote it: description: \"a: b\""
        );
        assert_eq!(
            d.describe(),
            "line 3: value contains ': '; quote it: description: \"a: b\""
        );
    }

    #[test]
    fn in_file_keeps_the_first_path() {
        let d = Diagnostic::info("x")
            .in_file(Path::new("/a"))
            .in_file(Path::new("/b"));
        assert_eq!(d.path.as_deref(), Some(Path::new("/a")));
    }

    #[test]
    fn has_errors_only_counts_errors() {
        assert!(!has_errors(&[
            Diagnostic::warning("w"),
            Diagnostic::info("i")
        ]));
        assert!(has_errors(&[
            Diagnostic::warning("w"),
            Diagnostic::error("e")
        ]));
    }
}
