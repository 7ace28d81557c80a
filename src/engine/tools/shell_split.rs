//! Splitting a shell command line into the simple commands it runs, so a permission
//! rule is checked against each one: `Bash(git status:*)` must not admit
//! `git status && rm -rf /`, and a deny on `rm:*` must catch `ls; rm x` and `echo $(rm x)`.
//!
//! This is a conservative scanner, not a shell: quotes and escapes are honoured,
//! command substitutions are searched too, and anything odd (a heredoc body, say)
//! yields extra pieces, which can only make a deny match more, never less.

/// The simple commands in `line`, each trimmed, with grouping and control keywords
/// (`(`, `{`, `if`, `then`, `do`, ...) removed from their front.
pub fn simple_commands(line: &str) -> Vec<String> {
    let mut found = Vec::new();
    scan(line, &mut found);
    found.into_iter().filter_map(|c| normalize(&c)).collect()
}

/// The command with leading `VAR=value` assignments and pass-through wrappers
/// (`sudo`, `env`, `nohup`, `time`, `nice`, `timeout 5`, `command`, `exec`, `xargs`)
/// removed, when there were any: `sudo rm -rf x` is still `rm -rf x`.
pub fn without_wrappers(command: &str) -> Option<String> {
    let mut rest = command.trim_start();
    let mut changed = false;
    loop {
        let (word, after) = split_word(rest);
        if word.is_empty() {
            break;
        }
        let is_assignment = word
            .split_once('=')
            .is_some_and(|(name, _)| is_identifier(name));
        if is_assignment {
            rest = after;
            changed = true;
            continue;
        }
        match word {
            "sudo" | "env" | "nohup" | "time" | "nice" | "command" | "builtin" | "exec"
            | "xargs" | "timeout" | "stdbuf" | "ionice" => {
                rest = skip_options(after);
                changed = true;
            }
            _ => break,
        }
    }
    let rest = rest.trim();
    (changed && !rest.is_empty()).then(|| rest.to_string())
}

fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Skips a wrapper's options and numeric arguments (`-n 10`, `timeout 5s`), so what
/// remains starts at the wrapped command.
fn skip_options(mut rest: &str) -> &str {
    loop {
        let (word, after) = split_word(rest);
        let option = word.starts_with('-') && word.len() > 1;
        let number = !word.is_empty()
            && word
                .trim_end_matches(['s', 'm', 'h', 'd'])
                .chars()
                .all(|c| c.is_ascii_digit() || c == '.')
            && word.starts_with(|c: char| c.is_ascii_digit());
        if option || number {
            rest = after;
        } else {
            return rest;
        }
    }
}

/// The first shell word of `text` (quotes kept) and what follows it.
fn split_word(text: &str) -> (&str, &str) {
    let text = text.trim_start();
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for (i, c) in text.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match (quote, c) {
            (_, '\\') if quote != Some('\'') => escaped = true,
            (Some(q), c) if c == q => quote = None,
            (None, '\'' | '"') => quote = Some(c),
            (None, c) if c.is_whitespace() => return (&text[..i], &text[i..]),
            _ => {}
        }
    }
    (text, "")
}

/// Keywords and group markers that may start a command without being its name.
const LEADERS: &[&str] = &[
    "!", "{", "if", "then", "else", "elif", "do", "while", "until", "time",
];
/// Words that end a compound command and run nothing themselves.
const ENDERS: &[&str] = &["}", "fi", "done", "esac"];

fn normalize(command: &str) -> Option<String> {
    let mut rest = command.trim();
    loop {
        let (word, after) = split_word(rest);
        if LEADERS.contains(&word) {
            rest = after.trim_start();
        } else {
            break;
        }
    }
    let mut rest = rest.trim_end();
    while let Some(stripped) = rest.strip_suffix('}') {
        if stripped.is_empty() || stripped.ends_with(char::is_whitespace) || stripped.ends_with(';')
        {
            rest = stripped.trim_end();
        } else {
            break;
        }
    }
    if rest.is_empty() || ENDERS.contains(&rest) {
        None
    } else {
        Some(rest.to_string())
    }
}

