//! Integration tests: the real binary against a real PostgreSQL (`scripts/test.sh` provides one).

mod helpers;

mod admin;
mod alert_rules;
mod archive;
mod audit;
mod availability;
mod concurrency;
mod config_errors;
mod connect;
mod context;
mod cursor_files;
mod demo;
mod deploy_files;
mod gateway;
mod hostile;
mod incremental;
mod locations;
mod metrics;
mod ops;
mod pipeline;
mod progress;
mod readme;
mod reconcile;
mod release;
mod settle;
mod sinks;
mod status_v2;
mod warehouse;
mod webhook;
