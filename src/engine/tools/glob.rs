//! `Glob`: find files by name pattern, newest first, honouring .gitignore.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use async_trait::async_trait;
use globset::GlobBuilder;
use serde::Deserialize;
use serde_json::{json, Value};

use super::input::parse;
use super::{Tool, ToolContext, ToolError};

/// Lists files whose path matches a glob pattern.
pub struct Glob;

#[derive(Deserialize)]
struct Input {
    pattern: String,
    #[serde(default)]
    path: Option<String>,
}

#[async_trait]
impl Tool for Glob {
    fn name(&self) -> &'static str {
        "Glob"
    }

    fn description(&self) -> &'static str {
        "Find files by glob pattern, e.g. \"**/*.rs\" or \"src/**/*.{ts,tsx}\". The \
         pattern is matched against paths relative to `path` (default: the working \
         directory); `*` stays within one directory, `**` crosses directories. Files \
         ignored by .gitignore are skipped. Returns absolute paths, most recently \
         modified first, at most 100."
    }

    fn input_schema(&self) -> Value {
        json!({
            "type": "object",
            "properties": {
                "pattern": {"type": "string", "description": "Glob pattern to match file paths against"},
                "path": {"type": "string", "description": "Directory to search in (default: the working directory)"}
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
        let base = match input.path.as_deref().filter(|p| !p.trim().is_empty()) {
            Some(p) => ctx.resolve_path(p)?,
            None => ctx.resolve_path(".")?,
        };
        if !base.is_dir() {
            return Err(ToolError::Failed(format!(
                "{} is not a directory; give Glob a directory to search in",
                base.display()
            )));
        }
        let cap = ctx.limits.glob_max_results;
        let access = ctx.access.clone();
        let pattern = input.pattern.clone();
        let found = tokio::task::spawn_blocking(move || {
            find(&base, &pattern, |p| access.may_read(p)).map(|files| (base, files))
        })
        .await
        .map_err(|e| ToolError::Failed(format!("Glob stopped unexpectedly: {e}")))?;
        let (base, files) = found?;
        Ok(render(&files, cap, &input.pattern, &base))
    }
}

/// Files under `base` matching `pattern` that `allowed` accepts, newest first.
fn find(
    base: &Path,
    pattern: &str,
    allowed: impl Fn(&Path) -> bool,
) -> Result<Vec<PathBuf>, ToolError> {
    // An absolute pattern under `base` is made relative, so both spellings work.
    let relative = Path::new(pattern)
        .strip_prefix(base)
        .ok()
        .map(|p| p.to_string_lossy().into_owned());
    let absolute = relative.is_none() && Path::new(pattern).is_absolute();
    let glob_text = relative.as_deref().unwrap_or(pattern);
    let matcher = GlobBuilder::new(glob_text)
        .literal_separator(true)
        .build()
        .map_err(|e| ToolError::invalid("Glob", format!("bad pattern {pattern:?}: {e}")))?
        .compile_matcher();

    let mut hits: Vec<(SystemTime, PathBuf)> = Vec::new();
    for entry in super::walk::workspace_walker(base).build().flatten() {
        if !entry.file_type().is_some_and(|t| t.is_file()) {
            continue;
        }
        let path = entry.path();
        let subject = if absolute {
            path
        } else {
            match path.strip_prefix(base) {
                Ok(rel) => rel,
                Err(_) => continue,
            }
        };
        if !matcher.is_match(subject) || !allowed(path) {
            continue;
        }
        let modified = entry
            .metadata()
            .ok()
            .and_then(|m| m.modified().ok())
            .unwrap_or(SystemTime::UNIX_EPOCH);
        hits.push((modified, path.to_path_buf()));
    }
    hits.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    Ok(hits.into_iter().map(|(_, p)| p).collect())
}

fn render(files: &[PathBuf], cap: usize, pattern: &str, base: &Path) -> String {
    if files.is_empty() {
        return format!("No files found matching {pattern:?} in {}", base.display());
    }
    let mut out = files
        .iter()
        .take(cap)
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join("\n");
    if files.len() > cap {
        out.push_str(&format!(
            "\n(Showing the {cap} most recently modified of {} matches. Use a narrower \
             pattern or path to see the rest.)",
            files.len()
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::time::Duration;

    fn touch(path: &Path, age_secs: u64) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, "x").unwrap();
        let when = SystemTime::now() - Duration::from_secs(age_secs);
        fs::File::options()
            .write(true)
            .open(path)
            .unwrap()
            .set_modified(when)
            .unwrap();
    }

    #[test]
    fn newest_first_and_star_stays_in_one_directory() {
        let dir = tempfile::tempdir().unwrap();
        let base = fs::canonicalize(dir.path()).unwrap();
        touch(&base.join("old.rs"), 300);
        touch(&base.join("new.rs"), 10);
        touch(&base.join("src/mid.rs"), 100);
        touch(&base.join("notes.md"), 1);
        let all = find(&base, "**/*.rs", |_| true).unwrap();
        assert_eq!(
            all,
            vec![
                base.join("new.rs"),
                base.join("src/mid.rs"),
                base.join("old.rs")
            ]
        );
        let top = find(&base, "*.rs", |_| true).unwrap();
        assert_eq!(top, vec![base.join("new.rs"), base.join("old.rs")]);
        let abs = format!("{}/src/*.rs", base.display());
        assert_eq!(
            find(&base, &abs, |_| true).unwrap(),
            vec![base.join("src/mid.rs")]
        );
    }

    #[test]
    fn gitignored_files_and_the_git_dir_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let base = fs::canonicalize(dir.path()).unwrap();
        fs::write(base.join(".gitignore"), "target/\n*.log\n").unwrap();
        touch(&base.join("target/out.rs"), 1);
        touch(&base.join("keep.rs"), 1);
        touch(&base.join("x.log"), 1);
        touch(&base.join(".git/config.rs"), 1);
        touch(&base.join(".hidden/h.rs"), 1);
        let got = find(&base, "**/*", |_| true).unwrap();
        let names: Vec<String> = got
            .iter()
            .map(|p| p.strip_prefix(&base).unwrap().display().to_string())
            .collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(sorted, vec![".gitignore", ".hidden/h.rs", "keep.rs"]);
    }

    #[test]
    fn the_filter_hides_files_and_the_cap_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let base = fs::canonicalize(dir.path()).unwrap();
        for i in 0..5 {
            touch(&base.join(format!("f{i}.txt")), 10 * i);
        }
        let got = find(&base, "*.txt", |p| !p.ends_with("f0.txt")).unwrap();
        assert_eq!(got.len(), 4);
        assert_eq!(got[0], base.join("f1.txt"));
        let out = render(&got, 2, "*.txt", &base);
        assert_eq!(out.lines().count(), 3, "{out}");
        assert!(
            out.contains("Showing the 2 most recently modified of 4"),
            "{out}"
        );
        assert!(render(&[], 2, "*.x", &base).starts_with("No files found"));
        assert!(find(&base, "a[", |_| true).is_err());
    }
}
