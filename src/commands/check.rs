//! `guardrail-followups check`: verifies a configuration without exporting anything, one line
//! per check — ok, or the problem and its fix.

use std::process::ExitCode;

use crate::cli::{CheckArgs, SinkKind};
use crate::logging;
use crate::verdict::Verdict;

struct Report {
    problems: usize,
    /// Notes count as problems.
    strict: bool,
    /// Every line is scrubbed: a server's answer may echo a credential.
    scrubber: crate::redact::Scrubber,
}

impl Report {
    fn line(&mut self, what: &str, verdict: Verdict) {
        let clean = |text: &str| self.scrubber.scrub(text);
        let verdict = match verdict {
            Verdict::Note { note, how } if self.strict => Verdict::Problem {
                problem: note,
                fix: how,
            },
            other => other,
        };
        match verdict {
            Verdict::Ok(detail) => println!("ok       {what:<13} {}", clean(&detail)),
            Verdict::Note { note, how } => {
                println!("note     {what:<13} {}", clean(&note));
                println!("         {:<13} {}", "to change", clean(&how));
            }
            Verdict::Problem { problem, fix } => {
                self.problems += 1;
                println!("problem  {what:<13} {}", clean(&problem));
                println!("         {:<13} {}", "fix", clean(&fix));
            }
        }
    }
}

pub fn check(args: CheckArgs) -> ExitCode {
    let scrubber = crate::redact::Scrubber::of(&args);
    logging::init(args.run.output.log_format, true, scrubber.clone());
    let runtime = match super::runtime() {
        Ok(runtime) => runtime,
        Err(error) => return super::fail(&error, &scrubber),
    };
    let mut report = Report {
        problems: 0,
        strict: args.strict,
        scrubber: scrubber.clone(),
    };
    runtime.block_on(async {
        check_source(&args, &mut report).await;
        check_cursor_store(&args, &mut report).await;
        check_sink(&args, &mut report).await;
        check_archive(&args, &mut report).await;
        check_reporting(&args, &mut report).await;
    });
    if report.problems == 0 {
        ExitCode::SUCCESS
    } else {
        eprintln!("{} problem(s) found", report.problems);
        ExitCode::from(crate::error::exit::RUNTIME)
    }
}

/// How long `check` waits for the database to connect, and for each of its queries.
const CHECK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

async fn check_source(args: &CheckArgs, report: &mut Report) {
    if args.run.source.demo
        && let Err(e) = super::prepare_demo()
    {
        return report.line("database", Verdict::from_error(&e, "see the problem above"));
    }
    let config = match args.run.source.config() {
        // `check` answers quickly, whatever the connection string allows a run.
        Ok(config) => config.with_wait_cap(CHECK_TIMEOUT),
        Err(e) => {
            return report.line(
                "database",
                Verdict::problem(
                    e.to_string(),
                    "set DATABASE_URL (or --database-url) to the application's PostgreSQL",
                ),
            );
        }
    };
    match config.connect().await {
        Ok(source) => {
            for (what, verdict) in source.check().await {
                report.line(what, verdict);
            }
        }
        Err(e) => report.line("database", Verdict::from_error(&e, "see the problem above")),
    }
}

async fn check_cursor_store(args: &CheckArgs, report: &mut Report) {
    let verdict = match args.run.cursor_store.config() {
        Ok(location) => {
            let provider = args
                .run
                .provider_id
                .as_deref()
                .map(str::trim)
                .filter(|p| !p.is_empty());
            location.check(provider).await
        }
        Err(e) => Verdict::problem(
            e.to_string(),
            "see `guardrail-followups check --help` for the cursor store flags",
        ),
    };
    report.line("cursor store", verdict);
}

/// The configured sink checks itself; a webhook URL alone is checked too, being where
/// `--sink webhook` would send.
async fn check_sink(args: &CheckArgs, report: &mut Report) {
    let kind = if args.run.sink.webhook_url.is_some() {
        SinkKind::Webhook
    } else {
        args.run.sink.sink
    };
    match args.run.sink.config_as(kind, false) {
        Ok(target) => {
            let (what, verdict) = target.check().await;
            report.line(what, verdict);
        }
        Err(e) => {
            let (what, fix) = match kind {
                SinkKind::Webhook => (
                    "webhook",
                    "set --webhook-url / ANALYTICS_GUARDRAIL_WEBHOOK to the gateway's http(s)://…/v1/followups",
                ),
                _ => (
                    "sink",
                    "see `guardrail-followups check --help` for the sink flags",
                ),
            };
            report.line(what, Verdict::from_error(&e, fix));
        }
    }
}

/// The archive, when `--archive-uri` names one.
async fn check_archive(args: &CheckArgs, report: &mut Report) {
    match args.run.archive.config(&args.run.cursor_store.s3) {
        Ok(Some(archive)) => report.line("archive", archive.check().await),
        Ok(None) => {}
        Err(e) => report.line(
            "archive",
            Verdict::from_error(&e, "give a folder or s3://bucket/prefix"),
        ),
    }
}

/// Where the run reports: the status JSON, the metrics textfile and Slack, when configured.
async fn check_reporting(args: &CheckArgs, report: &mut Report) {
    let config = match super::report_config(&args.run) {
        Ok(config) => config,
        Err(e) => {
            return report.line(
                "reporting",
                Verdict::from_error(&e, "see `guardrail-followups check --help`"),
            );
        }
    };
    if let Some(target) = &config.status {
        report.line("status", crate::report::check_status(target).await);
    }
    if let Some(metrics) = &config.metrics {
        report.line(
            "metrics",
            match crate::fs::check_writable(&metrics.path) {
                Ok(()) => Verdict::Ok(format!("{} can be written", metrics.path.display())),
                Err(problem) => Verdict::problem(
                    format!("the metrics textfile {}: {problem}", metrics.path.display()),
                    "give --metrics-path (GUARDRAIL_EXPORT_METRICS_PATH) a folder this user may \
                     write, or leave it unset",
                ),
            },
        );
    }
    if let Some(webhook) = &config.slack_webhook {
        report.line(
            "slack",
            match crate::report::slack::probe(webhook).await {
                Ok(()) => Verdict::Ok("the Slack webhook answers".into()),
                Err(problem) => Verdict::problem(
                    problem,
                    "check --slack-webhook (GUARDRAIL_EXPORT_SLACK_WEBHOOK): Slack → your app \
                     → Incoming Webhooks; a failed message never fails a run",
                ),
            },
        );
    }
}
