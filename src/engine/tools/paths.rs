//! The one place that turns a path from the model into a real path inside the
//! workspace roots. Tools and access control both call `resolve_within`, so a
//! path they accept is the same path the tool then touches.

use std::ffi::OsString;
use std::io;
use std::path::{Component, Path, PathBuf};

use super::ToolError;

/// How many symbolic links one path may pass through before we give up (as the kernel does).
const MAX_SYMLINKS: usize = 40;

/// Resolves `raw` (absolute, or relative to `cwd`) to a canonical path and checks
/// that it lies inside one of `roots`.
///
/// Symbolic links are followed and `..` is applied after them, so neither can lead
/// outside. The path itself need not exist (Write creates files); its missing tail
/// is appended to the nearest existing ancestor.
pub fn resolve_within(raw: &str, cwd: &Path, roots: &[PathBuf]) -> Result<PathBuf, ToolError> {
    if raw.trim().is_empty() {
        return Err(ToolError::Failed("the path is empty".into()));
    }
    let requested = cwd.join(raw);
    let resolved = canonicalize_lenient(&requested)
        .map_err(|e| ToolError::Failed(format!("cannot resolve {raw}: {e}")))?;
    if is_within(&resolved, roots) {
        return Ok(resolved);
    }
    let shown = if resolved == requested {
        raw.to_string()
    } else {
        format!("{raw} (resolves to {})", resolved.display())
    };
    Err(ToolError::Denied(format!(
        "{shown} is outside the workspace roots ({}); use a path inside them",
        describe_roots(roots)
    )))
}

/// True when `path` (already canonical) is one of `roots` or below one.
pub fn is_within(path: &Path, roots: &[PathBuf]) -> bool {
    roots.iter().any(|root| {
        let root = std::fs::canonicalize(root).unwrap_or_else(|_| root.clone());
        path.starts_with(&root)
    })
}

/// The roots as a comma-separated list, for messages.
pub fn describe_roots(roots: &[PathBuf]) -> String {
    if roots.is_empty() {
        return "none configured".into();
    }
    roots
        .iter()
        .map(|r| r.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Canonicalises `path` component by component: existing parts have their links
/// resolved, missing parts are appended as written, and `..` pops whatever came before.
///
/// Walking one component at a time matters: `missing/../link` must look `link` up
/// again rather than treat it as text, or a link could smuggle the path outside.
pub fn canonicalize_lenient(path: &Path) -> io::Result<PathBuf> {
    let mut current = PathBuf::new();
    // Components still to process, the next one on top.
    let mut stack: Vec<OsString> = Vec::new();
    push_components(path, &mut current, &mut stack);
    if current.as_os_str().is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the path is not absolute",
        ));
    }

    let mut links_followed = 0usize;
    while let Some(part) = stack.pop() {
        if part == ".." {
            current.pop();
            continue;
        }
        let candidate = current.join(&part);
        match std::fs::symlink_metadata(&candidate) {
            Ok(meta) if meta.file_type().is_symlink() => {
                links_followed += 1;
                if links_followed > MAX_SYMLINKS {
                    return Err(io::Error::other("too many levels of symbolic links"));
                }
                // The link's target replaces the link: absolute targets restart from
                // their root, relative ones continue from the link's directory.
                let target = std::fs::read_link(&candidate)?;
                push_components(&target, &mut current, &mut stack);
            }
            Ok(_) => current = candidate,
            Err(e) if e.kind() == io::ErrorKind::NotFound => current = candidate,
            Err(e) => return Err(e),
        }
    }
    Ok(current)
}

