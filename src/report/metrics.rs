//! The Prometheus textfile (for node_exporter's textfile collector) written after every run,
//! successful, failed or interrupted. Replaced atomically, so the collector never reads half a
//! file; a write that fails is only a warning.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use std::sync::atomic::AtomicU64;

use anyhow::Context;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode_registry;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::export::source::Backlog;
use crate::outcome::Outcome;

/// Where the textfile goes, and the labels every series carries.
#[derive(Debug, Clone)]
pub struct MetricsTarget {
    pub path: PathBuf,
    /// `--provider-id`, as the `provider_id` label: exporters of different providers can
    /// share one textfile folder without their series colliding.
    pub provider_id: Option<String>,
}

/// What one run contributes to the textfile.
#[derive(Debug, Clone)]
pub struct RunMetrics {
    pub outcome: Outcome,
    /// When the run ended.
    pub finished: SystemTime,
    pub duration: Duration,
    /// Rows delivered and late rows found; known only when the run succeeded.
    pub rows: Option<u64>,
    pub late_rows: Option<u64>,
    /// What the source held after the cursor once the run ended, when it was counted.
    pub backlog: Option<Backlog>,
}

const LAST_SUCCESS: &str = "guardrail_export_last_success_timestamp_seconds";

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: &'static str,
}

/// A registry of gauges that are set once: the textfile is written whole after every run. Help
/// texts end without a full stop: the encoder adds one.
pub(super) struct Textfile(pub(super) Registry);

impl Textfile {
    pub(super) fn gauge(&mut self, name: &str, help: &str, value: f64) {
        let gauge = Gauge::<f64, AtomicU64>::default();
        gauge.set(value);
        self.0.register(name, help, gauge);
    }

    pub(super) fn count(&mut self, name: &str, help: &str, value: u64) {
        let gauge = Gauge::<i64>::default();
        gauge.set(i64::try_from(value).unwrap_or(i64::MAX));
        self.0.register(name, help, gauge);
    }
}

impl RunMetrics {
    /// The textfile: this run's series, and the last success (this run, or the one `previous`
    /// recorded). Encoded by prometheus-client in the text format node_exporter reads.
    pub fn render(&self, target: &MetricsTarget, previous: Option<&str>) -> String {
        // prometheus-client (0.24) writes label values as given: the value is escaped here.
        let labels = target
            .provider_id
            .iter()
            .map(|id| (Cow::Borrowed("provider_id"), Cow::Owned(escape(id))));
        let mut file = Textfile(Registry::with_labels(labels));
        let finished = seconds_since_epoch(self.finished);
        file.gauge(
            "guardrail_export_last_run_timestamp_seconds",
            "When the last export run ended, in Unix seconds",
            finished,
        );
        file.gauge(
            "guardrail_export_last_run_duration_seconds",
            "How long the last export run took",
            self.duration.as_secs_f64(),
        );
        let success = self.outcome == Outcome::Success;
        file.count(
            "guardrail_export_last_run_success",
            "1 if the last export run succeeded, else 0",
            u64::from(success),
        );
        let outcomes = Family::<OutcomeLabel, Gauge>::default();
        for outcome in Outcome::ALL {
            let label = OutcomeLabel {
                outcome: outcome.label(),
            };
            outcomes
                .get_or_create(&label)
                .set(i64::from(outcome == self.outcome));
        }
        file.0.register(
            "guardrail_export_last_run_outcome",
            "How the last export run ended: 1 for its outcome (success, failed, interrupted), 0 for the others",
            outcomes,
        );
        if let Some(rows) = self.rows {
            file.count(
                "guardrail_export_last_run_rows",
                "Rows the last export run delivered",
                rows,
            );
        }
        if let Some(late) = self.late_rows {
            file.count(
                "guardrail_export_last_run_late_rows",
                "Late rows the last export run found behind the cursor (and delivered)",
                late,
            );
        }
        let last_success = if success {
            Some(finished)
        } else {
            previous.and_then(last_success_in)
        };
        if let Some(at) = last_success {
            file.gauge(
                LAST_SUCCESS,
                "When the last successful export run ended, in Unix seconds",
                at,
            );
        }
        if let Some(backlog) = self.backlog {
            file.count(
                "guardrail_export_pending_rows",
                "Rows still after the cursor once the last export run ended",
                backlog.pending,
            );
            file.count(
                "guardrail_export_held_back_rows",
                "Of those, rows held back by the settle window or an open transaction",
                backlog.held_back.map_or(0, |h| h.rows),
            );
            if let Some(oldest) = backlog.oldest {
                file.gauge(
                    "guardrail_export_oldest_pending_timestamp_seconds",
                    "created_at of the oldest row still after the cursor, in Unix seconds",
                    oldest.micros() as f64 / 1e6,
                );
            }
        }
        let mut text = String::new();
        encode_registry(&mut text, &file.0).expect("writing to a String cannot fail");
        text
    }

