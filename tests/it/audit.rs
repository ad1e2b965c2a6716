//! The late-row audit: rows whose transaction commits after the cursor passed them, and rows
//! written with an application-side created_at in the past, are found and delivered.

use std::collections::BTreeSet;

use crate::helpers::pg::connect;
use crate::helpers::{Export, TestDb, ndjson_ids};

const INSERT_NOW: &str = "INSERT INTO provider_guardrail_followup (id, provider_id, action) \
                          VALUES (gen_random_uuid(), $1, 'pause') RETURNING id::text";

/// A row created `$2` seconds before its transaction's start (`now()`).
const INSERT_AGO: &str = "INSERT INTO provider_guardrail_followup (id, provider_id, action, created_at) \
                          VALUES (gen_random_uuid(), $1, 'pause', now() - make_interval(secs => $2)) \
                          RETURNING id::text";

fn exporter(dir: &std::path::Path, db: &TestDb) -> Export {
    Export::new(dir)
        .db(&db.url)
        .args(["--cursor-store", "file", "--log-format", "json"])
}

/// The `late_found` / `late_delivered` fields of a run's JSON summary.
fn late(stderr: &str) -> (u64, u64) {
    let summary = stderr
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| {
            v["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("exported"))
        })
        .unwrap_or_else(|| panic!("no summary in {stderr}"));
    (
        summary["late_found"].as_u64().unwrap(),
        summary["late_delivered"].as_u64().unwrap(),
    )
}

fn unique(ids: &[String]) -> BTreeSet<String> {
    ids.iter().cloned().collect()
}

#[tokio::test]
async fn a_transaction_open_longer_than_the_settle_window_is_delivered_after_it_commits() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let client = db.client().await;
    // Old rows, delivered by the first run.
    client
        .batch_execute(
            "INSERT INTO provider_guardrail_followup (id, provider_id, action, created_at)
             SELECT gen_random_uuid(), 'old', 'resume', now() - interval '2 hours' + make_interval(secs => i)
             FROM generate_series(1, 50) i",
        )
        .await
        .unwrap();
    // Settle 2 s. The rows are dated as if the transaction had opened 3.1 s ago and the
    // on-time rows had been committed 500 ms after it: by the first run, all are older than
    // the window while the transaction is still open. Holding back before open transactions is off
    // here, so the cursor really passes the open rows.
    let open = connect(&db.url).await;
    open.batch_execute("BEGIN").await.unwrap();
    let mut late_ids = Vec::new();
    for _ in 0..3 {
        late_ids.push(
            open.query_one(INSERT_AGO, &[&"late", &3.1f64])
                .await
                .unwrap()
                .get::<_, String>(0),
        );
    }
    for _ in 0..5 {
        client
            .query_one(INSERT_AGO, &[&"on-time", &2.6f64])
            .await
            .unwrap();
    }
    let run = || {
        exporter(dir.path(), &db)
            .settle(2)
            .args(["--hold-back-seconds", "0"])
    };
    let first = run().run().await;
    let first_ids = ndjson_ids(&first.assert_success().stdout);
    assert_eq!(first_ids.len(), 55, "the old rows and the on-time rows");
    assert!(
        late_ids.iter().all(|id| !first_ids.contains(id)),
        "the open rows were invisible"
    );
    // It commits with its rows dated more than the settle window before: behind the cursor.
    open.batch_execute("COMMIT").await.unwrap();

    let second = run().run().await;
    let second_ids = ndjson_ids(&second.assert_success().stdout);
    assert!(
        late_ids.iter().all(|id| second_ids.contains(id)),
        "the late rows are delivered: {second_ids:?}"
    );
    let (found, delivered) = late(&second.stderr);
    assert_eq!(found, 3);
    assert!(
        (3..=8).contains(&delivered),
        "only their bucket is sent again ({delivered} rows)"
    );
    let all: Vec<String> = [first_ids, second_ids].concat();
    assert_eq!(
        unique(&all),
        unique(&db.ordered_ids(None).await),
        "deduplicated, the delivered set is the source"
    );

    // Nothing more to find.
    let third = run().run().await;
    assert!(third.assert_success().stdout.is_empty());
    assert_eq!(late(&third.stderr), (0, 0));
}

