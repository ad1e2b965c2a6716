//! What the "Guardrail export health" card shows, decided from a status read, the
//! configuration and the time — pure functions, so every state is unit-tested without a server.

use std::time::Duration;

use chrono::{DateTime, Utc};
use url::Url;

use crate::admin::config::TriggerSetting;
use crate::admin::source::{ReadFailure, Snapshot};
use crate::admin::status::{Field, Outcome, Run, Status};
use crate::env_vars as env;

/// The card's overall verdict, shown as a badge with words (not colour alone).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    Healthy,
    /// The last run succeeded but left rows behind the cursor (version 2 only).
    Behind,
    /// The last run failed or was interrupted (version 2 only).
    Failing,
    /// `updatedAt` is ahead of this page's clock by more than [`FUTURE_TOLERANCE`].
    Future,
    Stale,
    /// The status says nothing usable about when it was last updated.
    Unknown,
    /// There is no status yet: no export has run.
    NeverRun,
    Unreadable,
}

impl Health {
    pub fn label(self) -> &'static str {
        match self {
            Health::Healthy => "Healthy",
            Health::Behind => "Behind",
            Health::Failing => "Failing",
            Health::Future => "From the future",
            Health::Stale => "Stale",
            Health::Unknown => "Unknown",
            Health::NeverRun => "Never run",
            Health::Unreadable => "Status unreadable",
        }
    }

    /// CSS modifier of the badge.
    pub fn class(self) -> &'static str {
        match self {
            Health::Healthy => "ok",
            Health::Stale | Health::Unknown | Health::Behind | Health::Future => "warn",
            Health::NeverRun => "neutral",
            Health::Unreadable | Health::Failing => "error",
        }
    }
}

/// One line of the card's facts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fact {
    pub value: String,
    /// Smaller text beside the value: an age, or why the value is unknown.
    pub detail: Option<String>,
    pub known: bool,
    /// RFC 3339, for `<time datetime>`.
    pub datetime: Option<String>,
}

/// Everything the card template needs.
#[derive(Debug, Clone)]
pub struct Card {
    pub health: Health,
    /// Why the status could not be read.
    pub unreadable: Option<String>,
    /// No export has run yet: how to run one, and where the status was looked for.
    pub never_run: Option<NeverRun>,
    pub stale_warning: Option<String>,
    /// `updatedAt` lies ahead of this page's clock.
    pub future_warning: Option<String>,
    /// The last run left rows behind the cursor.
    pub behind_warning: Option<String>,
    /// The last run failed or was interrupted.
    pub failure: Option<Failure>,
    /// The last runs, the oldest first (empty for a version 1 status).
    pub history: Vec<HistoryCell>,
    pub rows: Fact,
    pub cursor: Fact,
    pub updated: Fact,
    /// `Ok(())`: the download button; `Err(reason)`: why there is none.
    pub download: Result<(), String>,
    pub workflow: Result<Url, String>,
    /// `Ok(ref)`: the button; `Err(hint)`: how to enable it.
    pub trigger: Result<String, String>,
    /// Where and when the status was read.
    pub source_note: String,
}

/// What the card says about a run that failed or was interrupted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub summary: String,
    /// The scrubbed error line the exporter logged.
    pub error: String,
    /// The runbook's section on failures, when the repository is known from the workflow link.
    pub runbook: Option<Url>,
}

/// The runbook's section on failed runs, as GitHub renders its anchor.
pub const RUNBOOK_SECTION: &str = "When a run fails";
const RUNBOOK_ANCHOR: &str = "docs/runbook.md#when-a-run-fails";

/// One run in the strip of recent runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryCell {
    /// CSS modifier: `ok`, `error`, `warn`.
    pub class: &'static str,
    /// A mark that tells the outcome without colour.
    pub mark: &'static str,
    /// The outcome, rows and start, for `title` and `aria-label`.
    pub label: String,
}

/// How far ahead of this page's clock `updatedAt` may be before the card calls it out.
pub const FUTURE_TOLERANCE: Duration = Duration::from_secs(5 * 60);

/// Rows still pending after a successful run that still count as healthy.
pub const PENDING_ROWS_ALLOWED: u64 = 0;

