//! `Edit`: exact string replacement in a file, keeping its line endings.

use std::path::Path;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{json, Value};

use super::input::{opt_bool, parse};
use super::output::numbered_line;
use super::{Tool, ToolContext, ToolError};

/// Replaces one exact occurrence of a string (or all of them) in a file.
pub struct Edit;

#[derive(Deserialize)]
struct Input {
    file_path: String,
    old_string: String,
    new_string: String,
    #[serde(default, deserialize_with = "opt_bool")]
    replace_all: Option<bool>,
}

/// Lines of context shown around an edit in the result.
const SNIPPET_CONTEXT: usize = 3;
/// Longest snippet shown, so a huge replacement does not echo back whole.
const SNIPPET_MAX_LINES: usize = 30;

#[async_trait]
impl Tool for Edit {
    fn name(&self) -> &'static str {
        "Edit"
    }

    fn description(&self) -> &'static str {
        "Replace text in a file. old_string must match the file exactly (indentation \
         included; copy it from Read output without the line-number prefix) and must \
         occur once, unless replace_all is true, which replaces every occurrence. Include \
         enough surrounding lines to make it unique. An empty old_string creates a new \
         file containing new_string. CRLF files keep their CRLF line endings."
    }

    fn input_schema(&self) -> Value {
        json!({
            "type": "object",
            "properties": {
                "file_path": {"type": "string", "description": "Absolute path of the file to change"},
                "old_string": {"type": "string", "description": "The exact text to replace"},
                "new_string": {"type": "string", "description": "The text to put in its place (must differ from old_string)"},
                "replace_all": {"type": "boolean", "default": false, "description": "Replace every occurrence instead of exactly one"}
            },
            "required": ["file_path", "old_string", "new_string"],
            "additionalProperties": false
        })
    }

    fn read_only(&self) -> bool {
        false
    }

    async fn call(&self, input: Value, ctx: &ToolContext) -> Result<String, ToolError> {
        let input: Input = parse(self.name(), input)?;
        if input.old_string == input.new_string {
            return Err(ToolError::invalid(
                self.name(),
                "old_string and new_string are identical, so there is nothing to change",
            ));
        }
        let path = ctx.resolve_path(&input.file_path)?;
        let current = match tokio::fs::read(&path).await {
            Ok(bytes) => Some(bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) if path.is_dir() => {
                return Err(ToolError::Failed(format!(
                    "{} is a directory, not a file ({e})",
                    path.display()
                )))
            }
            Err(e) => {
                return Err(ToolError::Failed(format!(
                    "cannot read {}: {e}",
                    path.display()
                )))
            }
        };
        let (updated, summary) = match current {
            None if input.old_string.is_empty() => {
                create_parent(&path).await?;
                (
                    input.new_string.clone(),
                    format!("Created {}.", path.display()),
                )
            }
            None => {
                return Err(ToolError::Failed(format!(
                    "File does not exist: {}. Use Write to create it, or check the path.",
                    path.display()
                )))
            }
            Some(bytes) => {
                let text = String::from_utf8(bytes).map_err(|_| {
                    ToolError::Failed(format!(
                        "{} is not UTF-8 text, so Edit cannot change it",
                        path.display()
                    ))
                })?;
                let replace_all = input.replace_all.unwrap_or(false);
                let edit = apply_edit(&text, &input.old_string, &input.new_string, replace_all)
                    .map_err(|e| ToolError::Failed(e.message(&path)))?;
                let noun = if edit.count == 1 {
                    "occurrence"
                } else {
                    "occurrences"
                };
                let summary = format!(
                    "Edited {}: replaced {} {noun}. Around the first change:\n{}",
                    path.display(),
                    edit.count,
                    snippet(&edit.text, edit.first_at, edit.new_len)
                );
                (edit.text, summary)
            }
        };
        tokio::fs::write(&path, updated.as_bytes())
            .await
            .map_err(|e| ToolError::Failed(format!("cannot write {}: {e}", path.display())))?;
        Ok(summary)
    }
}

async fn create_parent(path: &Path) -> Result<(), ToolError> {
    if let Some(parent) = path.parent() {
        tokio::fs::create_dir_all(parent).await.map_err(|e| {
            ToolError::Failed(format!(
                "cannot create the directory {}: {e}",
                parent.display()
            ))
        })?;
    }
    Ok(())
}

/// The outcome of a successful replacement.
#[derive(Debug, PartialEq, Eq)]
struct Applied {
    text: String,
    count: usize,
    /// Byte offset of the first replacement in `text`.
    first_at: usize,
    /// Byte length of the replacement as inserted.
    new_len: usize,
}

#[derive(Debug, PartialEq, Eq)]
enum EditError {
    EmptyOld,
    NotFound,
    NotUnique(usize),
}

impl EditError {
    fn message(&self, path: &Path) -> String {
        let shown = path.display();
        match self {
            Self::EmptyOld => format!(
                "old_string is empty but {shown} already has content; give the text to \
                 replace, or use Write to replace the whole file"
            ),
            Self::NotFound => format!(
                "old_string was not found in {shown}. It must match exactly, whitespace \
                 and indentation included; Read the file and copy the text again."
            ),
            Self::NotUnique(n) => format!(
                "old_string occurs {n} times in {shown}. Add surrounding lines to make it \
                 unique, or set replace_all to true to replace every occurrence."
            ),
        }
    }
}

