//! Property tests of slash command rendering: argument expansion
//! (`claude::command_expand`) and the `!`cmd`` / `@path` pass (`claude::command_render`).
//!
//! No shell command ever runs here. `render` runs `` !`cmd` `` with the workspace as its
//! working directory, so the bodies with shell tokens are rendered against a workspace
//! that does not exist: spawning fails before anything is executed (checked by
//! `a_missing_workspace_runs_nothing`). The bodies rendered against a real workspace,
//! to check `@path` includes, have no backtick at all.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed assumption is a failed test

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use codex_plus::claude::command_expand::{expand_arguments, parse_invocation};
use codex_plus::claude::command_render::{render, Rendered};
use codex_plus::claude::commands::CommandDef;
use codex_plus::claude::discovery::Source;
use proptest::prelude::*;

/// `cases` per property, or `PROPTEST_CASES` when set (for a longer run).
fn config(cases: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(cases);
    ProptestConfig {
        cases,
        // A failure is recorded as an `#[ignore]`d test by hand, not as a file.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Text from the characters that mean something to expansion and rendering.
fn soup() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        8 => prop::sample::select(vec![
            "$", "\\", "ARGUMENTS", "[", "]", "0", "1", "2", "9", "12", ",", ".", "{", "}", "{{",
            "x", "name", "PATH", "é", "😀", "\n", "\r\n", "```", "~~~", "````", " ", "  ", "\t", "!",
            "`", "@", "a.txt", "/", "(", ")", "\"", "'", "-", "_",
        ])
        .prop_map(str::to_string),
        1 => any::<char>().prop_map(String::from),
    ];
    prop::collection::vec(piece, 0..40).prop_map(|p| p.concat())
}

fn names() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(
        prop::sample::select(vec!["x", "name", "issue", "a_b", "PATH", "ARGUMENTS"])
            .prop_map(str::to_string),
        0..3,
    )
}

// ---------------------------------------------------------------------------------
// A model of expansion: bodies built from pieces whose expansion is known.

/// One piece of a generated body.
#[derive(Debug, Clone)]
enum Seg {
    /// Text with no `$`, no `\`, no fence characters.
    Lit(String),
    /// `$ARGUMENTS`
    All,
    /// `$ARGUMENTS[n]`
    Index(usize),
    /// `$d`, maybe followed by `,` or `.` and no digit (not money then)
    Pos(usize, &'static str),
    /// `$name` of the k-th declared name.
    Named(usize),
    /// Not a placeholder: money, `${VAR}`, `$PATH`, a bare `$`.
    Other(&'static str),
    /// `\` before one of the above (not a `Lit`).
    Esc(Box<Seg>),
}

const NAMED: [&str; 3] = ["issue", "prio", "a_b"];

fn dollar_seg() -> impl Strategy<Value = Seg> {
    prop_oneof![
        Just(Seg::All),
        (0usize..6).prop_map(Seg::Index),
        (0usize..10, prop::sample::select(vec!["", "", ",", "."]))
            .prop_map(|(d, p)| Seg::Pos(d, p)),
        (0usize..NAMED.len()).prop_map(Seg::Named),
        prop::sample::select(vec![
            "$1,500",
            "$2.50",
            "$100",
            "$12",
            "${VAR}",
            "${{ x }}",
            "$PATH",
            "$HOME/x",
            "$",
            "$ARGUMENTSx",
            "$issues"
        ])
        .prop_map(Seg::Other),
    ]
}

fn seg() -> impl Strategy<Value = Seg> {
    prop_oneof![
        3 => "[a-zA-Z0-9 ,.;:!?()\\[\\]{}#@é\n-]{0,10}".prop_map(Seg::Lit),
        3 => dollar_seg(),
        1 => dollar_seg().prop_map(|s| Seg::Esc(Box::new(s))),
    ]
}

impl Seg {
    fn text(&self) -> String {
        match self {
            Seg::Lit(t) => t.clone(),
            Seg::All => "$ARGUMENTS".into(),
            Seg::Index(n) => format!("$ARGUMENTS[{n}]"),
            Seg::Pos(d, punct) => format!("${d}{punct}"),
            Seg::Named(k) => format!("${}", NAMED[*k]),
            Seg::Other(t) => t.to_string(),
            Seg::Esc(inner) => format!("\\{}", inner.text()),
        }
    }

    fn is_placeholder(&self) -> bool {
        matches!(
            self,
            Seg::All | Seg::Index(_) | Seg::Pos(..) | Seg::Named(_)
        )
    }

    /// What the piece expands to.
    fn expected(&self, args: &str, parts: &[String], zero_based: bool, in_fence: bool) -> String {
        let arg = |i: usize| parts.get(i).cloned().unwrap_or_default();
        match self {
            Seg::Lit(t) => t.clone(),
            Seg::All => args.to_string(),
            Seg::Index(n) => arg(*n),
            Seg::Pos(d, punct) if zero_based => arg(*d) + punct,
            Seg::Pos(0, punct) => punct.to_string(),
            Seg::Pos(d, punct) => arg(d - 1) + punct,
            Seg::Named(k) => arg(*k),
            Seg::Other(t) => t.to_string(),
            // `\$` is a literal `$` before a placeholder, anywhere; elsewhere only
            // outside code fences (inside, shell escapes in examples stay as written).
            Seg::Esc(inner) if inner.is_placeholder() || !in_fence => inner.text(),
            Seg::Esc(inner) => format!("\\{}", inner.text()),
        }
    }
}

/// The body, with a space after every piece that is not text (so the next piece
/// cannot extend it: `$1` then `2` would be money).
fn body_of(segs: &[Seg]) -> String {
    segs.iter()
        .map(|s| match s {
            Seg::Lit(t) => t.clone(),
            other => other.text() + " ",
        })
        .collect()
}

fn expected_of(segs: &[Seg], args: &str, parts: &[String], in_fence: bool) -> String {
    let zero_based = segs.iter().any(|s| matches!(s, Seg::Pos(0, _)));
    segs.iter()
        .map(|s| match s {
            Seg::Lit(t) => t.clone(),
            other => other.expected(args, parts, zero_based, in_fence) + " ",
        })
        .collect()
}

/// Argument words without quotes or backslashes, so that the shell-like split is
/// just the words.
fn plain_words() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec("[a-zA-Z0-9./:@é-]{1,8}", 0..5)
}

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"))
}

