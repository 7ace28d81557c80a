//! Splits `---` YAML frontmatter from a markdown body and reads it as leniently as
//! Claude Code does. Strict YAML is tried first; when it fails, each top-level field is
//! parsed on its own and, if that fails too, kept as raw text with a diagnostic that
//! says what was wrong and how to quote it. One bad field never costs the others.

use indexmap::IndexMap;
use serde_json::Value;

use super::diagnostic::Diagnostic;

/// One top-level frontmatter field.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub value: Value,
    /// The text after `key:` on the key's own line, trimmed. Lets callers that want a
    /// string read `argument-hint: [scope]` or `model: 1.10` as the author wrote it.
    pub raw: String,
    /// 1-based file line of the key.
    pub line: usize,
}

/// Whether the file had a frontmatter block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    /// The first non-blank line is not `---`.
    Missing,
    /// `---` opens a block on this 1-based line that is never closed.
    Unclosed { line: usize },
    /// A block opened on this 1-based line and closed.
    Present { line: usize },
}

/// A markdown file split into frontmatter fields and body.
#[derive(Debug, Clone, PartialEq)]
pub struct Frontmatter {
    pub presence: Presence,
    /// Fields in file order; keys as written.
    pub fields: IndexMap<String, Field>,
    /// The markdown after the frontmatter, without leading blank lines or trailing
    /// whitespace, with `\n` line endings.
    pub body: String,
    /// 1-based file line where `body` starts (for an empty body, the last line before
    /// it).
    pub body_line: usize,
    /// Problems found while reading the frontmatter, with file line numbers.
    pub diagnostics: Vec<Diagnostic>,
}

impl Frontmatter {
    /// Splits and reads `text`. Never fails: problems become diagnostics.
    pub fn parse(text: &str) -> Self {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let text = text.replace("\r\n", "\n");
        let lines: Vec<&str> = text.split('\n').collect();

        let open = lines.iter().position(|l| !l.trim().is_empty());
        let Some(open) = open.filter(|&i| lines[i].trim() == "---") else {
            return Self::without_block(Presence::Missing, &lines);
        };
        let Some(close) = lines[open + 1..]
            .iter()
            .position(|l| l.trim() == "---")
            .map(|i| open + 1 + i)
        else {
            let mut fm = Self::without_block(Presence::Unclosed { line: open + 1 }, &lines);
            fm.diagnostics.push(
                Diagnostic::error("frontmatter opened with `---` is never closed")
                    .at_line(open + 1)
                    .with_fix("add a line `---` after the last field"),
            );
            return fm;
        };

        let yaml_lines = dedent(&lines[open + 1..close]);
        let mut diagnostics = Vec::new();
        // File line of yaml_lines[0]: `open` is 0-based, so +1 for 1-based, +1 for next.
        let fields = parse_fields(&yaml_lines, open + 2, &mut diagnostics);
        let (body, body_line) = body_from(&lines, close + 1);
        Self {
            presence: Presence::Present { line: open + 1 },
            fields,
            body,
            body_line,
            diagnostics,
        }
    }

    fn without_block(presence: Presence, lines: &[&str]) -> Self {
        let (body, body_line) = body_from(lines, 0);
        Self {
            presence,
            fields: IndexMap::new(),
            body,
            body_line,
            diagnostics: Vec::new(),
        }
    }

    /// The field named `key`, matched exactly.
    pub fn get(&self, key: &str) -> Option<&Field> {
        self.fields.get(key)
    }
}

impl Field {
    /// The value read as text, for fields that expect a string. `None` for a null or
    /// empty value. Lists and maps are turned into text with a note saying so.
    pub fn as_text(&self, key: &str) -> (Option<String>, Option<Diagnostic>) {
        match &self.value {
            Value::Null => (None, None),
            Value::String(s) => (Some(s.clone()), None),
            Value::Bool(_) | Value::Number(_) => {
                let text = if self.raw.is_empty() {
                    self.value.to_string()
                } else {
                    unquote(&self.raw).to_string()
                };
                (Some(text), None)
            }
            Value::Array(items) => {
                if self.raw.starts_with('[') {
                    let note = Diagnostic::info(format!(
                        "`{key}` is a YAML list here; read as the text `{}`",
                        self.raw
                    ))
                    .at_line(self.line)
                    .with_fix(format!("quote it: {key}: {}", quote_for_fix(&self.raw)));
                    return (Some(self.raw.clone()), Some(note));
                }
                let joined: Vec<String> = items.iter().map(value_text).collect();
                let note = Diagnostic::warning(format!(
                    "`{key}` should be text but is a list; its items were joined with ', '"
                ))
                .at_line(self.line)
                .with_fix(format!(
                    "write it on one line: {key}: {}",
                    joined.join(", ")
                ));
                (Some(joined.join(", ")), Some(note))
            }
            Value::Object(_) => {
                let note = Diagnostic::warning(format!(
                    "`{key}` should be text but is a map; kept as JSON text"
                ))
                .at_line(self.line)
                .with_fix(format!("write it on one line: {key}: <text>"));
                (Some(self.value.to_string()), Some(note))
            }
        }
    }

