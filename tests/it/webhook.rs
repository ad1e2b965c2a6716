//! The webhook sink against a deliberately faulty receiver: transient faults end delivered with
//! nothing lost; refusals stop the run loudly with the cursor before the refused batch.

use std::time::Duration;

use crate::helpers::faulty::{Fault, FaultyServer, terminate_mid_run};
use crate::helpers::{Export, TestDb};

/// 300 rows, sent in batches of 100.
async fn three_batches() -> TestDb {
    let db = TestDb::new().await;
    db.insert_generated(300, 3, 4, "2026-01-22 04:00:00+00")
        .await;
    db
}

/// One batch at a time: these tests script the receiver's answers in the order requests
/// arrive and compare what arrived with the source's order, which only a single request in
/// flight makes deterministic. `tests/it/concurrency.rs` covers several in flight.
fn webhook_export(dir: &std::path::Path, db: &TestDb, server: &FaultyServer) -> Export {
    Export::new(dir).db(&db.url).args([
        "--webhook-concurrency",
        "1",
        "--sink",
        "webhook",
        "--webhook-url",
        &server.url,
        "--batch-size",
        "100",
        "--cursor-store",
        "file",
        "--webhook-timeout-seconds",
        "2",
        "--dead-letter-dir",
        "dead",
    ])
}

fn cursor_rows(dir: &std::path::Path) -> Option<u64> {
    let bytes = std::fs::read(dir.join("guardrail_followups_cursor.json")).ok()?;
    serde_json::from_slice::<serde_json::Value>(&bytes).unwrap()["totalRows"].as_u64()
}

/// Every source row arrived in an acknowledged batch, in order, and each batch was acknowledged once.
async fn assert_all_delivered_once(db: &TestDb, server: &FaultyServer) {
    assert_eq!(server.acknowledged_ids(), db.ordered_ids(None).await);
}

#[tokio::test]
async fn server_errors_are_retried_with_the_same_idempotency_key_until_delivered() {
    let db = three_batches().await;
    let server = FaultyServer::start(vec![
        Fault::status(200),
        Fault::status(500),
        Fault::status(503),
    ])
    .await;
    let dir = tempfile::tempdir().unwrap();
    let out = webhook_export(dir.path(), &db, &server).run().await;
    out.assert_success();
    assert_all_delivered_once(&db, &server).await;
    let received = server.received();
    assert_eq!(received.len(), 5, "3 batches + 2 retries");
    let keys: Vec<_> = received
        .iter()
        .map(|r| r.header("idempotency-key").unwrap().to_owned())
        .collect();
    assert_eq!(keys[1], keys[2]);
    assert_eq!(keys[2], keys[3], "the retried batch keeps its key");
    assert_ne!(keys[0], keys[1]);
    assert_eq!(received[1].body, received[3].body);
    assert!(out.stderr.contains("answered 500"), "{}", out.stderr);
    assert!(out.stderr.contains("retrying in"), "{}", out.stderr);
    assert_eq!(cursor_rows(dir.path()), Some(300));
}

#[tokio::test]
async fn too_many_requests_waits_as_long_as_retry_after_says() {
    let db = three_batches().await;
    let server = FaultyServer::start(vec![Fault::Status(
        429,
        vec![("Retry-After", "2".into())],
        "slow down".into(),
    )])
    .await;
    let dir = tempfile::tempdir().unwrap();
    webhook_export(dir.path(), &db, &server)
        .run()
        .await
        .assert_success();
    assert_all_delivered_once(&db, &server).await;
    let received = server.received();
    let waited = received[1].at.duration_since(received[0].at);
    assert!(
        waited >= Duration::from_millis(1900),
        "waited only {waited:?}"
    );
}

#[tokio::test]
async fn a_retry_after_in_the_past_still_waits_the_backoff() {
    let db = three_batches().await;
    let past = Fault::Status(
        503,
        vec![("Retry-After", "Wed, 21 Oct 2015 07:28:00 GMT".into())],
        "busy".into(),
    );
    let zero = Fault::Status(503, vec![("Retry-After", "0".into())], "busy".into());
    let server = FaultyServer::start(vec![past, zero]).await;
    let dir = tempfile::tempdir().unwrap();
    webhook_export(dir.path(), &db, &server)
        .run()
        .await
        .assert_success();
    assert_all_delivered_once(&db, &server).await;
    let received = server.received();
    // The backoff starts at 0.5 s with jitter down to half: retries wait at least 0.25 s, then 0.5 s.
    for (i, floor) in [(1, 250), (2, 500)] {
        let waited = received[i].at.duration_since(received[i - 1].at);
        assert!(
            waited >= Duration::from_millis(floor),
            "retry {i} waited only {waited:?}"
        );
    }
}