    /// Writes the textfile, keeping the last success from the file it replaces.
    pub fn write(&self, target: &MetricsTarget) -> anyhow::Result<()> {
        let previous = std::fs::read_to_string(&target.path).ok();
        let text = self.render(target, previous.as_deref());
        write(&target.path, &text)
    }
}

pub(super) fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    crate::fs::write_atomically(path, text.as_bytes(), crate::fs::Readers::Umask)
        .with_context(|| format!("writing the metrics {}", path.display()))
}

/// The last-success sample of an earlier textfile.
fn last_success_in(previous: &str) -> Option<f64> {
    sample_in(previous, LAST_SUCCESS)
}

/// The sample of `name` in an earlier textfile; `None` unless exactly one sample of it has a
/// finite, non-negative value.
pub(super) fn sample_in(previous: &str, name: &str) -> Option<f64> {
    let mut found = None;
    for line in previous.lines().filter(|l| !l.starts_with('#')) {
        let Some(rest) = line.strip_prefix(name) else {
            continue;
        };
        let value = match rest.strip_prefix(' ') {
            Some(value) => value,
            // Labels: the value follows the closing brace.
            None => rest.strip_prefix('{')?.rsplit_once("} ")?.1,
        };
        let value: f64 = value.trim().parse().ok()?;
        if !value.is_finite() || value < 0.0 || found.is_some() {
            return None;
        }
        found = Some(value);
    }
    found
}

pub(super) fn seconds_since_epoch(at: SystemTime) -> f64 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// A label value as the exposition format quotes it.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(outcome: Outcome) -> RunMetrics {
        RunMetrics {
            outcome,
            finished: UNIX_EPOCH + Duration::from_secs(1_800_000_000),
            duration: Duration::from_millis(2_500),
            rows: (outcome == Outcome::Success).then_some(42),
            late_rows: (outcome == Outcome::Success).then_some(3),
            backlog: None,
        }
    }

    fn target(provider_id: Option<&str>) -> MetricsTarget {
        MetricsTarget {
            path: PathBuf::from("metrics.prom"),
            provider_id: provider_id.map(str::to_owned),
        }
    }

    #[test]
    fn a_failed_run_keeps_the_last_success_of_the_file_it_replaces() {
        let ok = run(Outcome::Success).render(&target(None), None);
        assert!(ok.contains("\nguardrail_export_last_success_timestamp_seconds 1800000000.0\n"));
        assert!(ok.contains("guardrail_export_last_run_rows 42\n"));
        assert!(ok.contains("guardrail_export_last_run_duration_seconds 2.5\n"));
        let mut failed = run(Outcome::Failed);
        failed.finished += Duration::from_secs(3600);
        let text = failed.render(&target(None), Some(&ok));
        assert!(text.contains("\nguardrail_export_last_success_timestamp_seconds 1800000000.0\n"));
        assert!(text.contains("guardrail_export_last_run_success 0\n"));
        assert!(text.contains("guardrail_export_last_run_outcome{outcome=\"failed\"} 1\n"));
        assert!(text.contains("guardrail_export_last_run_outcome{outcome=\"success\"} 0\n"));
        assert!(!text.contains("guardrail_export_last_run_rows"));
        // And again from a file that was itself written after a failure.
        let again = failed.render(&target(None), Some(&text));
        assert!(again.contains("\nguardrail_export_last_success_timestamp_seconds 1800000000.0\n"));
    }

    #[test]
    fn an_unreadable_previous_file_leaves_the_last_success_out() {
        for previous in [
            "",
            "garbage",
            "guardrail_export_last_success_timestamp_seconds x\n",
            "guardrail_export_last_success_timestamp_seconds NaN\n",
            "guardrail_export_last_success_timestamp_seconds 1\nguardrail_export_last_success_timestamp_seconds 2\n",
        ] {
            let text = run(Outcome::Interrupted).render(&target(None), Some(previous));
            assert!(!text.contains(LAST_SUCCESS), "{previous:?}");
        }
    }

    #[test]
    fn the_provider_id_labels_every_sample() {
        let target = target(Some("p\"1"));
        let ok = run(Outcome::Success).render(&target, None);
        for line in ok.lines().filter(|l| !l.starts_with('#')) {
            assert!(line.contains("provider_id=\"p\\\"1\""), "{line}");
        }
        assert!(ok.contains(
            "guardrail_export_last_run_outcome{provider_id=\"p\\\"1\",outcome=\"success\"} 1\n"
        ));
        let failed = run(Outcome::Failed).render(&target, Some(&ok));
        assert_eq!(last_success_in(&failed), Some(1_800_000_000.0));
    }
}
