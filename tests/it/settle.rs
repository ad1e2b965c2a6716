//! The settle window: a row whose transaction began before a run and committed after it is
//! still delivered by a later run — and without the window, it is lost.

use std::time::Duration;

use crate::helpers::pg::connect;
use crate::helpers::{Export, TestDb, ndjson_ids};

const INSERT_NOW: &str = "INSERT INTO provider_guardrail_followup (id, provider_id, action) VALUES (gen_random_uuid(), $1, 'pause') RETURNING id::text";

/// Older committed rows, then a transaction left open holding the "late" row, then a newer row
/// committed by another session. Returns (open transaction's client, late id).
async fn scenario(db: &TestDb) -> (tokio_postgres::Client, String) {
    let client = db.client().await;
    client
        .batch_execute(
            "INSERT INTO provider_guardrail_followup (id, provider_id, action, created_at)
             SELECT gen_random_uuid(), 'provider-old', 'resume', now() - interval '1 hour' + make_interval(secs => i)
             FROM generate_series(1, 20) i",
        )
        .await
        .unwrap();
    let open = connect(&db.url).await;
    open.batch_execute("BEGIN").await.unwrap();
    let late: String = open
        .query_one(INSERT_NOW, &[&"provider-late"])
        .await
        .unwrap()
        .get(0);
    tokio::time::sleep(Duration::from_millis(300)).await;
    client
        .query_one(INSERT_NOW, &[&"provider-new"])
        .await
        .unwrap();
    (open, late)
}

#[tokio::test]
async fn a_transaction_open_across_a_run_is_delivered_by_a_later_run() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let (open, late) = scenario(&db).await;
    let export = || {
        Export::new(dir.path()).db(&db.url).settle(3).args([
            "--cursor-store",
            "file",
            "--hold-back-seconds",
            "0",
        ])
    };

    // While the transaction is open, the run stops before the window: only the old rows.
    let first = ndjson_ids(&export().run().await.assert_success().stdout);
    assert_eq!(first.len(), 20);
    assert!(!first.contains(&late));

    open.batch_execute("COMMIT").await.unwrap();
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let second = ndjson_ids(&export().run().await.assert_success().stdout);
    assert_eq!(second.len(), 2, "the late row and the newer one");
    assert_eq!(second[0], late, "the late row comes first: it is older");
    assert_eq!([first, second].concat(), db.ordered_ids(None).await);
}

#[tokio::test]
async fn without_a_settle_window_the_late_row_is_lost() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let (open, late) = scenario(&db).await;
    // The late-row audit and the hold-back before open transactions would also close this
    // blind spot; both are off here to show what the settle window alone protects against.
    let export = || {
        Export::new(dir.path()).db(&db.url).settle(0).args([
            "--cursor-store",
            "file",
            "--audit-window-seconds",
            "0",
            "--hold-back-seconds",
            "0",
        ])
    };

    // The newer row is visible, so the cursor moves past the late row's timestamp…
    let first = ndjson_ids(&export().run().await.assert_success().stdout);
    assert_eq!(first.len(), 21);
    open.batch_execute("COMMIT").await.unwrap();
    // …and once it commits, it is behind the cursor: no later run sees it.
    let second = ndjson_ids(&export().run().await.assert_success().stdout);
    assert!(second.is_empty());
    assert!(db.ordered_ids(None).await.contains(&late));
    assert!(
        !first.contains(&late),
        "this is the blind spot the settle window closes"
    );
}
