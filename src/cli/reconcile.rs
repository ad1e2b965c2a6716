//! `guardrail-followups reconcile`'s flags, and their check into the typed
//! [`ReconcileConfig`].

use clap::Args;
use secrecy::{ExposeSecret, SecretString};

use super::export::{OutputArgs, S3Args, SinkArgs, SinkKind, SourceArgs};
use crate::env_vars as env;
use crate::error::Error;
use crate::lake_layout::LakeUri;
use crate::logging::LogFormat;
use crate::reconcile::{Range, ReconcileConfig, RepairConfig};
use crate::redact::{Scrubber, Secrets};
use crate::time::Timestamp;

#[derive(Debug, Args)]
#[command(next_help_heading = "Reconcile")]
pub struct ReconcileArgs {
    /// The lake the gateway writes: a folder (a path or file:///path) or s3://bucket/prefix.
    #[arg(long, env = env::GATEWAY_LAKE, value_name = "URI")]
    pub lake: String,

    /// Compare rows with created_at at or after this instant (RFC 3339, or a date
    /// YYYY-MM-DD for its UTC midnight). Default: the first row.
    #[arg(long, value_name = "TS")]
    pub since: Option<String>,

    /// Compare rows with created_at before this instant (RFC 3339, or a date YYYY-MM-DD for
    /// its UTC midnight). Default: everything, including rows the export has not reached yet.
    #[arg(long, value_name = "TS")]
    pub until: Option<String>,

    /// Compare the last N UTC days, today included: --since is today's midnight minus N-1
    /// days (for a scheduled reconcile; with --since, --since wins).
    #[arg(long, env = env::RECONCILE_DAYS, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=36_500))]
    pub days: Option<u32>,

    /// Slack incoming webhook: a message when the run found differences, repaired them, or
    /// could not run (nothing when every day matched). Slack trouble is a warning.
    #[arg(long, env = env::SLACK_WEBHOOK, hide_env_values = true, value_name = "URL")]
    pub slack_webhook: Option<SecretString>,

    /// After every run that got past its configuration, replace this Prometheus textfile
    /// (node_exporter's textfile collector) atomically: guardrail_reconcile_* series. Its own
    /// file, never the export's. Trouble writing it is a warning.
    #[arg(long, env = env::RECONCILE_METRICS_PATH, value_name = "PATH")]
    pub metrics_path: Option<String>,

    /// Print the report as one JSON object.
    #[arg(long)]
    pub json: bool,

    /// Deliver the missing and stale follow-ups again and a tombstone for each one deleted from
    /// the source, through the sink (--sink webhook to the gateway, or --sink file), then
    /// compare again. Damaged lake entries are first moved to guardrail_followups_quarantine/
    /// beside guardrail_followups/ (their days delivered again before), so --repair needs write
    /// access to the lake. The export's cursor is not touched.
    #[arg(long)]
    pub repair: bool,

    /// --repair: rows per delivered batch.
    #[arg(long, env = env::BATCH_SIZE, default_value_t = 1000, value_name = "N",
          value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub batch_size: u64,

    #[command(flatten)]
    pub source: SourceArgs,

    #[command(flatten)]
    pub sink: SinkArgs,

    #[command(flatten)]
    pub s3: S3Args,

    #[command(flatten)]
    pub output: OutputArgs,
}

