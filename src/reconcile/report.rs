//! What `reconcile` prints on stdout: the differing days with the counts on each side and of
//! each kind of difference, some of the differing ids, and a one-line total; or the same as one
//! JSON object (`--json`).

use std::fmt::Write as _;

use serde_json::{Value, json};

use super::{Comparison, Damaged, IDS_KEPT, Kind, Outcome, Quarantine, Repaired, day_name};

/// Where the runbook explains the kinds of differences and what to do about them.
pub const DIFFERENCES_DOC: &str = "docs/runbook.md#reconciling-the-lake-with-the-source";

/// Ids printed per kind in the text report (`--json` has up to [`IDS_KEPT`]).
pub const IDS_PRINTED: usize = 20;

/// The report for a terminal or a log.
pub fn text(outcome: &Outcome) -> String {
    let mut out = String::new();
    if let Some((before, repaired)) = &outcome.repair {
        if before.matches() {
            out.push_str("repair: nothing to repair\n");
        } else {
            out.push_str(&table(before));
            out.push_str(&ids(before));
            out.push_str(&damaged(&before.lake_totals.damaged));
            out.push_str(&repair_line(repaired));
            out.push_str(&quarantined(&repaired.quarantine));
        }
    }
    let comparison = &outcome.comparison;
    out.push_str(&table(comparison));
    out.push_str(&ids(comparison));
    out.push_str(&damaged(&comparison.lake_totals.damaged));
    let range = match (outcome.range.since, outcome.range.until) {
        (None, None) => "all rows".to_owned(),
        (Some(since), None) => format!("created_at from {since}"),
        (None, Some(until)) => format!("created_at before {until}"),
        (Some(since), Some(until)) => format!("created_at from {since} before {until}"),
    };
    let total = comparison.total();
    let sides = format!(
        "source {}, lake {} in {} of {}",
        plural(total.source, "follow-up", "follow-ups"),
        plural(total.lake, "follow-up", "follow-ups"),
        plural(comparison.lake_totals.rows, "line", "lines"),
        plural(comparison.lake_totals.objects, "object", "objects"),
    );
    let days = comparison.days.len();
    let differing = comparison.differing().count();
    if comparison.matches() {
        let _ = writeln!(
            out,
            "reconcile: all {days} days match by content ({range}): {sides}"
        );
    } else if differing == 0 {
        let _ = writeln!(
            out,
            "reconcile: all {days} days match but the lake holds {} ({range}): {sides}",
            plural(
                comparison.lake_totals.damaged.len() as u64,
                "damaged entry",
                "damaged entries"
            ),
        );
    } else {
        let _ = writeln!(
            out,
            "reconcile: {differing} of {days} days differ ({range}): {} missing, {} foreign, \
             {} stale; {sides}",
            total.missing, total.foreign, total.stale
        );
        let what = if outcome.repair.is_some() {
            "the repair left these"
        } else {
            "--repair delivers the missing and stale follow-ups again and sends tombstones for \
             the foreign ones"
        };
        let _ = writeln!(out, "reconcile: {what}: see {DIFFERENCES_DOC}");
    }
    out
}

