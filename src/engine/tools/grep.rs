//! `Grep`: regex search over the workspace with ripgrep's engine.

use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use async_trait::async_trait;
use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use grep_regex::{RegexMatcher, RegexMatcherBuilder};
use grep_searcher::{
    BinaryDetection, Searcher, SearcherBuilder, Sink, SinkContext, SinkContextKind, SinkMatch,
};
use ignore::types::TypesBuilder;
use serde::Deserialize;
use serde_json::{json, Value};

use super::input::{opt_bool, opt_u64, parse};
use super::output::{cap_head, prefix_at_boundary};
use super::walk::workspace_walker;
use super::{Tool, ToolContext, ToolError};

/// Searches file contents for a regular expression.
pub struct Grep;

/// What Grep reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum OutputMode {
    /// Matching lines, optionally with numbers and context.
    Content,
    /// Paths of files with at least one match, newest first.
    #[default]
    FilesWithMatches,
    /// Matching lines per file.
    Count,
}

#[derive(Deserialize)]
struct Input {
    pattern: String,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    glob: Option<String>,
    #[serde(default, rename = "type")]
    file_type: Option<String>,
    #[serde(default)]
    output_mode: Option<OutputMode>,
    #[serde(default, rename = "-i", deserialize_with = "opt_bool")]
    case_insensitive: Option<bool>,
    #[serde(default, rename = "-n", deserialize_with = "opt_bool")]
    line_numbers: Option<bool>,
    #[serde(default, rename = "-A", deserialize_with = "opt_u64")]
    after: Option<u64>,
    #[serde(default, rename = "-B", deserialize_with = "opt_u64")]
    before: Option<u64>,
    #[serde(default, rename = "-C", deserialize_with = "opt_u64")]
    context: Option<u64>,
    #[serde(default, deserialize_with = "opt_bool")]
    multiline: Option<bool>,
    #[serde(default, deserialize_with = "opt_u64")]
    head_limit: Option<u64>,
}

/// A search, decoupled from JSON so the core can be tested directly.
#[derive(Debug, Clone)]
struct Search {
    pattern: String,
    glob: Option<String>,
    file_type: Option<String>,
    mode: OutputMode,
    case_insensitive: bool,
    line_numbers: bool,
    before: usize,
    after: usize,
    multiline: bool,
    head_limit: Option<usize>,
    max_line_chars: usize,
    output_cap: usize,
}

