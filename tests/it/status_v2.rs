//! The status JSON v2 (`--status-path`) after successful and failed runs: how each run ended,
//! what a failed run keeps from the last success, the history of runs, what holds rows back —
//! and the ops page's card reading it, in Chromium.

use chrono::{DateTime, Utc};
use guardrail_followups::time::Timestamp;
use serde_json::{Value, json};

use crate::admin::admin_process;
use crate::helpers::admin_server::PASSWORD;
use crate::helpers::browser::Browser;
use crate::helpers::pg::connect;
use crate::helpers::server::ClosedPort;
use crate::helpers::{Export, TestDb, ndjson_ids};

fn read(path: &std::path::Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).expect("the status was written")).unwrap()
}

/// `(outcome, rows, lateRows)` of each run in `history`.
fn runs(status: &Value) -> Vec<(String, u64, u64)> {
    status["history"]
        .as_array()
        .expect("history is an array")
        .iter()
        .map(|run| {
            (
                run["outcome"].as_str().unwrap().to_owned(),
                run["rows"].as_u64().unwrap(),
                run["lateRows"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// The marks of the card's strip of runs, the oldest first.
async fn strip(browser: &Browser) -> Vec<String> {
    let mut marks = Vec::new();
    for cell in browser
        .client
        .find_all(fantoccini::Locator::Css("#run-history li"))
        .await
        .unwrap()
    {
        marks.push(cell.text().await.unwrap());
    }
    marks
}

#[tokio::test]
async fn a_failed_run_writes_its_scrubbed_error_and_keeps_the_last_success() {
    let db = TestDb::new().await;
    db.insert_generated(100, 2, 1, "2026-01-22 04:00:00+00")
        .await;
    let dir = tempfile::tempdir().unwrap();
    let status_path = dir.path().join("out/status.json");
    let export = || {
        Export::new(dir.path()).db(&db.url).args([
            "--cursor-store",
            "file",
            "--status-path",
            status_path.to_str().unwrap(),
            "--workflow-url",
            "https://github.com/acme/app/actions/runs/42",
        ])
    };
    // The ops page reads the same status.
    let admin = admin_process(
        dir.path(),
        &[
            ("GUARDRAIL_EXPORT_STATUS_URL", status_path.to_str().unwrap()),
            ("GUARDRAIL_ADMIN_STATUS_CACHE_SECONDS", "0"),
        ],
    )
    .await;
    let browser = Browser::start().await;

    let out = export().args(["--limit", "70"]).run().await;
    let first = ndjson_ids(&out.assert_success().stdout);
    assert_eq!(first.len(), 70);
    let ok = read(&status_path);
    assert_eq!(ok["version"], 2);
    assert_eq!(ok["outcome"], "success");
    assert_eq!(ok["error"], Value::Null);
    assert_eq!(ok["rows"], 70);
    assert_eq!(ok["lateRows"], 0);
    assert_eq!(ok["totalRows"], 70);
    assert_eq!(ok["pendingRows"], 30, "the rows beyond --limit");
    assert_eq!(ok["lastSuccessAt"], ok["updatedAt"]);
    assert_eq!(ok["cursorId"], first.last().unwrap().as_str());
    assert!(ok["durationSeconds"].as_f64().unwrap() >= 0.0);
    let started = ok["startedAt"].as_str().unwrap();
    assert!(
        started.ends_with('Z') && started <= ok["updatedAt"].as_str().unwrap(),
        "{started}"
    );
    assert_eq!(runs(&ok), [("success".into(), 70, 0)]);

    // The webhook cannot be reached (and its URL holds a password).
    let closed = ClosedPort::new();
    let url = format!(
        "http://exporter:hunter2-secret@127.0.0.1:{}/ingest",
        closed.port
    );
    let out = export()
        .args(["--sink", "webhook", "--webhook-url", &url])
        .args(["--webhook-max-attempts", "1"])
        .run()
        .await;
    assert_eq!(out.code, 1, "{}", out.stderr);
    let failed = read(&status_path);
    assert_eq!(failed["version"], 2);
    assert_eq!(failed["outcome"], "failed");
    let error = failed["error"].as_str().expect("the error is written");
    assert!(!error.is_empty());
    assert!(!error.contains("hunter2"), "{error}");
    assert!(
        out.stderr.contains(error),
        "the same line as the log:\n{error}\n{}",
        out.stderr
    );
    assert_eq!(failed["rows"], 0);
    assert_eq!(failed["pendingRows"], Value::Null);
    for kept in ["cursor", "cursorId", "totalRows", "lastSuccessAt"] {
        assert_eq!(failed[kept], ok[kept], "{kept} kept from the success");
    }
    assert_ne!(failed["updatedAt"], ok["updatedAt"]);
    assert_eq!(
        runs(&failed),
        [("success".into(), 70, 0), ("failed".into(), 0, 0)]
    );
    assert_eq!(failed["history"][0], ok["history"][0]);
    browser.sign_in(&admin.base, PASSWORD).await;
    assert_eq!(browser.text("#health").await, "Failing");
    assert_eq!(browser.text("#failure-error").await, error);
    assert_eq!(
        browser
            .element("#runbook-link")
            .await
            .attr("href")
            .await
            .unwrap()
            .as_deref(),
        Some("https://github.com/acme/app/blob/HEAD/docs/runbook.md#when-a-run-fails")
    );
    assert_eq!(strip(&browser).await, ["✓", "✗"]);

    // The next run succeeds again: the rest of the rows, and a history of three runs.
    let out = export().run().await;
    let rest = ndjson_ids(&out.assert_success().stdout);
    assert_eq!(rest.len(), 30);
    let again = read(&status_path);
    assert_eq!(again["outcome"], "success");
    assert_eq!(again["error"], Value::Null);
    assert_eq!(again["rows"], 30);
    assert_eq!(again["totalRows"], 100);
    assert_eq!(again["pendingRows"], 0);
    assert_eq!(again["lastSuccessAt"], again["updatedAt"]);
    assert_ne!(again["lastSuccessAt"], ok["lastSuccessAt"]);
    assert_eq!(again["cursorId"], rest.last().unwrap().as_str());
    assert_eq!(
        runs(&again),
        [
            ("success".into(), 70, 0),
            ("failed".into(), 0, 0),
            ("success".into(), 30, 0)
        ]
    );
    assert_eq!(again["history"][1], failed["history"][1]);
    let history = again["history"].as_array().unwrap();
    assert_eq!(history[2]["startedAt"], again["startedAt"]);
    assert_eq!(history[2]["durationSeconds"], again["durationSeconds"]);
    assert!(history[0]["startedAt"].as_str() < history[1]["startedAt"].as_str());
    assert!(history[1]["startedAt"].as_str() < history[2]["startedAt"].as_str());
    browser.goto(&format!("{}/admin/reports", admin.base)).await;
    assert_eq!(browser.text("#health").await, "Healthy");
    assert!(!browser.is_present("#failure").await);
    assert_eq!(strip(&browser).await, ["✓", "✗", "✓"]);
    browser.close().await;
    // The admin page still reads it as a v1 status.
    let read = guardrail_followups::status::Status::parse(&std::fs::read(&status_path).unwrap())
        .expect("the admin page reads the status");
    assert_eq!(read.rows.value(), Some(&30));
}

#[tokio::test]
async fn rows_held_back_by_an_open_transaction_are_named_by_the_summary_the_status_and_the_card() {
    let db = TestDb::new().await;
    db.insert_generated(20, 1, 1, "2026-01-22 04:00:00+00")
        .await;
    // A transaction left open; then 50 rows committed by another session after it began. A
    // row it may still commit would be dated before them, so the export stops before them.
    let open = connect(&db.url).await;
    open.batch_execute("BEGIN").await.unwrap();
    let began = open
        .query_one("SELECT pg_backend_pid(), now()", &[])
        .await
        .unwrap();
    let (pid, since): (i32, DateTime<Utc>) = (began.get(0), began.get(1));
    let since = Timestamp::from_micros(since.timestamp_micros()).to_string();
    db.client()
        .await
        .batch_execute(
            "INSERT INTO provider_guardrail_followup (id, provider_id, action, created_at)
             SELECT gen_random_uuid(), 'provider-new', 'pause', now() + make_interval(secs => i / 1000.0)
             FROM generate_series(1, 50) i",
        )
        .await
        .unwrap();
    let oldest: DateTime<Utc> = db
        .client()
        .await
        .query_one(
            "SELECT min(created_at) FROM provider_guardrail_followup WHERE provider_id = 'provider-new'",
            &[],
        )
        .await
        .unwrap()
        .get(0);

    let dir = tempfile::tempdir().unwrap();
    let status_path = dir.path().join("status.json");
    let export = || {
        Export::new(dir.path()).db(&db.url).settle(0).args([
            "--cursor-store",
            "file",
            "--status-path",
            status_path.to_str().unwrap(),
        ])
    };
    let out = export().run().await;
    assert_eq!(ndjson_ids(&out.assert_success().stdout).len(), 20);
    let said = format!("50 rows held back by a transaction open since {since} (pid {pid})");
    assert!(out.stderr.contains(&said), "{said}\n{}", out.stderr);
    let status = read(&status_path);
    assert_eq!(status["rows"], 20);
    assert_eq!(
        status["heldBack"],
        json!({"rows": 50, "reason": "open-transaction", "since": since, "pid": pid})
    );
    assert_eq!(status["pendingRows"], 50);
    assert_eq!(
        status["oldestPendingAt"],
        Timestamp::from_micros(oldest.timestamp_micros()).to_string()
    );
    let show = Export::subcommand(dir.path(), &["cursor", "show"])
        .args(["--cursor-store", "file", "--database-url", &db.url])
        .run()
        .await;
    assert!(
        show.assert_success().stdout.contains("rows behind: 50 "),
        "pendingRows is what `cursor show` counts:\n{}",
        show.stdout
    );

    let admin = admin_process(dir.path(), &[("GUARDRAIL_ADMIN_STATUS_CACHE_SECONDS", "0")]).await;
    let browser = Browser::start().await;
    browser.sign_in(&admin.base, PASSWORD).await;
    assert_eq!(browser.text("#health").await, "Behind");
    let warning = browser.text("#behind-warning").await;
    assert!(
        warning.contains("Held back: 50 rows wait for a transaction open since")
            && warning.contains(&format!("(pid {pid})")),
        "{warning}"
    );
    assert_eq!(browser.text("#fact-waiting .value").await, "50 rows");

    // Once it ends, the next run delivers them and nothing is held.
    open.batch_execute("ROLLBACK").await.unwrap();
    let out = export().run().await;
    assert_eq!(ndjson_ids(&out.assert_success().stdout).len(), 50);
    assert!(!out.stderr.contains("held back"), "{}", out.stderr);
    let status = read(&status_path);
    assert_eq!(
        (
            &status["heldBack"],
            &status["pendingRows"],
            &status["oldestPendingAt"]
        ),
        (&Value::Null, &json!(0), &Value::Null)
    );
    browser.goto(&format!("{}/admin/reports", admin.base)).await;
    assert_eq!(browser.text("#health").await, "Healthy");
    assert_eq!(browser.text("#fact-waiting .value").await, "none");
    browser.close().await;
}

#[tokio::test]
async fn a_run_that_fails_after_delivering_some_batches_shows_its_cursor_and_rows_truthfully() {
    use crate::helpers::faulty::{Fault, FaultyServer};
    let db = TestDb::new().await;
    db.insert_generated(100, 2, 1, "2026-01-22 04:00:00+00")
        .await;
    let dir = tempfile::tempdir().unwrap();
    let status_path = dir.path().join("status.json");
    // Two batches of 20 acknowledged, the third refused (400: not retried), one at a time.
    let server = FaultyServer::start(vec![
        Fault::status(200),
        Fault::status(200),
        Fault::status(400),
    ])
    .await;
    let out = Export::new(dir.path())
        .db(&db.url)
        .settle(0)
        .args([
            "--cursor-store",
            "file",
            "--sink",
            "webhook",
            "--webhook-url",
            &server.url,
            "--webhook-concurrency",
            "1",
            "--batch-size",
            "20",
            "--status-path",
            status_path.to_str().unwrap(),
        ])
        .run()
        .await;
    assert_eq!(out.code, 1, "{out:?}");
    let acknowledged = server.acknowledged_ids();
    assert_eq!(acknowledged.len(), 40);
    let status = read(&status_path);
    assert_eq!(status["outcome"], "failed");
    assert_eq!(status["rows"], 40, "{status}");
    assert_eq!(status["totalRows"], 40, "{status}");
    assert_eq!(
        status["cursorId"].as_str(),
        acknowledged.last().map(String::as_str),
        "{status}"
    );
    assert_eq!(runs(&status), [("failed".to_owned(), 40, 0)]);
}