/// What a repair did, in one line.
fn repair_line(repaired: &Repaired) -> String {
    let mut line = format!(
        "repair: delivered {} again through the {} sink",
        plural(repaired.rows, "follow-up", "follow-ups"),
        repaired.sink
    );
    if repaired.tombstones > 0 {
        let _ = write!(
            line,
            ", sent {} for follow-ups deleted from the source",
            plural(repaired.tombstones, "tombstone", "tombstones")
        );
    }
    if repaired.moved > 0 {
        let _ = write!(
            line,
            "; {} foreign on their day are still in the source with another createdAt: no \
             tombstone for them",
            repaired.moved
        );
    }
    line.push_str("; compared again:\n");
    line
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

/// The damaged entries a repair moved; nothing when none moved.
fn quarantined(quarantine: &Quarantine) -> String {
    if quarantine.objects.is_empty() {
        return String::new();
    }
    let mut out = format!(
        "repair: moved {} that could not be read out of the lake:\n",
        plural(
            quarantine.objects.len() as u64,
            "lake entry",
            "lake entries"
        ),
    );
    for (from, to) in &quarantine.objects {
        let _ = writeln!(out, "  {from} -> {to}");
    }
    out
}

/// The differing days, one line each, under a header; nothing when none differ.
fn table(comparison: &Comparison) -> String {
    let mut differing = comparison.differing().peekable();
    if differing.peek().is_none() {
        return String::new();
    }
    let mut out = format!(
        "{:<12}{:>10}{:>10}{:>10}{:>10}{:>10}\n",
        "day", "source", "lake", "missing", "foreign", "stale"
    );
    for (day, counts) in differing {
        let _ = writeln!(
            out,
            "{:<12}{:>10}{:>10}{:>10}{:>10}{:>10}",
            day_name(day),
            counts.source,
            counts.lake,
            counts.missing,
            counts.foreign,
            counts.stale
        );
    }
    out
}

/// Up to [`IDS_PRINTED`] ids of each kind found, with their day.
fn ids(comparison: &Comparison) -> String {
    let total = comparison.total();
    let mut out = String::new();
    for kind in Kind::ALL {
        let count = total.of(kind);
        if count == 0 {
            continue;
        }
        let shown: Vec<String> = comparison
            .examples_of(kind)
            .take(IDS_PRINTED)
            .map(|f| format!("{} ({})", f.id, day_name(f.day())))
            .collect();
        let more = match count - shown.len() as u64 {
            0 => String::new(),
            n => format!(" and {n} more (up to {IDS_KEPT} with --json)"),
        };
        let _ = writeln!(out, "{}: {}{more}", describe(kind), shown.join(", "));
    }
    out
}

/// What a kind means, for the line that lists its ids.
fn describe(kind: Kind) -> &'static str {
    match kind {
        Kind::Missing => "missing (in the source, not in the lake)",
        Kind::Foreign => "foreign (in the lake, deleted from the source)",
        Kind::Stale => "stale (the lake's newest copy differs from the source)",
    }
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
            "tombstones": repaired.tombstones,
            "stillInSource": repaired.moved,
            "quarantined": repaired.quarantine.objects.iter()
                .map(|(from, to)| json!({"from": from, "to": to}))
                .collect::<Vec<_>>(),
            "before": comparison_json(before),
        }),
    };
    report
}

fn comparison_json(comparison: &Comparison) -> Value {
    let total = comparison.total();
    let mut ids = serde_json::Map::new();
    for kind in Kind::ALL {
        let listed: Vec<Value> = comparison
            .examples_of(kind)
            .map(|f| json!({"id": f.id.to_string(), "day": day_name(f.day())}))
            .collect();
        ids.insert(kind.name().to_owned(), Value::Array(listed));
    }
    json!({
        "source": comparison.source,
        "lake": comparison.lake,
        "days": comparison.days.len(),
        "sourceRows": total.source,
        "lakeRows": total.lake,
        "lakeRowsRead": comparison.lake_totals.rows,
        "lakeObjects": comparison.lake_totals.objects,
        "missing": total.missing,
        "foreign": total.foreign,
        "stale": total.stale,
        "differingDays": comparison.differing().map(|(day, counts)| json!({
            "day": day_name(day),
            "sourceRows": counts.source,
            "lakeRows": counts.lake,
            "missing": counts.missing,
            "foreign": counts.foreign,
            "stale": counts.stale,
        })).collect::<Vec<_>>(),
        "ids": ids,
        "idsKept": IDS_KEPT,
        "damaged": comparison.lake_totals.damaged.iter().take(DAMAGED_KEPT)
            .map(|d| json!({"key": d.key, "reason": d.reason}))
            .collect::<Vec<_>>(),
        "damagedCount": comparison.lake_totals.damaged.len(),
    })
}

/// `1 lake object`, `2 lake objects`.
fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}
