//! The exporter's subcommands as the binary runs them: configuration checked, logging set up,
//! the work done, the outcome reported and turned into an exit code.

mod check;
mod cursor;
mod reconcile;

use std::io::IsTerminal;
use std::process::ExitCode;

use crate::cli::ExportArgs;
use crate::error::Error;
use crate::location::{Location, Place};
use crate::redact::Scrubber;
use crate::report::{self, MetricsTarget, ReportConfig, StatusTarget};
use crate::{demo, export, logging};

pub use check::check;
pub use cursor::cursor;
pub use reconcile::reconcile;

/// `guardrail-followups export`.
pub fn export(args: ExportArgs) -> ExitCode {
    let scrubber = Scrubber::of(&args);
    logging::init(args.output.log_format, args.output.quiet, scrubber.clone());
    let report = match report_config(&args) {
        Ok(report) => report,
        Err(error) => return fail(&error, &scrubber),
    };
    let demo_requested = args.source.demo;
    let mut config = match args.into_config(std::io::stderr().is_terminal()) {
        Ok(config) => config,
        Err(error) => return fail(&error, &scrubber),
    };
    let runtime = match runtime() {
        Ok(runtime) => runtime,
        Err(error) => return fail(&error, &scrubber),
    };
    let result = runtime.block_on(async {
        if demo_requested {
            prepare_demo()?;
        }
        config.interrupt = export::Interrupt::listen();
        let started = std::time::Instant::now();
        let started_at = crate::time::Timestamp::now();
        // The run stops itself on a signal (connecting, reading, sending or auditing). Should
        // it be stuck anywhere else (reading the cursor, finishing the output), it is
        // abandoned a little after the grace period: the lock is a file lock or a lease that
        // expires, and the cursor holds only acknowledged rows.
        let result = tokio::select! {
            result = export::run_once_at(&config, started_at) => result,
            signal = config.interrupt.grace_over(export::GRACE + std::time::Duration::from_secs(5)) => {
                Err(Error::Interrupted {
                    signal,
                    delivered: "the rows acknowledged before it are in the cursor".into(),
                })
            }
        };
        let elapsed = started.elapsed();
        // After a failure the cursor may still have moved over what was delivered: the status
        // says where it stands, not where the previous status left it.
        let cursor_after = match &result {
            Err(_) => stored_cursor(&*config.cursor_store).await,
            Ok(_) => None,
        };
        let reported = report::after_run(
            &report,
            result.as_ref(),
            cursor_after.as_ref(),
            started_at,
            elapsed,
            &scrubber,
        )
        .await;
        let summary = result?;
        summary.log();
        if let Some(error) = summary.archive_error() {
            return Err(error);
        }
        reported.map(|()| summary)
    });
    match result {
        Ok(_) => ExitCode::SUCCESS,
        Err(error) => fail(&error, &scrubber),
    }
}

pub(crate) fn report_config(args: &ExportArgs) -> Result<ReportConfig, Error> {
    let set = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    let status = match set(&args.report.status_path) {
        Some(text) => Some(
            StatusTarget::parse(&text, &args.cursor_store.s3.options())
                .map_err(|e| Error::config(format!("--status-path: {e}")))?,
        ),
        None => None,
    };
    // The archive's latest copy, unless a download URL is configured (a CDN, a signed link).
    let archive = args.archive.config(&args.cursor_store.s3)?;
    let download_url = match set(&args.report.download_url) {
        // A file is named absolutely: the ops page does not share this working directory.
        Some(text) => match Location::parse(&text, Place::READABLE_FILE) {
            Ok(Location::Local(path)) => {
                Some(Location::Local(std::path::absolute(&path).unwrap_or(path)))
            }
            Ok(location) => Some(location),
            Err(e) => return Err(Error::config(format!("--download-url: {e}"))),
        },
        None => archive.map(|a| a.latest_url()),
    };
    let metrics = match set(&args.report.metrics_path) {
        Some(text) => match Location::parse(&text, Place::LOCAL_FILE) {
            Ok(Location::Local(path)) => Some(MetricsTarget {
                path,
                provider_id: set(&args.provider_id),
            }),
            Ok(_) => unreachable!("LOCAL_FILE takes only paths"),
            Err(e) => return Err(Error::config(format!("--metrics-path: {e}"))),
        },
        None => None,
    };
    Ok(ReportConfig {
        status,
        download_url,
        workflow_url: ReportConfig::workflow_url_from_env(set(&args.report.workflow_url))?,
        slack_webhook: args.report.slack_webhook.clone(),
        metrics,
    })
}

pub(crate) fn prepare_demo() -> Result<(), Error> {
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

pub fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    crate::runtime().map_err(|source| Error::Runtime { source })
}

/// Prints the error once, its whole chain on one line, without secrets.
pub fn fail(error: &Error, scrubber: &Scrubber) -> ExitCode {
    tracing::error!("{}", scrubber.scrub(&error.message()));
    ExitCode::from(error.exit_code())
}

/// The cursor as the store holds it now, read without its lock (a run just ended); `None`
/// when the store keeps none or it cannot be read.
async fn stored_cursor(
    store: &dyn crate::store::CursorLocation,
) -> Option<crate::cursor::CursorState> {
    let bytes = store.read().await.ok()??;
    crate::cursor::parse(&bytes).ok()
}
