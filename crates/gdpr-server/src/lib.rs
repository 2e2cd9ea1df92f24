//! The `gdpr` binary's library half: configuration, the composition root that wires adapters
//! into ports, the HTTP server and the background worker, and the operator commands.
//!
//! This is the only crate that knows every other one. It holds no business rule: those live in
//! the domain crates and `gdpr-app`.

pub mod adapters;
pub mod config;
pub mod logging;
mod metrics;
pub mod operator;
mod serve;

pub use serve::{
    Deployment, Running, StartError, admin_token, application, application_tuned, application_with,
    backup_storage, master_key, open_store, reporter, serve, start, start_with,
};