#[async_trait]
impl Tool for Grep {
    fn name(&self) -> &'static str {
        "Grep"
    }

    fn description(&self) -> &'static str {
        "Search file contents with a regular expression (ripgrep syntax, e.g. \
         \"fn\\s+main\", \"log.*Error\"). Searches `path` (file or directory, default \
         the working directory), skipping .gitignored and binary files. Narrow with \
         glob (e.g. \"*.rs\", \"*.{ts,tsx}\") or type (ripgrep type names: rust, py, js, \
         go, ...). output_mode: \"files_with_matches\" (default, paths newest first), \
         \"content\" (matching lines; -n line numbers, on by default; -A/-B/-C context \
         lines), or \"count\". -i ignores case; multiline lets . and patterns span \
         lines. head_limit keeps only the first N lines or entries."
    }

    fn input_schema(&self) -> Value {
        json!({
            "type": "object",
            "properties": {
                "pattern": {"type": "string", "description": "Regular expression to search for"},
                "path": {"type": "string", "description": "File or directory to search (default: the working directory)"},
                "glob": {"type": "string", "description": "Only search files matching this glob, e.g. \"*.js\" or \"*.{ts,tsx}\""},
                "type": {"type": "string", "description": "Only search files of this ripgrep type, e.g. \"rust\", \"py\", \"js\""},
                "output_mode": {"type": "string", "enum": ["content", "files_with_matches", "count"], "description": "What to return (default files_with_matches)"},
                "-i": {"type": "boolean", "description": "Case-insensitive search"},
                "-n": {"type": "boolean", "description": "Show line numbers (content mode; default true)"},
                "-A": {"type": "integer", "minimum": 0, "description": "Lines of context after each match (content mode)"},
                "-B": {"type": "integer", "minimum": 0, "description": "Lines of context before each match (content mode)"},
                "-C": {"type": "integer", "minimum": 0, "description": "Lines of context before and after each match (content mode)"},
                "multiline": {"type": "boolean", "description": "Let matches span lines (. matches newline)"},
                "head_limit": {"type": "integer", "minimum": 1, "description": "Return only the first N lines or entries"}
            },
            "required": ["pattern"],
            "additionalProperties": false
        })
    }

    fn read_only(&self) -> bool {
        true
    }

    async fn call(&self, input: Value, ctx: &ToolContext) -> Result<String, ToolError> {
        let input: Input = parse(self.name(), input)?;
        let root = match input.path.as_deref().filter(|p| !p.trim().is_empty()) {
            Some(p) => ctx.resolve_path(p)?,
            None => ctx.resolve_path(".")?,
        };
        if !root.exists() {
            return Err(ToolError::Failed(format!(
                "Path does not exist: {}",
                root.display()
            )));
        }
        let context = input.context.unwrap_or(0) as usize;
        let search = Search {
            pattern: input.pattern,
            glob: input.glob.filter(|g| !g.trim().is_empty()),
            file_type: input.file_type.filter(|t| !t.trim().is_empty()),
            mode: input.output_mode.unwrap_or_default(),
            case_insensitive: input.case_insensitive.unwrap_or(false),
            line_numbers: input.line_numbers.unwrap_or(true),
            before: input.before.map_or(context, |n| n as usize),
            after: input.after.map_or(context, |n| n as usize),
            multiline: input.multiline.unwrap_or(false),
            head_limit: input.head_limit.filter(|n| *n > 0).map(|n| n as usize),
            max_line_chars: ctx.limits.read_max_line_chars,
            output_cap: ctx.limits.output_cap,
        };
        let access = ctx.access.clone();
        tokio::task::spawn_blocking(move || run(&search, &root, |p| access.may_read(p)))
            .await
            .map_err(|e| ToolError::Failed(format!("Grep stopped unexpectedly: {e}")))?
    }
}

/// Runs `search` under `root`, skipping files `allowed` rejects, and renders the result.
fn run(search: &Search, root: &Path, allowed: impl Fn(&Path) -> bool) -> Result<String, ToolError> {
    let matcher = build_matcher(search)?;
    let mut searcher = SearcherBuilder::new()
        .line_number(true)
        .multi_line(search.multiline)
        .before_context(if search.mode == OutputMode::Content {
            search.before
        } else {
            0
        })
        .after_context(if search.mode == OutputMode::Content {
            search.after
        } else {
            0
        })
        .binary_detection(BinaryDetection::quit(0))
        .build();
    let walker = build_walker(search, root)?;
    let globs = GlobFilter::new(search.glob.as_deref())?;

    // Enough output to know whether the limit or the byte cap cut anything.
    let line_budget = search.head_limit.map_or(usize::MAX, |n| n + 1);
    let mut lines: Vec<String> = Vec::new();
    let mut bytes = 0usize;
    let mut files: Vec<(SystemTime, PathBuf)> = Vec::new();
    let mut counts: Vec<(PathBuf, u64)> = Vec::new();
    let mut stopped_early = false;

    for entry in walker.build().flatten() {
        let is_file = entry.file_type().is_some_and(|t| t.is_file());
        if !is_file || !allowed(entry.path()) || !globs.accepts(entry.path(), root) {
            continue;
        }
        let path = entry.path();
        let shown = path.display().to_string();
        match search.mode {
            OutputMode::FilesWithMatches => {
                let mut found = false;
                let sink = FirstMatch(&mut found);
                if searcher.search_path(&matcher, path, sink).is_ok() && found {
                    let modified = entry
                        .metadata()
                        .ok()
                        .and_then(|m| m.modified().ok())
                        .unwrap_or(SystemTime::UNIX_EPOCH);
                    files.push((modified, path.to_path_buf()));
                }
            }
            OutputMode::Count => {
                let mut count = 0u64;
                if searcher
                    .search_path(&matcher, path, Counter(&mut count))
                    .is_ok()
                    && count > 0
                {
                    counts.push((path.to_path_buf(), count));
                }
            }
            OutputMode::Content => {
                let before = lines.len();
                if search.before + search.after > 0 && !lines.is_empty() {
                    lines.push("--".into());
                }
                let mut sink = ContentSink {
                    path: &shown,
                    line_numbers: search.line_numbers,
                    max_line_chars: search.max_line_chars,
                    lines: &mut lines,
                    bytes: &mut bytes,
                    line_budget,
                    byte_budget: search.output_cap,
                };
                let _ = searcher.search_path(&matcher, path, &mut sink);
                if lines.len() == before + 1 && lines.last().is_some_and(|l| l == "--") {
                    lines.pop();
                }
                if lines.len() >= line_budget || bytes > search.output_cap {
                    stopped_early = true;
                    break;
                }
            }
        }
    }

    Ok(match search.mode {
        OutputMode::Content => render_content(lines, search, stopped_early),
        OutputMode::FilesWithMatches => render_files(files, search),
        OutputMode::Count => render_counts(counts, search),
    })
}

