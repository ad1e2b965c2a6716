//! The reconcile run on the in-memory source and sink, with a lake folder written here.

use std::sync::Arc;

use super::*;
use crate::export::sink::memory::{Answer, MemoryTarget};
use crate::export::source::memory::MemorySource;
use crate::row::{FollowUp, SourceRow};

fn row(n: u128, at: &str) -> SourceRow {
    SourceRow {
        notes: Some(format!("note {n}")),
        ..SourceRow::new(
            uuid::Uuid::from_u128(n << 64 | n),
            "provider-1",
            "pause",
            Timestamp::parse(at).unwrap(),
        )
    }
}

/// Writes `rows` as one batch object of the lake, dated by the first row.
fn object(lake: &std::path::Path, name: &str, rows: &[SourceRow]) {
    let dt = rows[0]
        .created_at
        .to_datetime()
        .format("%Y-%m-%d")
        .to_string();
    let folder = lake.join(format!("guardrail_followups/dt={dt}"));
    std::fs::create_dir_all(&folder).unwrap();
    let mut ndjson = String::new();
    for row in rows {
        ndjson += &serde_json::to_string(&FollowUp::from_source(row.clone()).0).unwrap();
        ndjson.push('\n');
    }
    std::fs::write(folder.join(format!("{name}.ndjson")), ndjson).unwrap();
}

fn config(
    source: &MemorySource,
    lake: &std::path::Path,
    sink: Option<&MemoryTarget>,
) -> ReconcileConfig {
    ReconcileConfig {
        source: Arc::new(source.clone()),
        lake: LakeUri::Local(lake.to_owned()),
        s3: S3Options::default(),
        range: Range::default(),
        repair: sink.map(|sink| RepairConfig {
            sink: Arc::new(sink.clone()),
            sink_name: "memory".into(),
            batch_size: 2,
        }),
        progress: false,
    }
}

