//! Pure slash-command expansion: recognising `/name args` in a prompt and putting the
//! arguments into the command body.
//!
//! Placeholders: `$ARGUMENTS` (the whole argument string), `$ARGUMENTS[N]` (0-based),
//! `$N` and declared `$name`s. Arguments are split like a shell does (`"two words"` is
//! one argument); missing ones expand to nothing.
//!
//! `$N` is a single digit. Current Claude Code counts from 0; older files use `$1` for
//! the first argument. The rule here: when the body uses `$0` anywhere, `$N` counts from
//! 0; otherwise `$1` is the first argument. `$ARGUMENTS[N]` always counts from 0.
//!
//! Left alone: money (`$12`, `$1,500`, `$2.50`: a digit followed by another digit, or by
//! `,`/`.` and a digit), `${VAR}`, `${{ x }}`, `$PATH` and other names that are not
//! declared arguments. `\$` gives a literal `$`; inside code fences it does so only in
//! front of a placeholder, so shell escapes in examples survive. A body without any
//! placeholder gets `\n\nARGUMENTS: <args>` appended when there are arguments.

use super::diagnostic::Diagnostic;

/// `/name args` -> `(name, args)`. The name is letters, digits, `-`, `_`, `:` and
/// `.`, and must be followed by whitespace or the end (`/usr/bin/x` is no command).
/// Leading whitespace is ignored; `args` is trimmed. Whether the name is known is
/// the caller's business.
pub fn parse_invocation(text: &str) -> Option<(&str, &str)> {
    let rest = text.trim_start().strip_prefix('/')?;
    let end = rest
        .find(|c: char| !(c.is_alphanumeric() || matches!(c, '-' | '_' | ':' | '.')))
        .unwrap_or(rest.len());
    let (name, after) = rest.split_at(end);
    if name.is_empty() || !(after.is_empty() || after.starts_with(char::is_whitespace)) {
        return None;
    }
    Some((name, after.trim()))
}

/// A command body with its arguments put in.
#[derive(Debug, Clone, PartialEq)]
pub struct Expansion {
    pub text: String,
    /// Whether the body had any placeholder (otherwise `ARGUMENTS:` was appended).
    pub used_placeholder: bool,
    pub notes: Vec<Diagnostic>,
}

/// Splits an argument string like a shell. An unclosed quote falls back to splitting
/// on whitespace, with a note.
pub fn split_arguments(args: &str) -> (Vec<String>, Option<Diagnostic>) {
    match shell_words::split(args) {
        Ok(parts) => (parts, None),
        Err(_) => (
            args.split_whitespace().map(str::to_string).collect(),
            Some(
                Diagnostic::warning(
                    "the arguments have an unclosed quote; split on spaces instead",
                )
                .with_fix("close the quote, or escape it with a backslash"),
            ),
        ),
    }
}