fn build_matcher(search: &Search) -> Result<RegexMatcher, ToolError> {
    let mut builder = RegexMatcherBuilder::new();
    builder.case_insensitive(search.case_insensitive);
    if search.multiline {
        builder.multi_line(true).dot_matches_new_line(true);
    } else {
        // Line-by-line search needs a matcher that can never match across lines.
        builder.line_terminator(Some(b'\n'));
    }
    builder.build(&search.pattern).map_err(|e| {
        let hint = if search.multiline {
            ""
        } else {
            " (to match across lines set multiline to true)"
        };
        ToolError::invalid("Grep", format!("bad regex {:?}: {e}{hint}", search.pattern))
    })
}

fn build_walker(search: &Search, root: &Path) -> Result<ignore::WalkBuilder, ToolError> {
    let mut walker = workspace_walker(root);
    if let Some(name) = &search.file_type {
        let types = TypesBuilder::new()
            .add_defaults()
            .select(name)
            .build()
            .map_err(|_| {
                ToolError::invalid(
                    "Grep",
                    format!(
                        "unknown file type {name:?}; use a ripgrep type name such as rust, \
                         py, js, ts, go, java, c, cpp, md, json, yaml, or filter with glob instead"
                    ),
                )
            })?;
        walker.types(types);
    }
    Ok(walker)
}

/// The `glob` parameter: include patterns, and `!`-prefixed exclude patterns. It
/// narrows the files .gitignore leaves; it never brings ignored files back (unlike
/// ripgrep's overrides), since a model filtering by extension does not mean that.
struct GlobFilter {
    include: Option<GlobSet>,
    exclude: GlobSet,
}

impl GlobFilter {
    fn new(text: Option<&str>) -> Result<Self, ToolError> {
        let mut include = GlobSetBuilder::new();
        let mut exclude = GlobSetBuilder::new();
        let mut includes = 0;
        for glob in text.map(split_globs).unwrap_or_default() {
            let (negated, pattern) = match glob.strip_prefix('!') {
                Some(rest) => (true, rest),
                None => (false, glob.as_str()),
            };
            let compiled = GlobBuilder::new(pattern)
                .literal_separator(true)
                .build()
                .map_err(|e| ToolError::invalid("Grep", format!("bad glob {glob:?}: {e}")))?;
            if negated {
                exclude.add(compiled);
            } else {
                include.add(compiled);
                includes += 1;
            }
        }
        let build = |b: GlobSetBuilder| {
            b.build()
                .map_err(|e| ToolError::invalid("Grep", format!("bad glob: {e}")))
        };
        Ok(Self {
            include: if includes > 0 {
                Some(build(include)?)
            } else {
                None
            },
            exclude: build(exclude)?,
        })
    }

    /// Matches a pattern without `/` against the file name, others against the path
    /// below the search root, as ripgrep does.
    fn accepts(&self, path: &Path, root: &Path) -> bool {
        let relative = path.strip_prefix(root).unwrap_or(path);
        let name = path.file_name().map(Path::new).unwrap_or(relative);
        let hit = |set: &GlobSet| set.is_match(name) || set.is_match(relative);
        self.include.as_ref().is_none_or(hit) && !hit(&self.exclude)
    }
}

