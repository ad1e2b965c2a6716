//! What the "Guardrail export health" card shows, decided from a status read, the
//! configuration and the time — pure functions, so every state is unit-tested without a server.

use std::time::Duration;

use chrono::{DateTime, Utc};
use url::Url;

use crate::admin::config::TriggerSetting;
use crate::admin::source::{ReadFailure, Snapshot};
use crate::env_vars as env;
use crate::status::Outcome;

mod facts;
mod health;
mod waiting;
pub use facts::duration;
use facts::*;
pub use health::runbook_url_for;
use health::*;

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
    /// Rows after the cursor mean the export is behind: an open transaction holds them, or
    /// the last run left them.
    pub behind_warning: Option<String>,
    /// The last run failed or was interrupted.
    pub failure: Option<Failure>,
    /// The last runs, the oldest first (empty for a version 1 status).
    pub history: Vec<HistoryCell>,
    pub rows: Fact,
    /// The rows still after the cursor: how many, how old, what holds them.
    pub waiting: Fact,
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
    /// The folder local downloads are served from.
    pub archive_dir: Option<&'a std::path::Path>,
}

pub fn card(snapshot: &Snapshot, settings: &CardSettings<'_>, now: DateTime<Utc>) -> Card {
    let trigger = match settings.trigger {
        TriggerSetting::Ready(trigger) => Ok(format!(
            "Dispatches the export workflow on {}",
            trigger.git_ref
        )),
        TriggerSetting::RequestFile(_) => Ok("Starts the export on the exporter's host".to_owned()),
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
                waiting: unknown("unknown"),
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
                waiting: unknown("unknown"),
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
    let waiting = waiting::waiting(status, v2, now);
    if waiting.warning.is_some() && health == Health::Healthy {
        health = Health::Behind;
    }
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
        behind_warning: waiting.warning,
        failure,
        history,
        rows: rows_fact(&status.rows),
        waiting: waiting.fact,
        cursor: cursor_fact(status),
        updated: updated_fact(&status.updated_at, now),
        download: download(&status.download_url, settings.archive_dir),
        workflow,
        trigger,
        source_note,
    }
}

#[cfg(test)]
mod tests;