impl ReconcileArgs {
    /// Validates the flags before any work starts.
    pub fn into_config(self, stderr_is_terminal: bool) -> Result<ReconcileConfig, Error> {
        let lake = LakeUri::parse(&self.lake)
            .map_err(|reason| Error::config(format!("--lake `{}`: {reason}", self.lake.trim())))?;
        let since = instant("--since", self.since.as_deref())?;
        let range = Range {
            since: since.or_else(|| self.days.map(days_ago)),
            until: instant("--until", self.until.as_deref())?,
        };
        if let (Some(since), Some(until)) = (range.since, range.until)
            && since >= until
        {
            return Err(Error::config_fix(
                format!("--since {since} is not before --until {until}"),
                "give a --since earlier than --until",
            ));
        }
        let repair = if self.repair {
            if self.sink.sink == SinkKind::Stdout {
                return Err(Error::config_fix(
                    "--repair needs a sink, and stdout carries the report",
                    "add --sink webhook --webhook-url <the gateway's /v1/followups> (with the \
                     export's --webhook-secret or --webhook-token), or --sink file --file-path PATH",
                ));
            }
            Some(RepairConfig {
                sink: self.sink.config(self.source.demo)?,
                sink_name: match self.sink.sink {
                    SinkKind::Stdout => "stdout",
                    SinkKind::File => "file",
                    SinkKind::Webhook => "webhook",
                }
                .to_owned(),
                batch_size: self.batch_size,
            })
        } else {
            None
        };
        Ok(ReconcileConfig {
            source: self.source.config()?,
            lake,
            s3: self.s3.options(),
            range,
            repair,
            progress: stderr_is_terminal
                && !self.output.quiet
                && self.output.log_format == LogFormat::Text,
        })
    }
}

/// The UTC midnight that starts the last `days` days, today included.
fn days_ago(days: u32) -> Timestamp {
    let today = Timestamp::now().micros().div_euclid(86_400_000_000);
    let first = today - i64::from(days.max(1) - 1);
    Timestamp::from_micros(first * 86_400_000_000)
}

/// An RFC 3339 instant, or a date for its UTC midnight.
fn instant(flag: &str, text: Option<&str>) -> Result<Option<Timestamp>, Error> {
    let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    if let Ok(date) = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        let midnight = date
            .and_hms_opt(0, 0, 0)
            .expect("midnight exists")
            .and_utc();
        return Ok(Timestamp::try_from_micros(midnight.timestamp_micros()));
    }
    Timestamp::parse(text).map(Some).map_err(|e| {
        Error::config_fix(
            format!("{flag} `{text}`: {e}"),
            "give an RFC 3339 instant such as 2026-01-01T00:00:00Z, or a date such as 2026-01-01",
        )
    })
}

impl Secrets for ReconcileArgs {
    fn hide(&self, scrubber: &mut Scrubber) {
        self.source.hide(scrubber);
        self.sink.hide(scrubber);
        self.s3.hide(scrubber);
        if let Some(slack) = &self.slack_webhook {
            scrubber.add_secret_url(slack.expose_secret());
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: ReconcileArgs,
    }

    fn config(args: &[&str]) -> Result<ReconcileConfig, Error> {
        let mut all = vec!["reconcile", "--database-url", "sqlite://x.sqlite"];
        all.extend(args);
        Cli::try_parse_from(all).unwrap().args.into_config(false)
    }

    #[test]
    fn dates_and_instants_bound_the_range() {
        let config = config(&[
            "--lake",
            "/srv/lake",
            "--since",
            "2026-01-02",
            "--until",
            "2026-01-03T06:00:00Z",
        ])
        .unwrap();
        assert_eq!(
            config.range.since.unwrap().to_string(),
            "2026-01-02T00:00:00.000000Z"
        );
        assert_eq!(
            config.range.until.unwrap().to_string(),
            "2026-01-03T06:00:00.000000Z"
        );
        assert!(config.repair.is_none());
    }

    #[test]
    fn bad_flags_are_configuration_errors_naming_them() {
        let message = |args: &[&str]| config(args).unwrap_err().message();
        assert!(message(&["--lake", "gs://b/p"]).starts_with("--lake `gs://b/p`: "));
        assert!(
            message(&["--lake", "/l", "--since", "yesterday"]).starts_with("--since `yesterday`: ")
        );
        assert!(
            message(&[
                "--lake",
                "/l",
                "--since",
                "2026-02-01",
                "--until",
                "2026-01-01"
            ])
            .contains("is not before --until")
        );
        assert!(message(&["--lake", "/l", "--repair"]).starts_with("--repair needs a sink"));
        assert!(
            message(&["--lake", "/l", "--repair", "--sink", "webhook"]).contains("--webhook-url")
        );
    }
}
