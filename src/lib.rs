//! codex-plus: a local proxy for the OpenAI Codex CLI.
//!
//! The modules follow the path a request takes (see DESIGN.md): `server` accepts it,
//! `proxy` routes and relays it, `middleware` adapts a `/responses` turn, `wire` knows
//! the Responses API bytes, and the interceptor in `proxy` hands Task calls to `engine`,
//! which runs subagents against `providers` and records them in `store`.

pub mod api;
pub mod ca;
pub mod claude;
pub mod config;
pub mod engine;
pub mod error;
pub mod hooks;
pub mod middleware;
pub mod providers;
pub mod proxy;
pub mod server;
pub mod state;
pub mod store;
pub mod wire;
