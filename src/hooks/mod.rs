//! Running Claude Code hook commands: matcher, subprocess, JSON protocol, timeouts.

pub mod config;
pub mod decision;
pub mod event;
pub mod matcher;
pub mod protocol;
