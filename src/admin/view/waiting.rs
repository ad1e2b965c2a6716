//! What the card says about the rows still after the cursor: the "Waiting" fact, and a notice
//! when they mean the export is behind (an open transaction holding rows, or rows a
//! successful run left) rather than the settle window doing its job.

use chrono::{DateTime, Utc};

use super::facts::{duration, field_problem, thousands, unknown_because};
use super::{Fact, Outcome};
use crate::status::{Field, HeldBack, HeldBackReason, Status, key};

/// The rows after the cursor, as the card shows them.
pub(super) struct Waiting {
    pub fact: Fact,
    /// Set when they make the export [`super::Health::Behind`].
    pub warning: Option<String>,
}

pub(super) fn waiting(status: &Status, v2: Option<Outcome>, now: DateTime<Utc>) -> Waiting {
    let pending = match (&status.pending_rows, v2) {
        (_, None) => {
            return quiet(unknown_because("a version 1 status does not say".into()));
        }
        (Field::Value(pending), _) => *pending,
        (Field::Null | Field::Missing, Some(Outcome::Success)) => {
            return quiet(unknown_because(
                "not counted after the last run (the count failed or did not answer in time: see the run's log)".into(),
            ));
        }
        (Field::Null | Field::Missing, Some(_)) => {
            return quiet(unknown_because(
                "not counted: the last run did not succeed".into(),
            ));
        }
        (other, _) => {
            return quiet(unknown_because(field_problem(other, key::PENDING_ROWS)));
        }
    };
    if pending == 0 {
        return quiet(Fact {
            value: "none".into(),
            detail: Some("every row was exported by the last run".into()),
            known: true,
            datetime: None,
        });
    }
    let oldest = status.oldest_pending_at.value().copied();
    let age = oldest
        .and_then(|at| (now - at).to_std().ok())
        .map(|age| format!("the oldest was created {} ago", duration(age)));
    let held = status.held_back.value();
    let fact = Fact {
        value: format!("{} {}", thousands(pending), rows_word(pending)),
        detail: Some(
            [held.map(hold), age.clone()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join("; "),
        )
        .filter(|d| !d.is_empty()),
        known: true,
        datetime: oldest.map(|at| at.to_rfc3339()),
    };
    let left = pending.saturating_sub(held.map_or(0, |h| h.rows));
    let warning = match held {
        Some(held) if held.reason == HeldBackReason::OpenTransaction => Some(format!(
            "Held back: {} {} for a transaction open{}{}. The exporter never passes rows \
             that a transaction still open might commit before, so they go out once it ends. \
             If it stays open, see “Admin page: the card's health” in docs/runbook.md.",
            thousands(held.rows),
            if held.rows == 1 {
                "row waits"
            } else {
                "rows wait"
            },
            held.since
                .map(|at| at.format(" since %Y-%m-%d %H:%M:%S UTC").to_string())
                .unwrap_or_default(),
            held.pid
                .map(|pid| format!(" (pid {pid})"))
                .unwrap_or_default(),
        )),
        _ if left > 0 && v2 == Some(Outcome::Success) => Some(format!(
            "Behind: {} {} still waiting after the last run{}. The next runs catch up; if \
             this persists, see “Admin page: the card's health” in docs/runbook.md.",
            thousands(left),
            if left == 1 { "row was" } else { "rows were" },
            age.map(|age| format!("; {age}")).unwrap_or_default(),
        )),
        // Rows younger than the settle window: the next run takes them.
        _ => None,
    };
    Waiting { fact, warning }
}

fn quiet(fact: Fact) -> Waiting {
    Waiting {
        fact,
        warning: None,
    }
}

fn rows_word(n: u64) -> &'static str {
    if n == 1 { "row" } else { "rows" }
}

/// `held back by a transaction open since 03:00:01 UTC (pid 4242)`, or `younger than the
/// settle window: the next run takes them`.
fn hold(held: &HeldBack) -> String {
    if held.reason == HeldBackReason::OpenTransaction {
        let since = held
            .since
            .map(|at| at.format(" since %H:%M:%S UTC").to_string())
            .unwrap_or_default();
        let pid = held
            .pid
            .map(|pid| format!(" (pid {pid})"))
            .unwrap_or_default();
        format!("held back by a transaction open{since}{pid}")
    } else {
        "younger than the settle window: the next run takes them".into()
    }
}
