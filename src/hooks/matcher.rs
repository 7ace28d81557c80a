//! Hook matchers: which tool (or source, reason, agent type) a hook group applies to.
//!
//! As in Claude Code: empty or `*` matches everything; a value made only of name characters
//! and `|` is a list of exact names; anything else is a regular expression searched for
//! anywhere in the name (Claude Code runs `new RegExp(m).test(name)`), so `^Notebook` and
//! `mcp__memory__.*` work as their authors expect.

use regex::Regex;

/// A compiled matcher that remembers how it was written.
#[derive(Debug, Clone)]
pub struct Matcher {
    pattern: String,
    kind: Kind,
}

#[derive(Debug, Clone)]
enum Kind {
    All,
    Names(Vec<String>),
    Regex(Regex),
    /// A regex that does not compile: reported once at load, never matches.
    Invalid(String),
}

impl Matcher {
    /// Compiles `pattern`; an invalid regex yields a matcher that never matches
    /// and reports why through [`Matcher::error`].
    pub fn new(pattern: &str) -> Self {
        let trimmed = pattern.trim();
        let kind = if trimmed.is_empty() || trimmed == "*" {
            Kind::All
        } else if trimmed.chars().all(is_name_list_char) {
            Kind::Names(
                trimmed
                    .split(['|', ','])
                    .map(str::trim)
                    .filter(|name| !name.is_empty())
                    .map(str::to_owned)
                    .collect(),
            )
        } else {
            match Regex::new(pattern) {
                Ok(re) => Kind::Regex(re),
                Err(err) => Kind::Invalid(err.to_string()),
            }
        };
        Self {
            pattern: pattern.to_owned(),
            kind,
        }
    }

    /// A matcher for everything (what an omitted `matcher` means).
    pub fn all() -> Self {
        Self::new("")
    }

    /// The matcher as written in the settings file.
    pub fn as_str(&self) -> &str {
        &self.pattern
    }

    /// Why the pattern is unusable, if it is.
    pub fn error(&self) -> Option<&str> {
        match &self.kind {
            Kind::Invalid(err) => Some(err),
            _ => None,
        }
    }

    /// Whether `name` is matched.
    pub fn matches(&self, name: &str) -> bool {
        match &self.kind {
            Kind::All => true,
            Kind::Names(names) => names.iter().any(|n| n == name),
            Kind::Regex(re) => re.is_match(name),
            Kind::Invalid(_) => false,
        }
    }

    /// Whether any of `names` is matched: the caller passes a tool's aliases
    /// (`["Bash", "exec_command"]`) so Claude Code matchers see Codex tools.
    pub fn matches_any(&self, names: &[&str]) -> bool {
        names.iter().any(|name| self.matches(name))
    }
}

fn is_name_list_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '|' | ',' | ' ')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(pattern: &str, yes: &[&str], no: &[&str]) {
        let m = Matcher::new(pattern);
        for name in yes {
            assert!(m.matches(name), "{pattern:?} should match {name:?}");
        }
        for name in no {
            assert!(!m.matches(name), "{pattern:?} should not match {name:?}");
        }
    }

    #[test]
    fn empty_and_star_match_everything() {
        for pattern in ["", "*", "  ", " * "] {
            check(pattern, &["Bash", "", "mcp__x__y"], &[]);
        }
        assert!(Matcher::all().matches("anything"));
    }

    #[test]
    fn plain_names_match_exactly() {
        check("Bash", &["Bash"], &["bash", "BashOutput", "MyBash"]);
        check(
            "Edit|Write|MultiEdit",
            &["Edit", "Write", "MultiEdit"],
            &["NotebookEdit", "Edit|Write", "Read"],
        );
        check("Edit | Write", &["Edit", "Write"], &["Edit ", " Write"]);
        check("Edit, Write", &["Edit", "Write"], &["Edit, Write"]);
        check(
            "mcp__my-server__tool",
            &["mcp__my-server__tool"],
            &["mcp__my-server"],
        );
    }

    #[test]
    fn other_patterns_are_regexes_searched_anywhere() {
        check("Notebook.*", &["Notebook", "NotebookEdit"], &["Edit"]);
        check("^Bash", &["Bash", "BashOutput"], &["MyBash"]);
        check("Output$", &["BashOutput"], &["OutputFile"]);
        check(
            "mcp__memory__.*",
            &["mcp__memory__store", "x_mcp__memory__y"],
            &["mcp__files__read"],
        );
        check("^(Edit|Write)$", &["Edit", "Write"], &["MultiEdit"]);
    }

    #[test]
    fn an_invalid_regex_reports_why_and_never_matches() {
        let m = Matcher::new("Edit(");
        assert!(m.error().is_some_and(|e| e.contains("unclosed")), "{m:?}");
        assert!(!m.matches("Edit("));
        assert!(!m.matches("Edit"));
        assert_eq!(m.as_str(), "Edit(");
        assert_eq!(Matcher::new("Bash").error(), None);
    }

    #[test]
    fn matches_any_tries_every_alias() {
        let m = Matcher::new("Bash");
        assert!(m.matches_any(&["exec_command", "Bash"]));
        assert!(!m.matches_any(&["exec_command", "shell"]));
        assert!(!m.matches_any(&[]));
    }
}
