//! The run loop on the in-memory source, sink and cursor store: the ordering of
//! acknowledgements, where the cursor stands after each kind of failure, `--limit`,
//! `--reset-cursor`, and the late-row audit's bucket comparison. No database, no sockets.

use std::sync::Arc;
use std::time::Duration;

use uuid::Uuid;

use super::sink::memory::{Answer, MemoryTarget};
use super::source::memory::MemorySource;
use super::{ExportConfig, Interrupt, Summary, run_once};
use crate::cursor::{AuditConfig, CursorState, Position};
use crate::error::{Error, exit};
use crate::row::SourceRow;
use crate::store::{CursorLocation, MemoryLocation};
use crate::time::Timestamp;

mod archive;
mod in_flight;

/// `n` minutes ago, plus `n` microseconds so that every row has its own instant.
fn minutes_ago(minutes: i64, n: u32) -> Timestamp {
    Timestamp::from_micros(Timestamp::now().micros() - minutes * 60_000_000 + i64::from(n))
}

fn row(n: u32, created_at: Timestamp) -> SourceRow {
    SourceRow {
        notes: Some(format!("row {n}")),
        ..SourceRow::new(
            Uuid::from_u128(u128::from(n) << 64 | 1),
            if n.is_multiple_of(2) { "even" } else { "odd" },
            "pause",
            created_at,
        )
    }
}

/// Rows 1..=n, a minute apart, the oldest `n + 5` minutes ago.
fn rows(n: u32) -> Vec<SourceRow> {
    (1..=n)
        .map(|i| row(i, minutes_ago(i64::from(n - i) + 5, i)))
        .collect()
}

struct Setup {
    source: MemorySource,
    sink: MemoryTarget,
    store: MemoryLocation,
    batch_size: u64,
    limit: Option<u64>,
    reset_cursor: bool,
    provider_id: Option<String>,
    audit: AuditConfig,
    interrupt: Interrupt,
}

impl Setup {
    fn new(rows: Vec<SourceRow>, sink: MemoryTarget) -> Setup {
        let source = MemorySource::default();
        source.insert(rows);
        Setup {
            source,
            sink,
            store: MemoryLocation::default(),
            batch_size: 3,
            limit: None,
            reset_cursor: false,
            provider_id: None,
            audit: AuditConfig {
                window: Duration::ZERO,
                bucket: Duration::from_secs(60),
            },
            interrupt: Interrupt::never(),
        }
    }

    fn config(&self) -> ExportConfig {
        ExportConfig {
            source: Arc::new(self.source.clone()),
            sink: Arc::new(self.sink.clone()),
            cursor_store: Arc::new(self.store.clone()),
            limit: self.limit,
            provider_id: self.provider_id.clone(),
            start: None,
            reset_cursor: self.reset_cursor,
            settle: Duration::ZERO,
            batch_size: self.batch_size,
            audit: self.audit,
            hold_back: None,
            progress: false,
            interrupt: self.interrupt.clone(),
            archive: None,
        }
    }

    async fn run(&self) -> Result<Summary, Error> {
        run_once(&self.config()).await
    }

    fn stored(&self) -> CursorState {
        self.store.stored().expect("a cursor was saved")
    }

    /// The `notes` of every row the sink accepted, in order.
    fn delivered(&self) -> Vec<String> {
        self.sink
            .accepted()
            .iter()
            .map(|line| {
                let value: serde_json::Value = serde_json::from_str(line).unwrap();
                value["notes"].as_str().unwrap().to_owned()
            })
            .collect()
    }
}

fn notes(range: std::ops::RangeInclusive<u32>) -> Vec<String> {
    range.map(|n| format!("row {n}")).collect()
}

fn position_of(row: &SourceRow) -> Position {
    Position {
        created_at: row.created_at,
        id: Some(row.id),
    }
}

#[tokio::test]
async fn every_row_is_delivered_once_in_order_and_the_cursor_advances_batch_by_batch() {
    let all = rows(10);
    let setup = Setup::new(all.clone(), MemoryTarget::answering(Answer::Durable));
    let summary = setup.run().await.unwrap();
    assert_eq!(summary.rows, 10);
    assert_eq!(setup.delivered(), notes(1..=10));
    // One save per durable batch (3, 6, 9, 10), then the final one.
    let positions: Vec<_> = setup
        .store
        .saves()
        .iter()
        .map(|s| s.position.unwrap())
        .collect();
    let expected: Vec<_> = [2, 5, 8, 9, 9]
        .iter()
        .map(|i| position_of(&all[*i]))
        .collect();
    assert_eq!(positions, expected);
    assert_eq!(setup.stored().total_rows, 10);
    // Nothing new: the next run delivers nothing and keeps the cursor.
    assert_eq!(setup.run().await.unwrap().rows, 0);
    assert_eq!(setup.stored().position, Some(position_of(&all[9])));
}