    /// The value read as a boolean (`true`, `yes`, `on`, ... in any case).
    pub fn as_bool(&self, key: &str) -> Result<Option<bool>, Diagnostic> {
        let text = match &self.value {
            Value::Null => return Ok(None),
            Value::Bool(b) => return Ok(Some(*b)),
            Value::String(s) => s.trim().to_ascii_lowercase(),
            other => other.to_string(),
        };
        match text.as_str() {
            "true" | "yes" | "on" => Ok(Some(true)),
            "false" | "no" | "off" => Ok(Some(false)),
            "" => Ok(None),
            _ => Err(Diagnostic::warning(format!(
                "`{key}` should be true or false, found `{}`; ignored",
                value_text(&self.value)
            ))
            .at_line(self.line)
            .with_fix(format!("write `{key}: true` or `{key}: false`"))),
        }
    }

    /// The value read as a number; numeric strings are accepted.
    pub fn as_f64(&self, key: &str) -> Result<Option<f64>, Diagnostic> {
        let parsed = match &self.value {
            Value::Null => return Ok(None),
            Value::Number(n) => n.as_f64(),
            Value::String(s) if s.trim().is_empty() => return Ok(None),
            Value::String(s) => s.trim().parse::<f64>().ok(),
            _ => None,
        };
        parsed.filter(|f| f.is_finite()).map(Some).ok_or_else(|| {
            Diagnostic::warning(format!(
                "`{key}` should be a number, found `{}`; ignored",
                value_text(&self.value)
            ))
            .at_line(self.line)
            .with_fix(format!("write a plain number, e.g. `{key}: 10`"))
        })
    }
}

/// The fix for an unknown key: the nearest known key when one is close (a typo),
/// otherwise the list of known keys.
pub fn unknown_key_fix(key: &str, known: &[&str]) -> String {
    let lower = key.to_ascii_lowercase();
    let nearest = known
        .iter()
        .map(|k| (edit_distance(&lower, &k.to_ascii_lowercase()), *k))
        .min_by_key(|(d, _)| *d)
        .filter(|(d, k)| *d <= 2.max(k.len() / 4));
    match nearest {
        Some((_, k)) => format!("did you mean `{k}`?"),
        None => format!("remove it, or use a known key: {}", known.join(", ")),
    }
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

/// A value as plain text: strings unquoted, everything else as JSON.
pub fn value_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Turns literal `\n` sequences (two characters) into newlines. Descriptions written
/// on one line by Claude Code's agent generator use them.
pub fn unescape_newlines(text: &str) -> String {
    text.replace("\\n", "\n")
}

/// A YAML scalar that round-trips `value`, for "quote it" suggestions. Long values are
/// shortened with `…` so the message stays readable.
pub fn quote_for_fix(value: &str) -> String {
    let shown: String = if value.chars().count() > 60 {
        let head: String = value.chars().take(50).collect();
        format!("{head}…")
    } else {
        value.to_string()
    };
    if !value.contains('"') && !value.contains('\\') {
        format!("\"{shown}\"")
    } else if !value.contains('\'') {
        format!("'{shown}'")
    } else {
        format!("\"{}\"", shown.replace('\\', "\\\\").replace('"', "\\\""))
    }
}

fn body_from(lines: &[&str], start: usize) -> (String, usize) {
    let first = (start..lines.len())
        .find(|&i| !lines[i].trim().is_empty())
        .unwrap_or(lines.len());
    let body = lines[first.min(lines.len())..].join("\n");
    // An empty body has no line of its own: name the last line before it (the
    // closing `---`), which is in the file.
    let line = if first >= lines.len() {
        start.max(1)
    } else {
        first + 1
    };
    (body.trim_end().to_string(), line)
}

/// Leading spaces and tabs, in bytes (other whitespace is content, and slicing at a
/// byte count of it could split a character).
fn indentation(line: &str) -> usize {
    line.bytes()
        .take_while(|b| *b == b' ' || *b == b'\t')
        .count()
}

/// Removes the indentation shared by every non-blank line (indented frontmatter).
fn dedent(lines: &[&str]) -> Vec<String> {
    let indent = lines
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| indentation(l))
        .min()
        .unwrap_or(0);
    lines
        .iter()
        .map(|l| {
            if l.trim().is_empty() {
                String::new()
            } else {
                l[indent..].trim_end().to_string()
            }
        })
        .collect()
}