/// Splits a glob list on whitespace and commas, but not inside `{...}` alternations.
fn split_globs(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut depth = 0usize;
    for ch in text.chars() {
        match ch {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            c if depth == 0 && (c.is_whitespace() || c == ',') => {
                if !current.is_empty() {
                    out.push(std::mem::take(&mut current));
                }
                continue;
            }
            _ => {}
        }
        current.push(ch);
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

fn render_content(lines: Vec<String>, search: &Search, stopped_early: bool) -> String {
    if lines.is_empty() {
        return "No matches found".into();
    }
    let limit = search.head_limit.unwrap_or(usize::MAX);
    let cut = lines.len() > limit;
    let mut out = lines.into_iter().take(limit).collect::<Vec<_>>().join("\n");
    if cut {
        out.push_str(&format!(
            "\n(Showing the first {limit} lines; there are more. Raise head_limit or narrow the search.)"
        ));
    } else if stopped_early {
        out.push_str("\n(Stopped early: the output reached its size limit. Narrow the search.)");
    }
    cap_head(&out, search.output_cap)
}

fn render_files(mut files: Vec<(SystemTime, PathBuf)>, search: &Search) -> String {
    if files.is_empty() {
        return "No files found".into();
    }
    files.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    let total = files.len();
    let limit = search.head_limit.unwrap_or(usize::MAX);
    let noun = if total == 1 { "file" } else { "files" };
    let mut out = format!("Found {total} {noun}");
    for (_, path) in files.iter().take(limit) {
        out.push('\n');
        out.push_str(&path.display().to_string());
    }
    if total > limit {
        out.push_str(&format!(
            "\n(Showing {limit} of {total} files, most recently modified first.)"
        ));
    }
    cap_head(&out, search.output_cap)
}

fn render_counts(counts: Vec<(PathBuf, u64)>, search: &Search) -> String {
    if counts.is_empty() {
        return "No matches found".into();
    }
    let total: u64 = counts.iter().map(|(_, n)| n).sum();
    let limit = search.head_limit.unwrap_or(usize::MAX);
    let mut out = counts
        .iter()
        .take(limit)
        .map(|(p, n)| format!("{}:{n}", p.display()))
        .collect::<Vec<_>>()
        .join("\n");
    if counts.len() > limit {
        out.push_str(&format!("\n(Showing {limit} of {} files.)", counts.len()));
    }
    let files = counts.len();
    out.push_str(&format!(
        "\n\nFound {total} matching {} in {files} {}.",
        if total == 1 { "line" } else { "lines" },
        if files == 1 { "file" } else { "files" }
    ));
    cap_head(&out, search.output_cap)
}

/// Stops a file's search at its first match.
struct FirstMatch<'a>(&'a mut bool);

impl Sink for FirstMatch<'_> {
    type Error = io::Error;
    fn matched(&mut self, _: &Searcher, _: &SinkMatch<'_>) -> Result<bool, io::Error> {
        *self.0 = true;
        Ok(false)
    }
}

/// Counts matches (a multi-line match counts once).
struct Counter<'a>(&'a mut u64);

impl Sink for Counter<'_> {
    type Error = io::Error;
    fn matched(&mut self, _: &Searcher, _: &SinkMatch<'_>) -> Result<bool, io::Error> {
        *self.0 += 1;
        Ok(true)
    }
}

/// Renders matches and context like ripgrep: `path:12:text` for a match,
/// `path-13-text` for context, `--` between separate groups.
struct ContentSink<'a> {
    path: &'a str,
    line_numbers: bool,
    max_line_chars: usize,
    lines: &'a mut Vec<String>,
    bytes: &'a mut usize,
    line_budget: usize,
    byte_budget: usize,
}

impl ContentSink<'_> {
    fn push(&mut self, number: Option<u64>, sep: char, raw: &[u8]) -> bool {
        let raw = raw.strip_suffix(b"\n").unwrap_or(raw);
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let text = String::from_utf8_lossy(raw);
        let text = match text.char_indices().nth(self.max_line_chars) {
            Some((end, _)) => format!("{}…", prefix_at_boundary(&text, end)),
            None => text.into_owned(),
        };
        let line = match (self.line_numbers, number) {
            (true, Some(n)) => format!("{}{sep}{n}{sep}{text}", self.path),
            _ => format!("{}{sep}{text}", self.path),
        };
        *self.bytes += line.len() + 1;
        self.lines.push(line);
        self.lines.len() < self.line_budget && *self.bytes <= self.byte_budget
    }
}