/// The card of a setup whose export has not run yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NeverRun {
    pub how_to_run: String,
    /// What looking for the status found, e.g. `cannot read …: No such file or directory`.
    pub looked: String,
}

/// The settings the card depends on.
#[derive(Debug, Clone)]
pub struct CardSettings<'a> {
    pub stale_after: Duration,
    pub cache_ttl: Duration,
    pub workflow_override: Option<&'a Url>,
    pub trigger: &'a TriggerSetting,
    pub source: Option<String>,
}

pub fn card(snapshot: &Snapshot, settings: &CardSettings<'_>, now: DateTime<Utc>) -> Card {
    let trigger = match settings.trigger {
        TriggerSetting::Ready(trigger) => Ok(trigger.git_ref.clone()),
        TriggerSetting::Missing(names) => Err(format!(
            "Run export now is not configured. To enable it, set {} where this page runs, \
             then restart it.",
            names.join(" and ")
        )),
    };
    let source_note = match &settings.source {
        Some(source) => format!(
            "Status read from {source} at {}; re-read at most every {}.",
            snapshot.read_at.format("%H:%M:%S UTC"),
            duration(settings.cache_ttl.max(Duration::from_secs(1)))
        ),
        None => format!("No status source: set {}.", env::EXPORT_STATUS_URL),
    };
    let unknown = |value: &str| Fact {
        value: value.into(),
        detail: None,
        known: false,
        datetime: None,
    };
    let status = match &snapshot.result {
        Ok(status) => status,
        Err(ReadFailure::Missing(looked)) => {
            let how_to_run = match &trigger {
                Ok(_) => "No export has run yet: press Run export now, or run \
                          `guardrail-followups export` where the exporter is configured."
                    .to_owned(),
                Err(_) => "No export has run yet: run `guardrail-followups export` where the \
                           exporter is configured, or dispatch the export workflow."
                    .to_owned(),
            };
            return Card {
                health: Health::NeverRun,
                unreadable: None,
                never_run: Some(NeverRun {
                    how_to_run,
                    looked: looked.clone(),
                }),
                stale_warning: None,
                future_warning: None,
                behind_warning: None,
                failure: None,
                history: Vec::new(),
                rows: unknown("none yet"),
                cursor: unknown("none yet"),
                updated: unknown("never"),
                download: Err("Download unavailable: no export has run yet.".into()),
                workflow: settings
                    .workflow_override
                    .cloned()
                    .ok_or_else(|| "No workflow link: no export has run yet.".into()),
                trigger,
                source_note,
            };
        }
        Err(ReadFailure::Unreadable(reason)) => {
            return Card {
                health: Health::Unreadable,
                unreadable: Some(reason.0.clone()),
                never_run: None,
                stale_warning: None,
                future_warning: None,
                behind_warning: None,
                failure: None,
                history: Vec::new(),
                rows: unknown("unknown"),
                cursor: unknown("unknown"),
                updated: unknown("unknown"),
                download: Err("Download unavailable: the status could not be read.".into()),
                workflow: settings
                    .workflow_override
                    .cloned()
                    .ok_or_else(|| "No workflow link: the status could not be read.".into()),
                trigger,
                source_note,
            };
        }
    };
    let (mut health, stale_warning) = health(status, settings.stale_after, now);
    let workflow = workflow(&status.workflow_url, settings.workflow_override);
    let v2 = status.outcome.value().copied();
    let mut future_warning = None;
    let ahead = status
        .updated_at
        .value()
        .and_then(|updated| (*updated - now).to_std().ok())
        .filter(|ahead| v2.is_some() && *ahead > FUTURE_TOLERANCE);
    if let Some(ahead) = ahead {
        health = Health::Future;
        future_warning = Some(format!(
            "From the future: the status was updated {} ahead of this page's clock. \
             The exporter's clock or this server's is wrong, so how fresh the export \
             is cannot be told; check both clocks (NTP).",
            duration(ahead)
        ));
    }
    let failure = match v2 {
        Some(outcome @ (Outcome::Failed | Outcome::Interrupted)) => {
            if health == Health::Healthy {
                health = Health::Failing;
            }
            Some(failure(status, outcome, workflow.as_ref().ok(), now))
        }
        _ => None,
    };
    let behind_warning = match (v2, status.pending_rows.value()) {
        (Some(Outcome::Success), Some(&pending)) if pending > PENDING_ROWS_ALLOWED => {
            if health == Health::Healthy {
                health = Health::Behind;
            }
            let oldest = match status.oldest_pending_at.value() {
                Some(at) => match (now - *at).to_std() {
                    Ok(age) => format!("; the oldest was created {} ago", duration(age)),
                    Err(_) => String::new(),
                },
                None => String::new(),
            };
            Some(format!(
                "Behind: {} {} still waiting after the last run{oldest}. The next runs \
                 catch up; if this persists, see “Admin page: the card's health” in \
                 docs/runbook.md.",
                thousands(pending),
                if pending == 1 { "row was" } else { "rows were" }
            ))
        }
        _ => None,
    };
    let history = if v2.is_some() {
        status.history.iter().map(history_cell).collect()
    } else {
        Vec::new()
    };
    Card {
        health,
        unreadable: None,
        never_run: None,
        stale_warning,
        future_warning,
        behind_warning,
        failure,
        history,
        rows: rows_fact(&status.rows),
        cursor: cursor_fact(status),
        updated: updated_fact(&status.updated_at, now),
        download: download(&status.download_url),
        workflow,
        trigger,
        source_note,
    }
}