/// `key: rest` at the start of a line: the key (unquoted) and the trimmed rest. The
/// colon must be followed by a space or the end of the line, as in YAML.
fn key_line(line: &str) -> Option<(String, String)> {
    let (key, after) = match line.chars().next()? {
        q @ ('"' | '\'') => {
            let end = line[1..].find(q)? + 1;
            (line[1..end].to_string(), &line[end + 1..])
        }
        c if c.is_ascii_alphanumeric() || c == '_' => {
            let end = line
                .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')))
                .unwrap_or(line.len());
            (line[..end].to_string(), &line[end..])
        }
        _ => return None,
    };
    let after = after.trim_start_matches([' ', '\t']).strip_prefix(':')?;
    if !(after.is_empty() || after.starts_with([' ', '\t'])) {
        return None;
    }
    Some((key, after.trim().to_string()))
}

/// A top-level key line with the lines that belong to it.
struct Chunk {
    key: String,
    line: usize,
    rest: String,
    /// The key line and its continuation lines, ready for YAML.
    text: Vec<String>,
}

impl Chunk {
    fn continuation(&self) -> impl Iterator<Item = &str> {
        self.text[1..].iter().map(String::as_str)
    }
    fn is_single_line(&self) -> bool {
        self.continuation().all(|l| l.trim().is_empty())
    }
}

fn parse_fields(
    lines: &[String],
    first_line: usize,
    diagnostics: &mut Vec<Diagnostic>,
) -> IndexMap<String, Field> {
    let mut fields = IndexMap::new();
    if lines.iter().all(|l| l.trim().is_empty()) {
        return fields;
    }
    let chunks = split_chunks(lines, first_line, diagnostics);

    let whole = lines.join("\n");
    if let Ok(serde_norway::Value::Mapping(map)) = serde_norway::from_str(&whole) {
        for (key, value) in map {
            let key = key_text(&key);
            let chunk = chunks.iter().find(|c| c.key == key);
            let field = Field {
                value: yaml_to_json(value),
                raw: chunk.map(|c| c.rest.clone()).unwrap_or_default(),
                line: chunk.map_or(first_line, |c| c.line),
            };
            fields.insert(key.clone(), check_comment(&key, field, diagnostics));
        }
        return fields;
    }

    for chunk in &chunks {
        let field = parse_chunk(chunk, diagnostics);
        if let Some(previous) = fields.get(&chunk.key) {
            diagnostics.push(
                Diagnostic::warning(format!(
                    "duplicate key `{}` (first on line {}); the later value is used",
                    chunk.key, previous.line
                ))
                .at_line(chunk.line)
                .with_fix(format!("remove one of the `{}` lines", chunk.key)),
            );
            fields.shift_remove(&chunk.key);
        }
        fields.insert(chunk.key.clone(), field);
    }
    fields
}

fn split_chunks(
    lines: &[String],
    first_line: usize,
    diagnostics: &mut Vec<Diagnostic>,
) -> Vec<Chunk> {
    let mut chunks: Vec<Chunk> = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let file_line = first_line + i;
        let indented = line.starts_with([' ', '\t']);
        let is_item = line == "-" || line.starts_with("- ");
        if line.trim().is_empty() || indented || is_item {
            match chunks.last_mut() {
                Some(chunk) => chunk.text.push(line.clone()),
                None if line.trim().is_empty() => {}
                None => diagnostics.push(stray_line(line, file_line)),
            }
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        if let Some((key, rest)) = key_line(line) {
            chunks.push(Chunk {
                key,
                line: file_line,
                rest,
                text: vec![line.clone()],
            });
            continue;
        }
        match chunks.last_mut() {
            Some(chunk) => {
                diagnostics.push(
                    Diagnostic::warning(format!(
                        "this line continues `{}` but is not indented; joined to it",
                        chunk.key
                    ))
                    .at_line(file_line)
                    .with_fix("indent continuation lines by two spaces"),
                );
                chunk.text.push(format!("  {line}"));
            }
            None => diagnostics.push(stray_line(line, file_line)),
        }
    }
    for chunk in &mut chunks {
        while chunk.text.len() > 1 && chunk.text.last().is_some_and(|l| l.trim().is_empty()) {
            chunk.text.pop();
        }
    }
    chunks
}

