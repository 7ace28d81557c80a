//! The directory walk Glob and Grep share, so both skip the same files.

use std::path::Path;

use ignore::WalkBuilder;

/// A walker over `base` that honours .gitignore/.ignore files (also outside git
/// repositories, as a model expects from a project's .gitignore), includes hidden
/// files, never enters `.git`, does not follow links, and yields entries in name order.
pub fn workspace_walker(base: &Path) -> WalkBuilder {
    let mut builder = WalkBuilder::new(base);
    builder
        .hidden(false)
        .git_ignore(true)
        .git_exclude(true)
        .git_global(true)
        .ignore(true)
        .parents(true)
        .require_git(false)
        .follow_links(false)
        .sort_by_file_name(|a, b| a.cmp(b))
        .filter_entry(|entry| entry.file_name() != ".git");
    builder
}