#[tokio::test]
async fn copies_count_once_and_the_missing_day_is_delivered_again_without_a_cursor() {
    let rows = [
        row(1, "2026-01-01T10:00:00Z"),
        row(2, "2026-01-01T23:59:59Z"),
        row(3, "2026-01-02T00:00:01Z"),
        row(4, "2026-01-03T08:00:00Z"),
        row(5, "2026-01-03T09:00:00Z"),
    ];
    let source = MemorySource::default();
    source.insert(rows.clone());
    let dir = tempfile::tempdir().unwrap();
    // A batch straddling midnight, filed under its first day, and a resend with other bounds.
    object(dir.path(), "gf1-a", &rows[..3]);
    object(dir.path(), "gf1-b", &rows[1..3]);

    let found = run(&config(&source, dir.path(), None)).await.unwrap();
    let comparison = &found.comparison;
    assert_eq!(
        (
            comparison.days,
            comparison.source_rows,
            comparison.lake_rows
        ),
        (3, 5, 3)
    );
    assert_eq!(
        comparison.lake_totals,
        LakeTotals {
            objects: 2,
            rows: 5,
            damaged: Vec::new(),
        }
    );
    let differing: Vec<_> = comparison
        .differing
        .iter()
        .map(|d| (day_name(d.day), d.kind()))
        .collect();
    assert_eq!(differing, [("2026-01-03".to_owned(), Kind::Missing(2))]);

    let sink = MemoryTarget::answering(Answer::Durable);
    let repaired = run(&config(&source, dir.path(), Some(&sink)))
        .await
        .unwrap();
    let (before, delivered) = repaired.repair.unwrap();
    assert_eq!(before.differing.len(), 1);
    assert_eq!(delivered.rows, 2);
    assert_eq!(
        delivered
            .days
            .iter()
            .map(|d| day_name(*d))
            .collect::<Vec<_>>(),
        ["2026-01-03"]
    );
    let ids: Vec<String> = sink
        .accepted()
        .iter()
        .map(|line| {
            serde_json::from_str::<serde_json::Value>(line).unwrap()["followUpId"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(ids, [rows[3].id.to_string(), rows[4].id.to_string()]);
    assert!(sink.finished());
}

#[tokio::test]
async fn a_row_the_source_no_longer_has_is_reported_as_foreign() {
    let rows = [
        row(1, "2026-01-01T10:00:00Z"),
        row(2, "2026-01-01T11:00:00Z"),
    ];
    let source = MemorySource::default();
    source.insert(rows.clone());
    let dir = tempfile::tempdir().unwrap();
    object(dir.path(), "gf1-a", &rows);
    source.remove(rows[1].id);
    let found = run(&config(&source, dir.path(), None)).await.unwrap();
    assert!(!found.matches());
    assert_eq!(found.comparison.differing[0].kind(), Kind::Foreign(1));
    let text = report::text(&found);
    let line = text.lines().nth(1).unwrap();
    assert_eq!(
        line.split_whitespace().collect::<Vec<_>>().join(" "),
        "2026-01-01 1 2 1 in the lake but not in the source"
    );
    assert!(
        text.contains("--repair moves the objects holding them out of the lake"),
        "{text}"
    );
}

#[tokio::test]
async fn repair_moves_the_objects_holding_foreign_rows_and_delivers_their_other_rows_again() {
    let rows = [
        row(1, "2026-01-01T10:00:00Z"),
        row(2, "2026-01-01T11:00:00Z"),
        row(3, "2026-01-02T09:00:00Z"),
        row(4, "2026-01-03T09:00:00Z"),
    ];
    let foreign = row(9, "2026-01-02T10:00:00Z");
    let source = MemorySource::default();
    source.insert(rows.clone());
    let dir = tempfile::tempdir().unwrap();
    // A batch reaching into the next day, with a foreign row appended; the last day intact.
    object(
        dir.path(),
        "gf1-a",
        &[rows[0].clone(), rows[1].clone(), rows[2].clone(), foreign],
    );
    object(dir.path(), "gf1-b", &rows[3..]);

    let found = run(&config(&source, dir.path(), None)).await.unwrap();
    assert_eq!(found.comparison.differing[0].kind(), Kind::Foreign(1));
    assert!(
        dir.path()
            .join("guardrail_followups/dt=2026-01-01/gf1-a.ndjson")
            .exists()
    );

    let sink = MemoryTarget::answering(Answer::Durable);
    let repaired = run(&config(&source, dir.path(), Some(&sink)))
        .await
        .unwrap();
    let (_, delivered) = repaired.repair.as_ref().unwrap();
    let quarantine = &delivered.quarantine;
    assert_eq!(
        quarantine.objects,
        [(
            "guardrail_followups/dt=2026-01-01/gf1-a.ndjson".to_owned(),
            "guardrail_followups_quarantine/dt=2026-01-01/gf1-a.ndjson.quarantined".to_owned()
        )]
    );
    assert_eq!(quarantine.foreign_ids, [row(9, "2026-01-02T10:00:00Z").id]);
    assert_eq!(quarantine.foreign_count, 1);
    assert!(
        !dir.path()
            .join("guardrail_followups/dt=2026-01-01/gf1-a.ndjson")
            .exists()
    );
    assert!(
        dir.path()
            .join("guardrail_followups_quarantine/dt=2026-01-01/gf1-a.ndjson.quarantined")
            .exists()
    );
    // The moved object's other rows, of two days, went to the sink before it moved (and again
    // after it: this memory sink does not write the lake, so they are still missing there).
    assert_eq!(
        delivered
            .days
            .iter()
            .map(|d| day_name(*d))
            .collect::<Vec<_>>(),
        ["2026-01-01", "2026-01-02"]
    );
    assert_eq!(delivered.rows, 6);
    assert!(
        sink.finished(),
        "one sink for the whole repair, finished once"
    );
    let text = report::text(&repaired);
    assert!(
        text.contains("moved 1 lake object holding 1 follow-up the source does not have"),
        "{text}"
    );
    assert!(
        text.contains(&format!("'{}'", quarantine.foreign_ids[0])),
        "{text}"
    );
    let json = report::json(&repaired);
    assert_eq!(json["repair"]["foreignCount"], 1);
    assert_eq!(
        json["repair"]["quarantined"][0]["to"],
        "guardrail_followups_quarantine/dt=2026-01-01/gf1-a.ndjson.quarantined"
    );
}

#[tokio::test]
async fn without_repair_nothing_is_moved_and_an_object_of_foreign_rows_alone_just_goes() {
    let rows = [row(1, "2026-01-01T10:00:00Z")];
    let source = MemorySource::default();
    source.insert(rows.clone());
    let dir = tempfile::tempdir().unwrap();
    object(dir.path(), "gf1-a", &rows);
    object(dir.path(), "gf1-x", &[row(7, "2026-01-01T12:00:00Z")]);
    let found = run(&config(&source, dir.path(), None)).await.unwrap();
    assert!(!found.matches());
    assert!(
        dir.path()
            .join("guardrail_followups/dt=2026-01-01/gf1-x.ndjson")
            .exists()
    );

    let sink = MemoryTarget::answering(Answer::Durable);
    let repaired = run(&config(&source, dir.path(), Some(&sink)))
        .await
        .unwrap();
    assert!(repaired.matches(), "{}", report::text(&repaired));
    let (_, delivered) = repaired.repair.unwrap();
    assert_eq!(delivered.quarantine.objects.len(), 1);
    assert_eq!(
        delivered.rows, 1,
        "the moved object's day was delivered before it moved, and nothing after"
    );
    assert!(
        dir.path()
            .join("guardrail_followups/dt=2026-01-01/gf1-a.ndjson")
            .exists()
    );
}

#[tokio::test]
async fn a_quarantine_that_cannot_be_written_fails_naming_the_fix_and_leaves_the_object() {
    let rows = [row(1, "2026-01-01T10:00:00Z")];
    let source = MemorySource::default();
    source.insert(rows.clone());
    let dir = tempfile::tempdir().unwrap();
    object(
        dir.path(),
        "gf1-x",
        &[rows[0].clone(), row(7, "2026-01-01T12:00:00Z")],
    );
    // A file where the quarantine folder would go: the move cannot happen, even as root.
    std::fs::write(dir.path().join("guardrail_followups_quarantine"), "").unwrap();
    let sink = MemoryTarget::answering(Answer::Durable);
    let error = run(&config(&source, dir.path(), Some(&sink)))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error
            .contains("cannot move the lake object guardrail_followups/dt=2026-01-01/gf1-x.ndjson"),
        "{error}"
    );
    assert!(
        error.contains("--repair needs write access to the lake"),
        "{error}"
    );
    assert!(
        dir.path()
            .join("guardrail_followups/dt=2026-01-01/gf1-x.ndjson")
            .is_file()
    );
    // Its day was delivered before the move was tried: a rerun once the lake is writable
    // loses nothing.
    assert_eq!(
        sink.accepted().len(),
        1,
        "the object's day delivered before the move"
    );
    assert!(!sink.finished(), "a failed repair does not finish its sink");
}

#[tokio::test]
async fn rows_of_a_moved_object_outside_the_range_are_delivered_again_too() {
    let rows = [
        row(1, "2026-01-01T23:00:00Z"),
        row(2, "2026-01-02T01:00:00Z"),
    ];
    let source = MemorySource::default();
    source.insert(rows.clone());
    let dir = tempfile::tempdir().unwrap();
    object(
        dir.path(),
        "gf1-a",
        &[
            rows[0].clone(),
            rows[1].clone(),
            row(7, "2026-01-02T02:00:00Z"),
        ],
    );
    let sink = MemoryTarget::answering(Answer::Durable);
    let mut config = config(&source, dir.path(), Some(&sink));
    config.range.since = Some(Timestamp::parse("2026-01-02T00:00:00Z").unwrap());
    let repaired = run(&config).await.unwrap();
    let (_, delivered) = repaired.repair.unwrap();
    assert_eq!(delivered.quarantine.objects.len(), 1);
    assert_eq!(
        delivered
            .days
            .iter()
            .map(|d| day_name(*d))
            .collect::<Vec<_>>(),
        ["2026-01-01", "2026-01-02"],
        "the day before --since lost a row with the object"
    );
    let mut ids: Vec<String> = sink
        .accepted()
        .iter()
        .map(|line| {
            serde_json::from_str::<serde_json::Value>(line).unwrap()["followUpId"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    ids.sort();
    ids.dedup();
    let mut expected = vec![rows[0].id.to_string(), rows[1].id.to_string()];
    expected.sort();
    assert_eq!(ids, expected);
}

#[tokio::test]
async fn a_large_object_is_read_in_parts_and_counted_once() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    // Well over the size read whole: 40,000 rows repeated to about 12 MB.
    let rows: Vec<SourceRow> = (1..=40_000)
        .map(|n| row(n, "2026-01-02T10:00:00Z"))
        .collect();
    object(&lake, "gf1-large", &rows);
    let path = lake.join("guardrail_followups/dt=2026-01-02/gf1-large.ndjson");
    let once = std::fs::read(&path).unwrap();
    let times = (12 * 1024 * 1024) / once.len() + 1;
    std::fs::write(&path, once.repeat(times)).unwrap();
    object(&lake, "gf1-small", &rows[..10]);
    let source = MemorySource::default();
    source.insert(rows);
    let outcome = run(&config(&source, &lake, None)).await.unwrap();
    assert!(outcome.matches(), "{outcome:?}");
    assert_eq!(outcome.comparison.lake_totals.objects, 2);
    assert_eq!(
        outcome.comparison.lake_totals.rows,
        40_000 * times as u64 + 10
    );
}

#[tokio::test]
async fn a_table_folder_that_is_a_link_is_neither_read_nor_followed_by_a_repair() {
    let dir = tempfile::tempdir().unwrap();
    let outside = dir.path().join("elsewhere");
    let rows = [row(1, "2026-01-02T10:00:00Z")];
    object(&outside, "gf1-a", &rows);
    let lake = dir.path().join("lake");
    std::fs::create_dir_all(&lake).unwrap();
    std::os::unix::fs::symlink(
        outside.join("guardrail_followups"),
        lake.join("guardrail_followups"),
    )
    .unwrap();
    let source = MemorySource::default();
    source.insert(rows);
    let found = run(&config(&source, &lake, None)).await.unwrap();
    assert!(!found.matches());
    assert_eq!(
        found.comparison.lake_totals.objects, 0,
        "nothing read through it"
    );
    assert_eq!(
        found.comparison.lake_totals.damaged[0].key,
        "guardrail_followups"
    );

    let sink = MemoryTarget::answering(Answer::Durable);
    run(&config(&source, &lake, Some(&sink))).await.unwrap();
    assert!(
        outside
            .join("guardrail_followups/dt=2026-01-02/gf1-a.ndjson")
            .is_file(),
        "the folder outside the lake is untouched"
    );
    assert!(
        std::fs::symlink_metadata(
            lake.join("guardrail_followups_quarantine/guardrail_followups.quarantined")
        )
        .unwrap()
        .file_type()
        .is_symlink()
    );
}
