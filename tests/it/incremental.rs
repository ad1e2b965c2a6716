//! Exactness: many runs with a small limit deliver every row once, in `(created_at, id)` order,
//! even when thousands of rows share their timestamp.

use crate::helpers::{Export, TestDb, ndjson_ids};

/// Runs the export with `args` until a run delivers nothing; returns every id delivered.
async fn drain(db: &TestDb, dir: &std::path::Path, args: &[&str]) -> (Vec<String>, usize) {
    let mut delivered = Vec::new();
    let mut runs = 0;
    loop {
        let out = Export::new(dir)
            .db(&db.url)
            .args([
                "--cursor-store",
                "file",
                "--cursor-store-path",
                "cursor.json",
            ])
            .args(args)
            .run()
            .await;
        out.assert_success();
        runs += 1;
        let ids = ndjson_ids(&out.stdout);
        if ids.is_empty() {
            return (delivered, runs);
        }
        delivered.extend(ids);
        assert!(runs < 500, "the drain does not end");
    }
}

#[tokio::test]
async fn a_small_limit_over_many_runs_delivers_every_row_once_in_order() {
    let db = TestDb::new().await;
    // 3,000 rows in groups of 40 that share one exact created_at.
    db.insert_generated(3000, 7, 40, "2026-01-22 04:00:00+00")
        .await;
    let dir = tempfile::tempdir().unwrap();
    let (delivered, runs) = drain(&db, dir.path(), &["--limit", "97", "--batch-size", "10"]).await;
    assert_eq!(delivered, db.ordered_ids(None).await);
    assert_eq!(runs, 3000usize.div_ceil(97) + 1);
}

#[tokio::test]
async fn a_provider_filter_drains_exactly_that_providers_rows() {
    let db = TestDb::new().await;
    db.insert_generated(3000, 7, 40, "2026-01-22 04:00:00+00")
        .await;
    let dir = tempfile::tempdir().unwrap();
    let (delivered, _) = drain(
        &db,
        dir.path(),
        &["--limit", "37", "--provider-id", "provider-3"],
    )
    .await;
    let expected = db.ordered_ids(Some("provider-3")).await;
    assert_eq!(expected.len(), 429);
    assert_eq!(delivered, expected);
}

#[tokio::test]
async fn rows_added_between_runs_are_picked_up_after_the_cursor() {
    let db = TestDb::new().await;
    db.insert_generated(50, 3, 5, "2026-01-22 04:00:00+00")
        .await;
    let dir = tempfile::tempdir().unwrap();
    let (first, _) = drain(&db, dir.path(), &[]).await;
    assert_eq!(first.len(), 50);
    // Later rows, the first ones one second after the last delivered row.
    db.insert_generated(20, 3, 10, "2026-01-22 04:00:10+00")
        .await;
    let (second, _) = drain(&db, dir.path(), &[]).await;
    let all = db.ordered_ids(None).await;
    assert_eq!([first, second].concat(), all);
}