#[tokio::test]
async fn a_row_written_with_a_created_at_an_hour_in_the_past_is_delivered() {
    let db = TestDb::new().await;
    db.insert_generated(300, 3, 2, &recent(3)).await;
    let dir = tempfile::tempdir().unwrap();
    let first = exporter(dir.path(), &db).run().await;
    let first_ids = ndjson_ids(&first.assert_success().stdout);
    assert_eq!(first_ids.len(), 300);

    // An application server with a slow clock, or a backfill, writes behind the cursor.
    let behind: String = db
        .client()
        .await
        .query_one(
            "INSERT INTO provider_guardrail_followup (id, provider_id, action, created_at)
             VALUES (gen_random_uuid(), 'provider-1', 'escalate', now() - interval '1 hour') RETURNING id::text",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let second = exporter(dir.path(), &db).run().await;
    let second_ids = ndjson_ids(&second.assert_success().stdout);
    assert!(second_ids.contains(&behind), "{second_ids:?}");
    assert_eq!(late(&second.stderr).0, 1);
    assert_eq!(
        unique(&[first_ids, second_ids].concat()),
        unique(&db.ordered_ids(None).await)
    );
}

#[tokio::test]
async fn runs_without_late_rows_deliver_nothing_again() {
    let db = TestDb::new().await;
    db.insert_generated(2000, 5, 7, &recent(10)).await;
    let dir = tempfile::tempdir().unwrap();
    let mut delivered = Vec::new();
    for _ in 0..4 {
        let out = exporter(dir.path(), &db)
            .args(["--limit", "700", "--batch-size", "100"])
            .run()
            .await;
        delivered.extend(ndjson_ids(&out.assert_success().stdout));
        assert_eq!(late(&out.stderr), (0, 0), "{}", out.stderr);
    }
    assert_eq!(
        delivered,
        db.ordered_ids(None).await,
        "each row exactly once"
    );
    let cursor: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("guardrail_followups_cursor.json")).unwrap(),
    )
    .unwrap();
    let buckets = cursor["audit"]["buckets"].as_array().unwrap();
    assert!(
        !buckets.is_empty() && buckets.len() <= 24 * 60,
        "bounded state: {} buckets",
        buckets.len()
    );
    let counted: u64 = buckets.iter().map(|b| b[1].as_u64().unwrap()).sum();
    assert_eq!(
        counted, 2000,
        "every delivered row is in the window's fingerprints"
    );
}

#[tokio::test]
async fn the_audit_starts_cleanly_from_a_legacy_cursor_and_survives_restarts() {
    let db = TestDb::new().await;
    db.insert_generated(100, 2, 1, &recent(5)).await;
    let dir = tempfile::tempdir().unwrap();
    let ids = db.ordered_ids(None).await;
    // A legacy cursor (the old script's format) halfway through the rows.
    let half: String = db
        .client()
        .await
        .query_one("SELECT to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"+00:00\"') FROM provider_guardrail_followup ORDER BY created_at, id OFFSET 50 LIMIT 1", &[])
        .await
        .unwrap()
        .get(0);
    std::fs::write(
        dir.path().join("guardrail_followups_cursor.json"),
        format!("{{\"cursor\": \"{half}\", \"rows\": 50}}"),
    )
    .unwrap();
    let first = exporter(dir.path(), &db).run().await;
    assert_eq!(
        ndjson_ids(&first.assert_success().stdout),
        ids[50..],
        "rows from the legacy cursor on, nothing older"
    );
    assert_eq!(
        late(&first.stderr),
        (0, 0),
        "rows before the legacy cursor are not audited: {}",
        first.stderr
    );

    // Restarted runs keep auditing: a late row after the legacy cursor is found.
    let late_id: String = db
        .client()
        .await
        .query_one(
            "INSERT INTO provider_guardrail_followup (id, provider_id, action, created_at)
             SELECT gen_random_uuid(), 'provider-0', 'pause', max(created_at) - interval '1 second' FROM provider_guardrail_followup
             RETURNING id::text",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let second = exporter(dir.path(), &db).run().await;
    assert!(ndjson_ids(&second.assert_success().stdout).contains(&late_id));
    assert_eq!(late(&second.stderr).0, 1);
    let third = exporter(dir.path(), &db).run().await;
    assert_eq!(late(&third.assert_success().stderr), (0, 0));
}

#[tokio::test]
async fn with_pg_stat_activity_visible_a_run_stops_before_an_open_transaction() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let client = db.client().await;
    let open = connect(&db.url).await;
    open.batch_execute("BEGIN").await.unwrap();
    let held: String = open.query_one(INSERT_NOW, &[&"held"]).await.unwrap().get(0);
    // Its transaction begins after the open one did, so `now()` dates it after the open
    // transaction's start (and after the held row): no need to wait for the clock to move.
    let after: String = client
        .query_one(INSERT_NOW, &[&"after"])
        .await
        .unwrap()
        .get(0);
    // Settle 0: only the hold-back keeps the run from passing the open transaction.
    let first = exporter(dir.path(), &db).run().await;
    let first_ids = ndjson_ids(&first.assert_success().stdout);
    assert!(
        !first_ids.contains(&after),
        "the run stopped before the open transaction's start"
    );
    open.batch_execute("COMMIT").await.unwrap();
    let second = exporter(dir.path(), &db).run().await;
    assert_eq!(
        ndjson_ids(&second.assert_success().stdout),
        [held, after],
        "in order, nothing late"
    );
    assert_eq!(late(&second.stderr), (0, 0));
}

