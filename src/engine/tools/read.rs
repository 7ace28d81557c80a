//! `Read`: a text file as numbered lines, a window at a time.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{json, Value};

use super::input::{opt_u64, parse};
use super::output::{numbered_line, prefix_at_boundary};
use super::{Tool, ToolContext, ToolError, ToolLimits};

/// Reads a text file and returns it `cat -n` style.
pub struct Read;

#[derive(Deserialize)]
struct Input {
    file_path: String,
    #[serde(default, deserialize_with = "opt_u64")]
    offset: Option<u64>,
    #[serde(default, deserialize_with = "opt_u64")]
    limit: Option<u64>,
}

#[async_trait]
impl Tool for Read {
    fn name(&self) -> &'static str {
        "Read"
    }

    fn description(&self) -> &'static str {
        "Read a text file from the workspace. Returns its lines numbered like `cat -n` \
         (number, tab, text). file_path should be absolute. By default up to 2000 lines \
         from the start are returned; for long files pass offset (1-based line to start \
         at) and limit (number of lines). Lines over 2000 characters are cut. Binary \
         files are refused. To list a directory use Glob or Bash instead."
    }

    fn input_schema(&self) -> Value {
        json!({
            "type": "object",
            "properties": {
                "file_path": {"type": "string", "description": "Absolute path of the file to read"},
                "offset": {"type": "integer", "minimum": 1, "description": "1-based line number to start reading at"},
                "limit": {"type": "integer", "minimum": 1, "description": "Number of lines to read"}
            },
            "required": ["file_path"],
            "additionalProperties": false
        })
    }

    fn read_only(&self) -> bool {
        true
    }

    async fn call(&self, input: Value, ctx: &ToolContext) -> Result<String, ToolError> {
        let input: Input = parse(self.name(), input)?;
        let path = ctx.resolve_path(&input.file_path)?;
        let limits = ctx.limits.clone();
        tokio::task::spawn_blocking(move || {
            read_numbered(&path, input.offset, input.limit, &limits)
        })
        .await
        .map_err(|e| ToolError::Failed(format!("Read stopped unexpectedly: {e}")))?
    }
}

/// Bytes inspected for NUL to decide a file is binary, as git and grep do.
const SNIFF_BYTES: usize = 8192;

fn read_numbered(
    path: &Path,
    offset: Option<u64>,
    limit: Option<u64>,
    limits: &ToolLimits,
) -> Result<String, ToolError> {
    let shown = path.display();
    let meta = std::fs::metadata(path).map_err(|e| missing_or_failed(path, e))?;
    if meta.is_dir() {
        return Err(ToolError::Failed(format!(
            "{shown} is a directory, not a file. List it with Glob (pattern \"*\", path \
             {shown}) or Bash `ls`."
        )));
    }
    if meta.len() > limits.read_max_bytes && offset.is_none() && limit.is_none() {
        return Err(ToolError::Failed(format!(
            "{shown} is {} bytes, more than the {} bytes Read returns at once. Read it in \
             parts with offset and limit (e.g. offset 1, limit 500), or search it with Grep.",
            meta.len(),
            limits.read_max_bytes
        )));
    }
    if meta.len() == 0 {
        return Ok(format!("(The file {shown} exists but is empty.)"));
    }

    let file = File::open(path).map_err(|e| missing_or_failed(path, e))?;
    let mut reader = BufReader::with_capacity(64 * 1024, file);
    let head = reader.fill_buf().map_err(|e| io_failed(path, e))?;
    if memchr::memchr(0, &head[..head.len().min(SNIFF_BYTES)]).is_some() {
        return Err(binary(path));
    }

    let start = offset.unwrap_or(1).max(1) as usize;
    let wanted = match limit {
        Some(n) if n > 0 => n as usize,
        _ => limits.read_default_lines,
    };
    let mut out = String::new();
    let mut line = Vec::new();
    let mut number = 0usize;
    let mut shown_lines = 0usize;
    let mut stop: Option<Stop> = None;
    loop {
        line.clear();
        let n = reader
            .read_until(b'\n', &mut line)
            .map_err(|e| io_failed(path, e))?;
        if n == 0 {
            break;
        }
        number += 1;
        if number < start {
            continue;
        }
        if shown_lines == wanted {
            stop = Some(Stop::Limit);
            break;
        }
        let text = std::str::from_utf8(trim_eol(&line)).map_err(|_| binary(path))?;
        let rendered = numbered_line(number, &cut_line(text, limits.read_max_line_chars));
        if !out.is_empty() && out.len() + rendered.len() + 1 > limits.read_max_output {
            stop = Some(Stop::OutputCap);
            break;
        }
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(&rendered);
        shown_lines += 1;
    }

    if shown_lines == 0 {
        return Ok(format!(
            "(The file {shown} has {number} lines, fewer than the offset {start}; nothing to show.)"
        ));
    }
    let last = start + shown_lines - 1;
    match stop {
        Some(Stop::Limit) => out.push_str(&format!(
            "\n\n(Showing lines {start}-{last}; the file continues. Read on with offset {}.)",
            last + 1
        )),
        Some(Stop::OutputCap) => out.push_str(&format!(
            "\n\n(Stopped after line {last} to keep this result under {} bytes. Read on with \
             offset {} and a smaller limit.)",
            limits.read_max_output,
            last + 1
        )),
        None => {}
    }
    Ok(out)
}

