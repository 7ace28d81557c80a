//! What the `codex-plus` subcommands do. `main.rs` parses arguments; each file
//! here is one command, callable from tests.

pub mod agents;
pub mod codex_config;
pub mod commands;
pub mod config_cmd;
pub mod doctor;
pub mod goal;
pub mod init;
pub mod remote;
pub mod serve;
pub mod status;
pub mod task;
pub mod tasks;

/// Why a command failed, in words for the terminal.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Ca(#[from] crate::ca::CaError),
    #[error(transparent)]
    ConfigCmd(#[from] config_cmd::ConfigCmdError),
    #[error(transparent)]
    Sync(#[from] commands::SyncError),
    #[error("cannot listen on {addr}: {cause}")]
    Bind { addr: String, cause: String },
    #[error("{0}")]
    Other(String),
}
