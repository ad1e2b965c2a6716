//! `guardrail-followups reconcile`: the comparison run, its report on stdout, and the exit
//! code: 0 when every day matches, 4 ([`exit::DIFFERENCES`]) when some day differs or the lake
//! holds damaged entries, 1 when it could not run, 2 for a configuration error.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use crate::cli::ReconcileArgs;
use crate::error::{Error, exit};
use crate::{logging, reconcile};

pub fn reconcile(args: ReconcileArgs) -> ExitCode {
    let scrubber = crate::redact::Scrubber::of(&args);
    logging::init(args.output.log_format, args.output.quiet, scrubber.clone());
    let json = args.json;
    let demo = args.source.demo;
    let config = match args.into_config(std::io::stderr().is_terminal()) {
        Ok(config) => config,
        Err(error) => return super::fail(&error, &scrubber),
    };
    let runtime = match super::runtime() {
        Ok(runtime) => runtime,
        Err(error) => return super::fail(&error, &scrubber),
    };
    let result = runtime.block_on(async {
        if demo {
            super::prepare_demo()?;
        }
        reconcile::run(&config).await
    });
    let outcome = match result {
        Ok(outcome) => outcome,
        Err(error) => return super::fail(&error, &scrubber),
    };
    let report = if json {
        format!("{}\n", reconcile::report::json(&outcome))
    } else {
        reconcile::report::text(&outcome)
    };
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout
        .write_all(report.as_bytes())
        .and_then(|()| stdout.flush())
        && e.kind() != std::io::ErrorKind::BrokenPipe
    {
        let error = Error::from(anyhow::Error::new(e).context("writing the report to stdout"));
        return super::fail(&error, &scrubber);
    }
    if outcome.matches() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(exit::DIFFERENCES)
    }
}