/// Replaces `old` with `new` in `content`. When the file uses CRLF and the strings
/// use bare LF (as models write them), the strings are converted to CRLF first, so
/// the file keeps one line-ending style.
fn apply_edit(
    content: &str,
    old: &str,
    new: &str,
    replace_all: bool,
) -> Result<Applied, EditError> {
    if old.is_empty() {
        if content.is_empty() {
            return Ok(Applied {
                text: new.to_string(),
                count: 1,
                first_at: 0,
                new_len: new.len(),
            });
        }
        return Err(EditError::EmptyOld);
    }
    let crlf = content.contains("\r\n");
    let converted =
        (crlf && old.contains('\n') && !old.contains("\r\n")).then(|| (to_crlf(old), to_crlf(new)));
    let (old, new) = match &converted {
        Some((o, n)) if content.contains(o.as_str()) => (o.as_str(), n.clone()),
        _ if crlf => (old, to_crlf(new)),
        _ => (old, new.to_string()),
    };
    let count = content.matches(old).count();
    match count {
        0 => return Err(EditError::NotFound),
        n if n > 1 && !replace_all => return Err(EditError::NotUnique(n)),
        _ => {}
    }
    let first_at = content.find(old).unwrap_or(0);
    let text = if replace_all {
        content.replace(old, &new)
    } else {
        content.replacen(old, &new, 1)
    };
    Ok(Applied {
        text,
        count,
        first_at,
        new_len: new.len(),
    })
}

/// Converts bare LF to CRLF, leaving existing CRLF alone.
fn to_crlf(text: &str) -> String {
    text.replace("\r\n", "\n").replace('\n', "\r\n")
}

/// Numbered lines around `[at, at + len)` in `text`, so the model sees the result.
fn snippet(text: &str, at: usize, len: usize) -> String {
    let first_line = text[..at.min(text.len())].matches('\n').count();
    let end = (at + len).min(text.len());
    let last_line = first_line + text[at.min(end)..end].matches('\n').count();
    let from = first_line.saturating_sub(SNIPPET_CONTEXT);
    let to = (last_line + SNIPPET_CONTEXT).min(from + SNIPPET_MAX_LINES - 1);
    text.lines()
        .enumerate()
        .skip(from)
        .take(to + 1 - from)
        .map(|(i, line)| numbered_line(i + 1, line.strip_suffix('\r').unwrap_or(line)))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_a_unique_occurrence() {
        let got = apply_edit("a\nb\nc\n", "b", "B", false).unwrap();
        assert_eq!(got.text, "a\nB\nc\n");
        assert_eq!((got.count, got.first_at, got.new_len), (1, 2, 1));
    }

    #[test]
    fn refuses_non_unique_unless_replace_all() {
        assert_eq!(
            apply_edit("x y x x", "x", "z", false),
            Err(EditError::NotUnique(3))
        );
        let got = apply_edit("x y x x", "x", "z", true).unwrap();
        assert_eq!((got.text.as_str(), got.count), ("z y z z", 3));
        let msg = EditError::NotUnique(3).message(Path::new("/w/f"));
        assert!(
            msg.contains("3 times") && msg.contains("replace_all"),
            "{msg}"
        );
    }

    #[test]
    fn reports_missing_text_and_empty_old() {
        assert_eq!(
            apply_edit("abc", "zzz", "y", false),
            Err(EditError::NotFound)
        );
        assert_eq!(apply_edit("abc", "", "y", false), Err(EditError::EmptyOld));
        assert_eq!(apply_edit("", "", "new", false).unwrap().text, "new");
    }

    #[test]
    fn keeps_crlf_when_the_model_sends_lf() {
        let content = "fn a() {\r\n    1\r\n}\r\n";
        let got = apply_edit(content, "{\n    1\n}", "{\n    2\n    3\n}", false).unwrap();
        assert_eq!(got.text, "fn a() {\r\n    2\r\n    3\r\n}\r\n");
        // A single-line edit in a CRLF file that adds lines also gets CRLF.
        let got = apply_edit("a\r\nb\r\n", "a", "a\nx", false).unwrap();
        assert_eq!(got.text, "a\r\nx\r\nb\r\n");
        // LF files are left as they are.
        let got = apply_edit("a\nb\n", "a\nb", "c\nd", false).unwrap();
        assert_eq!(got.text, "c\nd\n");
    }

    #[test]
    fn snippet_shows_numbered_lines_around_the_change() {
        let text: String = (1..=20).map(|i| format!("l{i}\r\n")).collect();
        let at = text.find("l10").unwrap();
        let got = snippet(&text, at, 3);
        let lines: Vec<&str> = got.lines().collect();
        assert_eq!(lines.first(), Some(&"     7\tl7"));
        assert_eq!(lines.last(), Some(&"    13\tl13"));
    }
}