fn command(body: &str, named: &[String]) -> CommandDef {
    let mut cmd = CommandDef::parse("test", body, None, Source::Builtin);
    // The body as given, whatever it looks like (a leading `---` is not frontmatter here).
    cmd.body = body.to_string();
    cmd.arguments = named.to_vec();
    cmd
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("runtime: {e}"))
        .block_on(f)
}

/// Renders against `workspace`, which must not exist: nothing can run there.
fn render_nowhere(body: &str, args: &str, named: &[String], workspace: &Path) -> Rendered {
    assert!(
        !workspace.exists(),
        "the workspace must not exist, so that no command runs"
    );
    block_on(render(
        &command(body, named),
        args,
        workspace,
        Duration::from_secs(2),
    ))
}

// ---------------------------------------------------------------------------------
// Properties

proptest! {
    #![proptest_config(config(512))]

    /// Any body, arguments and declared names: no panic; a body without `$` is kept
    /// as it is, with the arguments appended as `ARGUMENTS: ...` when there are any.
    #[test]
    fn any_body_expands_without_panic(
        body in prop_oneof![soup(), any::<String>()],
        args in prop_oneof![soup(), any::<String>()],
        named in names(),
    ) {
        let out = expand_arguments(&body, &args, &named);
        let _ = parse_invocation(&body);
        let _ = parse_invocation(&args);
        let trimmed = args.trim();
        if !out.used_placeholder && !trimmed.is_empty() {
            let suffix = format!("\n\nARGUMENTS: {trimmed}");
            prop_assert!(out.text.ends_with(&suffix), "{:?}", out.text);
        }
        if !body.contains('$') {
            prop_assert!(!out.used_placeholder);
            let expected = if trimmed.is_empty() { body.clone() } else { format!("{body}\n\nARGUMENTS: {trimmed}") };
            prop_assert_eq!(out.text, expected);
        }
    }

    /// Bodies of known pieces expand exactly as the placeholder rules say: `$ARGUMENTS`
    /// is the whole argument string, `$ARGUMENTS[N]` the N-th argument (from 0), `$N`
    /// counts from 0 when the body uses `$0` and from 1 otherwise, declared `$name`s
    /// are positional, money and shell syntax stay, `\$` is a literal `$` (inside a
    /// code fence only before a placeholder); without any placeholder the arguments are
    /// appended.
    #[test]
    fn expansion_follows_the_placeholder_rules(
        segs in prop::collection::vec(seg(), 0..10),
        words in plain_words(),
        pad in prop::sample::select(vec!["", " ", "  \t"]),
        fence in prop::option::of(prop::sample::select(vec![
            // Opener, a line inside that does not close it, closer.
            ("```sh", "```bash", "```"),
            ("````", "```", "````"),
            ("~~~", "```", "~~~"),
            ("```", "~~~", "```"),
        ])),
    ) {
        let args = format!("{pad}{}{pad}", words.join(" "));
        let named: Vec<String> = NAMED.iter().map(|s| s.to_string()).collect();
        let inner = body_of(&segs);
        let fenced = |text: &str| match fence {
            Some((open, decoy, close)) => format!("{open}\n{decoy}\n{text}\n{close}"),
            None => text.to_string(),
        };
        let body = fenced(&inner);
        let out = expand_arguments(&body, &args, &named);

        let trimmed = args.trim();
        let mut expected = fenced(&expected_of(&segs, trimmed, &words, fence.is_some()));
        let used = segs.iter().any(Seg::is_placeholder);
        if !used && !trimmed.is_empty() {
            expected.push_str("\n\nARGUMENTS: ");
            expected.push_str(trimmed);
        }
        prop_assert_eq!(out.used_placeholder, used);
        prop_assert_eq!(&out.text, &expected, "body {:?}", body);
        prop_assert!(out.notes.is_empty());
    }

    /// `$ARGUMENTS` is the whole argument string, trimmed, quotes and all, wherever it
    /// stands (code fences included).
    #[test]
    fn dollar_arguments_is_the_whole_argument_string(
        before in "[^$]{0,20}".prop_filter("no escape", |s| !s.ends_with('\\')),
        after in "[^$]{0,20}".prop_filter("ends the name", |s| !s.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_' || c == '[')),
        args in any::<String>(),
    ) {
        let body = format!("{before}$ARGUMENTS{after}");
        let out = expand_arguments(&body, &args, &[]);
        prop_assert!(out.used_placeholder);
        prop_assert_eq!(out.text, format!("{before}{}{after}", args.trim()));
    }

    /// `\$` outside code fences is a literal `$` and never a placeholder.
    #[test]
    fn escaped_dollar_is_literal(
        before in "[^$\\\\`~]{0,12}",
        name in prop::sample::select(vec!["ARGUMENTS", "ARGUMENTS[0]", "1", "0", "issue", "", "PATH"]),
        args in "[a-z ]{1,12}",
    ) {
        let body = format!("{before}\\${name} end");
        let out = expand_arguments(&body, &args, &["issue".to_string()]);
        prop_assert!(!out.used_placeholder);
        let mut expected = format!("{before}${name} end");
        if !args.trim().is_empty() {
            expected.push_str(&format!("\n\nARGUMENTS: {}", args.trim()));
        }
        prop_assert_eq!(out.text, expected);
    }

    /// Quoted arguments are one argument each, as a shell splits them.
    #[test]
    fn quoted_arguments_are_one_argument(words in prop::collection::vec("[a-z]{1,5}( [a-z]{1,5}){0,2}", 1..4)) {
        let args: Vec<String> = words.iter().enumerate()
            .map(|(i, w)| if i % 2 == 0 { format!("\"{w}\"") } else { format!("'{w}'") })
            .collect();
        let body: String = (0..words.len()).map(|i| format!("<$ARGUMENTS[{i}]>")).collect();
        let out = expand_arguments(&body, &args.join(" "), &[]);
        let expected: String = words.iter().map(|w| format!("<{w}>")).collect();
        prop_assert_eq!(out.text, expected);
    }

    /// `/name args` is recognised with the name and the trimmed arguments; anything
    /// recognised starts with `/name`.
    #[test]
    fn invocations_are_recognised(
        lead in "[ \t\n]{0,3}",
        name in "[a-zA-Z0-9_:.é-]{1,12}",
        gap in "[ \t\n]{1,3}",
        args in prop::option::of("[^\r]{0,20}"),
        text in prop_oneof![soup(), any::<String>()],
    ) {
        let line = match &args {
            Some(a) => format!("{lead}/{name}{gap}{a}"),
            None => format!("{lead}/{name}"),
        };
        let expected_args = args.as_deref().map_or("", str::trim);
        prop_assert_eq!(parse_invocation(&line), Some((name.as_str(), expected_args)));
        if let Some((n, a)) = parse_invocation(&text) {
            let start = format!("/{n}");
            prop_assert!(!n.is_empty() && text.trim_start().starts_with(&start));
            prop_assert_eq!(a, a.trim());
        }
    }
}

proptest! {
    #![proptest_config(config(96))]

    /// Rendering any body with `` !`...` ``, `@...` and placeholders, against a
    /// workspace that does not exist: no panic, nothing included, every shell token
    /// becomes a "could not run" note, and a body with no shell token is just its
    /// expansion.
    #[test]
    fn rendering_never_panics_and_runs_nothing(body in soup(), args in soup(), named in names()) {
        let tmp = tempdir();
        let nowhere = tmp.path().join("missing");
        let expansion = expand_arguments(&body, &args, &named);
        let out = render_nowhere(&body, &args, &named, &nowhere);
        prop_assert_eq!(&out.notes[..expansion.notes.len()], &expansion.notes[..]);
        for note in &out.notes[expansion.notes.len()..] {
            prop_assert!(note.message.starts_with("[could not run `"), "{:?}", note);
        }
        if !expansion.text.contains("!`") {
            prop_assert_eq!(&out.text, &expansion.text);
            prop_assert_eq!(out.notes.len(), expansion.notes.len());
        }
        prop_assert!(!nowhere.exists());
    }

    /// Against a real workspace (and bodies without a backtick, so no shell): each
    /// `@a.txt` at a word start (a trailing `.` or `)` is punctuation) is replaced by
    /// the file in a fence; a directory, a missing file and a file outside the
    /// workspace are left as written, the directory and the outside file with a note.
    #[test]
    fn includes_come_from_inside_the_workspace_only(
        words in prop::collection::vec(prop::sample::select(vec![
            "@a.txt", "@a.txt.", "(@a.txt)", "x@a.txt", "@missing.md", "@d", "@", "@../secret.txt",
            "plain", "é", "$1", "$ARGUMENTS", "\\$1", "\n",
        ]), 0..12),
        arg_words in prop::collection::vec(prop::sample::select(vec!["@a.txt", "@d", "word", "@../secret.txt"]), 0..3),
    ) {
        let tmp = tempdir();
        let ws = tmp.path().join("ws");
        fs::create_dir_all(ws.join("d")).unwrap();
        fs::write(ws.join("a.txt"), "A-CONTENT\n").unwrap();
        fs::write(tmp.path().join("secret.txt"), "TOP-SECRET").unwrap();
        let body = words.join(" ");
        let args = arg_words.join(" ");
        let expansion = expand_arguments(&body, &args, &[]);
        prop_assert!(!expansion.text.contains('`'), "no shell token may reach render here");

        let tokens: Vec<&str> = expansion.text.split_whitespace().collect();
        let count = |set: &[&str]| tokens.iter().filter(|t| set.contains(t)).count();
        let out = block_on(render(&command(&body, &[]), &args, &ws, Duration::from_secs(2)));
        prop_assert_eq!(out.text.matches("```a.txt\nA-CONTENT\n```").count(), count(&["@a.txt", "@a.txt.", "(@a.txt)"]), "{:?}", out.text);
        prop_assert!(!out.text.contains("TOP-SECRET"));
        let notes = |what: &str| out.notes.iter().filter(|n| n.message.contains(what)).count();
        prop_assert_eq!(notes("outside the workspace"), count(&["@../secret.txt"]));
        prop_assert_eq!(notes("is not a file"), count(&["@d"]));
        // What was not included is still there as written.
        for t in ["@missing.md", "@d", "@../secret.txt", "x@a.txt"] {
            prop_assert_eq!(out.text.matches(t).count(), expansion.text.matches(t).count(), "{}", t);
        }
    }
}

/// The context the rendering properties rely on: with a workspace that does not exist,
/// a shell token is not run (its command would create a file) but reported.
#[test]
fn a_missing_workspace_runs_nothing() {
    let tmp = tempdir();
    let marker: PathBuf = tmp.path().join("ran");
    let nowhere = tmp.path().join("missing");
    let body = format!("before !`touch {}` after", marker.display());
    let out = render_nowhere(&body, "", &[], &nowhere);
    assert!(!marker.exists(), "the command ran");
    assert!(
        out.text.starts_with("before [could not run `touch "),
        "{}",
        out.text
    );
    assert!(out.text.ends_with("] after"), "{}", out.text);
    assert_eq!(out.notes.len(), 1);
}