#[tokio::test]
async fn a_response_slower_than_the_timeout_is_sent_again() {
    let db = three_batches().await;
    let server = FaultyServer::start(vec![
        Fault::status(200),
        Fault::Slow(Duration::from_secs(4)),
    ])
    .await;
    let dir = tempfile::tempdir().unwrap();
    let out = webhook_export(dir.path(), &db, &server).run().await;
    out.assert_success();
    assert_all_delivered_once(&db, &server).await;
    let received = server.received();
    assert_eq!(received.len(), 4, "3 batches + 1 resend");
    let abandoned: Vec<_> = received.iter().filter(|r| !r.acknowledged).collect();
    assert_eq!(abandoned.len(), 1, "the slow answer was never waited for");
    let resent = received
        .iter()
        .find(|r| r.acknowledged && r.body == abandoned[0].body);
    assert!(
        resent.is_some(),
        "the same batch was sent again and acknowledged"
    );
    assert_eq!(
        resent.unwrap().header("idempotency-key"),
        abandoned[0].header("idempotency-key")
    );
    assert!(
        out.stderr.contains("timed out") || out.stderr.contains("timeout"),
        "{}",
        out.stderr
    );
}

#[tokio::test]
async fn a_connection_reset_mid_request_is_sent_again() {
    let db = three_batches().await;
    let server =
        FaultyServer::start(vec![Fault::status(200), Fault::status(200), Fault::Reset]).await;
    let dir = tempfile::tempdir().unwrap();
    let out = webhook_export(dir.path(), &db, &server).run().await;
    out.assert_success();
    assert_all_delivered_once(&db, &server).await;
    assert!(out.stderr.contains("retrying in"), "{}", out.stderr);
}

#[tokio::test]
async fn a_refused_batch_stops_the_run_keeps_the_rows_and_leaves_the_cursor_before_it() {
    for status in [400, 401, 422] {
        let db = three_batches().await;
        let server = FaultyServer::start(vec![
            Fault::status(200),
            Fault::Status(
                status,
                vec![],
                r#"{"error":"row 3: missing field `action`"}"#.into(),
            ),
        ])
        .await;
        let dir = tempfile::tempdir().unwrap();
        let out = webhook_export(dir.path(), &db, &server).run().await;
        assert_eq!(out.code, 1, "{status}: {}", out.stderr);
        assert_eq!(
            server.received().len(),
            2,
            "{status}: no retry, no later batch"
        );
        assert!(
            out.stderr.contains(&format!("answered {status}")),
            "{}",
            out.stderr
        );
        assert!(
            out.stderr.contains("missing field `action`"),
            "the receiver's reason is shown: {}",
            out.stderr
        );
        assert!(
            out.stderr.contains("the cursor stays before this batch"),
            "{}",
            out.stderr
        );
        // The cursor covers exactly the first, acknowledged batch.
        assert_eq!(cursor_rows(dir.path()), Some(100), "{status}");
        let refused = &server.received()[1];
        let key = refused.header("idempotency-key").unwrap();
        let dead = dir
            .path()
            .join("dead")
            .join(format!("guardrail-followups-refused-{key}.ndjson"));
        assert!(
            out.stderr
                .contains(&dead.file_name().unwrap().to_string_lossy().into_owned()),
            "{}",
            out.stderr
        );
        let kept = crate::helpers::ndjson_ids(&std::fs::read_to_string(&dead).unwrap());
        assert_eq!(kept, refused.ids());
        // Once the receiver accepts again, the next run resumes with the refused batch.
        let healthy = FaultyServer::start(vec![]).await;
        webhook_export(dir.path(), &db, &healthy)
            .run()
            .await
            .assert_success();
        assert_eq!(
            [server.acknowledged_ids(), healthy.acknowledged_ids()].concat(),
            db.ordered_ids(None).await
        );
    }
}

#[tokio::test]
async fn a_receiver_that_never_recovers_ends_the_run_after_the_last_attempt() {
    let db = three_batches().await;
    let server = FaultyServer::start(vec![
        Fault::status(200),
        Fault::status(502),
        Fault::status(502),
        Fault::status(502),
    ])
    .await;
    let dir = tempfile::tempdir().unwrap();
    let out = webhook_export(dir.path(), &db, &server)
        .args(["--webhook-max-attempts", "3"])
        .run()
        .await;
    assert_eq!(out.code, 1);
    assert_eq!(server.received().len(), 4);
    assert!(out.stderr.contains("after 3 attempts"), "{}", out.stderr);
    assert_eq!(cursor_rows(dir.path()), Some(100));
}

