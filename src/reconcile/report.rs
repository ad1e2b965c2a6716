//! What `reconcile` prints on stdout: the differing days with the counts on each side and a
//! one-line total, or the same as one JSON object (`--json`).

use std::fmt::Write as _;

use serde_json::{Value, json};

use super::{Comparison, DayDifference, FOREIGN_IDS_KEPT, Kind, Outcome, Quarantine, day_name};
use crate::cursor::Fingerprint;

/// Where the runbook explains foreign rows and what to do about them.
pub const FOREIGN_ROWS_DOC: &str = "docs/runbook.md#reconciling-the-lake-with-the-source";

/// Foreign ids printed in the text report (`--json` has up to [`FOREIGN_IDS_KEPT`]).
pub const FOREIGN_IDS_PRINTED: usize = 20;

/// The report for a terminal or a log.
pub fn text(outcome: &Outcome) -> String {
    let mut out = String::new();
    if let Some((before, repaired)) = &outcome.repair {
        if before.differing.is_empty() {
            out.push_str("repair: nothing to repair\n");
        } else {
            out.push_str(&table(&before.differing));
            let _ = writeln!(
                out,
                "repair: {} of {} days differed; delivered their {} source rows again through the \
                 {} sink; compared again:",
                before.differing.len(),
                before.days,
                repaired.rows,
                repaired.sink
            );
            out.push_str(&quarantined(&repaired.quarantine));
        }
    }
    let comparison = &outcome.comparison;
    out.push_str(&table(&comparison.differing));
    let range = match (outcome.range.since, outcome.range.until) {
        (None, None) => "all rows".to_owned(),
        (Some(since), None) => format!("created_at from {since}"),
        (None, Some(until)) => format!("created_at before {until}"),
        (Some(since), Some(until)) => format!("created_at from {since} before {until}"),
    };
    let lake = format!(
        "lake {} distinct follow-ups in {} rows of {} objects",
        comparison.lake_rows, comparison.lake_totals.rows, comparison.lake_totals.objects
    );
    if comparison.differing.is_empty() {
        let _ = writeln!(
            out,
            "reconcile: all {} days match ({range}): source {} rows, {lake}",
            comparison.days, comparison.source_rows
        );
    } else {
        let _ = writeln!(
            out,
            "reconcile: {} of {} days differ ({range}): source {} rows, {lake}",
            comparison.differing.len(),
            comparison.days,
            comparison.source_rows
        );
    }
    let foreign = comparison
        .differing
        .iter()
        .any(|d| !matches!(d.kind(), Kind::Missing(_)));
    if foreign {
        let what = if outcome.repair.is_some() {
            "the repair could not remove them"
        } else {
            "--repair moves the objects holding them out of the lake and delivers their other rows again"
        };
        let _ = writeln!(
            out,
            "reconcile: the lake holds follow-ups the source does not have (deleted after delivery, \
             or written by something else); {what}: see {FOREIGN_ROWS_DOC}"
        );
    }
    out
}

/// The objects a repair moved and the foreign ids they held; nothing when none moved.
fn quarantined(quarantine: &Quarantine) -> String {
    if quarantine.objects.is_empty() {
        return String::new();
    }
    let mut out = format!(
        "repair: moved {} holding {} the source does not have out of the lake (the warehouse \
         still has them: see {FOREIGN_ROWS_DOC}):\n",
        plural(
            quarantine.objects.len() as u64,
            "lake object",
            "lake objects"
        ),
        plural(quarantine.foreign_count, "follow-up", "follow-ups"),
    );
    for (from, to) in &quarantine.objects {
        let _ = writeln!(out, "  {from} -> {to}");
    }
    let shown: Vec<String> = quarantine
        .foreign_ids
        .iter()
        .take(FOREIGN_IDS_PRINTED)
        .map(|id| format!("'{id}'"))
        .collect();
    let more = match quarantine.foreign_count - shown.len() as u64 {
        0 => String::new(),
        n => format!(" and {n} more (all of them, up to {FOREIGN_IDS_KEPT}, with --json)"),
    };
    let _ = writeln!(
        out,
        "repair: foreign follow-up ids: {}{more}",
        shown.join(", ")
    );
    out
}

/// The differing days, one line each, under a header; nothing when none differ.
fn table(differing: &[DayDifference]) -> String {
    if differing.is_empty() {
        return String::new();
    }
    let mut out = format!("{:<12}{:>12}{:>12}  difference\n", "day", "source", "lake");
    for d in differing {
        let what = match d.kind() {
            Kind::Missing(n) => format!("{n} missing from the lake"),
            Kind::Foreign(n) => format!("{n} in the lake but not in the source"),
            Kind::Mixed => "same count, other ids: rows missing and as many foreign".to_owned(),
        };
        let _ = writeln!(
            out,
            "{:<12}{:>12}{:>12}  {what}",
            day_name(d.day),
            d.source.count,
            d.lake.count
        );
    }
    out
}

/// The report as one JSON object.
pub fn json(outcome: &Outcome) -> Value {
    let mut report = comparison_json(&outcome.comparison);
    report["match"] = json!(outcome.matches());
    report["since"] = json!(outcome.range.since.map(|t| t.to_string()));
    report["until"] = json!(outcome.range.until.map(|t| t.to_string()));
    report["repair"] = match &outcome.repair {
        None => Value::Null,
        Some((before, repaired)) => json!({
            "sink": repaired.sink,
            "days": repaired.days.iter().map(|d| day_name(*d)).collect::<Vec<_>>(),
            "rows": repaired.rows,
            "quarantined": repaired.quarantine.objects.iter()
                .map(|(from, to)| json!({"from": from, "to": to}))
                .collect::<Vec<_>>(),
            "foreignIds": repaired.quarantine.foreign_ids.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            "foreignCount": repaired.quarantine.foreign_count,
            "before": comparison_json(before),
        }),
    };
    report
}

fn comparison_json(comparison: &Comparison) -> Value {
    json!({
        "source": comparison.source,
        "lake": comparison.lake,
        "days": comparison.days,
        "sourceRows": comparison.source_rows,
        "lakeRows": comparison.lake_rows,
        "lakeRowsRead": comparison.lake_totals.rows,
        "lakeObjects": comparison.lake_totals.objects,
        "differingDays": comparison.differing.iter().map(day_json).collect::<Vec<_>>(),
    })
}

fn day_json(d: &DayDifference) -> Value {
    let (kind, missing, foreign) = match d.kind() {
        Kind::Missing(n) => ("missing", n, 0),
        Kind::Foreign(n) => ("foreign", 0, n),
        Kind::Mixed => ("mixed", 1, 1),
    };
    let hash = |f: &Fingerprint| format!("{:016x}", f.sum);
    json!({
        "day": day_name(d.day),
        "kind": kind,
        "sourceRows": d.source.count,
        "lakeRows": d.lake.count,
        "missingAtLeast": missing,
        "foreignAtLeast": foreign,
        "sourceHash": hash(&d.source),
        "lakeHash": hash(&d.lake),
    })
}

/// `1 lake object`, `2 lake objects`.
fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}
