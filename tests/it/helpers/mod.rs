//! Shared test helpers: a fresh PostgreSQL database per test, and running the real binary.

pub mod admin_server;
pub mod attack;
pub mod browser;
pub mod cli;
pub mod faulty;
pub mod gateway;
pub mod ingest;
pub mod pg;
pub mod s3;
pub mod server;

use std::ffi::OsStr;

pub use cli::{Export, ndjson_ids};
pub use pg::TestDb;

/// The process umask (Linux), which output files honour; children inherit it.
pub fn umask() -> u32 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("Umask:")).unwrap();
    u32::from_str_radix(line.split_whitespace().nth(1).unwrap(), 8).unwrap()
}

/// Whether a child of the binary must not inherit the variable `name` from the developer's
/// environment: every variable the program reads (`GUARDRAIL_*`, `DATABASE_URL`, the
/// webhook's `ANALYTICS_GUARDRAIL_WEBHOOK`…), libpq's `PG*` fallbacks, `RUST_LOG` (log levels
/// the tests read) and GitHub Actions' run variables (they fill the status' workflow link).
/// `AWS_*` stays: `scripts/with-s3.sh` sets the test S3 server's credentials and region there.
/// `TEST_*` stays too (the binary never reads it).
pub fn is_foreign(name: &str) -> bool {
    if name.starts_with("AWS_") || name.starts_with("TEST_") {
        return false;
    }
    guardrail_followups::env_vars::is_ours(name)
        || name == "DATABASE_URL"
        || name.starts_with("GUARDRAIL_")
        || name.starts_with("ANALYTICS_GUARDRAIL")
        || name.starts_with("PG")
        || name == "RUST_LOG"
        || name == "GITHUB_ACTIONS"
}

/// A command whose environment can be pruned: `std::process::Command` and
/// `tokio::process::Command`.
pub trait RemoveEnv {
    fn remove_env(&mut self, name: &OsStr);
}

impl RemoveEnv for std::process::Command {
    fn remove_env(&mut self, name: &OsStr) {
        self.env_remove(name);
    }
}

impl RemoveEnv for tokio::process::Command {
    fn remove_env(&mut self, name: &OsStr) {
        self.env_remove(name);
    }
}

/// Removes from `command` every variable of this process' environment that [`is_foreign`]
/// names, so that a developer's own settings cannot leak into a run of the binary. Every spawn
/// of the binary (directly or through a shell) goes through here; set what a test needs after.
pub fn sanitise_env<C: RemoveEnv>(command: &mut C) -> &mut C {
    for (name, _) in std::env::vars_os() {
        if name.to_str().is_some_and(is_foreign) {
            command.remove_env(&name);
        }
    }
    command
}

/// The seed of a test's random draws, `TEST_SEED=N` when displayed. When the test panics, it
/// says so once more on the way out, whichever assertion failed.
pub struct Seed(pub u64);

impl std::fmt::Display for Seed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TEST_SEED={}", self.0)
    }
}

impl Drop for Seed {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("replay this test's random draws with {self}");
        }
    }
}

/// A random generator for a test that draws random timings, seeded from `TEST_SEED` when set
/// and at random otherwise. The seed is printed at the start, and failure messages carry it,
/// so `TEST_SEED=N cargo test --test it NAME` replays the same draws.
pub fn seeded_rng(test: &str) -> (rand_chacha::ChaCha8Rng, Seed) {
    use rand::SeedableRng;
    let seed = match std::env::var("TEST_SEED") {
        Ok(text) => text
            .trim()
            .parse()
            .unwrap_or_else(|e| panic!("TEST_SEED `{text}` is not a u64: {e}")),
        Err(_) => rand::random(),
    };
    let seed = Seed(seed);
    eprintln!("{test}: {seed}");
    (rand_chacha::ChaCha8Rng::seed_from_u64(seed.0), seed)
}