fn health(status: &Status, stale_after: Duration, now: DateTime<Utc>) -> (Health, Option<String>) {
    let Some(updated) = status.updated_at.value() else {
        return (
            Health::Unknown,
            Some(
                "The status does not say when the export last ran, so its freshness is \
                 unknown. Check the workflow's recent runs."
                    .into(),
            ),
        );
    };
    let age = (now - *updated).to_std().unwrap_or_default();
    if age > stale_after {
        let warning = format!(
            "Stale: the last update was {} ago, longer than the {} an hourly export allows. \
             Check the workflow's recent runs, or run the export now.",
            duration(age),
            duration(stale_after)
        );
        (Health::Stale, Some(warning))
    } else {
        (Health::Healthy, None)
    }
}

fn failure(
    status: &Status,
    outcome: Outcome,
    workflow: Option<&Url>,
    now: DateTime<Utc>,
) -> Failure {
    let last_success = match status.last_success_at.value() {
        Some(at) => match (now - *at).to_std() {
            Ok(age) => format!(" The last successful run ended {} ago.", duration(age)),
            Err(_) => String::new(),
        },
        None => " No successful run is recorded.".into(),
    };
    let summary = match outcome {
        Outcome::Interrupted => "The last run was interrupted before it finished.",
        _ => "The last run failed.",
    };
    let error = match &status.error {
        Field::Value(error) => error.clone(),
        other => field_problem(other, "error", "text"),
    };
    Failure {
        summary: format!(
            "{summary}{last_success} The cursor holds only delivered rows, so the next run \
             resumes where it stopped."
        ),
        error,
        runbook: workflow.and_then(runbook_url),
    }
}

/// `https://github.com/acme/app/actions/runs/1` → the runbook in that repository.
fn runbook_url(workflow: &Url) -> Option<Url> {
    let mut segments = workflow.path_segments()?;
    let (owner, repo, actions) = (segments.next()?, segments.next()?, segments.next()?);
    if actions != "actions" || owner.is_empty() || repo.is_empty() {
        return None;
    }
    let mut url = workflow.clone();
    url.set_query(None);
    url.set_fragment(None);
    url.set_path(&format!("/{owner}/{repo}/blob/HEAD/"));
    url.join(RUNBOOK_ANCHOR).ok()
}

fn history_cell(run: &Run) -> HistoryCell {
    let (class, mark) = match run.outcome {
        Outcome::Success => ("ok", "✓"),
        Outcome::Failed => ("error", "✗"),
        Outcome::Interrupted => ("warn", "!"),
    };
    let rows = run.rows.map_or_else(
        || "rows unknown".into(),
        |n| format!("{} rows", thousands(n)),
    );
    let started = run.started_at.map_or_else(String::new, |at| {
        format!(", started {}", at.format("%Y-%m-%d %H:%M UTC"))
    });
    HistoryCell {
        class,
        mark,
        label: format!("{}: {rows}{started}", run.outcome.label()),
    }
}

