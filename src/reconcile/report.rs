//! What `reconcile` prints on stdout: the differing days with the counts on each side and a
//! one-line total, or the same as one JSON object (`--json`).

use std::fmt::Write as _;

use serde_json::{Value, json};

use super::{Comparison, DayDifference, Kind, Outcome, day_name};
use crate::cursor::Fingerprint;

/// Where the runbook explains foreign rows and what to do about them.
pub const FOREIGN_ROWS_DOC: &str = "docs/runbook.md#reconciling-the-lake-with-the-source";

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
        let _ = writeln!(
            out,
            "reconcile: the lake holds follow-ups the source does not have (deleted after delivery, \
             or written by something else); --repair cannot delete from the lake: see {FOREIGN_ROWS_DOC}"
        );
    }
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