fn stray_line(line: &str, file_line: usize) -> Diagnostic {
    Diagnostic::error(format!(
        "`{}` is not a `key: value` line; ignored",
        line.trim()
    ))
    .at_line(file_line)
    .with_fix("write each field as `key: value` starting at the first column")
}

fn parse_chunk(chunk: &Chunk, diagnostics: &mut Vec<Diagnostic>) -> Field {
    // The trailing newline makes block scalars end the same way as in a whole document.
    let text = chunk.text.join("\n") + "\n";
    let (yaml_error, error_line) = match serde_norway::from_str::<serde_norway::Value>(&text) {
        Ok(serde_norway::Value::Mapping(map)) if map.len() == 1 => {
            if let Some((_, value)) = map.into_iter().next() {
                let field = Field {
                    value: yaml_to_json(value),
                    raw: chunk.rest.clone(),
                    line: chunk.line,
                };
                return check_comment(&chunk.key, field, diagnostics);
            }
            (String::from("empty mapping"), chunk.line)
        }
        Ok(_) => (String::from("not a single `key: value`"), chunk.line),
        Err(e) => {
            // YAML counts more line breaks than `\n` (a lone CR, U+0085, U+2028):
            // keep the line within the chunk's own lines.
            let last = chunk.line + chunk.text.len().saturating_sub(1);
            let line = e.location().map_or(chunk.line, |l| {
                (chunk.line + l.line().saturating_sub(1)).min(last)
            });
            (e.to_string(), line)
        }
    };
    diagnostics.push(explain_failure(chunk, &yaml_error, error_line));
    Field {
        value: recover_raw(chunk),
        raw: chunk.rest.clone(),
        line: chunk.line,
    }
}

/// Says why a field was not valid YAML, in terms of the usual mistakes.
fn explain_failure(chunk: &Chunk, yaml_error: &str, line: usize) -> Diagnostic {
    let rest = chunk.rest.as_str();
    let key = &chunk.key;
    if !chunk.is_single_line() || rest.is_empty() {
        let brief = yaml_error.split(" at line ").next().unwrap_or(yaml_error);
        return Diagnostic::warning(format!(
            "`{key}` is not valid YAML ({brief}); recovered as text"
        ))
        .at_line(line)
        .with_fix(
            "indent continuation lines, or use a block scalar: `key: |` followed by indented lines",
        );
    }
    let reason = match rest.chars().next() {
        Some('*') => "`*` starts a YAML alias".to_string(),
        Some('&') => "`&` starts a YAML anchor".to_string(),
        Some('!') => "`!` starts a YAML tag".to_string(),
        Some('@' | '`') => "values may not start with `@` or a backtick in YAML".to_string(),
        Some('[') => "`[` starts a YAML list but the value is not a valid list".to_string(),
        Some('{') => "`{` starts a YAML map but the value is not a valid map".to_string(),
        Some('"' | '\'') => "the quoted value is not closed properly".to_string(),
        Some('%') => "`%` starts a YAML directive".to_string(),
        _ if rest.contains(": ") => "value contains ': '".to_string(),
        _ => {
            let brief = yaml_error.split(" at line ").next().unwrap_or(yaml_error);
            format!("not valid YAML ({brief})")
        }
    };
    Diagnostic::warning(format!("{reason}; recovered as text"))
        .at_line(line)
        .with_fix(format!("quote it: {key}: {}", quote_for_fix(rest)))
}

