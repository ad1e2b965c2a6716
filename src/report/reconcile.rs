//! What a scheduled `reconcile` leaves for people and machines: a Slack message when it found
//! something or could not run, and a Prometheus textfile of its own (never the export's), both
//! written after every run that got past its configuration. Trouble with either is a warning:
//! the exit code stays the reconcile's.

use std::time::{Duration, SystemTime};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode_registry;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::metrics::{Textfile, sample_in, seconds_since_epoch, write};
use crate::reconcile::{Kind, Outcome};

/// The sample kept across runs: when every day last matched.
const LAST_MATCH: &str = "guardrail_reconcile_last_match_timestamp_seconds";

/// One reconcile run, for the textfile.
pub struct ReconcileRun<'a> {
    /// `Err` with the problem when the run failed.
    pub outcome: Result<&'a Outcome, &'a str>,
    pub finished: SystemTime,
    pub duration: Duration,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: &'static str,
}

impl ReconcileRun<'_> {
    /// The textfile: this run's series, and the last match (this run, or the previous file's).
    pub fn render(&self, previous: Option<&str>) -> String {
        let mut file = Textfile(Registry::default());
        let finished = seconds_since_epoch(self.finished);
        file.gauge(
            "guardrail_reconcile_last_run_timestamp_seconds",
            "When the last reconcile run ended, in Unix seconds",
            finished,
        );
        file.gauge(
            "guardrail_reconcile_last_run_duration_seconds",
            "How long the last reconcile run took",
            self.duration.as_secs_f64(),
        );
        file.count(
            "guardrail_reconcile_last_run_success",
            "1 if the last reconcile run compared the source with the lake, 0 if it failed",
            u64::from(self.outcome.is_ok()),
        );
        let mut matched = None;
        if let Ok(outcome) = self.outcome {
            let comparison = &outcome.comparison;
            let total = comparison.total();
            let differences = Family::<KindLabel, Gauge>::default();
            for kind in Kind::ALL {
                let value = i64::try_from(total.of(kind)).unwrap_or(i64::MAX);
                differences
                    .get_or_create(&KindLabel { kind: kind.name() })
                    .set(value);
            }
            let damaged = i64::try_from(comparison.lake_totals.damaged.len()).unwrap_or(i64::MAX);
            differences
                .get_or_create(&KindLabel { kind: "damaged" })
                .set(damaged);
            file.0.register(
                "guardrail_reconcile_differences",
                "Follow-ups missing from the lake, foreign to it or stale, and damaged lake entries, after the last reconcile run (and its repair)",
                differences,
            );
            file.count(
                "guardrail_reconcile_differing_days",
                "Days that differ after the last reconcile run (and its repair)",
                comparison.differing().count() as u64,
            );
            if let Some((_, repaired)) = &outcome.repair {
                file.count(
                    "guardrail_reconcile_repaired_rows",
                    "Follow-ups the last reconcile repair delivered again",
                    repaired.rows,
                );
                file.count(
                    "guardrail_reconcile_tombstones_sent",
                    "Tombstones the last reconcile repair sent for follow-ups deleted from the source",
                    repaired.tombstones,
                );
            }
            if outcome.matches() {
                matched = Some(finished);
            }
        }
        if let Some(at) = matched.or_else(|| previous.and_then(|p| sample_in(p, LAST_MATCH))) {
            file.gauge(
                LAST_MATCH,
                "When a reconcile run last found the lake equal to the source, in Unix seconds",
                at,
            );
        }
        let mut text = String::new();
        encode_registry(&mut text, &file.0).expect("writing to a String cannot fail");
        text
    }

    /// Replaces the textfile at `path`, keeping the last match from the file it replaces.
    pub fn write(&self, path: &std::path::Path) -> anyhow::Result<()> {
        let previous = std::fs::read_to_string(path).ok();
        write(path, &self.render(previous.as_deref()))
    }

    /// The Slack message, or `None` when there is nothing to tell: every day matched and there
    /// was nothing to repair.
    pub fn slack(&self) -> Option<String> {
        let outcome = match self.outcome {
            Err(problem) => {
                return Some(format!(
                    ":x: Guardrail follow-ups reconcile could not run: {problem}"
                ));
            }
            Ok(outcome) => outcome,
        };
        let found = |comparison: &crate::reconcile::Comparison| {
            let total = comparison.total();
            let mut text = format!(
                "{} of {} days differ: {} missing, {} foreign (deleted), {} stale",
                comparison.differing().count(),
                comparison.days.len(),
                total.missing,
                total.foreign,
                total.stale
            );
            let damaged = comparison.lake_totals.damaged.len();
            if damaged > 0 {
                text.push_str(&format!("; {damaged} damaged lake entries"));
            }
            text
        };
        match &outcome.repair {
            Some((before, repaired)) if !before.matches() => {
                let mark = if outcome.matches() {
                    ":white_check_mark:"
                } else {
                    ":warning:"
                };
                let after = if outcome.matches() {
                    "now every day matches".to_owned()
                } else {
                    format!("still {}", found(&outcome.comparison))
                };
                Some(format!(
                    "{mark} Guardrail follow-ups reconcile repaired the lake: {}; delivered {} \
                     again and sent {} tombstones; {after}.",
                    found(before),
                    repaired.rows,
                    repaired.tombstones
                ))
            }
            _ if !outcome.matches() => Some(format!(
                ":warning: Guardrail follow-ups reconcile: {}. Run it with --repair \
                 (docs/runbook.md, \"Reconciling the lake with the source\").",
                found(&outcome.comparison)
            )),
            _ => None,
        }
    }
}