/// Puts `args` into `body`; `named` are the command's declared argument names.
pub fn expand_arguments(body: &str, args: &str, named: &[String]) -> Expansion {
    let args = args.trim();
    let (parts, note) = split_arguments(args);
    let pieces = tokenize(body, named);
    let zero_based = pieces
        .iter()
        .any(|p| matches!(p, Piece::Placeholder(Placeholder::Positional(0))));
    let arg = |i: usize| parts.get(i).map_or("", String::as_str);

    let mut text = String::with_capacity(body.len() + args.len());
    let mut used_placeholder = false;
    for piece in &pieces {
        match piece {
            Piece::Text(t) => text.push_str(t),
            Piece::Placeholder(p) => {
                used_placeholder = true;
                text.push_str(match *p {
                    Placeholder::All => args,
                    Placeholder::Index(i) | Placeholder::Named(i) => arg(i),
                    Placeholder::Positional(d) if zero_based => arg(d),
                    Placeholder::Positional(d) => d.checked_sub(1).map_or("", arg),
                });
            }
        }
    }
    if !used_placeholder && !args.is_empty() {
        text.push_str("\n\nARGUMENTS: ");
        text.push_str(args);
    }
    Expansion {
        text,
        used_placeholder,
        notes: note.into_iter().collect(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Placeholder {
    All,
    Index(usize),
    Positional(usize),
    Named(usize),
}

#[derive(Debug, PartialEq)]
enum Piece<'a> {
    Text(&'a str),
    Placeholder(Placeholder),
}

fn tokenize<'a>(body: &'a str, named: &[String]) -> Vec<Piece<'a>> {
    let mut pieces = Vec::new();
    for (line, in_fence) in fenced_lines(body) {
        let bytes = line.as_bytes();
        let (mut i, mut start) = (0, 0);
        while i < bytes.len() {
            if bytes[i] == b'\\' && bytes.get(i + 1) == Some(&b'$') {
                let escaped = placeholder_at(&line[i + 1..], named).map(|(_, len)| len);
                if !in_fence || escaped.is_some() {
                    pieces.push(Piece::Text(&line[start..i]));
                    let len = escaped.unwrap_or(1);
                    pieces.push(Piece::Text(&line[i + 1..i + 1 + len]));
                    i += 1 + len;
                    start = i;
                } else {
                    i += 2;
                }
                continue;
            }
            if bytes[i] == b'$' {
                if let Some((placeholder, len)) = placeholder_at(&line[i..], named) {
                    pieces.push(Piece::Text(&line[start..i]));
                    pieces.push(Piece::Placeholder(placeholder));
                    i += len;
                    start = i;
                    continue;
                }
            }
            i += 1;
        }
        pieces.push(Piece::Text(&line[start..]));
    }
    pieces
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// The placeholder at the start of `s` (which starts with `$`) and its length.
fn placeholder_at(s: &str, named: &[String]) -> Option<(Placeholder, usize)> {
    let rest = s.strip_prefix('$')?;
    let b = rest.as_bytes();
    if let Some(after) = rest.strip_prefix("ARGUMENTS") {
        if let Some(inner) = after.strip_prefix('[') {
            let digits = inner.bytes().take_while(u8::is_ascii_digit).count();
            if digits > 0 && inner[digits..].starts_with(']') {
                let n = inner[..digits].parse().ok()?;
                return Some((Placeholder::Index(n), "$ARGUMENTS[".len() + digits + 1));
            }
        }
        if !after.bytes().next().is_some_and(is_ident) {
            return Some((Placeholder::All, "$ARGUMENTS".len()));
        }
    }
    if let Some(d) = b.first().filter(|c| c.is_ascii_digit()) {
        let money = match b.get(1) {
            Some(c) if c.is_ascii_digit() => true,
            Some(b',' | b'.') => b.get(2).is_some_and(u8::is_ascii_digit),
            _ => false,
        };
        return (!money).then_some((Placeholder::Positional(usize::from(d - b'0')), 2));
    }
    let len = b.iter().take_while(|c| is_ident(**c)).count();
    if len == 0 || b[0].is_ascii_digit() {
        return None;
    }
    let ident = &rest[..len];
    let index = named.iter().position(|n| n == ident)?;
    Some((Placeholder::Named(index), 1 + len))
}

/// The lines of `text` (newlines kept), each with whether it belongs to a fenced code
/// block (the fence lines included).
pub(crate) fn fenced_lines(text: &str) -> Vec<(&str, bool)> {
    let mut out = Vec::new();
    let mut open: Option<(char, usize)> = None;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start();
        let marker = trimmed.chars().next().filter(|c| *c == '`' || *c == '~');
        let run = marker.map_or(0, |m| trimmed.chars().take_while(|c| *c == m).count());
        match (open, marker) {
            (None, Some(m)) if run >= 3 => {
                open = Some((m, run));
                out.push((line, true));
            }
            (Some((m, n)), Some(c)) if c == m && run >= n && trimmed[run..].trim().is_empty() => {
                open = None;
                out.push((line, true));
            }
            _ => out.push((line, open.is_some())),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand(body: &str, args: &str) -> String {
        expand_arguments(body, args, &[]).text
    }

    #[test]
    fn invocation_recognition() {
        assert_eq!(
            parse_invocation("/review 123 high"),
            Some(("review", "123 high"))
        );
        assert_eq!(
            parse_invocation("  /frontend:component  Button \n"),
            Some(("frontend:component", "Button"))
        );
        assert_eq!(parse_invocation("/v1.2_x-y"), Some(("v1.2_x-y", "")));
        assert_eq!(
            parse_invocation("/fix\nmore lines"),
            Some(("fix", "more lines"))
        );
        assert_eq!(parse_invocation("/usr/bin/foo"), None);
        assert_eq!(parse_invocation("/"), None);
        assert_eq!(parse_invocation("/ x"), None);
        assert_eq!(parse_invocation("please /review"), None);
        assert_eq!(parse_invocation("/review,now"), None);
    }

    #[test]
    fn whole_and_indexed_arguments() {
        assert_eq!(expand("Fix $ARGUMENTS now", "issue 12"), "Fix issue 12 now");
        assert_eq!(expand("[$ARGUMENTS[1]|$ARGUMENTS[0]]", "a b"), "[b|a]");
        assert_eq!(expand("$ARGUMENTS[5]!", "a"), "!");
    }

    #[test]
    fn zero_based_when_the_body_uses_dollar_zero() {
        assert_eq!(expand("$0 then $1", "a b"), "a then b");
    }

    #[test]
    fn one_based_for_older_files_without_dollar_zero() {
        assert_eq!(expand("first $1, second $2.", "a b"), "first a, second b.");
    }

    #[test]
    fn money_and_shell_syntax_survive() {
        let body =
            "Costs $1,500 or $2.50 or $100 (not $ARGUMENTS[x]); ${{ x }} ${VAR} $PATH $HOME/x";
        let out = expand_arguments(body, "", &[]);
        assert_eq!(
            out.text,
            "Costs $1,500 or $2.50 or $100 (not [x]); ${{ x }} ${VAR} $PATH $HOME/x"
        );
        assert!(out.used_placeholder);
        let plain = "Costs $1,500 and ${{ matrix.os }} on $PATH";
        assert_eq!(expand(plain, "x"), format!("{plain}\n\nARGUMENTS: x"));
    }

    #[test]
    fn escapes() {
        assert_eq!(
            expand("literal \\$ARGUMENTS and \\$1 and \\$5 total", "a"),
            "literal $ARGUMENTS and $1 and $5 total\n\nARGUMENTS: a"
        );
        assert_eq!(expand("price \\$ then $1", "a"), "price $ then a");
    }

    #[test]
    fn quoting_splits_like_a_shell() {
        let out = expand_arguments("<$1> <$2> <$3>", "\"two words\" 'single q' plain", &[]);
        assert_eq!(out.text, "<two words> <single q> <plain>");
        let out = expand_arguments("<$1> <$2>", "\"unclosed arg", &[]);
        assert_eq!(out.text, "<\"unclosed> <arg>");
        assert_eq!(out.notes.len(), 1);
    }

    #[test]
    fn missing_arguments_are_empty_and_no_args_appends_nothing() {
        assert_eq!(expand("a=$1 b=$2 all=$ARGUMENTS", ""), "a= b= all=");
        assert_eq!(expand("No placeholders here.", ""), "No placeholders here.");
        assert_eq!(
            expand("No placeholders here.", "  "),
            "No placeholders here."
        );
    }

    #[test]
    fn named_arguments_are_positional_and_only_when_declared() {
        let named = vec!["issue".to_string(), "priority".to_string()];
        let out = expand_arguments(
            "Fix $issue at $priority; keep $PATH and $issues",
            "42 high",
            &named,
        );
        assert_eq!(out.text, "Fix 42 at high; keep $PATH and $issues");
    }

    #[test]
    fn code_fences_keep_everything_but_placeholders() {
        let body = "Run:\n```sh\necho \\$HOME $1 \\$1 @file !`x` $PATH\n```\nand \\$HOME";
        assert_eq!(
            expand(body, "arg"),
            "Run:\n```sh\necho \\$HOME arg $1 @file !`x` $PATH\n```\nand $HOME"
        );
    }

    #[test]
    fn fences_are_tracked_by_marker_and_length() {
        let lines = fenced_lines("a\n````md\n```\ninner\n````\nb\n~~~\nc\n~~~\nd");
        let flags: Vec<bool> = lines.iter().map(|(_, f)| *f).collect();
        assert_eq!(
            flags,
            [false, true, true, true, true, false, true, true, true, false]
        );
    }

    #[test]
    fn random_bodies_never_panic_and_plain_text_is_kept() {
        const PIECES: [&str; 16] = [
            "$",
            "\\",
            "ARGUMENTS",
            "[",
            "]",
            "0",
            "1",
            "9",
            ",",
            ".",
            "{",
            "x",
            "é",
            "\n",
            "```",
            " ",
        ];
        let mut rng = fastrand::Rng::with_seed(11);
        let named = vec!["x".to_string()];
        for _ in 0..3000 {
            let body: String = (0..rng.usize(0..30))
                .map(|_| PIECES[rng.usize(0..PIECES.len())])
                .collect();
            let out = expand_arguments(&body, "a 'b c' d", &named);
            if !body.contains('$') {
                let expected = if body.contains('\\') {
                    None
                } else {
                    Some(format!("{body}\n\nARGUMENTS: a 'b c' d"))
                };
                if let Some(expected) = expected {
                    assert_eq!(out.text, expected);
                }
            }
            let _ = parse_invocation(&body);
        }
    }

    #[test]
    fn non_ascii_text_is_untouched() {
        assert_eq!(expand("Grüße $1 — ✓", "Welt"), "Grüße Welt — ✓");
    }
}