#[tokio::test]
async fn a_refused_batch_leaves_the_cursor_after_the_last_acknowledged_one() {
    let all = rows(10);
    let sink = MemoryTarget::scripted(&[Answer::Durable, Answer::Durable], Answer::Fail);
    let setup = Setup::new(all.clone(), sink);
    let error = setup.run().await.unwrap_err();
    assert_eq!(error.exit_code(), exit::RUNTIME, "{error}");
    let stored = setup.stored();
    assert_eq!(stored.position, Some(position_of(&all[5])));
    assert_eq!(stored.total_rows, 6);
    // The next run resends from the refused batch on, nothing before it.
    let retry = Setup {
        sink: MemoryTarget::answering(Answer::Durable),
        ..setup
    };
    assert_eq!(retry.run().await.unwrap().rows, 4);
    assert_eq!(retry.delivered(), notes(7..=10));
}

#[tokio::test]
async fn batches_durable_only_on_finish_move_the_cursor_only_when_the_sink_finishes() {
    let all = rows(7);
    let setup = Setup::new(all.clone(), MemoryTarget::answering(Answer::UntilFinish));
    setup.sink.fail_finish();
    assert!(setup.run().await.is_err());
    assert_eq!(setup.store.stored(), None, "nothing became durable");
    let setup = Setup {
        sink: MemoryTarget::answering(Answer::UntilFinish),
        ..setup
    };
    assert_eq!(setup.run().await.unwrap().rows, 7);
    assert!(setup.sink.finished());
    // One save, after the sink finished.
    assert_eq!(setup.store.saves().len(), 1);
    assert_eq!(setup.stored().position, Some(position_of(&all[6])));
}

#[tokio::test]
async fn a_closed_output_ends_the_run_normally_before_the_unsent_batch() {
    let all = rows(9);
    let sink = MemoryTarget::scripted(&[Answer::Durable], Answer::Closed);
    let setup = Setup::new(all.clone(), sink);
    let summary = setup.run().await.unwrap();
    assert!(summary.output_closed);
    assert_eq!(summary.rows, 3);
    assert_eq!(setup.stored().position, Some(position_of(&all[2])));
}

#[tokio::test]
async fn a_source_that_fails_midway_keeps_what_was_delivered_before() {
    let all = rows(10);
    let setup = Setup::new(all.clone(), MemoryTarget::answering(Answer::Durable));
    setup.source.fail_after(Some(7));
    let error = setup.run().await.unwrap_err();
    assert!(error.message().contains("failed after 7 rows"), "{error}");
    assert_eq!(setup.stored().position, Some(position_of(&all[5])));
    setup.source.fail_after(None);
    assert_eq!(setup.run().await.unwrap().rows, 4);
    assert_eq!(setup.delivered(), notes(1..=10));
}

#[tokio::test]
async fn a_cursor_that_cannot_be_saved_stops_the_run_before_the_next_batch() {
    let all = rows(10);
    let setup = Setup::new(all.clone(), MemoryTarget::answering(Answer::Durable));
    setup.store.fail_saves_after(1);
    assert!(setup.run().await.is_err());
    // Batch 2 was delivered but its save failed: nothing after it was sent, and the cursor
    // holds batch 1, so the next run sends batch 2 again (at most one batch twice).
    assert_eq!(setup.delivered(), notes(1..=6));
    assert_eq!(setup.stored().position, Some(position_of(&all[2])));
}

#[tokio::test]
async fn limit_caps_each_run_and_the_next_run_resumes_where_it_stopped() {
    let mut setup = Setup::new(rows(10), MemoryTarget::answering(Answer::Durable));
    setup.limit = Some(4);
    assert_eq!(setup.run().await.unwrap().rows, 4);
    assert_eq!(setup.run().await.unwrap().rows, 4);
    assert_eq!(setup.run().await.unwrap().rows, 2);
    assert_eq!(setup.delivered(), notes(1..=10));
    assert_eq!(setup.stored().total_rows, 10);
}

