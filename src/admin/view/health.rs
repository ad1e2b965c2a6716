//! The card's health from a status: its state, what a failure says, the strip of runs.

use std::time::Duration;

use chrono::{DateTime, Utc};
use url::Url;

use super::*;
use crate::status::{Field, Outcome, Run, Status, key};

pub(super) fn health(
    status: &Status,
    stale_after: Duration,
    now: DateTime<Utc>,
) -> (Health, Option<String>) {
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

pub(super) fn failure(
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
        other => field_problem(other, key::ERROR),
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
pub(super) fn runbook_url(workflow: &Url) -> Option<Url> {
    runbook_url_for(workflow, RUNBOOK_ANCHOR)
}

/// `https://github.com/acme/app/actions/runs/1` → `anchor` (`docs/runbook.md#…`) in that
/// repository.
pub fn runbook_url_for(workflow: &Url, anchor: &str) -> Option<Url> {
    let mut segments = workflow.path_segments()?;
    let (owner, repo, actions) = (segments.next()?, segments.next()?, segments.next()?);
    if actions != "actions" || owner.is_empty() || repo.is_empty() {
        return None;
    }
    let mut url = workflow.clone();
    url.set_query(None);
    url.set_fragment(None);
    url.set_path(&format!("/{owner}/{repo}/blob/HEAD/"));
    url.join(anchor).ok()
}

pub(super) fn history_cell(run: &Run) -> HistoryCell {
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