fn unknown_because(reason: String) -> Fact {
    Fact {
        value: "unknown".into(),
        detail: Some(reason),
        known: false,
        datetime: None,
    }
}

fn field_problem<T>(field: &Field<T>, key: &str, expected: &str) -> String {
    match field {
        Field::Missing => format!("the status has no {key}"),
        Field::Null => format!("the status gives {key}: null"),
        Field::Invalid { found } => format!("{key} is {found}, not {expected}"),
        Field::Value(_) => String::new(),
    }
}

fn rows_fact(rows: &Field<u64>) -> Fact {
    match rows {
        Field::Value(n) => Fact {
            value: thousands(*n),
            detail: Some("in the last run".into()),
            known: true,
            datetime: None,
        },
        other => unknown_because(field_problem(other, "rows", "a number")),
    }
}

fn cursor_fact(status: &Status) -> Fact {
    match &status.cursor {
        Field::Value(cursor) => Fact {
            value: cursor.text.clone(),
            detail: Some("the next run exports rows created after this".into()),
            known: true,
            datetime: Some(cursor.at.to_rfc3339()),
        },
        Field::Null => Fact {
            value: "none yet".into(),
            detail: Some("nothing exported so far: the next run starts from the beginning".into()),
            known: true,
            datetime: None,
        },
        other => unknown_because(field_problem(other, "cursor", "a timestamp")),
    }
}

fn updated_fact(updated: &Field<DateTime<Utc>>, now: DateTime<Utc>) -> Fact {
    match updated {
        Field::Value(at) => {
            let detail = match (now - *at).to_std() {
                Ok(age) if age < Duration::from_secs(60) => "less than a minute ago".into(),
                Ok(age) => format!("{} ago", duration(age)),
                Err(_) => format!(
                    "{} in the future: this server's clock and the exporter's disagree",
                    duration((*at - now).to_std().unwrap_or_default())
                ),
            };
            Fact {
                value: at.format("%Y-%m-%d %H:%M UTC").to_string(),
                detail: Some(detail),
                known: true,
                datetime: Some(at.to_rfc3339()),
            }
        }
        other => unknown_because(field_problem(other, "updatedAt", "a timestamp")),
    }
}

fn download(url: &Field<Url>) -> Result<(), String> {
    match url {
        Field::Value(_) => Ok(()),
        Field::Null => Err("Download unavailable: the last export published no file.".into()),
        other => Err(format!(
            "Download unavailable: {}.",
            field_problem(other, "downloadUrl", "an http(s) URL")
        )),
    }
}

fn workflow(url: &Field<Url>, overridden: Option<&Url>) -> Result<Url, String> {
    if let Some(url) = overridden {
        return Ok(url.clone());
    }
    match url {
        Field::Value(url) => Ok(url.clone()),
        other => Err(format!(
            "No workflow link: {}; set {} to show one.",
            field_problem(other, "workflowUrl", "an http(s) URL"),
            env::WORKFLOW_URL
        )),
    }
}

/// `2 h 5 min`, `3 days 4 h`, `45 s`.
pub fn duration(d: Duration) -> String {
    let secs = d.as_secs();
    let (days, hours, minutes) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60);
    match (days, hours, minutes) {
        (0, 0, 0) => format!("{secs} s"),
        (0, 0, m) => format!("{m} min"),
        (0, h, 0) => format!("{h} h"),
        (0, h, m) => format!("{h} h {m} min"),
        (1, 0, _) => "1 day".into(),
        (1, h, _) => format!("1 day {h} h"),
        (d, 0, _) => format!("{d} days"),
        (d, h, _) => format!("{d} days {h} h"),
    }
}