#[tokio::test]
async fn a_corrupt_cursor_stops_the_run_unless_it_is_reset() {
    let mut setup = Setup::new(rows(4), MemoryTarget::answering(Answer::Durable));
    setup.store = MemoryLocation::holding(b"{\"cursor\": ");
    let error = setup.run().await.unwrap_err();
    assert_eq!(error.exit_code(), exit::CONFIG);
    assert!(setup.delivered().is_empty());
    setup.reset_cursor = true;
    assert_eq!(setup.run().await.unwrap().rows, 4);
    assert_eq!(setup.delivered(), notes(1..=4));
}

#[tokio::test]
async fn a_cursor_of_another_provider_is_refused_and_reset_rebinds_it() {
    let mut setup = Setup::new(rows(6), MemoryTarget::answering(Answer::Durable));
    setup.provider_id = Some("odd".into());
    assert_eq!(setup.run().await.unwrap().rows, 3);
    assert_eq!(setup.delivered(), ["row 1", "row 3", "row 5"]);
    setup.provider_id = Some("even".into());
    let error = setup.run().await.unwrap_err();
    assert!(matches!(error, Error::CursorMismatch { .. }), "{error}");
    setup.reset_cursor = true;
    assert_eq!(setup.run().await.unwrap().rows, 3);
    assert_eq!(setup.stored().provider_id.as_deref(), Some("even"));
}

#[tokio::test]
async fn a_held_lock_stops_the_run_with_exit_3_before_anything_is_sent() {
    let setup = Setup::new(rows(3), MemoryTarget::answering(Answer::Durable));
    let _held = setup.store.open().await.unwrap();
    let error = setup.run().await.unwrap_err();
    assert_eq!(error.exit_code(), exit::LOCKED);
    assert!(setup.delivered().is_empty());
}

#[tokio::test]
async fn the_audit_resends_the_whole_bucket_of_a_late_row_and_then_agrees_with_the_source() {
    audit_resends_the_late_rows_bucket(1).await;
}

#[tokio::test]
async fn the_audit_stays_exact_when_the_export_before_it_had_batches_in_flight() {
    audit_resends_the_late_rows_bucket(4).await;
}

/// The audit test, with up to `in_flight` batches in flight in the main export (the audit
/// itself sends one at a time).
async fn audit_resends_the_late_rows_bucket(in_flight: usize) {
    // Rows in one minute bucket, 10 minutes ago, and one later row that moves the cursor on.
    let bucket_start = Timestamp::from_micros(
        (Timestamp::now().micros() - 10 * 60_000_000).div_euclid(60_000_000) * 60_000_000,
    );
    let at = |n: u32| Timestamp::from_micros(bucket_start.micros() + i64::from(n) * 1_000_000);
    let mut setup = Setup::new(
        vec![row(1, at(1)), row(2, at(3)), row(3, minutes_ago(2, 3))],
        MemoryTarget::answering(Answer::Durable).in_flight(in_flight),
    );
    setup.audit = AuditConfig {
        window: Duration::from_secs(3600),
        bucket: Duration::from_secs(60),
    };
    assert_eq!(setup.run().await.unwrap().rows, 3);
    // A row whose transaction committed late: inside the delivered range, behind the cursor.
    setup.source.insert([row(4, at(2))]);
    let summary = setup.run().await.unwrap();
    assert_eq!(summary.rows, 0);
    assert_eq!(summary.late.found, 1);
    assert_eq!(summary.late.delivered, 3, "the whole bucket is sent again");
    assert_eq!(
        setup.delivered()[3..],
        ["row 1", "row 4", "row 2"],
        "in (created_at, id) order"
    );
    // The bucket's fingerprint is now the source's: the next audit finds nothing.
    let summary = setup.run().await.unwrap();
    assert_eq!((summary.late.found, summary.late.delivered), (0, 0));
    // A row edited after delivery: same rows, a new change marker; its bucket is sent again
    // with the new values, once.
    let mut edited = row(2, at(3));
    edited.notes = Some("edited after delivery".into());
    setup.source.remove(edited.id);
    setup.source.insert([edited]);
    let summary = setup.run().await.unwrap();
    assert_eq!(
        (
            summary.late.found,
            summary.late.edited_buckets,
            summary.late.delivered
        ),
        (0, 1, 3)
    );
    assert_eq!(
        setup.delivered()[6..],
        ["row 1", "row 4", "edited after delivery"]
    );
    let summary = setup.run().await.unwrap();
    assert_eq!(summary.late.delivered, 0, "the edit is delivered once");
    // A deleted row is reported, not re-sent.
    setup.source.remove(row(4, at(2)).id);
    let summary = setup.run().await.unwrap();
    assert_eq!((summary.late.missing, summary.late.delivered), (1, 2));
}