impl Sink for &mut ContentSink<'_> {
    type Error = io::Error;

    fn matched(&mut self, _: &Searcher, mat: &SinkMatch<'_>) -> Result<bool, io::Error> {
        let first = mat.line_number();
        for (i, line) in mat.lines().enumerate() {
            if !self.push(first.map(|n| n + i as u64), ':', line) {
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn context(&mut self, _: &Searcher, ctx: &SinkContext<'_>) -> Result<bool, io::Error> {
        if matches!(ctx.kind(), SinkContextKind::Other) {
            return Ok(true);
        }
        Ok(self.push(ctx.line_number(), '-', ctx.bytes()))
    }

    fn context_break(&mut self, _: &Searcher) -> Result<bool, io::Error> {
        self.lines.push("--".into());
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn search(pattern: &str, mode: OutputMode) -> Search {
        Search {
            pattern: pattern.into(),
            glob: None,
            file_type: None,
            mode,
            case_insensitive: false,
            line_numbers: true,
            before: 0,
            after: 0,
            multiline: false,
            head_limit: None,
            max_line_chars: 2000,
            output_cap: 30_000,
        }
    }

    fn tree() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let base = fs::canonicalize(dir.path()).unwrap();
        fs::create_dir_all(base.join("src")).unwrap();
        fs::write(
            base.join("src/main.rs"),
            "fn main() {\n    println!(\"hi\");\n}\n",
        )
        .unwrap();
        fs::write(
            base.join("src/lib.rs"),
            "pub fn lib() {}\n// TODO one\n// todo two\n",
        )
        .unwrap();
        fs::write(base.join("notes.md"), "TODO: write docs\n").unwrap();
        fs::write(base.join(".gitignore"), "ignored.rs\n").unwrap();
        fs::write(base.join("ignored.rs"), "TODO hidden\n").unwrap();
        fs::write(base.join("blob.bin"), b"TODO\0\x01\x02").unwrap();
        (dir, base)
    }

    fn rel(out: &str, base: &Path) -> String {
        out.replace(&format!("{}/", base.display()), "")
    }

    #[test]
    fn files_with_matches_is_the_default_and_skips_ignored_and_binary() {
        let (_d, base) = tree();
        let out = run(&search("TODO", OutputMode::FilesWithMatches), &base, |_| {
            true
        })
        .unwrap();
        let out = rel(&out, &base);
        assert!(out.starts_with("Found 2 files\n"), "{out}");
        assert!(
            out.contains("src/lib.rs") && out.contains("notes.md"),
            "{out}"
        );
        assert!(
            !out.contains("ignored.rs") && !out.contains("blob.bin"),
            "{out}"
        );
        let none = run(&search("zzz", OutputMode::FilesWithMatches), &base, |_| {
            true
        })
        .unwrap();
        assert_eq!(none, "No files found");
    }

    #[test]
    fn content_mode_numbers_lines_and_honours_case_flag() {
        let (_d, base) = tree();
        let mut s = search("todo", OutputMode::Content);
        s.case_insensitive = true;
        s.file_type = Some("rust".into());
        let out = rel(&run(&s, &base, |_| true).unwrap(), &base);
        assert_eq!(out, "src/lib.rs:2:// TODO one\nsrc/lib.rs:3:// todo two");
        s.line_numbers = false;
        let out = rel(&run(&s, &base, |_| true).unwrap(), &base);
        assert_eq!(out, "src/lib.rs:// TODO one\nsrc/lib.rs:// todo two");
    }

    #[test]
    fn context_lines_use_dashes_and_groups_are_separated() {
        let dir = tempfile::tempdir().unwrap();
        let base = fs::canonicalize(dir.path()).unwrap();
        let body: String = (1..=10).map(|i| format!("line{i}\n")).collect();
        fs::write(base.join("f.txt"), body).unwrap();
        let mut s = search("line(2|9)$", OutputMode::Content);
        s.before = 1;
        s.after = 1;
        let out = rel(&run(&s, &base, |_| true).unwrap(), &base);
        assert_eq!(
            out,
            "f.txt-1-line1\nf.txt:2:line2\nf.txt-3-line3\n--\nf.txt-8-line8\nf.txt:9:line9\nf.txt-10-line10"
        );
    }

    #[test]
    fn head_limit_cuts_and_says_so() {
        let (_d, base) = tree();
        let mut s = search("TODO|todo|fn", OutputMode::Content);
        s.head_limit = Some(2);
        let out = run(&s, &base, |_| true).unwrap();
        assert_eq!(out.lines().filter(|l| l.contains(':')).count(), 2, "{out}");
        assert!(out.contains("Showing the first 2 lines"), "{out}");
        let mut f = search("TODO|todo|fn", OutputMode::FilesWithMatches);
        f.head_limit = Some(1);
        let out = run(&f, &base, |_| true).unwrap();
        assert!(
            out.starts_with("Found 3 files\n") && out.contains("Showing 1 of 3"),
            "{out}"
        );
    }

    #[test]
    fn count_mode_and_glob_filter() {
        let (_d, base) = tree();
        let mut s = search("(?i)todo", OutputMode::Count);
        s.glob = Some("*.rs".into());
        let out = rel(&run(&s, &base, |_| true).unwrap(), &base);
        assert_eq!(out, "src/lib.rs:2\n\nFound 2 matching lines in 1 file.");
        s.glob = Some("*.{md,txt}".into());
        let out = rel(&run(&s, &base, |_| true).unwrap(), &base);
        assert!(out.starts_with("notes.md:1\n"), "{out}");
        s.glob = Some("src/*.rs !lib.rs".into());
        let out = rel(&run(&s, &base, |_| true).unwrap(), &base);
        assert_eq!(out, "No matches found");
        s.glob = Some("*.rs, !main.rs".into());
        let out = rel(&run(&s, &base, |_| true).unwrap(), &base);
        assert!(out.starts_with("src/lib.rs:2\n"), "{out}");
    }

    #[test]
    fn multiline_matches_span_lines() {
        let (_d, base) = tree();
        let mut s = search(r"main\(\) \{\s+println", OutputMode::Content);
        // Line by line, \s cannot reach the next line.
        assert_eq!(run(&s, &base, |_| true).unwrap(), "No matches found");
        let explicit = search(r"\{\n", OutputMode::Content);
        let err = run(&explicit, &base, |_| true).unwrap_err().to_string();
        assert!(err.contains("set multiline to true"), "{err}");
        s.multiline = true;
        let out = rel(&run(&s, &base, |_| true).unwrap(), &base);
        assert_eq!(
            out,
            "src/main.rs:1:fn main() {\nsrc/main.rs:2:    println!(\"hi\");"
        );
    }

    #[test]
    fn a_single_file_path_and_the_filter_work() {
        let (_d, base) = tree();
        let s = search("TODO", OutputMode::FilesWithMatches);
        let out = run(&s, &base.join("notes.md"), |_| true).unwrap();
        assert!(out.starts_with("Found 1 file\n"), "{out}");
        let out = run(&s, &base, |p| !p.ends_with("notes.md")).unwrap();
        assert!(
            out.starts_with("Found 1 file\n") && out.contains("lib.rs"),
            "{out}"
        );
    }

    #[test]
    fn bad_type_and_bad_regex_are_input_errors() {
        let (_d, base) = tree();
        let mut s = search("x", OutputMode::Content);
        s.file_type = Some("nosuchtype".into());
        let err = run(&s, &base, |_| true).unwrap_err().to_string();
        assert!(err.contains("unknown file type \"nosuchtype\""), "{err}");
        let err = run(&search("(", OutputMode::Content), &base, |_| true)
            .unwrap_err()
            .to_string();
        assert!(err.contains("bad regex"), "{err}");
    }

    #[test]
    fn split_globs_respects_braces() {
        assert_eq!(
            split_globs("*.rs *.{ts, tsx},*.md"),
            vec!["*.rs", "*.{ts, tsx}", "*.md"]
        );
    }
}
