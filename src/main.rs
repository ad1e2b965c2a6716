//! Entry point: parse flags, set up logging, run the subcommand, map the outcome to an exit code.

use std::process::ExitCode;

use clap::Parser;
use guardrail_followups::cli::{Cli, Command};
use guardrail_followups::redact::Scrubber;
use guardrail_followups::{admin, commands, env_vars, error, gateway, logging};

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
    // A panic is a bug, never a success: the panic hook has printed where it happened, and the
    // run ends with the runtime-failure code. The cursor only ever holds delivered rows.
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(cli))).unwrap_or_else(|_| {
        eprintln!(
            "error: guardrail-followups stopped on an internal error (the panic above). The cursor \
             holds only what was delivered. Fix: rerun; report the message if it happens again"
        );
        ExitCode::from(guardrail_followups::error::exit::RUNTIME)
    })
}

fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Export(args) => commands::export(args),
        Command::Check(args) => commands::check(args),
        Command::Cursor(command) => commands::cursor(command),
        Command::Reconcile(args) => commands::reconcile(args),
        Command::Gateway(args) => {
            logging::init(args.log_format, false, Scrubber::of(&args));
            error::exit_code(args.into_config().and_then(gateway::run))
        }
        Command::Admin(args) => {
            logging::init(args.log_format, false, Scrubber::of(&args));
            error::exit_code(args.into_config().and_then(admin::run))
        }
    }
}
