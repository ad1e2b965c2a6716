//! The settle window: a row whose transaction began before a run and committed after it is
//! still delivered by a later run — and without the window, it is lost.

use crate::helpers::pg::connect;
use crate::helpers::{Export, TestDb, ndjson_ids};

/// A row created `$2` seconds before its transaction's start (`now()`).
const INSERT_AGO: &str = "INSERT INTO provider_guardrail_followup (id, provider_id, action, created_at) VALUES (gen_random_uuid(), $1, 'pause', now() - make_interval(secs => $2)) RETURNING id::text";

/// Older committed rows, then a transaction left open holding the "late" row, then a newer row
/// committed by another session: the late row is dated 300 ms before the newer one (as if
/// inserted 300 ms earlier), both a moment ago. Returns (open transaction's client, late id).
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
        .query_one(INSERT_AGO, &[&"provider-late", &0.3f64])
        .await
        .unwrap()
        .get(0);
    client
        .query_one(INSERT_AGO, &[&"provider-new", &0.0f64])
        .await
        .unwrap();
    (open, late)
}

/// Ages the late and the newer row by `seconds`, as that much time passing would: the database
/// clock's `now()` minus `created_at` is all the settle window looks at.
async fn age_recent_rows(db: &TestDb, seconds: f64) {
    db.client()
        .await
        .execute(
            "UPDATE provider_guardrail_followup SET created_at = created_at - make_interval(secs => $1)
             WHERE provider_id IN ('provider-late', 'provider-new')",
            &[&seconds],
        )
        .await
        .unwrap();
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
    // 3.5 s later, both rows are older than the 3 s window.
    age_recent_rows(&db, 3.5).await;
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
