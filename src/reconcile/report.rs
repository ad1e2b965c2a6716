//! What `reconcile` prints on stdout: the differing days with the counts on each side and a
//! one-line total, or the same as one JSON object (`--json`).

use std::fmt::Write as _;

use serde_json::{Value, json};

use super::{
    Comparison, Damaged, DayDifference, FOREIGN_IDS_KEPT, Kind, Outcome, Quarantine, day_name,
};
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
    out.push_str(&damaged(&comparison.lake_totals.damaged));
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
    if comparison.matches() {
        let _ = writeln!(
            out,
            "reconcile: all {} days match ({range}): source {} rows, {lake}",
            comparison.days, comparison.source_rows
        );
    } else if comparison.differing.is_empty() {
        let _ = writeln!(
            out,
            "reconcile: all {} days match but the lake holds {} ({range}): source {} rows, {lake}",
            comparison.days,
            plural(
                comparison.lake_totals.damaged.len() as u64,
                "damaged entry",
                "damaged entries"
            ),
            comparison.source_rows
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

/// Damaged entries printed in the text report (`--json` has up to [`DAMAGED_KEPT`]).
pub const DAMAGED_PRINTED: usize = 20;

/// Damaged entries listed in `--json` (`damagedCount` counts them all).
pub const DAMAGED_KEPT: usize = 1000;

/// The damaged entries, one line each; nothing when there are none.
fn damaged(damaged: &[Damaged]) -> String {
    if damaged.is_empty() {
        return String::new();
    }
    let mut out = format!(
        "reconcile: {} in the lake cannot be read as batch objects; --repair moves them to the \
         quarantine and delivers their days again:\n",
        plural(damaged.len() as u64, "entry", "entries")
    );
    for entry in damaged.iter().take(DAMAGED_PRINTED) {
        let _ = writeln!(out, "  {}: {}", entry.key, entry.reason);
    }
    if damaged.len() > DAMAGED_PRINTED {
        let _ = writeln!(
            out,
            "  and {} more (up to {DAMAGED_KEPT} with --json)",
            damaged.len() - DAMAGED_PRINTED
        );
    }
    out
}

/// The objects a repair moved and the foreign ids they held; nothing when none moved.
fn quarantined(quarantine: &Quarantine) -> String {
    if quarantine.objects.is_empty() {
        return String::new();
    }
    let objects = plural(
        quarantine.objects.len() as u64,
        "lake object",
        "lake objects",
    );
    let mut out = if quarantine.foreign_count == 0 {
        format!("repair: moved {objects} that could not be read out of the lake:\n")
    } else {
        format!(
            "repair: moved {objects} holding {} the source does not have (or that could not be \
             read) out of the lake (the warehouse still has them: see {FOREIGN_ROWS_DOC}):\n",
            plural(quarantine.foreign_count, "follow-up", "follow-ups"),
        )
    };
    for (from, to) in &quarantine.objects {
        let _ = writeln!(out, "  {from} -> {to}");
    }
    if quarantine.foreign_count == 0 {
        return out;
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
        "damaged": comparison.lake_totals.damaged.iter().take(DAMAGED_KEPT)
            .map(|d| json!({"key": d.key, "reason": d.reason}))
            .collect::<Vec<_>>(),
        "damagedCount": comparison.lake_totals.damaged.len(),
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
