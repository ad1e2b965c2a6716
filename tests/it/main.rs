//! Integration tests: the real binary against a real PostgreSQL (`scripts/test.sh` provides one).

mod helpers;

mod config_errors;
mod context;
mod cursor_files;
mod demo;
mod incremental;
mod settle;
mod sinks;
mod webhook;
