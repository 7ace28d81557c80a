//! Claude Code's file formats as they are found in the wild: agents, slash commands
//! and settings. Parsing is pure and lenient; discovery walks the workspace.

pub mod diagnostic;
pub mod frontmatter;