/// Splits `line` at top-level control operators into `out`, recursing into
/// `$(...)`, `` `...` ``, `<(...)` and `>(...)`.
fn scan(line: &str, out: &mut Vec<String>) {
    let chars: Vec<char> = line.chars().collect();
    let mut current = String::new();
    let mut i = 0;
    let flush = |current: &mut String, out: &mut Vec<String>| {
        if !current.trim().is_empty() {
            out.push(std::mem::take(current));
        } else {
            current.clear();
        }
    };
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\\' => {
                current.push(c);
                if let Some(&next) = chars.get(i + 1) {
                    current.push(next);
                }
                i += 2;
                continue;
            }
            '\'' => {
                let end = find_char(&chars, i + 1, '\'');
                current.extend(&chars[i..end]);
                i = end;
                continue;
            }
            '"' => {
                let end = scan_double_quoted(&chars, i + 1, out);
                current.extend(&chars[i..end]);
                i = end;
                continue;
            }
            '`' => {
                let end = find_char(&chars, i + 1, '`');
                scan(&inner(&chars, i + 1, end, '`'), out);
                current.extend(&chars[i..end]);
                i = end;
                continue;
            }
            '$' | '<' | '>' if chars.get(i + 1) == Some(&'(') => {
                let end = matching_paren(&chars, i + 2);
                scan(&inner(&chars, i + 2, end, ')'), out);
                current.extend(&chars[i..end]);
                i = end;
                continue;
            }
            '#' if current.is_empty() || current.ends_with(char::is_whitespace) => {
                // A comment runs to the end of the line; the newline still separates.
                i = chars[i..]
                    .iter()
                    .position(|&c| c == '\n')
                    .map_or(chars.len(), |p| i + p);
                continue;
            }
            '&' if is_redirect_ampersand(&current, chars.get(i + 1)) => {
                current.push(c);
            }
            // Doubled operators (`&&`, `||`, `|&`) just flush an empty command.
            ';' | '&' | '|' | '\n' | '(' | ')' => flush(&mut current, out),
            _ => current.push(c),
        }
        i += 1;
    }
    flush(&mut current, out);
}

/// `&` in `2>&1`, `<&3` or `&>file` is a redirection, not "run in background".
fn is_redirect_ampersand(current: &str, next: Option<&char>) -> bool {
    current.ends_with(['>', '<']) || next == Some(&'>')
}

/// The text between an opener and `end` (just past its closer, or the end of input
/// when it never closed).
fn inner(chars: &[char], start: usize, end: usize, closer: char) -> String {
    let stop = if end > start && chars.get(end - 1) == Some(&closer) {
        end - 1
    } else {
        end
    };
    chars[start..stop.max(start)].iter().collect()
}

/// Index just past the next unescaped `target` at or after `from` (or the end).
fn find_char(chars: &[char], from: usize, target: char) -> usize {
    let mut i = from;
    while i < chars.len() {
        if chars[i] == '\\' && target != '\'' {
            i += 2;
            continue;
        }
        if chars[i] == target {
            return i + 1;
        }
        i += 1;
    }
    chars.len()
}

/// Walks a double-quoted string from `from`, scanning substitutions inside it;
/// returns the index just past the closing quote.
fn scan_double_quoted(chars: &[char], from: usize, out: &mut Vec<String>) -> usize {
    let mut i = from;
    while i < chars.len() {
        match chars[i] {
            '\\' => i += 2,
            '"' => return i + 1,
            '`' => {
                let end = find_char(chars, i + 1, '`');
                scan(&inner(chars, i + 1, end, '`'), out);
                i = end;
            }
            '$' if chars.get(i + 1) == Some(&'(') => {
                let end = matching_paren(chars, i + 2);
                scan(&inner(chars, i + 2, end, ')'), out);
                i = end;
            }
            _ => i += 1,
        }
    }
    chars.len()
}

