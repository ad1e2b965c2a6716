//! What one run did, and the summary line that says it.

use std::time::Duration;

use super::batch::RepairCounts;
use super::source::Backlog;
use crate::archive::Archiving;
use crate::cursor::Position;
use crate::error::Error;

/// What one run did.
#[derive(Debug, Clone)]
pub struct Summary {
    /// Rows delivered (acknowledged by the sink) in this run.
    pub rows: u64,
    /// The cursor after the run: the last row delivered, by this run or an earlier one.
    pub cursor: Option<Position>,
    /// Rows delivered by all runs recorded in the cursor.
    pub total_rows: u64,
    pub elapsed: Duration,
    pub repairs: RepairCounts,
    /// What the late-row audit found and delivered.
    pub late: LateRows,
    /// The reader of stdout went away before everything was written.
    pub output_closed: bool,
    pub source: String,
    /// What the source still holds after the cursor, when it could be counted.
    pub backlog: Option<Backlog>,
    /// What became of the run's copy in the archive.
    pub archive: Archiving,
}

impl Summary {
    pub fn rows_per_second(&self) -> f64 {
        self.rows as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The run delivered its rows and saved the cursor, but they were not archived: a failed
    /// run, whose delivery stands.
    pub fn archive_error(&self) -> Option<Error> {
        let Archiving::Failed(reason) = &self.archive else {
            return None;
        };
        let cursor = self
            .cursor
            .map_or_else(|| "none".into(), |position| position.to_string());
        Some(Error::Runtime {
            source: anyhow::anyhow!(
                "the export delivered {} rows and saved its cursor (now {cursor}), but they \
                 were not archived: {reason}; the archive's latest.ndjson still holds an \
                 earlier run's rows, and the next run archives only its own",
                self.rows
            ),
        })
    }
}

/// What the late-row audit found and did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LateRows {
    /// Buckets of the window compared with the source.
    pub buckets_checked: u64,
    /// Rows that appeared in the source behind the cursor since they were passed over.
    pub found: u64,
    /// Rows sent again: every row of each bucket that differed.
    pub delivered: u64,
    /// Rows delivered earlier that are no longer in the source (reported only).
    pub missing: u64,
    /// Buckets sent again because a row in them was edited (same rows, other change markers).
    pub edited_buckets: u64,
}

impl Summary {
    /// The one-line summary at the end of a run, with warnings for what normalisation repaired.
    pub fn log(&self) {
        let summary = self;
        let cursor = summary
            .cursor
            .map_or_else(|| "none".into(), |position| position.to_string());
        let repairs = summary.repairs;
        // ` (e.g. <id>, <id>, <id>)`: rows to look at in the source.
        let some = |ids: &[Option<uuid::Uuid>]| {
            let ids: Vec<String> = ids.iter().flatten().map(ToString::to_string).collect();
            if ids.is_empty() {
                String::new()
            } else {
                format!(" (e.g. {})", ids.join(", "))
            }
        };
        if repairs.contexts_repaired + repairs.contexts_nulled > 0 {
            tracing::warn!(
                repaired = repairs.contexts_repaired,
                nulled = repairs.contexts_nulled,
                "platformContext normalised: {} repaired{}, {} exported as null{}",
                repairs.contexts_repaired,
                some(&repairs.samples.contexts_repaired),
                repairs.contexts_nulled,
                some(&repairs.samples.contexts_nulled),
            );
        }
        if repairs.unknown_actions > 0 {
            tracing::warn!(
                rows = repairs.unknown_actions,
                "{} {} an action other than pause/resume/escalate (exported as they are){}",
                repairs.unknown_actions,
                if repairs.unknown_actions == 1 {
                    "row has"
                } else {
                    "rows have"
                },
                some(&repairs.samples.unknown_actions),
            );
        }
        let late = summary.late;
        if late.missing > 0 {
            tracing::warn!(
                missing = late.missing,
                "{} delivered follow-ups are no longer in the source",
                late.missing
            );
        }
        let late_text = if late.found > 0 || late.delivered > 0 {
            let edited = match late.edited_buckets {
                0 => String::new(),
                1 => ", 1 bucket with edited rows".to_owned(),
                n => format!(", {n} buckets with edited rows"),
            };
            format!(
                "; late rows: {} found, {} re-sent{edited}",
                late.found, late.delivered
            )
        } else {
            String::new()
        };
        let left = match summary.backlog {
            Some(Backlog {
                pending,
                held_back: Some(held),
                ..
            }) if pending > held.rows => format!("; {pending} rows left, {held}"),
            Some(Backlog {
                held_back: Some(held),
                ..
            }) => format!("; {held}"),
            Some(Backlog { pending, .. }) if pending > 0 => format!("; {pending} rows left"),
            _ => String::new(),
        };
        if let Archiving::Written(archived) = &summary.archive {
            tracing::info!(
                rows = archived.rows,
                bytes = archived.bytes,
                copy = %archived.copy,
                "archived {} rows at {} and as latest.ndjson",
                archived.rows,
                archived.copy
            );
        }
        let closed = if summary.output_closed {
            " (output closed by its reader)"
        } else {
            ""
        };
        tracing::info!(
            rows = summary.rows,
            cursor = %cursor,
            seconds = summary.elapsed.as_secs_f64(),
            rows_per_second = summary.rows_per_second().round(),
            source = %summary.source,
            late_found = late.found,
            late_delivered = late.delivered,
            edited_buckets = late.edited_buckets,
            audit_buckets = late.buckets_checked,
            pending_rows = summary.backlog.map(|b| b.pending),
            held_back_rows = summary.backlog.and_then(|b| b.held_back).map(|h| h.rows),
            "exported {} {}{closed}; cursor {cursor}; {:.2}s; {:.0} rows/s{late_text}{left}",
            summary.rows,
            if summary.rows == 1 { "row" } else { "rows" },
            summary.elapsed.as_secs_f64(),
            summary.rows_per_second(),
        );
    }
}
