//! Claude Code's file formats as they are found in the wild: agents, slash commands
//! and settings. Parsing is pure and lenient; discovery walks the workspace.

pub mod agent_set;
pub mod agents;
pub mod builtin_agents;
pub mod catalog;
pub mod command_expand;
pub mod command_render;
pub mod commands;
pub mod diagnostic;
pub mod discovery;
pub mod frontmatter;
pub mod settings;
pub mod tools_spec;