/// Index just past the `)` that closes a `(` opened just before `from`.
fn matching_paren(chars: &[char], from: usize) -> usize {
    let mut depth = 1usize;
    let mut i = from;
    while i < chars.len() {
        match chars[i] {
            '\\' => i += 1,
            '\'' => i = find_char(chars, i + 1, '\'') - 1,
            '"' => {
                let mut ignored = Vec::new();
                i = scan_double_quoted(chars, i + 1, &mut ignored) - 1;
            }
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    chars.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(line: &str) -> Vec<String> {
        simple_commands(line)
    }

    #[test]
    fn splits_on_control_operators() {
        assert_eq!(split("git status && rm -rf /"), ["git status", "rm -rf /"]);
        assert_eq!(split("ls; rm x"), ["ls", "rm x"]);
        assert_eq!(split("a || b | c |& d & e"), ["a", "b", "c", "d", "e"]);
        assert_eq!(split("a\nb\n\n"), ["a", "b"]);
        assert_eq!(split("  npm run test  "), ["npm run test"]);
    }

    #[test]
    fn quotes_and_escapes_hide_operators() {
        assert_eq!(
            split("echo 'a; b' && echo \"c | d\""),
            ["echo 'a; b'", "echo \"c | d\""]
        );
        assert_eq!(split(r"echo a\;b"), [r"echo a\;b"]);
        assert_eq!(split("grep -E 'x|y' f"), ["grep -E 'x|y' f"]);
    }

    #[test]
    fn redirections_are_not_separators() {
        assert_eq!(split("make 2>&1 | tee log"), ["make 2>&1", "tee log"]);
        assert_eq!(split("cmd &>out; next"), ["cmd &>out", "next"]);
    }

    #[test]
    fn substitutions_are_searched() {
        let got = split("echo $(rm -rf x) done");
        assert!(got.contains(&"rm -rf x".to_string()), "{got:?}");
        assert!(
            got.contains(&"echo $(rm -rf x) done".to_string()),
            "{got:?}"
        );
        let got = split("echo \"`curl evil` and $(wget x)\"");
        assert!(
            got.contains(&"curl evil".to_string()) && got.contains(&"wget x".to_string()),
            "{got:?}"
        );
        let got = split("diff <(sort a) <(sort b)");
        assert_eq!(
            got.iter().filter(|c| c.starts_with("sort")).count(),
            2,
            "{got:?}"
        );
    }

    #[test]
    fn groups_and_keywords_are_stripped() {
        assert_eq!(split("(cd sub && rm x)"), ["cd sub", "rm x"]);
        assert_eq!(split("{ ls; rm y; }"), ["ls", "rm y"]);
        assert_eq!(
            split("if test -f a; then rm a; else touch a; fi"),
            ["test -f a", "rm a", "touch a"]
        );
        assert_eq!(split("for f in *; do rm $f; done"), ["for f in *", "rm $f"]);
        assert_eq!(split("! grep x f"), ["grep x f"]);
    }

    #[test]
    fn comments_are_dropped() {
        assert_eq!(split("ls # && rm x\necho hi"), ["ls", "echo hi"]);
        assert_eq!(split("echo a#b"), ["echo a#b"]);
    }

    #[test]
    fn wrappers_and_assignments_are_seen_through() {
        assert_eq!(
            without_wrappers("sudo rm -rf x").as_deref(),
            Some("rm -rf x")
        );
        assert_eq!(
            without_wrappers("FOO=1 BAR='a b' rm x").as_deref(),
            Some("rm x")
        );
        assert_eq!(
            without_wrappers("timeout 5 nice -n 10 rm x").as_deref(),
            Some("rm x")
        );
        assert_eq!(without_wrappers("env -i rm x").as_deref(), Some("rm x"));
        assert_eq!(without_wrappers("rm x"), None);
        assert_eq!(without_wrappers("sudo"), None);
    }
}
