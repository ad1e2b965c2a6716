//! Shared test helpers: a fresh PostgreSQL database per test, and running the real binary.

pub mod cli;
pub mod faulty;
pub mod pg;

pub use cli::{Export, ndjson_ids};
pub use pg::TestDb;