/// `12,345`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::source::{ReadFailure, Snapshot};
    use crate::admin::status::{Unreadable, parse};

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn card_for(json: &str, now: &str) -> Card {
        let snapshot = Snapshot::for_tests(parse(json.as_bytes()).map_err(|e| Unreadable(e.0)));
        let trigger = TriggerSetting::Missing(vec![env::EXPORT_TRIGGER_URL]);
        let settings = CardSettings {
            stale_after: Duration::from_secs(2 * 3600),
            cache_ttl: Duration::from_secs(300),
            workflow_override: None,
            trigger: &trigger,
            source: Some("status.json".into()),
        };
        card(&snapshot, &settings, at(now))
    }

    const HEALTHY: &str = r#"{"cursor": "2026-01-22T04:00:00.000000Z", "rows": 12842,
        "updatedAt": "2026-01-22T04:05:09Z", "downloadUrl": "https://x.example/a.ndjson",
        "workflowUrl": "https://github.com/acme/app/actions/runs/1"}"#;

    #[test]
    fn a_recent_update_is_healthy_and_shows_its_age() {
        let card = card_for(HEALTHY, "2026-01-22T04:17:00Z");
        assert_eq!(card.health, Health::Healthy);
        assert_eq!(card.rows.value, "12,842");
        assert_eq!(card.updated.value, "2026-01-22 04:05 UTC");
        assert_eq!(card.updated.detail.as_deref(), Some("11 min ago"));
        assert_eq!(card.download, Ok(()));
        assert!(card.workflow.is_ok());
        assert!(card.stale_warning.is_none());
    }

    #[test]
    fn an_update_older_than_the_threshold_is_stale() {
        let card = card_for(HEALTHY, "2026-01-22T07:20:00Z");
        assert_eq!(card.health, Health::Stale);
        let warning = card.stale_warning.unwrap();
        assert!(warning.contains("3 h 14 min ago"), "{warning}");
        assert!(warning.contains("the 2 h an hourly export"), "{warning}");
    }

    #[test]
    fn missing_fields_say_what_is_missing() {
        let card = card_for(r#"{"rows": "7"}"#, "2026-01-22T04:17:00Z");
        assert_eq!(card.health, Health::Unknown);
        assert_eq!(card.rows.value, "7");
        assert!(!card.cursor.known);
        assert_eq!(
            card.cursor.detail.as_deref(),
            Some("the status has no cursor")
        );
        assert_eq!(
            card.download,
            Err("Download unavailable: the status has no downloadUrl.".into())
        );
        assert!(card.workflow.unwrap_err().contains(env::WORKFLOW_URL));
        assert!(card.trigger.unwrap_err().contains(env::EXPORT_TRIGGER_URL));
    }

    #[test]
    fn a_null_cursor_means_nothing_exported_yet() {
        let card = card_for(
            r#"{"cursor": null, "rows": 0, "updatedAt": "2026-01-22T04:05:09Z", "downloadUrl": null}"#,
            "2026-01-22T04:17:00Z",
        );
        assert_eq!(card.cursor.value, "none yet");
        assert!(card.cursor.known);
        assert_eq!(
            card.download,
            Err("Download unavailable: the last export published no file.".into())
        );
    }

    #[test]
    fn an_unreadable_status_says_why() {
        let card = card_for("<html>oops</html>", "2026-01-22T04:17:00Z");
        assert_eq!(card.health, Health::Unreadable);
        assert!(card.unreadable.unwrap().contains("not JSON"));
        assert!(card.download.is_err());
    }

    #[test]
    fn a_missing_status_means_no_export_has_run_yet_not_an_error() {
        let looked = "cannot read status.json: No such file or directory (os error 2)";
        let snapshot = Snapshot::for_tests(Err(ReadFailure::Missing(looked.into())));
        let trigger = TriggerSetting::Missing(vec![env::EXPORT_TRIGGER_URL]);
        let settings = CardSettings {
            stale_after: Duration::from_secs(2 * 3600),
            cache_ttl: Duration::from_secs(300),
            workflow_override: None,
            trigger: &trigger,
            source: Some("status.json".into()),
        };
        let card = card(&snapshot, &settings, at("2026-01-22T04:17:00Z"));
        assert_eq!(card.health, Health::NeverRun);
        assert_eq!(card.health.label(), "Never run");
        assert_ne!(card.health.class(), "error");
        assert!(card.unreadable.is_none());
        let never_run = card.never_run.unwrap();
        assert!(
            never_run
                .how_to_run
                .starts_with("No export has run yet: run `guardrail-followups export`")
        );
        assert_eq!(never_run.looked, looked);
        assert_eq!(
            card.download,
            Err("Download unavailable: no export has run yet.".into())
        );
    }

    #[test]
    fn a_timestamp_in_the_future_is_called_out() {
        let card = card_for(HEALTHY, "2026-01-22T04:00:00Z");
        assert!(card.updated.detail.unwrap().contains("in the future"));
    }

    fn v2(extra: &str) -> String {
        format!(
            r#"{{"version": 2, "outcome": "success", "rows": 842, "updatedAt": "2026-01-22T04:05:09Z",
                "workflowUrl": "https://github.com/acme/app/actions/runs/1", "pendingRows": 0 {extra}}}"#
        )
    }

    #[test]
    fn a_version_2_status_is_healthy_behind_failing_or_from_the_future() {
        let now = "2026-01-22T04:17:00Z";
        let healthy = card_for(&v2(""), now);
        assert_eq!(healthy.health, Health::Healthy);
        assert!(healthy.failure.is_none() && healthy.behind_warning.is_none());

        let behind = card_for(
            &v2(r#", "pendingRows": 1200, "oldestPendingAt": "2026-01-22T02:17:00Z""#),
            now,
        );
        assert_eq!(behind.health, Health::Behind);
        let warning = behind.behind_warning.unwrap();
        assert!(
            warning.contains("1,200 rows were still waiting"),
            "{warning}"
        );
        assert!(
            warning.contains("the oldest was created 2 h ago"),
            "{warning}"
        );

        let failing = card_for(
            &v2(
                r#", "outcome": "interrupted", "error": "interrupted by SIGTERM", "lastSuccessAt": null"#,
            ),
            now,
        );
        assert_eq!(failing.health, Health::Failing);
        assert_eq!(failing.health.class(), "error");
        let failure = failing.failure.unwrap();
        assert_eq!(failure.error, "interrupted by SIGTERM");
        assert!(
            failure.summary.contains("interrupted"),
            "{}",
            failure.summary
        );
        assert!(failure.summary.contains("No successful run is recorded"));
        assert!(!failure.summary.contains("  "), "{}", failure.summary);
        assert_eq!(
            failure.runbook.unwrap().as_str(),
            "https://github.com/acme/app/blob/HEAD/docs/runbook.md#when-a-run-fails"
        );

        let future = card_for(&v2(""), "2026-01-22T03:50:00Z");
        assert_eq!(future.health, Health::Future);
        let warning = future.future_warning.unwrap();
        assert!(
            warning.contains("15 min ahead") && !warning.contains("  "),
            "{warning}"
        );
        // Within the tolerance it is still healthy.
        assert_eq!(
            card_for(&v2(""), "2026-01-22T04:02:00Z").health,
            Health::Healthy
        );
        // A stale failure stays stale, and still shows the error.
        let stale = card_for(
            &v2(r#", "outcome": "failed", "error": "x""#),
            "2026-01-22T09:00:00Z",
        );
        assert_eq!(stale.health, Health::Stale);
        assert!(stale.failure.is_some());
    }

    #[test]
    fn a_version_1_status_has_no_history_and_no_future_flag() {
        let card = card_for(HEALTHY, "2026-01-22T03:50:00Z");
        assert_eq!(card.health, Health::Healthy);
        assert!(card.history.is_empty() && card.future_warning.is_none());
    }

    #[test]
    fn the_runbook_link_needs_a_github_style_workflow_url() {
        let url = |u: &str| runbook_url(&Url::parse(u).unwrap()).map(|u| u.to_string());
        assert_eq!(
            url("https://ghe.example.com/ops/export/actions/runs/9?x=1").as_deref(),
            Some("https://ghe.example.com/ops/export/blob/HEAD/docs/runbook.md#when-a-run-fails")
        );
        assert_eq!(url("https://ci.example.com/jobs/42"), None);
    }

    #[test]
    fn durations_and_numbers_read_naturally() {
        assert_eq!(duration(Duration::from_secs(45)), "45 s");
        assert_eq!(duration(Duration::from_secs(7200)), "2 h");
        assert_eq!(
            duration(Duration::from_secs(3 * 86_400 + 3600)),
            "3 days 1 h"
        );
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }
}
