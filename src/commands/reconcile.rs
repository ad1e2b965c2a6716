//! `guardrail-followups reconcile`: the comparison run, its report on stdout, what it leaves
//! for Slack and the metrics textfile, and the exit code: 0 when every day matches, 4
//! ([`exit::DIFFERENCES`]) when some day differs or the lake holds damaged entries, 1 when it
//! could not run, 2 for a configuration error (then nothing is written or sent).

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Instant, SystemTime};

use crate::cli::ReconcileArgs;
use crate::error::{Error, exit};
use crate::location::{Location, Place};
use crate::report::reconcile::ReconcileRun;
use crate::{logging, reconcile};

pub fn reconcile(args: ReconcileArgs) -> ExitCode {
    let scrubber = crate::redact::Scrubber::of(&args);
    logging::init(args.output.log_format, args.output.quiet, scrubber.clone());
    let json = args.json;
    let demo = args.source.demo;
    let slack = args.slack_webhook.clone();
    let metrics = match metrics_path(args.metrics_path.as_deref()) {
        Ok(metrics) => metrics,
        Err(error) => return super::fail(&error, &scrubber),
    };
    let config = match args.into_config(std::io::stderr().is_terminal()) {
        Ok(config) => config,
        Err(error) => return super::fail(&error, &scrubber),
    };
    let runtime = match super::runtime() {
        Ok(runtime) => runtime,
        Err(error) => return super::fail(&error, &scrubber),
    };
    let started = Instant::now();
    let result = runtime.block_on(async {
        if demo {
            super::prepare_demo()?;
        }
        reconcile::run(&config).await
    });
    // What the run leaves behind, unless its configuration was wrong (exit 2 writes nothing).
    let problem = result
        .as_ref()
        .err()
        .filter(|e| e.exit_code() != exit::CONFIG)
        .map(|e| scrubber.scrub(&e.to_string()));
    if result.is_ok() || problem.is_some() {
        let run = ReconcileRun {
            outcome: match (&result, &problem) {
                (Ok(outcome), _) => Ok(outcome),
                (Err(_), Some(problem)) => Err(problem.as_str()),
                (Err(_), None) => unreachable!("a configuration error reports nothing"),
            },
            finished: SystemTime::now(),
            duration: started.elapsed(),
        };
        if let Some(path) = &metrics
            && let Err(e) = run.write(path)
        {
            tracing::warn!("the reconcile metrics were not written: {e:#}");
        }
        if let (Some(webhook), Some(text)) = (&slack, run.slack()) {
            runtime.block_on(crate::report::slack::send(webhook, &text));
        }
    }
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

/// `--metrics-path`: a local file.
fn metrics_path(text: Option<&str>) -> Result<Option<PathBuf>, Error> {
    let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    match Location::parse(text, Place::LOCAL_FILE) {
        Ok(Location::Local(path)) => Ok(Some(path)),
        Ok(_) => unreachable!("LOCAL_FILE takes only paths"),
        Err(e) => Err(Error::config(format!("--metrics-path: {e}"))),
    }
}