enum Stop {
    Limit,
    OutputCap,
}

fn trim_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Cuts a line to `max` characters, saying so.
fn cut_line(text: &str, max: usize) -> std::borrow::Cow<'_, str> {
    match text.char_indices().nth(max) {
        None => text.into(),
        Some((end, _)) => {
            let kept = prefix_at_boundary(text, end);
            format!("{kept}… [line cut at {max} characters]").into()
        }
    }
}

fn binary(path: &Path) -> ToolError {
    ToolError::Failed(format!(
        "{} looks like a binary file (it has NUL bytes or is not UTF-8 text), so Read will \
         not show it. Inspect it with Bash if needed (e.g. `file`, `xxd | head`).",
        path.display()
    ))
}

fn missing_or_failed(path: &Path, e: std::io::Error) -> ToolError {
    if e.kind() == std::io::ErrorKind::NotFound {
        ToolError::Failed(format!(
            "File does not exist: {}. Check the path, or find the file with Glob.",
            path.display()
        ))
    } else {
        io_failed(path, e)
    }
}

fn io_failed(path: &Path, e: std::io::Error) -> ToolError {
    ToolError::Failed(format!("cannot read {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn limits() -> ToolLimits {
        ToolLimits::default()
    }

    fn read(path: &Path, offset: Option<u64>, limit: Option<u64>) -> Result<String, ToolError> {
        read_numbered(path, offset, limit, &limits())
    }

    #[test]
    fn numbers_lines_and_strips_crlf() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("a.txt");
        fs::write(&f, "one\r\ntwo\n\tthree").unwrap();
        assert_eq!(
            read(&f, None, None).unwrap(),
            "     1\tone\n     2\ttwo\n     3\t\tthree"
        );
    }

    #[test]
    fn offset_and_limit_select_a_window_and_say_what_follows() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("a.txt");
        let body: String = (1..=10).map(|i| format!("line {i}\n")).collect();
        fs::write(&f, body).unwrap();
        let out = read(&f, Some(3), Some(2)).unwrap();
        assert!(
            out.starts_with("     3\tline 3\n     4\tline 4\n\n"),
            "{out}"
        );
        assert!(out.contains("Read on with offset 5"), "{out}");
        // Reaching the end exactly adds no note.
        assert_eq!(read(&f, Some(10), Some(5)).unwrap(), "    10\tline 10");
        let past = read(&f, Some(50), None).unwrap();
        assert!(
            past.contains("has 10 lines") && past.contains("offset 50"),
            "{past}"
        );
    }

    #[test]
    fn default_limit_comes_from_tool_limits() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("a.txt");
        fs::write(&f, "a\nb\nc\n").unwrap();
        let limits = ToolLimits {
            read_default_lines: 2,
            ..ToolLimits::default()
        };
        let out = read_numbered(&f, None, None, &limits).unwrap();
        assert!(out.starts_with("     1\ta\n     2\tb\n\n("), "{out}");
    }

    #[test]
    fn long_lines_are_cut() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("a.txt");
        fs::write(&f, "é".repeat(2500)).unwrap();
        let out = read(&f, None, None).unwrap();
        assert_eq!(out.matches('é').count(), 2000);
        assert!(out.ends_with("[line cut at 2000 characters]"), "{out}");
    }

    #[test]
    fn binary_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let nul = dir.path().join("nul.bin");
        fs::write(&nul, b"abc\0def").unwrap();
        let latin1 = dir.path().join("latin1.txt");
        fs::write(&latin1, b"caf\xe9\n").unwrap();
        for f in [nul, latin1] {
            let err = read(&f, None, None).unwrap_err().to_string();
            assert!(err.contains("binary file"), "{err}");
        }
    }

    #[test]
    fn huge_files_need_offset_or_limit() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("big.txt");
        fs::write(&f, "x\n".repeat(100)).unwrap();
        let limits = ToolLimits {
            read_max_bytes: 50,
            ..ToolLimits::default()
        };
        let err = read_numbered(&f, None, None, &limits)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("200 bytes") && err.contains("offset and limit"),
            "{err}"
        );
        let part = read_numbered(&f, Some(99), Some(5), &limits).unwrap();
        assert_eq!(part, "    99\tx\n   100\tx");
    }

    #[test]
    fn output_cap_stops_early_with_a_note() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("a.txt");
        fs::write(&f, "0123456789\n".repeat(50)).unwrap();
        let limits = ToolLimits {
            read_max_output: 60,
            ..ToolLimits::default()
        };
        let out = read_numbered(&f, None, None, &limits).unwrap();
        assert!(
            out.contains("Stopped after line 3") && out.contains("offset 4"),
            "{out}"
        );
    }

    #[test]
    fn missing_empty_and_directory_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let missing = read(&dir.path().join("nope"), None, None).unwrap_err();
        assert!(
            missing.to_string().starts_with("File does not exist:"),
            "{missing}"
        );
        let empty = dir.path().join("empty");
        fs::write(&empty, "").unwrap();
        assert!(read(&empty, None, None)
            .unwrap()
            .contains("exists but is empty"));
        let err = read(dir.path(), None, None).unwrap_err().to_string();
        assert!(err.contains("is a directory"), "{err}");
    }
}
