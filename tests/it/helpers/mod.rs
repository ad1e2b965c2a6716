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

/// The process umask (Linux), which output files honour; children inherit it.
pub fn umask() -> u32 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("Umask:")).unwrap();
    u32::from_str_radix(line.split_whitespace().nth(1).unwrap(), 8).unwrap()
}
