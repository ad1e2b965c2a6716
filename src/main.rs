//! Entry point: parse flags, set up logging, run the subcommand, map the outcome to an exit code.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use guardrail_followups::cli::{Cli, Command};
use guardrail_followups::error::ExportError;
use guardrail_followups::{demo, export, logging};

fn main() -> ExitCode {
    let cli = Cli::parse();
    // TLS (PostgreSQL, webhook, S3) uses ring; install it once for every client in the process.
    let _ = rustls::crypto::ring::default_provider().install_default();
    match cli.command {
        Command::Export(args) => {
            logging::init(args.log_format, args.quiet);
            let demo_requested = args.demo;
            let result = args
                .into_config(std::io::stderr().is_terminal())
                .and_then(|config| {
                    if demo_requested {
                        prepare_demo()?;
                    }
                    runtime()?.block_on(export::run_once(&config))
                });
            match result {
                Ok(summary) => {
                    logging::summary(&summary);
                    ExitCode::SUCCESS
                }
                Err(error) => fail(&error),
            }
        }
    }
}

fn prepare_demo() -> Result<(), ExportError> {
    let path = std::path::Path::new(demo::DEMO_PATH);
    if demo::ensure(path)? {
        tracing::info!(
            "created the demo database {} ({} follow-ups)",
            path.display(),
            demo::DEMO_ROWS
        );
    }
    Ok(())
}

fn runtime() -> Result<tokio::runtime::Runtime, ExportError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| ExportError::Runtime {
            source: anyhow::Error::new(e).context("starting the async runtime"),
        })
}

fn fail(error: &ExportError) -> ExitCode {
    match error {
        ExportError::Runtime { source } => tracing::error!("{source:#}"),
        other => tracing::error!("{other}"),
    }
    error.exit_code()
}
