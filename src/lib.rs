//! guardrail-followups: keeps the guardrail follow-ups feed in PostgreSQL synchronized with
//! analytics.
//!
//! Data flow: [`export::source`] reads rows in `(created_at, id)` order, [`row`] normalises
//! them, [`export::sink`] delivers them batch by batch, and [`cursor`] records how far the
//! delivered feed reaches.

pub mod admin;
pub mod archive;
pub mod cli;
pub mod commands;
pub mod cursor;
pub mod demo;
pub mod env_vars;
pub mod error;
pub mod export;
pub mod fs;
pub mod gateway;
pub mod json;
pub mod lake_layout;
pub mod location;
pub mod logging;
pub mod outcome;
pub mod pg;
pub mod reconcile;
pub mod redact;
pub mod report;
pub mod row;
pub mod s3;
pub mod server;
pub mod status;
pub mod store;
pub mod time;
pub mod verdict;
pub mod wire;

#[cfg(test)]
mod properties;

/// The multi-threaded async runtime every subcommand runs on.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    use anyhow::Context;
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}
