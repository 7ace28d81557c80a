//! The proxy's own endpoints. They live beside the relay and never shadow an
//! upstream path (upstream paths start with /v1/ or /backend-api/).

pub mod agents;
pub mod goals;
pub mod health;
pub mod metrics;
pub mod tasks;