/// Keeps a broken field as the text the author wrote.
fn recover_raw(chunk: &Chunk) -> Value {
    let rest = chunk.rest.as_str();
    let continuation: Vec<&str> = chunk.continuation().collect();
    if let Some(header) = block_header(rest) {
        return Value::String(block_scalar(header, &continuation));
    }
    let content: Vec<&str> = continuation
        .iter()
        .copied()
        .filter(|l| !l.trim().is_empty())
        .collect();
    if rest.is_empty() {
        if content.is_empty() {
            return Value::Null;
        }
        if content.iter().all(|l| l.trim_start().starts_with('-')) {
            let items = content
                .iter()
                .map(|l| {
                    let item = l.trim_start().trim_start_matches('-').trim();
                    Value::String(unquote(item).to_string())
                })
                .collect();
            return Value::Array(items);
        }
        return Value::String(block_scalar(('|', '-'), &continuation));
    }
    let mut text = unquote(rest).to_string();
    for line in content {
        text.push(' ');
        text.push_str(line.trim());
    }
    Value::String(text)
}

/// `|`, `>-`, `|+2`...: the style and the chomping indicator (`-`, `+` or ` `).
fn block_header(rest: &str) -> Option<(char, char)> {
    let head = rest.split(" #").next().unwrap_or(rest).trim();
    let mut chars = head.chars();
    let style = chars.next().filter(|c| *c == '|' || *c == '>')?;
    let tail: String = chars.collect();
    if !tail
        .chars()
        .all(|c| c == '+' || c == '-' || c.is_ascii_digit())
    {
        return None;
    }
    let chomp = tail.chars().find(|c| *c == '+' || *c == '-').unwrap_or(' ');
    Some((style, chomp))
}

fn block_scalar((style, chomp): (char, char), lines: &[&str]) -> String {
    let indent = lines
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| indentation(l))
        .min()
        .unwrap_or(0);
    let lines: Vec<&str> = lines
        .iter()
        .map(|l| {
            if l.trim().is_empty() {
                ""
            } else {
                &l[indent..]
            }
        })
        .collect();
    let mut text = if style == '|' {
        lines.join("\n")
    } else {
        let mut folded = String::new();
        for (i, line) in lines.iter().enumerate() {
            if line.is_empty() {
                folded.push('\n');
            } else {
                if i > 0 && !lines[i - 1].is_empty() {
                    folded.push(' ');
                }
                folded.push_str(line);
            }
        }
        folded
    };
    let trimmed_len = text.trim_end_matches('\n').len();
    text.truncate(trimmed_len);
    if chomp != '-' {
        text.push('\n');
    }
    text
}

/// YAML drops everything after ` #`; `color: #ff0000` even becomes null. Bring the
/// text back when nothing is left, and say what was dropped otherwise.
fn check_comment(key: &str, mut field: Field, diagnostics: &mut Vec<Diagnostic>) -> Field {
    let raw = field.raw.as_str();
    let quoted_or_block = raw.starts_with(['"', '\'', '|', '>', '[', '{']);
    if raw.is_empty() || quoted_or_block {
        return field;
    }
    if field.value.is_null() && raw.starts_with('#') {
        diagnostics.push(
            Diagnostic::warning(
                "`#` starts a YAML comment, so the value was empty; recovered as text",
            )
            .at_line(field.line)
            .with_fix(format!("quote it: {key}: {}", quote_for_fix(raw))),
        );
        field.value = Value::String(raw.to_string());
    } else if raw.contains(" #") && field.value.is_string() {
        diagnostics.push(
            Diagnostic::info("text after ` #` is a YAML comment and was not read")
                .at_line(field.line)
                .with_fix(format!(
                    "if it belongs to the value, quote it: {key}: {}",
                    quote_for_fix(raw)
                )),
        );
    }
    field
}

fn unquote(text: &str) -> &str {
    let bytes = text.as_bytes();
    if bytes.len() >= 2 {
        let (first, last) = (bytes[0], bytes[bytes.len() - 1]);
        if first == last && (first == b'"' || first == b'\'') {
            return &text[1..text.len() - 1];
        }
    }
    text
}

fn key_text(key: &serde_norway::Value) -> String {
    match key {
        serde_norway::Value::String(s) => s.clone(),
        other => value_text(&yaml_to_json(other.clone())),
    }
}

