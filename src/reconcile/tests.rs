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

/// The `followUpId`s of lines a sink accepted, in order.
fn ids_of(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .map(|line| {
            serde_json::from_str::<serde_json::Value>(line).unwrap()["followUpId"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

fn set_modified(lake: &std::path::Path, key: &str, seconds: u64) {
    let file = std::fs::File::options()
        .write(true)
        .open(lake.join(key))
        .unwrap();
    file.set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(seconds))
        .unwrap();
}

fn counts(comparison: &Comparison) -> Vec<(String, [u64; 5])> {
    comparison
        .differing()
        .map(|(day, c)| {
            (
                day_name(day),
                [c.source, c.lake, c.missing, c.foreign, c.stale],
            )
        })
        .collect()
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
    let total = comparison.total();
    assert_eq!((comparison.days.len(), total.source, total.lake), (3, 5, 3));
    assert_eq!(
        comparison.lake_totals,
        LakeTotals {
            objects: 2,
            rows: 5,
            damaged: Vec::new(),
        }
    );
    assert_eq!(
        counts(comparison),
        [("2026-01-03".to_owned(), [2, 0, 2, 0, 0])]
    );

    let sink = MemoryTarget::answering(Answer::Durable);
    let repaired = run(&config(&source, dir.path(), Some(&sink)))
        .await
        .unwrap();
    let (before, delivered) = repaired.repair.unwrap();
    assert_eq!(before.differing().count(), 1);
    assert_eq!((delivered.rows, delivered.tombstones), (2, 0));
    assert_eq!(
        delivered
            .days
            .iter()
            .map(|d| day_name(*d))
            .collect::<Vec<_>>(),
        ["2026-01-03"]
    );
    assert_eq!(
        ids_of(&sink.accepted()),
        [rows[3].id.to_string(), rows[4].id.to_string()]
    );
    assert!(sink.finished());
}

#[tokio::test]
async fn an_edit_is_stale_and_only_the_edited_follow_up_is_delivered_again() {
    let rows = [
        row(1, "2026-01-01T10:00:00Z"),
        row(2, "2026-01-01T11:00:00Z"),
        row(3, "2026-01-01T12:00:00Z"),
    ];
    let source = MemorySource::default();
    source.insert(rows.clone());
    let dir = tempfile::tempdir().unwrap();
    object(dir.path(), "gf1-a", &rows);
    let mut edited = rows[1].clone();
    edited.notes = Some("edited after delivery".into());
    source.remove(edited.id);
    source.insert([edited.clone()]);

    let found = run(&config(&source, dir.path(), None)).await.unwrap();
    assert!(!found.matches());
    assert_eq!(
        counts(&found.comparison),
        [("2026-01-01".to_owned(), [3, 3, 0, 0, 1])]
    );
    let stale: Vec<_> = found.comparison.examples_of(Kind::Stale).collect();
    assert_eq!(stale.len(), 1);
    assert_eq!(stale[0].id, edited.id);
    let text = report::text(&found);
    assert!(
        text.contains(&format!(
            "stale (the lake's newest copy differs from the source): {} (2026-01-01)",
            edited.id
        )),
        "{text}"
    );
    let json = report::json(&found);
    assert_eq!(json["stale"], 1);
    assert_eq!(json["ids"]["stale"][0]["id"], edited.id.to_string());
    assert_eq!(json["differingDays"][0]["stale"], 1);

    let sink = MemoryTarget::answering(Answer::Durable);
    let repaired = run(&config(&source, dir.path(), Some(&sink)))
        .await
        .unwrap();
    let (_, delivered) = repaired.repair.unwrap();
    assert_eq!(delivered.rows, 1, "only the edited follow-up, not its day");
    let sent: serde_json::Value = serde_json::from_str(&sink.accepted()[0]).unwrap();
    assert_eq!(sent["notes"], "edited after delivery");
}

#[tokio::test]
async fn the_newest_copy_is_the_one_compared_as_in_the_merge() {
    let rows = [row(1, "2026-01-01T10:00:00Z")];
    let source = MemorySource::default();
    source.insert(rows.clone());
    let dir = tempfile::tempdir().unwrap();
    let mut old = rows[0].clone();
    old.notes = Some("before an edit".into());
    object(dir.path(), "gf1-a", &[old]);
    object(dir.path(), "gf1-b", &rows);
    let key = |name: &str| format!("guardrail_followups/dt=2026-01-01/{name}.ndjson");
    // The old copy modified last: it is what the warehouse keeps, so the follow-up is stale.
    set_modified(dir.path(), &key("gf1-a"), 2_000);
    set_modified(dir.path(), &key("gf1-b"), 1_000);
    let found = run(&config(&source, dir.path(), None)).await.unwrap();
    assert_eq!(found.comparison.total().stale, 1);
    // The current copy modified last; then, at the same time, the greater key wins.
    set_modified(dir.path(), &key("gf1-b"), 3_000);
    assert!(
        run(&config(&source, dir.path(), None))
            .await
            .unwrap()
            .matches()
    );
    set_modified(dir.path(), &key("gf1-a"), 3_000);
    assert!(
        run(&config(&source, dir.path(), None))
            .await
            .unwrap()
            .matches()
    );
}

#[tokio::test]
async fn a_row_the_source_no_longer_has_is_foreign_and_repair_sends_its_tombstone() {
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
    assert_eq!(
        counts(&found.comparison),
        [("2026-01-01".to_owned(), [1, 2, 0, 1, 0])]
    );
    let text = report::text(&found);
    let line = text.lines().nth(1).unwrap();
    assert_eq!(
        line.split_whitespace().collect::<Vec<_>>().join(" "),
        "2026-01-01 1 2 0 1 0"
    );
    assert!(
        text.contains("sends tombstones for the foreign ones"),
        "{text}"
    );

    let sink = MemoryTarget::answering(Answer::Durable);
    let repaired = run(&config(&source, dir.path(), Some(&sink)))
        .await
        .unwrap();
    let (_, delivered) = repaired.repair.as_ref().unwrap();
    assert_eq!((delivered.rows, delivered.tombstones), (0, 1));
    let sent = sink.accepted();
    let tombstone: crate::row::Tombstone = serde_json::from_str(&sent[0]).unwrap();
    assert_eq!(tombstone.follow_up_id, rows[1].id);
    assert_eq!(tombstone.created_at, rows[1].created_at);
    // The tombstone as the newest copy: the follow-up is gone from the lake's side too.
    let folder = dir.path().join("guardrail_followups/dt=2026-01-01");
    std::fs::write(folder.join("gf1-t.ndjson"), format!("{}\n", sent[0])).unwrap();
    let after = run(&config(&source, dir.path(), None)).await.unwrap();
    assert!(after.matches(), "{}", report::text(&after));
    assert_eq!(after.comparison.total().lake, 1);
}

#[tokio::test]
async fn a_follow_up_moved_out_of_the_range_gets_no_tombstone() {
    let mut moved = row(1, "2026-01-02T10:00:00Z");
    let source = MemorySource::default();
    let dir = tempfile::tempdir().unwrap();
    object(dir.path(), "gf1-a", std::slice::from_ref(&moved));
    // Its createdAt edited to a day before --since: foreign in the range, not deleted.
    moved.created_at = Timestamp::parse("2025-12-31T10:00:00Z").unwrap();
    source.insert([moved.clone()]);
    let sink = MemoryTarget::answering(Answer::Durable);
    let mut config = config(&source, dir.path(), Some(&sink));
    config.range.since = Some(Timestamp::parse("2026-01-01T00:00:00Z").unwrap());
    let repaired = run(&config).await.unwrap();
    let (before, delivered) = repaired.repair.as_ref().unwrap();
    assert_eq!(before.total().foreign, 1);
    assert_eq!((delivered.tombstones, delivered.moved), (0, 1));
    assert!(sink.accepted().is_empty());
}

#[tokio::test]
async fn a_quarantine_that_cannot_be_written_fails_naming_the_fix_and_leaves_the_object() {
    let rows = [row(1, "2026-01-01T10:00:00Z")];
    let source = MemorySource::default();
    source.insert(rows.clone());
    let dir = tempfile::tempdir().unwrap();
    object(dir.path(), "gf1-x", &rows);
    let path = dir
        .path()
        .join("guardrail_followups/dt=2026-01-01/gf1-x.ndjson");
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str("not a row\n");
    std::fs::write(&path, text).unwrap();
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
    assert!(path.is_file());
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
async fn rows_of_a_damaged_object_outside_the_range_are_delivered_again_too() {
    let rows = [
        row(1, "2026-01-01T23:00:00Z"),
        row(2, "2026-01-02T01:00:00Z"),
    ];
    let source = MemorySource::default();
    source.insert(rows.clone());
    let dir = tempfile::tempdir().unwrap();
    object(dir.path(), "gf1-a", &rows);
    let path = dir
        .path()
        .join("guardrail_followups/dt=2026-01-01/gf1-a.ndjson");
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str("{\"cut off");
    std::fs::write(&path, text).unwrap();
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
    let mut ids = ids_of(&sink.accepted());
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
