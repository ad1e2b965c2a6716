//! Shared test helpers: a fresh PostgreSQL database per test, and running the real binary.

pub mod admin_server;
pub mod browser;
pub mod cli;
pub mod faulty;
pub mod gateway;
pub mod ingest;
pub mod pg;
pub mod s3;

pub use cli::{Export, ndjson_ids};
pub use pg::TestDb;
