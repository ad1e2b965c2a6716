//! What a run tells the outside world after it ends: the status JSON for the admin page, the
//! Prometheus textfile and a Slack message. None can change what was delivered; metrics and
//! Slack trouble are only warnings.

mod metrics;
pub mod reconcile;
pub mod slack;
mod status;

use std::time::{Duration, SystemTime};

use secrecy::SecretString;

use crate::error::Error;
use crate::export::Summary;
pub use crate::outcome::Outcome;
use crate::redact::Scrubber;
use crate::status::HttpUrl;
use crate::time::Timestamp;
pub use metrics::{MetricsTarget, RunMetrics};
pub use status::{RunFacts, StatusTarget, publish, read_previous, status_of};

/// Reporting, as configured.
#[derive(Debug, Clone, Default)]
pub struct ReportConfig {
    pub status: Option<StatusTarget>,
    pub download_url: Option<crate::location::Location>,
    /// The run's page: `--workflow-url`, or the GitHub Actions run when inside Actions.
    pub workflow_url: Option<crate::status::HttpUrl>,
    pub slack_webhook: Option<SecretString>,
    /// The Prometheus textfile written after every run.
    pub metrics: Option<MetricsTarget>,
}

impl ReportConfig {
    /// `--workflow-url` when given, else the current GitHub Actions run from its environment.
    pub fn workflow_url_from_env(flag: Option<String>) -> Result<Option<HttpUrl>, Error> {
        let text = flag.filter(|u| !u.trim().is_empty()).or_else(|| {
            let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
            var("GITHUB_ACTIONS")?;
            Some(format!(
                "{}/{}/actions/runs/{}",
                var("GITHUB_SERVER_URL").unwrap_or_else(|| "https://github.com".into()),
                var("GITHUB_REPOSITORY")?,
                var("GITHUB_RUN_ID")?
            ))
        });
        text.map(|text| {
            HttpUrl::parse(&text).ok_or_else(|| {
                Error::config_fix(
                    format!(
                        "--workflow-url `{}` is not an http(s) URL",
                        crate::redact::url(&text)
                    ),
                    "give the run's page as https://…, or leave it unset",
                )
            })
        })
        .transpose()
    }
}

/// Publishes the status, writes the metrics and sends the Slack message (always, when set).
/// Returns an error only when the status of a successful run could not be written; after a
/// failed or interrupted run that is only a warning. `cursor_after` is the stored cursor after
/// a run that did not succeed (it may have moved over what that run delivered). `started` is
/// when the run began, `elapsed` how long it took, successful or not.
pub async fn after_run(
    config: &ReportConfig,
    outcome: Result<&Summary, &Error>,
    cursor_after: Option<&crate::cursor::CursorState>,
    started: Timestamp,
    elapsed: Duration,
    scrubber: &Scrubber,
) -> Result<(), Error> {
    // A configuration error did nothing (exit 2): it leaves no status, metrics or message
    // behind either, so the last run's report still stands.
    if let Err(error) = outcome
        && error.exit_code() == crate::error::exit::CONFIG
    {
        return Ok(());
    }
    // Rows delivered but not archived: a failed run, whose cursor and rows still count.
    let archive_error = outcome.ok().and_then(Summary::archive_error);
    let ran = match outcome {
        Ok(_) if archive_error.is_some() => Outcome::Failed,
        Ok(_) => Outcome::Success,
        Err(Error::Interrupted { .. }) => Outcome::Interrupted,
        Err(_) => Outcome::Failed,
    };
    let backlog = outcome.ok().and_then(|s| s.backlog);
    let error = outcome.err().or(archive_error.as_ref());
    let mut status_error = None;
    if let Some(target) = &config.status {
        let run = RunFacts {
            outcome: ran,
            summary: outcome.ok(),
            // The error as the log prints it (`Error::message`), scrubbed.
            error: error.map(|e| scrubber.scrub(&e.message())),
            cursor_after,
            started_at: started,
            ended_at: Timestamp::now(),
            duration: elapsed,
        };
        let previous = read_previous(target).await;
        let status = status_of(&run, &previous, config);
        if let Err(e) = publish(&status, target).await {
            if ran == Outcome::Success {
                status_error = Some(e);
            } else {
                tracing::warn!(
                    "status JSON not written: {}",
                    scrubber.scrub(&format!("{e:#}"))
                );
            }
        }
    }
    if let Some(target) = &config.metrics {
        let run = RunMetrics {
            // A success whose status could not be written fails, as its exit code says.
            outcome: if status_error.is_some() {
                Outcome::Failed
            } else {
                ran
            },
            finished: SystemTime::now(),
            duration: elapsed,
            rows: outcome.ok().map(|s| s.rows),
            late_rows: outcome.ok().map(|s| s.late.found),
            backlog,
        };
        if let Err(e) = run.write(target) {
            tracing::warn!("metrics not written: {}", scrubber.scrub(&format!("{e:#}")));
        }
    }
    if let Some(webhook) = &config.slack_webhook {
        let text = match (outcome, &status_error) {
            (Ok(_), _) if archive_error.is_some() => {
                slack::failure(&error.map(Error::to_string).unwrap_or_default(), config)
            }
            (Ok(summary), None) => slack::success(summary, config),
            (Ok(summary), Some(e)) => slack::failure(
                &format!("{} rows exported, but {e:#}", summary.rows),
                config,
            ),
            (Err(error), _) => slack::failure(&error.to_string(), config),
        };
        slack::send(webhook, &scrubber.scrub(&text)).await;
    }
    match status_error {
        None => Ok(()),
        Some(e) => Err(Error::Runtime {
            source: e.context(
                "the export succeeded and its cursor is saved, but the status JSON was not written",
            ),
        }),
    }
}

/// `check`: whether the status could be written at `target` now.
pub async fn check_status(target: &StatusTarget) -> crate::verdict::Verdict {
    use crate::verdict::Verdict;
    use object_store::ObjectStoreExt;
    let fix = "give --status-path (GUARDRAIL_EXPORT_STATUS_PATH) a folder this user may write, \
               or an s3:// object these credentials may put";
    match target {
        StatusTarget::File(path) => match crate::fs::check_writable(path) {
            Ok(()) => Verdict::Ok(format!("{} can be written", path.display())),
            Err(problem) => {
                Verdict::problem(format!("the status {}: {problem}", path.display()), fix)
            }
        },
        StatusTarget::S3 { uri, options } => {
            let store = match crate::s3::open_bucket(&uri.bucket, options) {
                Ok(store) => store,
                Err(e) => return Verdict::problem(format!("the status {uri}: {e:#}"), fix),
            };
            match store
                .head(&object_store::path::Path::from(uri.key.as_str()))
                .await
            {
                Ok(_) => Verdict::Ok(format!("{uri} is there")),
                Err(object_store::Error::NotFound { .. }) => {
                    Verdict::Ok(format!("{uri} can be read (no status yet)"))
                }
                Err(e) => Verdict::problem(
                    format!("the status {uri}: {}", crate::redact::error_chain(&e)),
                    fix,
                ),
            }
        }
    }
}