/// YAML value to JSON value; non-string keys become text, tags are dropped.
pub(crate) fn yaml_to_json(value: serde_norway::Value) -> Value {
    use serde_norway::Value as Y;
    match value {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                n.as_f64()
                    .and_then(serde_json::Number::from_f64)
                    .map_or_else(|| Value::String(n.to_string()), Value::Number)
            }
        }
        Y::String(s) => Value::String(s),
        Y::Sequence(items) => Value::Array(items.into_iter().map(yaml_to_json).collect()),
        Y::Mapping(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (key_text(&k), yaml_to_json(v)))
                .collect(),
        ),
        Y::Tagged(tagged) => yaml_to_json(tagged.value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::claude::diagnostic::Severity;
    use serde_json::json;

    fn value(fm: &Frontmatter, key: &str) -> Value {
        fm.get(key)
            .map(|f| f.value.clone())
            .unwrap_or_else(|| panic!("no field {key} in {:?}", fm.fields.keys()))
    }

    #[test]
    fn strict_yaml_is_read_as_is() {
        let fm = Frontmatter::parse(
            "---\nname: reviewer\ndescription: Reviews code\ntools: [Read, Grep]\ntemperature: 0.2\n---\n\nYou review code.\n",
        );
        assert_eq!(fm.presence, Presence::Present { line: 1 });
        assert_eq!(value(&fm, "name"), json!("reviewer"));
        assert_eq!(value(&fm, "tools"), json!(["Read", "Grep"]));
        assert_eq!(value(&fm, "temperature"), json!(0.2));
        assert_eq!(fm.body, "You review code.");
        assert_eq!(fm.body_line, 8);
        assert_eq!(fm.get("tools").map(|f| f.line), Some(4));
        assert!(fm.diagnostics.is_empty(), "{:?}", fm.diagnostics);
    }

    #[test]
    fn bom_crlf_leading_blank_lines_and_indentation_are_accepted() {
        let text = "\u{feff}\r\n\r\n  ---\r\n  name: a\r\n  description: b\r\n  ---\r\nbody line\r\nsecond\r\n";
        let fm = Frontmatter::parse(text);
        assert_eq!(fm.presence, Presence::Present { line: 3 });
        assert_eq!(value(&fm, "name"), json!("a"));
        assert_eq!(value(&fm, "description"), json!("b"));
        assert_eq!(fm.get("name").map(|f| f.line), Some(4));
        assert_eq!(fm.body, "body line\nsecond");
        assert!(fm.diagnostics.is_empty(), "{:?}", fm.diagnostics);
    }

    /// Random text built from the characters that matter to YAML and frontmatter.
    fn random_text(rng: &mut fastrand::Rng) -> String {
        const PIECES: [&str; 24] = [
            "---", "\n", "\r\n", " ", "  ", "\t", ":", ": ", "- ", "#", "*", "&", "[", "]", "{",
            "}", "\"", "'", "|", ">", "name", "tools", "\u{a0}", "é",
        ];
        (0..rng.usize(0..40))
            .map(|_| PIECES[rng.usize(0..PIECES.len())])
            .collect()
    }

    #[test]
    fn random_input_never_panics_and_keeps_line_numbers_in_range() {
        let mut rng = fastrand::Rng::with_seed(7);
        for _ in 0..3000 {
            let text = random_text(&mut rng);
            let fm = Frontmatter::parse(&text);
            let lines = text.split('\n').count();
            for d in &fm.diagnostics {
                assert!(
                    d.line.is_some_and(|l| l >= 1 && l <= lines),
                    "{text:?}: {d:?}"
                );
            }
            for field in fm.fields.values() {
                assert!(field.line >= 1 && field.line <= lines, "{text:?}");
            }
        }
    }

    #[test]
    fn unusual_whitespace_never_splits_a_character() {
        let fm = Frontmatter::parse("---\n \u{a0}name: a\n description: |\n   x\n  \u{a0}y\n---\n");
        assert!(fm.presence == Presence::Present { line: 1 });
        let description = value_text(&value(&fm, "description"));
        assert!(description.contains('x') && description.contains("\u{a0}y"));
    }

    #[test]
    fn missing_and_unclosed_frontmatter_are_told_apart() {
        let fm = Frontmatter::parse("# Title\n\ntext\n");
        assert_eq!(fm.presence, Presence::Missing);
        assert_eq!(fm.body, "# Title\n\ntext");
        assert!(fm.fields.is_empty());

        let fm = Frontmatter::parse("---\nname: a\nbody without close\n");
        assert_eq!(fm.presence, Presence::Unclosed { line: 1 });
        assert_eq!(fm.diagnostics.len(), 1);
        assert_eq!(fm.diagnostics[0].severity, Severity::Error);
        assert!(fm.diagnostics[0].describe().contains("never closed"));
    }

    #[test]
    fn unquoted_colon_is_recovered_field_by_field() {
        let fm = Frontmatter::parse(
            "---\nname: helper\ndescription: Use when: the user asks\ntools: Read\n---\nbody",
        );
        assert_eq!(value(&fm, "name"), json!("helper"));
        assert_eq!(value(&fm, "description"), json!("Use when: the user asks"));
        assert_eq!(value(&fm, "tools"), json!("Read"));
        assert_eq!(fm.diagnostics.len(), 1, "{:?}", fm.diagnostics);
        let d = &fm.diagnostics[0];
        assert_eq!(d.severity, Severity::Warning);
        assert_eq!(d.line, Some(3));
        assert_eq!(
            d.describe(),
            "line 3: value contains ': '; recovered as text; quote it: description: \"Use when: the user asks\""
        );
    }

    #[test]
    fn star_alias_becomes_text() {
        let fm = Frontmatter::parse("---\nname: a\ntools: *\n---\n");
        assert_eq!(value(&fm, "tools"), json!("*"));
        assert_eq!(fm.diagnostics.len(), 1);
        assert!(fm.diagnostics[0].message.contains("alias"));
        assert_eq!(fm.diagnostics[0].line, Some(3));
        assert_eq!(
            fm.diagnostics[0].fix.as_deref(),
            Some("quote it: tools: \"*\"")
        );
    }

    #[test]
    fn hash_color_is_not_lost_as_a_comment() {
        let fm = Frontmatter::parse("---\nname: a\ncolor: #ff0000\n---\n");
        assert_eq!(value(&fm, "color"), json!("#ff0000"));
        assert_eq!(fm.diagnostics.len(), 1);
        assert_eq!(fm.diagnostics[0].line, Some(3));
        assert!(fm.diagnostics[0].message.contains("comment"));
    }

    #[test]
    fn trailing_comment_is_noted_not_silently_dropped() {
        let fm = Frontmatter::parse("---\ndescription: Fixes issue #12 fast\n---\n");
        assert_eq!(value(&fm, "description"), json!("Fixes issue"));
        assert_eq!(fm.diagnostics.len(), 1);
        assert_eq!(fm.diagnostics[0].severity, Severity::Info);
    }

    #[test]
    fn invalid_flow_sequence_is_kept_as_written() {
        let fm = Frontmatter::parse(
            "---\ndescription: Commit\nargument-hint: [scope] | --flag\n---\nDo it",
        );
        assert_eq!(value(&fm, "argument-hint"), json!("[scope] | --flag"));
        assert_eq!(value(&fm, "description"), json!("Commit"));
        assert!(fm.diagnostics[0].message.contains("`[` starts a YAML list"));
    }

    #[test]
    fn valid_flow_sequence_reads_back_as_written_text() {
        let fm = Frontmatter::parse("---\nargument-hint: [message]\n---\n");
        let field = fm.get("argument-hint").cloned();
        let field = field.unwrap_or_else(|| panic!("missing field"));
        assert_eq!(field.value, json!(["message"]));
        let (text, note) = field.as_text("argument-hint");
        assert_eq!(text.as_deref(), Some("[message]"));
        assert_eq!(note.map(|n| n.severity), Some(Severity::Info));
    }

    #[test]
    fn block_scalars_and_lists() {
        let fm = Frontmatter::parse(
            "---\ndescription: |\n  Line one\n  Line two\nsummary: >\n  folded\n  text\ntools:\n  - Read\n  - Grep\nskills:\n- one\n- two\n---\n",
        );
        assert_eq!(value(&fm, "description"), json!("Line one\nLine two\n"));
        assert_eq!(value(&fm, "summary"), json!("folded text\n"));
        assert_eq!(value(&fm, "tools"), json!(["Read", "Grep"]));
        assert_eq!(value(&fm, "skills"), json!(["one", "two"]));
        assert!(fm.diagnostics.is_empty(), "{:?}", fm.diagnostics);
    }

    #[test]
    fn block_scalar_and_list_survive_next_to_a_broken_field() {
        let fm = Frontmatter::parse(
            "---\nname: x\ndescription: |\n  Use when: asked\n  Second line\ntools:\n  - Read\n  - Grep\nhint: a: b\n---\n",
        );
        assert_eq!(
            value(&fm, "description"),
            json!("Use when: asked\nSecond line\n")
        );
        assert_eq!(value(&fm, "tools"), json!(["Read", "Grep"]));
        assert_eq!(value(&fm, "hint"), json!("a: b"));
        assert_eq!(fm.diagnostics.len(), 1, "{:?}", fm.diagnostics);
        assert_eq!(fm.diagnostics[0].line, Some(9));
    }

    #[test]
    fn broken_list_items_are_recovered_as_text_items() {
        let fm = Frontmatter::parse("---\ntools:\n  - Read\n  - *\nother: *\n---\n");
        assert_eq!(value(&fm, "tools"), json!(["Read", "*"]));
        assert_eq!(value(&fm, "other"), json!("*"));
    }

    #[test]
    fn unindented_continuation_is_joined_with_a_warning() {
        let fm = Frontmatter::parse(
            "---\ndescription: Use this agent when\nthe user asks\nname: a\n---\n",
        );
        assert_eq!(
            value(&fm, "description"),
            json!("Use this agent when the user asks")
        );
        assert_eq!(value(&fm, "name"), json!("a"));
        assert!(fm
            .diagnostics
            .iter()
            .any(|d| d.line == Some(3) && d.message.contains("not indented")));
    }

    #[test]
    fn stray_line_before_any_key_is_an_error_but_fields_survive() {
        let fm = Frontmatter::parse("---\n  - oops\nname: a\n---\n");
        assert_eq!(value(&fm, "name"), json!("a"));
        let errors: Vec<_> = fm
            .diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .collect();
        assert_eq!(errors.len(), 1, "{:?}", fm.diagnostics);
        assert_eq!(errors[0].line, Some(2));
    }

    #[test]
    fn duplicate_keys_keep_the_later_value() {
        let fm = Frontmatter::parse("---\nname: a\nname: b\n---\n");
        assert_eq!(value(&fm, "name"), json!("b"));
        assert!(fm
            .diagnostics
            .iter()
            .any(|d| d.message.contains("duplicate key")));
    }

    #[test]
    fn yaml_error_line_points_into_the_field() {
        let fm = Frontmatter::parse("---\nname: a\nhooks:\n  x: [1, 2\n  y: 3\n---\n");
        let d = fm
            .diagnostics
            .iter()
            .find(|d| d.message.contains("hooks"))
            .cloned()
            .unwrap_or_else(|| panic!("{:?}", fm.diagnostics));
        assert!(d.line.is_some_and(|l| l >= 3), "{d:?}");
        assert_eq!(value(&fm, "name"), json!("a"));
    }

    #[test]
    fn as_text_uses_the_written_form_of_numbers() {
        let fm = Frontmatter::parse("---\nmodel: 1.10\n---\n");
        let field = fm.get("model").cloned().unwrap_or_else(|| panic!("model"));
        assert_eq!(field.as_text("model").0.as_deref(), Some("1.10"));
    }

    #[test]
    fn as_bool_and_as_f64_accept_strings() {
        let fm = Frontmatter::parse("---\na: \"yes\"\nb: \"0.5\"\nc: maybe\n---\n");
        let get = |k: &str| fm.get(k).cloned().unwrap_or_else(|| panic!("{k}"));
        assert_eq!(get("a").as_bool("a"), Ok(Some(true)));
        assert_eq!(get("b").as_f64("b"), Ok(Some(0.5)));
        let err = get("c").as_bool("c").err().map(|d| d.line);
        assert_eq!(err, Some(Some(4)));
    }

    #[test]
    fn quote_for_fix_picks_a_quote_that_round_trips() {
        assert_eq!(quote_for_fix("a: b"), "\"a: b\"");
        assert_eq!(quote_for_fix("say \"hi\""), "'say \"hi\"'");
        assert_eq!(quote_for_fix("a\\nb"), "'a\\nb'");
        let long = "x".repeat(80);
        assert!(quote_for_fix(&long).ends_with("…\""));
    }

    #[test]
    fn unknown_key_fix_suggests_near_misses_only() {
        let known = ["description", "tools", "model"];
        assert_eq!(
            unknown_key_fix("descripton", &known),
            "did you mean `description`?"
        );
        assert_eq!(unknown_key_fix("Tool", &known), "did you mean `tools`?");
        assert_eq!(
            unknown_key_fix("favourite", &known),
            "remove it, or use a known key: description, tools, model"
        );
    }

    #[test]
    fn unescape_newlines_turns_literal_sequences_into_newlines() {
        assert_eq!(unescape_newlines("a\\n\\nb"), "a\n\nb");
    }
}