/// Queues `path`'s components on `stack` (first on top). An absolute path restarts
/// `current` at its root, since pushing a root onto a `PathBuf` replaces it.
fn push_components(path: &Path, current: &mut PathBuf, stack: &mut Vec<OsString>) {
    let mut parts = Vec::new();
    for component in path.components() {
        match component {
            Component::Prefix(_) | Component::RootDir => current.push(component.as_os_str()),
            Component::CurDir => {}
            Component::ParentDir | Component::Normal(_) => {
                parts.push(component.as_os_str().to_owned())
            }
        }
    }
    stack.extend(parts.into_iter().rev());
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn setup() -> (tempfile::TempDir, tempfile::TempDir, PathBuf) {
        let ws = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let root = fs::canonicalize(ws.path()).unwrap();
        (ws, outside, root)
    }

    #[test]
    fn relative_paths_resolve_against_cwd() {
        let (_ws, _o, root) = setup();
        fs::write(root.join("a.txt"), "x").unwrap();
        let got = resolve_within("a.txt", &root, std::slice::from_ref(&root)).unwrap();
        assert_eq!(got, root.join("a.txt"));
    }

    #[test]
    fn missing_files_resolve_under_existing_ancestor() {
        let (_ws, _o, root) = setup();
        let got = resolve_within("new/dir/f.txt", &root, std::slice::from_ref(&root)).unwrap();
        assert_eq!(got, root.join("new/dir/f.txt"));
    }

    #[test]
    fn dot_dot_traversal_is_denied() {
        let (_ws, _o, root) = setup();
        let sub = root.join("sub");
        fs::create_dir(&sub).unwrap();
        let err =
            resolve_within("../../etc/passwd", &sub, std::slice::from_ref(&root)).unwrap_err();
        match err {
            ToolError::Denied(msg) => {
                assert!(msg.contains("../../etc/passwd"), "{msg}");
                assert!(msg.contains(&root.display().to_string()), "{msg}");
            }
            other => panic!("expected Denied, got {other:?}"),
        }
        // `..` that stays inside is fine.
        let ok = resolve_within("../x.txt", &sub, std::slice::from_ref(&root)).unwrap();
        assert_eq!(ok, root.join("x.txt"));
    }

    #[test]
    fn absolute_path_outside_is_denied() {
        let (_ws, outside, root) = setup();
        let target = outside.path().join("secret");
        let err = resolve_within(target.to_str().unwrap(), &root, std::slice::from_ref(&root))
            .unwrap_err();
        assert!(matches!(err, ToolError::Denied(_)), "{err:?}");
    }

    #[test]
    fn symlink_escape_is_denied_even_for_missing_targets() {
        let (_ws, outside, root) = setup();
        std::os::unix::fs::symlink(outside.path(), root.join("link")).unwrap();
        for raw in ["link/secret", "link/new/file", "missing/../link/x"] {
            let err = resolve_within(raw, &root, std::slice::from_ref(&root)).unwrap_err();
            match err {
                ToolError::Denied(msg) => assert!(msg.contains("resolves to"), "{raw}: {msg}"),
                other => panic!("{raw}: expected Denied, got {other:?}"),
            }
        }
    }

    #[test]
    fn dangling_symlink_pointing_outside_is_denied() {
        let (_ws, outside, root) = setup();
        let target = outside.path().join("not-yet");
        std::os::unix::fs::symlink(&target, root.join("dangling")).unwrap();
        let err = resolve_within("dangling", &root, std::slice::from_ref(&root)).unwrap_err();
        assert!(matches!(err, ToolError::Denied(_)), "{err:?}");
    }

    #[test]
    fn symlink_inside_the_workspace_is_followed() {
        let (_ws, _o, root) = setup();
        fs::create_dir(root.join("real")).unwrap();
        std::os::unix::fs::symlink("real", root.join("alias")).unwrap();
        let got = resolve_within("alias/f", &root, std::slice::from_ref(&root)).unwrap();
        assert_eq!(got, root.join("real/f"));
    }

    #[test]
    fn symlink_loops_are_an_error_not_a_hang() {
        let (_ws, _o, root) = setup();
        std::os::unix::fs::symlink("b", root.join("a")).unwrap();
        std::os::unix::fs::symlink("a", root.join("b")).unwrap();
        let err = resolve_within("a", &root, std::slice::from_ref(&root)).unwrap_err();
        assert!(err.to_string().contains("symbolic links"), "{err}");
    }

    #[test]
    fn a_second_root_is_accepted() {
        let (_ws, outside, root) = setup();
        let other = fs::canonicalize(outside.path()).unwrap();
        let got = resolve_within(
            other.join("f").to_str().unwrap(),
            &root,
            &[root.clone(), other.clone()],
        )
        .unwrap();
        assert_eq!(got, other.join("f"));
    }
}