/// A timestamp `minutes` ago, for rows inside the audit window.
fn recent(minutes: i64) -> String {
    let at = chrono::Utc::now() - chrono::Duration::minutes(minutes);
    at.format("%Y-%m-%d %H:%M:%S+00").to_string()
}

#[tokio::test]
async fn the_audit_works_with_the_file_sink_too() {
    let db = TestDb::new().await;
    db.insert_generated(300, 3, 2, &recent(3)).await;
    let dir = tempfile::tempdir().unwrap();
    let to_file =
        || exporter(dir.path(), &db).args(["--sink", "file", "--file-path", "out.ndjson"]);
    let file = || ndjson_ids(&std::fs::read_to_string(dir.path().join("out.ndjson")).unwrap());

    let first = to_file().run().await;
    assert_eq!(late(&first.assert_success().stderr), (0, 0));
    let first_ids = file();
    assert_eq!(
        first_ids,
        db.ordered_ids(None).await,
        "each row once, nothing sent again"
    );

    let behind: String = db
        .client()
        .await
        .query_one(
            "INSERT INTO provider_guardrail_followup (id, provider_id, action, created_at)
             VALUES (gen_random_uuid(), 'provider-2', 'pause', now() - interval '1 hour') RETURNING id::text",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let second = to_file().run().await;
    assert_eq!(late(&second.assert_success().stderr), (1, 1));
    assert_eq!(file(), [behind]);

    let third = to_file().run().await;
    assert_eq!(late(&third.assert_success().stderr), (0, 0));
    assert!(file().is_empty());
}

/// Sequential scans of the follow-up table so far, as PostgreSQL counts them once the
/// sessions that made them have ended (the table has no index: every read is one).
async fn table_scans(db: &TestDb, at_least: i64) -> i64 {
    let client = db.client().await;
    // A session's counts reach the shared statistics when it ends; the exporter's session ends
    // with its process, so the count is read until it has caught up (at most 10 s).
    let mut scans = 0;
    for _ in 0..100 {
        client
            .batch_execute("SELECT pg_stat_clear_snapshot()")
            .await
            .unwrap();
        scans = client
            .query_one(
                "SELECT coalesce(seq_scan, 0) FROM pg_stat_user_tables \
                 WHERE relname = 'provider_guardrail_followup'",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        if scans >= at_least {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    scans
}

#[tokio::test]
async fn a_run_that_finds_nothing_new_reads_the_table_once_and_a_busy_run_three_times() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let client = db.client().await;
    let insert = "INSERT INTO provider_guardrail_followup (id, provider_id, action, created_at)
                  SELECT gen_random_uuid(), 'p', 'pause', now() - interval '1 hour' + make_interval(secs => i)
                  FROM generate_series(1, 200) i";
    client.batch_execute(insert).await.unwrap();
    let run = || exporter(dir.path(), &db).args(["--sink", "file", "--file-path", "out.ndjson"]);
    run().run().await.assert_success();
    let first = table_scans(&db, 1).await;

    // Nothing new: the audit's scan also counts what waits after the cursor, and the main
    // query is not run.
    let idle = run().run().await;
    idle.assert_success();
    assert!(idle.stderr.contains("exported 0 rows"), "{}", idle.stderr);
    let after_idle = table_scans(&db, first + 1).await;
    assert_eq!(after_idle - first, 1, "an idle run reads the table once");

    // New rows: that first scan, the main query, and the audit's scan with the count after it.
    client
        .batch_execute(&insert.replace("interval '1 hour'", "interval '30 minutes'"))
        .await
        .unwrap();
    let busy = run().run().await;
    busy.assert_success();
    assert!(busy.stderr.contains("exported 200 rows"), "{}", busy.stderr);
    let after_busy = table_scans(&db, after_idle + 3).await;
    assert_eq!(
        after_busy - after_idle,
        3,
        "a run with new rows reads the table three times"
    );
}
