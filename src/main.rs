//! Entry point: parse flags, set up logging, run the subcommand, map the outcome to an exit code.

use std::process::ExitCode;

use clap::Parser;
use guardrail_followups::cli::{Cli, Command};
use guardrail_followups::{admin, commands, env_vars, gateway, logging, server};

fn main() -> ExitCode {
    // Schedulers and env files often say "not set" with an empty value; clap would read "" as a
    // value (an empty --limit, an empty --sink). Empty variables of ours count as unset.
    for (key, value) in std::env::vars_os() {
        if value.is_empty() && key.to_str().is_some_and(env_vars::is_ours) {
            // SAFETY: nothing else runs yet: no thread can read the environment concurrently.
            unsafe { std::env::remove_var(&key) };
        }
    }
    let cli = Cli::parse();
    // TLS (PostgreSQL, webhook, S3) uses ring; install it once for every client in the process.
    let _ = rustls::crypto::ring::default_provider().install_default();
    match cli.command {
        Command::Export(args) => commands::export(args),
        Command::Check(args) => commands::check(args),
        Command::Cursor(command) => commands::cursor(command),
        Command::Gateway(args) => {
            logging::init(args.log_format, false);
            server::exit_code(gateway::run(args))
        }
        Command::Admin(args) => {
            logging::init(args.log_format, false);
            server::exit_code(admin::run(args))
        }
    }
}
