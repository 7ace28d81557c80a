//! Claude Code's file formats as they are found in the wild: agents, slash commands
//! and settings. Parsing is pure and lenient (a broken field costs a diagnostic, not
//! the file); discovery walks the workspace Codex reports and its ancestors, plus the
//! user's directories; `catalog` caches the result per workspace and reloads it when
//! the files change.
//!
//! On the request path: `ClaudeCatalogs::new(Roots::from_env())` once, then
//! `catalogs.agents.get(cwd)`, `catalogs.commands.get(cwd)`, `catalogs.settings.get(cwd)`.

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
pub mod validate;

pub use agent_set::{agents_list, AgentSet};
pub use agents::{AgentDef, AgentFileError};
pub use catalog::{Catalog, ClaudeCatalogs, Loadable};
pub use command_expand::{expand_arguments, parse_invocation, Expansion};
pub use command_render::{render, Rendered};
pub use commands::{commands_list, CommandDef, CommandSet, RunAs};
pub use diagnostic::{Diagnostic, Severity};
pub use discovery::{Roots, Source};
pub use frontmatter::Frontmatter;
pub use settings::{
    CodexPlusSettings, HooksSource, PermissionRule, Permissions, Settings, StatusLineSetting,
};
pub use tools_spec::{ToolEntry, ToolSpec, IMPLEMENTED_TOOLS};
pub use validate::{validate, ValidationReport};