#[tokio::test]
async fn requests_carry_a_valid_signature_and_the_bearer_token() {
    let db = three_batches().await;
    let server = FaultyServer::start(vec![]).await;
    let dir = tempfile::tempdir().unwrap();
    webhook_export(dir.path(), &db, &server)
        .env("GUARDRAIL_EXPORT_WEBHOOK_SECRET", "shared-secret")
        .env("GUARDRAIL_EXPORT_WEBHOOK_TOKEN", "bearer-token")
        .run()
        .await
        .assert_success();
    let now = guardrail_followups::wire::unix_now();
    for request in server.received() {
        assert_eq!(request.header("content-type"), Some("application/json"));
        assert_eq!(request.header("authorization"), Some("Bearer bearer-token"));
        let signature = request.header("x-guardrail-signature");
        let key = request.header("idempotency-key").unwrap();
        let signed = guardrail_followups::wire::Signed {
            key,
            encoding: request.header("content-encoding").unwrap_or(""),
            body: &request.body,
        };
        assert_eq!(
            guardrail_followups::wire::verify(b"shared-secret", signature, signed, now),
            Ok(())
        );
        assert!(key.starts_with("gf1-") && key.len() == 36, "{key}");
    }
    assert_all_delivered_once(&db, &server).await;
}

#[tokio::test]
async fn gzip_bodies_decompress_to_the_same_batch() {
    let db = three_batches().await;
    let server = FaultyServer::start(vec![]).await;
    let dir = tempfile::tempdir().unwrap();
    webhook_export(dir.path(), &db, &server)
        .args(["--webhook-gzip"])
        .run()
        .await
        .assert_success();
    let mut ids = Vec::new();
    for request in server.received() {
        assert_eq!(request.header("content-encoding"), Some("gzip"));
        let mut json = Vec::new();
        std::io::Read::read_to_end(
            &mut flate2::read::GzDecoder::new(&request.body[..]),
            &mut json,
        )
        .unwrap();
        let value: serde_json::Value = serde_json::from_slice(&json).unwrap();
        ids.extend(
            value["followUps"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["followUpId"].as_str().unwrap().to_owned()),
        );
    }
    assert_eq!(ids, db.ordered_ids(None).await);
}

#[tokio::test]
async fn the_webhook_sink_needs_a_url_and_demo_rows_stay_on_this_machine() {
    let dir = tempfile::tempdir().unwrap();
    let out = Export::new(dir.path())
        .args(["--demo", "--sink", "webhook"])
        .run()
        .await;
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("--webhook-url"), "{}", out.stderr);
    let out = Export::new(dir.path())
        .args(["--demo", "--sink", "webhook"])
        .env(
            "ANALYTICS_GUARDRAIL_WEBHOOK",
            "https://analytics.example.com/in?token=abc123",
        )
        .run()
        .await;
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("only go to a webhook on this machine"),
        "{}",
        out.stderr
    );
    assert!(
        !out.stderr.contains("abc123"),
        "the token is redacted: {}",
        out.stderr
    );
}

#[tokio::test]
async fn sigterm_mid_export_lets_the_batch_in_flight_finish_and_the_next_run_resumes() {
    let db = three_batches().await;
    // The second batch takes 1.5 s to be acknowledged: the signal arrives while it is in flight.
    let server = FaultyServer::start(vec![
        Fault::status(200),
        Fault::Slow(Duration::from_millis(1500)),
    ])
    .await;
    let slack = FaultyServer::start(vec![]).await;
    let dir = tempfile::tempdir().unwrap();
    let export =
        webhook_export(dir.path(), &db, &server).env("GUARDRAIL_EXPORT_SLACK_WEBHOOK", &slack.url);
    let out = terminate_mid_run(&export, &server).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(143), "{stderr}");
    let acknowledged = server.acknowledged_ids().len() as u64;
    assert!(acknowledged < 300, "the run stopped before the end");
    assert!(
        stderr.contains(&format!(
            "stopped by SIGTERM: {acknowledged} rows delivered"
        )),
        "{stderr}"
    );
    assert_eq!(
        cursor_rows(dir.path()),
        Some(acknowledged),
        "the cursor holds what was acknowledged"
    );
    let slack_text =
        String::from_utf8_lossy(&slack.received().last().expect("a Slack message").body)
            .into_owned();
    assert!(slack_text.contains("SIGTERM"), "{slack_text}");
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    webhook_export(dir.path(), &db, &server)
        .run()
        .await
        .assert_success();
    assert_all_delivered_once(&db, &server).await;
}
